"""The Salesforce sandbox driven through the real simple-salesforce client over plain http."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from crmseg.sandbox import SandboxServer, default_mapping
from crmseg.sandbox.clients import plain_http_session, salesforce_client, salesforce_jwt_login

SEGMENT = """dimension = "segment"
values = ["Enterprise", "Mid-Market", "SMB", "Unsegmented"]
default = "Unsegmented"
[[rule]]
name = "enterprise"
when = "employees >= 1000"
value = "Enterprise"
"""
SCORE = """dimension = "icp_score"
kind = "score"
[[rule]]
name = "big"
when = "employees >= 1000"
points = 10
"""

MAPPING = default_mapping("salesforce")  # the shipped connectors/salesforce.toml
SCORE_TAG, PIN = MAPPING.tag_field("icp_score"), MAPPING.pin_field


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    (d / "segment.toml").write_text(SEGMENT)
    (d / "icp_score.toml").write_text(SCORE)
    return d


@pytest.fixture(scope="module")
def big(rules_dir: Path):
    """2,500 accounts, read-only use."""
    with SandboxServer("salesforce", accounts=2500, mapping=MAPPING, rules_dir=rules_dir) as sb:
        yield sb


@pytest.fixture()
def sb(rules_dir: Path):
    """A fresh small sandbox per test (writes, faults, limits)."""
    with SandboxServer("salesforce", accounts=300, mapping=MAPPING, rules_dir=rules_dir, timeout_delay=1.0) as server:
        yield server


def _record(rid: str, **fields):
    return {"attributes": {"type": "Account"}, "id": rid, **fields}


def test_soap_login_and_http_instance(big):
    session = plain_http_session(big.url)
    sid, instance = SalesforceLogin(
        username="sandbox@example.com",
        password="sandbox",
        security_token="sandbox-token",
        scratch_url=big.url,
        session=session,
    )
    assert instance == f"127.0.0.1:{big.port}" and sid.startswith("00D")
    sf = Salesforce(session_id=sid, instance_url=big.url, session=session)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2500
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        SalesforceLogin(
            username="sandbox@example.com", password="wrong", security_token="sandbox-token", scratch_url=big.url
        )


def test_query_pages_and_query_all(big):
    sf = salesforce_client(big.url)
    first = sf.query(
        "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id",
        headers={"Sforce-Query-Options": "batchSize=500"},
    )
    assert first["totalSize"] == 2500 and not first["done"] and len(first["records"]) == 500
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w+-500", first["nextRecordsUrl"])
    rec = first["records"][0]
    assert rec["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{rec['Id']}"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000", rec["SystemModstamp"])
    rows = sf.query_all("SELECT Id, SystemModstamp, Tech_Stack__c FROM Account ORDER BY SystemModstamp, Id")["records"]
    assert len(rows) == 2500 and len({r["Id"] for r in rows}) == 2500
    stamps = [r["SystemModstamp"] for r in rows]
    assert stamps == sorted(stamps)
    assert any(r["Tech_Stack__c"] and ";" in r["Tech_Stack__c"] for r in rows)  # multi-picklist joined by ';'


def test_incremental_filter_and_messy_data(big):
    sf = salesforce_client(big.url)
    rows = sf.query_all("SELECT Id, SystemModstamp, BillingCountry FROM Account ORDER BY SystemModstamp")["records"]
    cut = rows[1999]["SystemModstamp"].replace(".000+0000", "Z")
    newer = sf.query_all(f"SELECT Id FROM Account WHERE SystemModstamp > {cut} ORDER BY SystemModstamp, Id")
    assert 0 < newer["totalSize"] <= 500
    countries = {r["BillingCountry"] for r in rows}
    assert {"USA", "U.S.", "United States"} <= countries


def test_bad_soql_is_refused_in_vendor_shape(big):
    sf = salesforce_client(big.url)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM Account WHERE Name = 'x' OR '1'='1'")
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Nope__c FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    injected = sf.query("SELECT Id FROM Account WHERE Name = 'x\\' OR Name != \\'' ")
    assert injected["totalSize"] == 0 and big.store.count() == 2500


def test_composite_update_partial_failure(sb):
    sf = salesforce_client(sb.url)
    ids = sb.ids()
    before, held = sb.modified_ms(ids[0]), sb.record(ids[1])["Crmseg_Segment__c"]
    result = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                _record(ids[0], Crmseg_Segment__c="Enterprise", **{SCORE_TAG: 35}),
                _record(ids[1], Crmseg_Segment__c="Bogus"),
                _record("001Sb0000000zzzAAA", Crmseg_Segment__c="SMB"),
                _record(ids[2], Crmseg_Segment__c=None),
            ],
        },
    )
    assert [r["success"] for r in result] == [True, False, False, True]
    assert result[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert result[1]["errors"][0]["fields"] == ["Crmseg_Segment__c"]
    assert result[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert sb.record(ids[0])["Crmseg_Segment__c"] == "Enterprise" and sb.modified_ms(ids[0]) > before
    assert sb.record(ids[1])["Crmseg_Segment__c"] == held  # seeded current tag, untouched
    stats = sb.stats()
    assert stats["records_written"] == 2 and stats["records_failed"] == 2 and stats["written_fields"] == 3
    assert stats["calls"]["by_endpoint"]["composite_update"] == 1


def test_composite_limits_unknown_fields_and_all_or_none(sb):
    sf = salesforce_client(sb.url)
    ids = sb.ids()
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={"records": [_record(i, Crmseg_Segment__c="SMB") for i in ids[:201]]},
        )
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="PATCH", json={"records": [_record(ids[0], Nope__c="x")]})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    sb.edit({ids[0]: {"Crmseg_Segment__c": "Enterprise"}})
    result = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [_record(ids[0], Crmseg_Segment__c="SMB"), _record(ids[1], Crmseg_Segment__c="Bogus")],
        },
    )
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sb.record(ids[0])["Crmseg_Segment__c"] == "Enterprise"


def test_describe_single_update_and_limit_header(sb):
    sf = salesforce_client(sb.url)
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    seg = fields["Crmseg_Segment__c"]
    assert seg["type"] == "picklist" and seg["restrictedPicklist"] and seg["updateable"]
    assert [v["value"] for v in seg["picklistValues"]] == ["Enterprise", "Mid-Market", "SMB", "Unsegmented"]
    assert fields[SCORE_TAG]["type"] == "double"
    assert fields[PIN]["type"] == "boolean" and not fields["SystemModstamp"]["updateable"]
    rid = sb.ids()[5]
    assert sf.Account.update(rid, {"Crmseg_Segment__c": "SMB"}) == 204
    assert sb.record(rid)["Crmseg_Segment__c"] == "SMB"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.update(rid, {"Crmseg_Segment__c": "Nope"})
    sf.query("SELECT COUNT() FROM Account")  # Salesforce-level calls record Sforce-Limit-Info
    used = sf.api_usage["api-usage"]
    assert used.total == 100_000 and used.used == sb.stats()["api_usage"]["used"]


def test_bulk2_update_with_failures(sb):
    sf = salesforce_client(sb.url)
    ids = sb.ids()
    out = sf.bulk2.Account.update(
        records=[
            {"Id": ids[0], "Crmseg_Segment__c": "SMB"},
            {"Id": ids[1], "Crmseg_Segment__c": "Nope"},
            {"Id": ids[2], "Crmseg_Segment__c": "Mid-Market"},
        ],
        wait=0,
    )
    assert out[0]["numberRecordsProcessed"] == 3 and out[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Account.get_failed_records(out[0]["job_id"])
    assert failed.splitlines()[0].startswith('"sf__Id","sf__Error"')
    assert ids[1] in failed and "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in failed
    assert sb.record(ids[2])["Crmseg_Segment__c"] == "Mid-Market"
    assert sb.stats()["calls"]["by_endpoint"]["bulk_status"] >= 2  # polled InProgress, then JobComplete


def test_daily_limit_exhausted(rules_dir):
    with SandboxServer("salesforce", accounts=10, mapping=MAPPING, daily_limit=3) as s:
        sf = salesforce_client(s.url)
        for _ in range(3):
            sf.query("SELECT Id FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as info:
            sf.query("SELECT Id FROM Account")
        assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_auth_and_expired_session_fault(sb):
    bad = Salesforce(session_id="nope", instance_url=sb.url, session=plain_http_session(sb.url))
    with pytest.raises(SalesforceExpiredSession) as info:
        bad.query("SELECT Id FROM Account")
    assert info.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    sf = salesforce_client(sb.url)
    sb.inject({"kind": "expired_session", "endpoint": "query"})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceExpiredSession):  # the old session stays invalid
        sf.query("SELECT Id FROM Account")
    assert salesforce_client(sb.url).query("SELECT COUNT() FROM Account")["totalSize"] == 300  # re-login works


def test_http_faults_retry_after_and_record_failure(sb):
    sf = salesforce_client(sb.url)
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    sb.inject(
        {"kind": "503", "endpoint": "query", "count": 1, "retry_after": 2},
        {"kind": "429", "endpoint": "describe", "count": 2},
    )
    r = requests.get(f"{sb.url}/services/data/v59.0/query", params={"q": "SELECT Id FROM Account"}, headers=headers)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2" and r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert requests.get(r.url, headers=headers).status_code == 200
    codes = [
        requests.get(f"{sb.url}/services/data/v59.0/sobjects/Account/describe", headers=headers).status_code
        for _ in range(3)
    ]
    assert codes == [429, 429, 200]
    ids = sb.ids()
    sb.inject({"kind": "record_failure", "ids": [ids[1]]})
    records = [_record(i, Crmseg_Segment__c="SMB") for i in ids[:3]]
    first = sf.restful("composite/sobjects", method="PATCH", json={"records": records})
    assert [r["success"] for r in first] == [True, False, True]
    assert first[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    again = sf.restful("composite/sobjects", method="PATCH", json={"records": records})
    assert all(r["success"] for r in again)
    assert sb.stats()["faults"]["fired"] == {"503": 1, "429": 2, "record_failure": 1}


def test_timeout_fault_applies_the_write_but_holds_the_answer(sb):
    sf = salesforce_client(sb.url)
    rid = sb.ids()[7]
    sb.inject({"kind": "timeout", "endpoint": "composite", "delay": 0.6})
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.restful(
            "composite/sobjects", method="PATCH", timeout=0.2, json={"records": [_record(rid, Crmseg_Segment__c="SMB")]}
        )
    assert sb.record(rid)["Crmseg_Segment__c"] == "SMB"


def test_jwt_bearer_login(rules_dir):
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pub = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with SandboxServer("salesforce", accounts=5, mapping=MAPPING, jwt_public_key=pub) as s:
        token = salesforce_jwt_login(s.url, pem)
        sf = salesforce_client(s.url, session_id=token)
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 5
        with pytest.raises(SalesforceAuthenticationFailed, match="invalid_grant"):
            salesforce_jwt_login(s.url, other)


def test_control_endpoints_over_http(sb):
    r = requests.post(
        f"{sb.url}/__sandbox/faults", json={"seed": 7, "faults": [{"kind": "500", "endpoint": "query", "count": 1}]}
    )
    assert r.status_code == 200 and r.json()["active"][0]["kind"] == "500"
    assert requests.post(f"{sb.url}/__sandbox/faults", json={"faults": [{"kind": "boom"}]}).status_code == 400
    sf = salesforce_client(sb.url)
    with pytest.raises(Exception, match="500"):
        sf.query("SELECT Id FROM Account")
    stats = requests.get(f"{sb.url}/__sandbox/stats").json()
    assert stats["calls"]["total"] == 2 and stats["calls"]["by_status"] == {"200": 1, "500": 1}
    requests.post(f"{sb.url}/__sandbox/stats/reset")
    assert requests.get(f"{sb.url}/__sandbox/stats").json()["calls"]["total"] == 0
    assert requests.delete(f"{sb.url}/__sandbox/faults").json()["active"] == []
