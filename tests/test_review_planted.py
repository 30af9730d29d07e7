"""``crmseg review`` finds what the sandbox planted, and nothing where nothing was planted.

End to end: a sandbox CRM seeded with accounts and deals (docs/sandbox-deals.md), one
``crmseg sync`` with ``deals = true`` into a state, then ``crmseg review --config ... --json``
of 2026Q3 (the quarter the planted decay falls in: the sandbox plants relative to its
``deals_as_of``, 2026-11-01, and the review is given the same fixed as-of and period). On the
planted seed the review must flag the decaying segment (Enterprise, an alert), the tier ladder
out of order (Tier 1 below Tier 2, an alert) and the indistinguishable pair (Mid-Market and SMB
named as each other's merge candidates); on a ``deal_effects=False`` seed it must raise no
alert. The ``seed_sweep`` test repeats both over many seeds and counts the false alarms against
the rate the review's alert rule allows.

The rules are the shipped ones made static (``days_since`` reads a plain field, so the sync
computes the same tags whatever the day it runs) with the two recency rules of icp_score left
out: the sandbox plants tiers without them (the tier it plants is the one the rules give once
every seeded activity is over 90 days old), and ``days_since`` replaced by ``intent_score``
would move accounts between tiers at random.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from .cli_run import ROOT
from .sync_env import SyncEnv, make_static

ACCOUNTS, DEALS = 1000, 4000
PERIOD, AS_OF = "2026Q3", "2026-11-01"
#: The planted seed and a seed without effects the fast set reviews (any seed must do; these
#: are fixed so the fast set is deterministic).
PLANTED_SEED, QUIET_SEED = 11, 1
ALPHA = 0.05  # the review's default [review.alerts] alpha
#: The sweep's sandbox: at 1,000 accounts / 4,000 deals Tier 1 has ~50 closed deals in the
#: quarter and over seeds 101-120 the ladder alert was missed 5 times, the decay once.
SWEEP_SIZE = (2000, 10000)


def review_rules(rules: Path) -> None:
    """The shipped rules, static, without icp_score's two recency rules (see the module doc)."""
    shutil.copytree(ROOT / "rules", rules)
    make_static(rules)
    path = rules / "icp_score.toml"
    blocks = path.read_text(encoding="utf-8").split("[[rule]]")
    kept = [b for b in blocks if not re.search(r'name\s*=\s*"(recent-activity|activity-this-quarter)"', b)]
    assert len(blocks) - len(kept) == 2, "icp_score's recency rules were renamed: follow them here"
    path.write_text("[[rule]]".join(kept), encoding="utf-8")


@dataclass(frozen=True)
class Reviewed:
    exit_code: int
    doc: dict[str, Any]
    stderr: str


def review_of(tmp: Path, seed: int, effects: bool, accounts: int = ACCOUNTS, deals: int = DEALS) -> Reviewed:
    """Seed a sandbox, sync its accounts and deals into a state, review 2026Q3 from that state."""
    review_rules(tmp / "rules")
    env = SyncEnv(tmp, "salesforce", accounts, deals=deals, deal_effects=effects, seed=seed)
    try:
        res = env.sync()
        assert res.returncode == 0, res.stdout + res.stderr
        out = tmp / "review.json"
        res = env.run(
            "review", "--config", str(env.config), "--period", PERIOD, "--as-of", AS_OF, "--json", str(out), "-q"
        )
        assert res.returncode in (0, 1), res.stdout + res.stderr
        return Reviewed(res.returncode, json.loads(out.read_text(encoding="utf-8")), res.stderr)
    finally:
        env.close()


def sweep_review(tmp: Path, seed: int, effects: bool) -> dict[str, Any]:
    """The review document of one sweep sandbox (run in a worker process: module level)."""
    return review_of(tmp, seed, effects, *SWEEP_SIZE).doc


def decaying_alerts(doc: dict[str, Any], dim: str) -> list[str]:
    return [a for a in doc["alerts"] if a.startswith(f"{dim} ") and "win rate fell" in a]


def order_alerts(doc: dict[str, Any], dim: str) -> list[str]:
    return [a for a in doc["alerts"] if a.startswith(f"{dim}: ") and "wins less than" in a]


def merge_pair_found(doc: dict[str, Any]) -> bool:
    seg = doc["viability"]["segment"]
    return "SMB" in seg["Mid-Market"]["merge_with"] and "Mid-Market" in seg["SMB"]["merge_with"]


def found(doc: dict[str, Any]) -> dict[str, bool]:
    """Which planted effect the review flagged: the decay and the ladder by an alert, the pair as
    merge candidates."""
    return {
        "decay": any(a.startswith("segment Enterprise:") for a in decaying_alerts(doc, "segment")),
        "ladder": any(a.startswith("tier: Tier 1 wins less than Tier 2") for a in order_alerts(doc, "tier")),
        "pair": merge_pair_found(doc),
    }


def assert_planted_found(r: Reviewed) -> None:
    doc = r.doc
    assert doc["period"]["start"] == "2026-07-01" and doc["period"]["compare"]["start"] == "2026-04-01"
    seg = doc["dimensions"]["segment"]["labels"]
    # the decaying segment: Enterprise alone among the segments, flagged and alerted on
    assert seg["Enterprise"]["sufficient"] and seg["Enterprise"]["trend"]["flag"] == "decaying"
    assert [a.split(":")[0] for a in decaying_alerts(doc, "segment")] == ["segment Enterprise"], doc["alerts"]
    # the tier ladder out of order: Tier 1 below Tier 2, alerted on; Tier 3 below both
    cal = doc["dimensions"]["tier"]["calibration"]
    assert cal["monotonic"] is False
    assert [o[:2] for o in cal["out_of_order"]] == [["Tier 1", "Tier 2"]]
    assert order_alerts(doc, "tier") == [next(a for a in doc["alerts"] if a.startswith("tier: Tier 1 wins less"))]
    # the indistinguishable pair: merge candidates of each other, and of no other segment
    via = doc["viability"]["segment"]
    assert via["Mid-Market"]["merge_with"] == ["SMB"] and via["SMB"]["merge_with"] == ["Mid-Market"]
    assert via["Mid-Market"]["verdict"] == "watch"
    assert all(not v["merge_with"] for k, v in via.items() if k not in ("Mid-Market", "SMB")), via
    assert r.exit_code == 1 and "alert: segment Enterprise" in r.stderr


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    return review_of(tmp_path_factory.mktemp("planted"), PLANTED_SEED, effects=True)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    return review_of(tmp_path_factory.mktemp("quiet"), QUIET_SEED, effects=False)


def test_review_flags_the_decay_the_ladder_and_the_alike_pair_planted_in_the_sandbox(planted: Reviewed) -> None:
    assert planted.doc["deals"]["read"] > 3800  # a few thousand deals, ~600 closed in the quarter
    assert_planted_found(planted)


def test_review_of_a_seed_without_effects_raises_no_alert(quiet: Reviewed) -> None:
    doc = quiet.doc
    assert quiet.exit_code == 0 and doc["alerts"] == [], doc["alerts"]
    assert doc["dimensions"]["segment"]["labels"]["Enterprise"]["trend"]["flag"] != "decaying"
    cal = doc["dimensions"]["tier"]["calibration"]
    assert all(q >= ALPHA for q in cal["out_of_order_p_adjusted"])
    # nothing tells the segments apart: not differing is what the data says (every sufficient
    # pair a merge candidate), and the chi-square across them finds no difference
    assert doc["dimensions"]["segment"]["differentiable_p"] >= ALPHA
    assert merge_pair_found(doc)


def alert_families(doc: dict[str, Any]) -> int:
    """The test families a review alerts on, each adjusted by Benjamini–Hochberg: the trends of
    each dimension, and the adjacent bands of each calibration."""
    trends = sum(
        1
        for d in doc["dimensions"].values()
        if any(m["trend"] and m["trend"]["p"] is not None and m["sufficient"] for m in d["labels"].values())
    )
    ladders = sum(1 for d in doc["dimensions"].values() if d["calibration"] and len(d["calibration"]["bands"]) > 1)
    return trends + ladders


def test_false_alarms_and_detection_over_many_seeds(seed_sweep: range, tmp_path: Path) -> None:
    seeds = list(seed_sweep)
    alarmed: list[tuple[int, list[str]]] = []
    planted_false = 0  # a no-effect seed flagging Enterprise decaying or the tiers out of order
    families = 0
    missed: dict[str, list[int]] = {"decay": [], "ladder": [], "pair": []}
    # A process per core: a review runs its sandbox and crmseg in one process (the CLI is called
    # in-process), so one review uses one core at most.
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        planted = pool.map(sweep_review, [tmp_path / f"planted-{s}" for s in seeds], seeds, [True] * len(seeds))
        quiet = pool.map(sweep_review, [tmp_path / f"quiet-{s}" for s in seeds], seeds, [False] * len(seeds))
        reviews = list(zip(seeds, planted, quiet, strict=True))
    for seed, planted_doc, doc in reviews:
        for effect, hit in found(planted_doc).items():
            if not hit:
                missed[effect].append(seed)
        families = max(families, alert_families(doc))
        if doc["alerts"]:
            alarmed.append((seed, doc["alerts"]))
        planted_false += any(a.startswith("segment Enterprise:") for a in doc["alerts"]) + bool(
            order_alerts(doc, "tier")
        )
    n = len(seeds)
    # Each family (BH-adjusted) pages at most ALPHA of quiet quarters; a review has `families`
    # of them, so at most ALPHA × families of quiet reviews alert. Fail only when the count is
    # implausible at that rate (0.1% tail), i.e. when the alert rule is looser than it claims.
    bound = int(stats.binom.ppf(0.999, n, min(1.0, ALPHA * families)))
    assert len(alarmed) <= bound, f"{len(alarmed)} of {n} quiet reviews alerted (bound {bound}): {alarmed}"
    # the two planted alerts' own families: at most ALPHA each
    assert planted_false <= int(stats.binom.ppf(0.999, 2 * n, ALPHA)), alarmed
    # detection at SWEEP_SIZE: the ladder is the weakest effect (Tier 1 is the smallest tier)
    assert not missed["decay"] and not missed["pair"], missed
    assert len(missed["ladder"]) <= n // 5, missed
    print(f"missed: {missed}")
    print(f"false alarms: {len(alarmed)} of {n} quiet reviews ({families} families); planted kinds {planted_false}")
