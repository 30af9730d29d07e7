"""One contract every connector passes (``tests/connector_contract.py``): the CRM connectors
through the real client libraries over real HTTP to the local sandbox (crmseg.sandbox) --
paging, incremental reads, batched writes with partial failure, every fault kind, schema
checks, minimal call counts -- and the file connector (CSV and JSONL) on files; then each
vendor's specifics."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crmseg.connectors.retry import RetryPolicy
from crmseg.connectors.schema_check import check_mapping
from crmseg.errors import ConfigError
from crmseg.model import TagWrite
from crmseg.sync.decide import is_permanent
from tests.connector_contract import ConnectorContract, SandboxContract
from tests.connector_fixtures import (
    DIMENSIONS,
    SCORES,
    ContractHarness,
    FileHarness,
    Harness,
    no_wait_policy,
    write_rules,
)

pytest.importorskip("crmseg.sandbox")


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory):
    return write_rules(tmp_path_factory.mktemp("rules"))


def ready(h: Harness, **kw):
    """A connector that has already fetched the schema (as the pipeline's check does)."""
    conn = h.connector(**kw)
    conn.schema()
    return conn


# ------------------------------------------------------------------ the contract, per connector
class TestSalesforce(SandboxContract):
    name = "salesforce"
    crm = "salesforce"
    claims = frozenset({"incremental", "bulk_write", "api_limits", "object_schema", "identity", "deals"})
    object_name = "Account"
    bogus_field = "Bogus_Field__c"
    bulk_options = {"bulk_wait": 0}  # noqa: RUF012 - a hook read, never mutated


class TestHubSpot(SandboxContract):
    name = "hubspot"
    crm = "hubspot"
    claims = frozenset({"incremental", "provision", "api_limits", "object_schema", "identity", "deals"})
    object_name = "companies"


class TestDynamics(SandboxContract):
    name = "dynamics"
    crm = "dynamics"
    claims = frozenset(
        {"incremental", "change_tracking", "api_limits", "object_schema", "identity", "deals", "provision_steps"}
    )
    object_name = "account"
    bogus_field = "new_bogus"
    daily_limit = False


class TestZoho(SandboxContract):
    name = "zoho"
    crm = "zoho"
    claims = frozenset({"incremental", "deletions", "bulk_read", "api_limits", "object_schema", "identity", "deals"})
    object_name = "Accounts"
    bogus_field = "Bogus_Field"
    retry_after = False  # Zoho documents no Retry-After: the connector backs off
    bulk_options = {"bulk_wait": 0}  # noqa: RUF012 - a hook read, never mutated

    def test_a_bulk_read_past_one_job_goes_on_by_page_token(self, rules_dir):
        h = Harness("zoho", rules_dir, accounts=450, zoho_bulk_page=200, bulk_polls=0)
        try:
            conn = ready(h, bulk_wait=0)
            ids = [r.id for r in conn.capabilities.bulk_read.read_bulk(h.read_fields)]
            assert len(ids) == len(set(ids)) and sorted(ids) == sorted(h.ids())
            calls = h.sb.stats()["calls"]["by_endpoint"]
            assert calls["bulk_read_create"] == calls["bulk_read_status"] == calls["bulk_read_result"] == 3
            jobs = list(h.sb.app.bulk.jobs.values())
            assert [j.query.get("page") for j in jobs] == [1, None, None] and all(j.after for j in jobs[1:])
            assert h.sb.stats()["api_usage"]["used"] == conn.credits_spent == 1 + 3 * (50 + 1 + 1)
        finally:
            h.close()

    def test_a_read_pages_past_2000_records_by_page_token(self, rules_dir):
        h = Harness("zoho", rules_dir, accounts=2_450)
        try:
            conn = ready(h)
            ids = [r.id for r in conn.read(h.read_fields)]
            assert len(ids) == len(set(ids)) and sorted(ids) == sorted(h.ids())
            calls = h.sb.stats()["calls"]["by_endpoint"]
            assert calls["records_page"] == 10 and calls["records_token"] == 3  # 2,000 by page, the rest by token
            assert conn.calls_by_kind["query"] == math.ceil(2_450 / 200)
            assert h.sb.stats()["calls"]["by_status"].get("400", 0) == 0
        finally:
            h.close()

    def test_incremental_read_with_deletions(self, rules_dir):
        h = Harness("zoho", rules_dir, accounts=60)
        try:
            conn = ready(h)
            since = datetime.now(UTC)
            assert list(conn.read(h.read_fields, since=since + timedelta(hours=1))) == []  # 304: one call
            assert conn.calls_by_kind["query"] == 1 and h.sb.stats()["calls"]["by_status"]["304"] == 1
            ids = h.ids()
            h.touch(ids[5:9])
            h.sb.store.set_deleted(ids[20:23], True, h.sb.app.write_ms())
            assert sorted(r.id for r in conn.read(h.read_fields, since=since)) == sorted(ids[5:9])
            gone = list(conn.read_deleted(since))
            assert sorted(d.id for d in gone) == sorted(ids[20:23])
            assert all(d.deleted_at and abs(d.deleted_at - datetime.now(UTC)) < timedelta(seconds=5) for d in gone)
            assert h.sb.stats()["api_usage"]["used"] == conn.credits_spent  # the deleted ids cost 2 a page, both count
            assert len(list(conn.read(h.read_fields))) == len(ids) - 3  # a full read leaves the deleted out
        finally:
            h.close()


class FileContract(ConnectorContract):
    kind: str
    writes = False
    claims = frozenset({"incremental", "skipped_rows", "passthrough", "identity"})

    def make_harness(self, tmp: Path, rules_dir: str, accounts: int, **fake: Any) -> ContractHarness:
        return FileHarness(self.kind, tmp, accounts)


class TestCsvFile(FileContract):
    name = "csv file"
    kind = "csv"
    claims = FileContract.claims | {"row_lists"}


class TestJsonlFile(FileContract):
    name = "jsonl file"
    kind = "jsonl"


# ------------------------------------------------------------------ vendor specifics
def test_salesforce_tracks_api_usage(rules_dir):
    h = Harness("salesforce", rules_dir, accounts=20, daily_limit=5000)
    try:
        conn = ready(h)
        list(conn.read(h.read_fields))
        usage = h.sb.stats()["api_usage"]
        assert conn.api_usage == (usage["used"], usage["max"]) == (2, 5000)
    finally:
        h.close()


def test_salesforce_read_of_an_unknown_field_fails_before_querying(rules_dir):
    h = Harness("salesforce", rules_dir, accounts=5)
    try:
        with pytest.raises(ConfigError, match="field Nope__c not found on Account"):
            list(h.connector().read(["Name", "Nope__c"]))
        assert h.server_calls("query") == 0
    finally:
        h.close()


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


def test_hubspot_incremental_pages_past_the_search_cap_reading_each_record_once(rules_dir):
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
        conn._schema = {}  # skip the schema call: count searches only
        got = [r.id for r in conn.read(h.read_fields, since=since)]
        assert len(got) == len(set(got)) and sorted(got) == sorted(touched)
        assert h.sb.stats()["calls"]["by_status"].get("400", 0) == 0
        # each query takes two pages of 20 (a third would pass the cap of 50) and the next starts
        # right after the last record read: the floor, no record read twice
        assert conn.calls_by_kind["search"] == math.ceil(140 / 20) == h.server_calls("search")
        # over the cap at ONE modification time: the next query pages on by hs_object_id
        state["t"] += 5
        since2 = datetime.fromtimestamp(state["t"] - 0.5, UTC)
        same = ids[150:230]
        h.sb.edit(touch=same)
        h.sb.reset_stats()
        got2 = [r.id for r in conn.read(h.read_fields, since=since2)]
        assert got2 == sorted(same, key=int)  # each once, in id order within the shared time
        assert h.server_calls("search") == math.ceil(80 / 20) and h.server_calls("list") == 0
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
