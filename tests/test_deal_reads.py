"""Deal reads through the real clients over HTTP against the sandbox CRMs (simple-salesforce,
hubspot-api-client): full and incremental reads at the API floor, associations, multi-currency
(Dynamics 365's and Zoho's too), deletions and faults; every record goes through ``DealNormalizer``
with the shipped mapping and must give the deal the sandbox stores. The claim-level checks every
deal-reading connector passes are in tests/connector_contract.py; these are each vendor's specifics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmseg.connectors.hubspot_deals import primary_company
from crmseg.deals.mapped import DealNormalizer
from crmseg.deals.model import Deal
from crmseg.sandbox.deal_setup import CURRENCY_RATES
from crmseg.sandbox.store import Record
from tests.connector_fixtures import (
    FAULTS,
    Harness,
    deal_harness,
    fault_timeout,
    read_deals,
    same_deal,
    touched_since,
    write_rules,
)
from tests.test_dynamics_deals import PAGE as DY_PAGE
from tests.test_dynamics_deals import expected as dy_expected
from tests.test_zoho_deals import expected as zoho_expected


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_rules(tmp_path_factory.mktemp("rules"))


def harness(crm: str, rules_dir: str, deals: int, **kw: Any) -> Iterator[Harness]:
    # the shipped page size: Salesforce's floor is ceil(D / 2000)
    return deal_harness(crm, rules_dir, deals, page=2000, **kw)


@pytest.fixture(scope="module")
def sf(rules_dir: str) -> Iterator[Harness]:
    yield from harness("salesforce", rules_dir, 4500)


@pytest.fixture(scope="module")
def hs(rules_dir: str) -> Iterator[Harness]:
    yield from harness("hubspot", rules_dir, 2500)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def sf_expected(rec: Record, multi: bool) -> Deal:
    d = rec.data
    amount = d["Amount"] / CURRENCY_RATES[d["CurrencyIsoCode"]] if multi else d["Amount"]
    return Deal(
        id=rec.id,
        created_at=_utc(rec.created_ms),
        status="won" if d["IsWon"] else "lost" if d["IsClosed"] else "open",
        account_id=d["AccountId"],
        amount=amount,
        currency=d.get("CurrencyIsoCode"),
        closed_at=date.fromisoformat(d["CloseDate"]),
        stage=d["StageName"],
        type=d["Type"],
    )


def hs_expected(rec: Record, multi: bool) -> Deal:
    d = rec.data
    return Deal(
        id=rec.id,
        created_at=_utc(rec.created_ms),
        status="won" if d["hs_is_closed_won"] else "lost" if d["hs_is_closed"] else "open",
        account_id=primary_company((str(cid), primary) for cid, primary in d["__companies"]),
        amount=d["amount_in_home_currency"] if multi else d["amount"],
        currency=d["deal_currency_code"],
        closed_at=_utc(d["closedate"]).date(),
        stage=d["dealstage"],
        pipeline=d["pipeline"],
        type=d["dealtype"],
    )


# ------------------------------------------------------------------ Salesforce
def test_salesforce_full_read_is_every_live_opportunity_at_the_floor(sf: Harness) -> None:
    live = sf.sb.deal_ids(deleted=False)
    assert sf.sb.deal_ids(deleted=True)  # the seed has deleted opportunities: query leaves them out
    sf.sb.reset_stats()
    conn, norm, deals = read_deals(sf)
    assert sorted(d.id for d in deals) == live
    pages = math.ceil(len(live) / 2000)
    assert conn.calls_by_kind["deal_query"] == pages == sf.server_calls("query_opportunity", "query_more_opportunity")
    assert conn.calls_by_kind["deal_describe"] == 1 and not norm.multi_currency
    for deal in deals:
        same_deal(deal, sf_expected(sf.sb.deal(deal.id), multi=False))
    assert {d.status for d in deals} == {"open", "won", "lost"}
    assert any(d.account_id is None for d in deals)  # AccountId is nillable
    assert all(d.currency is None for d in deals)  # no CurrencyIsoCode in a single-currency org


def test_salesforce_incremental_read_and_a_deletion(sf: Harness) -> None:
    live = sf.sb.deal_ids(deleted=False)
    touched = live[100:2150]  # 2,050: two pages
    since = touched_since(sf, touched)
    sf.sb.edit_deals({live[0]: {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}}, delete=[live[1]])
    try:
        sf.sb.reset_stats()
        conn, _, deals = read_deals(sf, since=since)
        assert sorted(d.id for d in deals) == sorted([*touched, live[0]])  # the deleted one is not returned
        assert conn.calls_by_kind["deal_query"] == 2 == sf.server_calls("query_opportunity", "query_more_opportunity")
        assert next(d for d in deals if d.id == live[0]).status == "won"
        assert conn.server_time is not None and abs(conn.server_time - datetime.now(UTC)).total_seconds() < 5
        _, _, full = read_deals(sf)
        assert live[1] not in {d.id for d in full} and len(full) == len(live) - 1
    finally:
        sf.sb.edit_deals(restore=[live[1]])


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f["kind"])
def test_salesforce_faults_mid_read_are_retried_without_re_emitting(sf: Harness, fault: dict[str, Any]) -> None:
    sf.sb.reset_stats()
    sf.sb.inject({**fault, "endpoint": "query_more_opportunity"}, {**fault, "endpoint": "query_opportunity"})
    logins = sf.sb.stats()["logins"]
    conn, _, deals = read_deals(sf, **fault_timeout(fault))
    ids = [d.id for d in deals]
    assert len(ids) == len(set(ids)) and sorted(ids) == sf.sb.deal_ids(deleted=False)
    assert sf.sb.stats()["faults"]["fired"] == {fault["kind"]: 2}
    if fault.get("retry_after"):
        assert conn.policy.sleep.calls.count(float(fault["retry_after"])) == 2
    if fault["kind"] == "expired_session":
        assert sf.sb.stats()["logins"] - logins == 3  # the first login, then one per expired session


# ------------------------------------------------------------------ HubSpot
def test_hubspot_full_read_lists_deals_with_their_primary_company(hs: Harness) -> None:
    live = hs.sb.deal_ids(deleted=False)
    assert hs.sb.deal_ids(deleted=True)  # archived deals are not listed
    hs.sb.reset_stats()
    conn, norm, deals = read_deals(hs)
    assert [d.id for d in deals] == live and not norm.multi_currency
    assert conn.calls_by_kind["deal_list"] == math.ceil(len(live) / 100) == hs.server_calls("deals_list")
    assert hs.server_calls("deals_associations_batch_read", "deals_search") == 0  # companies came inline
    stored = {d.id: hs.sb.deal(d.id).data["__companies"] for d in deals}
    several = [d for d in deals if len(stored[d.id]) > 1]
    alone = [d for d in deals if len(stored[d.id]) == 1]
    none = [d for d in deals if not stored[d.id]]
    assert several and alone and none
    assert all(d.account_id == next(str(c) for c, primary in stored[d.id] if primary) for d in several)
    assert all(d.account_id == str(stored[d.id][0][0]) for d in alone) and all(d.account_id is None for d in none)
    for deal in deals:
        same_deal(deal, hs_expected(hs.sb.deal(deal.id), multi=False))


def test_hubspot_incremental_read_searches_and_batches_the_associations(hs: Harness) -> None:
    live = hs.sb.deal_ids(deleted=False)
    touched = live[50:1550]  # 1,500: 8 search pages, 2 association batches
    since = touched_since(hs, touched)
    hs.sb.reset_stats()
    conn, _, deals = read_deals(hs, since=since)
    assert sorted(d.id for d in deals) == sorted(touched)
    assert conn.calls_by_kind["deal_search"] == math.ceil(1500 / 200) == hs.server_calls("deals_search")
    assert conn.calls_by_kind["deal_associations"] == math.ceil(1500 / 1000)
    assert hs.server_calls("deals_associations_batch_read") == 2 and hs.server_calls("deals_list") == 0
    for deal in deals:  # the v4 batches give the same accounts as the inline list
        same_deal(deal, hs_expected(hs.sb.deal(deal.id), multi=False))
    assert any(len(hs.sb.deal(d.id).data["__companies"]) > 1 for d in deals)
    assert any(d.account_id is None for d in deals)


def test_hubspot_deal_search_past_the_cap_reads_each_deal_once(rules_dir: str) -> None:
    frozen = {"t": time.time()}
    for h in harness("hubspot", rules_dir, 400, search_cap=100, clock=lambda: frozen["t"]):
        live = h.sb.deal_ids(deleted=False)
        since = datetime.fromtimestamp(frozen["t"] + 1, UTC)
        frozen["t"] += 2
        h.sb.edit_deals(touch=live[:250])  # 250 deals share one modification time, over the cap of 100
        frozen["t"] += 1
        h.sb.edit_deals(touch=live[250:300])
        h.sb.reset_stats()
        conn, _, deals = read_deals(h, since=since, search_cap=100, search_limit=50)
        assert [d.id for d in deals] == live[:300]  # by time, then by id within one time
        # three queries of two pages each: every page is new deals, none is read twice
        assert h.server_calls("deals_search") == math.ceil(300 / 50) == conn.calls_by_kind["deal_search"]
        assert h.sb.stats()["calls"]["by_status"].get("400", 0) == 0


def test_hubspot_multi_currency_portal_reads_the_home_amount(rules_dir: str) -> None:
    for h in harness("hubspot", rules_dir, 300, multi_currency=True):
        conn, norm, deals = read_deals(h)
        assert norm.multi_currency and len({d.currency for d in deals}) > 2
        for deal in deals:
            same_deal(deal, hs_expected(h.sb.deal(deal.id), multi=True))
        assert any(d.amount != float(h.sb.deal(d.id).data["amount"]) for d in deals)
        assert conn.crm_identity().kind == "hubspot"
        assert conn.calls_by_kind["identity"] == 1  # the currencies and the identity share one account-info call


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f["kind"])
def test_hubspot_faults_on_every_deal_call_are_retried(hs: Harness, fault: dict[str, Any]) -> None:
    live = hs.sb.deal_ids(deleted=False)
    since = touched_since(hs, live[:1200])
    hs.sb.reset_stats()
    hs.sb.inject(
        {**fault, "endpoint": "deals_list", "after": 1},
        {**fault, "endpoint": "deals_search", "after": 1},
        {**fault, "endpoint": "deals_associations"},
    )
    conn, _, full = read_deals(hs, **fault_timeout(fault))
    assert [d.id for d in full] == live
    reads = conn.capabilities.deals
    norm = DealNormalizer(hs.mapping.deals)
    changed = [norm.deal(r) for r in reads.read_deals(norm.read_fields(), since=since)]
    assert sorted(d.id for d in changed) == sorted(live[:1200]) and len({d.id for d in changed}) == 1200
    by_id = {d.id: d for d in full}
    assert all(d.account_id == by_id[d.id].account_id for d in changed)
    assert hs.sb.stats()["faults"]["fired"] == {fault["kind"]: 3}
    if fault.get("retry_after"):
        assert conn.policy.sleep.calls.count(float(fault["retry_after"])) == 3


# ------------------------------------------------------------------ Salesforce, Dynamics 365, Zoho
#: crm -> (the deal it must read from a stored record, the deal page size its other tests read with,
#: the stored amount in the deal's own currency, the one call that finds the org multi-currency
#: and serves another need too).
MULTI_CURRENCY: dict[str, tuple[Callable[[Record, bool], Deal], int | None, str, str]] = {
    "salesforce": (sf_expected, 2000, "Amount", "deal_describe"),  # the read's describe
    "dynamics": (dy_expected, DY_PAGE, "estimatedvalue", "deal_currencies"),  # the currencies' ISO codes
    "zoho": (zoho_expected, None, "Amount", "identity"),  # the org's identity
}


@pytest.mark.parametrize("crm", list(MULTI_CURRENCY))
def test_multi_currency_org_reads_home_currency_amounts(crm: str, rules_dir: str) -> None:
    expected, page, native, shared_call = MULTI_CURRENCY[crm]
    for h in deal_harness(crm, rules_dir, 300, page=page, multi_currency=True):
        conn, norm, deals = read_deals(h)
        assert norm.multi_currency
        for deal in deals:
            same_deal(deal, expected(h.sb.deal(deal.id), multi=True))
        assert len({d.currency for d in deals}) > 2
        assert any(d.amount != h.sb.deal(d.id).data[native] for d in deals)
        assert conn.calls_by_kind[shared_call] == 1
