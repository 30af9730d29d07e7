"""The Zoho CRM sandbox's Deals module: its fields (the Stage pick list with each value's forecast
metadata) and the seeded deals (:mod:`crmseg.sandbox.deals`) as Zoho stores them.

Stages are Zoho's default sales pipeline: the open stages in order, then ``Closed Won``,
``Closed Lost`` and ``Closed Lost to Competition``; each value's ``forecast_type`` (``Open``,
``Closed Won``, ``Closed Lost``), ``forecast_category`` and ``probability`` are in the fields
metadata. Every fifth lost deal is ``Closed Lost to Competition``, so a client reading the
status from the label's text instead of the metadata gets it wrong. ``Account_Name`` is a lookup
``{"name", "id"}``; a multi-currency org's deals have ``Currency`` (ISO code) and
``Exchange_Rate`` (units of the deal's currency per US dollar, the home currency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crmseg.sandbox.deal_setup import CURRENCY_RATES
from crmseg.sandbox.deals import Deal
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.store import Record

#: Deal ids: ``DEAL_BASE + n`` (19 digits, text order = n order).
DEAL_BASE = 5_725_767_000_002_000_000
#: Zoho's default pipeline: (stage, probability, forecast type, forecast category).
STAGES = (
    ("Qualification", 10, "Open", "Pipeline"),
    ("Needs Analysis", 20, "Open", "Pipeline"),
    ("Value Proposition", 40, "Open", "Pipeline"),
    ("Identify Decision Makers", 60, "Open", "Pipeline"),
    ("Proposal/Price Quote", 75, "Open", "Pipeline"),
    ("Negotiation/Review", 90, "Open", "Pipeline"),
    ("Closed Won", 100, "Closed Won", "Closed"),
    ("Closed Lost", 0, "Closed Lost", "Omitted"),
    ("Closed Lost to Competition", 0, "Closed Lost", "Omitted"),
)
OPEN_STAGES = tuple(s for s in STAGES if s[2] == "Open")
TYPES = ("New Business", "Existing Business")
#: Every n-th lost deal is lost to competition (a lost stage whose label does not say "Closed Lost" alone).
TO_COMPETITION = 5


def deal_id(n: int) -> str:
    """The n-th seeded deal's id."""
    return str(DEAL_BASE + n)


def deal_schema(multi_currency: bool) -> dict[str, FieldDef]:
    """The Deals fields the sandbox serves (``Currency`` and ``Exchange_Rate`` in multi-currency orgs)."""
    stage = FieldDef("Stage", "picklist", "Stage", options=[s[0] for s in STAGES], restricted=True)
    stage.extra["pick_list_extra"] = {
        name: {"probability": p, "forecast_type": kind, "forecast_category": {"name": category}}
        for name, p, kind, category in STAGES
    }
    account = FieldDef("Account_Name", "lookup", "Account Name")
    account.extra["module"] = "Accounts"
    fields = [
        FieldDef("id", "bigint", "Record Id", updateable=False, system="id"),
        FieldDef("Deal_Name", "text", "Deal Name", length=120),
        stage,
        FieldDef("Amount", "currency", "Amount"),
        FieldDef("Closing_Date", "date", "Closing Date"),
        account,
        FieldDef("Pipeline", "picklist", "Pipeline", options=["Standard"], restricted=True),
        FieldDef("Type", "picklist", "Type", options=list(TYPES), restricted=True),
        FieldDef("Probability", "integer", "Probability (%)"),
        FieldDef("Owner", "ownerlookup", "Deal Owner"),
        FieldDef("Created_Time", "datetime", "Created Time", updateable=False, system="created"),
        FieldDef("Modified_Time", "datetime", "Modified Time", updateable=False, system="modified"),
    ]
    if multi_currency:
        fields += [
            FieldDef("Currency", "picklist", "Currency", options=list(CURRENCY_RATES), restricted=True),
            FieldDef("Exchange_Rate", "double", "Exchange Rate"),
        ]
    return {fd.name: fd for fd in fields}


def zoho_records(deals: Sequence[Deal], names: Mapping[str, Any], multi_currency: bool) -> list[Record]:
    """Deal records as Zoho stores them; ``names``: account id -> its name (the lookup shows both)."""
    out = []
    lost = 0
    for d in deals:
        if d.status == "won":
            stage = STAGES[6]
        elif d.status == "lost":
            lost += 1
            stage = STAGES[8] if lost % TO_COMPETITION == 0 else STAGES[7]
        else:
            stage = OPEN_STAGES[d.stage % len(OPEN_STAGES)]
        data: dict[str, Any] = {
            "Deal_Name": f"Deal {d.n}",
            "Stage": stage[0],
            "Probability": stage[1],
            "Amount": d.amount if multi_currency else d.home_amount,
            "Closing_Date": d.close_date.isoformat(),
            "Account_Name": {"name": names.get(d.account), "id": d.account} if d.account is not None else None,
            "Pipeline": "Standard",
            "Type": TYPES[min(d.kind, 1)],
            "Owner": {"name": "Sandbox Admin", "id": "1", "email": "admin@example.com"},
        }
        if multi_currency:
            data["Currency"] = d.currency
            data["Exchange_Rate"] = CURRENCY_RATES[d.currency]
        out.append(Record(deal_id(d.n), d.created_ms, d.modified_ms, data, d.deleted))
    return out
