"""Seeded deals as each sandbox CRM stores them, and the seeding of a CRM's deal store.

:func:`seed_deal_records` profiles the accounts, draws the deals (:mod:`crmseg.sandbox.deals`,
with the planted effects) and shapes them as the CRM keeps them: Salesforce Opportunities,
HubSpot deals (their companies under ``HS_COMPANIES_KEY``), Dynamics 365 opportunities (money
columns with their ``_base`` twins, lookups as GUIDs) or Zoho Deals
(:func:`crmseg.sandbox.zoho_deals.zoho_records`), with the ids each CRM gives them. The
values they take (stages, types, pipeline, currencies) are :mod:`crmseg.sandbox.deal_setup`'s.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from crmseg.config import Mapping
from crmseg.sandbox.deal_setup import (
    CORPORATE_CURRENCY,
    CURRENCY_RATES,
    DY_CUSTOMER_TABLE,
    DY_STAGES,
    DY_STATE,
    HS_COMPANIES_KEY,
    HS_PIPELINE,
    HS_STAGES,
    HS_TYPES,
    SF_LOST,
    SF_OPEN_STAGES,
    SF_TYPES,
    SF_WON,
    dy_currency_id,
)
from crmseg.sandbox.deals import DEALS_AS_OF, Deal, Planter, generate_deals
from crmseg.sandbox.seed import sf_id
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import to_ms
from crmseg.sandbox.zoho_deals import zoho_records

HS_DEAL_BASE = 20_000_000_000
#: Every fifth opportunity names its account only in the customer lookup (no parent account).
DY_CUSTOMER_ONLY = 5


def dy_deal_id(n: int) -> str:
    """The n-th seeded opportunity id (a GUID)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmseg-sandbox:opportunity:{n}"))


def dy_contact_id(n: int) -> str:
    """The contact an account-less opportunity's customer lookup names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmseg-sandbox:contact:{n}"))


def sf_deal_id(n: int) -> str:
    """The n-th seeded Opportunity id (18 characters, prefix 006)."""
    return sf_id(n, "006")


def hs_deal_id(n: int) -> str:
    """The n-th seeded HubSpot deal id (numeric, same length so text order = n order)."""
    return str(HS_DEAL_BASE + n)


def salesforce_records(deals: Sequence[Deal], multi_currency: bool) -> list[Record]:
    """Opportunity records (fields as Salesforce stores them; CurrencyIsoCode in multi-currency orgs)."""
    out = []
    for d in deals:
        name, prob, forecast = (
            SF_WON if d.status == "won" else SF_LOST if d.status == "lost" else SF_OPEN_STAGES[d.stage]
        )
        data: dict[str, Any] = {
            "Name": f"Deal {d.n}",
            "AccountId": d.account,
            "Amount": d.amount,
            "CloseDate": d.close_date.isoformat(),
            "IsClosed": d.status != "open",
            "IsWon": d.status == "won",
            "StageName": name,
            "Probability": float(prob),
            "Type": SF_TYPES[d.kind],
            "ForecastCategory": forecast,
        }
        if multi_currency:
            data["CurrencyIsoCode"] = d.currency
        out.append(Record(sf_deal_id(d.n), d.created_ms, d.modified_ms, data, d.deleted))
    return out


def hubspot_records(deals: Sequence[Deal], multi_currency: bool) -> list[Record]:
    """HubSpot deal records (properties as stored, the companies under ``HS_COMPANIES_KEY``)."""
    out = []
    noon: dict[date, int] = {}
    for d in deals:
        close_ms = noon.get(d.close_date)
        if close_ms is None:
            c = d.close_date
            close_ms = noon[c] = to_ms(datetime(c.year, c.month, c.day, 12, tzinfo=UTC))
        sid, _label, prob, _closed = (
            HS_STAGES[5] if d.status == "won" else HS_STAGES[6] if d.status == "lost" else HS_STAGES[d.stage % 5]
        )
        companies: list[list[Any]] = []
        if d.account is not None:
            companies.append([d.account, True])
        if d.second_account is not None:
            companies.append([d.second_account, False])
        data: dict[str, Any] = {
            "dealname": f"Deal {d.n}",
            "amount": d.amount,
            "closedate": close_ms,
            "dealstage": sid,
            "pipeline": HS_PIPELINE[0],
            "dealtype": HS_TYPES[min(d.kind, 1)],
            "hs_is_closed": d.status != "open",
            "hs_is_closed_won": d.status == "won",
            "hs_deal_stage_probability": prob,
            "deal_currency_code": d.currency if multi_currency else CORPORATE_CURRENCY,
            "amount_in_home_currency": d.home_amount,
            HS_COMPANIES_KEY: companies,
        }
        out.append(Record(hs_deal_id(d.n), d.created_ms, d.modified_ms, data, d.deleted))
    return out


def dynamics_records(deals: Sequence[Deal], multi_currency: bool) -> list[Record]:
    """Opportunity rows as Dataverse stores them: money columns with their ``_base`` (USD)
    twins, lookups as GUIDs (``_customerid_value`` with the table it points to under
    ``DY_CUSTOMER_TABLE``), dates as ``YYYY-MM-DD`` (date-only columns)."""
    out = []
    for d in deals:
        step, stage_code = DY_STAGES[-1] if d.status != "open" else DY_STAGES[d.stage % len(DY_STAGES)]
        state, status = DY_STATE[d.status]
        currency = d.currency if multi_currency else CORPORATE_CURRENCY
        amount = d.amount if multi_currency else d.home_amount
        parent = d.account if d.account is not None and d.n % DY_CUSTOMER_ONLY else None
        data: dict[str, Any] = {
            "name": f"Deal {d.n}",
            "statecode": state,
            "statuscode": status,
            "estimatedvalue": amount,
            "estimatedvalue_base": d.home_amount,
            "actualvalue": amount if d.status == "won" else None,
            "actualvalue_base": d.home_amount if d.status == "won" else None,
            "_transactioncurrencyid_value": dy_currency_id(currency),
            "exchangerate": CURRENCY_RATES[currency],
            "estimatedclosedate": d.close_date.isoformat(),
            "actualclosedate": d.close_date.isoformat() if d.status != "open" else None,
            "_parentaccountid_value": parent,
            "_customerid_value": d.account if d.account is not None else dy_contact_id(d.n),
            DY_CUSTOMER_TABLE: "account" if d.account is not None else "contact",
            "stepname": step,
            "salesstagecode": stage_code,
            "closeprobability": 100 if d.status == "won" else 0 if d.status == "lost" else 25 * (stage_code + 1),
        }
        out.append(Record(dy_deal_id(d.n), d.created_ms, d.modified_ms, data, d.deleted))
    return out


def seed_deal_records(
    crm: str,
    accounts: Sequence[tuple[str, dict[str, Any]]],
    n: int,
    mapping: Mapping | None,
    *,
    seed: int = 42,
    as_of: date = DEALS_AS_OF,
    effects: bool = True,
    multi_currency: bool = False,
) -> list[Record]:
    """Store records of ``n`` deals for ``accounts`` ((CRM id, canonical row) pairs) in ``crm``'s shape."""
    with _no_gc():
        planter = Planter(mapping)
        keyed = [(rid, planter.profile(row)) for rid, row in accounts]
        deals = generate_deals(keyed, n, seed=seed, as_of=as_of, effects=effects, multi_currency=multi_currency)
        if crm == "salesforce":
            return salesforce_records(deals, multi_currency)
        if crm == "dynamics":
            return dynamics_records(deals, multi_currency)
        if crm == "zoho":
            return zoho_records(deals, {rid: row.get("name") for rid, row in accounts}, multi_currency)
        return hubspot_records(deals, multi_currency)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building 300k acyclic records otherwise triggers
    repeated full collections that cost more than the building itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
