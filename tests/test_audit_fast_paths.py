"""run_audit's fast paths give exactly the per-account results.

- CSV rows as lists (the ``row_lists`` capability, positions instead of dicts) vs RawRecords
  with ``record_adder`` vs the general ``current_tags`` + ``add`` loop (taken with a row sink);
- ``Normalizer.account_of`` vs ``account`` with the other keys left out;
- ``AuditSummary``'s tallies vs counting every account at once (``_TALLY_FLUSH = 1``), also
  past ``_COMBOS_MAX`` and with values whose texts collide (1, 1.0, True, "1", str subclasses).
"""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

import crmseg.audit.counting as counting_mod
from crmseg.audit import plan as planner
from crmseg.audit.run import run_audit
from crmseg.audit.summary import AuditSummary
from crmseg.model import DimResult, RawRecord

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _doc(summary: AuditSummary) -> str:
    doc = summary.to_json()
    doc.pop("run", None)
    return json.dumps(doc, sort_keys=True, default=str)


def _audit(
    path: Path,
    mapping: Path | None = None,
    rules: Path | None = None,
    *,
    sink: bool = False,
    rows: bool = True,
    monkeypatch: pytest.MonkeyPatch | None = None,
    bad: str = "skip",
) -> tuple[str, list[str]]:
    plan = planner.plan_source(
        path, rules or ROOT / "rules", mapping or ROOT / "connectors" / "csv.toml", "native", now=NOW, on_bad_row=bad
    )
    seen: list[str] = []
    if monkeypatch is not None and not rows:  # the connector no longer claims row lists: RawRecords
        without = dataclasses.replace(plan.connector.capabilities, row_lists=None)
        monkeypatch.setattr(type(plan.connector), "capabilities", property(lambda self: without))
    summary = run_audit(plan, row_sink=(lambda rid, res, cur: seen.append(repr((rid, res, cur)))) if sink else None)
    if monkeypatch is not None:
        monkeypatch.undo()
    return _doc(summary), seen


def _three_ways(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> None:
    general, rows = _audit(path, sink=True, **kw)  # type: ignore[arg-type]
    assert rows
    fast, _ = _audit(path, **kw)  # type: ignore[arg-type]
    records, _ = _audit(path, rows=False, monkeypatch=monkeypatch, **kw)  # type: ignore[arg-type]
    assert fast == general
    assert records == general


def test_shipped_example_three_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    _three_ways(ROOT / "examples" / "accounts.csv", monkeypatch)


def test_odd_csv_three_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short and long rows (skipped as bad rows, the same on every path), blank lines, padded tags,
    pins of every spelling."""
    header = [
        "id",
        "industry",
        "employees",
        "country",
        "crmseg_segment",
        "crmseg_tier",
        "crmseg_stage",
        "crmseg_icp_score",
        "crmseg_pin",
        "employees_2",
        "tech_stack",
        "annual_revenue",
        "last_activity_at",
    ]
    lines = [",".join(header)]
    rng = random.Random(7)
    for i in range(400):
        row = [
            f"a{i}",
            rng.choice(["Software", "software", " Retail ", "", "Banking"]),
            rng.choice(["10", "x", "", "1,500"]),
            rng.choice(["US", "Germany", "", "Narnia"]),
            rng.choice(["", " SMB ", "Enterprise", "Mid-Market", "Strategic"]),
            rng.choice(["", "Tier 1", "Tier 3 "]),
            rng.choice(["", "Aware", "MQA"]),
            rng.choice(["", "0", "20", "20.0", " 35 ", "abc"]),
            rng.choice(["", "true", "false", "Yes", " yes ", "0", "maybe"]),
            rng.choice(["5000", "", "12"]),
            rng.choice(["", "Salesforce;Snowflake", "HubSpot"]),
            rng.choice(["", "300000000", "$25,000,000"]),
            rng.choice(["", "2026-10-20", "2026-10-30T10:00:00Z", "2026-01-01T00:00:00+02:00", "soon"]),
        ]
        cut = rng.random()
        if cut < 0.05:
            row = row[:6]  # short: a bad row
        elif cut < 0.1:
            row = [*row, "extra", "more"]  # long: a bad row
        lines.append(",".join(f'"{v}"' if "," in v else v for v in row))
        if i % 97 == 0:
            lines.append("")
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _three_ways(path, monkeypatch)


def test_passthrough_column_used_by_a_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule reading an undeclared column: the audit takes the record path and still sees it."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "region.toml").write_text(
        'dimension = "region"\nkind = "label"\ndefault = "Other"\n\n'
        '[[rule]]\nname = "north"\nwhen = "territory == \'North\'"\nvalue = "North"\n',
        encoding="utf-8",
    )
    path = tmp_path / "p.csv"
    path.write_text("id,territory,employees\na,North,5\nb, South ,7\nc,,9\nd,North,\n", encoding="utf-8")
    general, _ = _audit(path, rules=rules, sink=True)
    fast, _ = _audit(path, rules=rules)
    assert fast == general
    assert json.loads(fast)["dimensions"]["region"]["counts"] == {"North": 2, "Other": 2, "(none)": 0}


def test_account_of_is_account_restricted() -> None:
    plan = planner.plan_source(
        ROOT / "examples" / "accounts.csv", ROOT / "rules", ROOT / "connectors" / "csv.toml", "native", now=NOW
    )
    norm = plan.normalizer
    used = plan.rules.used_fields()
    raws = list(planner.read_records(plan))
    full = [norm.account(r) for r in raws]
    full_quality = norm.quality
    norm.reset_quality()
    part = [norm.account_of(used)(r) for r in raws]
    assert part == [{k: v for k, v in a.items() if k in used or k == "id"} for a in full]
    assert {f: norm.quality[f] for f in used} == {f: full_quality[f] for f in used}
    assert norm.account_of(reversed(used)) is norm.account_of(used)  # compiled once per set of fields


class _Info:
    def __init__(self, name: str, kind: str, values: list[str] | None = None, rules: tuple[str, ...] = ()) -> None:
        self.name, self.kind, self.values, self.rule_names, self.description = name, kind, values, rules, ""


class _Str(str):
    pass


def _random_run(seed: int) -> list[tuple[dict[str, DimResult], dict[str, object], bool]]:
    rng = random.Random(seed)
    rule_names = [f"r{i}" for i in range(40)]
    values = [1, 1.0, True, "1", " 1 ", 2.5, "Gold", _Str(" Gold"), None, 0, False, "", 10**20, float("nan")]
    befores = [None, "", " ", "1", "1.0", 1, 1.0, True, "true", "Gold", " Gold ", _Str("Gold "), 2.5, "2.5", ["x"]]
    out = []
    for _ in range(3000):
        score = rng.choice([0, 5, 5.0, 12.5, 30, 7, 1e300, True])
        results = {
            "score": DimResult(score, tuple(rng.sample(rule_names, rng.randint(0, 4)))),
            "segment": DimResult(rng.choice(values), tuple(rng.sample(rule_names, rng.randint(0, 1)))),
            "tier": DimResult(rng.choice(values), ()),
        }
        current = {d: rng.choice(befores) for d in ("score", "segment", "tier") if rng.random() < 0.9}
        out.append((results, current, rng.random() < 0.1))
    return out


def _summarize(run: list[tuple[dict[str, DimResult], dict[str, object], bool]], *, records: bool = False) -> str:
    dims = [
        _Info("score", "score", rules=("r1", "r2")),
        _Info("segment", "label", ["Gold", "1"], ("r3",)),
        _Info("tier", "label"),
    ]
    s = AuditSummary(dims, ["a", "b"], min_segment_size=5)
    if records:
        add = s.record_adder({"score": "f_score", "segment": "f_segment", "tier": None})
        for results, current, pinned in run:
            fields = {f"f_{k}": (v.strip() or None) if isinstance(v, str) else v for k, v in current.items()}
            add(fields, results, pinned)
        # tier is unmapped here: compare against the same run with no current tier
    else:
        for i, (results, current, pinned) in enumerate(run):
            s.add(f"a{i}", results, current, pinned=pinned)
    s.finish({"a": {"missing": 1, "invalid": 2}})
    return _doc(s)


@pytest.mark.parametrize("seed", [1, 2])
def test_tallies_equal_counting_each_account(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    run = _random_run(seed)
    tallied = _summarize(run)
    monkeypatch.setattr(counting_mod, "_TALLY_FLUSH", 1)  # every account counted at once, as before tallies
    assert _summarize(run) == tallied
    monkeypatch.setattr(counting_mod, "_COMBOS_MAX", 7)  # spill past the combination cap, same order either way
    one_by_one = _summarize(run)
    monkeypatch.setattr(counting_mod, "_TALLY_FLUSH", 500)
    assert _summarize(run) == one_by_one


def test_record_adder_equals_add_with_current_tags() -> None:
    run = _random_run(3)
    stripped = [(r, {k: v for k, v in c.items() if k != "tier"}, p) for r, c, p in run]
    assert _summarize(run, records=True) == _summarize(
        [(r, {k: (v.strip() or None) if isinstance(v, str) else v for k, v in c.items()}, p) for r, c, p in stripped]
    )


def test_counters_read_mid_run_are_up_to_date() -> None:
    s = AuditSummary([_Info("segment", "label", ["A"], ("r",))], [])
    s.add("x", {"segment": DimResult("A", ("r",))}, {"segment": None})
    assert s.counts("segment") == {"A": 1, "(none)": 0}
    s.add("y", {"segment": DimResult(None, ())}, {"segment": "A"})
    assert s.dimensions[0].changes == [0, 0, 1, 1, 0]
    assert s.dimensions[0].hits == {"r": 1}


def test_raw_record_path_unchanged_for_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    recs = [
        {
            "id": f"j{i}",
            "employees": i * 300,
            "industry": "Software",
            "crmseg_segment": [None, "SMB", 5][i % 3],
            "crmseg_icp_score": [20, 20.0, "20", True][i % 4],
            "crmseg_pin": [True, "yes", 0, None][i % 4],
        }
        for i in range(40)
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    general, _ = _audit(path, sink=True)
    fast, _ = _audit(path)
    assert fast == general
    assert RawRecord("x", {}).fields == {}


@pytest.mark.parametrize(
    "text",
    [
        "id,employees\n",
        "id,employees,crmseg_pin\na,5,\n",
        "id,crmseg_pin\nb, YES \n\n",
        "employees,id\n5,x\n6,y,extra\n",
        "id,employees,crmseg_segment\nz\n",
    ],
)
def test_tiny_csv_three_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    general, _ = _audit(path, sink=True)
    assert _audit(path)[0] == general
    assert _audit(path, rows=False, monkeypatch=monkeypatch)[0] == general


def test_row_without_id_fails_alike(tmp_path: Path) -> None:
    from crmseg.errors import ConfigError

    path = tmp_path / "bad.csv"
    path.write_text("id,employees\na,5\n ,6\n", encoding="utf-8")
    messages = []
    for sink in (True, False):
        with pytest.raises(ConfigError) as err:
            _audit(path, sink=sink, bad="raise")
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "bad.csv:3: no value in the id column 'id'" in messages[0]
