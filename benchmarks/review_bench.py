"""``crmseg review`` over a sync's state at scale: 100,000 accounts and 500,000 deals (issue 17).

What it does:

1. **State** (a child process, ``--child build``): a CSV-file sync's config (shipped ``rules/``,
   ``connectors/csv.toml``, a ``[review]`` table with a ``customer`` expression so churn is
   computed) and its SQLite state written through the store's own API, as ``crmseg sync``
   writes it but without a CRM: the accounts of ``scripts/make_sample_accounts.generate`` as
   the local copy (``upsert_accounts``); ``--history`` runs, a quarter apart from 2025-01-06,
   recording every account's segment, tier, stage and ICP score (``confirm``: tags and
   transitions, the first run marking the first evaluation), with ~8% of the accounts changing
   segment, tier and stage in each later run and the scores moving; then the deals
   (``upsert_deals``): ~5 per account, created from 2024-07 to 2026-10 (some before the history:
   backfilled), closed 20–240 days later, won more often in some segments and tiers than
   others, a few without an account or a close date. Cached in ``--out`` by its arguments.
2. **End to end** (the measured figure): ``crmseg review --config C --period 2026Q3 --as-of
   2026-11-01 --json out.json -q`` as a subprocess, ``--repeat`` times: wall time (the process
   from start to exit) and peak RSS (``os.wait4``'s ``ru_maxrss`` of that child; the parent
   never imports crmseg and stays small, so the child's figure is its own).
3. **Per phase** (``--child phases``, in one process): the review's steps timed one by one with
   the same code the command runs — reading deals and the tag history from the state into
   columns, the accounts' local copy, columnar attribution, the statistics (``assemble``), the
   quarterly trend, the JSON document — and, as the baseline, the row-by-row way (a ``Deal``
   per deal from ``iter_deals``, the ``label_history`` objects and a ``TagHistory``, attribution
   deal by deal with a bisect, the tally one Python pass per period) beside them, with checks
   that both give the same attribution and the same tallies.

Progress goes to stderr (``[review-bench] ...``), the report to stdout. Exit 1 when the
review fails or the targets (≤ 10 s, ≤ 500 MB) are not met at 100,000 accounts and 500,000
deals (smaller runs only print the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SYNC = "bench"
PERIOD = "2026Q3"
AS_OF = "2026-11-01"
TARGET_S = 10.0
TARGET_MB = 500.0
REVIEW_TOML = """[review]
customer = "stage in ['Customer', 'Post-sale']"
"""


def _log(msg: str) -> None:
    print(f"[review-bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- state (child)
def _build(folder: Path, accounts: int, deals: int, history: int, seed: int) -> None:
    """Write the config and the state (see the module's docstring)."""
    import random
    from datetime import UTC, date, datetime, timedelta

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_sample_accounts import generate  # type: ignore[import-not-found]

    from crmseg.deals import Deal
    from crmseg.state import open_store
    from crmseg.state.store import Confirmed, DimTag, iso

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text("id,name\n")  # the sync's file: the review reads the state only
    (folder / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n'
        f'[syncs.{SYNC}]\nconnector = "csv"\npath = "accounts.csv"\nmapping = "{ROOT / "connectors" / "csv.toml"}"\n'
        f'rules = "{ROOT / "rules"}"\nengine = "native"\ndeals = "deals.csv"\n' + REVIEW_TOML
    )
    path = folder / "state.sqlite"
    path.unlink(missing_ok=True)
    store = open_store(path)
    rng = random.Random(seed)
    rows = list(generate(accounts, seed))
    ids = [r["id"] for r in rows]
    store.upsert_accounts(SYNC, 0, [(r["id"], r) for r in rows])
    del rows
    segments = ["Enterprise", "Digital Native", "Mid-Market", "SMB", "Unsegmented"]
    seg_weights = [0.15, 0.1, 0.3, 0.4, 0.05]
    tiers = ["Tier 1", "Tier 2", "Tier 3"]
    stages = ["Qualified", "Aware", "Engaged", "MQA", "Opportunity", "Customer", "Post-sale"]
    label: dict[str, dict[str, str]] = {}
    for a in ids:
        score = rng.randint(0, 100)
        label[a] = {
            "segment": rng.choices(segments, seg_weights)[0],
            "tier": "Tier 1" if score >= 70 else "Tier 2" if score >= 40 else "Tier 3",
            "stage": rng.choice(stages),
            "icp_score": str(score),
        }
    start = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
    timeline: dict[str, list[tuple[datetime, str, str]]] = {a: [] for a in ids}  # (at, segment, tier)
    for run_no in range(history):
        at = start + timedelta(days=91 * run_no)
        run = store.begin_run(SYNC, "full", None, None, "bench", iso(at))
        items: list[Confirmed] = []
        for a in ids:
            now = label[a]
            was = dict(now) if run_no else dict.fromkeys(now)  # the first run writes every tag: no CRM value yet
            if run_no:
                if rng.random() < 0.08:
                    now["segment"] = rng.choices(segments, seg_weights)[0]
                if rng.random() < 0.08:
                    now["tier"] = rng.choice(tiers)
                if rng.random() < 0.08:
                    now["stage"] = rng.choice(stages)
                if rng.random() < 0.3:
                    now["icp_score"] = str(max(0, min(100, int(now["icp_score"]) + rng.randint(-15, 15))))
            timeline[a].append((at, now["segment"], now["tier"]))
            items.append(Confirmed(a, {d: DimTag(was[d], v, "bench") for d, v in now.items()}))
        for i in range(0, len(items), 20000):
            store.confirm(SYNC, run, iso(at), items[i : i + 20000])
        store.finish_run(run, "success", iso(at + timedelta(minutes=5)), {})
        _log(f"  history run {run_no + 1}/{history} at {at.date()} recorded")
    win = {"Enterprise": 0.32, "Digital Native": 0.27, "Mid-Market": 0.22, "SMB": 0.2, "Unsegmented": 0.15}
    tier_win = {"Tier 1": 0.05, "Tier 2": 0.0, "Tier 3": -0.05}
    first_day = datetime(2024, 7, 1, tzinfo=UTC)
    span_s = (datetime(2026, 10, 25, tzinfo=UTC) - first_day).total_seconds()
    as_of = date.fromisoformat(AS_OF)
    batch: list[Deal] = []
    for n in range(deals):
        account = ids[rng.randrange(len(ids))] if rng.random() > 0.002 else None
        created = first_day + timedelta(seconds=rng.random() * span_s)
        p = 0.22
        if account is not None:
            line = timeline[account]
            seg, tier = line[0][1], line[0][2]
            for at, s, t in line:
                if at <= created:
                    seg, tier = s, t
            p = win[seg] + tier_win[tier]
        closes = created.date() + timedelta(days=rng.randint(20, 240))
        closed = closes < as_of and rng.random() < 0.93
        status = ("won" if rng.random() < p else "lost") if closed else "open"
        batch.append(
            Deal(
                id=f"D{n + 1:07d}",
                created_at=created,
                status=status,  # type: ignore[arg-type]  # one of the three
                account_id=account,
                amount=round(rng.lognormvariate(9.5, 1.0), 2) if rng.random() > 0.01 else None,
                currency="USD",
                closed_at=closes if rng.random() > 0.002 else None,
                stage="Closed Won" if status == "won" else "Closed Lost" if status == "lost" else "Proposal",
                pipeline="default",
                type="New Business",
            )
        )
        if len(batch) == 50000:
            store.upsert_deals(SYNC, 1, batch)
            batch = []
    if batch:
        store.upsert_deals(SYNC, 1, batch)
    store.close()


# ---------------------------------------------------------------- phases (child)
def _row_by_row(deals: list[tuple[str, Any]], period: Any) -> dict[str, tuple[Any, ...]]:
    """The first implementation of a period's tally: one Python pass over every labelled deal
    (``tests/test_review_frame.py`` keeps the same definition), as (won, lost, won amounts,
    closed amount, cycles, open deals, open amount) per label."""
    out: dict[str, list[Any]] = {}
    for label, deal in deals:
        t = out.setdefault(label, [0, 0, [], 0.0, [], 0, 0.0])
        if deal.created_at.date() <= period.end and (
            deal.status == "open" or (deal.closed_at is not None and deal.closed_at > period.end)
        ):
            t[5] += 1
            t[6] += deal.amount or 0.0
        if deal.status == "open" or deal.closed_at is None or deal.closed_at not in period:
            continue
        if deal.status == "won":
            t[0] += 1
            if deal.amount is not None:
                t[2].append(deal.amount)
            cycle = (deal.closed_at - deal.created_at.date()).days
            if cycle >= 0:
                t[4].append(float(cycle))
        else:
            t[1] += 1
        t[3] += deal.amount or 0.0
    return {k: tuple(v) for k, v in out.items()}


def _phases(folder: Path) -> dict[str, Any]:
    """Each step of the review timed on its own (see the module's docstring)."""
    from datetime import UTC, datetime

    from crmseg.config import load_config
    from crmseg.deals import TagHistory, attribute
    from crmseg.deals.attribution import BASES
    from crmseg.deals.table import AccountIndex, DealTable
    from crmseg.deals.timelines import attribute_table, timelines
    from crmseg.review.assemble import assemble, periods_before, quarterly
    from crmseg.review.frame import DealColumns, LabelFrame, TallyCounts, tally
    from crmseg.reviewing import ReviewRequest, choose_periods, review_document, settings_of, state_inputs
    from crmseg.reviewing.document import TREND_PERIODS
    from crmseg.state import open_state

    cfg = load_config(folder / "config.toml")
    as_of = datetime.fromisoformat(AS_OF).replace(tzinfo=UTC)
    current, before = choose_periods(as_of.date(), period=PERIOD, fiscal_year_start_month=1)
    request = ReviewRequest(current, before, cfg.review, None, None, as_of)
    dims = ["segment", "tier", "stage", "icp_score"]
    out: dict[str, Any] = {}

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value = fn()
        out[name] = time.perf_counter() - t0
        return value

    store = open_state(cfg, create=False)
    assert store is not None
    index = AccountIndex()
    table = timed(
        "read deals into columns (deal_rows, DealTable)", lambda: DealTable.from_rows(store.deal_rows(SYNC), index)
    )
    lines = timed("read the tag history into timelines (label_rows, timelines)",
                  lambda: timelines(store.label_rows(SYNC, dims), index, dims))  # fmt: skip
    timed("read accounts (local copy)", lambda: sum(1 for _ in store.iter_accounts(SYNC)))
    deals = timed("baseline: read deals (iter_deals, a Deal each)", lambda: list(store.iter_deals(SYNC)))
    recorded = timed("baseline: read label history (label_history)", lambda: store.label_history(SYNC, dims))
    store.close()
    history = timed("baseline: tag history (TagHistory)", lambda: TagHistory(recorded.first, recorded.moves))
    same = True
    rows = None
    for dim in ("segment", "tier"):
        rows = timed(f"baseline: attribution, {dim} (attribute, deal by deal)",
                     lambda dim=dim: attribute(deals, history, dim, "created"))  # fmt: skip
        cols = timed(f"attribution, {dim} (attribute_table)", lambda dim=dim: attribute_table(table, lines[dim]))
        same = same and cols.labels() == [d.label for d in rows.deals]
        same = same and [BASES[b] for b in cols.basis.tolist()] == [d.basis for d in rows.deals]
    out["attributions identical"] = "yes" if same else "NO"
    assert rows is not None
    periods = [current, *([before] if before else []), *periods_before(current, TREND_PERIODS, 1)]
    labelled = [(d.label, d.deal) for d in rows.deals if d.label is not None]
    by_row = timed(
        f"baseline: tally row by row, tier, {len(periods)} periods",
        lambda: [_row_by_row(labelled, p) for p in periods],
    )

    def columnar() -> list[Any]:
        frame = LabelFrame.of_table(attribute_table(table, lines["tier"]), DealColumns.of(table))
        return [tally(frame, p, TallyCounts()) for p in periods]

    by_cols = timed(f"tally over columns (LabelFrame), tier, {len(periods)} periods", columnar)

    def fields(t: Any) -> tuple[Any, ...]:
        return (t.won, t.lost, t.won_amounts, t.closed_amount, t.cycles, t.open_deals, t.open_amount)

    same = all(a == {k: fields(v) for k, v in b.items()} for a, b in zip(by_row, by_cols, strict=True))
    out["tallies identical"] = "yes" if same else "NO"
    inputs = timed("state_inputs (reads + attribution, all)", lambda: state_inputs(cfg, None, request))
    timed("statistics (assemble)", lambda: assemble(inputs, settings_of(request.settings)))
    spans = periods_before(inputs.period, TREND_PERIODS, 1)
    timed("quarterly trend", lambda: quarterly(inputs, spans))
    _, doc = timed("review_document (assemble + trend)", lambda: review_document(inputs, request, "bench"))
    timed("JSON text", lambda: json.dumps(doc, allow_nan=False))
    return out


# ---------------------------------------------------------------- parent
def _child(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)


def _measure(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MB), exit status and stderr of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss * 1024 / 1e6, proc.returncode, err


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--deals", type=int, default=500_000)
    p.add_argument("--history", type=int, default=6, help="sync runs recorded, a quarter apart")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--repeat", type=int, default=3, help="review processes; the fastest kept, the highest RSS")
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "crmseg-bench")
    p.add_argument("--no-phases", action="store_true", help="skip the per-phase child")
    p.add_argument("--child", choices=("build", "phases"), help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child == "build":
        _build(a.folder, a.accounts, a.deals, a.history, a.seed)
        return 0
    if a.child == "phases":
        print(json.dumps(_phases(a.folder)))
        return 0

    folder = a.out / f"review-{a.accounts}-{a.deals}-h{a.history}-s{a.seed}"
    if not (folder / "done").exists():
        _log(f"building the state in {folder} ...")
        t0 = time.perf_counter()
        built = _child(["--child", "build", "--folder", str(folder), "--accounts", str(a.accounts),
                        "--deals", str(a.deals), "--history", str(a.history), "--seed", str(a.seed)])  # fmt: skip
        if built.returncode:
            print(built.stdout + built.stderr)
            return 1
        (folder / "done").write_text(f"{time.perf_counter() - t0:.1f}\n")
    build_s = float((folder / "done").read_text())
    size_mb = (folder / "state.sqlite").stat().st_size / 1e6
    cmd = [str(Path(sys.executable).parent / "crmseg"), "review", "--config", "config.toml", "--period", PERIOD,
           "--as-of", AS_OF, "--json", "out.json", "-q"]  # fmt: skip
    print("# crmseg review over a sync's state")
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip
    print(f"state: {a.accounts:,} accounts, {a.deals:,} deals, {a.history} history runs, seed {a.seed}; "
          f"SQLite {size_mb:,.0f} MB, built in {build_s:.1f} s (cached in {folder})")  # fmt: skip
    print(f"command: crmseg review --config config.toml --period {PERIOD} --as-of {AS_OF} --json out.json -q")
    print()
    print("| run | wall s | peak RSS MB | exit |")
    print("| --- | ---: | ---: | ---: |")
    walls, peaks, codes = [], [], []
    for i in range(a.repeat):
        _log(f"review run {i + 1}/{a.repeat} ...")
        wall, peak, code, err = _measure(cmd, folder)
        walls.append(wall)
        peaks.append(peak)
        codes.append(code)
        print(f"| {i + 1} | {wall:.2f} | {peak:.0f} | {code} |")
        if code not in (0, 1):
            print(err)
    doc = json.loads((folder / "out.json").read_text()) if (folder / "out.json").exists() else {}
    counts = doc.get("deals", {})
    print()
    print(f"review: exit {codes[-1]} (1 = an alert fired), deals {json.dumps(counts, sort_keys=True)}")
    print(f"dimensions: {', '.join(doc.get('dimensions', {}))}; alerts: {len(doc.get('alerts', []))}")
    if not a.no_phases:
        _log("per-phase child ...")
        ph = _child(["--child", "phases", "--folder", str(folder)])
        if ph.returncode:
            print(ph.stdout + ph.stderr)
            return 1
        phases = json.loads(ph.stdout.strip().splitlines()[-1])
        print()
        print("per phase, one process (seconds):")
        print()
        print("| phase | s |")
        print("| --- | ---: |")
        for name, s in phases.items():
            print(f"| {name} | {s:.2f} |" if isinstance(s, float) else f"| {name} | {s} |")
    best, peak = min(walls), max(peaks)
    ok = all(c in (0, 1) for c in codes)
    full = a.accounts >= 100_000 and a.deals >= 500_000
    met_t, met_m = best <= TARGET_S, peak <= TARGET_MB
    print()
    print(f"target wall <= {TARGET_S:.0f} s: {best:.2f} s (fastest of {a.repeat}) {'met' if met_t else 'NOT met'}")
    verdict = "met" if met_m else "NOT met"
    print(f"target peak RSS <= {TARGET_MB:.0f} MB: {peak:.0f} MB (highest of {a.repeat}) {verdict}")
    if not full:
        print("(targets are for 100,000 accounts and 500,000 deals; this run is smaller)")
    return 0 if ok and (not full or (met_t and met_m)) else 1


if __name__ == "__main__":
    sys.exit(main())
