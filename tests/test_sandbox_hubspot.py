"""The HubSpot sandbox driven through the real hubspot-api-client (urllib3) over plain http."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
)
from hubspot.crm.companies.exceptions import ApiException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyGroupUpdate, PropertyUpdate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from crmseg.sandbox import SandboxServer, default_mapping
from crmseg.sandbox.clients import hubspot_client

SEGMENT = """dimension = "segment"
values = ["Enterprise", "Mid-Market", "SMB"]
[[rule]]
name = "enterprise"
when = "employees >= 1000"
value = "Enterprise"
"""
MAPPING = default_mapping("hubspot")  # the shipped connectors/hubspot.toml
AUTH = {"Authorization": "Bearer pat-sandbox-0000-0000"}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    (d / "segment.toml").write_text(SEGMENT)
    return d


@pytest.fixture()
def sb(rules_dir: Path):
    with SandboxServer("hubspot", accounts=250, mapping=MAPPING, rules_dir=rules_dir) as server:
        yield server


def _batch(*inputs: tuple[str, dict]) -> BatchInputSimplePublicObjectBatchInput:
    return BatchInputSimplePublicObjectBatchInput(inputs=[{"id": i, "properties": p} for i, p in inputs])


def _body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_list_pages_with_cursor(sb):
    hs = hubspot_client(sb.url)
    page = hs.crm.companies.basic_api.get_page(limit=100, properties=["name", "country", "numberofemployees"])
    assert len(page.results) == 100 and page.paging.next.after
    assert page.paging.next.link.startswith(f"{sb.url}/crm/v3/objects/companies?")
    second = hs.crm.companies.basic_api.get_page(limit=100, after=page.paging.next.after, properties=["name"])
    assert {c.id for c in page.results}.isdisjoint({c.id for c in second.results})
    everything = hs.crm.companies.get_all(properties=["name"])
    assert len(everything) == 250 and len({c.id for c in everything}) == 250
    with pytest.raises(ApiException) as info:
        hs.crm.companies.basic_api.get_page(limit=101)
    assert info.value.status == 400 and _body(info.value)["category"] == "VALIDATION_ERROR"


def test_values_are_strings_or_null(sb):
    r = requests.get(
        f"{sb.url}/crm/v3/objects/companies",
        params={"limit": 100, "properties": "numberofemployees,is_customer,annualrevenue,crmseg_segment"},
        headers={"Authorization": f"Bearer {sb.credentials.hubspot_token}"},
    )
    results = r.json()["results"]
    values = [v for c in results for v in c["properties"].values()]
    assert all(v is None or isinstance(v, str) for v in values)
    assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= set(results[0])
    assert any(c["properties"]["is_customer"] == "true" for c in results)
    tags = {c["properties"]["crmseg_segment"] for c in results}
    assert None in tags and len(tags) > 2  # seeded current tags: some set (some stale), some empty
    assert int(r.headers["X-HubSpot-RateLimit-Remaining"]) < int(r.headers["X-HubSpot-RateLimit-Max"])


def test_search_incremental_sorted_paging(sb):
    hs = hubspot_client(sb.url)
    later = sorted(sb.modified_ms(i) for i in sb.ids())[150]
    req = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(later)}]}],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["name"],
        limit=60,
    )
    first = hs.crm.companies.search_api.do_search(req)
    assert first.total == 100 and len(first.results) == 60 and first.paging.next.after == "60"
    req.after = first.paging.next.after
    rest = hs.crm.companies.search_api.do_search(req)
    assert len(rest.results) == 40 and rest.paging is None
    stamps = [c.updated_at for c in first.results + rest.results]
    assert stamps == sorted(stamps)
    with pytest.raises(ApiException) as info:
        hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=201))
    assert info.value.status == 400


def test_search_ten_thousand_result_cap():
    with SandboxServer("hubspot", accounts=10_050, mapping=MAPPING, create_tags=False) as big:
        hs = hubspot_client(big.url)
        page = hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=200, after="9900"))
        assert page.total == 10_050 and len(page.results) == 100 and page.paging.next.after == "10000"
        with pytest.raises(ApiException) as info:
            hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=200, after="10000"))
        assert info.value.status == 400 and _body(info.value)["category"] == "VALIDATION_ERROR"


def test_batch_update_partial_failure_is_207(sb):
    hs = hubspot_client(sb.url)
    ids = sb.ids()
    before = sb.record(ids[1])["crmseg_segment"]
    out = hs.crm.companies.batch_api.update(
        _batch(
            (ids[0], {"crmseg_segment": "SMB"}), (ids[1], {"crmseg_segment": "Bogus"}), ("1", {"crmseg_segment": "SMB"})
        )
    )
    assert isinstance(out, BatchResponseSimplePublicObjectWithErrors)
    assert [c.id for c in out.results] == [ids[0]] and out.results[0].properties["crmseg_segment"] == "SMB"
    cats = {e.category: e.context["ids"] for e in out.errors}
    assert cats == {"OBJECT_NOT_FOUND": ["1"], "VALIDATION_ERROR": [ids[1]]}
    assert "INVALID_OPTION" in next(e for e in out.errors if e.category == "VALIDATION_ERROR").message
    assert sb.record(ids[0])["crmseg_segment"] == "SMB" and sb.record(ids[1])["crmseg_segment"] == before
    ok = hs.crm.companies.batch_api.update(_batch((ids[2], {"crmseg_segment": "Enterprise"})))
    assert isinstance(ok, BatchResponseSimplePublicObject) and ok.status == "COMPLETE"
    stats = sb.stats()
    assert stats["records_written"] == 2 and stats["records_failed"] == 2
    assert stats["calls"]["by_endpoint"]["batch_update"] == 2 and stats["calls"]["by_status"]["207"] == 1


def test_batch_limits_and_modification_time(sb):
    hs = hubspot_client(sb.url)
    ids = sb.ids()
    with pytest.raises(ApiException) as info:
        hs.crm.companies.batch_api.update(_batch(*[(i, {"crmseg_segment": "SMB"}) for i in ids[:101]]))
    assert info.value.status == 400
    with pytest.raises(ApiException):
        hs.crm.companies.batch_api.update(_batch((ids[0], {}), (ids[0], {})))  # duplicate ids
    hs.crm.companies.batch_api.update(_batch((ids[0], {"crmseg_segment": "SMB"})))
    stamp = sb.modified_ms(ids[0])
    hs.crm.companies.batch_api.update(_batch((ids[0], {"crmseg_segment": "SMB"})))  # no change: no bump
    assert sb.modified_ms(ids[0]) == stamp and sb.stats()["changed_fields"] == 1


def test_single_update_and_readonly(sb):
    hs = hubspot_client(sb.url)
    rid = sb.ids()[3]
    out = hs.crm.companies.basic_api.update(rid, SimplePublicObjectInput(properties={"crmseg_segment": "SMB"}))
    assert out.properties["crmseg_segment"] == "SMB"
    with pytest.raises(ApiException) as info:
        hs.crm.companies.basic_api.update(rid, SimplePublicObjectInput(properties={"hs_lastmodifieddate": "1"}))
    assert info.value.status == 400 and "READ_ONLY_VALUE" in _body(info.value)["message"]
    with pytest.raises(ApiException) as info:
        hs.crm.companies.basic_api.update("999", SimplePublicObjectInput(properties={"crmseg_segment": "SMB"}))
    assert info.value.status == 404


def test_properties_list_create_update(sb):
    hs = hubspot_client(sb.url)
    seg = hs.crm.properties.core_api.get_by_name("companies", "crmseg_segment")
    assert seg.type == "enumeration" and [o.value for o in seg.options] == ["Enterprise", "Mid-Market", "SMB"]
    names = {p.name for p in hs.crm.properties.core_api.get_all("companies").results}
    wanted = {MAPPING.tag_field("tier"), MAPPING.pin_field, "hs_lastmodifieddate", MAPPING.source_of("tech_stack")}
    assert wanted <= names
    created = hs.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="crmseg_region",
            label="Region",
            type="enumeration",
            field_type="select",
            group_name="crmseg",
            options=[OptionInput(label="EMEA", value="EMEA", hidden=False, display_order=0)],
        ),
    )
    assert created.name == "crmseg_region"
    with pytest.raises(PropertiesApiException) as info:
        hs.crm.properties.core_api.create(
            "companies",
            PropertyCreate(name="crmseg_region", label="Region", type="string", field_type="text", group_name="crmseg"),
        )
    assert info.value.status == 409
    rid = sb.ids()[0]
    assert hs.crm.companies.batch_api.update(_batch((rid, {"crmseg_region": "APAC"}))).errors
    hs.crm.properties.core_api.update(
        "companies",
        "crmseg_region",
        PropertyUpdate(
            options=[
                OptionInput(label="EMEA", value="EMEA", hidden=False, display_order=0),
                OptionInput(label="APAC", value="APAC", hidden=False, display_order=1),
            ]
        ),
    )
    assert isinstance(
        hs.crm.companies.batch_api.update(_batch((rid, {"crmseg_region": "APAC"}))), BatchResponseSimplePublicObject
    )


def test_auth_refused(sb):
    with pytest.raises(ApiException) as info:
        hubspot_client(sb.url, token="wrong").crm.companies.basic_api.get_page()
    assert info.value.status == 401 and _body(info.value)["category"] == "INVALID_AUTHENTICATION"


def test_rate_limits_answer_429_with_headers():
    with SandboxServer("hubspot", accounts=5, mapping=MAPPING, rate_limit=3, search_rate_limit=2) as s:
        # urllib3's default Retry would sleep for Retry-After and try again: see the 429 itself
        hs = hubspot_client(s.url, retry=Retry(total=0, raise_on_status=False))
        for _ in range(3):
            hs.crm.companies.basic_api.get_page()
        with pytest.raises(ApiException) as info:
            hs.crm.companies.basic_api.get_page()
        body, headers = _body(info.value), info.value.headers
        assert info.value.status == 429 and body["errorType"] == "RATE_LIMIT"
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert headers["X-HubSpot-RateLimit-Max"] == "3" and headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert 1 <= int(headers["Retry-After"]) <= 10
        hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=1))  # its own window
        hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=1))
        with pytest.raises(ApiException) as info:
            hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=1))
        assert _body(info.value)["policyName"] == "SECONDLY"
        assert s.stats()["rate_limited"] == 2


def test_faults(sb):
    hs = hubspot_client(sb.url)
    ids = sb.ids()
    sb.inject(
        {"kind": "500", "endpoint": "batch_update"},
        {"kind": "expired_session", "endpoint": "list"},
        {"kind": "record_failure", "endpoint": "batch", "every": 2, "count": -1, "error": "CONFLICT"},
    )
    with pytest.raises(ApiException) as info:
        hs.crm.companies.batch_api.update(_batch((ids[0], {"crmseg_segment": "SMB"})))
    assert info.value.status == 500
    out = hs.crm.companies.batch_api.update(_batch(*[(i, {"crmseg_segment": "SMB"}) for i in ids[:4]]))
    assert [c.id for c in out.results] == [ids[0], ids[2]]
    assert {e.category for e in out.errors} == {"CONFLICT"}
    with pytest.raises(ApiException) as info:
        hs.crm.companies.basic_api.get_page()
    assert info.value.status == 401 and _body(info.value)["category"] == "EXPIRED_AUTHENTICATION"
    assert hs.crm.companies.basic_api.get_page().results  # the token works again


def test_property_groups(sb):
    hs = hubspot_client(sb.url)
    groups = {g.name: g for g in hs.crm.properties.groups_api.get_all("companies").results}
    assert {"companyinformation", "crmseg"} <= set(groups) and groups["companyinformation"].archived is False
    with pytest.raises(PropertiesApiException) as info:  # a property needs an existing group
        hs.crm.properties.core_api.create(
            "companies",
            PropertyCreate(
                name="acme_score", label="Acme score", type="number", field_type="number", group_name="acme"
            ),
        )
    assert info.value.status == 400 and "acme does not exist" in json.loads(info.value.body)["message"]
    made = hs.crm.properties.groups_api.create(
        "companies", PropertyGroupCreate(name="acme", label="Acme", display_order=3)
    )
    assert (made.name, made.label, made.display_order, made.archived) == ("acme", "Acme", 3, False)
    with pytest.raises(PropertiesApiException) as info:
        hs.crm.properties.groups_api.create("companies", PropertyGroupCreate(name="acme", label="Again"))
    assert info.value.status == 409 and json.loads(info.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    assert hs.crm.properties.groups_api.get_by_name("companies", "acme").label == "Acme"
    assert (
        hs.crm.properties.groups_api.update("companies", "acme", PropertyGroupUpdate(label="Acme Inc")).label
        == "Acme Inc"
    )
    prop = hs.crm.properties.core_api.create(
        "companies",
        PropertyCreate(name="acme_score", label="Acme score", type="number", field_type="number", group_name="acme"),
    )
    assert prop.group_name == "acme"
    with pytest.raises(PropertiesApiException) as info:
        hs.crm.properties.groups_api.get_by_name("companies", "nope")
    assert info.value.status == 404
    by = sb.stats()["write_endpoints"]["by_endpoint"]
    assert by == {"property_group_create": 2, "property_group_update": 1, "property_create": 2}


def test_search_cap_is_an_option_settable_live():
    with SandboxServer("hubspot", accounts=120, mapping=MAPPING, create_tags=False, search_cap=50) as s:
        url = f"{s.url}/crm/v3/objects/companies/search"
        first = requests.post(url, json={"limit": 40, "after": 40}, headers=AUTH).json()
        assert first["total"] == 120 and len(first["results"]) == 10 and first["paging"]["next"]["after"] == "50"
        refused = requests.post(url, json={"limit": 40, "after": 50}, headers=AUTH)
        assert refused.status_code == 400 and "at most 50 results" in refused.json()["message"]
        cfg = requests.post(f"{s.url}/__sandbox/config", json={"search_cap": 100, "rate_limit": 50})
        assert cfg.status_code == 200 and cfg.json()["search_cap"] == 100 and cfg.json()["rate_limit"] == 50
        assert requests.get(f"{s.url}/__sandbox/config").json() == cfg.json()
        assert len(requests.post(url, json={"limit": 40, "after": 50}, headers=AUTH).json()["results"]) == 40
        assert (
            requests.get(f"{s.url}/crm/v3/objects/companies", headers=AUTH).headers["X-HubSpot-RateLimit-Max"] == "50"
        )
        s.configure(search_cap=10)
        assert requests.post(url, json={"limit": 5, "after": 10}, headers=AUTH).status_code == 400
        for bad in ({"nope": 1}, {"search_cap": "many"}, {"search_cap": -1}, {"credentials": {}}, [1]):
            answer = requests.post(f"{s.url}/__sandbox/config", json=bad)
            assert answer.status_code == 400 and "bad config" in answer.json()["error"], bad
        assert s.options.search_cap == 10 and s.stats()["write_endpoints"] == {"total": 0, "by_endpoint": {}}
