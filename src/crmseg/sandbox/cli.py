"""``crmseg sandbox`` / ``python -m crmseg.sandbox``: run a sandbox CRM until SIGINT/SIGTERM.

``run_sandbox`` is the entry the main CLI calls; ``main`` parses arguments with argparse.
``--write-config OUT.toml`` writes a ready config (credentials only as environment
variable names; the values to export are printed).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from crmseg.config import HubSpotSync, SalesforceSync, load_config
from crmseg.errors import ConfigError, CrmsegError
from crmseg.sandbox.server import CRMS, SandboxServer


def _rel(target: Path, base: Path) -> str:
    """``target`` relative to ``base`` when it lies inside it, else absolute."""
    try:
        rel = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return str(target.resolve())
    return str(target.resolve()) if rel.startswith("..") else rel


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_sandbox_config(sb: SandboxServer, out: str | Path, sync_name: str = "sandbox") -> Path:
    """Write a config.toml for ``sb`` naming its mapping file; validate it; return its path.

    The sandbox's mapping must come from a file (the shipped ``connectors/<crm>.toml`` or
    ``--mapping``): the config points at it rather than copying it.
    """
    path = Path(out)
    base = path.parent if str(path.parent) else Path(".")
    if not sb.mapping.path or not Path(sb.mapping.path).is_file():
        raise ConfigError(
            f"cannot write {path}: the sandbox's mapping was not loaded from a file "
            f"({sb.mapping.path or 'built in memory'}); start it with mapping=PATH or --mapping FILE"
        )
    mapping_path = Path(sb.mapping.path)
    base.mkdir(parents=True, exist_ok=True)
    rules = _rel(sb.rules_dir, base) if sb.rules_dir is not None else "rules"
    lines = [
        f"# Written by `crmseg sandbox --crm {sb.crm}` for the sandbox at {sb.url}.",
        "# Credentials are read from the environment variables named below (never stored here).",
        "",
        "[state]",
        f"path = {_q(path.stem + '-state.sqlite')}",
        "",
        f"[syncs.{sync_name}]",
        f"connector = {_q(sb.crm)}",
        f"mapping = {_q(_rel(mapping_path, base))}",
        f"rules = {_q(rules)}",
        'interval = "15m"',
    ]
    if sb.crm == "salesforce":
        defaults = SalesforceSync.model_fields
        lines += [
            f"instance_url = {_q(sb.url)}",
            'auth = "client_credentials"  # OAuth 2.0 (SOAP password login is retired)',
            f"api_version = {_q(sb.options.api_version)}",
        ]
        lines += [f"{key} = {_q(str(defaults[key].default))}" for key in ("consumer_key_env", "consumer_secret_env")]
    elif sb.crm == "zoho":
        lines += [
            f"accounts_url = {_q(sb.url)}  # the sandbox stands in for https://accounts.zoho.com",
            f"api_credits = {sb.options.daily_limit}  # the sandbox's credits per rolling 24 hours",
        ]
    elif sb.crm == "dynamics":
        lines += [
            f"environment_url = {_q(sb.url)}",
            f"authority_url = {_q(sb.url)}  # the sandbox stands in for https://login.microsoftonline.com",
            f"tenant_id = {_q(sb.options.tenant_id)}",
        ]
    else:
        lines += [
            f"host = {_q(sb.url)}",
            f"access_token_env = {_q(str(HubSpotSync.model_fields['access_token_env'].default))}",
        ]
    if sb.deal_store is not None:
        lines.append("deals = true  # the sandbox serves deals: each run reads them after the accounts")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_config(path)  # the file we hand out must load
    return path


def _env_names(sb: SandboxServer) -> dict[str, str]:
    env = sb.env()
    if sb.crm == "salesforce":
        return {k: env[k] for k in ("SF_CONSUMER_KEY", "SF_CONSUMER_SECRET")}
    return env  # HubSpot's token; Dynamics' client id and secret; Zoho's client id, secret and refresh token


def run_sandbox(
    crm: str,
    port: int = 0,
    seed_file: str | Path | None = None,
    accounts_n: int | None = None,
    write_config: str | Path | None = None,
    rules_dir: str | Path | None = None,
    mapping: str | Path | None = None,
    *,
    db_path: str = ":memory:",
    seed: int = 42,
    out: TextIO | None = None,
    stop_event: threading.Event | None = None,
    deals_n: int | None = None,
    deal_effects: bool = True,
    deals_as_of: date | None = None,
    **options: Any,
) -> int:
    """Run a sandbox until SIGINT/SIGTERM (or ``stop_event``); returns the exit code (0).

    ``seed_file`` (canonical accounts CSV) or ``accounts_n`` (synthetic accounts, default 100);
    ``deals_n``: that many deals for those accounts, with the planted effects of
    ``crmseg.sandbox.deals`` unless ``deal_effects`` is False (``deals_as_of``: the date the six
    quarters end before; default 2026-11-01); ``multi_currency=True`` (an option): several currencies;
    ``write_config``: path of a config.toml to write for this sandbox; ``options``: any
    ``SandboxOptions`` field (``daily_limit``, ``rate_limit``, ``timeout_delay``, ...).
    Raises ConfigError (exit code 2) for bad input files, OSError when the port is taken.
    """
    out = out or sys.stdout
    if crm not in CRMS:
        raise ConfigError(f"--crm must be one of: {', '.join(CRMS)} (got {crm!r})")
    if seed_file is not None and accounts_n is not None:
        raise ConfigError("give either --seed FILE or --accounts N, not both")
    if accounts_n is not None and accounts_n < 0:
        raise ConfigError(f"--accounts must be 0 or more (got {accounts_n})")
    if deals_n is not None and deals_n < 0:
        raise ConfigError(f"--deals must be 0 or more (got {deals_n})")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0-65535 (got {port})")
    accounts: Any = seed_file if seed_file is not None else accounts_n
    if accounts is None and (db_path == ":memory:" or not Path(db_path).exists()):
        accounts = 100
    deal_options: dict[str, Any] = {}
    if deals_n is not None:
        deal_options = {"deals": deals_n, "deal_effects": deal_effects}
        if deals_as_of is not None:
            deal_options["deals_as_of"] = deals_as_of
    try:
        sb = SandboxServer(
            crm,
            port=port,
            accounts=accounts,
            seed=seed,
            mapping=mapping,
            rules_dir=rules_dir,
            db_path=db_path,
            **deal_options,
            **options,
        )
    except OSError as exc:
        if exc.filename:
            raise
        raise ConfigError(f"--port {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:  # an option's value the sandbox refuses (e.g. an org id of the wrong shape)
        raise ConfigError(str(exc)) from None
    stop = stop_event or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            sb.start()
        except OSError as exc:
            raise ConfigError(f"--port {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        deals_note = f" and {sb.deal_store.count()} deals" if sb.deal_store is not None else ""
        print(f"crmseg sandbox ({crm}) listening on {sb.url} with {sb.store.count()} accounts{deals_note}", file=out)
        print(f"  mapping: {sb.mapping.path}", file=out)
        if sb.rules_dir is not None:
            print(f"  rules:   {sb.rules_dir}", file=out)
        print(f"  stats:   {sb.url}/__sandbox/stats", file=out)
        if write_config is not None:
            cfg = write_sandbox_config(sb, write_config)
            print(f"Config written to {cfg}. Export these, then run e.g. `crmseg audit --config {cfg}`:", file=out)
        else:
            print("Credentials to export:", file=out)
        for key, val in _env_names(sb).items():
            print(f"export {key}={val}", file=out)
        print("Press Ctrl+C to stop.", file=out, flush=True)
        stop.wait()
    finally:
        sb.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("sandbox stopped", file=out, flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m crmseg.sandbox",
        description="A local Salesforce, HubSpot, Dynamics 365 or Zoho CRM API sandbox for crmseg.",
    )
    p.add_argument("--crm", required=True, choices=CRMS)
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--seed", dest="seed_file", metavar="FILE.csv", help="canonical accounts CSV")
    src.add_argument(
        "--accounts",
        dest="accounts_n",
        type=int,
        metavar="N",
        help="N synthetic accounts (default 100 unless --db holds records)",
    )
    p.add_argument(
        "--deals", dest="deals_n", type=int, metavar="N", help="N deals for the accounts, with planted effects"
    )
    p.add_argument("--no-effects", action="store_true", help="deals without planted effects (every segment alike)")
    p.add_argument("--deals-as-of", type=date.fromisoformat, help="deals span the six quarters before this date")
    p.add_argument("--multi-currency", action="store_true", help="a multi-currency org/portal")
    p.add_argument("--random-seed", type=int, default=42, help="seed of the synthetic data (default 42)")
    p.add_argument(
        "--mapping",
        help="mapping TOML (default: the shipped connectors/<crm>.toml, looked up in "
        "the working folder, then in the crmseg checkout)",
    )
    p.add_argument("--rules", dest="rules_dir", metavar="DIR", help="rules dir: tag picklists get its values")
    p.add_argument("--write-config", metavar="OUT.toml", help="write a ready crmseg config for this sandbox")
    p.add_argument("--db", default=":memory:", help="SQLite file for the records (default in memory)")
    p.add_argument("--daily-limit", type=int, help="API calls allowed per day")
    p.add_argument("--rate-limit", type=int, help="HubSpot: calls per 10-second window")
    p.add_argument("--search-cap", type=int, help="HubSpot: results one search can page through (default 10000)")
    p.add_argument("--timeout-delay", type=float, help="seconds a 'timeout' fault holds a response")
    p.add_argument("--org-id", help="Salesforce: the organization id the sandbox reports (15 characters, 00D...)")
    p.add_argument("--portal-id", type=int, help="HubSpot: the portal id the sandbox reports")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run; exit code 2 on bad usage/config."""
    args = build_parser().parse_args(argv)
    opts = {
        k: v
        for k, v in (
            ("daily_limit", args.daily_limit),
            ("rate_limit", args.rate_limit),
            ("search_cap", args.search_cap),
            ("timeout_delay", args.timeout_delay),
            ("org_id", args.org_id),
            ("portal_id", args.portal_id),
        )
        if v is not None
    }
    if args.multi_currency:
        opts["multi_currency"] = True
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        opts["verbose"] = True
    try:
        return run_sandbox(
            args.crm,
            args.port,
            args.seed_file,
            args.accounts_n,
            args.write_config,
            args.rules_dir,
            args.mapping,
            db_path=args.db,
            seed=args.random_seed,
            deals_n=args.deals_n,
            deal_effects=not args.no_effects,
            deals_as_of=args.deals_as_of,
            **opts,
        )
    except CrmsegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
