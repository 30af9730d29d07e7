"""SalesforceConnector against `responses` mocks shaped as Salesforce documents its REST API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from responses import matchers

from crmseg.connectors.salesforce import SalesforceConnector, build_soql, check_ident, soql_datetime
from crmseg.connectors.schema_check import check_mapping, field_kind
from crmseg.errors import AuthExpiredError, AuthRefusedError, ConfigError, FatalError, RetriableError
from crmseg.model import TagWrite
from tests.connector_fixtures import (
    BASE,
    REST,
    SESSION_ID,
    SF_ENV,
    VER,
    limit_headers,
    no_wait_policy,
    sf_cfg,
    sf_describe,
    sf_error,
    sf_mapping,
    sf_page,
    sf_record,
    soap_login_ok,
)

SOAP = f"{BASE}/services/Soap/u/{VER}"
QUERY = f"{REST}/query/"
DESCRIBE = f"{REST}/sobjects/Account/describe"
COMPOSITE = f"{REST}/composite/sobjects"
FIELDS = ["Name", "Industry", "NumberOfEmployees", "Tech_Stack__c"]


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def connector(**cfg_kw) -> SalesforceConnector:
    return SalesforceConnector(sf_cfg(**cfg_kw), sf_mapping(), SF_ENV, policy=no_wait_policy())


def login_and_describe(rsps, times: int = 1) -> None:
    for _ in range(times):
        rsps.add(responses.POST, SOAP, body=soap_login_ok(), status=200, content_type="text/xml")
    rsps.add(responses.GET, DESCRIBE, json=sf_describe(), headers=limit_headers(10))


def soql_of(call) -> str:
    return parse_qs(urlparse(call.request.url).query)["q"][0]


# ------------------------------------------------------------------ pure helpers
def test_soql_is_built_from_validated_names_only():
    since = datetime(2026, 11, 1, 2, 30, 15, 987654, tzinfo=timezone(timedelta(hours=2)))
    assert build_soql("Account", ["Id", "Name"], "SystemModstamp", since) == (
        "SELECT Id, Name FROM Account WHERE SystemModstamp >= 2026-11-01T00:30:15Z ORDER BY SystemModstamp, Id"
    )
    assert build_soql("Account", ["Id"], "SystemModstamp", None) == "SELECT Id FROM Account ORDER BY SystemModstamp, Id"
    for bad in ["Name, (SELECT Id FROM Contacts)", "Name FROM User --", "1Name", "Na me", "Name'", "Owner.Name", ""]:
        with pytest.raises(ConfigError, match="not a valid API name"):
            check_ident(bad)
    assert check_ident("Segment__c") == "Segment__c"


def test_soql_datetime_naive_is_utc_and_floors_to_the_second():
    assert soql_datetime(datetime(2026, 1, 2, 3, 4, 5, 999999)) == "2026-01-02T03:04:05Z"


# ------------------------------------------------------------------ read
def test_read_follows_next_records_url_lazily_and_tracks_usage(rsps):
    login_and_describe(rsps)
    rsps.add(
        responses.GET,
        QUERY,
        json=sf_page([sf_record(1), sf_record(2)], 3, "01gD0000002HU6KIAW-2"),
        headers=limit_headers(11),
        match=[matchers.header_matcher({"Sforce-Query-Options": "batchSize=2000"})],
    )
    rsps.add(
        responses.GET, f"{REST}/query/01gD0000002HU6KIAW-2", json=sf_page([sf_record(3)], 3), headers=limit_headers(12)
    )
    conn = connector()
    it = conn.read(FIELDS)
    first = next(it)
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [SOAP, DESCRIBE, QUERY]  # page 2 not yet fetched
    assert first.id == "001000000000000001" and "attributes" not in first.fields
    assert first.fields["Tech_Stack__c"] == "Salesforce;Slack"  # multi-picklist left as the ';' string
    rest = list(it)
    assert [r.id for r in rest] == ["001000000000000002", "001000000000000003"]
    assert soql_of(rsps.calls[2]) == (
        "SELECT Name, Industry, NumberOfEmployees, Tech_Stack__c, Id, SystemModstamp "
        "FROM Account ORDER BY SystemModstamp, Id"
    )
    assert conn.api_usage == (12, 100000)
    assert conn.calls == 4 and conn.calls_by_kind == {"auth": 1, "describe": 1, "query": 2}


def test_incremental_read_filters_on_systemmodstamp(rsps):
    login_and_describe(rsps)
    rsps.add(responses.GET, QUERY, json=sf_page([], 0))
    conn = connector(page_size=500)
    assert list(conn.read(["name"], since=datetime(2026, 11, 1, tzinfo=UTC))) == []
    q = rsps.calls[-1]
    assert (
        soql_of(q) == "SELECT Name, Id, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-11-01T00:00:00Z "
        "ORDER BY SystemModstamp, Id"
    )
    assert q.request.headers["Sforce-Query-Options"] == "batchSize=500"


def test_lost_query_locator_resumes_after_the_last_record(rsps):
    login_and_describe(rsps)
    rsps.add(responses.GET, QUERY, json=sf_page([sf_record(1), sf_record(2)], 4, "01gLOST-2"))
    rsps.add(
        responses.GET,
        f"{REST}/query/01gLOST-2",
        status=400,
        json=sf_error("INVALID_QUERY_LOCATOR", "invalid query locator"),
    )
    rsps.add(responses.GET, QUERY, json=sf_page([sf_record(3), sf_record(4)], 2))
    conn = connector()
    ids = [r.id for r in conn.read(["Name"], since=datetime(2026, 1, 1))]
    assert ids == [f"001{i:015d}" for i in (1, 2, 3, 4)]
    resumed = soql_of(rsps.calls[-1])
    assert resumed.endswith(
        "FROM Account WHERE (SystemModstamp > 2026-11-01T00:00:02Z OR (SystemModstamp = "
        "2026-11-01T00:00:02Z AND Id > '001000000000000002')) ORDER BY SystemModstamp, Id"
    )


def test_requested_names_keep_their_spelling(rsps):
    login_and_describe(rsps)
    rsps.add(responses.GET, QUERY, json=sf_page([sf_record(1)], 1))
    rec = next(connector().read(["name", "industry"]))
    assert rec.fields["name"] == "Acme 1" and rec.fields["Name"] == "Acme 1"


def test_unknown_field_fails_before_querying_naming_field_and_object(rsps):
    login_and_describe(rsps)
    with pytest.raises(ConfigError, match=r"connectors/salesforce.toml: field Foo__c not found on Account"):
        list(connector().read(["Name", "Foo__c"]))
    assert all("/query" not in c.request.url for c in rsps.calls)


def test_injection_through_a_mapping_value_is_refused(rsps):
    with pytest.raises(ConfigError, match="not a valid API name"):
        list(connector().read(["Name FROM Account WHERE Name != ''"]))
    assert len(rsps.calls) == 0


# ------------------------------------------------------------------ errors
def test_expired_session_relogs_in_once_then_retries(rsps):
    login_and_describe(rsps, times=2)
    rsps.add(responses.GET, QUERY, json=sf_error("INVALID_SESSION_ID", "Session expired or invalid"), status=401)
    rsps.add(responses.GET, QUERY, json=sf_page([sf_record(1)], 1))
    conn = connector()
    assert [r.id for r in conn.read(["Name"])] == ["001000000000000001"]
    assert sum(1 for c in rsps.calls if c.request.url == SOAP) == 2


def test_expired_session_twice_is_fatal(rsps):
    login_and_describe(rsps, times=3)
    rsps.add(responses.GET, QUERY, json=sf_error("INVALID_SESSION_ID", "Session expired or invalid"), status=401)
    with pytest.raises(
        FatalError, match=r"salesforce Account query: HTTP 401 INVALID_SESSION_ID.*re-authenticating once"
    ):
        list(connector().read(["Name"]))
    assert sum(1 for c in rsps.calls if c.request.url == SOAP) == 2


def test_request_limit_exceeded_is_fatal_and_not_retried(rsps, caplog):
    login_and_describe(rsps)
    rsps.add(
        responses.GET,
        QUERY,
        json=sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        status=403,
        headers=limit_headers(100001),
    )
    conn = connector()
    with pytest.raises(FatalError, match=r"salesforce Account query: HTTP 403 REQUEST_LIMIT_EXCEEDED"):
        list(conn.read(["Name"]))
    assert conn.calls_by_kind["query"] == 1 and conn.policy.sleep.calls == []
    assert conn.api_usage == (100001, 100000)
    assert "org API usage at 100001 of 100000" in caplog.text


def test_malformed_query_is_fatal_naming_the_object(rsps):
    login_and_describe(rsps)
    rsps.add(responses.GET, QUERY, status=400, json=sf_error("MALFORMED_QUERY", "unexpected token: 'FROM'"))
    with pytest.raises(FatalError, match=r"salesforce Account query: HTTP 400 MALFORMED_QUERY: unexpected token"):
        list(connector().read(["Name"]))


def test_server_errors_retry_honoring_retry_after(rsps):
    login_and_describe(rsps)
    rsps.add(responses.GET, QUERY, status=503, body="Service Unavailable", headers={"Retry-After": "7"})
    rsps.add(responses.GET, QUERY, status=500, json=sf_error("UNKNOWN_EXCEPTION", "boom"))
    rsps.add(responses.GET, QUERY, json=sf_page([sf_record(1)], 1))
    conn = connector()
    assert len(list(conn.read(["Name"]))) == 1
    assert conn.policy.sleep.calls[0] == 7.0 and len(conn.policy.sleep.calls) == 2
    assert conn.calls_by_kind["query"] == 3


def test_retries_give_up_with_a_retriable_error(rsps):
    login_and_describe(rsps)
    rsps.add(responses.GET, QUERY, status=502, body="Bad Gateway")
    with pytest.raises(RetriableError, match=r"salesforce Account query: HTTP 502.*gave up after 4 tries") as ei:
        list(connector().read(["Name"]))
    assert not isinstance(ei.value, AuthExpiredError)


def test_login_refused_is_fatal_and_never_shows_the_password(rsps):
    fault = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body>'
        "<soapenv:Fault><faultcode>INVALID_LOGIN</faultcode>"
        "<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid "
        f"username, password {SF_ENV['SF_PASSWORD']}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    rsps.add(responses.POST, SOAP, body=fault, status=500, content_type="text/xml")
    with pytest.raises(AuthRefusedError) as ei:
        connector().schema()
    assert str(ei.value).startswith(
        "Salesforce refused the password login with the credentials in SF_USERNAME, SF_PASSWORD and "
        "SF_SECURITY_TOKEN (INVALID_LOGIN, Invalid username, password ***) at salesforce Account login"
    ), ei.value
    assert SF_ENV["SF_PASSWORD"] not in str(ei.value) and len(rsps.calls) == 1  # refused: not retried


def test_missing_env_var_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="SF_SECURITY_TOKEN"):
        SalesforceConnector(sf_cfg(), sf_mapping(), {k: v for k, v in SF_ENV.items() if k != "SF_SECURITY_TOKEN"})


def test_session_auth_uses_the_session_and_cannot_relogin(rsps):
    rsps.add(responses.GET, DESCRIBE, json=sf_error("INVALID_SESSION_ID", "expired"), status=401)
    conn = SalesforceConnector(
        sf_cfg(auth="session"), sf_mapping(), {"SF_SESSION_ID": SESSION_ID}, policy=no_wait_policy()
    )
    with pytest.raises(AuthRefusedError, match="refused the session id in SF_SESSION_ID") as ei:
        conn.schema()
    assert SESSION_ID not in str(ei.value) and len(rsps.calls) == 1
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {SESSION_ID}"


def test_jwt_bearer_logs_in_against_the_configured_base(rsps, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(pem)
    rsps.add(
        responses.POST,
        f"{BASE}/services/oauth2/token",
        json={"access_token": SESSION_ID, "instance_url": BASE, "token_type": "Bearer"},
    )
    rsps.add(responses.GET, DESCRIBE, json=sf_describe())
    env = {
        "SF_USERNAME": "ops@example.com",
        "SF_CONSUMER_KEY": "3MVG9ck",
        "SF_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"),
    }
    conn = SalesforceConnector(sf_cfg(auth="jwt"), sf_mapping(), env, policy=no_wait_policy())
    assert "Segment__c" in conn.schema()
    form = parse_qs(rsps.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    import jwt

    claims = jwt.decode(
        form["assertion"][0], key.public_key(), algorithms=["RS256"], audience="https://login.salesforce.com"
    )
    assert claims["iss"] == "3MVG9ck" and claims["sub"] == "ops@example.com"
    assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {SESSION_ID}"


# ------------------------------------------------------------------ write
def test_composite_write_partial_success_in_order_and_chunks_of_200(rsps):
    login_and_describe(rsps)
    writes = [TagWrite(f"001{i:015d}", {"Segment__c": "SMB", "ICP_Score__c": None}) for i in range(250)]

    def answer(request):
        body = json.loads(request.body)
        assert body["allOrNone"] is False and len(body["records"]) <= 200
        assert body["records"][0]["attributes"] == {"type": "Account"} and body["records"][0]["ICP_Score__c"] is None
        out = []
        for rec in body["records"]:
            if rec["id"].endswith("7"):
                out.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                "message": "Segment locked",
                                "fields": ["Segment__c"],
                            }
                        ],
                    }
                )
            else:
                out.append({"id": rec["id"], "success": True, "errors": []})
        return 200, limit_headers(20), json.dumps(out)

    rsps.add_callback(responses.PATCH, COMPOSITE, callback=answer, content_type="application/json")
    conn = connector()
    results = conn.write(writes)
    assert [r.id for r in results] == [w.id for w in writes]
    bad = [r for r in results if not r.ok]
    assert len(bad) == 25 and all(r.id.endswith("7") for r in bad)
    assert bad[0].error == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Segment locked (fields: Segment__c)"
    assert conn.calls_by_kind["update"] == 2


def test_write_of_an_unknown_field_maps_to_config_error(rsps):
    login_and_describe(rsps)
    rsps.add(
        responses.PATCH,
        COMPOSITE,
        status=400,
        json=sf_error("INVALID_FIELD", "No such column 'Foo__c' on sobject of type Account"),
    )
    with pytest.raises(ConfigError, match="salesforce Account update: HTTP 400 INVALID_FIELD"):
        connector().write([TagWrite("001000000000000001", {"Foo__c": "x"})])


def test_bulk_api_2_job_answers_per_record(rsps):
    login_and_describe(rsps)
    jobs = f"{REST}/jobs/ingest"
    job = {
        "id": "750R0000000zlh9IAA",
        "operation": "update",
        "object": "Account",
        "state": "Open",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    uploaded = {}

    def upload(request):
        uploaded["csv"] = request.body.decode() if isinstance(request.body, bytes) else request.body
        return 201, {}, ""

    rsps.add(responses.POST, jobs, json=job)
    rsps.add_callback(responses.PUT, f"{jobs}/{job['id']}/batches", callback=upload)
    rsps.add(responses.PATCH, f"{jobs}/{job['id']}", json={**job, "state": "UploadComplete"})
    rsps.add(
        responses.GET,
        f"{jobs}/{job['id']}",
        json={**job, "state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 1},
    )
    rsps.add(
        responses.GET,
        f"{jobs}/{job['id']}/successfulResults",
        content_type="text/csv",
        body='"sf__Id","sf__Created",Id,Segment__c\n"001A","false","001A","SMB"\n"001C","false","001C","#N/A"\n',
    )
    rsps.add(
        responses.GET,
        f"{jobs}/{job['id']}/failedResults",
        content_type="text/csv",
        body=(
            '"sf__Id","sf__Error",Id,Segment__c\n'
            '"","INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--","001B","SMB"\n'
        ),
    )
    conn = SalesforceConnector(sf_cfg(bulk_threshold=2), sf_mapping(), SF_ENV, policy=no_wait_policy(), bulk_wait=0)
    res = conn.write_bulk(
        [
            TagWrite("001A", {"Segment__c": "SMB"}),
            TagWrite("001B", {"Segment__c": "SMB"}),
            TagWrite("001C", {"Segment__c": None}),
        ]
    )
    assert [(r.id, r.ok) for r in res] == [("001A", True), ("001B", False), ("001C", True)]
    assert res[1].error.startswith("INVALID_CROSS_REFERENCE_KEY")
    assert "#N/A" in uploaded["csv"] and "001C" in uploaded["csv"]


# ------------------------------------------------------------------ schema
def test_schema_describes_picklists_and_updateability(rsps):
    login_and_describe(rsps)
    conn = connector()
    schema = conn.schema()
    assert schema["Segment__c"].options == ["Enterprise", "Mid-Market", "SMB"]
    assert schema["Locked__c"].updateable is False and field_kind(schema["ICP_Score__c"]) == "number"
    assert field_kind(schema["Tech_Stack__c"]) == "multipicklist" and field_kind(schema["Id"]) == "id"
    conn.schema()
    assert conn.calls_by_kind["describe"] == 1  # cached


def test_check_mapping_reports_every_problem(rsps):
    login_and_describe(rsps)
    mapping = sf_mapping(
        fields={
            "name": {"source": "Name"},
            "foo": {"source": "Foo__c"},
            "employees": {"source": "SystemModstamp", "type": "int"},
            "score_text": {"source": "Name", "type": "int"},
        },
        tags={"segment": "Segment__c", "icp_score": "Segment__c", "tier": "Locked__c", "stage": "Nope__c"},
    )
    dims = {"segment": ["Enterprise", "SMB", "Startup"], "icp_score": None, "tier": ["A"], "stage": ["x"]}
    problems = check_mapping(connector(), mapping, dims, scores={"icp_score"})
    text = "\n".join(problems)
    assert "connectors/salesforce.toml: field Foo__c not found on Account" in text
    assert "field SystemModstamp on Account is datetime (datetime); it cannot feed employees of type int" in text
    assert "picklist Segment__c on Account lacks value(s) 'Startup'" in text
    assert "tag field Segment__c for dimension icp_score on Account is picklist (picklist); a score needs" in text
    assert "tag field Locked__c for dimension tier on Account is not updateable" in text
    assert "tag field Nope__c for dimension stage not found on Account" in text
    assert "score_text" not in text  # an int from a text field is fine
    assert len(problems) == 6
    assert check_mapping(connector(), sf_mapping(), {"segment": ["SMB"], "icp_score": None}, scores={"icp_score"}) == []
