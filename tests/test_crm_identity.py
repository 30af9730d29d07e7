"""A sync's state belongs to one CRM: the identity each connector reports (as the vendors
expose it, through the sandboxes), the check before every read, the adoption by an older
state, ``crmseg state reset`` and ``status --json``."""

from __future__ import annotations

import json
import sqlite3

import pytest

from crmseg.connectors.base import Capabilities, CrmIdentity
from crmseg.connectors.hubspot_values import portal_identity
from crmseg.connectors.salesforce_auth import org_from_id_url, org_id15
from crmseg.errors import FatalError
from crmseg.sandbox import SandboxServer
from crmseg.state.migrations import MIGRATIONS, VERSION
from crmseg.state.sqlite import SqliteStore
from crmseg.state.store import SyncState
from crmseg.sync.identity import CrmMismatch, bind, stored_identity

from .cli_run import ROOT
from .sync_env import SyncEnv

CRMS = ("salesforce", "hubspot", "zoho")
N = 60
OTHER = {
    "salesforce": {"org_id": "00DAb0000000777"},
    "hubspot": {"portal_id": 777},
    "zoho": {"zoho_org_id": "868000000777"},
}


# ------------------------------------------------------------------ parsing what the vendors answer
@pytest.mark.parametrize(
    ("url", "org"),
    [
        ("https://login.salesforce.com/id/00Dx0000000BV7zEAG/005x00000012Q9PAAU", "00Dx0000000BV7z"),
        ("https://test.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P", "00Dx0000000BV7z"),
        ("http://127.0.0.1:8123/id/00DSb0000000001AAA/005Sb0000000001AAA", "00DSb0000000001"),
        ("https://login.salesforce.com/id/001x0000000BV7z/005x00000012Q9P", None),  # an account id, not an org
        ("https://login.salesforce.com/services/oauth2/userinfo", None),
        ("https://login.salesforce.com/id/00Dx0000000BV7z", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_the_org_id_is_read_from_the_token_answers_identity_url(url, org):
    assert org_from_id_url(url) == org


def test_an_org_id_compares_in_its_15_character_form():
    assert org_id15("00Dx0000000BV7zEAG") == org_id15("00Dx0000000BV7z") == "00Dx0000000BV7z"
    assert org_id15("00Dx0000000BV7zE") is None and org_id15(None) is None and org_id15("005x00000012Q9P") is None


def test_the_portal_id_is_read_from_account_info():
    ident = portal_identity({"portalId": 62515, "uiDomain": "app-eu1.hubspot.com", "timeZone": "Europe/Berlin"})
    assert ident == CrmIdentity("hubspot", "62515", "app-eu1.hubspot.com")
    assert ident.key == "hubspot:62515" and ident.describe() == "hubspot portal 62515 (app-eu1.hubspot.com)"
    assert portal_identity({"portalId": "62515"}).key == "hubspot:62515"
    for bad in ({}, {"portalId": None}, {"portalId": True}, {"portalId": "abc"}, {"portalId": -3}):
        with pytest.raises(FatalError, match="no portalId"):
            portal_identity(bad)


# ------------------------------------------------------------------ the sandboxes answer like the vendors
def _connector(sb: SandboxServer, **cfg: object):
    from crmseg.config import HubSpotSync, SalesforceSync
    from crmseg.connectors.factory import open_connector

    if sb.crm == "salesforce":
        sync = SalesforceSync(connector="salesforce", instance_url=sb.url, name="sf", **cfg)
    else:
        sync = HubSpotSync(connector="hubspot", host=sb.url, name="hs", **cfg)
    return open_connector(sync, sb.mapping, sb.env())


@pytest.mark.parametrize(("auth", "queries"), [("client_credentials", 0), ("password", 1), ("session", 1)])
def test_salesforce_identity_per_auth_flow_costs_at_most_one_counted_call(auth, queries):
    with SandboxServer("salesforce", accounts=3, org_id="00DAb0000000777") as sb:
        conn = _connector(sb, auth=auth)
        try:
            conn.schema()  # logged in, as the mapping check before a run is
            before = conn.calls
            ident = conn.capabilities.identity.crm_identity()
            assert ident.key == "salesforce:00DAb0000000777" and ident.where == sb.url
            assert conn.calls - before == queries  # the token's ``id`` URL needs no call; the others one query
            assert conn.calls_by_kind["identity"] == queries
            assert conn.capabilities.identity.crm_identity() is ident and conn.calls - before == queries
            assert sb.stats()["calls"]["by_endpoint"].get("query", 0) == queries
        finally:
            conn.close()


def test_hubspot_identity_is_one_counted_account_info_call():
    with SandboxServer("hubspot", accounts=3, portal_id=777) as sb:
        conn = _connector(sb)
        try:
            ident = conn.capabilities.identity.crm_identity()
            assert ident == CrmIdentity("hubspot", "777", "app.hubspot.com")
            assert conn.capabilities.identity.crm_identity() is ident
            assert conn.calls == 1 and sb.stats()["calls"]["by_endpoint"] == {"account_info": 1}
        finally:
            conn.close()


def test_the_salesforce_sandbox_names_its_org_in_the_token_userinfo_and_organization():
    import requests

    with SandboxServer("salesforce", accounts=1, org_id="00DAb0000000777") as sb:
        creds = sb.options.credentials
        token = requests.post(
            f"{sb.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(creds.consumer_key, creds.consumer_secret),
            timeout=10,
        ).json()
        assert org_from_id_url(token["id"]) == "00DAb0000000777"
        head = {"Authorization": f"Bearer {token['access_token']}"}
        info = requests.get(f"{sb.url}/services/oauth2/userinfo", headers=head, timeout=10).json()
        assert org_id15(info["organization_id"]) == "00DAb0000000777" and info["sub"] == token["id"]
        assert requests.get(f"{sb.url}/services/oauth2/userinfo", timeout=10).status_code == 403
        ver = sb.options.api_version
        org = requests.get(
            f"{sb.url}/services/data/v{ver}/query",
            params={"q": "SELECT Id, IsSandbox FROM Organization"},
            headers=head,
            timeout=10,
        )
        assert org.status_code == 200 and org.headers["Sforce-Limit-Info"].startswith("api-usage=")
        (row,) = org.json()["records"]
        assert org_id15(row["Id"]) == "00DAb0000000777" and row["IsSandbox"] is True
        query = f"{sb.url}/services/data/v{ver}/query"
        bad = requests.get(query, params={"q": "SELECT Nope FROM Organization"}, headers=head, timeout=10)
        assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_sandbox_identities_have_stable_defaults_and_are_checked():
    with SandboxServer("salesforce", accounts=1) as a, SandboxServer("salesforce", accounts=1) as b:
        assert a.options.org_id == b.options.org_id
    with pytest.raises(ValueError, match="org_id"):
        SandboxServer("salesforce", org_id="001Ab0000000777")
    with pytest.raises(ValueError, match="portal_id"):
        SandboxServer("hubspot", portal_id=0)


# ------------------------------------------------------------------ binding a state
class _Named:
    def __init__(self, ident: CrmIdentity) -> None:
        self.ident = ident

    def crm_identity(self) -> CrmIdentity:
        return self.ident


def _caps(kind: str, ident: str, where: str = "") -> Capabilities:
    return Capabilities(identity=_Named(CrmIdentity(kind, ident, where)))


def test_the_first_run_binds_later_runs_check(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite")
    try:
        assert bind(store, "demo", store.sync_state("demo"), _caps("hubspot", "1", "app.hubspot.com"), False) is None
        state = store.sync_state("demo")
        assert stored_identity(state) == CrmIdentity("hubspot", "1", "app.hubspot.com")
        assert bind(store, "demo", state, _caps("hubspot", "1", "app.hubspot.com"), True) is None
        with pytest.raises(CrmMismatch) as info:
            bind(store, "demo", state, _caps("hubspot", "2", "app-eu1.hubspot.com"), True)
        text = str(info.value)
        assert "hubspot portal 1 (app.hubspot.com)" in text and "hubspot portal 2 (app-eu1.hubspot.com)" in text
        assert "crmseg state reset --sync demo" in text and info.value.exit_code == 2
        assert stored_identity(store.sync_state("demo")).id == "1"  # a mismatch changes nothing
        bind(store, "demo", state, _caps("hubspot", "1", "app-eu1.hubspot.com"), True)  # same portal, moved
        assert store.sync_state("demo").identity_where == "app-eu1.hubspot.com"
        assert bind(store, "other", SyncState(), Capabilities(), True) is None  # nothing to check with
        assert store.sync_state("other") == SyncState()
    finally:
        store.close()


def test_an_older_state_adopts_the_crm_and_says_so(tmp_path, caplog):
    store = SqliteStore(tmp_path / "s.sqlite")
    try:
        note = bind(store, "demo", SyncState(watermark="2026-11-01T00:00:00Z"), _caps("file", "/x/a.csv"), True)
        assert note is not None and "no CRM identity" in note and "file /x/a.csv" in note
        assert "no CRM identity" in caplog.text
        assert store.sync_state("demo").identity == "file:/x/a.csv"
    finally:
        store.close()


def test_a_version_2_state_file_is_migrated_and_keeps_its_copy(tmp_path):
    path = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:
        for stmt in migration:
            conn.execute(stmt.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", big="INTEGER"))
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
    conn.execute("INSERT INTO sync_state (sync, watermark, rules_fingerprint) VALUES ('demo', '2026-11-01', 'fp')")
    conn.execute("INSERT INTO accounts (sync, account, data, seen_run) VALUES ('demo', 'a', '{}', 1)")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == VERSION >= 3
        state = store.sync_state("demo")
        assert (state.watermark, state.rules_fingerprint, state.identity) == ("2026-11-01", "fp", None)
        assert store.account_count("demo") == 1
        store.bind_identity("demo", "salesforce:00DSb0000000001", "https://x")
        assert store.sync_state("demo").watermark == "2026-11-01"
    finally:
        store.close()


# ------------------------------------------------------------------ end to end: another CRM on the same port
def _replace_sandbox(env: SyncEnv, **identity: object) -> None:
    """Stop the env's sandbox and start another CRM on the same port (same seed: the same record ids)."""
    port = env.sb.port
    env.sb.stop()
    env.sb = SandboxServer(
        env.crm,
        port=port,
        accounts=N,
        mapping=ROOT / "connectors" / f"{env.crm}.toml",
        rules_dir=env.rules,
        rate_limit=1_000_000,
        search_rate_limit=1_000_000,
        **identity,
    ).start()


@pytest.mark.parametrize("crm", CRMS)
def test_a_sync_pointed_at_another_crm_stops_before_reading_or_writing(crm, tmp_path):
    env = SyncEnv(tmp_path, crm, N)
    try:
        first = env.sync()
        assert first.returncode == 0, first.output
        first_key = env.store().sync_state("sandbox").identity
        assert first_key is not None and first_key.startswith(f"{crm}:")

        _replace_sandbox(env, **OTHER[crm])
        second = env.sync()
        assert second.returncode == 2, second.output
        assert "belongs to" in second.output and "crmseg state reset --sync sandbox" in second.output
        new_id = str(next(iter(OTHER[crm].values())))
        assert first_key.split(":", 1)[1] in second.output and new_id in second.output
        stats = env.sb.stats()
        by = stats["calls"]["by_endpoint"]
        assert stats["write_endpoints"]["total"] == 0 and stats["records_written"] == 0
        reads = {"query", "query_more", "list", "search", "sobject_get", "get", "records_page", "records_token"}
        assert not reads & set(by), by
        runs = env.runs()
        assert runs[-1].status == "failed" and "crmseg state reset" in (runs[-1].message or "")
        assert runs[-1].counts["read"] == 0 and runs[-1].counts["written"] == 0

        status = json.loads(env.run("status", "--config", str(env.config), "--json").stdout)
        assert status["syncs"]["sandbox"]["crm_identity"]["id"] == first_key.split(":", 1)[1]

        reset = env.run("state", "reset", "--config", str(env.config), "--sync", "sandbox")
        assert reset.returncode == 0, reset.output
        assert "run history kept" in reset.stdout
        store = env.store()
        try:
            assert store.account_count("sandbox") == 0 and store.sync_state("sandbox") == SyncState()
            assert len(store.runs("sandbox")) == 2  # history kept
        finally:
            store.close()

        third = env.sync()
        assert third.returncode == 0, third.output
        assert env.runs()[-1].mode == "full" and env.runs()[-1].counts["read"] == N
        status = json.loads(env.run("status", "--config", str(env.config), "--json").stdout)
        assert status["syncs"]["sandbox"]["crm_identity"]["id"] == new_id
    finally:
        env.close()


def test_a_state_from_before_identities_adopts_the_crm_on_its_next_run(tmp_path):
    env = SyncEnv(tmp_path, "hubspot", N)
    try:
        assert env.sync().returncode == 0
        conn = sqlite3.connect(env.state_path)  # as an older crmseg left it: no identity recorded
        conn.execute("UPDATE sync_state SET crm_identity = NULL, crm_where = NULL")
        conn.commit()
        conn.close()
        again = env.sync()
        assert again.returncode == 0, again.output
        assert "no CRM identity (an older state); it now belongs to hubspot portal" in again.output
        assert env.store().sync_state("sandbox").identity == f"hubspot:{env.sb.options.portal_id}"
    finally:
        env.close()


def test_a_file_sync_is_bound_to_its_resolved_path(tmp_path):
    from .cli_run import crmseg

    data = tmp_path / "accounts.csv"
    data.write_text((ROOT / "examples" / "accounts.csv").read_text(encoding="utf-8"), encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[state]\npath = "state.sqlite"\n\n[syncs.file]\nconnector = "csv"\n'
        f'path = "accounts.csv"\nmapping = "{ROOT / "connectors" / "csv.toml"}"\nrules = "{ROOT / "rules"}"\n',
        encoding="utf-8",
    )
    first = crmseg("sync", "--config", str(cfg), "-q", cwd=tmp_path)
    if first.returncode not in (0, 1):
        pytest.fail(first.output)
    store = SqliteStore(tmp_path / "state.sqlite")
    try:
        assert store.sync_state("file").identity == f"file:{data.resolve()}"
    finally:
        store.close()
    moved = tmp_path / "other.csv"
    data.rename(moved)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('"accounts.csv"', '"other.csv"'), encoding="utf-8")
    second = crmseg("sync", "--config", str(cfg), "-q", cwd=tmp_path)
    assert second.returncode == 2 and f"file {data.resolve()}" in second.output, second.output


def test_the_daemon_refuses_another_crm_and_records_the_run_failed(tmp_path, daemon):
    env = SyncEnv(tmp_path, "salesforce", N)
    try:
        text = env.config.read_text(encoding="utf-8").replace('interval = "15m"', 'interval = "1s"')
        env.config.write_text(text.replace("[state]\n", '[state]\nlease = "20s"\n'), encoding="utf-8")
        d = daemon(env.config, env.env(), env.tmp)
        try:
            d.wait_for(lambda e: e.get("event") == "run" and e["status"] == "succeeded", timeout=60)
            _replace_sandbox(env, **OTHER["salesforce"])
            (refused,) = d.wait_for(
                lambda e: e.get("event") == "run" and e["status"] == "failed" and "belongs to" in (e["message"] or ""),
                timeout=60,
            )
            assert "crmseg state reset --sync sandbox" in refused["message"] and refused["read"] == 0
            assert d.stop() == 0
        finally:
            d.kill()
        stats = env.sb.stats()
        assert stats["write_endpoints"]["total"] == 0 and stats["records_written"] == 0
        assert not {"query", "query_more"} & set(stats["calls"]["by_endpoint"])
        last = env.runs()[-1]  # (a run while the port was closed may have failed otherwise)
        assert last.status == "failed" and "belongs to salesforce org 00DSb0000000001" in (last.message or "")
        assert last.counts["read"] == last.counts["written"] == 0
    finally:
        env.close()


def test_the_sandbox_command_refuses_a_malformed_identity():
    from crmseg.errors import ConfigError
    from crmseg.sandbox.cli import run_sandbox

    with pytest.raises(ConfigError, match="org_id must be 15 characters"):
        run_sandbox("salesforce", accounts_n=1, org_id="00Dshort")
