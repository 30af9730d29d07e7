"""Drift math on plain dicts: PSI (with the epsilon), flags, score binning, matrix, flapping."""

from __future__ import annotations

import json
import math

import pytest

from crmseg.drift.measures import (
    EPS,
    Bins,
    decile_edges,
    drift_report,
    flag,
    flapping,
    numeric_dimensions,
    psi,
    transition_matrix,
)
from crmseg.state.store import RunRow, Transition


def term(a: float, e: float) -> float:
    return (a - e) * math.log(a / e)


# ---------------------------------------------------------------- PSI and flags
def test_psi_by_hand_small_shift_is_not_flagged() -> None:
    expected = {"A": 50, "B": 30, "C": 20}
    actual = {"A": 40, "B": 30, "C": 30}
    by_hand = term(0.4, 0.5) + term(0.3, 0.3) + term(0.3, 0.2)
    assert psi(expected, actual) == pytest.approx(by_hand)
    assert by_hand == pytest.approx(0.06286, abs=1e-5)
    assert flag(psi(expected, actual)) == "none"


def test_psi_moderate_and_major() -> None:
    moderate = psi({"A": 50, "B": 50}, {"A": 70, "B": 30})
    assert moderate == pytest.approx(term(0.7, 0.5) + term(0.3, 0.5))
    assert 0.1 <= moderate < 0.25 and flag(moderate) == "moderate"
    major = psi({"A": 50, "B": 50}, {"A": 80, "B": 20})
    assert major == pytest.approx(term(0.8, 0.5) + term(0.2, 0.5))
    assert major >= 0.25 and flag(major) == "major"


def test_psi_empty_bin_uses_epsilon_on_both_sides() -> None:
    # C is new in the actual snapshot, D vanished from it: their zero shares become EPS.
    expected = {"A": 10, "B": 10, "D": 5}
    actual = {"A": 10, "B": 5, "C": 5}
    by_hand = term(10 / 20, 10 / 25) + term(5 / 20, 10 / 25) + term(5 / 20, EPS) + term(EPS, 5 / 25)
    assert psi(expected, actual) == pytest.approx(by_hand)
    assert psi(expected, actual, eps=1e-3) == pytest.approx(
        term(0.5, 0.4) + term(0.25, 0.4) + term(0.25, 1e-3) + term(1e-3, 0.2)
    )
    assert EPS == 1e-4


def test_psi_properties() -> None:
    e, a = {"A": 3, "(none)": 1}, {"A": 1, "(none)": 3}
    assert psi(e, e) == 0.0
    assert psi(e, a) == pytest.approx(psi(a, e))
    assert psi(e, a) == pytest.approx(psi({k: 10 * n for k, n in e.items()}, a))  # shares, not counts
    assert psi({"A": 5, "B": 0}, {"A": 5}) == 0.0  # a zero count equals an absent label
    with pytest.raises(ValueError):
        psi({}, {"A": 1})


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, "none"),
        (0.0, "none"),
        (0.0999, "none"),
        (0.1, "moderate"),
        (0.2499, "moderate"),
        (0.25, "major"),
        (3.0, "major"),
    ],
)
def test_flag_thresholds(value: float | None, expected: str) -> None:
    assert flag(value) == expected


# ---------------------------------------------------------------- score binning
def test_decile_edges_of_uniform_scores() -> None:
    counts = {str(i): 1 for i in range(1, 101)}
    assert decile_edges(counts) == [10, 20, 30, 40, 50, 60, 70, 80, 90]


def test_decile_edges_deduplicate_and_skip_none() -> None:
    assert decile_edges({"0": 95, "50": 5, "(none)": 40}) == [0]
    assert decile_edges({"0": 50, "35": 50}) == [0, 35]
    assert decile_edges({"(none)": 3}) == []


def test_bins_label_and_count_with_the_same_edges() -> None:
    bins = Bins((0.0, 35.0, 62.5))
    assert bins.labels == ["<= 0", "(0, 35]", "(35, 62.5]", "> 62.5"]
    assert [bins.label_of(v) for v in ("0", "-3", "1", "35", "35.5", "62.5", "100", None, "(none)")] == [
        "<= 0",
        "<= 0",
        "(0, 35]",
        "(0, 35]",
        "(35, 62.5]",
        "(35, 62.5]",
        "> 62.5",
        "(none)",
        "(none)",
    ]
    assert bins.bin_counts({"(none)": 2, "90": 1, "10": 4, "20": 1, "0": 3}) == {
        "<= 0": 3,
        "(0, 35]": 5,
        "> 62.5": 1,
        "(none)": 2,
    }


def test_numeric_dimensions() -> None:
    snaps = {
        1: {"icp": {"10": 2, "(none)": 1}, "tier": {"Tier 1": 3}, "empty": {"(none)": 3}},
        2: {"icp": {"20": 3}, "tier": {"4": 3}},
    }
    assert numeric_dimensions(snaps) == {"icp"}


# ---------------------------------------------------------------- matrix and flapping
def T(account: str, frm: str | None, to: str | None, run: int = 1, dim: str = "segment") -> Transition:
    return Transition(account, dim, frm, to, "r", run, f"2024-01-0{run}T00:00:00.000000Z")


def test_transition_matrix_counts_with_none() -> None:
    ts = [T("a", None, "SMB"), T("b", None, "SMB"), T("c", "SMB", "Mid"), T("a", "SMB", None, 2)]
    assert transition_matrix(ts) == {"(none)": {"SMB": 2}, "SMB": {"Mid": 1, "(none)": 1}}
    as_dicts = [{"from_value": None, "to_value": "X"}, {"from": "X", "to": "Y"}]
    assert transition_matrix(as_dicts) == {"(none)": {"X": 1}, "X": {"Y": 1}}


def test_transition_matrix_binned() -> None:
    bins = Bins((10.0, 20.0))
    ts = [T("a", "5", "15"), T("b", "12", "18"), T("c", None, "25")]
    assert transition_matrix(ts, bins.label_of) == {
        "<= 10": {"(10, 20]": 1},
        "(10, 20]": {"(10, 20]": 1},
        "(none)": {"> 20": 1},
    }


def test_flapping_orders_paths_and_limits() -> None:
    ts = [
        T("a", "SMB", "Mid", 1),
        T("b", "SMB", "Mid", 1),
        T("c", None, "SMB", 1),
        T("a", "Mid", "SMB", 2),
        T("b", "Mid", "SMB", 2),
        T("a", "SMB", "Mid", 3),
        T("b", "Ent", "Mid", 3),
    ]  # b: a CRM edit in between (SMB -> Ent unlogged)
    out = flapping(ts)
    assert [(f["account"], f["moves"]) for f in out] == [("a", 3), ("b", 3)]
    assert out[0]["path"] == ["SMB", "Mid", "SMB", "Mid"]
    assert out[1]["path"] == ["SMB", "Mid", "SMB", "Ent", "Mid"]
    assert out[0]["last_at"] == "2024-01-03T00:00:00.000000Z"
    assert flapping(ts, min_moves=4) == []
    assert [f["account"] for f in flapping(ts, top=1)] == ["a"]
    assert [f["account"] for f in flapping(ts, min_moves=1)] == ["a", "b", "c"]


# ---------------------------------------------------------------- the report
def run(i: int, status: str = "succeeded") -> RunRow:
    return RunRow(id=i, sync="demo", started_at=f"2024-01-0{i}T00:00:00.000000Z", status=status)


def test_drift_report_shape_and_values() -> None:
    runs = [run(1), run(2, "failed"), run(3), run(4)]
    snaps = {
        1: {"segment": {"SMB": 6, "Mid": 4}, "icp": {str(i): 1 for i in range(1, 11)}},
        3: {"segment": {"SMB": 5, "Mid": 4, "(none)": 1}, "icp": {str(i): 1 for i in range(1, 11)}},
        4: {"segment": {"SMB": 3, "Mid": 7}, "icp": {"1": 5, "10": 5}},
    }
    ts = [
        T("a", "SMB", "Mid", 2),
        T("a", "Mid", "SMB", 3),
        T("a", "SMB", "Mid", 4),
        T("b", "SMB", "Mid", 4),
        T("c", "SMB", None, 3),
        T("c", None, "Mid", 4),
        T("x", "3", "10", 4, "icp"),
    ]
    rep = drift_report(runs, snaps, ts, {"icp"})
    json.dumps(rep)  # JSON-ready
    assert [r["id"] for r in rep["runs"]] == [1, 3, 4]  # the failed run has no snapshot
    assert rep["skipped_runs"] == [{"id": 2, "at": "2024-01-02T00:00:00.000000Z", "status": "failed"}]
    assert rep["runs"][0] == {
        "id": 1,
        "at": "2024-01-01T00:00:00.000000Z",
        "status": "succeeded",
        "counts": {
            "segment": {"SMB": 6, "Mid": 4},
            "icp": {f"<= {i}" if i == 1 else f"({i - 1}, {i}]": 1 for i in range(1, 10)} | {"> 9": 1},
        },
        "score_counts": {"icp": {str(i): 1 for i in range(1, 11)}},
    }
    assert (rep["first_run"], rep["last_run"]) == (1, 4)

    seg = rep["dimensions"]["segment"]
    assert seg["psi"] == pytest.approx(term(0.3, 0.6) + term(0.7, 0.4))
    assert seg["flag"] == "major"
    assert seg["transitions"] == {"SMB": {"Mid": 3, "(none)": 1}, "Mid": {"SMB": 1}, "(none)": {"Mid": 1}}
    assert seg["labels"] == ["Mid", "SMB", "(none)"]
    assert seg["flapping"] == [
        {"account": "a", "moves": 3, "path": ["SMB", "Mid", "SMB", "Mid"], "last_at": "2024-01-04T00:00:00.000000Z"},
        {"account": "c", "moves": 2, "path": ["SMB", "(none)", "Mid"], "last_at": "2024-01-04T00:00:00.000000Z"},
    ]

    icp = rep["dimensions"]["icp"]
    assert icp["kind"] == "score" and icp["bins"]["edges"] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert icp["last"] == {"<= 1": 5, "> 9": 5}
    # baseline: 10 bins of 0.1; last: 0.5 in two of them, the 8 others empty (EPS)
    assert icp["psi"] == pytest.approx(2 * term(0.5, 0.1) + 8 * term(EPS, 0.1))
    assert icp["transitions"] == {"(2, 3]": {"> 9": 1}}


def test_drift_report_without_runs_and_new_dimension() -> None:
    assert drift_report([], {}, []) == {
        "runs": [],
        "skipped_runs": [],
        "first_run": None,
        "last_run": None,
        "psi": {"epsilon": EPS, "moderate": 0.1, "major": 0.25},
        "dimensions": {},
    }
    rep = drift_report([run(1), run(2)], {1: {"a": {"X": 1}}, 2: {"a": {"X": 1}, "b": {"Y": 2}}}, [])
    assert rep["dimensions"]["b"]["psi"] == 0.0 and rep["dimensions"]["b"]["from_run"] == 2
    orphan = drift_report([run(1, "failed")], {}, [T("a", None, "X", 1)])
    assert orphan["runs"] == [] and orphan["dimensions"]["segment"]["psi"] is None
    assert orphan["dimensions"]["segment"]["transitions"] == {"(none)": {"X": 1}}


# ---------------------------------------------------------------- initial load, order, score bins (issue 15)
def move(account: str, frm: str | None, to: str | None, run: int, dim: str = "segment", first: bool = False) -> dict:
    """A transition as a plain dict; ``first``: logged at the account's first evaluation."""
    return {
        "account": account,
        "dimension": dim,
        "from": frm,
        "to": to,
        "run": run,
        "at": f"2024-01-0{run}T00:00:00.000000Z",
        "first_eval": first,
    }


def test_the_initial_load_is_shown_apart_and_never_counted_as_moves_or_flapping() -> None:
    runs = [run(1), run(2), run(3)]
    snaps = {
        1: {"segment": {"SMB": 2, "Mid": 1}},
        2: {"segment": {"SMB": 2, "Mid": 1, "Ent": 1}},  # d appears in run 2
        3: {"segment": {"SMB": 1, "Mid": 2, "(none)": 1}},
    }
    ts = [
        move("a", None, "SMB", 1, first=True),  # run 1: the backfill
        move("b", None, "SMB", 1, first=True),
        move("c", None, "Mid", 1, first=True),
        move("d", None, "Ent", 2, first=True),  # first run the account appears in
        move("a", "SMB", "Mid", 2),  # a real move
        move("d", "Ent", None, 3),  # d loses its value ...
        move("e", "Mid", "SMB", 1, first=True),  # a first evaluation that replaced a CRM value: a move
    ]
    seg = drift_report(runs, snaps, ts)["dimensions"]["segment"]
    assert seg["initial_load"] == {"SMB": 2, "Mid": 1, "Ent": 1}
    assert seg["transitions"] == {"Ent": {"(none)": 1}, "Mid": {"SMB": 1}, "SMB": {"Mid": 1}}
    assert seg["moves"] == 3
    assert seg["flapping"] == []  # a: backfill + 1 move; d: backfill + 1 move — neither flaps

    # ... and regains one: a real move out of (none), so d now flaps (Ent -> (none) -> Mid)
    seg = drift_report(runs, snaps, [*ts, move("d", None, "Mid", 3)])["dimensions"]["segment"]
    assert seg["transitions"]["(none)"] == {"Mid": 1} and seg["moves"] == 4
    assert [(f["account"], f["moves"], f["path"]) for f in seg["flapping"]] == [("d", 2, ["Ent", "(none)", "Mid"])]
    assert seg["initial_load"] == {"SMB": 2, "Mid": 1, "Ent": 1}


def test_labels_follow_the_declared_values_everywhere_none_last() -> None:
    values = {"stage": ["Lead", "MQA", "Opportunity", "Customer"]}
    runs = [run(1), run(2)]
    # by count Customer would lead, by name Customer would too: the declared order puts it last
    snaps = {
        1: {"stage": {"Customer": 9, "Lead": 1, "(none)": 2, "Opportunity": 3}},
        2: {"stage": {"Customer": 8, "Lead": 2, "MQA": 1, "Churned": 5, "(none)": 1}},
    }
    ts = [
        move("a", "Customer", "Lead", 2, "stage"),
        move("b", "Opportunity", "MQA", 2, "stage"),
        move("c", None, "Customer", 2, "stage", first=True),
        move("d", "Opportunity", "Churned", 2, "stage"),
        move("e", None, "Lead", 2, "stage", first=True),
    ]
    rep = drift_report(runs, snaps, ts, values=values)
    stage = rep["dimensions"]["stage"]
    order = ["Lead", "MQA", "Opportunity", "Customer", "Churned", "(none)"]  # undeclared after, (none) last
    assert stage["labels"] == order
    assert list(stage["first"]) == ["Lead", "Opportunity", "Customer", "(none)"]
    assert list(stage["last"]) == ["Lead", "MQA", "Customer", "Churned", "(none)"]
    assert list(rep["runs"][1]["counts"]["stage"]) == list(stage["last"])
    assert list(stage["transitions"]) == ["Opportunity", "Customer"]
    assert list(stage["transitions"]["Opportunity"]) == ["MQA", "Churned"]
    assert list(stage["initial_load"]) == ["Lead", "Customer"]
    # without declared values: undeclared labels by the last snapshot's counts, (none) still last
    plain = drift_report(runs, snaps, ts)["dimensions"]["stage"]
    assert plain["labels"] == ["Customer", "Churned", "Lead", "MQA", "Opportunity", "(none)"]


def test_score_moves_show_only_across_bins() -> None:
    runs = [run(1), run(2)]
    snaps = {1: {"icp": {str(i): 1 for i in range(1, 11)}}, 2: {"icp": {str(i): 1 for i in range(1, 11)}}}
    ts = [
        move("a", "3", "10", 2, "icp"),  # (2, 3] -> > 9: across
        move("b", "10", "12", 2, "icp"),  # > 9 -> > 9: within one bin
        move("c", "2.5", "3", 2, "icp"),  # (2, 3] both: within
        move("c", "3", "2.5", 2, "icp"),  # within again: c does not flap
        move("d", None, "4", 1, "icp", first=True),  # initial load, binned
        move("e", "5", None, 2, "icp"),  # into (none): across
    ]
    icp = drift_report(runs, snaps, ts, {"icp"})["dimensions"]["icp"]
    assert icp["transitions"] == {"(2, 3]": {"> 9": 1}, "(4, 5]": {"(none)": 1}}
    assert icp["moves"] == 2 and icp["moves_within_bins"] == 3
    assert icp["initial_load"] == {"(3, 4]": 1}
    assert icp["flapping"] == []
    # flapping paths of a score are in bins
    more = [*ts, move("a", "10", "1", 2, "icp")]
    icp = drift_report(runs, snaps, more, {"icp"})["dimensions"]["icp"]
    assert [(f["account"], f["path"]) for f in icp["flapping"]] == [("a", ["(2, 3]", "> 9", "<= 1"])]


def test_store_transitions_carry_first_eval_and_the_spec_keys_hold() -> None:
    ts = [
        Transition("a", "segment", None, "SMB", "r", 1, "2024-01-01T00:00:00.000000Z", first_eval=True),
        Transition("a", "segment", "SMB", "Mid", "r", 2, "2024-01-02T00:00:00.000000Z"),
        Transition("a", "segment", "Mid", "SMB", "r", 2, "2024-01-02T00:00:00.000000Z"),
    ]
    rep = drift_report([run(1), run(2)], {1: {"segment": {"SMB": 1}}, 2: {"segment": {"SMB": 1}}}, ts)
    assert {"id", "at", "counts"} <= set(rep["runs"][0])
    seg = rep["dimensions"]["segment"]
    assert {"psi", "flag", "transitions", "flapping", "initial_load", "moves"} <= set(seg)
    assert seg["initial_load"] == {"SMB": 1}
    assert seg["flapping"][0]["path"] == ["SMB", "Mid", "SMB"] and seg["flapping"][0]["moves"] == 2


def test_label_order_helper() -> None:
    from crmseg.labels import account_text, label_order

    seen = ["(none)", "Zeta", "10", "SMB", "2", "Alpha", "Enterprise"]
    assert label_order(seen, ["Enterprise", "SMB"]) == ["Enterprise", "SMB", "2", "10", "Alpha", "Zeta", "(none)"]
    assert label_order(seen, ["Enterprise", "SMB"], {"Zeta": 5, "Alpha": 1})[4:6] == ["Zeta", "Alpha"]
    assert account_text("001", {"name": "Acme", "domain": "acme.com"}) == "001 Acme (acme.com)"
    assert account_text("001", {"domain": "acme.com"}) == "001 (acme.com)"
    assert account_text("001", None) == "001"
