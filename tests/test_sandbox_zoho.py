"""The Zoho CRM sandbox speaks REST API v8 as Zoho documents it (plain requests over HTTP on
127.0.0.1, no crmseg client code): the accounts server's refresh-token grant, ``fields``
mandatory, ``page`` within the first 2,000 records and ``page_token`` past them,
``If-Modified-Since`` (304 when nothing changed), deleted records, ``PUT`` of at most 100 records
with per-record outcomes and ``trigger``, API credits over a rolling day with
``X-API-CREDITS-REMAINING`` past half of them, 429 ``TOO_MANY_REQUESTS`` without ``Retry-After``;
Bulk Read jobs (create, poll, download a zipped CSV; 200,000 records a job, then ``page`` or
``page_token``)."""

from __future__ import annotations

import csv
import io
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from crmseg.sandbox import SandboxServer
from tests.connector_fixtures import write_rules

API = "/crm/v8"
FIELDS = "Account_Name,Industry,Modified_Time,crmseg_segment"


@pytest.fixture
def rules(tmp_path):
    return write_rules(tmp_path / "rules")


@pytest.fixture
def sb(rules):
    server = SandboxServer("zoho", accounts=25, rules_dir=rules).start()
    yield server
    server.stop()


def grant(sb: SandboxServer, **changes: str) -> requests.Response:
    c = sb.options.credentials
    params = {
        "grant_type": "refresh_token",
        "client_id": c.zoho_client_id,
        "client_secret": c.zoho_client_secret,
        "refresh_token": c.zoho_refresh_token,
        **changes,
    }
    return requests.post(f"{sb.url}/oauth/v2/token", params=params, timeout=5)


def auth(sb: SandboxServer, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {grant(sb).json()['access_token']}", **headers}


def get(sb: SandboxServer, headers: dict[str, str], path: str = "/Accounts", **params: Any) -> requests.Response:
    return requests.get(f"{sb.url}{API}{path}", params=params, headers=headers, timeout=5)


def walk(sb: SandboxServer, headers: dict[str, str], **params: Any) -> tuple[list[str], list[str]]:
    """Every page of a list: (record ids, how each page was asked for: page or page_token)."""
    ids, how, page, token = [], [], 1, None
    while True:
        args = {**params, "page_token": token} if token else {**params, "page": page}
        resp = get(sb, headers, **args)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        ids += [r["id"] for r in body["data"]]
        how.append("token" if token else "page")
        if not body["info"]["more_records"]:
            return ids, how
        page += 1
        if page * int(params.get("per_page", 200)) > sb.options.zoho_page_limit:
            token = body["info"]["next_page_token"]


def test_the_refresh_token_grant_and_its_refusals(sb):
    ok = grant(sb).json()
    assert ok["token_type"] == "Bearer" and ok["expires_in"] == 3600 and ok["api_domain"] == sb.url
    assert ok["access_token"].startswith("1000.")
    assert grant(sb, client_secret="wrong").json() == {"error": "invalid_client"}
    refused = grant(sb, refresh_token="1000.revoked")
    assert refused.status_code == 200 and refused.json() == {"error": "invalid_code"}
    anonymous = get(sb, {}, fields=FIELDS)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "INVALID_TOKEN"
    bearer = get(sb, {"Authorization": f"Bearer {ok['access_token']}"}, fields=FIELDS)
    assert bearer.status_code == 401  # the header is Zoho-oauthtoken, not Bearer


def test_ten_access_tokens_per_refresh_token_per_ten_minutes(rules):
    with SandboxServer("zoho", accounts=1, rules_dir=rules, zoho_tokens_per_window=3) as sb:
        answers = [grant(sb).json() for _ in range(4)]
        assert all("access_token" in a for a in answers[:3])
        assert answers[3]["error"] == "Access Denied" and "too many requests" in answers[3]["error_description"]


def test_an_expired_token_is_refused(sb):
    sb.configure(zoho_token_lifetime=0)
    assert get(sb, auth(sb), fields=FIELDS).json()["code"] == "INVALID_TOKEN"


def test_fields_is_mandatory_and_at_most_fifty(sb):
    headers = auth(sb)
    missing = get(sb, headers)
    assert missing.status_code == 400 and missing.json()["code"] == "REQUIRED_PARAM_MISSING"
    many = get(sb, headers, fields=",".join(["Account_Name"] * 51))
    assert many.json() == {
        "code": "LIMIT_EXCEEDED",
        "details": {"limit": 50, "param_name": "fields"},
        "message": "limit exceeded",
        "status": "error",
    }
    assert get(sb, headers, fields="Nope").json()["details"]["api_name"] == "Nope"
    assert get(sb, headers, fields=FIELDS, per_page=201).json()["details"] == {"param_name": "per_page"}


def test_records_answer_as_zoho_does(sb):
    body = get(sb, auth(sb), fields="Owner,Tech_Stack,Modified_Time,Employees", per_page=1, sort_order="asc").json()
    rec = body["data"][0]
    assert rec["id"] == sb.ids()[0] and set(rec["Owner"]) == {"name", "id", "email"}
    assert isinstance(rec["Tech_Stack"], list)
    assert rec["Modified_Time"].endswith("+05:30")  # the org's time zone
    assert set(body["info"]) >= {
        "per_page",
        "count",
        "page",
        "more_records",
        "next_page_token",
        "previous_page_token",
        "page_token_expiry",
    }


def test_page_reaches_the_first_records_then_page_token_goes_on(rules):
    with SandboxServer("zoho", accounts=75, rules_dir=rules, zoho_page_limit=40) as sb:
        headers = auth(sb)
        ids, how = walk(sb, headers, fields=FIELDS, per_page=10, sort_order="asc")
        assert ids == sb.ids() and how == ["page"] * 4 + ["token"] * 4
        past = get(sb, headers, fields=FIELDS, per_page=10, page=5)
        assert past.status_code == 400 and past.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
        assert past.json()["details"] == {"limit": 40}
        calls = sb.stats()["calls"]["by_endpoint"]
        assert calls["records_page"] == 5 and calls["records_token"] == 4


def test_a_page_token_is_bound_to_its_request_and_its_limits(rules):
    state = {"t": time.time()}
    with SandboxServer("zoho", accounts=30, rules_dir=rules, zoho_token_limit=20, clock=lambda: state["t"]) as sb:
        headers = auth(sb)
        first = get(sb, headers, fields=FIELDS, per_page=10).json()["info"]["next_page_token"]
        altered = get(sb, headers, fields="Account_Name", per_page=10, page_token=first)
        assert altered.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
        both = get(sb, headers, fields=FIELDS, per_page=10, page_token=first, page=2)
        assert both.json()["code"] == "AMBIGUITY_DURING_PROCESSING"
        second = get(sb, headers, fields=FIELDS, per_page=10, page_token=first).json()
        third = get(sb, headers, fields=FIELDS, per_page=10, page_token=second["info"]["next_page_token"])
        assert third.json()["code"] == "PAGINATION_LIMIT_EXCEEDED"  # 20 records is this sandbox's token limit
        state["t"] += 25 * 3600
        headers = auth(sb)
        expired = get(sb, headers, fields=FIELDS, per_page=10, page_token=first)
        assert expired.json()["code"] == "EXPIRED_VALUE"


def test_if_modified_since_keeps_later_changes_in_modified_order_and_answers_304_for_none(rules):
    state = {"t": time.time()}
    with SandboxServer("zoho", accounts=25, rules_dir=rules, clock=lambda: state["t"]) as sb:
        headers = auth(sb)
        later = datetime.fromtimestamp(state["t"] + 3600, UTC).astimezone().isoformat(timespec="seconds")
        nothing = get(sb, {**headers, "If-Modified-Since": later}, fields=FIELDS)
        assert nothing.status_code == 304 and not nothing.content
        before = datetime.fromtimestamp(state["t"] - 1, UTC).isoformat(timespec="seconds")
        ids = sb.ids()
        sb.edit(touch=[ids[7]])
        state["t"] += 1.5
        sb.edit(touch=[ids[2]])
        body = get(
            sb, {**headers, "If-Modified-Since": before}, fields=FIELDS, sort_by="Modified_Time", sort_order="asc"
        ).json()
        assert [r["id"] for r in body["data"]] == [ids[7], ids[2]]
        same_second = datetime.fromtimestamp(int(state["t"]), UTC).isoformat()
        assert get(sb, {**headers, "If-Modified-Since": same_second}, fields=FIELDS).status_code == 304


def test_no_records_at_all_is_204(rules):
    with SandboxServer("zoho", accounts=0, rules_dir=rules) as sb:
        assert get(sb, auth(sb), fields=FIELDS).status_code == 204


def test_deleted_records_from_the_recycle_bin(sb):
    headers = auth(sb)
    ids = sb.ids()
    assert get(sb, headers, "/Accounts/deleted", type="all").status_code == 204
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    sb.store.set_deleted(ids[3:5], True, sb.app.write_ms())
    body = get(sb, {**headers, "If-Modified-Since": since}, "/Accounts/deleted", type="all").json()
    assert {d["id"] for d in body["data"]} == set(ids[3:5])
    assert {d["type"] for d in body["data"]} == {"recycle"} and all(d["deleted_time"] for d in body["data"])
    assert body["info"]["more_records"] is False
    assert ids[3] not in [r["id"] for r in get(sb, headers, fields=FIELDS).json()["data"]]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    assert get(sb, {**headers, "If-Modified-Since": later}, "/Accounts/deleted").status_code == 304
    assert sb.stats()["api_usage"]["used"] == 1 + 2 * 3  # a list; three pages of deleted ids at 2 credits


BULK = "/crm/bulk/v8/read"


def bulk_job(sb: SandboxServer, headers: dict[str, str], query: dict[str, Any]) -> requests.Response:
    return requests.post(f"{sb.url}{BULK}", json={"query": query}, headers=headers, timeout=5)


def bulk_get(sb: SandboxServer, headers: dict[str, str], path: str) -> requests.Response:
    return requests.get(f"{sb.url}{path}", headers=headers, timeout=5)


def test_a_bulk_read_job_exports_the_live_records_as_a_zipped_csv(rules):
    with SandboxServer("zoho", accounts=25, rules_dir=rules, bulk_polls=1) as sb:
        headers = auth(sb)
        sb.store.set_deleted(sb.ids()[:2], True, sb.app.write_ms())
        sb.edit({sb.ids()[5]: {"Tech_Stack": ["Salesforce", "Azure"], "Is_Customer": True}})
        fields = ["Account_Name", "Employees", "Tech_Stack", "Is_Customer", "Owner", "Modified_Time"]
        created = bulk_job(sb, headers, {"module": {"api_name": "Accounts"}, "fields": fields, "page": 1})
        assert created.status_code == 201, created.text
        answer = created.json()["data"][0]
        assert (answer["status"], answer["code"], answer["details"]["state"]) == (
            "success",
            "ADDED_SUCCESSFULLY",
            "ADDED",
        )
        job = answer["details"]["id"]
        early = bulk_get(sb, headers, f"{BULK}/{job}/result")  # not completed yet: crm-oas v8.0's 404
        assert early.status_code == 404 and early.json()["code"] == "RESOURCE_NOT_FOUND"
        first = bulk_get(sb, headers, f"{BULK}/{job}").json()["data"][0]
        assert first["state"] == "IN PROGRESS" and "result" not in first
        done = bulk_get(sb, headers, f"{BULK}/{job}").json()["data"][0]
        assert done["state"] == "COMPLETED" and done["file_type"] == "csv"
        result = done["result"]
        assert (result["count"], result["more_records"], result["page"]) == (23, False, 1)
        zipped = bulk_get(sb, headers, result["download_url"])
        assert zipped.status_code == 200 and zipped.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as zf:
            assert zf.namelist() == [f"{job}.csv"]
            rows = list(csv.reader(io.TextIOWrapper(zf.open(f"{job}.csv"), encoding="utf-8")))
        assert rows[0] == ["Id", *fields] and len(rows) == 1 + 23
        by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
        assert set(by_id) == set(sb.ids()[2:])  # the deleted are left out
        edited = by_id[sb.ids()[5]]
        assert edited["Tech_Stack"] == "Salesforce;Azure" and edited["Is_Customer"] == "true"
        owner = get(sb, headers, fields="Owner").json()["data"]
        assert edited["Owner"] == next(r["Owner"]["id"] for r in owner if r["id"] == sb.ids()[5])
        assert sb.stats()["api_usage"]["used"] == 50 + 1 + 3 + 1  # the job, the early download, 2 polls; the list
        assert bulk_get(sb, headers, f"{BULK}/99").json()["code"] == "RESOURCE_NOT_FOUND"
        bad = bulk_job(sb, headers, {"module": {"api_name": "Accounts"}, "fields": ["Nope"]})
        assert bad.status_code == 400 and bad.json()["details"]["api_name"] == "Nope"
        assert bulk_job(sb, headers, {"module": {"api_name": "Leads"}}).json()["code"] == "INVALID_MODULE"


def test_bulk_read_jobs_past_their_size_go_on_by_page_or_page_token(rules):
    with SandboxServer("zoho", accounts=25, rules_dir=rules, bulk_polls=0, zoho_bulk_page=10) as sb:
        headers = auth(sb)

        def export(query: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            job = bulk_job(sb, headers, {"module": {"api_name": "Accounts"}, "fields": ["Account_Name"], **query})
            result = bulk_get(sb, headers, f"{BULK}/{job.json()['data'][0]['details']['id']}").json()["data"][0]
            with zipfile.ZipFile(io.BytesIO(bulk_get(sb, headers, result["result"]["download_url"]).content)) as zf:
                text = zf.read(zf.namelist()[0]).decode("utf-8")
            return [line.split(",", 1)[0] for line in text.splitlines()[1:]], result["result"]

        by_page = [export({"page": n}) for n in (1, 2, 3)]
        assert [r["more_records"] for _, r in by_page] == [True, True, False]
        assert [i for ids, _ in by_page for i in ids] == sb.ids()
        second, result = export({"page_token": by_page[0][1]["next_page_token"]})
        assert second == by_page[1][0] and result["next_page_token"]
        assert bulk_job(sb, headers, {"module": {"api_name": "Accounts"}, "page_token": "x"}).status_code == 400
        for _ in range(6):  # 4 so far: 10 downloads a minute, then 429
            export({"page": 1})
        job = bulk_job(sb, headers, {"module": {"api_name": "Accounts"}, "fields": ["Account_Name"]})
        status = bulk_get(sb, headers, f"{BULK}/{job.json()['data'][0]['details']['id']}").json()["data"][0]
        refused = bulk_get(sb, headers, status["result"]["download_url"])
        assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"


def put(sb: SandboxServer, headers: dict[str, str], body: dict[str, Any]) -> requests.Response:
    return requests.put(f"{sb.url}{API}/Accounts", json=body, headers=headers, timeout=5)


def test_update_answers_each_record_in_order(sb):
    headers = auth(sb)
    ids = sb.ids()
    resp = put(
        sb,
        headers,
        {
            "data": [
                {"id": ids[0], "crmseg_segment": "Enterprise", "crmseg_icp_score": 42},
                {"id": ids[1], "crmseg_segment": "Startup"},
                {"id": "5725767999999999999", "crmseg_segment": "SMB"},
            ],
            "trigger": [],
        },
    )
    assert resp.status_code == 207
    first, second, third = resp.json()["data"]
    assert first["code"] == "SUCCESS" and first["details"]["id"] == ids[0]
    assert second["code"] == "INVALID_DATA" and second["details"]["api_name"] == "crmseg_segment"
    assert second["details"]["supported_values"] == ["Enterprise", "Mid-Market", "SMB"]
    assert third["code"] == "INVALID_DATA" and third["details"]["api_name"] == "id"
    assert sb.record(ids[0])["crmseg_segment"] == "Enterprise" and sb.record(ids[0])["crmseg_icp_score"] == 42.0
    assert put(sb, headers, {"data": [{"id": ids[1], "crmseg_segment": "Nope"}]}).status_code == 400
    assert put(sb, headers, {"data": [{"id": ids[1], "crmseg_segment": "SMB"}]}).status_code == 200
    too_many = put(sb, headers, {"data": [{"id": ids[0]}] * 101})
    assert too_many.status_code == 400 and too_many.json()["details"] == {"limit": 100, "api_name": "data"}


def test_trigger_decides_which_automation_the_update_fires(sb):
    headers = auth(sb)
    ids = sb.ids()
    put(sb, headers, {"data": [{"id": i, "crmseg_segment": "SMB"} for i in ids[:3]], "trigger": []})
    put(sb, headers, {"data": [{"id": ids[3], "crmseg_segment": "SMB"}], "trigger": ["workflow"]})
    put(sb, headers, {"data": [{"id": ids[4], "crmseg_segment": "SMB"}]})  # no trigger key: all of it
    triggers = sb.stats()["triggers"]
    assert triggers["none"] == 3 and triggers["workflow"] == 2 and triggers["approval"] == 1


def test_credits_over_a_rolling_day_and_the_remaining_header(rules):
    state = {"t": time.time()}
    with SandboxServer("zoho", accounts=30, rules_dir=rules, daily_limit=10, clock=lambda: state["t"]) as sb:
        headers = auth(sb)
        first = get(sb, headers, fields=FIELDS)
        assert "X-API-CREDITS-REMAINING" not in first.headers  # 1 of 10 used: under half
        put(sb, headers, {"data": [{"id": i, "crmseg_segment": "SMB"} for i in sb.ids()[:25]], "trigger": []})
        assert sb.stats()["api_usage"] == {"used": 4, "max": 10}  # 25 records: 3 credits
        answers = [get(sb, headers, fields=FIELDS) for _ in range(7)]
        assert [a.headers.get("X-API-CREDITS-REMAINING") for a in answers[:6]] == ["5", "4", "3", "2", "1", "0"]
        spent = answers[6]
        assert spent.status_code == 429 and spent.json()["code"] == "TOO_MANY_REQUESTS"
        assert "Retry-After" not in spent.headers and spent.headers["X-API-CREDITS-REMAINING"] == "0"
        state["t"] += 86_401  # the rolling day has passed
        assert get(sb, headers, fields=FIELDS).status_code == 401  # the token expired meanwhile
        assert get(sb, auth(sb), fields=FIELDS).status_code == 200


def test_calls_over_the_concurrency_limit_get_429(rules):
    with SandboxServer("zoho", accounts=5, rules_dir=rules, zoho_concurrency=1, timeout_delay=1.0) as sb:
        headers = auth(sb)
        sb.inject({"kind": "timeout", "endpoint": "records_page"})
        held = threading.Thread(target=lambda: get(sb, headers, fields=FIELDS))
        held.start()
        deadline = time.monotonic() + 5
        while sb.stats()["faults"]["fired"].get("timeout") != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = get(sb, headers, path="/org")
        held.join()
        assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
        assert "Retry-After" not in refused.headers


def test_injected_faults_answer_as_zoho(sb):
    headers = auth(sb)
    sb.inject({"kind": "429", "retry_after": 5}, {"kind": "expired_session"})
    throttled = get(sb, headers, fields=FIELDS)
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
    assert get(sb, headers, fields=FIELDS).json()["code"] == "INVALID_TOKEN"
    assert get(sb, headers, fields=FIELDS).status_code == 200


def test_fields_metadata_and_org(sb):
    headers = auth(sb)
    fields = {f["api_name"]: f for f in get(sb, headers, "/settings/fields", module="Accounts").json()["fields"]}
    segment = fields["crmseg_segment"]
    assert segment["data_type"] == "picklist" and segment["custom_field"] and not segment["read_only"]
    assert [v["actual_value"] for v in segment["pick_list_values"]] == ["Enterprise", "Mid-Market", "SMB"]
    assert fields["Modified_Time"]["read_only"] and fields["Tech_Stack"]["data_type"] == "multiselectpicklist"
    bad = get(sb, headers, "/settings/fields", module="Nope")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_MODULE"
    org = get(sb, headers, "/org").json()["org"][0]
    assert org["id"] == sb.options.zoho_org_id and org["mc_status"] is False
    assert get(sb, headers, "/Leads", fields="Last_Name").json()["code"] == "INVALID_URL_PATTERN"
