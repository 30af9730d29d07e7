"""The connector contract: the suite every connector passes, run by subclassing
:class:`ConnectorContract` (the shape of singer-sdk's standard tap tests).

A connector's test class (see ``tests/test_connector_contract.py``) sets the hooks:

- ``name``: how skip reasons name it;
- ``claims``: the :class:`~crmseg.connectors.base.Capabilities` it claims. The suite checks
  that the connector claims exactly these, and skips (with the reason) every test of a
  capability outside them;
- ``writes``: False for a read-only source (``write`` raises FatalError); write tests skip;
- ``sandbox``: True when its fake is a crmseg sandbox CRM (``Harness``): call faults, call
  counts per endpoint, the vendor's page and batch sizes. Fault and call-count tests skip
  otherwise;
- ``make_harness(tmp, rules_dir, accounts, **fake)``: its fake seeded with ``accounts``
  records (a :class:`~tests.connector_fixtures.ContractHarness`: how to open the connector
  against it, list, modify and look up records);
- ``deals`` (the capability): the fake also seeds deals (``make_harness(..., deals=N)``) with
  ``sb.deal_ids`` / ``sb.edit_deals`` to list, change and delete them;
- ``change_tracking`` (the capability): the harness deletes records (``delete``) and makes the
  fake refuse the delta links it handed out (``expire_delta_links``);
- ``deletions`` and ``bulk_read`` (the capabilities): the harness deletes records (``delete``);
- ``object_name`` / ``bogus_field``: the object the schema checks name, and a field it lacks;
  ``bulk_options``: constructor options for the bulk-write and bulk-read tests; ``retry_after``: whether the
  CRM sends ``Retry-After`` with a 429 or 503 (without it, the fault tests check one back-off
  per fault instead).

A test needing a capability or a feature carries ``@contract("incremental", "sandbox")``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from crmseg.connectors.base import Capabilities, DeltaLinkExpired
from crmseg.connectors.schema_check import check_mapping
from crmseg.deals.mapped import DealNormalizer
from crmseg.errors import ConfigError, FatalError
from crmseg.model import Removed, TagWrite
from tests.connector_fixtures import (
    DIMENSIONS,
    FAULTS,
    SCORES,
    ContractHarness,
    Harness,
    fault_timeout,
    write_rules,
)

#: What a test may need besides a capability, and why a connector without it skips the test.
FEATURES = {
    "writes": "a read-only source: write() raises FatalError",
    "read_only": "writes tags (the read-only test is for sources that do not)",
    "sandbox": "its fake is not a crmseg sandbox CRM: no HTTP calls to fault or count",
    "daily_limit": "the CRM reports no daily allowance (its limits are per time window, answered with 429)",
}


def contract(*needs: str) -> pytest.MarkDecorator:
    """Mark a contract test as needing these capabilities (``Capabilities`` field names) or features."""
    unknown = set(needs) - set(Capabilities.names()) - set(FEATURES)
    assert not unknown, f"unknown contract needs {unknown}"
    return pytest.mark.contract(*needs)


def read_calls(conn: Any) -> int:
    by = conn.calls_by_kind
    return by["query"] + by["list"] + by["search"]


def write_calls(conn: Any) -> int:
    return conn.calls_by_kind["update"] + conn.calls_by_kind["write"]


class ConnectorContract:
    """The contract tests; a subclass per connector sets the hooks (module docstring)."""

    name: ClassVar[str]
    claims: ClassVar[frozenset[str]]
    writes: ClassVar[bool] = True
    sandbox: ClassVar[bool] = False
    accounts: ClassVar[int] = 450
    object_name: ClassVar[str] = ""
    bogus_field: ClassVar[str] = "bogus_field"
    #: Whether the CRM has a daily API allowance it reports and enforces (not Dynamics 365).
    daily_limit: ClassVar[bool] = True
    #: Whether the CRM sends ``Retry-After`` with a 429 or 503 (Zoho documents none: the connector
    #: backs off exponentially, which the fault tests check instead).
    retry_after: ClassVar[bool] = True
    #: Constructor options for the bulk tests (e.g. no wait before the first status poll).
    bulk_options: ClassVar[dict[str, Any]] = {}

    def make_harness(self, tmp: Path, rules_dir: str, accounts: int, **fake: Any) -> ContractHarness:
        raise NotImplementedError

    # ------------------------------------------------------------------ plumbing
    def has(self, need: str) -> bool:
        if need == "writes":
            return self.writes
        if need == "read_only":
            return not self.writes
        if need == "sandbox":
            return self.sandbox
        if need == "daily_limit":
            return self.daily_limit
        return need in self.claims

    @pytest.fixture(autouse=True)
    def _needs(self, request: pytest.FixtureRequest) -> None:
        marker = request.node.get_closest_marker("contract")
        for need in marker.args if marker else ():
            if not self.has(need):
                pytest.skip(f"{self.name}: {FEATURES.get(need) or f'does not claim {need}'}")

    @pytest.fixture
    def rules_dir(self, tmp_path: Path) -> str:
        return write_rules(tmp_path / "rules")

    @pytest.fixture
    def h(self, _needs: None, tmp_path: Path, rules_dir: str) -> Iterator[Any]:
        harness = self.make_harness(tmp_path, rules_dir, self.accounts)
        yield harness
        harness.close()

    def ready(self, h: Any, **kw: Any) -> Any:
        """A connector that has already fetched the schema (as the pipeline's check does)."""
        conn = h.connector(**kw)
        conn.schema()
        return conn

    # ------------------------------------------------------------------ the claims
    def test_claims_exactly_the_declared_capabilities(self, h):
        claimed = h.connector().capabilities.claimed()
        assert claimed == self.claims, f"{self.name} claims {sorted(claimed)}, its tests declare {sorted(self.claims)}"

    @contract("identity")
    def test_identity_names_the_crm_and_is_asked_once(self, h):
        conn = self.ready(h)
        named = conn.capabilities.identity
        limits = conn.capabilities.api_limits
        ident = named.crm_identity()
        assert ident.key == h.identity_key()
        calls = limits.calls if limits is not None else 0
        assert named.crm_identity() == ident
        assert (limits.calls if limits is not None else 0) == calls  # cached: asked once per connector

    # ------------------------------------------------------------------ reading
    def test_full_read_yields_every_record_once_lazily(self, h):
        conn = h.connector()
        it = conn.read(h.read_fields)
        assert iter(it) is it  # a generator, not a list
        records = list(it)
        assert sorted(r.id for r in records) == sorted(h.ids())
        assert all(set(h.read_fields) <= set(r.fields) for r in records)

    def test_schema_names_every_read_field(self, h):
        conn = h.connector()
        described = conn.capabilities.object_schema
        fold = described is not None and described.field_names_case_insensitive
        names = {n.lower() if fold else n for n in conn.schema()}
        assert {f.lower() if fold else f for f in h.read_fields} <= names

    @contract("api_limits", "sandbox")
    def test_full_read_pages_lazily_and_minimally(self, h):
        conn = self.ready(h)
        it = conn.read(h.read_fields)
        first = next(it)
        assert read_calls(conn) == 1  # one page fetched so far: a generator, not a list
        records = [first, *it]
        assert sorted(r.id for r in records) == sorted(h.sb.ids())
        pages = math.ceil(h.accounts / h.page)
        assert read_calls(conn) == pages == h.server_calls(*h.read_endpoints)
        assert all(set(h.read_fields) <= set(r.fields) for r in records)

    @contract("incremental")
    def test_incremental_read_returns_exactly_the_changed_records(self, h):
        conn = self.ready(h)
        since = datetime.now(UTC)
        time.sleep(0.002)
        touched = h.ids()[10:40]
        h.touch(touched)
        got = [r.id for r in conn.read(h.read_fields, since=since)]
        assert sorted(got) == sorted(touched)

    @contract("incremental", "api_limits", "sandbox")
    def test_incremental_read_of_few_changes_is_one_call(self, h):
        conn = self.ready(h)
        since = datetime.now(UTC)
        time.sleep(0.002)
        h.touch(h.ids()[10:40])
        assert len(list(conn.read(h.read_fields, since=since))) == 30
        assert read_calls(conn) == 1

    @contract("incremental", "sandbox")
    def test_incremental_read_tracks_the_servers_clock(self, h):
        conn = h.connector()
        incremental = conn.capabilities.incremental
        assert incremental.server_time is None  # no answer yet
        list(conn.read(h.read_fields))
        assert abs(incremental.server_time - datetime.now(UTC)) < timedelta(seconds=5)
        assert incremental.modified_field == h.mapping.modified_field

    @contract("change_tracking", "api_limits")
    def test_change_tracking_reads_the_changes_and_deletions_since_its_link(self, h):
        conn = self.ready(h)
        tracking = conn.capabilities.change_tracking
        assert tracking.tracks_changes() and tracking.delta_link is None
        full = list(tracking.read_changes(h.read_fields))
        assert sorted(r.id for r in full) == sorted(h.ids()) and not any(isinstance(r, Removed) for r in full)
        link = tracking.delta_link
        assert link
        ids = h.ids()
        h.touch(ids[10:40])
        h.delete(ids[50:52])
        before = read_calls(conn)
        changes = list(tracking.read_changes(h.read_fields, link))
        assert read_calls(conn) - before == math.ceil(32 / h.page)  # only the changes are read
        assert sorted(c.id for c in changes if not isinstance(c, Removed)) == sorted(ids[10:40])
        assert all(set(h.read_fields) <= set(c.fields) for c in changes if not isinstance(c, Removed))
        assert sorted(c.id for c in changes if isinstance(c, Removed)) == sorted(ids[50:52])
        nxt = tracking.delta_link
        assert nxt and nxt != link
        assert list(tracking.read_changes(h.read_fields, nxt)) == []  # nothing changed since
        assert tracking.delta_link  # a link to go on from, still

    @contract("change_tracking")
    def test_an_expired_delta_link_is_refused_and_a_full_read_tracks_again(self, h):
        conn = self.ready(h)
        tracking = conn.capabilities.change_tracking
        list(tracking.read_changes(h.read_fields))
        link = tracking.delta_link
        time.sleep(0.002)
        h.expire_delta_links()
        with pytest.raises(DeltaLinkExpired):
            list(tracking.read_changes(h.read_fields, link))
        assert tracking.delta_link is None
        assert sorted(r.id for r in tracking.read_changes(h.read_fields)) == sorted(h.ids())
        assert tracking.delta_link

    @contract("deletions", "sandbox")
    def test_deletions_since_a_time_are_listed_and_left_out_of_reads(self, h):
        conn = self.ready(h)
        deletions = conn.capabilities.deletions
        since = datetime.now(UTC)
        ids = h.ids()
        assert list(deletions.read_deleted(since)) == []
        h.delete(ids[20:23])
        before = h.server_calls()
        gone = list(deletions.read_deleted(since))
        assert h.server_calls() - before == 1  # a few deletions: one call
        assert all(isinstance(r, Removed) for r in gone) and sorted(r.id for r in gone) == sorted(ids[20:23])
        assert list(deletions.read_deleted(since + timedelta(hours=1))) == []  # none later
        assert sorted(r.id for r in conn.read(h.read_fields)) == sorted(set(ids) - set(ids[20:23]))
        assert list(conn.read(h.read_fields, since=since)) == []  # a deletion is no change a read returns

    @contract("sandbox")
    def test_read_survives_a_rate_limit_mid_paging_without_re_emitting(self, h):
        conn = self.ready(h)
        h.sb.inject({"kind": "429", "endpoint": h.more_endpoint, "after": 1, "retry_after": 3})
        ids = [r.id for r in conn.read(h.read_fields)]
        assert len(ids) == len(set(ids)) == h.accounts
        if self.retry_after:
            assert 3.0 in conn.policy.sleep.calls  # Retry-After honored
        else:
            assert len(conn.policy.sleep.calls) == 1  # one back-off, then the page again
        assert h.sb.stats()["rate_limited"] == 1

    @contract("deals", "sandbox")
    def test_deal_reads_every_live_deal_then_only_the_changed_ones(self, _needs, tmp_path, rules_dir):
        h = self.make_harness(tmp_path, rules_dir, 40, deals=300)
        try:
            conn = h.connector()
            reads = conn.capabilities.deals
            norm = DealNormalizer(h.mapping.deals, multi_currency=reads.multi_currency)
            live = h.sb.deal_ids(deleted=False)
            h.sb.edit_deals(delete=live[:3])  # deleted / archived: absent from a full read
            full = [norm.deal(r) for r in reads.read_deals(norm.read_fields())]
            assert sorted(d.id for d in full) == live[3:]
            assert {d.status for d in full} == {"open", "won", "lost"} and all(d.created_at for d in full)
            assert any(d.account_id for d in full) and any(d.account_id is None for d in full)
            since = datetime.now(UTC)
            time.sleep(0.002)
            h.sb.edit_deals(touch=live[10:40])
            changed = [norm.deal(r).id for r in reads.read_deals(norm.read_fields(), since=since)]
            assert sorted(changed) == sorted(live[10:40])
            clock = conn.capabilities.incremental.server_time  # where the deals watermark starts
            assert abs(clock - datetime.now(UTC)) < timedelta(seconds=5)
        finally:
            h.close()

    @contract("passthrough")
    def test_passthrough_columns_hold_every_read_field(self, h):
        conn = h.connector()
        assert set(h.read_fields) <= set(conn.capabilities.passthrough.columns())

    @contract("row_lists")
    def test_row_lists_are_the_records_read(self, h):
        conn = h.connector()
        header: list[list[str]] = []
        rows = list(conn.capabilities.row_lists.read_rows(header.append))
        assert len(header) == 1
        as_dicts = {rid: dict(zip(header[0], row, strict=True)) for rid, row in rows}
        assert as_dicts == {r.id: r.fields for r in conn.read(h.read_fields)}

    @contract("skipped_rows")
    def test_a_bad_row_stops_the_read_or_is_left_out_and_listed(self, h):
        h.add_bad_row()
        conn = h.connector()
        rows = conn.capabilities.skipped_rows
        assert rows.on_bad_row == "raise"
        with pytest.raises(ConfigError, match="--skip-bad-rows"):
            list(conn.read(h.read_fields))
        rows.on_bad_row = "skip"
        assert sorted(r.id for r in conn.read(h.read_fields)) == sorted(h.ids())
        assert len(rows.skipped) == 1 and rows.skipped[0].startswith(f"{h.path}:")

    # ------------------------------------------------------------------ writing
    @contract("read_only")
    def test_a_read_only_source_refuses_writes(self, h):
        with pytest.raises(FatalError, match="read-only"):
            h.connector().write([TagWrite(h.ids()[0], {h.tag: "SMB"})])

    @contract("writes", "sandbox")
    def test_batched_write_with_partial_failure(self, h):
        conn = self.ready(h)
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
        assert h.record(ids[0])[h.tag] == "Mid-Market"
        assert h.record(ids[3])[h.tag] != "Mid-Market"

    @contract("writes")
    def test_write_clears_a_tag_with_none(self, h):
        conn = self.ready(h)
        rid = h.ids()[0]
        assert conn.write([TagWrite(rid, {h.tag: "SMB"})])[0].ok
        assert conn.write([TagWrite(rid, {h.tag: None})])[0].ok
        assert h.record(rid).get(h.tag) in (None, "")

    @contract("writes", "api_limits", "sandbox")
    def test_call_count_is_the_lower_bound_without_faults(self, h):
        conn = self.ready(h)
        h.sb.reset_stats()
        before = conn.calls
        records = list(conn.read(h.read_fields))
        changes = [TagWrite(r.id, {h.tag: "Enterprise"}) for r in records[:321]]
        assert all(r.ok for r in conn.write(changes))
        lower_bound = math.ceil(h.accounts / h.page) + math.ceil(len(changes) / h.batch)
        assert conn.calls - before == lower_bound == h.server_calls()

    @contract("bulk_read", "sandbox")
    def test_bulk_read_gives_the_records_a_full_read_gives_in_a_few_calls(self, h):
        conn = self.ready(h, **self.bulk_options)
        assert conn.capabilities.bulk_read.bulk_read_threshold >= 0
        h.delete(h.ids()[:2])  # left out of both
        walked = {r.id: dict(r.fields) for r in conn.read(h.read_fields)}
        h.sb.reset_stats()
        before = read_calls(conn)
        bulk = list(conn.capabilities.bulk_read.read_bulk(h.read_fields))
        assert len(bulk) == len({r.id for r in bulk}) == h.accounts - 2
        assert {r.id: dict(r.fields) for r in bulk} == walked  # the same values, typed alike
        assert read_calls(conn) == before  # no page walked
        assert h.server_calls() <= 4  # one job: create, a poll or two, download

    @contract("writes", "bulk_write")
    def test_bulk_write_answers_one_result_per_input_in_order(self, h):
        conn = self.ready(h, **self.bulk_options)
        ids = h.ids()[:30]
        results = conn.capabilities.bulk_write.write_bulk([TagWrite(i, {h.tag: "Enterprise"}) for i in ids])
        assert [r.id for r in results] == ids and all(r.ok for r in results)
        assert all(h.record(i)[h.tag] == "Enterprise" for i in ids)
        assert conn.capabilities.bulk_write.write_bulk([]) == []

    # ------------------------------------------------------------------ faults
    @contract("writes", "sandbox")
    @pytest.mark.parametrize("fault", FAULTS, ids=[f["kind"] for f in FAULTS])
    def test_every_call_fault_is_retried_on_read_and_write(self, h, fault):
        conn = self.ready(h, **fault_timeout(fault))
        h.sb.inject({**fault, "endpoint": h.more_endpoint, "after": 1}, {**fault, "endpoint": h.write_endpoint})
        ids = [r.id for r in conn.read(h.read_fields)]
        assert len(ids) == len(set(ids)) == h.accounts
        results = conn.write([TagWrite(i, {h.tag: "SMB"}) for i in ids[:150]])
        assert all(r.ok for r in results) and len(results) == 150
        assert h.sb.stats()["faults"]["fired"] == {fault["kind"]: 2}
        if fault.get("retry_after") and self.retry_after:
            assert conn.policy.sleep.calls.count(float(fault["retry_after"])) == 2
        elif fault["kind"] in ("429", "500", "503"):
            assert len(conn.policy.sleep.calls) == 2  # without Retry-After: one back-off per fault
        if fault["kind"] == "expired_session" and h.crm == "salesforce":
            assert h.sb.stats()["logins"] == 3  # first login, then one re-login per expired session

    @contract("writes", "sandbox")
    def test_persistent_server_errors_give_up_as_retriable(self, h):
        from crmseg.errors import RetriableError

        conn = self.ready(h)
        h.sb.inject({"kind": "503", "endpoint": h.write_endpoint, "count": -1, "retry_after": 0})
        with pytest.raises(RetriableError, match=r"HTTP 503.*gave up after 4 tries"):
            conn.write([TagWrite(h.sb.ids()[0], {h.tag: "SMB"})])
        assert h.server_calls(h.write_endpoint) == 4

    @contract("api_limits", "sandbox", "daily_limit")
    def test_exhausted_daily_limit_is_fatal_and_not_retried(self, _needs, tmp_path, rules_dir):
        h = self.make_harness(tmp_path, rules_dir, 50, daily_limit=3)
        try:
            conn = h.connector()
            with pytest.raises(FatalError, match="limit is exhausted"):
                for _ in range(5):
                    list(conn.read(h.read_fields))
            assert conn.policy.sleep.calls == []
        finally:
            h.close()

    @contract("api_limits", "sandbox", "daily_limit")
    def test_api_remaining_is_the_daily_allowance_left(self, _needs, tmp_path, rules_dir):
        h = self.make_harness(tmp_path, rules_dir, 20, daily_limit=5000)
        try:
            conn = self.ready(h)
            limits = conn.capabilities.api_limits
            list(conn.read(h.read_fields))
            used = h.sb.stats()["api_usage"]["used"]
            assert limits.api_remaining == (5000 - used, 5000)
            assert limits.calls >= used
        finally:
            h.close()

    # ------------------------------------------------------------------ schema checks
    @contract("object_schema", "writes")
    def test_schema_check_passes_for_the_shipped_mapping(self, h):
        assert check_mapping(h.connector(), h.mapping, DIMENSIONS, scores=SCORES) == []

    @contract("object_schema", "sandbox")
    def test_schema_check_names_missing_fields_before_any_write(self, h):
        fields = dict(h.mapping.model_dump()["fields"])
        fields["bogus"] = {"source": self.bogus_field}
        bad = h.mapping.model_copy(update={"fields": h.mapping.model_validate({"fields": fields}).fields})
        conn = h.connector(mapping=bad)
        dims = {**DIMENSIONS, "segment": ["Enterprise", "Mid-Market", "SMB", "Startup"]}
        problems = check_mapping(conn, bad, dims, scores=SCORES)
        assert f"field {self.bogus_field} not found on {self.object_name}" in problems[0]
        assert any("lacks value(s) 'Startup'" in p for p in problems)
        assert h.server_calls(h.write_endpoint) == 0

    @contract("object_schema")
    def test_schema_check_refuses_a_score_into_a_picklist(self, h):
        swapped = h.mapping.model_copy(update={"tags": {**h.mapping.tags, "icp_score": h.tag}})
        problems = check_mapping(h.connector(mapping=swapped), swapped, DIMENSIONS, scores=SCORES)
        assert len(problems) == 1 and "a score needs a number or text field" in problems[0]

    @contract("object_schema")
    def test_the_described_schema_is_cached_after_the_first_fetch(self, h):
        conn = h.connector()
        described = conn.capabilities.object_schema
        assert described.cached_schema() is None and described.object == self.object_name
        schema = conn.schema()
        assert described.cached_schema() == schema

    @contract("provision")
    def test_provision_changes_nothing_when_the_tag_fields_exist(self, h):
        assert h.connector().capabilities.provision.provision(DIMENSIONS, scores=sorted(SCORES)) == []


class SandboxContract(ConnectorContract):
    """The contract for a connector whose fake is a crmseg sandbox CRM."""

    crm: ClassVar[str]
    sandbox = True

    def make_harness(self, tmp: Path, rules_dir: str, accounts: int, **fake: Any) -> ContractHarness:
        return Harness(self.crm, rules_dir, accounts, **fake)
