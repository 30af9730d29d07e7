"""Errors name what to fix: the environment variable whose credentials the CRM refused, or the
host:port that could not be reached; a refusal is never retried, a dead host fails in seconds.

End to end through ``crmseg sync`` (in-process) against the sandboxes, which answer as the
vendors document: HubSpot 401 ``INVALID_AUTHENTICATION``, Salesforce OAuth 400
``invalid_grant``/``invalid_client``, SOAP ``INVALID_LOGIN`` and REST 401 ``INVALID_SESSION_ID``."""

from __future__ import annotations

import socket
import time

import pytest
import requests
import urllib3

from crmseg.connectors.retry import Op, RetryPolicy, http_error, network_error
from crmseg.errors import AuthExpiredError, AuthRefusedError, CrmUnreachableError, RetriableError
from crmseg.sync.service import NOT_READ

from .cli_run import crmseg
from .sync_env import SyncEnv

OP = Op("hubspot", "companies", "list")
TOKEN = "hubspot access token"


@pytest.fixture
def hubspot(tmp_path):
    e = SyncEnv(tmp_path, "hubspot", 20)
    yield e
    e.close()


@pytest.fixture
def salesforce(tmp_path):
    e = SyncEnv(tmp_path, "salesforce", 20)
    yield e
    e.close()


def _set(env: SyncEnv, old: str, new: str) -> None:
    text = env.config.read_text(encoding="utf-8")
    assert old in text
    env.config.write_text(text.replace(old, new), encoding="utf-8")


def _refused(env: SyncEnv, extra_env: dict[str, str], secret: str) -> str:
    """Run a sync with ``extra_env``: it must exit 4 after exactly one CRM call, write nothing,
    keep nothing but the failed run, and never show ``secret``. Returns stderr."""
    env.sb.reset_stats()
    res = crmseg("sync", "--config", env.config, "-q", cwd=env.tmp, env={**env.sb.env(), **extra_env})
    assert res.returncode == 4, res.output
    assert "Traceback" not in res.stderr and secret not in res.output
    stats = env.sb.stats()
    assert stats["calls"]["total"] == 1, stats["calls"]  # refused credentials are not retried
    assert stats["write_calls"] == 0
    _only_the_failed_run(env, secret)
    return res.stderr


def _only_the_failed_run(env: SyncEnv, secret: str | None = None) -> None:
    """The state holds one run, failed before reading, and no account's tags."""
    store = env.store()
    try:
        runs = store.runs("sandbox")
        assert [(r.status, r.mode) for r in runs] == [("failed", NOT_READ)], runs
        assert secret is None or secret not in (runs[0].message or "")
        assert store.tag_records("sandbox") == []
    finally:
        store.close()


# ------------------------------------------------------------------ HubSpot
def test_a_wrong_hubspot_token_names_its_variable_and_is_not_retried(hubspot):
    wrong = "pat-na1-wrong-0000-secret"
    stderr = _refused(hubspot, {"HUBSPOT_ACCESS_TOKEN": wrong}, wrong)
    assert stderr.startswith(
        "error: HubSpot refused the access token in HUBSPOT_ACCESS_TOKEN (401 Unauthorized, INVALID_AUTHENTICATION)"
    ), stderr
    assert hubspot.sb.stats()["calls"]["by_status"] == {"401": 1}


def test_a_renamed_token_variable_is_the_one_named(hubspot):
    _set(hubspot, 'access_token_env = "HUBSPOT_ACCESS_TOKEN"', 'access_token_env = "ACME_HS_TOKEN"')
    wrong = "pat-na1-acme-wrong-secret"
    stderr = _refused(hubspot, {"ACME_HS_TOKEN": wrong}, wrong)
    assert "refused the access token in ACME_HS_TOKEN (401 Unauthorized" in stderr
    assert "HUBSPOT_ACCESS_TOKEN" not in stderr


# ------------------------------------------------------------------ Salesforce
def test_a_refused_salesforce_oauth_login_names_the_configured_variables(salesforce):
    _set(salesforce, 'consumer_secret_env = "SF_CONSUMER_SECRET"', 'consumer_secret_env = "ACME_SF_SECRET"')
    wrong = "wrong-consumer-secret-value"
    stderr = _refused(salesforce, {"ACME_SF_SECRET": wrong}, wrong)
    assert stderr.startswith(
        "error: Salesforce refused the client_credentials login with the credentials in SF_CONSUMER_KEY "
        "and ACME_SF_SECRET (invalid_client, invalid client credentials) at salesforce Account login"
    ), stderr
    assert salesforce.sb.stats()["calls"]["by_endpoint"] == {"oauth_token": 1}


def test_a_refused_salesforce_password_login_names_its_three_variables(salesforce):
    _set(salesforce, 'auth = "client_credentials"', 'auth = "password"')
    wrong = "wrong-password-value"
    stderr = _refused(salesforce, {"SF_PASSWORD": wrong}, wrong)
    assert (
        "Salesforce refused the password login with the credentials in SF_USERNAME, SF_PASSWORD and "
        "SF_SECURITY_TOKEN (INVALID_LOGIN, Invalid username, password, security token; or user locked out.)"
    ) in stderr, stderr


def test_a_refused_salesforce_session_id_names_its_variable(salesforce):
    _set(salesforce, 'auth = "client_credentials"', 'auth = "session"')
    wrong = "00DSANDBOX0000000!wrong-session"
    stderr = _refused(salesforce, {"SF_SESSION_ID": wrong}, wrong)
    assert "Salesforce refused the session id in SF_SESSION_ID (401 INVALID_SESSION_ID" in stderr, stderr


# ------------------------------------------------------------------ an unreachable CRM
def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_refused_connection_names_host_and_port_and_gives_up_in_seconds(tmp_path, crm):
    env = SyncEnv(tmp_path, crm, 5)
    try:
        port = _dead_port()
        _set(env, env.sb.url, f"http://127.0.0.1:{port}")
        started = time.monotonic()
        res = env.sync()
        took = time.monotonic() - started
    finally:
        env.close()
    assert res.returncode == 4, res.output
    assert f"cannot reach 127.0.0.1:{port} (connection refused) (gave up after 3 tries)" in res.stderr, res.stderr
    # three tries, at most 1 s apart: seconds, not the ordinary back-off's quarter minute
    assert took < 10, took


# ------------------------------------------------------------------ the one classification
@pytest.mark.parametrize(
    "status, code, kind",
    [
        (401, "INVALID_AUTHENTICATION", AuthRefusedError),
        (401, None, AuthRefusedError),
        (403, "MISSING_SCOPES", AuthRefusedError),
        (401, "EXPIRED_AUTHENTICATION", AuthExpiredError),
        (401, "INVALID_SESSION_ID", AuthExpiredError),
    ],
)
def test_401_is_a_refusal_unless_the_session_expired(status, code, kind):
    err = http_error(OP, status, code, "The app lacks scopes", None, f"the {TOKEN} in HS_TOKEN")
    assert type(err) is kind and err.status == status
    if kind is AuthRefusedError:
        assert str(err).startswith(f"HubSpot refused the {TOKEN} in HS_TOKEN ({status} ")
        assert err.exit_code == 4
        assert ("The app lacks scopes" in str(err)) == (status == 403)  # a 401's text adds nothing


def test_a_refusal_is_called_once_even_with_a_reauth():
    policy, calls, relogins = RetryPolicy(sleep=lambda s: None), [], []

    def call() -> None:
        calls.append(1)
        raise http_error(OP, 401, "INVALID_AUTHENTICATION", credential="the token in X")

    with pytest.raises(AuthRefusedError):
        policy.run(call, OP, reauth=lambda: relogins.append(1))
    assert calls == [1] and relogins == [] and policy.retries == 0


def test_network_errors_name_host_and_port():
    port = _dead_port()
    with pytest.raises(requests.ConnectionError) as ei:
        requests.get(f"http://127.0.0.1:{port}/x", timeout=5)
    err = network_error(OP, ei.value)
    assert isinstance(err, CrmUnreachableError)
    assert str(err) == f"hubspot companies list: cannot reach 127.0.0.1:{port} (connection refused)"
    pool = urllib3.PoolManager(retries=urllib3.Retry(0))
    with pytest.raises(urllib3.exceptions.MaxRetryError) as ui:
        pool.request("GET", f"http://127.0.0.1:{port}/x")
    assert str(network_error(OP, ui.value)).endswith(f"cannot reach 127.0.0.1:{port} (connection refused)")
    # a failed DNS lookup (built, not looked up: no lookup leaves this machine)
    req = requests.Request("GET", "https://acme.my.salesforce.com/services/data").prepare()
    dns = requests.ConnectionError("lookup failed", request=req)
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    err = network_error(OP, dns)
    assert isinstance(err, CrmUnreachableError)
    assert str(err).endswith("cannot reach acme.my.salesforce.com:443 (DNS lookup failed: name or service not known)")
    # a read timeout: the host is there; an ordinary retriable error, still naming it
    slow = requests.ReadTimeout("read timed out", request=req)
    err = network_error(OP, slow)
    assert type(err) is RetriableError
    assert str(err).endswith("no response from acme.my.salesforce.com:443 (timed out waiting for the answer)")


def test_an_unreachable_host_gets_fewer_shorter_retries():
    waits: list[float] = []
    policy = RetryPolicy(sleep=waits.append, base_delay=5.0)
    calls = []

    def call() -> None:
        calls.append(1)
        raise CrmUnreachableError("hubspot companies list: cannot reach 127.0.0.1:9 (connection refused)")

    with pytest.raises(CrmUnreachableError, match=r"gave up after 3 tries"):
        policy.run(call, OP)
    assert len(calls) == 3 and len(waits) == 2 and all(w <= policy.unreachable_max_delay for w in waits)


# ------------------------------------------------------------------ labels the CRM picklist lacks
def _add_label(env: SyncEnv, label: str) -> None:
    seg = env.rules / "segment.toml"
    text = seg.read_text(encoding="utf-8")
    old = 'values      = ["Enterprise", "Digital Native", "Mid-Market", "SMB", "Unsegmented"]'
    assert old in text
    seg.write_text(text.replace(old, old[:-1] + f', "{label}"]'), encoding="utf-8")


def test_rules_check_and_sync_fail_on_a_label_the_picklist_lacks_and_point_to_provision(hubspot):
    env = hubspot
    clean = env.run("rules", "check", "--config", str(env.config))
    assert clean.returncode == 0, clean.output
    _add_label(env, "Startup")
    env.sb.reset_stats()
    check = env.run("rules", "check", "--config", str(env.config))
    assert check.returncode == 1, check.output
    lacking = (
        "tag field crmseg_segment for dimension segment: picklist crmseg_segment on companies lacks value(s) 'Startup'"
    )
    provision = f"`crmseg schema --config {env.config} --provision`"
    assert lacking in check.stderr and provision in check.stderr, check.stderr
    assert "1 problem(s) with the CRM's tag fields" in check.stdout
    assert env.sb.stats()["calls"]["by_endpoint"] == {"properties_list": 1}  # the schema, fetched once
    sync = env.sync()
    assert sync.returncode == 2, sync.output
    assert lacking in sync.stderr and f"`crmseg schema --config {env.config} --sync sandbox --provision`" in sync.stderr
    assert env.sb.stats()["write_calls"] == 0
    _only_the_failed_run(env)
    # the way out the messages name works: then both pass
    assert env.run("schema", "--config", str(env.config), "--provision").returncode == 0
    assert env.run("rules", "check", "--config", str(env.config)).returncode == 0
    assert env.sync().returncode == 0


def test_on_salesforce_the_way_out_is_setup(salesforce):
    _add_label(salesforce, "Startup")
    check = salesforce.run("rules", "check", "--config", str(salesforce.config))
    assert check.returncode == 1, check.output
    assert "picklist Crmseg_Segment__c on Account lacks value(s) 'Startup'" in check.stderr
    assert "create the missing fields and picklist values in the CRM's setup" in check.stderr
    assert f"then check with `crmseg schema --config {salesforce.config}`" in check.stderr


def test_rules_check_config_compiles_the_rules_once(hubspot, monkeypatch):
    import crmseg.audit.plan as plan
    import crmseg.rules.testing as testing

    made: list[str] = []
    real = plan.make_engine

    def counting(kind, *args, **kwargs):
        made.append(kind)
        return real(kind, *args, **kwargs)

    for module in (plan, testing):  # where the rules get compiled: the plan, and the tests if not given them
        monkeypatch.setattr(module, "make_engine", counting)
    res = hubspot.run("rules", "check", "--config", str(hubspot.config))
    assert res.returncode == 0, res.output
    assert made == ["native"]
