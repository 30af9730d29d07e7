"""Deal reads at the API floor: full and incremental deal reads per CRM through the sandbox.

    python benchmarks/deals_bench.py [--accounts 100000] [--deals 300000] [--changes 30000]
                                     [--crm salesforce,hubspot] [--sample 200]

For each CRM a sandbox seeded with the accounts and deals (planted effects and all: ~1% of
deals deleted/archived, ~1% without an account, 5% of HubSpot deals with two companies) is
read by the connector's deal read, each record converted through ``DealNormalizer`` with the
shipped mapping:

- full read: every live deal (Salesforce ``query``, HubSpot list with companies inline);
- incremental read: ``--changes`` deals touched after a watermark (Salesforce ``SystemModstamp``
  query, HubSpot search + v4 association batches).

Each row prints the calls made beside the floor (Salesforce ceil(D/2000) query pages; HubSpot
full ceil(D/100) list pages, incremental ceil(D/200) search pages + ceil(D/1000) association
reads) and the naive way: one call per deal (Salesforce a ``WHERE Id = ...`` query, HubSpot
``GET /crm/v3/objects/deals/{id}?associations=companies``), timed on ``--sample`` deals and
scaled (marked ``*``). The sandbox runs in this process (its server threads share the
interpreter), so wall times are the client's and the server's together; call counts are exact.
Exit 1 when a read's calls differ from its floor or it reads other deals than the sandbox holds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from crmseg.config import HubSpotSync, SalesforceSync  # noqa: E402 - after the src path
from crmseg.connectors.factory import open_connector  # noqa: E402 - after the src path
from crmseg.deals.mapped import DealNormalizer  # noqa: E402 - after the src path
from crmseg.sandbox import SandboxServer  # noqa: E402 - after the src path
from crmseg.sandbox.clients import hubspot_client, salesforce_client  # noqa: E402 - after the src path
from crmseg.sandbox.defaults import default_mapping  # noqa: E402 - after the src path

CRMS = ("salesforce", "hubspot")
SANDBOX_OPTIONS: dict[str, Any] = {"daily_limit": 10**9, "rate_limit": 10**9, "search_rate_limit": 10**9}


@dataclass
class Row:
    label: str
    deals: int
    calls: int
    floor: int
    floor_how: str
    wall: float
    naive_calls: int
    naive_wall: float
    right: bool

    @property
    def ok(self) -> bool:
        return self.right and self.calls == self.floor


def floors(crm: str, n: int, full: bool) -> tuple[int, str]:
    """The fewest calls that read ``n`` deals, and how they are counted."""
    if crm == "salesforce":
        return max(1, math.ceil(n / 2000)), f"ceil({n:,} / 2,000) query pages"
    if full:
        return max(1, math.ceil(n / 100)), f"ceil({n:,} / 100) list pages"
    pages, batches = max(1, math.ceil(n / 200)), math.ceil(n / 1000)
    return pages + batches, f"ceil({n:,} / 200) search pages + ceil({n:,} / 1,000) association reads"


def deal_calls(conn: Any) -> int:
    by = conn.calls_by_kind
    return by["deal_query"] + by["deal_list"] + by["deal_search"] + by["deal_associations"]


def naive(crm: str, sb: SandboxServer, ids: Sequence[str], sample: int) -> float:
    """Seconds per deal read one call at a time, timed on ``sample`` deals."""
    picked = list(ids[:: max(1, len(ids) // sample)])[:sample]
    one: Callable[[str], Any]
    if crm == "salesforce":
        sf = salesforce_client(sb.url)
        fields = "Id, AccountId, Amount, CloseDate, CreatedDate, IsClosed, IsWon, StageName, Type, SystemModstamp"
        one = lambda rid: sf.query(f"SELECT {fields} FROM Opportunity WHERE Id = '{rid}'")  # noqa: E731
    else:
        basic = hubspot_client(sb.url).crm.deals.basic_api
        one = lambda rid: basic.get_by_id(rid, associations=["companies"])  # noqa: E731
    start = time.perf_counter()
    for rid in picked:
        one(rid)
    return (time.perf_counter() - start) / max(1, len(picked))


def measure(crm: str, accounts: int, deals: int, changes: int, sample: int) -> list[Row]:
    mapping = default_mapping(crm)
    assert mapping.deals is not None
    t0 = time.perf_counter()
    sb = SandboxServer(crm, accounts=accounts, deals=deals, mapping=mapping, **SANDBOX_OPTIONS).start()
    print(f"  seeded {accounts:,} accounts and {deals:,} deals in {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        cfg = (
            SalesforceSync(connector="salesforce", instance_url=sb.url, name="bench", auth="client_credentials")
            if crm == "salesforce"
            else HubSpotSync(connector="hubspot", host=sb.url, name="bench")
        )
        live = sb.deal_ids(deleted=False)
        per_deal = naive(crm, sb, live, sample)
        rows = []
        for label, since_ids in (("full read", None), ("incremental read", live[:changes])):
            since = None
            if since_ids is not None:
                since = datetime.now(UTC)
                time.sleep(0.002)
                sb.edit_deals(touch=since_ids)
            conn = open_connector(cfg, mapping, sb.env())
            reads = conn.capabilities.deals
            assert reads is not None
            norm = DealNormalizer(mapping.deals, multi_currency=reads.multi_currency)
            start = time.perf_counter()
            got = [norm.deal(r).id for r in reads.read_deals(norm.read_fields(), since=since)]
            wall = time.perf_counter() - start
            want = sorted(since_ids) if since_ids is not None else live
            floor, how = floors(crm, len(want), since is None)
            right = sorted(got) == want
            calls = deal_calls(conn)
            rows.append(Row(label, len(got), calls, floor, how, wall, len(want), per_deal * len(want), right))
            conn.close()
        return rows
    finally:
        sb.stop()


def report(crm: str, rows: list[Row]) -> None:
    head = ("read", "deals", "API calls", "floor", "check", "wall s", "naive calls", "naive s")
    cells = [
        (
            r.label,
            f"{r.deals:,}",
            f"{r.calls:,}",
            f"{r.floor:,}",
            "OK" if r.ok else "PROBLEM",
            f"{r.wall:.1f}",
            f"{r.naive_calls:,}",
            f"{r.naive_wall:.1f}*",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    for line in [head, *cells]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for r in rows:
        differ = "" if r.right else "; DEALS DIFFER from the sandbox's"
        print(f"  {r.label}: floor {r.floor:,} = {r.floor_how}{differ}")
    print("  * naive: one call per deal, timed on a sample and scaled")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--deals", type=int, default=300_000)
    p.add_argument("--changes", type=int, default=30_000, help="deals touched before the incremental read")
    p.add_argument("--crm", default=",".join(CRMS))
    p.add_argument("--sample", type=int, default=200, help="deals the naive way is timed on")
    args = p.parse_args(argv)
    ok = True
    for crm in args.crm.split(","):
        print(f"== {crm}: {args.accounts:,} accounts, {args.deals:,} deals, {args.changes:,} changed", flush=True)
        rows = measure(crm, args.accounts, args.deals, min(args.changes, args.deals), args.sample)
        report(crm, rows)
        good = all(r.ok for r in rows)
        ok &= good
        print(f"{crm}: calls == floor for every deal read: {'OK' if good else 'PROBLEM'}", flush=True)
    print(f"RESULT: calls == floor for every deal read ({args.crm}): {'OK' if ok else 'PROBLEM'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
