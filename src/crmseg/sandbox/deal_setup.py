"""Each sandbox CRM's deal setup, as a new org or portal has it, which the seeded deals take
their values from and the CRMs serve: Salesforce's default Opportunity stages, types and
forecast categories; HubSpot's default pipeline, deal types and deal-to-company association
types; Dynamics 365's default sales process and state codes; the currencies of a
multi-currency org (and Dynamics' row ids for them); and the keys under which a stored deal keeps its links.

Zoho's deal setup is :mod:`crmseg.sandbox.zoho_deals`'s; the deals themselves are drawn in
:mod:`crmseg.sandbox.deals` and stored in each CRM's shape by :mod:`crmseg.sandbox.deal_records`.
"""

from __future__ import annotations

import uuid

#: Multi-currency orgs/portals: units of each currency per 1 USD (the corporate/home currency),
#: fixed (no dated rates). A deal's amount is in its own currency; the converted amount is
#: ``round(amount / rate, 2)``.
CURRENCY_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.36, "AUD": 1.52}
CORPORATE_CURRENCY = "USD"

# Salesforce's default Opportunity stages: (StageName, Probability, ForecastCategory).
SF_OPEN_STAGES = (
    ("Prospecting", 10, "Pipeline"),
    ("Qualification", 10, "Pipeline"),
    ("Needs Analysis", 20, "Pipeline"),
    ("Value Proposition", 50, "Pipeline"),
    ("Id. Decision Makers", 60, "Pipeline"),
    ("Perception Analysis", 70, "Pipeline"),
    ("Proposal/Price Quote", 75, "BestCase"),
    ("Negotiation/Review", 90, "Forecast"),
)
SF_WON = ("Closed Won", 100, "Closed")
SF_LOST = ("Closed Lost", 0, "Omitted")
SF_STAGES = (*SF_OPEN_STAGES, SF_WON, SF_LOST)
SF_TYPES = ("New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement")
SF_FORECAST = ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed")

# HubSpot's default deal pipeline: (stage id, label, probability, closed).
HS_PIPELINE = ("default", "Sales Pipeline")
HS_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
    ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
    ("presentationscheduled", "Presentation Scheduled", 0.6, False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
    ("contractsent", "Contract Sent", 0.9, False),
    ("closedwon", "Closed Won", 1.0, True),
    ("closedlost", "Closed Lost", 0.0, True),
)
HS_TYPES = ("newbusiness", "existingbusiness")
#: HubSpot's deal -> company association types (v4): primary and unlabeled.
HS_PRIMARY_TYPE = 5
HS_UNLABELED_TYPE = 341

# Dynamics 365's default sales process: (stepname, salesstagecode) of the open stages; closed
# opportunities stay on the last stage. statecode: 0 Open, 1 Won, 2 Lost (with their default
# statuscode: 1 In Progress, 3 Won, 4 Canceled).
DY_STAGES = (("1-Qualify", 0), ("2-Develop", 1), ("3-Propose", 2), ("4-Close", 3))
DY_STATE = {"open": (0, 1), "won": (1, 3), "lost": (2, 4)}

#: Where a HubSpot deal's companies are kept in the stored record: [[company id, primary], ...].
HS_COMPANIES_KEY = "__companies"
#: The stored key holding the table the customer lookup points to (account or contact).
DY_CUSTOMER_TABLE = "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"


def dy_currency_id(code: str) -> str:
    """The transactioncurrency row id of an ISO 4217 code."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmseg-sandbox:transactioncurrency:{code}"))
