"""The sandbox's SOQL parser: the accepted subset, strict rejections, injection attempts."""

from __future__ import annotations

import pytest

from crmseg.sandbox import default_mapping
from crmseg.sandbox.schema import build_schema, load_dimensions
from crmseg.sandbox.soql import SoqlError, parse
from crmseg.sandbox.soql_eval import evaluate, sql_filter, sql_order


@pytest.fixture(scope="module")
def schema():
    return build_schema("salesforce", default_mapping("salesforce"), load_dimensions(None))


def test_incremental_query_runs_entirely_in_sql(schema):
    q = parse(
        "SELECT Id, name, SystemModstamp FROM account WHERE SystemModstamp > 2026-11-01T00:00:00Z "
        "ORDER BY SystemModstamp, Id LIMIT 5",
        schema,
    )
    assert [f.name for f in q.fields] == ["Id", "Name", "SystemModstamp"]  # canonical case
    conds, params, complete = sql_filter(q.where)
    assert conds == ["modified_ms > ?"] and params == [1793491200000] and complete
    assert sql_order(q.order) == "modified_ms ASC, id ASC"
    assert q.limit == 5


@pytest.mark.parametrize(
    "literal",
    ["2026-11-01T00:00:00Z", "2026-11-01T00:00:00.000Z", "2026-11-01T01:00:00+01:00", "2026-10-31T16:00:00-08:00"],
)
def test_datetime_literal_forms(schema, literal):
    q = parse(f"SELECT Id FROM Account WHERE SystemModstamp >= {literal}", schema)
    assert sql_filter(q.where)[1] == [1793491200000]


def test_count_query(schema):
    q = parse(f"SELECT COUNT() FROM Account WHERE {default_mapping('salesforce').pin_field} = true", schema)
    assert q.fields is None


@pytest.mark.parametrize(
    "text, code",
    [
        ("", "MALFORMED_QUERY"),
        ("SELECT * FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account; DELETE FROM records", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' OR '1'='1'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' -- comment", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' /* c */", "MALFORMED_QUERY"),
        ('SELECT Id FROM Account WHERE Name = "x"', "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT Id FROM Account)", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account UNION SELECT Id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE SystemModstamp > 2026-11-01T00:00:00.000+0000", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'bad \\x escape'", "MALFORMED_QUERY"),
        ("SELECT Id, Id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account LIMIT 5 extra", "MALFORMED_QUERY"),
        ("SELECT Id, Password FROM Account", "INVALID_FIELD"),
        ("SELECT Owner.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE SystemModstamp > '2026-11-01T00:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE NumberOfEmployees > '10'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD"),
        ("SELECT Id FROM User", "INVALID_TYPE"),
    ],
)
def test_rejections(schema, text, code):
    with pytest.raises(SoqlError) as info:
        parse(text, schema)
    assert info.value.code == code


def test_malformed_message_points_at_the_token(schema):
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM Account WHERE Name = 'x' OR '1'='1'", schema)
    assert "ERROR at Row:1:Column:44" in info.value.message and "unexpected token: ''1''" in info.value.message


def test_quoted_injection_stays_a_value_and_reaches_sql_as_a_parameter(schema):
    q = parse("SELECT Id FROM Account WHERE Id = 'x\\' OR 1=1; DROP TABLE records --'", schema)
    conds, params, complete = sql_filter(q.where)
    assert conds == ["id = ?"] and params == ["x' OR 1=1; DROP TABLE records --"] and complete


def _rec(**values):
    return lambda fd: values.get(fd.name)


def test_evaluation_semantics(schema):
    q = parse(
        "SELECT Id FROM Account WHERE (Industry = 'software' OR Industry LIKE 'Fin%') "
        "AND NOT BillingCountry IN ('US', 'USA') AND NumberOfEmployees >= 100",
        schema,
    )
    assert evaluate(q.where, _rec(Industry="Software", BillingCountry="Germany", NumberOfEmployees=100))
    assert evaluate(q.where, _rec(Industry="Financial Services", BillingCountry=None, NumberOfEmployees=500))
    assert not evaluate(q.where, _rec(Industry="Software", BillingCountry="usa", NumberOfEmployees=500))
    assert not evaluate(q.where, _rec(Industry="Software", BillingCountry="DE", NumberOfEmployees=None))
    ne = parse("SELECT Id FROM Account WHERE Industry != 'Retail'", schema)
    assert evaluate(ne.where, _rec(Industry=None))  # SOQL's != includes nulls
    null = parse("SELECT Id FROM Account WHERE Industry = null", schema)
    assert evaluate(null.where, _rec(Industry=None)) and not evaluate(null.where, _rec(Industry="Retail"))
