"""``crmseg status``: per sync, the last run, records waiting for a retry, the rules a daemon runs
(and an edit it rejected), the next run while a daemon holds the schedule."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from crmseg.config import Config, load_config

if TYPE_CHECKING:
    from crmseg.state.store import RuleStatus, ScheduleEntry, StateStore, SyncState


def status_data(cfg: Config, sync_name: str | None = None) -> dict[str, Any]:
    """The ``status --json`` document: ``{"syncs": {NAME: {...}}}``."""
    from crmseg.daemon.health import next_run
    from crmseg.state import open_state, state_label

    names = [cfg.sync(sync_name).name] if sync_name else list(cfg.syncs)
    out: dict[str, Any] = {"state": state_label(cfg), "syncs": {}}
    store = open_state(cfg, create=False)
    try:
        now = store.now() if store else ""
        for name in names:
            sync_cfg = cfg.syncs[name]
            schedule = _schedules(store, name)
            when = next_run(bool(sync_cfg.cron or sync_cfg.interval), schedule, now)
            state = store.sync_state(name) if store else None
            last = store.last_run(name) if store else None
            errors = store.record_errors(name) if store else {}
            lease = store.lease(name) if store else None
            retry = [e for e in errors.values() if not e.permanent]
            blocked = [e for e in errors.values() if e.permanent]
            out["syncs"][name] = {
                "connector": sync_cfg.connector,
                "last_run": last.as_dict() if last else None,
                "pending_retries": len(retry),
                "blocked": len(blocked),
                "errors": [
                    {"account": e.account, "error": e.error, "attempts": e.attempts, "permanent": e.permanent}
                    for e in (retry + blocked)[:100]
                ],
                "drift_alert": last.drift_alert if last else None,
                "running": (
                    {
                        "holder": lease.holder,
                        "host": lease.host,
                        "pid": lease.pid,
                        "since": lease.acquired_at,
                        "lease_until": lease.expires_at,
                    }
                    if lease
                    else None
                ),
                "next_run": when.at,
                "next_run_reason": when.reason,
                "scheduled_by": when.daemon,
                "rules": _rules(store.rule_status(name) if store else None, schedule, now),
                "watermark": state.watermark if state else None,
                "crm_identity": _identity(state),
                "undo_holds": _holds(store, cfg, name) if store else None,
                "deals": _deals(store, name, state) if store and state else None,
            }
    finally:
        if store is not None:
            store.close()
    return out


def _holds(store: StateStore, cfg: Config, name: str) -> dict[str, Any] | None:
    """Tags an undo restored that ordinary runs leave as they are while the rules are unchanged
    (``accounts``, ``values``, ``undone_runs``); None when there are none in force."""
    from crmseg.sync.undo import active_holds, live_fingerprint

    holds = active_holds(store, name, live_fingerprint(cfg, cfg.syncs[name]))
    return holds.to_json() if holds.dims else None


def _deals(store: StateStore, name: str, state: SyncState) -> dict[str, Any] | None:
    """The sync's deals in state (``total``, ``open``, ``won``, ``lost``, ``no_account``,
    ``unknown_account``) and their ``watermark``; None when it keeps none and never read any."""
    counts = store.deal_counts(name)
    if not counts.total and state.deals_watermark is None:
        return None
    return {**counts.as_dict(), "watermark": state.deals_watermark}


def _schedules(store: StateStore | None, sync: str) -> list[ScheduleEntry]:
    return store.schedules(sync) if store else []


def _rules(status: RuleStatus | None, schedule: list[ScheduleEntry], now: str) -> dict[str, Any] | None:
    """What a daemon last reported of the sync's rules: ``live`` (fingerprint, since when),
    ``rejected`` (the edit it refused: fingerprint, when, problems with file, line, reason),
    who reported and whether that daemon still runs; None when no daemon ever reported."""
    if status is None:
        return None
    running = any(e.holder == status.reporter and e.expires_at > now for e in schedule)
    return {
        "live": {"fingerprint": status.fingerprint, "since": status.since} if status.fingerprint else None,
        "rejected": (
            {"fingerprint": status.rejected_fingerprint, "at": status.rejected_at, "problems": status.problems}
            if status.rejected_fingerprint
            else None
        ),
        "reported_by": status.reporter,
        "reported_at": status.updated_at,
        "reporter_running": running,
    }


def _identity(state: SyncState | None) -> dict[str, str] | None:
    """The CRM the sync's state belongs to (``kind``, ``id``, ``where``), None before a run records it."""
    from crmseg.sync.identity import stored_identity

    ident = stored_identity(state) if state is not None else None
    return {"kind": ident.kind, "id": ident.id, "where": ident.where} if ident else None


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), required=True, help="config.toml.")
@click.option("--sync", "sync_name", help="Only this sync.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(config: str, sync_name: str | None, as_json: bool) -> None:
    """Per sync: the last run (when, outcome, counts, API calls, errors, drift alert) and the next one."""
    data = status_data(load_config(config), sync_name)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console = Console(soft_wrap=True)
    console.print(f"state: {data['state']}", highlight=False)
    for name, s in data["syncs"].items():
        r = s["last_run"]
        if r is None:
            console.print(f"[bold]{name}[/] ({s['connector']}): never run; next run {_next(s)}", highlight=False)
            continue
        read = _MODE_TEXT.get(r["mode"]) or f"{r['mode']} read"
        console.print(
            f"[bold]{name}[/] ({s['connector']}): last run #{r['id']} [bold]{r['status']}[/] at "
            f"{r['started_at'][:19].replace('T', ' ')}Z ({read})",
            highlight=False,
        )
        console.print(
            f"  read {r['read']:,} · evaluated {r['evaluated']:,} · changed {r['changed']:,} · "
            f"written {r['written']:,} · failed {r['failed']:,} · pinned {r['pinned']:,} · "
            f"API calls {r['api_calls']:,}",
            highlight=False,
        )
        console.print(
            f"  waiting for retry {s['pending_retries']:,} · blocked {s['blocked']:,} · next run {_next(s)}",
            highlight=False,
        )
        if s["deals"]:
            d = s["deals"]
            console.print(
                f"  deals {d['total']:,}: open {d['open']:,} · won {d['won']:,} · lost {d['lost']:,} · "
                f"no account {d['no_account']:,} · unknown account {d['unknown_account']:,} · "
                f"watermark {d['watermark'] or '(none: next read is full)'}",
                highlight=False,
            )
    for name, s in data["syncs"].items():
        r = s["last_run"]
        _print_rules(console, name, s["rules"])
        if s["running"]:
            console.print(
                f"{name}: running now ({s['running']['holder']}, lease until {s['running']['lease_until']})",
                highlight=False,
            )
        if r and r.get("message"):
            console.print(f"{name}: {r['message']}", highlight=False, markup=False)
        if s["undo_holds"]:
            h = s["undo_holds"]
            console.print(
                f"{name}: [bold yellow]undo holds[/]: {h['accounts']:,} account(s) kept at the values undo restored "
                f"(run(s) {', '.join(map(str, h['undone_runs']))} undone); the rules are still those runs' rules, "
                "edit them to release",
                highlight=False,
            )
        if s["drift_alert"]:
            console.print(f"{name}: [bold yellow]drift alert[/]: {s['drift_alert']}", highlight=False)
        for e in s["errors"][:10]:
            kind = "blocked" if e["permanent"] else f"retry (attempt {e['attempts']})"
            console.print(f"{name}: {e['account']} {kind}: {e['error']}", highlight=False, markup=False)
    sys.exit(0)


#: ``last_run.mode`` of a run that ended before reading (``crmseg.sync.service.NOT_READ``; not
#: imported, to keep ``status`` light).
NOT_READ = "none"
#: How ``status`` names a run's mode where "<mode> read" would mislead (an undo reads nothing).
_MODE_TEXT = {NOT_READ: "nothing read", "undo": "undo, nothing read"}


def _next(s: dict[str, Any]) -> str:
    return s["next_run"] or f"- ({s['next_run_reason']})"


def _print_rules(console: Console, name: str, rules: dict[str, Any] | None) -> None:
    """The rules a daemon runs and the edit it rejected (file:line: reason per problem)."""
    if rules is None:
        return
    live = rules["live"]
    who = "the running daemon" if rules["reporter_running"] else f"the last daemon ({rules['reported_by']}, stopped)"
    if live:
        console.print(f"{name}: rules {live['fingerprint']} live since {live['since']} ({who})", highlight=False)
    rejected = rules["rejected"]
    if rejected:
        kept = "the rules above stay in use" if live else "the sync does not run until it is fixed"
        console.print(
            f"{name}: [bold red]rule edit rejected[/] ({rejected['fingerprint']}, {rejected['at']}); {kept}:",
            highlight=False,
        )
        for p in rejected["problems"]:
            where = f"{p['file']}:{p['line']}" if p.get("file") and p.get("line") else p.get("file")
            console.print(f"  {where + ': ' if where else ''}{p['reason']}", highlight=False, markup=False)
