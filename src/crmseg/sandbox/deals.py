"""Seeded deals for the sandbox CRMs (``--deals N``), with planted, documented effects.

Deals span the six full calendar quarters before ``as_of`` (default ``DEALS_AS_OF``,
2026-11-01, the reference date of the synthetic accounts: 2025Q2 to 2026Q3), plus open deals
created in the months before ``as_of``. Each deal belongs to a seeded account (about 1% to
none), closed deals close in a uniformly drawn quarter, and their outcome is drawn from a
win probability that depends on the account's *planting profile*: the segment and tier the
bundled sample rules (``rules/segment.toml``, ``rules/icp_score.toml`` + ``rules/tier.toml``)
give it. The sandbox does not import crmseg's rules or normalizer (it is the CRM's side of
the wire, and must not move when they do): ``planting_profile`` mirrors the bundled rules on
the raw account attributes, and tests/test_sandbox_deal_effects.py evaluates the real rules on
the seeded accounts and checks the effects land where planted. See docs/sandbox-deals.md.

Planted effects (``effects=True``; win rate = won / (won + lost) by count, by close quarter):

1. **Decay**: ``Enterprise`` wins 40% in the first five quarters and 12% in the last one.
2. **Tier ladder out of order**: ``Tier 2`` wins more than ``Tier 1`` (factors ``TIER_FACTOR``;
   ``Tier 3`` stays below both), so the top tier converts worse than the next.
3. **Alike**: ``Mid-Market`` and ``SMB`` both win 27% at the same deal size and cycle (a
   merge candidate: a review compares win rate, size and cycle, and any one of them would
   tell the two apart); the other segments differ (``Digital Native`` 50%, ``Unsegmented`` 18%).

Deal sizes differ between the other segments (``SEGMENT_AMOUNT``), and Enterprise cycles run
longer. With ``effects=False``
every deal has the same win rate (``BASE_WIN_RATE``), size and cycle distribution whatever
its account, so a review of that seed should find nothing.

Deterministic: the same accounts, ``n``, ``seed``, ``as_of`` and options give the same deals.

The values deals take in each CRM (stages, types, pipeline, currencies) are
:mod:`crmseg.sandbox.deal_setup`'s; the deals as each CRM stores them, and the seeding of a
CRM's deal store (``seed_deal_records``), :mod:`crmseg.sandbox.deal_records`'s.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmseg.config import Mapping
from crmseg.sandbox.deal_setup import CORPORATE_CURRENCY, CURRENCY_RATES, SF_OPEN_STAGES
from crmseg.sandbox.values import FieldError, coerce, to_ms

DEALS_AS_OF = date(2026, 11, 1)
QUARTERS = 6
SEGMENTS = ("Enterprise", "Digital Native", "Mid-Market", "SMB", "Unsegmented")
TIERS = ("Tier 1", "Tier 2", "Tier 3")

BASE_WIN_RATE = 0.30
SEGMENT_WIN_RATE = {"Enterprise": 0.40, "Digital Native": 0.50, "Mid-Market": 0.27, "SMB": 0.27, "Unsegmented": 0.18}
DECAYING_SEGMENT = "Enterprise"
DECAYED_WIN_RATE = 0.12  # the decaying segment's win rate in the last quarter
#: Relative odds of winning by tier, normalised within each segment so that the segment's
#: own win rate stays as planted: Tier 2 wins most, Tier 1 less (out of order), Tier 3 least.
TIER_FACTOR = {"Tier 1": 0.9, "Tier 2": 1.6, "Tier 3": 0.6}
#: Median deal amount in the corporate currency (USD) by segment, with effects on.
SEGMENT_AMOUNT = {
    "Enterprise": 60_000,
    "Digital Native": 30_000,
    "Mid-Market": 22_000,
    "SMB": 22_000,  # as Mid-Market: the planted indistinguishable pair
    "Unsegmented": 9_000,
}
BASE_AMOUNT = 20_000

OPEN_SHARE = 0.12  # deals still open at as_of
NO_ACCOUNT_SHARE = 0.01  # deals with no account (AccountId null / no company association)
DELETED_SHARE = 0.01  # deals in Salesforce's recycle bin / HubSpot's archive
SECOND_COMPANY_SHARE = 0.05  # HubSpot deals with a second, unlabeled company besides the primary one
#: How often a multi-currency seed draws each currency (see ``deal_setup.CURRENCY_RATES``).
CURRENCY_WEIGHTS = (("USD", 0.55), ("EUR", 0.2), ("GBP", 0.12), ("CAD", 0.08), ("AUD", 0.05))

# ---------------------------------------------------------------- planting profile
_DIGITAL = frozenset({"Software", "Financial Services", "Retail"})
_MODERN = frozenset({"snowflake", "segment", "databricks"})
_CRM = frozenset({"salesforce", "hubspot"})
#: Spellings of the bundled icp_score's target market (US, CA, GB, DE, FR, NL, IE), casefolded:
#: an approximation of crmseg's country normalization covering the synthetic accounts' spellings.
_TARGET_MARKET = frozenset(
    {
        "us", "usa", "u.s.", "u.s.a.", "united states", "united states of america", "america",
        "ca", "canada",
        "gb", "uk", "u.k.", "united kingdom", "england", "scotland", "wales", "great britain", "britain",
        "de", "germany", "deutschland",
        "fr", "france",
        "nl", "netherlands", "the netherlands", "holland",
        "ie", "ireland",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Profile:
    """The segment and tier an account's deals are planted for."""

    segment: str
    tier: str


def _num(value: Any) -> float | None:
    try:
        out = coerce("double", value, label="number")
    except FieldError:  # a value a number field refuses reads as missing, as the rules see it
        return None
    return float(out) if out is not None else None


def _canon(synonyms: dict[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canonical, variants in synonyms.items():
        for v in (canonical, *variants):
            out[" ".join(v.split()).casefold()] = canonical
    return out


class Planter:
    """``planting_profile`` for one mapping's vocabulary (industry and tech-stack synonyms)."""

    def __init__(self, mapping: Mapping | None = None) -> None:
        fields = mapping.fields if mapping is not None else {}
        self.industry = _canon(fields["industry"].synonyms if "industry" in fields else {})
        self.tech = _canon(fields["tech_stack"].synonyms if "tech_stack" in fields else {})

    def profile(self, row: dict[str, Any]) -> Profile:
        """The bundled rules' segment and tier for a canonical account row (raw CRM-export text).

        Segment: ``rules/segment.toml``, rule for rule. Tier: ``rules/tier.toml`` on the
        ``rules/icp_score.toml`` points that do not depend on the day of evaluation (the
        recency rules, worth up to 10 points, are left out: exact once every seeded
        activity is more than 90 days old)."""
        emp = _num(row.get("employees"))
        rev = _num(row.get("annual_revenue"))
        raw_industry = " ".join(str(row.get("industry") or "").split())
        industry = self.industry.get(raw_industry.casefold(), raw_industry)
        stack = {self.tech.get(t.casefold(), t).casefold() for t in _items(row.get("tech_stack"))}
        modern = bool(stack & _MODERN)
        if (emp is not None and emp >= 1000) or (rev is not None and rev >= 250_000_000):
            segment = "Enterprise"
        elif industry in _DIGITAL and modern:
            segment = "Digital Native"
        elif (emp is not None and 100 <= emp < 1000) or (rev is not None and 20_000_000 <= rev < 250_000_000):
            segment = "Mid-Market"
        elif (emp is not None and emp < 100) or (rev is not None and rev < 20_000_000):
            segment = "SMB"
        else:
            segment = "Unsegmented"
        score = 0
        if industry in ("Software", "Financial Services"):
            score += 20
        elif industry in ("Manufacturing", "Healthcare", "Retail"):
            score += 10
        if emp is not None:
            score += 15 if 200 <= emp < 5000 else 10 if emp >= 5000 else 5 if 50 <= emp < 200 else 0
        if " ".join(str(row.get("country") or "").split()).casefold() in _TARGET_MARKET:
            score += 10
        score += 10 if stack & _CRM else 0
        score += 10 if modern else 0
        intent = _num(row.get("intent_score"))
        if intent is not None:
            score += 15 if intent >= 70 else 7 if intent >= 40 else 0
        visits = _num(row.get("web_visits_30d"))
        if visits is not None:
            score += 10 if visits >= 20 else 5 if visits >= 5 else 0
        tier = "Tier 1" if score >= 70 else "Tier 2" if score >= 50 else "Tier 3"
        return Profile(segment, tier)


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).split(";") if t.strip()]


# ---------------------------------------------------------------- deals
@dataclass(slots=True)
class Deal:
    """One CRM-neutral seeded deal (amounts in the deal's currency; ``home_amount`` in USD)."""

    n: int
    account: str | None
    created_ms: int
    modified_ms: int
    close_date: date
    status: str  # open | won | lost
    stage: int  # index into the open stages (open deals)
    kind: int  # index into the CRM's deal types
    amount: float
    currency: str
    home_amount: float
    deleted: bool
    second_account: str | None


def quarter_starts(as_of: date, quarters: int = QUARTERS) -> list[date]:
    """Start dates of the ``quarters`` full calendar quarters before ``as_of``'s quarter, oldest
    first, followed by the start of ``as_of``'s own quarter (the end of the last one)."""
    q = (as_of.month - 1) // 3
    y = as_of.year
    starts = []
    for back in range(quarters, -1, -1):
        idx = y * 4 + q - back
        starts.append(date(idx // 4, idx % 4 * 3 + 1, 1))
    return starts


def win_probabilities(profiles: Sequence[Profile], effects: bool) -> dict[tuple[str, str, int], float]:
    """Win probability per (segment, tier, quarter index 0..5) for the planted effects."""
    out: dict[tuple[str, str, int], float] = {}
    counts: dict[str, dict[str, int]] = {s: dict.fromkeys(TIERS, 0) for s in SEGMENTS}
    for p in profiles:
        counts[p.segment][p.tier] += 1
    for seg in SEGMENTS:
        total = sum(counts[seg].values())
        norm = sum(TIER_FACTOR[t] * c for t, c in counts[seg].items()) / total if total else 1.0
        for tier in TIERS:
            for q in range(QUARTERS):
                if not effects:
                    out[seg, tier, q] = BASE_WIN_RATE
                    continue
                rate = DECAYED_WIN_RATE if seg == DECAYING_SEGMENT and q == QUARTERS - 1 else SEGMENT_WIN_RATE[seg]
                out[seg, tier, q] = min(0.95, rate * TIER_FACTOR[tier] / norm)
    return out


def generate_deals(
    accounts: Sequence[tuple[str, Profile]],
    n: int,
    *,
    seed: int = 42,
    as_of: date = DEALS_AS_OF,
    effects: bool = True,
    multi_currency: bool = False,
) -> list[Deal]:
    """``n`` deals for ``accounts`` ((CRM id, profile) pairs), deterministically."""
    if n < 0:
        raise ValueError(f"number of deals must be >= 0 (got {n})")
    if n and not accounts:
        raise ValueError("deals need seeded accounts")
    rng = random.Random(f"crmseg-deals-{seed}")
    r = rng.random
    gauss = rng.gauss
    starts = quarter_starts(as_of)
    day0 = [to_ms(datetime(d.year, d.month, d.day, tzinfo=UTC)) for d in starts]
    q_days = [(starts[i + 1] - starts[i]).days for i in range(QUARTERS)]
    q_dates = [[starts[q] + timedelta(days=k) for k in range(q_days[q])] for q in range(QUARTERS)]
    as_of_ms = to_ms(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC))
    ahead = [as_of + timedelta(days=k) for k in range(400)]  # expected close dates of open deals
    probs = win_probabilities([p for _, p in accounts], effects)
    cur_cum, acc = [], 0.0
    for code, w in CURRENCY_WEIGHTS:
        acc += w
        cur_cum.append((acc, code))
    day_ms = 86_400_000
    n_acc = len(accounts)
    out: list[Deal] = []
    for i in range(1, n + 1):
        if r() < NO_ACCOUNT_SHARE:
            account, seg, tier = None, "Unsegmented", "Tier 3"
        else:
            account, prof = accounts[int(r() * n_acc)]
            seg, tier = prof.segment, prof.tier
        median = SEGMENT_AMOUNT[seg] if effects else BASE_AMOUNT
        home = max(500.0, round(median * 2.718281828 ** gauss(0.0, 0.6), -2))
        cycle_days = 14 + int(r() ** 1.6 * (200 if effects and seg == "Enterprise" else 120))
        secs = int(r() * 86_400) * 1000
        if r() < OPEN_SHARE:
            age = 1 + int(r() * 150)  # days before as_of
            created = as_of_ms - age * day_ms + secs
            close_date = ahead[cycle_days - age] if cycle_days > age else ahead[1 + int(r() * 60)]
            modified = created + int(r() * (as_of_ms - created))
            status, stage = "open", int(r() * len(SF_OPEN_STAGES))
        else:
            q = int(r() * QUARTERS)
            k = int(r() * q_days[q])
            close_ms = day0[q] + k * day_ms
            close_date = q_dates[q][k]
            created = close_ms - cycle_days * day_ms + secs
            modified = min(as_of_ms - 1000, close_ms + secs + int(r() * 3) * day_ms)
            status = "won" if r() < probs[seg, tier, q] else "lost"
            stage = 0
        currency = CORPORATE_CURRENCY
        if multi_currency:
            x = r()
            currency = next(code for c, code in cur_cum if x < c) if x < cur_cum[-1][0] else CORPORATE_CURRENCY
        rate = CURRENCY_RATES[currency]
        amount = round(home * rate, 2)
        second = accounts[int(r() * n_acc)][0] if account is not None and r() < SECOND_COMPANY_SHARE else None
        if second == account:
            second = None
        kind_x = r()
        out.append(
            Deal(
                n=i,
                account=account,
                created_ms=created - created % 1000,
                modified_ms=max(modified - modified % 1000, created - created % 1000),
                close_date=close_date,
                status=status,
                stage=stage,
                kind=0 if kind_x < 0.7 else 1 if kind_x < 0.9 else 2,
                amount=amount,
                currency=currency,
                home_amount=round(amount / rate, 2),
                deleted=r() < DELETED_SHARE,
                second_account=second,
            )
        )
    return out
