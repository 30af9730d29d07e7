"""Zoho CRM specifics beyond the contract suite (tests/test_connector_contract.py::TestZoho: paging
past 2,000 records by page token, incremental reads with deletions), over real HTTP to the
sandbox: paging past a page-token walk's reach by modification time, the refresh-token grant (cached,
renewed before the hour runs out, refused), API credits from the header or counted, triggers,
pick-list values checked before sending, the config's URLs and secrets."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from crmseg.config import ZohoSync
from crmseg.connectors.zoho import ZohoConnector
from crmseg.connectors.zoho_auth import RENEW_BEFORE, TokenCache, ZohoTokens
from crmseg.connectors.zoho_bulk import api_value, bulk_wait, download
from crmseg.connectors.zoho_values import wire_value
from crmseg.errors import AuthRefusedError, ConfigError, CrmUnavailableError, FatalError
from crmseg.model import SchemaField, TagWrite
from crmseg.sync.decide import is_permanent
from tests.connector_fixtures import Harness, write_rules


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_rules(tmp_path_factory.mktemp("rules"))


@pytest.fixture
def h(rules_dir: str):
    harness = Harness("zoho", rules_dir, accounts=60)
    yield harness
    harness.close()


def test_past_the_page_token_reach_the_read_goes_on_by_modification_time(rules_dir):
    h = Harness("zoho", rules_dir, accounts=700, zoho_page_limit=100, zoho_token_limit=300)
    try:
        conn = h.connector(page_limit=100, token_limit=300, cfg={"page_size": 50})
        conn.schema()
        same_second = h.ids()[100:160]
        h.touch(same_second)  # 60 records at one time: a walk can stop among them
        ids = [r.id for r in conn.read(h.read_fields)]
        assert len(ids) == len(set(ids)) and sorted(ids) == sorted(h.ids())
        assert h.sb.stats()["calls"]["by_status"].get("400", 0) == 0
        assert conn.calls_by_kind["query"] > math.ceil(700 / 50)  # the restarts re-read a boundary second
    finally:
        h.close()


def test_a_smaller_page_size_pages_at_most_ten_pages_then_goes_on_by_page_token(rules_dir):
    h = Harness("zoho", rules_dir, accounts=700)
    try:
        conn = h.connector(cfg={"page_size": 50})
        ids = [r.id for r in conn.read(h.read_fields)]
        assert sorted(ids) == sorted(h.ids())
        calls = h.sb.stats()["calls"]["by_endpoint"]
        assert calls["records_page"] == 10 and calls["records_token"] == 4  # "page (1-10)", then tokens
    finally:
        h.close()


def test_more_records_in_one_second_than_a_walk_reaches_stop_the_read(rules_dir):
    h = Harness("zoho", rules_dir, accounts=80, zoho_page_limit=20, zoho_token_limit=40)
    try:
        conn = h.connector(page_limit=20, token_limit=40, cfg={"page_size": 10})
        conn.schema()
        since = datetime.now(UTC)
        h.touch(h.ids()[:60])
        with pytest.raises(FatalError, match="share one Modified_Time"):
            list(conn.read(h.read_fields, since=since))
    finally:
        h.close()


def test_records_read_as_the_mapping_expects(h):
    conn = h.connector()
    rec = next(iter(conn.read(["id", "Owner", "Tech_Stack", "Modified_Time", "Employees"])))
    assert rec.fields["id"] == rec.id and rec.fields["Owner"].isdigit()  # a lookup reads as its id
    assert isinstance(rec.fields["Tech_Stack"], list)
    with pytest.raises(ConfigError, match=r"field\(s\) Nope not found on Accounts"):
        list(conn.read(["Nope"]))
    many = ZohoConnector(
        ZohoSync(connector="zoho", name="z", accounts_url=h.sb.url),
        h.mapping,
        h.sb.env(),
        token_cache=h.token_cache,
    )
    many._schema = {f"F{i}": SchemaField(f"F{i}", "text") for i in range(60)}
    with pytest.raises(ConfigError, match="at most 50"):
        list(many.read([f"F{i}" for i in range(60)]))


def test_one_token_for_the_connectors_sharing_a_cache_renewed_before_the_hour_runs_out(h):
    first, second = h.connector(), h.connector()
    list(first.read(h.read_fields))
    list(second.read(h.read_fields))
    assert h.sb.stats()["logins"] == 1
    h.token_cache.expires = time.time() + RENEW_BEFORE - 5  # minutes before the hour runs out
    list(second.read(h.read_fields))
    assert h.sb.stats()["logins"] == 2 and second.calls_by_kind["token"] == 1
    assert h.sb.stats()["calls"]["by_status"].get("401", 0) == 0  # renewed before Zoho refused it


def test_the_access_token_is_redacted_by_every_connector_sharing_it(h):
    first, second = h.connector(), h.connector()
    first.schema()
    second.schema()  # the cached token: no grant, but its redactor must know it too
    token = h.token_cache.token
    assert token and h.sb.stats()["logins"] == 1
    assert (
        first.policy.redact(f"sent {token} to zoho")
        == "sent *** to zoho"
        == second.policy.redact(f"sent {token} to zoho")
    )


def test_a_token_refused_again_after_renewing_once_gives_up(h):
    h.sb.configure(zoho_token_lifetime=0)
    conn = h.connector()
    with pytest.raises(CrmUnavailableError, match="re-authenticating once"):
        conn.schema()
    assert conn.calls_by_kind["token"] == 2 and h.sb.stats()["calls"]["by_status"]["401"] == 2


class _QueryOnlyAccounts(BaseHTTPRequestHandler):
    """An accounts server that reads the refresh grant where Zoho documents it: the query string."""

    seen: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        self.seen.append((query, body))
        wanted = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt"}
        if urlsplit(self.path).path == "/oauth/v2/token" and query == wanted:
            answer = {"access_token": "1000.granted", "api_domain": "https://www.zohoapis.com", "expires_in": 3600}
        else:
            answer = {"error": "invalid_client"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def query_only_accounts() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QueryOnlyAccounts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _QueryOnlyAccounts.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_refresh_grant_sends_its_parameters_as_documented_query_parameters(query_only_accounts):
    secrets: list[str] = []
    tokens = ZohoTokens(
        accounts_url=query_only_accounts,
        client_id_env="ID",
        client_secret_env="SECRET",
        refresh_token_env="REFRESH",
        env={"ID": "cid", "SECRET": "csecret", "REFRESH": "rt"},
        timeout=10.0,
        on_call=lambda: None,
        secrets=lambda *s: secrets.extend(s),
        cache=TokenCache(),
    )
    try:
        assert tokens.token() == "1000.granted" and tokens.api_domain == "https://www.zohoapis.com"
    finally:
        tokens.close()
    [(query, body)] = _QueryOnlyAccounts.seen
    assert query["grant_type"] == "refresh_token" and body == b""
    assert {"csecret", "rt", "1000.granted"} <= set(secrets)  # every secret the URL carries is redacted


def test_a_refused_refresh_token_names_where_it_came_from_never_its_value(h, caplog):
    env = {**h.sb.env(), "ZOHO_REFRESH_TOKEN": "1000.revoked0secret0value"}
    caplog.set_level(logging.DEBUG)
    conn = h.connector(env=env, token_cache=TokenCache())
    with pytest.raises(AuthRefusedError) as err:
        conn.schema()
    text = str(err.value)
    assert "ZOHO_REFRESH_TOKEN" in text and "invalid_code" in text
    assert "revoked0secret0value" not in text + caplog.text
    assert conn.policy.sleep.calls == []  # never retried
    with pytest.raises(ConfigError, match="ZOHO_CLIENT_SECRET"):
        h.connector(env={k: v for k, v in h.sb.env().items() if k != "ZOHO_CLIENT_SECRET"})


def test_api_remaining_from_the_header_past_half_else_counted(rules_dir):
    h = Harness("zoho", rules_dir, accounts=30, daily_limit=20)
    try:
        conn = h.connector()
        limits = conn.capabilities.api_limits
        assert limits.api_remaining is None  # nothing answered yet
        conn.schema()
        assert limits.api_remaining == (19, 20) and conn.credits_left is None  # counted: under half used
        conn.write([TagWrite(i, {h.tag: "SMB"}) for i in h.ids()[:30]])  # 30 records: 3 credits
        for _ in range(6):
            list(conn.read(h.read_fields))
        used = h.sb.stats()["api_usage"]["used"]
        assert used == 1 + 3 + 6 and conn.credits_left == 20 - used == limits.api_remaining[0]
    finally:
        h.close()


def test_updates_fire_no_automation_unless_configured(h):
    ids = h.ids()
    assert all(r.ok for r in h.connector().write([TagWrite(i, {h.tag: "SMB"}) for i in ids[:3]]))
    assert h.sb.stats()["triggers"] == {"none": 3}
    conn = h.connector(cfg={"triggers": ["workflow"]})
    assert all(r.ok for r in conn.write([TagWrite(ids[3], {h.tag: "SMB"})]))
    assert h.sb.stats()["triggers"] == {"workflow": 1, "none": 3}


def test_a_label_the_pick_list_lacks_fails_before_sending_and_is_permanent(h):
    conn = h.connector()
    ids = h.ids()
    results = conn.write([TagWrite(ids[0], {h.tag: "Startup"}), TagWrite(ids[1], {h.tag: "SMB"})])
    assert [r.ok for r in results] == [False, True]
    assert results[0].error.startswith("INVALID_DATA: 'Startup' is no value of the pick list crmseg_segment")
    assert is_permanent(results[0].error)
    assert h.sb.stats()["records_written"] == 1 and h.sb.stats()["records_failed"] == 0  # never sent
    h.sb.store.set_deleted([ids[2]], True, h.sb.app.write_ms())
    gone = conn.write([TagWrite(ids[2], {h.tag: "SMB"})])[0]
    assert not gone.ok and gone.error.startswith("INVALID_DATA: the id given seems to be invalid (field id)")
    assert is_permanent(gone.error)


def test_wire_values():
    pick = SchemaField("P", "picklist", options=["A", "B"], extra={"kind": "picklist"})
    number = SchemaField("N", "double", extra={"kind": "number"})
    text = SchemaField("T", "text", extra={"kind": "text"})
    assert wire_value(pick, "A") == "A" and wire_value(pick, None) is None and wire_value(pick, "") is None
    assert wire_value(number, 42) == 42 and wire_value(number, "4.5") == 4.5 and wire_value(text, 7) == "7"
    with pytest.raises(ValueError, match="INVALID_DATA: 'C' is no value"):
        wire_value(pick, "C")


def test_bulk_read_csv_cells_as_the_rest_api_answers_them():
    def field(data_type: str) -> SchemaField:
        return SchemaField("F", data_type)

    assert api_value(field("integer"), "42") == 42 and api_value(field("integer"), "n/a") == "n/a"
    assert api_value(field("currency"), "1200.50") == 1200.5 and api_value(field("bigint"), "5725767") == "5725767"
    assert api_value(field("boolean"), "true") is True and api_value(field("boolean"), "FALSE") is False
    assert (
        api_value(field("multiselectpicklist"), "A;B") == ["A", "B"]
        and api_value(field("multiselectpicklist"), "") == []
    )
    assert api_value(field("text"), "") is None and api_value(None, "x") == "x"
    assert api_value(field("datetime"), "2026-01-02T03:04:05+05:30") == "2026-01-02T03:04:05+05:30"


def test_a_failed_bulk_job_stops_the_read_and_a_download_off_the_api_domain_is_refused(h):
    conn = h.connector(bulk_wait=0)
    failed = {"data": [{"id": "7", "state": "FAILURE"}]}  # the job's status answer
    calls = dataclasses.replace(conn._bulk_calls(), get=lambda *args, **kw: failed)
    with pytest.raises(FatalError, match="job 7: the job failed in Zoho"):
        bulk_wait(calls, "7", "zoho Accounts bulk read job 7")
    with pytest.raises(FatalError, match="is not on the API domain"):
        download(calls, {"download_url": "https://files.example.com/7.zip"}, io.BytesIO(), "job 7")
    assert "bulk_read_result" not in h.sb.stats()["calls"]["by_endpoint"]


def test_config_urls_and_the_api_domain_named_with_the_token(h):
    with pytest.raises(ValueError, match="plain http://"):
        ZohoSync(connector="zoho", name="z", accounts_url="http://accounts.example.com")
    with pytest.raises(ValueError, match="plain http://"):
        ZohoSync(connector="zoho", name="z", api_domain="http://www.zohoapis.example")
    assert ZohoSync(connector="zoho", name="z").accounts_url == "https://accounts.zoho.com"
    conn = h.connector()
    assert conn.base == f"{h.sb.url}/crm/v8"  # the accounts server named the sandbox
    h.token_cache.api_domain = "http://crm.example.com"
    with pytest.raises(FatalError, match="plain http://"):
        _ = conn.base
    pinned = h.connector(cfg={"api_domain": h.sb.url})
    assert pinned.base == f"{h.sb.url}/crm/v8"


def test_written_sandbox_config_opens_a_connector_that_reads(h, tmp_path: Path):
    from crmseg.config import load_config, load_mapping
    from crmseg.connectors.factory import open_connector
    from crmseg.sandbox import write_sandbox_config

    cfg = load_config(write_sandbox_config(h.sb, tmp_path / "zoho.toml"))
    sync = next(iter(cfg.syncs.values()))
    assert isinstance(sync, ZohoSync) and sync.api_credits == h.sb.options.daily_limit
    conn = open_connector(sync, load_mapping(h.sb.mapping.path), h.sb.env(), token_cache=h.token_cache)
    assert len(list(conn.read(["Account_Name"]))) == 60


def test_the_commented_zoho_entry_of_config_example_is_a_valid_sync() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    block = (root / "config.example.toml").read_text(encoding="utf-8").split("# [syncs.zoho]")[1]
    lines = block.strip().split("\n\n")[0].splitlines()
    sync = ZohoSync(name="zoho", **tomllib.loads("\n".join(line.removeprefix("# ") for line in lines)))
    assert sync.mapping == "connectors/zoho.toml" and sync.triggers == [] and sync.api_credits == 50_000
