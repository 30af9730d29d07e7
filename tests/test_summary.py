"""AuditSummary: counts, rule hits, change classification, quality and warnings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmseg.audit.checks import min_segment_threshold, share_text
from crmseg.audit.summary import AuditSummary
from crmseg.model import NONE_LABEL, DimResult
from tests.dims import Dim


def label_summary(counts: dict[str | None, int], min_segment_size: int | None = 1) -> AuditSummary:
    """A one-dimension summary whose accounts hold ``counts`` (None = no value)."""
    s = AuditSummary([Dim("segment")], [], min_segment_size=min_segment_size)
    i = 0
    for value, n in counts.items():
        for _ in range(n):
            s.add(str(i), {"segment": DimResult(value)}, {})
            i += 1
    s.finish({})
    return s


# -- counts, rules, changes ------------------------------------------------------------


def test_label_counts_none_and_allow_list_order() -> None:
    dim = Dim("segment", values=["Enterprise", "SMB", "Unsegmented"], rule_names=["ent", "smb"])
    s = AuditSummary([dim], [])
    s.add("1", {"segment": DimResult("SMB", ("smb",))}, {})
    s.add("2", {"segment": DimResult("SMB", ("smb",))}, {})
    s.add("3", {"segment": DimResult("Odd")}, {})
    s.add("4", {"segment": DimResult(None)}, {})
    s.add("5", {}, {})  # a dimension missing from the results counts as no value
    s.finish({})
    d = s.to_json()["dimensions"]["segment"]
    assert d["counts"] == {"Enterprise": 0, "SMB": 2, "Unsegmented": 0, "Odd": 1, NONE_LABEL: 2}
    assert list(d["counts"])[-1] == NONE_LABEL
    assert d["rules"] == {"ent": 0, "smb": 2}
    assert d["never_fired"] == ["ent"]
    assert s.to_json()["accounts"] == 5


def test_none_always_present() -> None:
    s = label_summary({"A": 3})
    assert s.to_json()["dimensions"]["segment"]["counts"][NONE_LABEL] == 0


def test_label_hits_only_first_rule_in_file_order() -> None:
    s = AuditSummary([Dim("tier", rule_names=["a", "b", "c"])], [])
    s.add("1", {"tier": DimResult("X", ("c", "a"))}, {})
    s.add("2", {"tier": DimResult("X", ("b",))}, {})
    s.finish({})
    d = s.to_json()["dimensions"]["tier"]
    assert list(d["rules"].items()) == [("a", 0), ("b", 1), ("c", 1)]
    assert d["never_fired"] == ["a"]


def test_score_every_matching_rule_counts_and_values_merge_via_tag_text() -> None:
    dim = Dim("icp_score", kind="score", rule_names=["fit", "intent", "unused"])
    s = AuditSummary([dim], [])
    s.add("1", {"icp_score": DimResult(42.0, ("fit", "intent"))}, {})
    s.add("2", {"icp_score": DimResult(42, ("fit", "intent"))}, {})
    s.add("3", {"icp_score": DimResult(7.5, ("fit",))}, {})
    s.add("4", {"icp_score": DimResult(0)}, {})
    s.finish({})
    d = s.to_json()["dimensions"]["icp_score"]
    assert d["counts"] == {"0": 1, "7.5": 1, "42": 2, NONE_LABEL: 0}
    assert d["rules"] == {"fit": 3, "intent": 2, "unused": 0}
    assert d["never_fired"] == ["unused"]
    assert d["stats"] == {"min": 0, "max": 42, "mean": pytest.approx((42 + 42 + 7.5) / 4)}
    assert d["kind"] == "score"


def test_score_stats_without_values() -> None:
    s = AuditSummary([Dim("score", kind="score")], [])
    s.finish({})
    assert s.to_json()["dimensions"]["score"]["stats"] == {"min": None, "max": None, "mean": None}


@pytest.mark.parametrize(
    ("current", "computed", "kind"),
    [
        ("SMB", "SMB", "unchanged"),
        (None, None, "unchanged"),
        ("", None, "unchanged"),
        (" SMB ", "SMB", "unchanged"),
        ("42.0", 42, "unchanged"),
        (42.0, 42, "unchanged"),
        ("SMB", "Enterprise", "changed"),
        (None, "SMB", "added"),
        ("", "SMB", "added"),
        ("SMB", None, "cleared"),
    ],
)
def test_change_classification(current: object, computed: object, kind: str) -> None:
    s = AuditSummary([Dim("segment")], [])
    s.add("1", {"segment": DimResult(computed)}, {"segment": current})
    s.finish({})
    changes = s.to_json()["changes"]["segment"]
    assert changes == {k: int(k == kind) for k in ("unchanged", "changed", "added", "cleared")}


def test_missing_current_is_added() -> None:
    s = AuditSummary([Dim("segment")], [])
    s.add("1", {"segment": DimResult("A")}, {})
    s.finish({})
    assert s.to_json()["changes"]["segment"]["added"] == 1


# -- quality, JSON ---------------------------------------------------------------------


def test_quality_only_used_fields_with_zero_default() -> None:
    s = AuditSummary(
        [Dim("segment"), Dim("icp_score", kind="score")], ["employees", "industry", "icp_score", "employees"]
    )
    s.finish({"employees": {"missing": 3, "invalid": 1}, "country": {"missing": 9, "invalid": 0}})
    assert s.to_json()["quality"] == {
        "employees": {"missing": 3, "invalid": 1},
        "industry": {"missing": 0, "invalid": 0},
    }


def test_json_has_spec_keys_and_serializes() -> None:
    s = AuditSummary([Dim("segment", rule_names=["r"]), Dim("score", kind="score")], ["employees"])
    s.add("1", {"segment": DimResult("A", ("r",)), "score": DimResult(5)}, {"segment": "B"})
    s.metadata.update(
        source=Path("a.csv"), started_at=datetime(2024, 1, 2, tzinfo=UTC), engine="native", duration_s=0.5
    )
    s.finish({"employees": {"missing": 1}}, ["extra"])
    doc = json.loads(json.dumps(s.to_json()))
    assert {"accounts", "dimensions", "changes", "quality", "warnings"} <= set(doc)
    for dim in doc["dimensions"].values():
        assert {"kind", "counts", "rules", "never_fired"} <= set(dim)
    assert set(doc["changes"]["segment"]) == {"unchanged", "changed", "added", "cleared"}
    assert doc["changes"]["segment"]["changed"] == 1
    assert doc["quality"] == {"employees": {"missing": 1, "invalid": 0}}
    assert doc["run"] == {
        "source": "a.csv",
        "started_at": "2024-01-02T00:00:00+00:00",
        "engine": "native",
        "duration_s": 0.5,
    }
    assert doc["warnings"][-1] == "extra"


def test_to_json_before_finish_computes_warnings() -> None:
    s = AuditSummary([Dim("segment")], [])
    for i in range(10):
        s.add(str(i), {"segment": DimResult(None)}, {})
    assert any("no value" in w for w in s.to_json()["warnings"])


# -- warnings --------------------------------------------------------------------------


def test_more_than_six_labels_warns() -> None:
    six = label_summary({f"L{i}": 10 for i in range(6)})
    assert not [w for w in six.warnings if "labels in use" in w]
    seven = label_summary({f"L{i}": 10 for i in range(7)})
    assert seven.warnings == [
        "segment: 7 labels in use, more than 6; a segment dimension is hard to act on with that many labels"
    ]


def test_many_labels_only_warn_for_segment_dimensions() -> None:
    """Journey stages and tiers are ordered scales: seven stages are by design."""
    s = AuditSummary([Dim("stage")], [], min_segment_size=1)
    for i in range(70):
        s.add(str(i), {"stage": DimResult(f"S{i % 7}")}, {})
    s.finish({})
    assert not [w for w in s.warnings if "labels in use" in w]


def test_pinned_accounts_count_apart_from_changes() -> None:
    s = AuditSummary([Dim("segment")], [], min_segment_size=1)
    s.add("1", {"segment": DimResult("A")}, {"segment": "B"}, pinned=True)
    s.add("2", {"segment": DimResult("A")}, {"segment": "A"}, pinned=True)
    s.add("3", {"segment": DimResult("A")}, {"segment": "B"})
    doc = s.to_json()
    assert doc["changes"]["segment"] == {"unchanged": 1, "changed": 1, "added": 0, "cleared": 0}
    assert doc["pinned"] == {"accounts": 2, "would_change": {"segment": 1}}


def test_unused_allow_list_labels_do_not_count_as_in_use() -> None:
    dim = Dim("segment", values=[f"L{i}" for i in range(10)])
    s = AuditSummary([dim], [], min_segment_size=1)
    for i in range(6):
        s.add(str(i), {"segment": DimResult(f"L{i}")}, {})
    s.finish({})
    assert s.warnings == []


def test_score_dimension_never_gets_label_warnings() -> None:
    s = AuditSummary([Dim("score", kind="score")], [])
    for i in range(100):
        s.add(str(i), {"score": DimResult(i % 10)}, {})
    s.finish({})
    assert s.warnings == []


def test_small_label_explicit_threshold_boundary() -> None:
    ok = label_summary({"A": 25, "B": 25, "Small": 10}, min_segment_size=10)
    assert ok.warnings == []
    bad = label_summary({"A": 26, "B": 25, "Small": 9}, min_segment_size=10)
    assert bad.warnings == [
        "segment: label 'Small' holds 9 accounts (15%), fewer than the minimum segment size of 10 (min_segment_size)"
    ]


def test_default_min_segment_size() -> None:
    assert min_segment_threshold(0) == 20
    assert min_segment_threshold(2000) == 20
    assert min_segment_threshold(2001) == 21
    assert min_segment_threshold(5000) == 50
    assert min_segment_threshold(5000, 7) == 7


def test_small_label_default_threshold_boundary() -> None:
    # 5,000 accounts -> 1% = 50 beats 20.
    ok = label_summary({"A": 2500, "B": 2450, "C": 50}, min_segment_size=None)
    assert ok.warnings == []
    bad = label_summary({"A": 2500, "B": 2451, "C": 49}, min_segment_size=None)
    assert bad.warnings == [
        (
            "segment: label 'C' holds 49 accounts (1%), fewer than the minimum "
            "segment size of 50 (default: 1% of accounts, at least 20)"
        )
    ]
    # 100 accounts -> the floor of 20 applies.
    floor = label_summary({"A": 81 - 1, "B": 19 + 1}, min_segment_size=None)
    assert floor.warnings == []
    floor_bad = label_summary({"A": 80, "B": 19, None: 1}, min_segment_size=None)
    assert [w for w in floor_bad.warnings if "'B' holds 19" in w]


def test_small_label_check_skipped_when_run_smaller_than_threshold() -> None:
    s = label_summary({"A": 10, "B": 9}, min_segment_size=None)  # 19 < 20
    assert s.warnings == []
    assert s.to_json()["thresholds"]["min_segment_size_checked"] is False
    s = label_summary({"A": 11, "B": 9}, min_segment_size=None)  # 20 accounts: checked
    assert [w for w in s.warnings if "'A' holds 11" in w] and [w for w in s.warnings if "'B'" in w]
    assert s.to_json()["thresholds"]["min_segment_size_checked"] is True


def test_dominant_label_boundary() -> None:
    assert label_summary({"A": 80, "B": 20}).warnings == []
    assert label_summary({"A": 81, "B": 19}).warnings == ["segment: label 'A' holds 81 of 100 accounts (81%), over 80%"]


def test_no_value_boundary() -> None:
    assert label_summary({"A": 40, "B": 40, None: 20}).warnings == []
    assert label_summary({"A": 40, "B": 39, None: 21}).warnings == [
        "segment: 21 of 100 accounts (21%) have no value, over 20%"
    ]


def test_all_none_warns_no_value_but_not_dominant() -> None:
    assert label_summary({None: 5}).warnings == ["segment: 5 of 5 accounts (100%) have no value, over 20%"]


def test_no_accounts_no_warnings() -> None:
    assert label_summary({}).warnings == []


def test_extra_warnings_come_after_dimension_warnings() -> None:
    s = AuditSummary([Dim("segment")], [], min_segment_size=1)
    s.add("1", {"segment": DimResult("A")}, {})
    s.finish({}, ["engine fallback"])
    assert s.warnings == ["segment: label 'A' holds 1 of 1 accounts (100%), over 80%", "engine fallback"]


def test_share_text() -> None:
    assert share_text(1, 3) == "33.3%"
    assert share_text(1, 2) == "50%"
    assert share_text(1, 10_000) == "<0.1%"
    assert share_text(9_999, 10_000) == ">99.9%"
    assert share_text(0, 0) == "0%"


def test_rule_hits_exact_past_the_combination_cap(monkeypatch) -> None:
    import crmseg.audit.counting as counting

    monkeypatch.setattr(counting, "_COMBOS_MAX", 2)
    s = AuditSummary([Dim("score", kind="score", rule_names=["a", "b", "c"])], [])
    for rules in [("a",), ("a", "b"), ("b", "c"), ("a", "b", "c"), ("a",), ("c",)]:
        s.add("1", {"score": DimResult(len(rules), rules)}, {})
    s.finish({})
    assert s.to_json()["dimensions"]["score"]["rules"] == {"a": 4, "b": 3, "c": 3}
