"""One contract every CRM connector passes, through the real client libraries over real
HTTP to the local sandbox (crmseg.sandbox): paging, incremental reads, batched writes with
partial failure, every fault kind, schema checks, and minimal call counts."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest

from crmseg.connectors.retry import RetryPolicy
from crmseg.connectors.schema_check import check_mapping
from crmseg.errors import ConfigError, FatalError
from crmseg.model import TagWrite
from crmseg.sync.decide import is_permanent
from tests.connector_fixtures import DIMENSIONS, SCORES, Harness, no_wait_policy, write_rules

pytest.importorskip("crmseg.sandbox")

CRMS = ["salesforce", "hubspot"]


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory):
    return write_rules(tmp_path_factory.mktemp("rules"))


@pytest.fixture(params=CRMS)
def h(request, rules_dir):
    harness = Harness(request.param, rules_dir)
    yield harness
    harness.close()


def ready(h: Harness, **kw):
    """A connector that has already fetched the schema (as the pipeline's check does)."""
    conn = h.connector(**kw)
    conn.schema()
    return conn


def read_calls(conn) -> int:
    by = conn.calls_by_kind
    return by["query"] + by["list"] + by["search"]


def write_calls(conn) -> int:
    return conn.calls_by_kind["update"] + conn.calls_by_kind["write"]


# ------------------------------------------------------------------ reading
def test_full_read_pages_lazily_and_minimally(h):
    conn = ready(h)
    it = conn.read(h.read_fields)
    first = next(it)
    assert read_calls(conn) == 1  # one page fetched so far: a generator, not a list
    records = [first, *it]
    assert sorted(r.id for r in records) == sorted(h.sb.ids())
    pages = math.ceil(h.accounts / h.page)
    assert read_calls(conn) == pages == h.server_calls(*h.read_endpoints)
    assert all(set(h.read_fields) <= set(r.fields) for r in records)


def test_incremental_read_returns_exactly_the_changed_records(h):
    conn = ready(h)
    since = datetime.now(UTC)
    time.sleep(0.002)
    touched = h.sb.ids()[10:40]
    h.sb.edit(touch=touched)
    got = [r.id for r in conn.read(h.read_fields, since=since)]
    assert sorted(got) == sorted(touched)
    assert read_calls(conn) == 1


def test_read_survives_a_rate_limit_mid_paging_without_re_emitting(h):
    conn = ready(h)
    h.sb.inject({"kind": "429", "endpoint": h.more_endpoint, "after": 1, "retry_after": 3})
    ids = [r.id for r in conn.read(h.read_fields)]
    assert len(ids) == len(set(ids)) == h.accounts
    assert 3.0 in conn.policy.sleep.calls  # Retry-After honored
    assert h.sb.stats()["rate_limited"] == 1


# ------------------------------------------------------------------ writing
def test_batched_write_with_partial_failure(h):
    conn = ready(h)
    ids = h.sb.ids()[:250]
    bad = {ids[3], ids[120], ids[249]}
    h.sb.inject(
        {
            "kind": "record_failure",
            "endpoint": h.write_endpoint,
            "ids": sorted(bad),
            "message": "locked by an approval process",
        }
    )
    writes = [TagWrite(i, {h.tag: "Mid-Market", h.score_tag: 42}) for i in ids]
    results = conn.write(writes)
    assert [r.id for r in results] == ids
    assert {r.id for r in results if not r.ok} == bad
    assert all("locked by an approval process" in r.error for r in results if not r.ok)
    assert write_calls(conn) == math.ceil(250 / h.batch) == h.server_calls(h.write_endpoint)
    assert h.sb.record(ids[0])[h.tag] == "Mid-Market"
    assert h.sb.record(ids[3])[h.tag] != "Mid-Market"


def test_write_clears_a_tag_with_none(h):
    conn = ready(h)
    rid = h.sb.ids()[0]
    assert conn.write([TagWrite(rid, {h.tag: "SMB"})])[0].ok
    assert conn.write([TagWrite(rid, {h.tag: None})])[0].ok
    assert h.sb.record(rid).get(h.tag) in (None, "")


def test_call_count_is_the_lower_bound_without_faults(h):
    conn = ready(h)
    h.sb.reset_stats()
    before = conn.calls
    records = list(conn.read(h.read_fields))
    changes = [TagWrite(r.id, {h.tag: "Enterprise"}) for r in records[:321]]
    assert all(r.ok for r in conn.write(changes))
    lower_bound = math.ceil(h.accounts / h.page) + math.ceil(len(changes) / h.batch)
    assert conn.calls - before == lower_bound == h.server_calls()


# ------------------------------------------------------------------ faults
FAULTS = [
    {"kind": "429", "retry_after": 2},
    {"kind": "500"},
    {"kind": "503", "retry_after": 1},
    {"kind": "timeout", "delay": 0.6},
    {"kind": "expired_session"},
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f["kind"] for f in FAULTS])
def test_every_call_fault_is_retried_on_read_and_write(h, fault):
    conn = ready(h, timeout=0.25)
    h.sb.inject({**fault, "endpoint": h.more_endpoint, "after": 1}, {**fault, "endpoint": h.write_endpoint})
    ids = [r.id for r in conn.read(h.read_fields)]
    assert len(ids) == len(set(ids)) == h.accounts
    results = conn.write([TagWrite(i, {h.tag: "SMB"}) for i in ids[:150]])
    assert all(r.ok for r in results) and len(results) == 150
    assert h.sb.stats()["faults"]["fired"] == {fault["kind"]: 2}
    if fault.get("retry_after"):
        assert conn.policy.sleep.calls.count(float(fault["retry_after"])) == 2
    if fault["kind"] == "expired_session" and h.crm == "salesforce":
        assert h.sb.stats()["logins"] == 3  # first login, then one re-login per expired session


def test_persistent_server_errors_give_up_as_retriable(h):
    from crmseg.errors import RetriableError

    conn = ready(h)
    h.sb.inject({"kind": "503", "endpoint": h.write_endpoint, "count": -1, "retry_after": 0})
    with pytest.raises(RetriableError, match=r"HTTP 503.*gave up after 4 tries"):
        conn.write([TagWrite(h.sb.ids()[0], {h.tag: "SMB"})])
    assert h.server_calls(h.write_endpoint) == 4


def test_exhausted_daily_limit_is_fatal_and_not_retried(rules_dir):
    for crm in CRMS:
        h = Harness(crm, rules_dir, accounts=50, daily_limit=3)
        try:
            conn = h.connector()
            with pytest.raises(FatalError, match="limit is exhausted"):
                for _ in range(5):
                    list(conn.read(h.read_fields))
            assert conn.policy.sleep.calls == []
        finally:
            h.close()


def test_salesforce_tracks_api_usage(rules_dir):
    h = Harness("salesforce", rules_dir, accounts=20, daily_limit=5000)
    try:
        conn = ready(h)
        list(conn.read(h.read_fields))
        usage = h.sb.stats()["api_usage"]
        assert conn.api_usage == (usage["used"], usage["max"]) == (2, 5000)
    finally:
        h.close()


# ------------------------------------------------------------------ schema checks
def test_schema_check_passes_for_the_shipped_mapping(h):
    assert check_mapping(h.connector(), h.mapping, DIMENSIONS, scores=SCORES) == []


def test_schema_check_names_missing_fields_before_any_write(h):
    fields = dict(h.mapping.model_dump()["fields"])
    fields["bogus"] = {"source": "Bogus_Field__c" if h.crm == "salesforce" else "bogus_field"}
    bad = h.mapping.model_copy(update={"fields": h.mapping.model_validate({"fields": fields}).fields})
    conn = h.connector(mapping=bad)
    dims = {**DIMENSIONS, "segment": ["Enterprise", "Mid-Market", "SMB", "Startup"]}
    problems = check_mapping(conn, bad, dims, scores=SCORES)
    obj = "Account" if h.crm == "salesforce" else "companies"
    missing = "Bogus_Field__c" if h.crm == "salesforce" else "bogus_field"
    assert f"field {missing} not found on {obj}" in problems[0]
    assert any("lacks value(s) 'Startup'" in p for p in problems)
    assert h.server_calls(h.write_endpoint) == 0


def test_schema_check_refuses_a_score_into_a_picklist(h):
    swapped = h.mapping.model_copy(update={"tags": {**h.mapping.tags, "icp_score": h.tag}})
    problems = check_mapping(h.connector(mapping=swapped), swapped, DIMENSIONS, scores=SCORES)
    assert len(problems) == 1 and "a score needs a number or text field" in problems[0]


def test_salesforce_read_of_an_unknown_field_fails_before_querying(rules_dir):
    h = Harness("salesforce", rules_dir, accounts=5)
    try:
        with pytest.raises(ConfigError, match="field Nope__c not found on Account"):
            list(h.connector().read(["Name", "Nope__c"]))
        assert h.server_calls("query") == 0
    finally:
        h.close()


# ------------------------------------------------------------------ vendor specifics
def test_salesforce_bulk_write_is_one_job_answering_per_record(rules_dir):
    """The sync writer sends more than ``bulk_threshold`` pending writes this way (tests/test_sync_writer.py)."""
    h = Harness("salesforce", rules_dir, accounts=320, bulk_polls=2)
    try:
        conn = h.connector(bulk_wait=0)
        ids = h.sb.ids()
        h.sb.inject(
            {"kind": "record_failure", "endpoint": "bulk", "ids": [ids[7]], "error": "FIELD_INTEGRITY_EXCEPTION"}
        )
        results = conn.capabilities.bulk_write.write_bulk([TagWrite(i, {h.tag: "Enterprise"}) for i in ids])
        assert [r.id for r in results] == ids
        assert [r.id for r in results if not r.ok] == [ids[7]] and "FIELD_INTEGRITY_EXCEPTION" in results[7].error
        assert h.sb.stats()["bulk_jobs"] == 1 and h.server_calls("composite_update") == 0
        assert h.sb.record(ids[0])[h.tag] == "Enterprise"
    finally:
        h.close()


def test_salesforce_bulk_without_failures_downloads_no_result_files(rules_dir):
    h = Harness("salesforce", rules_dir, accounts=320)
    try:
        conn = h.connector(bulk_wait=0)
        ids = h.sb.ids()
        results = conn.capabilities.bulk_write.write_bulk([TagWrite(i, {h.tag: "SMB"}) for i in ids])
        assert [r.id for r in results] == ids and all(r.ok for r in results)
        assert h.server_calls("bulk_results") == 0
        assert all(h.sb.record(i)[h.tag] == "SMB" for i in ids[:5])
    finally:
        h.close()


def _stepping_clock(start: float):
    state = {"t": start}
    return state, (lambda: state["t"])


def test_hubspot_incremental_pages_past_the_search_cap(rules_dir):
    state, clock = _stepping_clock(time.time())
    h = Harness("hubspot", rules_dir, accounts=300, clock=clock, search_cap=50)
    try:
        ids = h.sb.ids()
        since = datetime.fromtimestamp(state["t"] + 1, UTC)
        touched = []
        for group in range(20):  # 20 distinct modification times, 7 records each: cap restarts mid-group
            state["t"] += 1 + group * 0.001
            batch = ids[group * 7 : (group + 1) * 7]
            h.sb.edit(touch=batch)
            touched += batch
        conn = h.connector(search_cap=50, search_limit=20)
        got = [r.id for r in conn.read(h.read_fields, since=since)]
        assert len(got) == len(set(got)) and sorted(got) == sorted(touched)
        assert h.sb.stats()["calls"]["by_status"].get("400", 0) == 0
        # over the cap at ONE modification time: falls back to a filtered list scan
        state["t"] += 5
        since2 = datetime.fromtimestamp(state["t"] - 0.5, UTC)
        same = ids[150:230]
        h.sb.edit(touch=same)
        got2 = [r.id for r in conn.read(h.read_fields, since=since2)]
        assert sorted(got2) == sorted(same) and len(got2) == len(set(got2))
    finally:
        h.close()


def test_hubspot_provisions_missing_tag_properties(rules_dir):
    from crmseg.sandbox import SandboxServer

    h = Harness("hubspot", rules_dir, accounts=5)
    h.sb.stop()
    h.sb = SandboxServer("hubspot", accounts=5, mapping=h.mapping, rules_dir=rules_dir, create_tags=False).start()
    try:
        conn = h.connector()
        assert check_mapping(conn, h.mapping, DIMENSIONS, scores=SCORES)  # tags missing
        created = conn.provision(DIMENSIONS, scores=SCORES)
        assert set(created) == {h.tag, h.score_tag, h.mapping.pin_field}
        schema = conn.schema()
        assert schema[h.tag].options == ["Enterprise", "Mid-Market", "SMB"] and schema[h.tag].extra["group"] == "crmseg"
        assert schema[h.score_tag].type == "number" and schema[h.mapping.pin_field].extra["kind"] == "bool"
        wider = {**DIMENSIONS, "segment": ["Enterprise", "Mid-Market", "SMB", "Startup"]}
        assert conn.provision(wider, scores=SCORES) == [h.tag]  # adds the missing option to our property
        assert conn.schema()[h.tag].options[-1] == "Startup"
        assert check_mapping(conn, h.mapping, DIMENSIONS, scores=SCORES) == []
        assert conn.provision(wider, scores=SCORES) == []  # idempotent
    finally:
        h.close()


def test_hubspot_rate_headers_and_search_throttle_avoid_429s(rules_dir):
    h = Harness(
        "hubspot", rules_dir, accounts=250, rate_limit=2, rate_window=0.3, search_rate_limit=5, search_window=1.0
    )
    try:
        policy = RetryPolicy(max_tries=4, base_delay=0.05, sleep=time.sleep)
        conn = h.connector(policy=policy, search_limit=50, search_interval=0.25)
        conn._schema = {}  # skip the schema call: measure paging only
        assert len(list(conn.read(h.read_fields))) == 250  # 3 list pages against 2 calls / 0.3 s
        since = datetime.now(UTC)
        time.sleep(0.002)
        h.sb.edit(touch=h.sb.ids()[:240])
        assert len(list(conn.read(h.read_fields, since=since))) == 240  # 5 searches against 5 / s
        assert h.sb.stats()["rate_limited"] == 0 and conn.gate.waited > 0
    finally:
        h.close()


def test_salesforce_jwt_bearer_login_against_the_sandbox(rules_dir, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    h = Harness("salesforce", rules_dir, accounts=10, jwt_public_key=public)
    try:
        env = {**h.sb.env(), "SF_PRIVATE_KEY_FILE": str(tmp_path / "key.pem")}
        conn = h.connector(env=env, cfg={"auth": "jwt"})
        assert len(list(conn.read(h.read_fields))) == 10
        assert h.server_calls("oauth_token") == 1
    finally:
        h.close()


@pytest.mark.parametrize("refusal", ["invalid option", "deleted id"])
def test_hubspot_whole_batch_rejection_is_bisected_to_the_bad_records(refusal):
    """Real HubSpot may refuse a whole batch for one input (400 VALIDATION_ERROR for a bad
    value, 404 OBJECT_NOT_FOUND for a deleted id) instead of a 207 naming it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from crmseg.config import Mapping
    from crmseg.connectors.hubspot import HubSpotConnector
    from tests.connector_fixtures import hs_cfg

    seen: list[list[str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            inputs = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"]
            seen.append([i["id"] for i in inputs])
            bad = [i["id"] for i in inputs if i["properties"]["crmseg_segment"] == "Nope"]
            if bad and refusal == "invalid option":
                status, body = (
                    400,
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "correlationId": "x",
                        "message": 'Property values were not valid: [{"error":"INVALID_OPTION"}]',
                    },
                )
            elif bad:
                status, body = (
                    404,
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "correlationId": "x",
                        "message": "Could not get some COMPANY objects, they may be deleted or not exist.",
                    },
                )
            else:
                status, body = (
                    200,
                    {"status": "COMPLETE", "results": [{"id": i["id"], "properties": {}} for i in inputs]},
                )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        conn = HubSpotConnector(
            hs_cfg(f"http://127.0.0.1:{srv.server_port}"),
            Mapping(object="companies"),
            {"HUBSPOT_ACCESS_TOKEN": "pat-x"},
            policy=no_wait_policy(),
        )
        writes = [TagWrite(str(i), {"crmseg_segment": "Nope" if i in (2, 5) else "SMB"}) for i in range(8)]
        results = conn.write(writes)
        assert [r.ok for r in results] == [i not in (2, 5) for i in range(8)]
        assert ("INVALID_OPTION" if refusal == "invalid option" else "OBJECT_NOT_FOUND") in results[2].error
        assert is_permanent(results[2].error) and is_permanent(results[5].error)  # kept apart, not retried
        assert seen[0] == [str(i) for i in range(8)] and len(seen) < 16
    finally:
        srv.shutdown()
        srv.server_close()


def test_factory_opens_every_connector_kind(tmp_path, rules_dir):
    from crmseg.config import FileSync, Mapping
    from crmseg.connectors.factory import open_connector
    from crmseg.connectors.hubspot import HubSpotConnector
    from crmseg.connectors.salesforce import SalesforceConnector
    from tests.connector_fixtures import SF_ENV, hs_cfg, sf_cfg, sf_mapping

    (tmp_path / "a.csv").write_text("id,name\n1,Acme\n2,Globex\n", encoding="utf-8")
    files = open_connector(FileSync(connector="csv", path=str(tmp_path / "a.csv")), Mapping())
    assert [r.id for r in files.read(["name"])] == ["1", "2"]
    relative = open_connector(FileSync(connector="csv", path="a.csv"), Mapping(), base_dir=tmp_path)
    assert len(list(relative.read([]))) == 2
    assert isinstance(open_connector(sf_cfg(), sf_mapping(), SF_ENV), SalesforceConnector)
    assert isinstance(
        open_connector(hs_cfg("http://127.0.0.1:9"), Mapping(object="companies"), {"HUBSPOT_ACCESS_TOKEN": "pat-x"}),
        HubSpotConnector,
    )
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN"):
        open_connector(hs_cfg("http://127.0.0.1:9"), Mapping(object="companies"), {})
    with pytest.raises(ConfigError, match="unknown connector"):
        open_connector(object(), Mapping())
