"""Deterministic synthetic accounts with realistic, messy values.

``synthetic_accounts(n, seed)`` returns canonical crmseg accounts (the columns of
a seed CSV): a mix of company sizes, industries under several spellings, countries
written as "USA", "U.S.", "United States", missing values here and there.
The same ``n`` and ``seed`` always give the same accounts.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

#: Synthetic data is generated relative to this fixed instant (not the wall clock).
BASE_TIME = datetime(2026, 11, 1, 9, 0, 0, tzinfo=timezone.utc)

_PREFIX = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Pied Piper", "Vandelay",
           "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Wonka", "Gringotts", "Nakatomi", "Oscorp",
           "Massive Dynamic", "Blue Sun", "Monarch", "Northwind", "Contoso", "Fabrikam", "Tailspin",
           "Litware", "Proseware", "Adatum", "Wingtip", "Lucerne", "Alpine", "Bluefin", "Cobalt",
           "Driftwood", "Evergreen", "Foxglove", "Granite", "Harbor", "Ironclad", "Juniper", "Keystone"]
_SUFFIX = ["Analytics", "Systems", "Labs", "Holdings", "Logistics", "Health", "Capital", "Foods", "Energy",
           "Robotics", "Media", "Retail", "Software", "Networks", "Bio", "Partners", "Group", "Works"]
_LEGAL = ["Inc.", "LLC", "Ltd", "GmbH", "S.A.", "Corp.", "", "", ""]
_INDUSTRIES = [("Software", 14), ("SaaS", 6), ("Computer Software", 5), ("Financial Services", 8),
               ("Fintech", 3), ("Banking", 3), ("Healthcare", 7), ("Hospital & Health Care", 3),
               ("Manufacturing", 9), ("Retail", 6), ("E-commerce", 3), ("Education", 4), ("Government", 2),
               ("Media", 3), ("Telecommunications", 3), ("Energy", 3), ("Logistics", 3), ("Real Estate", 2),
               ("Consulting", 4), ("Nonprofit", 2), ("", 6)]
_COUNTRIES = [("United States", 14), ("USA", 8), ("U.S.", 4), ("US", 4), ("us", 1),
              ("United States of America", 2), ("United Kingdom", 5), ("UK", 3), ("Great Britain", 1),
              ("Germany", 5), ("Deutschland", 1), ("DE", 1), ("France", 4), ("Canada", 4), ("CA", 1),
              ("Australia", 3), ("India", 3), ("Netherlands", 2), ("Brazil", 2), ("Japan", 2), ("Singapore", 1),
              ("Spain", 2), ("Sweden", 1), ("Israel", 1), ("Mexico", 1), ("", 4)]
_ISO = {"United States": "US", "USA": "US", "U.S.": "US", "US": "US", "us": "US",
        "United States of America": "US", "United Kingdom": "GB", "UK": "GB", "Great Britain": "GB",
        "Germany": "DE", "Deutschland": "DE", "DE": "DE", "France": "FR", "Canada": "CA", "CA": "CA",
        "Australia": "AU", "India": "IN", "Netherlands": "NL", "Brazil": "BR", "Japan": "JP",
        "Singapore": "SG", "Spain": "ES", "Sweden": "SE", "Israel": "IL", "Mexico": "MX"}
_PLACES = {"US": [("CA", "San Francisco"), ("NY", "New York"), ("TX", "Austin"), ("MA", "Boston"),
                  ("WA", "Seattle"), ("IL", "Chicago"), ("GA", "Atlanta"), ("CO", "Denver")],
           "CA": [("ON", "Toronto"), ("BC", "Vancouver"), ("QC", "Montreal")],
           "AU": [("NSW", "Sydney"), ("VIC", "Melbourne")],
           "GB": [("", "London"), ("", "Manchester")], "DE": [("", "Berlin"), ("", "Munich")],
           "FR": [("", "Paris"), ("", "Lyon")], "IN": [("", "Bangalore"), ("", "Mumbai")],
           "NL": [("", "Amsterdam")], "BR": [("", "São Paulo")], "JP": [("", "Tokyo")],
           "SG": [("", "Singapore")], "ES": [("", "Madrid")], "SE": [("", "Stockholm")],
           "IL": [("", "Tel Aviv")], "MX": [("", "Mexico City")]}
_TYPES = [("Customer", 5), ("Prospect", 9), ("Partner", 2), ("Customer - Direct", 2),
          ("Customer - Channel", 1), ("Other", 1), ("", 2)]
_OWNERS = ["jordan.lee@example.com", "sam.patel@example.com", "alex.kim@example.com", "maria.garcia@example.com",
           "chris.novak@example.com", "priya.shah@example.com", "tom.becker@example.com", "lena.fischer@example.com"]
_TECH = ["Salesforce", "HubSpot", "Marketo", "Snowflake", "AWS", "Azure", "GCP", "Segment", "Stripe",
         "Zendesk", "Slack", "Shopify", "SAP", "Oracle", "Workday", "Databricks"]
_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity"]


_CUM: dict[int, tuple[list[str], list[int]]] = {}


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    table = _CUM.get(id(weighted))
    if table is None:
        values, cum, total = [], [], 0
        for v, w in weighted:
            total += w
            values.append(v)
            cum.append(total)
        table = _CUM[id(weighted)] = (values, cum)
    return rng.choices(table[0], cum_weights=table[1])[0]


def _employees(rng: random.Random) -> int:
    return max(1, int(math.exp(rng.gauss(4.2, 1.8))))


def _iso(dt: datetime) -> str:
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"


def synthetic_account(i: int, rng: random.Random) -> dict[str, Any]:
    """Account number ``i`` drawn from ``rng`` (canonical field names, typed values)."""
    name = f"{rng.choice(_PREFIX)} {rng.choice(_SUFFIX)} {rng.choice(_LEGAL)}".strip()
    slug = name.lower().split(" ")[0].replace(".", "") + rng.choice(["", "hq", "app", "io", "group"]) + str(i)
    domain = rng.choice(["", "www.", "https://", "http://www."]) + slug + rng.choice([".com", ".io", ".co", ".net"])
    if rng.random() < 0.04:
        domain = ""
    country = _pick(rng, _COUNTRIES)
    state, city = rng.choice(_PLACES.get(_ISO.get(country, ""), [("", "")]))
    employees: int | None = _employees(rng)
    revenue: float | None = round(employees * rng.uniform(40_000, 400_000), -3) if employees else None
    if rng.random() < 0.05:
        employees = None
    if rng.random() < 0.08:
        revenue = None
    created = BASE_TIME - timedelta(days=rng.uniform(20, 3650))
    updated = created + (BASE_TIME - created) * rng.random()
    won = rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 5, 8, 13])
    is_customer = won > 0 and rng.random() < 0.9
    since = (created + timedelta(days=rng.uniform(0, 365))).date().isoformat() if is_customer else None
    stage = "customer" if is_customer else rng.choice(_STAGES)
    last_activity = BASE_TIME - timedelta(days=rng.expovariate(1 / 45))
    return {
        "name": name,
        "domain": domain,
        "industry": _pick(rng, _INDUSTRIES),
        "employees": employees,
        "annual_revenue": revenue,
        "country": country,
        "state": state,
        "city": city,
        "type": "Customer" if is_customer and rng.random() < 0.7 else _pick(rng, _TYPES),
        "owner": rng.choice(_OWNERS),
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "tech_stack": ";".join(sorted(rng.sample(_TECH, rng.choice([0, 1, 2, 2, 3, 4, 5])))),
        "intent_score": None if rng.random() < 0.1 else int(min(100, max(0, rng.gauss(45, 25)))),
        "web_visits_30d": int(rng.expovariate(1 / 150)),
        "last_activity_at": None if rng.random() < 0.1 else _iso(last_activity),
        "open_opportunities": rng.choice([0, 0, 0, 1, 1, 2, 3, 5]),
        "won_opportunities": won,
        "is_customer": is_customer,
        "customer_since": since,
        "lifecycle_stage": stage,
        "pinned": rng.random() < 0.01,
    }


def synthetic_accounts(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` deterministic synthetic accounts (canonical names; ``id`` left to the CRM)."""
    rng = random.Random(seed)
    return [synthetic_account(i, rng) for i in range(1, n + 1)]
