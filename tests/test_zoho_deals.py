"""Zoho CRM deals, through the real connector over HTTP against the sandbox: full and incremental
reads at the floor, the status from the Stage pick list's forecast metadata (not the label's
text), the account from the Account_Name lookup, faults mid-read, and a sync with deals = true
(home-currency amounts in a multi-currency org: tests/test_deal_reads.py). Each deal must be the
one the sandbox stores."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from crmseg.deals.model import Deal
from crmseg.model import SchemaField
from crmseg.sandbox.store import Record
from crmseg.sandbox.zoho_deals import STAGES
from tests.connector_fixtures import (
    Harness,
    deal_harness,
    read_deals,
    same_deal,
    same_deals,
    touched_since,
    write_rules,
)
from tests.sync_env import SyncEnv

STATUS = {kind: status for status, kind in (("open", "Open"), ("won", "Closed Won"), ("lost", "Closed Lost"))}
FORECAST = {name: STATUS[kind] for name, _, kind, _ in STAGES}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_rules(tmp_path_factory.mktemp("rules"))


def harness(rules_dir: str, deals: int, **kw: Any) -> Iterator[Harness]:
    return deal_harness("zoho", rules_dir, deals, **kw)


@pytest.fixture(scope="module")
def zh(rules_dir: str) -> Iterator[Harness]:
    yield from harness(rules_dir, 700)


def expected(rec: Record, multi: bool) -> Deal:
    d = rec.data
    account = d["Account_Name"]
    return Deal(
        id=rec.id,
        created_at=datetime.fromtimestamp(rec.created_ms / 1000, UTC),
        status=FORECAST[d["Stage"]],
        account_id=account["id"] if account else None,
        amount=round(d["Amount"] / d["Exchange_Rate"], 2) if multi else d["Amount"],
        currency=d.get("Currency"),
        closed_at=date.fromisoformat(d["Closing_Date"]),
        stage=d["Stage"],
        pipeline=d["Pipeline"],
        type=d["Type"],
    )


def test_full_read_is_every_live_deal_at_the_floor(zh: Harness) -> None:
    live = zh.sb.deal_ids(deleted=False)
    assert zh.sb.deal_ids(deleted=True)  # the seed has deleted deals: they are not returned
    zh.sb.reset_stats()
    conn, norm, deals = read_deals(zh)
    assert sorted(d.id for d in deals) == live and not norm.multi_currency
    pages = math.ceil(len(live) / 200)
    assert conn.calls_by_kind["deal_query"] == pages == zh.server_calls("deals_page", "deals_token")
    assert conn.calls_by_kind["deal_schema"] == 1 and conn.calls_by_kind["identity"] == 1  # stages; the org
    for deal in deals:
        same_deal(deal, expected(zh.sb.deal(deal.id), multi=False))
    assert {d.status for d in deals} == {"open", "won", "lost"} and {d.currency for d in deals} == {None}
    assert any(d.account_id is None for d in deals) and any(d.account_id for d in deals)


def test_the_status_comes_from_the_stage_metadata_not_its_label(zh: Harness) -> None:
    _, _, deals = read_deals(zh)
    to_competition = [d for d in deals if d.stage == "Closed Lost to Competition"]
    assert to_competition and all(d.status == "lost" for d in to_competition)
    # a stage renamed by an admin keeps its forecast type: the status follows the metadata
    stage = zh.sb.app.modules["Deals"].schema["Stage"]
    stage.options = [*stage.options, "Signed"]
    stage.extra["pick_list_extra"]["Signed"] = {"forecast_type": "Closed Won", "probability": 100}
    rid = zh.sb.deal_ids(deleted=False)[0]
    zh.sb.edit_deals({rid: {"Stage": "Signed"}})
    try:
        _, _, again = read_deals(zh)
        assert next(d for d in again if d.id == rid).status == "won"
    finally:
        zh.sb.edit_deals({rid: {"Stage": zh.sb.deal(rid).data["Stage"]}})


def test_a_stage_without_a_forecast_type_reads_as_no_status() -> None:
    from crmseg.connectors.zoho_deals import _forecast_types

    meta = {"Won": {"forecast_type": "Closed Won"}, "Odd": {"probability": 50}, "Open": {"forecast_type": "Open"}}
    stage = SchemaField("Stage", "picklist", options=list(meta), extra={"pick_list_meta": meta})
    assert _forecast_types(stage) == {"Won": "won", "Open": "open"}


def test_incremental_read_and_a_deletion(zh: Harness) -> None:
    live = zh.sb.deal_ids(deleted=False)
    touched = live[100:350]  # two pages
    since = touched_since(zh, touched)
    zh.sb.edit_deals({live[0]: {"Stage": "Closed Won"}}, delete=[live[1]])
    try:
        zh.sb.reset_stats()
        conn, _, deals = read_deals(zh, since=since)
        assert sorted(d.id for d in deals) == sorted([*touched, live[0]])
        assert conn.calls_by_kind["deal_query"] == 2 == zh.server_calls("deals_page", "deals_token")
        assert next(d for d in deals if d.id == live[0]).status == "won"
        _, _, full = read_deals(zh)
        assert live[1] not in {d.id for d in full} and len(full) == len(live) - 1
    finally:
        zh.sb.edit_deals(restore=[live[1]])


@pytest.mark.parametrize(
    "fault", [{"kind": "429"}, {"kind": "503"}, {"kind": "expired_session"}], ids=lambda f: f["kind"]
)
def test_faults_mid_read_are_retried_without_re_emitting(zh: Harness, fault: dict[str, Any]) -> None:
    zh.sb.reset_stats()
    zh.sb.inject({**fault, "endpoint": "deals_page", "after": 3}, {**fault, "endpoint": "deals_page"})
    _, _, deals = read_deals(zh)
    ids = [d.id for d in deals]
    assert len(ids) == len(set(ids)) and sorted(ids) == zh.sb.deal_ids(deleted=False)
    assert zh.sb.stats()["faults"]["fired"] == {fault["kind"]: 2}


# ------------------------------------------------------------------ a sync with deals = true
def test_a_sync_with_deals_reads_the_deals_full_then_incremental(tmp_path: Path) -> None:
    env = SyncEnv(tmp_path, "zoho", 200, deals=900)  # a sandbox with deals writes deals = true
    try:
        live = env.sb.deal_ids(deleted=False)
        line = env.sync_deals()
        assert line.startswith(f"deals: full read {len(live):,} ") and "removed 0" in line, line
        want = {rid: expected(env.sb.deal(rid), multi=False) for rid in live}
        got = env.stored_deals()
        same_deals(got, want)
        status = Counter(d.status for d in want.values())
        assert Counter(d.status for d in got.values()) == status
        by = env.calls()
        assert by.get("deals_page", 0) == math.ceil(len(live) / 200) and by.get("deals_token", 0) == 0

        env.sb.edit_deals({rid: {"Stage": "Closed Won"} for rid in live[:300]}, delete=[live[400]])
        line = env.sync_deals()
        assert line.startswith("deals: incremental read 300 "), line
        assert all(d.status == "won" for rid, d in env.stored_deals().items() if rid in live[:300])
    finally:
        env.close()
