"""Deals in both sandbox CRMs, driven through the real clients over plain http: Salesforce's
Opportunity with simple-salesforce, HubSpot's deals with hubspot-api-client (list with inline
companies, search and its cap, v4 association batches, pipelines, properties), multi-currency,
deletions and faults."""

from __future__ import annotations

import json
import math

import pytest
import requests
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.deals import PublicObjectSearchRequest
from hubspot.crm.deals.exceptions import ApiException
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest
from urllib3.util.retry import Retry

from crmseg.sandbox import SandboxServer
from crmseg.sandbox.clients import hubspot_client, salesforce_client
from crmseg.sandbox.deal_setup import CURRENCY_RATES, HS_PRIMARY_TYPE, HS_UNLABELED_TYPE, SF_STAGES

OPP_FIELDS = (
    "Id, AccountId, Amount, CloseDate, CreatedDate, IsClosed, IsWon, StageName, Type, ForecastCategory, "
    "SystemModstamp, IsDeleted"
)
DEAL_PROPS = ["amount", "closedate", "createdate", "dealstage", "pipeline", "hs_is_closed", "hs_is_closed_won"]


@pytest.fixture(scope="module")
def sf_sb():
    with SandboxServer("salesforce", accounts=120, deals=4500, seed=7) as server:
        yield server


@pytest.fixture(scope="module")
def sf_multi():
    with SandboxServer("salesforce", accounts=60, deals=300, multi_currency=True) as server:
        yield server


@pytest.fixture(scope="module")
def hs_sb():
    with SandboxServer("hubspot", accounts=120, deals=700, seed=7, search_rate_limit=1000) as server:
        yield server


# ------------------------------------------------------------------ Salesforce
def test_opportunity_pages_of_2000_and_deleted_only_in_query_all(sf_sb):
    sf = salesforce_client(sf_sb.url)
    live, deleted = sf_sb.deal_ids(deleted=False), sf_sb.deal_ids(deleted=True)
    assert deleted and len(live) + len(deleted) == 4500
    sf_sb.reset_stats()
    first = sf.query(f"SELECT {OPP_FIELDS} FROM Opportunity")
    assert first["totalSize"] == len(live) and len(first["records"]) == 2000 and not first["done"]
    assert "/query/" in first["nextRecordsUrl"]
    rows = list(first["records"])
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        rows += page["records"]
    assert sorted(r["Id"] for r in rows) == live and not any(r["IsDeleted"] for r in rows)
    calls = sf_sb.stats()["calls"]["by_endpoint"]
    assert calls == {"query_opportunity": 1, "query_more_opportunity": math.ceil(len(live) / 2000) - 1}
    row = rows[0]
    assert row["attributes"]["type"] == "Opportunity" and row["Id"].startswith("006") and len(row["Id"]) == 18
    assert row["StageName"] in {s[0] for s in SF_STAGES} and isinstance(row["IsClosed"], bool)
    assert "CurrencyIsoCode" not in row  # a single-currency org has no such field
    closed = [r for r in rows if r["IsClosed"]]
    assert {r["StageName"] for r in closed if r["IsWon"]} == {"Closed Won"}
    assert {r["StageName"] for r in closed if not r["IsWon"]} == {"Closed Lost"}
    assert any(r["AccountId"] is None for r in rows)  # AccountId is nillable
    assert {r["AccountId"] for r in rows} - {None} <= set(sf_sb.ids())

    everything = sf.query_all("SELECT Id, IsDeleted FROM Opportunity", include_deleted=True)  # queryAll
    assert everything["totalSize"] == 4500
    assert sorted(r["Id"] for r in everything["records"] if r["IsDeleted"]) == deleted
    only = sf.query_all("SELECT Id FROM Opportunity WHERE IsDeleted = true", include_deleted=True)
    assert sorted(r["Id"] for r in only["records"]) == deleted
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == len(live)


def test_opportunity_incremental_order_limit_and_a_deletion(sf_sb):
    sf = salesforce_client(sf_sb.url)
    stamps = sf.query("SELECT Id, SystemModstamp FROM Opportunity ORDER BY SystemModstamp DESC LIMIT 1")["records"]
    newest = stamps[0]["SystemModstamp"].replace(".000+0000", "Z")
    assert sf.query(f"SELECT Id FROM Opportunity WHERE SystemModstamp > {newest}")["totalSize"] == 0
    live = sf_sb.deal_ids(deleted=False)
    sf_sb.edit_deals({live[0]: {"StageName": "Closed Lost", "IsClosed": True, "IsWon": False}}, delete=[live[1]])
    try:
        changed = sf.query(
            f"SELECT Id, StageName FROM Opportunity WHERE SystemModstamp > {newest} ORDER BY SystemModstamp, Id LIMIT 5"
        )["records"]
        assert [(r["Id"], r["StageName"]) for r in changed] == [(live[0], "Closed Lost")]
        gone = sf.query_all(
            f"SELECT Id, IsDeleted FROM Opportunity WHERE SystemModstamp > {newest}", include_deleted=True
        )["records"]
        assert [
            r["Id"] for r in sf.query(f"SELECT Id FROM Opportunity WHERE SystemModstamp > {newest}")["records"]
        ] == [live[0]]
        assert {(r["Id"], r["IsDeleted"]) for r in gone} == {(live[0], False), (live[1], True)}
    finally:
        sf_sb.edit_deals(restore=[live[1]])


def test_describe_opportunity_and_convert_currency_needs_a_multi_currency_org(sf_sb, sf_multi):
    sf = salesforce_client(sf_sb.url)
    described = sf.Opportunity.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["keyPrefix"] == "006" and "CurrencyIsoCode" not in fields
    assert [v["value"] for v in fields["StageName"]["picklistValues"]] == [s[0] for s in SF_STAGES]
    assert next(v["value"] for v in fields["Type"]["picklistValues"]) == "New Customer"
    assert fields["AccountId"]["nillable"] and fields["Amount"]["type"] == "currency"
    assert {"Account", "Opportunity"} <= {o["name"] for o in sf.describe()["sobjects"]}
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id, convertCurrency(Amount) FROM Opportunity")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"

    multi = salesforce_client(sf_multi.url)
    mfields = {f["name"]: f for f in multi.Opportunity.describe()["fields"]}
    assert [v["value"] for v in mfields["CurrencyIsoCode"]["picklistValues"]] == list(CURRENCY_RATES)
    rows = multi.query_all("SELECT Id, Amount, CurrencyIsoCode FROM Opportunity")["records"]
    converted = {
        r["Id"]: r["Amount"] for r in multi.query_all("SELECT Id, convertCurrency(Amount) FROM Opportunity")["records"]
    }
    assert len({r["CurrencyIsoCode"] for r in rows}) > 2
    for r in rows:
        assert converted[r["Id"]] == pytest.approx(r["Amount"] / CURRENCY_RATES[r["CurrencyIsoCode"]], abs=0.01)
    assert any(converted[r["Id"]] != r["Amount"] for r in rows)
    with pytest.raises(SalesforceMalformedRequest):  # a currency function on a non-currency field
        multi.query("SELECT convertCurrency(StageName) FROM Opportunity")


def test_faults_on_the_opportunity_query_leave_accounts_alone(sf_sb):
    sf = salesforce_client(sf_sb.url)
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    url = f"{sf_sb.url}/services/data/v59.0/query"
    sf_sb.reset_stats()
    sf_sb.inject(
        {"kind": "503", "endpoint": "query_opportunity", "retry_after": 2},
        {"kind": "429", "endpoint": "query_opportunity"},
        {"kind": "500", "endpoint": "query_opportunity"},
    )
    assert requests.get(url, params={"q": "SELECT Id FROM Account"}, headers=headers).status_code == 200
    answers = [requests.get(url, params={"q": "SELECT Id FROM Opportunity"}, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 429, 500, 200]
    assert answers[0].headers["Retry-After"] == "2"
    sf_sb.inject({"kind": "timeout", "endpoint": "query_more_opportunity", "delay": 0.3})
    first = sf.query("SELECT Id FROM Opportunity")
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.session.get(f"{sf_sb.url}{first['nextRecordsUrl']}", headers=headers, timeout=0.1)
    sf_sb.inject({"kind": "expired_session", "endpoint": "query_more_opportunity"})
    with pytest.raises(SalesforceExpiredSession):
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    stats = sf_sb.stats()
    assert stats["calls"]["by_endpoint"] == {"query": 1, "query_opportunity": 5, "query_more_opportunity": 2}
    assert stats["faults"]["fired"] == {"503": 1, "429": 1, "500": 1, "timeout": 1, "expired_session": 1}
    assert salesforce_client(sf_sb.url).query("SELECT COUNT() FROM Opportunity")["totalSize"] > 0  # log in again


# ------------------------------------------------------------------ HubSpot
def _list_all(hs, **kwargs):
    results, after, calls = [], None, 0
    while True:
        page = hs.crm.deals.basic_api.get_page(limit=100, after=after, **kwargs)
        calls += 1
        results += page.results
        if page.paging is None:
            return results, calls
        after = page.paging.next.after


def test_deal_list_pages_of_100_with_companies_inline(hs_sb):
    hs = hubspot_client(hs_sb.url)
    live = hs_sb.deal_ids(deleted=False)
    hs_sb.reset_stats()
    results, calls = _list_all(hs, properties=DEAL_PROPS, associations=["companies"])
    assert [d.id for d in results] == live and calls == math.ceil(len(live) / 100)
    assert hs_sb.stats()["calls"]["by_endpoint"] == {"deals_list": calls}
    companies = set(hs_sb.ids())
    primaries, several, none = 0, 0, 0
    for deal in results:
        assert set(DEAL_PROPS) <= set(deal.properties) and deal.properties["pipeline"] == "default"
        stored = hs_sb.deal(deal.id).data["__companies"]
        if not stored:
            none += 1
            assert deal.associations is None
            continue
        links = [(a.id, a.type) for a in deal.associations["companies"].results]
        primary = [cid for cid, kind in links if kind == "deal_to_company"]
        assert len(primary) == 1 and (primary[0], "deal_to_company_unlabeled") in links
        assert {cid for cid, _ in links} <= companies
        primaries += 1
        several += len({cid for cid, _ in links}) > 1
    assert primaries and several and none  # the seed has deals with several companies and with none
    bare = hs.crm.deals.basic_api.get_page(limit=5)
    assert all(d.associations is None for d in bare.results)
    assert set(bare.results[0].properties) >= {"dealname", "dealstage", "amount", "hs_object_id"}
    with pytest.raises(ApiException) as info:
        hs.crm.deals.basic_api.get_page(limit=101)
    assert info.value.status == 400


def test_archived_deals_leave_list_and_search(hs_sb):
    hs = hubspot_client(hs_sb.url)
    archived = hs_sb.deal_ids(deleted=True)
    assert archived
    listed = hs.crm.deals.basic_api.get_page(limit=100, archived=True)
    assert [d.id for d in listed.results] == archived[:100] and all(d.archived for d in listed.results)
    found = hs.crm.deals.search_api.do_search(PublicObjectSearchRequest(limit=200))
    assert found.total == len(hs_sb.deal_ids(deleted=False))
    with pytest.raises(ApiException) as info:
        hs.crm.deals.basic_api.get_by_id(archived[0])
    assert info.value.status == 404


def _search(hs, groups, after=None, limit=20):
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": g} for g in groups],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["hs_lastmodifieddate", "amount"],
        limit=limit,
        after=after,
    )
    return hs.crm.deals.search_api.do_search(request)


def test_deal_search_cap_and_the_tie_break_on_hs_object_id():
    frozen = 1_800_000_000.0  # after every seeded modification time
    with SandboxServer(
        "hubspot", accounts=40, deals=130, search_cap=50, search_rate_limit=1000, clock=lambda: frozen
    ) as sb:
        live = sb.deal_ids(deleted=False)
        sb.edit_deals(touch=live)  # every deal now shares one modification time
        hs = hubspot_client(sb.url)
        stamp = "1800000000000"
        page = _search(hs, [[{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": stamp}]], limit=50)
        assert page.total == len(live) and len(page.results) == 50
        assert not hasattr(page.results[0], "associations")  # search results carry no associations
        with pytest.raises(ApiException) as info:  # the 10,000-result cap (50 here) stops a plain window
            _search(hs, [[{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": stamp}]], after="50")
        assert info.value.status == 400
        sb.reset_stats()
        seen: list[str] = []
        last_id = "0"
        while True:  # modified > t, or modified = t and id > the last id read: each deal once
            groups = [
                [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": stamp}],
                [
                    {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": stamp},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": last_id},
                ],
            ]
            after = None
            window: list[str] = []
            while True:
                page = _search(hs, groups, after=after, limit=25)
                window += [d.id for d in page.results]
                if page.paging is None or len(window) >= 50:
                    break
                after = page.paging.next.after
            seen += window
            if len(window) < 50:
                break
            last_id = window[-1]
        assert seen == live  # each once, in id order within the shared timestamp
        assert sb.stats()["calls"]["by_endpoint"] == {"deals_search": math.ceil(len(live) / 25)}


def test_v4_association_batches_primary_and_unlabeled(hs_sb):
    hs = hubspot_client(hs_sb.url)
    live = hs_sb.deal_ids(deleted=False)
    stored = {rid: hs_sb.deal(rid).data["__companies"] for rid in live}
    several = next(rid for rid, c in stored.items() if len(c) > 1)
    lonely = next(rid for rid, c in stored.items() if not c)
    batch = [*[rid for rid in live if stored[rid]][:50], several, lonely]
    hs_sb.reset_stats()
    answer = hs.crm.associations.v4.batch_api.get_page(
        "deals", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": rid} for rid in batch])
    )
    assert hs_sb.stats()["calls"]["by_endpoint"] == {"deals_associations_batch_read": 1}
    assert answer.status == "COMPLETE" and answer.num_errors == 1  # 207: the deal with no company
    assert answer.errors[0].context == {"fromObjectId": [lonely]}
    by_deal = {r._from.id: r.to for r in answer.results}
    assert set(by_deal) == set(batch) - {lonely}
    for rid, to in by_deal.items():
        want = {str(cid): primary for cid, primary in stored[rid]}
        got = {t.to_object_id: {a.type_id for a in t.association_types} for t in to}
        assert set(got) == set(want)
        for cid, types in got.items():
            assert types == ({HS_PRIMARY_TYPE, HS_UNLABELED_TYPE} if want[cid] else {HS_UNLABELED_TYPE})
    primary_spec = next(a for t in by_deal[several] for a in t.association_types if a.type_id == HS_PRIMARY_TYPE)
    assert (primary_spec.category, primary_spec.label) == ("HUBSPOT_DEFINED", "Primary")
    complete = hs.crm.associations.v4.batch_api.get_page(
        "deals", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": batch[0]}])
    )
    assert complete.status == "COMPLETE" and not hasattr(complete, "errors")  # 200: nothing missing
    with pytest.raises(AssociationsApiException) as info:
        hs.crm.associations.v4.batch_api.get_page(
            "deals", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "1"}] * 1001)
        )
    assert info.value.status == 400


def test_pipelines_properties_and_a_single_currency_portal(hs_sb):
    hs = hubspot_client(hs_sb.url)
    pipelines = hs.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p.id for p in pipelines] == ["default"]
    stages = {s.id: s.metadata for s in pipelines[0].stages}
    assert stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"]["isClosed"] == "true" and stages["appointmentscheduled"]["isClosed"] == "false"
    names = {p.name for p in hs.crm.properties.core_api.get_all("deals").results}
    assert {"amount", "closedate", "dealstage", "pipeline", "hs_is_closed_won", "amount_in_home_currency"} <= names
    assert {"deal_currency_code", "hs_lastmodifieddate"} <= names
    info = requests.get(
        f"{hs_sb.url}/account-info/v3/details", headers={"Authorization": "Bearer pat-sandbox-0000-0000"}
    ).json()
    assert info["additionalCurrencies"] == []
    deals, _ = _list_all(hs, properties=["amount", "deal_currency_code", "amount_in_home_currency"])
    assert {d.properties["deal_currency_code"] for d in deals} == {"USD"}
    assert all(float(d.properties["amount"]) == float(d.properties["amount_in_home_currency"]) for d in deals)


def test_multi_currency_portal():
    with SandboxServer("hubspot", accounts=30, deals=200, multi_currency=True) as sb:
        hs = hubspot_client(sb.url)
        info = requests.get(
            f"{sb.url}/account-info/v3/details", headers={"Authorization": "Bearer pat-sandbox-0000-0000"}
        ).json()
        assert info["companyCurrency"] == "USD" and set(info["additionalCurrencies"]) == set(CURRENCY_RATES) - {"USD"}
        deals, _ = _list_all(hs, properties=["amount", "deal_currency_code", "amount_in_home_currency"])
        assert len({d.properties["deal_currency_code"] for d in deals}) > 2
        for d in deals:
            p = d.properties
            home = float(p["amount"]) / CURRENCY_RATES[p["deal_currency_code"]]
            assert float(p["amount_in_home_currency"]) == pytest.approx(home, abs=0.01)


def test_faults_and_rate_limits_on_deal_endpoints(hs_sb):
    hs = hubspot_client(hs_sb.url, retry=Retry(total=0, raise_on_status=False))
    hs_sb.reset_stats()
    hs_sb.inject(
        {"kind": "429", "endpoint": "deals_search", "retry_after": 3},
        {"kind": "500", "endpoint": "deals_associations"},
        {"kind": "expired_session", "endpoint": "deals_list"},
        {"kind": "503", "endpoint": "deals_pipelines"},
    )
    with pytest.raises(ApiException) as info:
        hs.crm.deals.search_api.do_search(PublicObjectSearchRequest(limit=10))
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "3"
    assert json.loads(info.value.body)["policyName"] == "SECONDLY"
    assert hs.crm.deals.search_api.do_search(PublicObjectSearchRequest(limit=10)).total > 0
    request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": hs_sb.deal_ids()[0]}])
    with pytest.raises(AssociationsApiException) as assoc:
        hs.crm.associations.v4.batch_api.get_page("deals", "companies", request)
    assert assoc.value.status == 500
    with pytest.raises(ApiException) as expired:
        hs.crm.deals.basic_api.get_page(limit=10)
    assert expired.value.status == 401 and json.loads(expired.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    with pytest.raises(Exception) as unavailable:
        hs.crm.pipelines.pipelines_api.get_all("deals")
    assert getattr(unavailable.value, "status", None) == 503
    assert hs.crm.companies.basic_api.get_page(limit=10).results  # companies are untouched
    stats = hs_sb.stats()
    assert stats["calls"]["by_endpoint"] == {
        "deals_search": 2,
        "deals_associations_batch_read": 1,
        "deals_list": 1,
        "deals_pipelines": 1,
        "list": 1,
    }
    assert stats["faults"]["fired"] == {"429": 1, "500": 1, "expired_session": 1, "503": 1}
    assert stats["deals"] == 700


def test_deals_need_seeded_accounts_and_the_control_endpoints(tmp_path):
    with pytest.raises(ValueError, match="seed accounts too"):
        SandboxServer("salesforce", deals=10)
    db = str(tmp_path / "sandbox.sqlite")
    with SandboxServer("hubspot", accounts=10, deals=25, db_path=db) as sb:
        ids = requests.get(f"{sb.url}/__sandbox/deals/ids").json()
        assert ids["ids"] == sb.deal_ids() and ids["deleted"] == sb.deal_ids(deleted=True)
        target = ids["ids"][0]
        edit = requests.post(
            f"{sb.url}/__sandbox/deals",
            json={"updates": [{"id": target, "fields": {"amount": 5.0}}], "delete": [target]},
        ).json()
        assert edit == {"updated": [target], "deleted": [target], "restored": []}
        assert sb.deal(target).data["amount"] == 5.0 and sb.deal(target).deleted
    with SandboxServer("hubspot", db_path=db) as again:  # the file keeps its deals
        assert again.deal_ids() == ids["ids"] and again.deal(target).deleted
