"""The sync's pure decisions: transitions, per-account diff, error classes, API reserve, fingerprints."""

from __future__ import annotations

import pytest

from crmseg.config import parse_reserve
from crmseg.errors import ConfigError
from crmseg.model import DimResult
from crmseg.state.store import DimTag
from crmseg.state.transitions import EDIT_RULE, PINNED_RULE, moves
from crmseg.sync.budget import Budget, BudgetExhausted
from crmseg.sync.decide import MAX_ATTEMPTS, account_plan, applied, gives_up, is_permanent, rule_label
from crmseg.sync.fingerprint import read_fingerprint, rules_fingerprint

TAGS = {"segment": "Segment__c", "icp_score": "ICP_Score__c"}.get


@pytest.mark.parametrize(
    "has, recorded, crm, value, expected",
    [
        (False, None, None, "SMB", [(None, "SMB", "r")]),  # first run: against the CRM's value
        (False, None, "SMB", "SMB", []),
        (False, None, "SMB", "Enterprise", [("SMB", "Enterprise", "r")]),
        (True, "SMB", "SMB", "Enterprise", [("SMB", "Enterprise", "r")]),
        (True, "SMB", "SMB", "SMB", []),
        (True, "SMB", "Mid", "SMB", [("SMB", "Mid", EDIT_RULE), ("Mid", "SMB", "r")]),  # edit overwritten
        (True, "SMB", "Mid", "Enterprise", [("SMB", "Mid", EDIT_RULE), ("Mid", "Enterprise", "r")]),
        (True, "SMB", "Mid", "Mid", [("SMB", "Mid", "r")]),  # the rules now agree with the edit
        (True, None, None, None, []),
    ],
)
def test_moves_are_diffs_against_the_recorded_value(has, recorded, crm, value, expected):
    assert moves(has, recorded, crm, value, "r") == expected


def test_account_plan_writes_only_changed_mapped_unpinned_dims():
    results = {
        "segment": DimResult("Enterprise", ("big",)),
        "icp_score": DimResult(40, ("fit", "web")),
        "tier": DimResult("Tier 1", ()),
    }
    plan = account_plan(results, {"segment": "SMB", "icp_score": "40.0"}, False, TAGS, {"tier": "Tier 2"})
    assert plan.write == {"segment": DimTag(crm_before="SMB", value="Enterprise", rule="big")}
    assert plan.fields == {"Segment__c": "Enterprise"}  # the score equals the CRM's 40.0: not sent
    assert all(type(t) is DimTag for t in [*plan.write.values(), *plan.confirm.values()])
    assert plan.confirm == {
        "icp_score": DimTag(crm_before="40", value="40", rule="fit+web"),
        "tier": DimTag(crm_before="Tier 2", value="Tier 1", rule="(default)"),  # unmapped: against the record
    }
    pinned = account_plan(results, {"segment": "SMB", "icp_score": None}, True, TAGS, {})
    assert pinned.write == {} and pinned.fields == {} and pinned.pinned
    assert pinned.confirm["segment"] == ("SMB", "SMB", PINNED_RULE)
    cleared = account_plan({"segment": DimResult(None, ())}, {"segment": "SMB"}, False, TAGS, {})
    assert cleared.write == {"segment": ("SMB", None, "(default)")} and cleared.fields == {"Segment__c": None}


def test_applied_compares_tag_texts():
    assert applied(
        {"segment": "Enterprise", "icp_score": 40.0},
        {"segment": DimTag("SMB", "Enterprise", "r"), "icp_score": DimTag("10", "40", "r")},
    )
    assert not applied({"segment": "SMB"}, {"segment": DimTag("SMB", "Enterprise", "r")})


@pytest.mark.parametrize(
    "error, permanent",
    [
        (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: bad value for restricted picklist field: X (fields: Segment__c)",
            True,
        ),
        ("ENTITY_IS_DELETED: entity is deleted", True),
        ("VALIDATION_ERROR: Property values were not valid [INVALID_OPTION]", True),
        ("OBJECT_NOT_FOUND: Could not get some COMPANY objects", True),
        ("INVALID_FIELD_FOR_INSERT_UPDATE: Unable to create/update fields: Locked__c", True),
        ("UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record", False),
        ("no result returned by the bulk job", False),
        (None, False),
    ],
)
def test_permanent_errors_are_told_apart(error, permanent):
    assert is_permanent(error) is permanent


@pytest.mark.parametrize(
    "error, tries, blocked",
    [
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: bad value", 1, True),  # permanent: at once
        ("HTTP 500: server error", MAX_ATTEMPTS - 1, False),
        ("HTTP 500: server error", MAX_ATTEMPTS, True),  # no known kind: given up after MAX_ATTEMPTS runs
        ("no result returned by the bulk job", MAX_ATTEMPTS + 3, True),
        ("UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record", MAX_ATTEMPTS, False),
        ("UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record", 100, False),  # a lock: never
        (None, MAX_ATTEMPTS, True),
    ],
)
def test_a_failed_write_is_given_up_on_permanent_errors_and_repeated_unknown_ones_never_on_a_lock(
    error, tries, blocked
):
    assert gives_up(error, tries) is blocked


def test_rule_label():
    assert rule_label(DimResult("x", ("a",))) == "a"
    assert rule_label(DimResult(30, ("a", "b"))) == "a+b"
    assert rule_label(DimResult("d", ())) == "(default)"


class _Conn:
    def __init__(self, left):
        self.api_remaining = left


def test_the_api_reserve_stops_a_run_before_it_is_used():
    assert parse_reserve(None) == (0, 0.05)
    assert parse_reserve("10%") == (0, 0.10) and parse_reserve(500) == (500, 0.0)
    for bad in ("ten", "100%", -1, "-5%"):
        with pytest.raises(ConfigError, match="api_reserve"):
            parse_reserve(bad)
    Budget(_Conn(None), "50%").check(10_000, "x")  # no allowance reported (files): never stops
    Budget(_Conn((6_000, 100_000)), "5%").check(1_000, "x")
    with pytest.raises(BudgetExhausted, match=r"5,400 API calls left of 100,000 today and 5,000 are reserved"):
        Budget(_Conn((5_400, 100_000)), "5%").check(401, "writing 80,000 records")
    with pytest.raises(BudgetExhausted):
        Budget(_Conn((900, 1_000)), 900).check(1, "x")


def test_fingerprints_change_with_any_rule_or_mapping_edit(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.toml").write_text("dimension = 'a'\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text("object = 'Account'\n")
    fp = rules_fingerprint(rules, mapping)
    assert fp == rules_fingerprint(rules, mapping)
    (rules / "a.toml").write_text("dimension = 'a' \n")
    assert rules_fingerprint(rules, mapping) != fp
    fp2 = rules_fingerprint(rules, mapping)
    mapping.write_text("object = 'Account' \n")
    assert rules_fingerprint(rules, mapping) != fp2
    assert read_fingerprint(["b", "a"]) == read_fingerprint(["a", "b", "a"]) != read_fingerprint(["a"])
