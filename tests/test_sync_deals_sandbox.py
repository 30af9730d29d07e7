"""A CRM sync with ``deals = true`` end to end through the real CLI against the sandbox CRMs
(simple-salesforce, hubspot-api-client over HTTP on 127.0.0.1): one run reads the accounts then
the deals; ``status --json`` counts what the sandbox holds; the next run reads only the deals
modified since; a deletion leaves the state at the next full read; a multi-currency org/portal
stores the home-currency amount. The deal calls each run made are checked against the floor in
the sandbox's own stats."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmseg.dates import parse_iso
from crmseg.deals.model import Deal
from crmseg.sandbox.store import Record

from .connector_fixtures import same_deals
from .sync_env import SyncEnv
from .test_deal_reads import hs_expected, sf_expected

#: The deal endpoints of each CRM, as the sandbox's stats name them.
DEAL_CALLS = {
    "salesforce": ("query_opportunity", "query_more_opportunity", "describe_opportunity"),
    "hubspot": (
        "deals_list",
        "deals_search",
        "deals_associations_batch_read",
        "deals_get",
        "deals_pipelines",
        "deals_properties_list",
    ),
}
#: An account id neither CRM holds (Salesforce Account id shape; a HubSpot company id).
GHOST = {"salesforce": "001000000000ZZZZZZ", "hubspot": 999_999_999}


def expected(env: SyncEnv, multi: bool = False) -> dict[str, Deal]:
    """The live deals the sandbox holds, as a sync must store them."""
    conv = sf_expected if env.crm == "salesforce" else hs_expected
    out = {}
    for rid in env.sb.deal_ids(deleted=False):
        rec = env.sb.deal(rid)
        assert isinstance(rec, Record)
        out[rid] = conv(rec, multi)
    return out


def expected_counts(env: SyncEnv, deals: dict[str, Deal]) -> dict[str, int]:
    accounts = {rec.id for rec in env.sb.store.scan()}
    status = Counter(d.status for d in deals.values())
    return {
        "total": len(deals),
        "open": status["open"],
        "won": status["won"],
        "lost": status["lost"],
        "no_account": sum(1 for d in deals.values() if d.account_id is None),
        "unknown_account": sum(1 for d in deals.values() if d.account_id is not None and d.account_id not in accounts),
    }


def deal_calls(env: SyncEnv) -> dict[str, int]:
    by = env.calls()
    return {e: by.get(e, 0) for e in DEAL_CALLS[env.crm]}


def read_count(line: str, mode: str) -> int:
    m = re.match(rf"deals: {mode} read ([\d,]+) ", line)
    assert m, line
    return int(m.group(1).replace(",", ""))


@pytest.fixture(params=["salesforce", "hubspot"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncEnv]:
    e = SyncEnv(tmp_path, request.param, 400, deals=4500)  # a sandbox with deals writes deals = true
    try:
        yield e
    finally:
        e.close()


def test_a_crm_sync_reads_accounts_then_deals_full_then_incremental_at_the_floor(env: SyncEnv) -> None:
    crm = env.crm
    assert "\ndeals = true" in env.config.read_text(encoding="utf-8")  # the sandbox's config reads its deals
    live = env.sb.deal_ids(deleted=False)
    assert env.sb.deal_ids(deleted=True)  # the seed has deleted/archived deals: never stored
    # one deal moved to an account the CRM does not hold: kept, counted as unknown
    ghost_field = {"AccountId": GHOST[crm]} if crm == "salesforce" else {"__companies": [[GHOST[crm], True]]}
    env.sb.edit_deals({live[3]: ghost_field})

    # run 1: accounts (full) then every live deal (full), in the same run
    line = env.sync_deals()
    want = expected(env)
    assert read_count(line, "full") == len(live) and "removed 0" in line
    same_deals(env.stored_deals(), want)
    counts = expected_counts(env, want)
    assert counts["no_account"] > 0 and counts["unknown_account"] == 1
    got = env.status_deals()
    wm1 = got.pop("watermark")
    assert got == counts and wm1 is not None
    calls = deal_calls(env)
    if crm == "salesforce":  # ceil(D/2000) query pages, one describe (currencies, fields)
        assert calls["query_opportunity"] + calls["query_more_opportunity"] == math.ceil(len(live) / 2000)
        assert calls["describe_opportunity"] == 1
    else:  # ceil(D/100) list pages, companies inline: no search, no association reads
        assert calls["deals_list"] == math.ceil(len(live) / 100)
        assert calls["deals_search"] == calls["deals_associations_batch_read"] == 0
    runs = env.runs()
    assert runs[-1].mode == "full" and wm1 <= runs[-1].finished_at

    # run 2: 1,300 deals edited, one closed won, one deleted: an incremental read of the modified ones
    edited = live[10:1310]
    if crm == "salesforce":
        closed = {"StageName": "Closed Won", "IsClosed": True, "IsWon": True, "Type": "Renewal"}
    else:
        closed = {"dealstage": "closedwon", "hs_is_closed": True, "hs_is_closed_won": True, "dealtype": "renewal"}
    gone = live[2000]
    env.sb.edit_deals({live[10]: closed}, touch=edited[1:], delete=[gone])
    line = env.sync_deals()
    # the deals modified since the watermark (whole seconds: a deal edited in run 1's first second is
    # read again, safely); the deleted one is not returned by an incremental read
    since_ms = int(parse_iso(wm1).timestamp() * 1000)
    modified = [rid for rid in env.sb.deal_ids(deleted=False) if env.sb.deal(rid).modified_ms >= since_ms]  # type: ignore[union-attr]
    n = read_count(line, "incremental")
    assert set(edited) <= set(modified) and n == len(modified) < len(edited) + 5
    now = env.stored_deals()
    assert now[live[10]].status == "won"
    want = expected(env)
    assert gone in now and gone not in want  # an incremental read cannot see a deletion ...
    del now[gone]
    same_deals(now, want)
    calls = deal_calls(env)
    if crm == "salesforce":
        assert calls["query_opportunity"] + calls["query_more_opportunity"] == math.ceil(n / 2000)
    else:  # ceil(D/200) search pages, each record once, + ceil(D/1000) association batches
        assert calls["deals_search"] == math.ceil(n / 200)
        assert calls["deals_associations_batch_read"] == math.ceil(n / 1000)
        assert calls["deals_list"] == 0
    wm2 = env.status_deals()["watermark"]
    assert wm2 >= wm1 and env.runs()[-1].mode == "incremental"

    # run 3: a full read (--full) drops the deleted deal
    line = env.sync_deals("--full")
    assert read_count(line, "full") == len(live) - 1 and "removed 1" in line
    same_deals(env.stored_deals(), want)
    got = env.status_deals()
    got.pop("watermark")
    assert got == expected_counts(env, want)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_multi_currency_org_stores_the_home_currency_amount(crm: str, tmp_path: Path) -> None:
    env = SyncEnv(tmp_path, crm, 200, deals=600, multi_currency=True)
    try:
        env.sync_deals()
        got, want = env.stored_deals(), expected(env, multi=True)
        same_deals(got, want)
        assert len({d.currency for d in got.values()}) > 2
        native = "Amount" if crm == "salesforce" else "amount"
        foreign = [d for d in got.values() if d.currency != "USD" and d.amount]
        assert foreign and all(
            d.amount != pytest.approx(float(env.sb.deal(d.id).data[native]), abs=0.01)  # type: ignore[union-attr]
            for d in foreign
        )
    finally:
        env.close()
