"""Credentials never reach a log line or an error message, whatever happens on the wire.

Reads, writes, every fault kind and refused logins run against the sandbox with known
secret values while every logger (ours and the libraries') records at DEBUG.
"""

from __future__ import annotations

import logging
import traceback

import pytest

from crmseg.errors import CrmsegError
from crmseg.model import TagWrite
from tests.connector_fixtures import FAULT_CLIENT_TIMEOUT_S, TIMEOUT_FAULT, Harness, no_wait_policy, write_rules

pytest.importorskip("crmseg.sandbox")

SECRETS = {
    "password": "Pw-7c1a9e22-secret",
    "security_token": "Tok-5b8f00d3-secret",
    "session_id": "00DSb0000000001!AQsecret-static-session-4f2e",
    "hubspot_token": "pat-na1-11111111-secret-2222",
}
FAULTS = [
    {"kind": "429", "retry_after": 0},
    {"kind": "500"},
    {"kind": "503", "retry_after": 0},
    TIMEOUT_FAULT,
    {"kind": "expired_session"},
]


@pytest.fixture(params=["salesforce", "hubspot"])
def h(request, tmp_path):
    from crmseg.sandbox import Credentials, SandboxOptions

    opts = SandboxOptions(credentials=Credentials(**SECRETS), rate_limit=1_000_000, search_rate_limit=1_000_000)
    harness = Harness(request.param, write_rules(tmp_path / "rules"), accounts=120, options=opts)
    yield harness
    harness.close()


def _texts(caplog, errors: list[BaseException]) -> list[str]:
    out = [caplog.text]
    for rec in caplog.records:
        out.append(rec.getMessage())
        if rec.exc_info:
            out.append("".join(traceback.format_exception(*rec.exc_info)))
    for err in errors:
        out += [str(err), repr(err), "".join(traceback.format_exception(err))]
    return out


def _assert_clean(caplog, errors: list[BaseException], secrets: list[str]) -> None:
    for text in _texts(caplog, errors):
        for secret in secrets:
            assert secret not in text, f"secret leaked: {text[:300]}"


def test_no_secret_in_logs_or_errors(h, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    env = h.sb.env()
    conn = h.connector(env=env, timeout=FAULT_CLIENT_TIMEOUT_S, policy=no_wait_policy(max_tries=len(FAULTS) + 2))
    for fault in FAULTS:
        h.sb.inject({**fault, "endpoint": h.read_endpoints[0]}, {**fault, "endpoint": h.write_endpoint})
    records = list(conn.read(h.read_fields))
    own = SECRETS["password"] if h.crm == "salesforce" else SECRETS["hubspot_token"]
    h.sb.inject(
        {
            "kind": "record_failure",
            "endpoint": h.write_endpoint,
            "ids": [r.id for r in records[:2]],
            "count": -1,
            "message": f"rejected (credential was {own})",
        }
    )
    results = conn.write([TagWrite(r.id, {h.tag: "SMB"}) for r in records[:30]])
    assert len(records) == 120 and [r.ok for r in results[:2]] == [False, False]
    errors_text = [r.error or "" for r in results]
    # refused credentials: the error says so without echoing what was sent
    bad_env = {k: v + "-wrong" for k, v in env.items()}
    with pytest.raises(CrmsegError) as ei:
        list(h.connector(env=bad_env).read(h.read_fields))
    errors.append(ei.value)
    # a persistent outage ends in an error that names object, operation and status only
    h.sb.inject({"kind": "500", "endpoint": h.write_endpoint, "count": -1})
    with pytest.raises(CrmsegError) as ei:
        conn.write([TagWrite(records[0].id, {h.tag: "SMB"})])
    errors.append(ei.value)
    fired = h.sb.stats()["faults"]["fired"]
    assert all(fired[f["kind"]] >= 2 for f in FAULTS) and fired["record_failure"] >= 2
    assert "HTTP 500" in str(ei.value) and ("Account" in str(ei.value) or "companies" in str(ei.value))
    secrets = list(SECRETS.values()) + [v + "-wrong" for v in env.values()]
    _assert_clean(caplog, errors, secrets)
    assert not any(own in e for e in errors_text) and "credential was ***" in errors_text[0]
    assert any(rec.levelno == logging.DEBUG for rec in caplog.records)  # DEBUG really was captured


def test_salesforce_session_auth_keeps_the_session_secret(tmp_path, caplog):
    from crmseg.sandbox import Credentials, SandboxOptions

    caplog.set_level(logging.DEBUG)
    opts = SandboxOptions(credentials=Credentials(**SECRETS))
    h = Harness("salesforce", write_rules(tmp_path / "rules"), accounts=30, options=opts)
    errors: list[BaseException] = []
    try:
        conn = h.connector(env={"SF_SESSION_ID": SECRETS["session_id"]}, cfg={"auth": "session"})
        assert len(list(conn.read(h.read_fields))) == 30
        h.sb.inject({"kind": "expired_session", "endpoint": "query"})
        with pytest.raises(CrmsegError, match="refused the session id in SF_SESSION_ID") as ei:
            list(conn.read(h.read_fields))
        errors.append(ei.value)
    finally:
        h.close()
    _assert_clean(caplog, errors, list(SECRETS.values()))
