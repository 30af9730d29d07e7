"""crmseg: declarative segment, tier and journey-stage tags for CRM accounts."""

__version__ = "0.1.0"
