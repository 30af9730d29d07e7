#!/usr/bin/env python3
"""Generate realistic, messy B2B accounts as a CRM export would hold them.

Deterministic: a seeded ``random.Random`` and a fixed reference date (2026-11-01), no
network, so the same arguments always write the same bytes. ``examples/accounts.csv`` is
``python scripts/make_sample_accounts.py`` (400 rows, seed 2026); benchmarks import
``generate(n, seed)``, which streams rows without building lists.

    python scripts/make_sample_accounts.py [--rows N] [--seed S] [--out FILE] [--format csv|jsonl]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from bisect import bisect
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

REFERENCE_DATE = date(2026, 11, 1)
DEFAULT_ROWS = 400
DEFAULT_SEED = 2026
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "accounts.csv"

COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "domain",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "state",
    "city",
    "type",
    "owner",
    "created_at",
    "updated_at",
    "tech_stack",
    "intent_score",
    "web_visits_30d",
    "last_activity_at",
    "open_opportunities",
    "won_opportunities",
    "is_customer",
    "customer_since",
    "lifecycle_stage",
    "crmseg_segment",
    "crmseg_tier",
    "crmseg_stage",
    "crmseg_icp_score",
    "crmseg_pin",
)


class Pick(Generic[T]):
    """Weighted choice with precomputed cumulative weights (fast, deterministic)."""

    def __init__(self, items: Sequence[tuple[T, float]]) -> None:
        self.values = [v for v, _ in items]
        self.cum = list(accumulate(w for _, w in items))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> T:
        return self.values[bisect(self.cum, rng.random() * self.total)]


# canonical industry -> (weight, spellings seen in exports, name words)
INDUSTRIES: dict[str, tuple[float, list[str], list[str]]] = {
    "Software": (
        26,
        ["Software"] * 5 + ["SaaS", "SaaS", "software", "Computer Software", "Internet"],
        ["Software", "Labs", "Technologies", "Cloud", "Systems", "Data", "AI", "Analytics"],
    ),
    "Financial Services": (
        12,
        ["Financial Services"] * 4 + ["Fintech", "Banking", "Insurance"],
        ["Capital", "Financial", "Pay", "Bank", "Insurance", "Wealth"],
    ),
    "Manufacturing": (
        14,
        ["Manufacturing"] * 4 + ["Industrial", "Machinery", "manufacturing"],
        ["Industries", "Manufacturing", "Components", "Works", "Engineering"],
    ),
    "Healthcare": (
        11,
        ["Healthcare"] * 3 + ["Health Care", "Hospital & Health Care", "Medical Devices"],
        ["Health", "Medical", "Care", "Clinics", "Bio"],
    ),
    "Retail": (
        10,
        ["Retail"] * 3 + ["E-commerce", "Consumer Goods"],
        ["Outfitters", "Goods", "Market", "Stores", "Brands", "Shop"],
    ),
    "Education": (
        6,
        ["Education", "Education", "Higher Education", "E-Learning"],
        ["Learning", "Academy", "Education", "University"],
    ),
    "Professional Services": (
        7,
        ["Professional Services", "Consulting"],
        ["Partners", "Consulting", "Advisors", "Group"],
    ),
    "Logistics": (5, ["Logistics", "Transportation"], ["Logistics", "Freight", "Transport"]),
    "Non-profit": (2, ["Non-profit", "Nonprofit"], ["Foundation", "Trust"]),
    "": (7, [""], ["Group", "Holdings", "Company", "Co"]),
}
PICK_INDUSTRY = Pick([(k, v[0]) for k, v in INDUSTRIES.items()])

PREFIXES = [
    "North",
    "Blue",
    "Iron",
    "Silver",
    "Bright",
    "Red",
    "Summit",
    "Clear",
    "Green",
    "Stone",
    "Swift",
    "Oak",
    "Nova",
    "Polar",
    "Cedar",
    "Harbor",
    "Atlas",
    "Lumen",
    "Vertex",
    "Pine",
    "Quantum",
    "Granite",
    "Coral",
    "Falcon",
    "Meridian",
    "Crescent",
    "Willow",
    "Echo",
]
ROOTS = [
    "wind",
    "peak",
    "bridge",
    "field",
    "line",
    "stone",
    "gate",
    "wave",
    "path",
    "point",
    "ridge",
    "light",
    "forge",
    "brook",
    "view",
    "spring",
    "crest",
    "works",
    "leaf",
    "haven",
]

# ISO code -> (weight, spellings, tld, legal suffixes, (state, [cities]) ...)
COUNTRIES: dict[str, tuple[float, list[str], str, list[str], list[tuple[str, list[str]]]]] = {
    "US": (
        42,
        ["United States"] * 4 + ["USA"] * 3 + ["US", "US", "U.S.", "us", "United States of America"],
        ".com",
        [" Inc.", " LLC", " Corp.", ""],
        [
            ("CA", ["San Francisco", "Los Angeles", "San Diego", "San Jose"]),
            ("NY", ["New York", "Brooklyn"]),
            ("TX", ["Austin", "Dallas", "Houston"]),
            ("MA", ["Boston", "Cambridge"]),
            ("WA", ["Seattle"]),
            ("IL", ["Chicago"]),
            ("GA", ["Atlanta"]),
            ("CO", ["Denver", "Boulder"]),
            ("FL", ["Miami", "Tampa"]),
            ("California", ["Palo Alto"]),
            ("New York", ["Rochester"]),
        ],
    ),
    "GB": (
        11,
        ["United Kingdom"] * 3 + ["UK", "UK", "England", "GB"],
        ".co.uk",
        [" Ltd", " plc", ""],
        [("England", ["London", "London", "Manchester", "Bristol"]), ("Scotland", ["Edinburgh", "Glasgow"])],
    ),
    "DE": (
        9,
        ["Germany"] * 3 + ["DE", "Deutschland"],
        ".de",
        [" GmbH", " AG", ""],
        [("Bavaria", ["Munich", "Nuremberg"]), ("Berlin", ["Berlin"]), ("Hamburg", ["Hamburg"])],
    ),
    "FR": (
        6,
        ["France"] * 3 + ["FR"],
        ".fr",
        [" SAS", " SA", ""],
        [("Île-de-France", ["Paris"]), ("Auvergne-Rhône-Alpes", ["Lyon"])],
    ),
    "CA": (
        6,
        ["Canada", "Canada", "CA"],
        ".ca",
        [" Inc.", ""],
        [("ON", ["Toronto", "Ottawa"]), ("BC", ["Vancouver"]), ("QC", ["Montréal"])],
    ),
    "NL": (
        3,
        ["Netherlands", "Holland", "The Netherlands"],
        ".nl",
        [" B.V.", ""],
        [("North Holland", ["Amsterdam"]), ("South Holland", ["Rotterdam"])],
    ),
    "AU": (4, ["Australia", "AU"], ".com.au", [" Pty Ltd", ""], [("NSW", ["Sydney"]), ("VIC", ["Melbourne"])]),
    "IE": (2, ["Ireland"], ".ie", [" Ltd", ""], [("", ["Dublin", "Cork"])]),
    "ES": (2, ["Spain", "España"], ".es", [" SL", ""], [("", ["Madrid", "Barcelona"])]),
    "SE": (2, ["Sweden"], ".se", [" AB", ""], [("", ["Stockholm"])]),
    "JP": (2, ["Japan"], ".jp", [" K.K.", ""], [("", ["Tokyo", "Osaka"])]),
    "IN": (3, ["India"], ".in", [" Pvt Ltd", ""], [("KA", ["Bengaluru"]), ("MH", ["Mumbai", "Pune"])]),
    "BR": (2, ["Brazil", "Brasil"], ".com.br", [" Ltda", ""], [("SP", ["São Paulo"])]),
    "SG": (1, ["Singapore"], ".sg", [" Pte Ltd", ""], [("", ["Singapore"])]),
    "": (4, [""], ".com", [""], [("", [""])]),
    "??": (1, ["Unknown", "N/A", "Intl"], ".com", [""], [("", [""])]),
}
PICK_COUNTRY = Pick([(k, v[0]) for k, v in COUNTRIES.items()])

OWNERS = [
    "Alex Morgan",
    "Priya Shah",
    "Jordan Lee",
    "Sam Taylor",
    "Maria Garcia",
    "Chen Wei",
    "Lukas Schmidt",
    "Emma Dubois",
    "Noah Williams",
    "",
]
STAGES_PROSPECT = Pick(
    [("lead", 4), ("marketingqualifiedlead", 2), ("salesqualifiedlead", 1), ("subscriber", 1), ("Lead", 1), ("", 1)]
)
LEGACY_SEGMENTS = ["Enterprise", "Mid-Market", "SMB", "Digital Native", "Mid Market", "Strategic"]
STAGES = ["Qualified", "Aware", "Engaged", "MQA", "Opportunity", "Customer", "Post-sale"]


_DAYS: dict[int, str] = {}


def _day(days_ago: int) -> str:
    """The ISO date ``days_ago`` days before the reference date (memoized)."""
    text = _DAYS.get(days_ago)
    if text is None:
        text = _DAYS[days_ago] = (REFERENCE_DATE - timedelta(days=days_ago)).isoformat()
    return text


def _stamp(days_ago: float) -> str:
    """An ISO 8601 UTC timestamp ``days_ago`` before the reference date."""
    whole = int(days_ago)
    secs = int((1 - (days_ago - whole)) * 86399)
    return f"{_day(whole + 1)}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z"


def _stack(rng: random.Random, industry: str, size: str) -> list[str]:
    """A plausible technology stack for the company."""
    r = rng.random
    big, small = size == "ent", size == "smb"
    tech = industry in ("Software", "Financial Services")
    items: list[str] = []
    if r() < (0.75 if big else 0.45):
        items.append("Salesforce")
    elif r() < (0.55 if small else 0.35):
        items.append("HubSpot")
    elif r() < 0.2:
        items.append("Microsoft Dynamics")
    if r() < 0.55:
        items.append("AWS" if r() < 0.6 else ("Azure" if r() < 0.6 else "Google Cloud"))
    if r() < (0.45 if tech else 0.12) + (0.1 if big else 0):
        items.append("Snowflake")
    if r() < (0.3 if tech else 0.06):
        items.append("Segment")
    if r() < (0.15 if tech else 0.03):
        items.append("Databricks")
    if r() < (0.25 if not small else 0.08):
        items.append("Marketo")
    if r() < 0.22:
        items.append("Zendesk")
    if industry == "Retail" and r() < 0.6:
        items.append("Shopify")
    if r() < (0.55 if industry == "Manufacturing" else 0.2 if big else 0.03):
        items.append("SAP")
    if r() < 0.35:
        items.append("Slack")
    if items and r() < 0.04:
        items[0] = {"Salesforce": "SFDC", "AWS": "Amazon Web Services"}.get(items[0], items[0])
    return items


def _employees_text(rng: random.Random, employees: int) -> str:
    r = rng.random()
    if r < 0.07:
        return ""
    if r < 0.09:
        return ("n/a", "unknown", "-")[int(rng.random() * 3)]
    if employees >= 1000 and r < 0.4:
        return f"{employees:,}"
    if r > 0.985:
        return f"{employees}.0"
    return str(employees)


def generate(n: int, seed: int = DEFAULT_SEED) -> Iterator[dict[str, str]]:
    """Yield ``n`` accounts (column -> text, keys in ``COLUMNS`` order), deterministically."""
    rng = random.Random(seed)
    r = rng.random

    def choice(seq: Sequence[T]) -> T:
        return seq[int(r() * len(seq))]

    width = max(6, len(str(n)))
    for i in range(1, n + 1):
        industry = PICK_INDUSTRY(rng)
        _, spellings, words = INDUSTRIES[industry]
        iso = PICK_COUNTRY(rng)
        _, c_names, tld, legal, places = COUNTRIES[iso]
        x = r()
        size = "ent" if x < 0.17 else "mid" if x < 0.50 else "smb"
        if size == "ent":
            employees = int(1000 * 60 ** r())
        elif size == "mid":
            employees = int(100 * 10 ** r())
        else:
            employees = int(3 * 33 ** r())
        per_head = (220_000 if industry in ("Software", "Financial Services") else 140_000) * (0.5 + r())
        revenue = round(employees * per_head, -3)

        stem = choice(PREFIXES) + choice(ROOTS)
        word = choice(words)
        name = f"{stem} {word}{choice(legal)}"
        domain = (
            f"{stem.lower()}{'' if r() < 0.7 else word.lower()}{'.io' if industry == 'Software' and r() < 0.3 else tld}"
        )
        if r() < 0.03:
            domain = "www." + domain.capitalize()
        state, cities = choice(places)

        stack = _stack(rng, industry, size)
        sparse = r() < 0.07  # a bare record from a list import: no size, revenue or stack
        age = 30 + r() * 2200
        updated = r() * min(age, 120)
        engaged = r()  # latent interest: drives visits, intent and activity
        visits = int(engaged**2.2 * 60)
        intent = min(100, max(0, int(engaged * 85 + (r() - 0.5) * 40)))
        recency = (1 - engaged) ** 1.5 * 400 + r() * 20
        customer = r() < (0.28 if size == "ent" else 0.16)
        open_opps = 0 if r() < (0.72 if engaged > 0.6 else 0.96) else 1 + int(r() * 3)
        won = (1 + int(r() * 4)) if customer else (1 if r() < 0.05 else 0)
        since = ""
        if customer and r() < 0.95:
            since = _day(20 + int(r() ** 1.5 * 2400))
        last_activity = "" if r() < 0.12 else _stamp(recency)
        if last_activity and r() < 0.06:
            last_activity = last_activity[:10]
        lifecycle = (
            ("customer" if r() < 0.9 else "Customer")
            if customer
            else ("opportunity" if open_opps else STAGES_PROSPECT(rng))
        )

        tagged = r() < 0.6
        row = {
            "id": f"acc-{i:0{width}d}",
            "name": name,
            "domain": domain if r() > 0.04 else "",
            "industry": choice(spellings),
            "employees": "" if sparse else _employees_text(rng, employees),
            "annual_revenue": "" if sparse or r() < 0.15 else (f"{revenue:.0f}" if r() < 0.9 else f"{revenue:,.2f}"),
            "country": choice(c_names),
            "state": state,
            "city": choice(cities),
            "type": "Customer" if customer else ("Prospect" if r() < 0.85 else choice(["Partner", "Reseller", ""])),
            "owner": choice(OWNERS),
            "created_at": _stamp(age),
            "updated_at": _stamp(updated),
            "tech_stack": "" if sparse else (";" if r() < 0.9 else "; ").join(stack),
            "intent_score": "" if r() < 0.1 else str(intent),
            "web_visits_30d": "" if r() < 0.05 else str(visits),
            "last_activity_at": last_activity,
            "open_opportunities": str(open_opps),
            "won_opportunities": str(won),
            "is_customer": (("true" if customer else "false") if r() < 0.93 else ("Yes" if customer else "No")),
            "customer_since": since,
            "lifecycle_stage": lifecycle,
            "crmseg_segment": "",
            "crmseg_tier": "",
            "crmseg_stage": "",
            "crmseg_icp_score": "",
            "crmseg_pin": "",
        }
        if tagged:  # as a previous sync left them: mostly right, some stale
            row["crmseg_segment"] = (
                {"ent": "Enterprise", "mid": "Mid-Market", "smb": "SMB"}[size] if r() < 0.8 else choice(LEGACY_SEGMENTS)
            )
            score = min(
                100, int(intent * 0.4 + visits * 0.5 + (20 if industry in ("Software", "Financial Services") else 5))
            )
            row["crmseg_icp_score"] = str(score if r() < 0.75 else max(0, score - 10 - int(r() * 20)))
            row["crmseg_tier"] = "Tier 1" if score >= 65 else "Tier 2" if score >= 40 else "Tier 3"
            row["crmseg_stage"] = (
                ("Customer" if customer else "Opportunity" if open_opps else "Engaged" if visits >= 5 else "Aware")
                if r() < 0.8
                else choice(STAGES)
            )
        if r() < 0.025:
            row["crmseg_pin"] = "true"
        elif r() < 0.05:
            row["crmseg_pin"] = "false"
        yield row


def write_csv(path: str | Path, n: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> Path:
    """Write ``generate(n, seed)`` as UTF-8 CSV with "\\n" line ends; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generate(n, seed))
    return out


def write_jsonl(path: str | Path, n: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> Path:
    """Write ``generate(n, seed)`` as JSON Lines (blank values left out); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for row in generate(n, seed):
            fh.write(json.dumps({k: v for k, v in row.items() if v}, ensure_ascii=False) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the sample file (defaults reproduce examples/accounts.csv)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="number of accounts (default 400)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 2026)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output file (default examples/accounts.csv)")
    parser.add_argument(
        "--format", choices=("csv", "jsonl"), default=None, help="file format (default: from the suffix of --out)"
    )
    args = parser.parse_args(argv)
    fmt = args.format or ("jsonl" if args.out.endswith((".jsonl", ".ndjson")) else "csv")
    path = (write_jsonl if fmt == "jsonl" else write_csv)(args.out, args.rows, args.seed)
    print(f"wrote {args.rows} accounts to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
