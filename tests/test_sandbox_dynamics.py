"""The Dynamics 365 sandbox speaks Dataverse Web API v9.2 as Microsoft documents it (plain
requests over HTTP on 127.0.0.1, no crmseg client code): Entra ID client credentials, paging
by ``odata.maxpagesize`` and ``@odata.nextLink``, choice labels as formatted values, change
tracking with deletions, ``$batch`` with per-request outcomes, service protection 429s."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from crmseg.sandbox import SandboxServer
from crmseg.sandbox.dynamics_schema import attribute_of
from tests.connector_fixtures import write_rules

API = "/api/data/v9.2"


@pytest.fixture
def sb(tmp_path):
    server = SandboxServer("dynamics", accounts=25, rules_dir=write_rules(tmp_path / "rules")).start()
    yield server
    server.stop()


def token(sb: SandboxServer, secret: str | None = None) -> requests.Response:
    c = sb.options.credentials
    return requests.post(
        f"{sb.url}/{sb.options.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": c.dynamics_client_id,
            "client_secret": secret or c.dynamics_client_secret,
            "scope": f"{sb.url}/.default",
        },
        timeout=5,
    )


def auth(sb: SandboxServer, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sb).json()['access_token']}", **headers}


def test_client_credentials_grant_and_refusals(sb):
    ok = token(sb).json()
    assert ok["token_type"] == "Bearer" and ok["expires_in"] == 3599 and ok["access_token"]
    bad = token(sb, secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert "AADSTS7000215" in bad.json()["error_description"]
    anonymous = requests.get(f"{sb.url}{API}/WhoAmI", timeout=5)
    assert anonymous.status_code == 401 and 'error="invalid_token"' in anonymous.headers["WWW-Authenticate"]


def test_an_expired_token_is_refused(sb):
    sb.configure(token_lifetime=0)
    headers = auth(sb)
    assert requests.get(f"{sb.url}{API}/WhoAmI", headers=headers, timeout=5).status_code == 401


def test_paging_follows_next_links_in_primary_key_order(sb):
    headers = auth(sb, Prefer="odata.maxpagesize=10")
    url, ids, pages = f"{sb.url}{API}/accounts?$select=name", [], 0
    while url:
        body = requests.get(url, headers=headers, timeout=5).json()
        ids += [row["accountid"] for row in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert ids == sb.ids() and pages == 3
    calls = sb.stats()["calls"]["by_endpoint"]
    assert calls["accounts_query"] == 1 and calls["accounts_next"] == 2


def test_choice_columns_are_integers_with_formatted_labels(sb):
    headers = auth(sb, Prefer='odata.include-annotations="OData.Community.Display.V1.FormattedValue"')
    row = requests.get(f"{sb.url}{API}/accounts?$select=industrycode,numberofemployees", headers=headers, timeout=5)
    first = row.json()["value"][0]
    assert isinstance(first["industrycode"], int)
    assert first["industrycode@OData.Community.Display.V1.FormattedValue"] == "Retail"
    assert "numberofemployees@OData.Community.Display.V1.FormattedValue" in first  # not only choices
    plain = requests.get(f"{sb.url}{API}/accounts?$select=industrycode", headers=auth(sb), timeout=5).json()
    assert not any("@" in key for key in plain["value"][0] if key != "@odata.etag")


def test_filter_on_modifiedon_and_unknown_columns(sb):
    headers = auth(sb)
    before = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sb.edit(touch=sb.ids()[:3])
    body = requests.get(
        f"{sb.url}{API}/accounts?$select=name&$filter=modifiedon ge {before}", headers=headers, timeout=5
    )
    assert [r["accountid"] for r in body.json()["value"]] == sb.ids()[:3]
    bad = requests.get(f"{sb.url}{API}/accounts?$select=nope", headers=headers, timeout=5)
    assert bad.status_code == 400 and "Could not find a property named 'nope'" in bad.json()["error"]["message"]


def _walk(sb: SandboxServer, url: str, headers: dict[str, str]) -> tuple[list[dict], list[requests.Response]]:
    """Every row of a query or delta link, following ``@odata.nextLink``; (rows, answers)."""
    rows, answers = [], []
    while url:
        resp = requests.get(url, headers=headers, timeout=5)
        assert resp.status_code == 200, resp.text
        answers.append(resp)
        rows += resp.json()["value"]
        url = resp.json().get("@odata.nextLink")
    return rows, answers


def test_change_tracking_returns_changes_then_deletions_as_microsoft_documents(sb):
    headers = auth(sb, Prefer="odata.track-changes,odata.maxpagesize=10")
    rows, answers = _walk(sb, f"{sb.url}{API}/accounts?$select=name", headers)
    assert len(rows) == 25 and len(answers) == 3
    assert all("@odata.deltaLink" not in a.json() for a in answers[:-1])  # on the last page only
    delta = answers[-1].json()["@odata.deltaLink"]
    assert "$deltatoken=" in delta and "$select=name" in delta
    first = answers[0]
    assert "odata.track-changes" in first.headers["Preference-Applied"]
    assert first.json()["@odata.context"] == f"{sb.url}{API}/$metadata#accounts(name,accountid)"
    ids = sb.ids()
    sb.edit({ids[1]: {"name": "Renamed"}})
    with sb.app.lock:
        sb.store.set_deleted([ids[0], ids[2]], True, sb.app.write_ms())
    body = requests.get(delta, headers=auth(sb), timeout=5).json()  # no Prefer needed on a delta link
    assert body["@odata.context"].endswith("/$delta")
    assert [r.get("accountid") for r in body["value"]] == [ids[1], None, None]  # changes first, then deletions
    assert body["value"][0]["name"] == "Renamed"
    assert body["value"][1:] == [
        {"@odata.context": f"{sb.url}{API}/$metadata#accounts/$deletedEntity", "id": rid, "reason": "deleted"}
        for rid in (ids[0], ids[2])
    ]
    nxt = body["@odata.deltaLink"]
    assert nxt != delta
    empty = requests.get(nxt, headers=auth(sb), timeout=5).json()
    assert empty["value"] == [] and empty["@odata.deltaLink"]  # nothing changed: nothing, and a link on
    refused = requests.get(
        f"{sb.url}{API}/accounts?$filter=modifiedon ge 2026-01-01T00:00:00Z", headers=headers, timeout=5
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        'The "$filter" query parameter isn\'t supported when Change Tracking is enabled.'
    )


def test_delta_links_page_changes_then_deletions(sb):
    headers = auth(sb, Prefer="odata.track-changes,odata.maxpagesize=4")
    _, answers = _walk(sb, f"{sb.url}{API}/accounts?$select=name", headers)
    delta = answers[-1].json()["@odata.deltaLink"]
    ids = sb.ids()
    sb.edit(touch=ids[10:16])
    with sb.app.lock:
        sb.store.set_deleted(ids[:3], True, sb.app.write_ms())
    rows, pages = _walk(sb, delta, headers)
    assert len(pages) == 3 and "@odata.deltaLink" in pages[-1].json()
    assert [r.get("accountid", r.get("id")) for r in rows] == ids[10:16] + ids[:3]
    assert [r.get("reason") for r in rows] == [None] * 6 + ["deleted"] * 3


def test_a_change_in_the_millisecond_a_link_was_issued_is_in_its_delta(tmp_path):
    now = [1_800_000_000.0]
    sb = SandboxServer("dynamics", accounts=5, rules_dir=write_rules(tmp_path / "rules"), clock=lambda: now[0]).start()
    try:
        headers = auth(sb, Prefer="odata.track-changes")
        _, answers = _walk(sb, f"{sb.url}{API}/accounts?$select=name", headers)
        sb.edit(touch=sb.ids()[:1])  # the clock has not moved: Dataverse's row version still grows
        rows, _ = _walk(sb, answers[-1].json()["@odata.deltaLink"], headers)
        assert [r["accountid"] for r in rows] == sb.ids()[:1]
    finally:
        sb.stop()


def test_an_expired_delta_token_answers_expired_version_stamp(sb):
    headers = auth(sb, Prefer="odata.track-changes")
    _, answers = _walk(sb, f"{sb.url}{API}/accounts?$select=name", headers)
    sb.configure(delta_token_days=0)
    sb.edit(touch=sb.ids()[:1])  # a millisecond later at least
    expired = requests.get(answers[-1].json()["@odata.deltaLink"], headers=headers, timeout=5)
    assert expired.status_code == 400
    assert expired.json()["error"] == {
        "code": "0x80044352",
        "message": "Version stamp associated with the client has expired. Please perform a full sync.",
    }


def test_the_table_definition_says_whether_it_tracks_changes(sb, tmp_path):
    url = f"{sb.url}{API}/EntityDefinitions(LogicalName='account')?$select=LogicalName,ChangeTrackingEnabled"
    plain = requests.get(url, headers=auth(sb), timeout=5).json()
    assert plain["ChangeTrackingEnabled"] is True and "Attributes" not in plain
    expanded = requests.get(
        f"{url}&$expand=Attributes($select=LogicalName,AttributeType)", headers=auth(sb), timeout=5
    ).json()
    assert {a["LogicalName"] for a in expanded["Attributes"]} == {attribute_of(fd)[0] for fd in sb.schema.values()}
    off = SandboxServer("dynamics", accounts=3, rules_dir=write_rules(tmp_path / "r2"), change_tracking=False).start()
    try:
        url_off = url.replace(sb.url, off.url)
        assert requests.get(url_off, headers=auth(off), timeout=5).json()["ChangeTrackingEnabled"] is False
        refused = requests.get(
            f"{off.url}{API}/accounts?$select=name", headers=auth(off, Prefer="odata.track-changes"), timeout=5
        )
        assert refused.status_code == 400
    finally:
        off.stop()


def batch_body(parts: list[tuple[str, dict]], boundary: str = "batch_x") -> str:
    out = []
    for rid, fields in parts:
        out.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"PATCH {API}/accounts({rid}) HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n"
            f"{json.dumps(fields)}\r\n"
        )
    return "".join(out) + f"--{boundary}--\r\n"


def test_batch_answers_each_request_and_continues_on_error(sb):
    ids = sb.ids()
    segment = sb.mapping.tag_field("segment")
    options = sb.schema[segment].extra["options"]
    parts = [(ids[0], {segment: options["SMB"]}), (ids[1], {segment: 7}), (ids[2], {segment: options["Enterprise"]})]
    headers = auth(sb, **{"Content-Type": "multipart/mixed;boundary=batch_x", "Prefer": "odata.continue-on-error"})
    resp = requests.post(f"{sb.url}{API}/$batch", data=batch_body(parts), headers=headers, timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(
        "multipart/mixed; boundary=batchresponse_"
    )
    assert re.findall(r"HTTP/1.1 (\d+)", resp.text) == ["204", "400", "204"]
    assert "outside the valid range" in resp.text
    assert sb.record(ids[0])[segment] == options["SMB"] and sb.record(ids[2])[segment] == options["Enterprise"]
    stopped = requests.post(
        f"{sb.url}{API}/$batch",
        data=batch_body([(ids[3], {segment: 7}), (ids[4], {segment: options["SMB"]})]),
        headers={k: v for k, v in headers.items() if k != "Prefer"},
        timeout=5,
    )
    # without continue-on-error it stops, and the batch answers with that request's status
    # (Microsoft's "Execute batch operations using the Web API", Handling errors: HTTP/1.1 400)
    assert stopped.status_code == 400 and stopped.headers["Content-Type"].startswith("multipart/mixed")
    assert re.findall(r"HTTP/1.1 (\d+)", stopped.text) == ["400"]
    assert sb.record(ids[4])[segment] != options["SMB"]


def test_patch_of_a_deleted_row_is_404(sb):
    rid = sb.ids()[0]
    sb.store.set_deleted([rid], True, sb.app.write_ms())
    resp = requests.patch(
        f"{sb.url}{API}/accounts({rid})", json={"name": "x"}, headers=auth(sb, **{"If-Match": "*"}), timeout=5
    )
    assert resp.status_code == 404


def test_service_protection_answers_429_with_retry_after(sb):
    headers = auth(sb)
    sb.configure(service_limit=2, service_window=60.0)
    answers = [requests.get(f"{sb.url}{API}/WhoAmI", headers=headers, timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) > 0
    assert answers[2].json()["error"]["message"].startswith("Number of requests exceeded the limit of 2")
    assert answers[1].headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "0"


def test_a_batch_is_one_request_against_the_number_of_requests_limit(sb):
    """Microsoft: a batch "can contain up to 1000 operations and will avoid the number of requests
    limit" (its execution time counts against the other limit, which the sandbox does not emulate)."""
    segment = sb.mapping.tag_field("segment")
    smb = sb.schema[segment].extra["options"]["SMB"]
    headers = auth(sb, **{"Content-Type": "multipart/mixed;boundary=batch_x", "Prefer": "odata.continue-on-error"})
    sb.configure(service_limit=2, service_window=60.0)
    body = batch_body([(rid, {segment: smb}) for rid in sb.ids()[:20]])
    assert requests.post(f"{sb.url}{API}/$batch", data=body, headers=headers, timeout=5).status_code == 200
    assert requests.get(f"{sb.url}{API}/WhoAmI", headers=headers, timeout=5).status_code == 200
    assert requests.get(f"{sb.url}{API}/WhoAmI", headers=headers, timeout=5).status_code == 429


def test_written_config_opens_a_connector_that_reads(sb, tmp_path):
    from crmseg.config import load_config, load_mapping
    from crmseg.connectors.factory import open_connector
    from crmseg.sandbox import write_sandbox_config

    cfg = load_config(write_sandbox_config(sb, tmp_path / "d365.toml"))
    sync = next(iter(cfg.syncs.values()))
    conn = open_connector(sync, load_mapping(sb.mapping.path), sb.env())
    assert len(list(conn.read(["name"]))) == 25


def test_a_lookup_is_an_attribute_by_its_name_and_a_property_named_value(sb):
    """Microsoft ("Web API navigation properties"): the attribute is ``ownerid`` (an Owner
    lookup); the Web API reads and selects it as the ``_ownerid_value`` property, not by name."""
    url = (
        f"{sb.url}{API}/EntityDefinitions(LogicalName='account')?$expand=Attributes($select=LogicalName,AttributeType)"
    )
    attributes = {a["LogicalName"]: a for a in requests.get(url, headers=auth(sb), timeout=5).json()["Attributes"]}
    assert attributes["ownerid"]["AttributeType"] == "Owner" and "_ownerid_value" not in attributes
    first = sb.store.select_ids("deleted = 0", [], "id", 1)[0]
    sb.store.update_many([(first, {"_ownerid_value": "jane"})], sb.app.write_ms())
    rows = requests.get(f"{sb.url}{API}/accounts?$select=_ownerid_value", headers=auth(sb), timeout=5).json()["value"]
    assert re.fullmatch(r"[0-9a-f-]{36}", rows[0]["_ownerid_value"])
    refused = requests.get(f"{sb.url}{API}/accounts?$select=ownerid", headers=auth(sb), timeout=5)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "0x80060888"
