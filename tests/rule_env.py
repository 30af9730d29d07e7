"""Shared test constants for rule tests: field types, a fixed run time, both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmseg.rules.engines import durable_available

TYPES = {
    "employees": "int",
    "annual_revenue": "float",
    "industry": "str",
    "country": "str",
    "tech_stack": "list",
    "last_activity_at": "datetime",
    "customer_since": "date",
    "is_customer": "bool",
}
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

ENGINES = [
    pytest.param("native", id="native"),
    pytest.param(
        "durable",
        id="durable",
        marks=pytest.mark.skipif(not durable_available(), reason="durable-rules not importable on this Python"),
    ),
]
