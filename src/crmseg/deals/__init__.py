"""Deals on plain data (no I/O): the canonical deal, reading one from a mapped CRM record, and
attribution of each deal to the label its account held (``crmseg.deals.attribution``)."""

from __future__ import annotations

from crmseg.deals.attribution import (
    ATTRIBUTE_MODES,
    AttributedDeal,
    AttributeMode,
    Attribution,
    Basis,
    FirstLabel,
    LabelMove,
    TagHistory,
    attribute,
    attribute_current,
)
from crmseg.deals.mapped import BadDeal, DealNormalizer
from crmseg.deals.model import DEAL_STATUSES, Deal, DealStatus, parse_status, status_from_flags

__all__ = [
    "ATTRIBUTE_MODES",
    "DEAL_STATUSES",
    "AttributeMode",
    "AttributedDeal",
    "Attribution",
    "BadDeal",
    "Basis",
    "Deal",
    "DealNormalizer",
    "DealStatus",
    "FirstLabel",
    "LabelMove",
    "TagHistory",
    "attribute",
    "attribute_current",
    "parse_status",
    "status_from_flags",
]
