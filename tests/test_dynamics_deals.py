"""Dynamics 365 opportunities as deals, through the real connector over HTTP against the
sandbox: full and incremental reads at the floor, status from statecode, the account from the
parent account or the customer lookup, faults mid-read, and a sync with deals = true (base-currency
amounts in a multi-currency organization: tests/test_deal_reads.py). Each deal must be the one the
sandbox stores (converted with the shipped mapping)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from crmseg.connectors.dynamics_deals import account_of
from crmseg.deals.model import Deal
from crmseg.sandbox.deal_setup import DY_CUSTOMER_TABLE, dy_currency_id
from crmseg.sandbox.store import Record
from tests.connector_fixtures import (
    Harness,
    deal_harness,
    read_deals,
    same_deal,
    same_deals,
    touched_since,
    write_rules,
)
from tests.sync_env import SyncEnv

PAGE = 500


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_rules(tmp_path_factory.mktemp("rules"))


def harness(rules_dir: str, deals: int, **kw: Any) -> Iterator[Harness]:
    return deal_harness("dynamics", rules_dir, deals, page=PAGE, **kw)


@pytest.fixture(scope="module")
def dy(rules_dir: str) -> Iterator[Harness]:
    yield from harness(rules_dir, 1200)


def expected(rec: Record, multi: bool) -> Deal:
    d = rec.data
    codes = {dy_currency_id(c): c for c in ("USD", "EUR", "GBP", "CAD", "AUD")}
    parent, customer = d["_parentaccountid_value"], d["_customerid_value"]
    return Deal(
        id=rec.id,
        created_at=datetime.fromtimestamp(rec.created_ms / 1000, UTC),
        status={0: "open", 1: "won", 2: "lost"}[d["statecode"]],
        account_id=parent or (customer if d[DY_CUSTOMER_TABLE] == "account" else None),
        amount=d["estimatedvalue_base"] if multi else d["estimatedvalue"],
        currency=codes[d["_transactioncurrencyid_value"]],
        closed_at=date.fromisoformat(d["actualclosedate"]) if d["actualclosedate"] else None,
        stage=d["stepname"],
    )


def test_full_read_is_every_live_opportunity_at_the_floor(dy: Harness) -> None:
    live = dy.sb.deal_ids(deleted=False)
    assert dy.sb.deal_ids(deleted=True)  # the seed has deleted opportunities: they are not returned
    dy.sb.reset_stats()
    conn, norm, deals = read_deals(dy)
    assert sorted(d.id for d in deals) == live and not norm.multi_currency
    pages = math.ceil(len(live) / PAGE)
    assert conn.calls_by_kind["deal_query"] == pages == dy.server_calls("opportunities_query", "opportunities_next")
    assert conn.calls_by_kind["deal_currencies"] == 1 == dy.server_calls("transactioncurrencies")
    for deal in deals:
        same_deal(deal, expected(dy.sb.deal(deal.id), multi=False))
    assert {d.status for d in deals} == {"open", "won", "lost"}
    assert {d.currency for d in deals} == {"USD"}
    stored = {d.id: dy.sb.deal(d.id).data for d in deals}
    by_customer = [d for d in deals if not stored[d.id]["_parentaccountid_value"] and d.account_id]
    to_contact = [d for d in deals if stored[d.id][DY_CUSTOMER_TABLE] == "contact"]
    assert by_customer and all(d.account_id == stored[d.id]["_customerid_value"] for d in by_customer)
    assert to_contact and all(d.account_id is None for d in to_contact)  # a contact is no account


def test_incremental_read_and_a_deletion(dy: Harness) -> None:
    live = dy.sb.deal_ids(deleted=False)
    touched = live[100:700]  # two pages
    since = touched_since(dy, touched)
    dy.sb.edit_deals({live[0]: {"statecode": 1, "statuscode": 3}}, delete=[live[1]])
    try:
        dy.sb.reset_stats()
        conn, _, deals = read_deals(dy, since=since)
        assert sorted(d.id for d in deals) == sorted([*touched, live[0]])
        assert conn.calls_by_kind["deal_query"] == 2 == dy.server_calls("opportunities_query", "opportunities_next")
        assert next(d for d in deals if d.id == live[0]).status == "won"
        assert conn.server_time is not None and abs(conn.server_time - datetime.now(UTC)).total_seconds() < 5
        _, _, full = read_deals(dy)
        assert live[1] not in {d.id for d in full} and len(full) == len(live) - 1
    finally:
        dy.sb.edit_deals(restore=[live[1]])


@pytest.mark.parametrize(
    "fault",
    [{"kind": "429", "retry_after": 2}, {"kind": "503", "retry_after": 1}, {"kind": "expired_session"}],
    ids=lambda f: f["kind"],
)
def test_faults_mid_read_are_retried_without_re_emitting(dy: Harness, fault: dict[str, Any]) -> None:
    dy.sb.reset_stats()
    dy.sb.inject({**fault, "endpoint": "opportunities_next"}, {**fault, "endpoint": "opportunities_query"})
    conn, _, deals = read_deals(dy)
    ids = [d.id for d in deals]
    assert len(ids) == len(set(ids)) and sorted(ids) == dy.sb.deal_ids(deleted=False)
    assert dy.sb.stats()["faults"]["fired"] == {fault["kind"]: 2}
    if fault.get("retry_after"):
        assert conn.policy.sleep.calls.count(float(fault["retry_after"])) == 2


def test_account_of_prefers_the_parent_account_then_an_account_customer() -> None:
    table = "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
    assert account_of({"_parentaccountid_value": "a", "_customerid_value": "b", table: "account"}) == "a"
    assert account_of({"_parentaccountid_value": None, "_customerid_value": "b", table: "account"}) == "b"
    assert account_of({"_parentaccountid_value": None, "_customerid_value": "c", table: "contact"}) is None
    assert account_of({}) is None


# ------------------------------------------------------------------ a sync with deals = true
def test_a_sync_with_deals_reads_opportunities_full_then_incremental(tmp_path: Path) -> None:
    env = SyncEnv(tmp_path, "dynamics", 200, deals=1500)  # a sandbox with deals writes deals = true
    try:
        live = env.sb.deal_ids(deleted=False)
        line = env.sync_deals()
        assert line.startswith(f"deals: full read {len(live):,} ") and "removed 0" in line, line
        want = {rid: expected(env.sb.deal(rid), multi=False) for rid in live}
        got = env.stored_deals()
        same_deals(got, want)
        status = Counter(d.status for d in want.values())
        counts = env.status_deals()
        assert counts.pop("watermark") is not None
        assert counts == {
            "total": len(want),
            "open": status["open"],
            "won": status["won"],
            "lost": status["lost"],
            "no_account": sum(1 for d in want.values() if d.account_id is None),
            "unknown_account": 0,
        }
        by = env.calls()  # the shipped page size: one page of 5,000
        assert by.get("opportunities_query", 0) == 1 and by.get("opportunities_next", 0) == 0
        assert by.get("transactioncurrencies", 0) == 1

        # run 2: 300 edited, one deleted: an incremental read of the modified ones only
        env.sb.edit_deals({rid: {"statecode": 1, "statuscode": 3} for rid in live[:300]}, delete=[live[400]])
        line = env.sync_deals()
        assert line.startswith("deals: incremental read 300 "), line
        assert all(d.status == "won" for rid, d in env.stored_deals().items() if rid in live[:300])
        assert live[400] in env.stored_deals()  # an incremental read does not see deletions; the next full read does
    finally:
        env.close()
