"""The Dynamics 365 connector's specifics, through msal and requests over real HTTP to the
sandbox (the shared contract runs in tests/test_connector_contract.py::TestDynamics)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crmseg.config import DynamicsSync
from crmseg.connectors.base import DeltaLinkExpired
from crmseg.errors import AuthRefusedError
from crmseg.model import Removed, TagWrite
from crmseg.sync.decide import is_permanent
from tests.connector_fixtures import Harness, write_rules


@pytest.fixture
def h(tmp_path):
    harness = Harness("dynamics", write_rules(tmp_path / "rules"), accounts=30)
    yield harness
    harness.close()


def test_choice_columns_read_as_labels(h):
    records = {r.id: r for r in h.connector().read(["name", "industrycode", "numberofemployees"])}
    first = records[h.ids()[0]]
    assert first.fields["industrycode"] == "Retail"  # the label, not the option's integer
    assert isinstance(first.fields["numberofemployees"], int)  # numbers keep their value, not "1,000"


def test_a_lookup_column_is_read_through_its_value_property(h):
    """The table definition names the owner attribute ``ownerid``; the mapping and the query
    use its Web API property ``_ownerid_value`` (a GUID)."""
    conn = h.connector()
    assert conn.schema()["_ownerid_value"].extra["kind"] == "id" and "ownerid" not in conn.schema()
    h.sb.store.update_many([(h.ids()[0], {"_ownerid_value": "jane"})], h.sb.app.write_ms())
    records = {r.id: r for r in conn.read(["name", "_ownerid_value"])}
    assert len(records) == 30 and len(records[h.ids()[0]].fields["_ownerid_value"]) == 36


def test_every_seeded_account_has_an_owner_as_dataverse_requires(h):
    from crmseg.sandbox.dynamics_schema import DEFAULT_OWNER, owner_guid

    owners = [r.fields["_ownerid_value"] for r in h.connector().read(["name", "_ownerid_value"])]
    assert len(owners) == 30 and all(isinstance(o, str) and len(o) == 36 for o in owners)
    assert owner_guid(" Jane ") == owner_guid("jane") != owner_guid("joe")
    assert owner_guid("") == owner_guid(None) == DEFAULT_OWNER != owner_guid("jane")


@pytest.mark.parametrize("kind", ["429", "503", "500"])
@pytest.mark.parametrize("endpoint", ["openid_configuration", "token"])
def test_entra_id_throttled_or_failing_is_retried_like_any_call(h, endpoint, kind):
    """msal reads the tenant's OpenID metadata as it starts and raises ValueError on a 429 or 5xx:
    that is a retry, not a traceback (Entra ID throttles and fails like any service)."""
    # Retry-After 0: msal keeps a throttled answer for its Retry-After, and this policy does not wait
    h.sb.inject({"kind": kind, "endpoint": endpoint, "count": 1, "retry_after": 0})
    assert len(list(h.connector().read(["name"]))) == 30
    assert h.server_calls(endpoint) == 2  # the failed call, then the retried one


def test_an_unknown_tenant_is_refused_once_naming_the_tenant(h):
    with pytest.raises(AuthRefusedError, match=r"does not know the tenant .*check tenant_id"):
        h.connector(cfg={"tenant_id": "contoso.onmicrosoft.com"}).crm_identity()
    assert h.server_calls("openid_configuration") == 1  # refused, not retried


def test_an_expired_token_is_dropped_and_renewed_once(h):
    conn = h.connector()
    conn.crm_identity()
    assert h.sb.stats()["logins"] == 1
    h.sb.app.tokens.clear()  # every issued token now refused (401), as after expiry
    assert len(list(conn.read(["name"]))) == 30
    assert h.sb.stats()["logins"] == 2  # msal's cached token dropped, one new grant
    assert h.server_calls("token") == 2 and h.server_calls("openid_configuration") == 1


def test_tokens_are_renewed_before_they_expire(h):
    h.sb.configure(token_lifetime=60)  # under msal's 5-minute margin: a new token every call
    conn = h.connector()
    conn.schema()
    list(conn.read(["name"]))
    assert h.sb.stats()["logins"] == conn.calls_by_kind["schema"] + conn.calls_by_kind["query"]
    assert "401" not in h.sb.stats()["calls"]["by_status"]


def test_a_wrong_secret_is_refused_naming_the_variable(h):
    env = {**h.sb.env(), "DYNAMICS_CLIENT_SECRET": "wrong-secret"}
    with pytest.raises(AuthRefusedError, match="DYNAMICS_CLIENT_SECRET") as err:
        h.connector(env=env).crm_identity()
    assert "wrong-secret" not in str(err.value)


def test_change_tracking_yields_changes_and_deletions(h):
    conn = h.connector()
    assert len(list(conn.read_changes(["name"]))) == 30 and conn.delta_link
    link, ids = conn.delta_link, h.ids()
    h.touch(ids[:2])
    h.sb.store.set_deleted([ids[5]], True, h.sb.app.write_ms())
    changes = list(conn.read_changes(["name"], link))
    assert [c.id for c in changes if not isinstance(c, Removed)] == ids[:2]
    assert [c for c in changes if isinstance(c, Removed)] == [Removed(ids[5])]
    assert conn.delta_link != link


def test_a_stored_delta_link_is_followed_on_the_configured_host_only(h):
    conn = h.connector()
    list(conn.read_changes(["name"]))
    link = conn.delta_link
    h.touch(h.ids()[:1])
    moved = link.replace(h.sb.url, "https://attacker.example.com")  # a state file naming another host
    assert [r.id for r in conn.read_changes(["name"], moved)] == h.ids()[:1]  # asked of the sandbox
    calls = conn.calls
    with pytest.raises(DeltaLinkExpired, match="no delta link"):
        list(conn.read_changes(["name"], f"{h.sb.url}/api/data/v9.2/WhoAmI?$deltatoken=1"))
    assert conn.calls == calls  # refused before any call


def test_change_tracking_follows_the_table_metadata_and_the_config(h, tmp_path):
    assert h.connector().capabilities.change_tracking.tracks_changes()
    assert h.connector(cfg={"change_tracking": False}).capabilities.change_tracking is None
    off = Harness("dynamics", write_rules(tmp_path / "rules-off"), accounts=3, change_tracking=False)
    try:
        conn = off.connector()
        assert not conn.capabilities.change_tracking.tracks_changes()
        assert conn.calls_by_kind["schema"] == 2  # ChangeTrackingEnabled came with the columns
    finally:
        off.close()


def test_write_outcomes_keep_permanent_errors_apart(h):
    conn = h.connector()
    ids = h.ids()
    h.sb.store.set_deleted([ids[1]], True, h.sb.app.write_ms())
    results = conn.write(
        [TagWrite(ids[0], {h.tag: "SMB"}), TagWrite(ids[1], {h.tag: "SMB"}), TagWrite(ids[2], {h.tag: "Nope"})]
    )
    assert [r.ok for r in results] == [True, False, False]
    assert "OBJECT_NOT_FOUND" in results[1].error and is_permanent(results[1].error)
    assert "INVALID_OPTION" in results[2].error and is_permanent(results[2].error)
    assert h.server_calls("batch") == 1  # the bad label never left the client


def test_plain_http_only_to_loopback():
    with pytest.raises(ValidationError, match="not loopback"):
        DynamicsSync(connector="dynamics", environment_url="http://contoso.crm.dynamics.com", tenant_id="t1")
    with pytest.raises(ValidationError, match="not loopback"):
        DynamicsSync(
            connector="dynamics",
            environment_url="https://contoso.crm.dynamics.com",
            tenant_id="t1",
            authority_url="http://login.example.com",
        )


def test_a_batch_answer_as_microsoft_documents_it_is_parsed_per_request():
    """The continue-on-error answer from Microsoft's "Execute batch operations using the Web API"
    (a failed request's error body, then two 204s), CRLF or LF line ends, boundary quoted or not."""
    from crmseg.connectors.dynamics_values import parse_batch_response

    boundary = "batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139"
    error = '{"error":{"code":"0x80044331","message":"A validation error occurred."}}'
    ok = "HTTP/1.1 204 No Content\nOData-Version: 4.0\n\n\n"
    part = f"--{boundary}\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\n"
    text = (
        f"{part}HTTP/1.1 400 Bad Request\nREQ_ID: de4c5227\nContent-Type: application/json; odata.metadata=minimal\n"
        f"OData-Version: 4.0\n\n{error}\n{part}{ok}{part}{ok}--{boundary}--\n"
    )
    expected = [(400, "0x80044331", "A validation error occurred."), (204, None, None), (204, None, None)]
    for eol in ("\n", "\r\n"):
        for ctype in (f"multipart/mixed; boundary={boundary}", f'multipart/mixed; boundary="{boundary}"'):
            assert parse_batch_response(ctype, text.replace("\n", eol).encode()) == expected
