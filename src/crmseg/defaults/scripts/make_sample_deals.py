#!/usr/bin/env python3
"""Generate sample deals for the sample accounts, as a CRM's deal export would hold them.

Deterministic: a seeded ``random.Random`` and the accounts script's fixed reference date
(2026-11-01), no network. ``examples/deals.csv`` is ``python scripts/make_sample_deals.py``:
the deals of the 400 accounts of ``examples/accounts.csv`` (same seed), created over the six
quarters before the reference date, in canonical columns (docs/deals.md). Customers and
engaged accounts have more deals, larger companies larger ones. Like the account sample it
is a little messy: a few amounts with thousands separators or "n/a" (counted as invalid), a
few open deals without an amount, three deals without an account and two whose account is
not in the sample (both counted by attribution, never dropped).

    python scripts/make_sample_deals.py [--accounts N] [--seed S] [--out FILE] [--format csv|jsonl]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import sys
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

DEFAULT_SEED = 2026
DEFAULT_ACCOUNTS = 400
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "deals.csv"
WINDOW_DAYS = 548  # six quarters before the reference date

COLUMNS: tuple[str, ...] = (
    "id",
    "account_id",
    "amount",
    "currency",
    "created_at",
    "closed_at",
    "status",
    "stage",
    "pipeline",
    "type",
)
OPEN_STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
CURRENCY = {"GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "IE": "EUR", "ES": "EUR", "CA": "CAD", "AU": "AUD"}


def _accounts_module() -> ModuleType:
    """make_sample_accounts.py beside this file (scripts/ is not a package)."""
    name = "make_sample_accounts"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def _employees(text: str) -> int | None:
    try:
        return int(float(text.replace(",", "")))
    except ValueError:
        return None


def _country(text: str, countries: dict[str, tuple[object, list[str], str, list[str], object]]) -> str:
    for iso, spec in countries.items():
        if text and text in spec[1]:
            return iso
    return ""


def generate(accounts: int = DEFAULT_ACCOUNTS, seed: int = DEFAULT_SEED) -> Iterator[dict[str, str]]:
    """Yield the deals of ``accounts`` sample accounts (column -> text, keys in ``COLUMNS`` order),
    in order of creation, deterministically."""
    acc = _accounts_module()
    reference: date = acc.REFERENCE_DATE
    rng = random.Random(seed)
    r = rng.random
    drafts: list[tuple[float, dict[str, str]]] = []
    for row in acc.generate(accounts, seed):
        customer = row["is_customer"] in ("true", "Yes")
        engaged = int(row["web_visits_30d"] or 0) >= 10
        n = int(r() * (4 if customer else 3 if engaged else 1.6))
        people = _employees(row["employees"]) or int(5 + r() * 200)
        currency = CURRENCY.get(_country(row["country"], acc.COUNTRIES), "USD")
        for _ in range(n):
            drafts.append(_deal(rng, row["id"], customer, people, currency, reference))
    for account in ("", "", "", "acc-900001", "acc-900002"):  # no account; an account not in the sample
        drafts.append(_deal(rng, account, False, 50, "USD", reference))
    drafts.sort(key=lambda d: -d[0])  # oldest first
    for i, (_, deal) in enumerate(drafts, start=1):
        yield {"id": f"opp-{i:05d}", **deal}


def _deal(
    rng: random.Random, account: str, customer: bool, people: int, currency: str, reference: date
) -> tuple[float, dict[str, str]]:
    """(days before the reference date it was created, the deal's columns but its id)."""
    r = rng.random
    age = r() * WINDOW_DAYS
    created = reference - timedelta(days=age)
    secs = int(r() * 86399)
    kind = ("Renewal" if r() < 0.5 else "Expansion") if customer and r() < 0.6 else "New Business"
    size = min(people, 20_000) ** 0.6 * (900 + r() * 1800) * (0.5 if kind == "Renewal" else 1.0)
    amount = round(size, -2)
    cycle = 20 + r() ** 1.7 * 260  # days to close: a few deals take most of a year
    closed = cycle < age
    won = closed and r() < (0.55 if customer else 0.22 + min(people, 5000) / 25_000)
    status = "won" if won else "lost" if closed else "open"
    close_day = (reference - timedelta(days=age - cycle)).isoformat()
    amount_text = f"{amount:.2f}" if r() < 0.88 else f"{amount:,.2f}"
    if r() < 0.01:
        amount_text = "n/a"
    elif status == "open" and r() < 0.08:
        amount_text = ""
    deal = {
        "account_id": account,
        "amount": amount_text,
        "currency": currency,
        "created_at": f"{created.isoformat()}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z",
        "closed_at": close_day if closed or r() < 0.7 else "",  # open: the expected close date, mostly
        "status": status,
        "stage": "Closed Won" if won else "Closed Lost" if closed else OPEN_STAGES[int(r() * len(OPEN_STAGES))],
        "pipeline": "renewals" if kind == "Renewal" else "default",
        "type": kind,
    }
    return age, deal


def write_csv(path: str | Path, accounts: int = DEFAULT_ACCOUNTS, seed: int = DEFAULT_SEED) -> tuple[Path, int]:
    """Write ``generate(accounts, seed)`` as UTF-8 CSV with "\\n" line ends; (path, deals written)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in generate(accounts, seed):
            writer.writerow(row)
            n += 1
    return out, n


def write_jsonl(path: str | Path, accounts: int = DEFAULT_ACCOUNTS, seed: int = DEFAULT_SEED) -> tuple[Path, int]:
    """Write ``generate(accounts, seed)`` as JSON Lines (blank values left out); (path, deals written)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for row in generate(accounts, seed):
            fh.write(json.dumps({k: v for k, v in row.items() if v}, ensure_ascii=False) + "\n")
            n += 1
    return out, n


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the sample file (defaults reproduce examples/deals.csv)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS, help="sample accounts (default 400)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 2026, the accounts')")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output file (default examples/deals.csv)")
    parser.add_argument(
        "--format", choices=("csv", "jsonl"), default=None, help="file format (default: from the suffix of --out)"
    )
    args = parser.parse_args(argv)
    fmt = args.format or ("jsonl" if args.out.endswith((".jsonl", ".ndjson")) else "csv")
    path, n = (write_jsonl if fmt == "jsonl" else write_csv)(args.out, args.accounts, args.seed)
    print(f"wrote {n} deals of {args.accounts} accounts to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
