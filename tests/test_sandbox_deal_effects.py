"""The sandbox's seeded deals and their planted effects, measured the way a review would.

The sandbox plants its effects on account attributes (it never imports crmseg's rules); here
the bundled sample rules are evaluated on the very accounts it seeded, through crmseg's own
audit pipeline, and the win rates per segment/tier per quarter are computed from the seeded
deals: the effects must land on the labels docs/sandbox-deals.md names, and a seed with
``deal_effects=False`` must show none."""

from __future__ import annotations

import csv
import signal
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests

from crmseg.audit.plan import plan_source
from crmseg.audit.run import run_audit
from crmseg.defaults import packaged_dir
from crmseg.sandbox import SandboxServer, synthetic_accounts
from crmseg.sandbox.deals import DEALS_AS_OF, SEGMENTS, TIERS, Planter, quarter_starts
from crmseg.sandbox.defaults import default_mapping
from tests.cli_run import crmseg
from tests.test_sandbox_seed import _start_cli, _url

ACCOUNTS, DEALS, SEED = 3000, 9000, 11
#: Past every seeded activity + 90 days: the recency rules of icp_score no longer fire.
SETTLED = datetime(2027, 3, 1, tzinfo=UTC)
#: The deals' own as-of date: recency still moves some accounts between tiers.
AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)
QUARTER_STARTS = quarter_starts(DEALS_AS_OF)
Rates = dict[str, dict[int | None, tuple[int, int]]]  # label -> quarter (None: all) -> (won, closed)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return synthetic_accounts(ACCOUNTS, SEED)


@pytest.fixture(scope="module")
def labels(rows, tmp_path_factory) -> dict[datetime, dict[str, tuple[str, str]]]:
    """(segment, tier) per seed id from the bundled rules, evaluated at SETTLED and AS_OF."""
    path = tmp_path_factory.mktemp("effects") / "accounts.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out: dict[datetime, dict[str, tuple[str, str]]] = {}
    for when in (SETTLED, AS_OF):
        got = out[when] = {}

        def sink(rid: str, res: dict, _current: object, got: dict[str, tuple[str, str]] = got) -> None:
            got[rid] = (res["segment"].value, res["tier"].value)

        run_audit(plan_source(path, packaged_dir("rules"), None, "native", when), row_sink=sink)
    return out


def _seeded(rows: list[dict[str, str]], effects: bool, crm: str = "salesforce") -> tuple[dict[str, str], list]:
    with SandboxServer(crm, accounts=rows, deals=DEALS, seed=SEED, deal_effects=effects) as sb:
        assert sb.deal_store is not None
        return dict(sb.id_map), list(sb.deal_store.scan())


@pytest.fixture(scope="module")
def planted(rows):
    return _seeded(rows, effects=True)


@pytest.fixture(scope="module")
def unplanted(rows):
    return _seeded(rows, effects=False)


def _quarter(close: str) -> int | None:
    day = date.fromisoformat(close)
    for q in range(len(QUARTER_STARTS) - 1):
        if QUARTER_STARTS[q] <= day < QUARTER_STARTS[q + 1]:
            return q
    return None


def _rates(seeded, labels: dict[str, tuple[str, str]], dim: int) -> Rates:
    """Won and closed Opportunities per label and close quarter (deleted ones and those without an account left out)."""
    id_map, deals = seeded
    label_of = {crm_id: labels[seed_id][dim] for seed_id, crm_id in id_map.items()}
    counts: dict[str, dict[int | None, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for rec in deals:
        d = rec.data
        if rec.deleted or not d["IsClosed"] or d["AccountId"] is None:
            continue
        label, q = label_of[d["AccountId"]], _quarter(d["CloseDate"])
        for key in (q, None):
            counts[label][key][0] += d["IsWon"]
            counts[label][key][1] += 1
    return {lab: {q: (w, n) for q, (w, n) in by_q.items()} for lab, by_q in counts.items()}


def _rate(r: Rates, label: str, q: int | None = None) -> float:
    won, closed = r[label][q]
    return won / closed


def test_planting_profile_matches_the_bundled_rules(rows, labels):
    planter = Planter(default_mapping("salesforce"))
    settled = labels[SETTLED]
    profiles = {row["id"]: planter.profile(row) for row in rows}
    assert all((p.segment, p.tier) == settled[rid] for rid, p in profiles.items())  # exact once recency lapsed
    at_as_of = labels[AS_OF]
    assert all(p.segment == at_as_of[rid][0] for rid, p in profiles.items())  # segments never follow the calendar
    assert sum(p.tier == at_as_of[rid][1] for rid, p in profiles.items()) / len(rows) > 0.85  # tiers: 90% here
    assert {s for s, _ in settled.values()} == set(SEGMENTS) and {t for _, t in settled.values()} == set(TIERS)


@pytest.mark.parametrize("when", [SETTLED, AS_OF], ids=["settled", "as_of"])
def test_planted_effects_land_on_the_bundled_segments_and_tiers(planted, labels, when):
    seg, tier = _rates(planted, labels[when], 0), _rates(planted, labels[when], 1)
    # 1. Enterprise's win rate falls sharply in the last quarter; no other segment's does
    earlier = [_rate(seg, "Enterprise", q) for q in range(5)]
    assert min(earlier) > 0.3 and _rate(seg, "Enterprise", 5) < 0.2
    for other in ("Digital Native", "Mid-Market", "SMB"):
        before = sum(seg[other][q][0] for q in range(5)) / sum(seg[other][q][1] for q in range(5))
        assert abs(_rate(seg, other, 5) - before) < 0.1, other
    # 2. The tier ladder is out of order at the top: Tier 1 converts worse than Tier 2 (at AS_OF the
    # recency points move a tenth of the accounts to another tier, blurring the gap: 0.42 vs 0.52)
    assert _rate(tier, "Tier 2") > _rate(tier, "Tier 1") + (0.1 if when == SETTLED else 0.05)
    assert _rate(tier, "Tier 1") > _rate(tier, "Tier 3")  # the rest of the ladder in order
    # 3. Mid-Market and SMB convert alike; every other pair of segments differs
    overall = {s: _rate(seg, s) for s in SEGMENTS}
    assert abs(overall["Mid-Market"] - overall["SMB"]) < 0.03
    pairs = [(a, b) for i, a in enumerate(SEGMENTS) for b in SEGMENTS[i + 1 :] if {a, b} != {"Mid-Market", "SMB"}]
    assert all(abs(overall[a] - overall[b]) > 0.06 for a, b in pairs), overall


def test_no_effects_seed_converts_alike_everywhere(unplanted, labels):
    for dim in (0, 1):
        r = _rates(unplanted, labels[SETTLED], dim)
        overall = [_rate(r, lab) for lab in r]
        assert max(overall) - min(overall) < 0.06, overall
        assert all(abs(x - 0.30) < 0.04 for x in overall)
    seg = _rates(unplanted, labels[SETTLED], 0)
    assert abs(_rate(seg, "Enterprise", 5) - 0.30) < 0.1  # no decay planted


def test_deals_span_six_quarters_and_are_deterministic(rows, planted):
    _, deals = planted
    closes = [date.fromisoformat(r.data["CloseDate"]) for r in deals if r.data["IsClosed"]]
    assert min(closes) >= QUARTER_STARTS[0] == date(2025, 4, 1) and max(closes) < QUARTER_STARTS[-1]
    open_closes = [date.fromisoformat(r.data["CloseDate"]) for r in deals if not r.data["IsClosed"]]
    assert open_closes and min(open_closes) > DEALS_AS_OF  # open deals expect to close later
    assert all(r.created_ms <= r.modified_ms for r in deals)
    assert max(r.modified_ms for r in deals) < datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000
    again = _seeded(rows, effects=True)
    assert [(r.id, r.data, r.deleted, r.modified_ms) for r in again[1]] == [
        (r.id, r.data, r.deleted, r.modified_ms) for r in deals
    ]
    with SandboxServer("salesforce", accounts=rows[:200], deals=300, seed=SEED + 1) as other:
        assert other.deal_store is not None
        assert [r.data for r in other.deal_store.scan()] != [r.data for r in deals[:300]]


def test_hubspot_seed_plants_the_same_deals(rows, planted):
    _, sf_deals = planted
    _, hs_deals = _seeded(rows, effects=True, crm="hubspot")
    assert len(hs_deals) == len(sf_deals)
    for sf, hs in zip(sf_deals, hs_deals, strict=True):
        assert (sf.data["IsWon"], sf.data["IsClosed"]) == (hs.data["hs_is_closed_won"], hs.data["hs_is_closed"])
        assert sf.data["Amount"] == hs.data["amount"] and sf.created_ms == hs.created_ms


def test_command_lines_seed_deals(tmp_path):
    helped = crmseg("sandbox", "--help")
    assert helped.returncode == 0 and "--deals" in helped.stdout and "--no-effects" in helped.stdout
    proc, banner = _start_cli(
        "--crm", "salesforce", "--accounts", "30", "--deals", "80", "--no-effects", "--multi-currency"
    )
    try:
        assert "with 30 accounts and 80 deals" in banner
        url = _url(banner)
        assert requests.get(f"{url}/__sandbox/stats", timeout=5).json()["deals"] == 80
        assert len(requests.get(f"{url}/__sandbox/deals/ids", timeout=5).json()["ids"]) == 80
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_docs_name_the_planted_effects():
    text = (Path(__file__).resolve().parents[1] / "docs" / "sandbox-deals.md").read_text(encoding="utf-8")
    for needle in ("Enterprise", "Tier 1", "Tier 2", "Mid-Market", "SMB", "--no-effects", "convertCurrency"):
        assert needle in text
