"""Crash safety of the deal read: ``crmseg sync`` with ``deals = true`` (a real subprocess) is
SIGKILLed while it reads the deals — during a full read and during an incremental one — then
rerun to completion. The state must then hold the same deals as after one uninterrupted run
(an untouched sandbox seeded alike, synced without a kill), and the deals' watermark must never
pass the run's start: the killed run leaves it where it was, the rerun sets it to a time no later
than the rerun's start on the CRM's clock.

The kill point is reached from outside, as in tests/test_sync_crash.py: the sandbox holds the
answer to one deal page (a ``timeout`` fault on the deal read's paging endpoint), and the test
kills the process once that fault has fired — by then the earlier pages' deals are recorded.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmseg.dates import parse_iso
from crmseg.deals.model import Deal

from .connector_fixtures import same_deals
from .sync_env import SyncEnv

#: The deal read's paging endpoints (sandbox stats names) and records per call.
FULL_PAGE = {"salesforce": ("query_more_opportunity", 2000), "hubspot": ("deals_list", 100)}
INCR_PAGE = {"salesforce": ("query_more_opportunity", 2000), "hubspot": ("deals_search", 200)}
EDITED = 4500  # deals edited before the incremental run: 3 Salesforce pages, 23 HubSpot search pages


def deals_of(env: SyncEnv) -> tuple[dict[str, Deal], str | None]:
    return env.stored_deals(), env.sync_state().deals_watermark


def new_env(tmp: Path, crm: str, accounts: int) -> SyncEnv:
    return SyncEnv(tmp, crm, accounts, deals=3 * accounts)  # a sandbox with deals writes deals = true


def edit(env: SyncEnv) -> None:
    """The same out-of-band edits in every sandbox: EDITED deals touched, a tenth of them closed won."""
    live = env.sb.deal_ids(deleted=False)
    touched = live[: min(EDITED, len(live))]
    won = (
        {"StageName": "Closed Won", "IsClosed": True, "IsWon": True}
        if env.crm == "salesforce"
        else {"dealstage": "closedwon", "hs_is_closed": True, "hs_is_closed_won": True}
    )
    env.sb.edit_deals(dict.fromkeys(touched[::10], won), touch=[r for i, r in enumerate(touched) if i % 10])


def run_ok(env: SyncEnv) -> None:
    res = env.sync()
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module", params=["salesforce", "hubspot"])
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, crash_accounts: int) -> Any:
    """One uninterrupted full run and one incremental run after the edits: the deals each must end with."""
    crm = request.param
    accounts = max(2000, crash_accounts // 10)  # the deal read is under test; its deals are 3x the accounts
    env = new_env(tmp_path_factory.mktemp(f"ref-{crm}"), crm, accounts)
    try:
        run_ok(env)
        full, _ = deals_of(env)
        edit(env)
        run_ok(env)
        incremental, _ = deals_of(env)
        return crm, accounts, full, incremental
    finally:
        env.close()


def kill_during_deal_read(env: SyncEnv, endpoint: str, after: int) -> datetime:
    """Start a sync, hold the answer of the ``after``+1-th call to ``endpoint``, SIGKILL the sync
    once it waits for it; the time the sync was started."""
    env.sb.reset_stats()
    env.sb.inject({"kind": "timeout", "endpoint": endpoint, "after": after, "count": 1, "delay": 120})
    started = datetime.now(UTC)
    proc = env.popen_sync()
    env.kill_when(proc, lambda: env.fired("timeout") > 0)
    return started


def rerun(env: SyncEnv) -> tuple[datetime, datetime]:
    """Rerun to completion after a kill; (when the test launched it, the run's recorded start)."""
    env.sb.clear_faults()
    launched = datetime.now(UTC)
    run_ok(env)
    runs = env.runs()
    assert runs[-2].status == "aborted" and runs[-1].status == "succeeded"
    return launched, parse_iso(runs[-1].started_at)


def not_past_start(wm: str | None, launched: datetime, started: datetime) -> None:
    """The deals' watermark is the run's start on the CRM's clock (whole seconds): never later than
    the run's recorded start, and from this run's clock (not before the second it was launched in)."""
    assert wm is not None
    assert launched.replace(microsecond=0) <= parse_iso(wm) <= started, (wm, launched, started)


def test_sigkill_during_a_full_deal_read_then_rerun(reference: Any, tmp_path: Path) -> None:
    crm, accounts, full, _ = reference
    env = new_env(tmp_path, crm, accounts)
    try:
        endpoint, page = FULL_PAGE[crm]
        pages = math.ceil(len(full) / page)
        kill_during_deal_read(env, endpoint, pages // 2)
        partial, wm = deals_of(env)
        assert 0 < len(partial) < len(full)  # killed mid-read, its first pages recorded
        assert wm is None  # the killed run moved no watermark
        launched, started = rerun(env)
        got, wm = deals_of(env)
        same_deals(got, full)
        not_past_start(wm, launched, started)
    finally:
        env.close()


def test_sigkill_during_an_incremental_deal_read_then_rerun(reference: Any, tmp_path: Path) -> None:
    crm, accounts, _, incremental = reference
    env = new_env(tmp_path, crm, accounts)
    try:
        run_ok(env)
        _, wm_before = deals_of(env)
        assert wm_before is not None
        edit(env)
        endpoint, page = INCR_PAGE[crm]
        kill_during_deal_read(env, endpoint, math.ceil(EDITED / page) // 2)
        _, wm = deals_of(env)
        assert wm == wm_before  # the killed run left the deals' watermark where it was
        launched, started = rerun(env)
        assert env.runs()[-1].mode == "incremental"  # the rerun read the same deals again, from the old watermark
        got, wm = deals_of(env)
        same_deals(got, incremental)
        assert wm is not None and parse_iso(wm_before) <= parse_iso(wm)
        not_past_start(wm, launched, started)
    finally:
        env.close()
