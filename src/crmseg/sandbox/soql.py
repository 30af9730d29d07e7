"""A strict parser and evaluator for the SOQL subset the sandbox serves.

Grammar (keywords case-insensitive)::

    SELECT (COUNT() | item {, item}) FROM object
      [WHERE cond {AND cond} | cond {OR cond}]      -- mixing AND/OR needs parentheses
      [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST] {, ...}]
      [LIMIT n] [OFFSET n]
    item  := field | convertCurrency(field)      -- multi-currency orgs, currency fields only
    cond  := NOT cond | ( expr ) | field op literal | field [NOT] IN (literal {, literal})
             | field LIKE 'pattern'
    op    := = != <> < <= > >=
    literal := 'string' | number | true | false | null | YYYY-MM-DD
               | YYYY-MM-DDThh:mm:ss[.SSS](Z | +hh:mm | -hh:mm)

Anything else is refused with Salesforce's error codes: ``MALFORMED_QUERY`` (syntax),
``INVALID_FIELD`` (unknown field or a literal of the wrong type), ``INVALID_TYPE``
(another object). ``convertCurrency(Amount)`` returns the amount in the user's (corporate)
currency under the field's own name (aliases are not supported). Evaluation and the SQL
pushdown live in ``soql_eval``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from crmseg.sandbox.schema import FieldDef, lookup
from crmseg.sandbox.values import parse_datetime, to_ms

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "TRUE",
        "FALSE",
        "NULL",
        "GROUP",
        "HAVING",
        "INCLUDES",
        "EXCLUDES",
        "USING",
        "WITH",
        "FOR",
        "TYPEOF",
    }
)
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<dt>\d{4}-\d{2}-\d{2}T[0-9:.+\-Z]*)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)(?![A-Za-z_])
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
""",
    re.VERBOSE,
)
_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})$")
_ESC = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\", "_": "\\_", "%": "\\%"}


class SoqlError(Exception):
    """A refused query: ``code`` is the Salesforce errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # dt, date, num, str, ident, kw, op, punct, eof
    value: str
    pos: int


@dataclass(slots=True)
class Cond:
    """``field op value``; ``value`` is a list for IN / NOT IN."""

    field: FieldDef
    op: str
    value: Any


@dataclass(slots=True)
class BoolExpr:
    op: str  # AND | OR | NOT
    items: list[Node]


Node = Cond | BoolExpr


@dataclass(slots=True)
class Query:
    """A parsed SELECT."""

    obj: str
    fields: list[FieldDef] | None  # None for COUNT()
    where: Node | None = None
    order: list[tuple[FieldDef, bool, bool]] = field(default_factory=list)  # (field, desc, nulls_last)
    limit: int | None = None
    offset: int = 0
    convert: frozenset[str] = frozenset()  # fields selected through convertCurrency()


def tokenize(text: str) -> list[Tok]:
    """Split SOQL into tokens; an unknown character is a MALFORMED_QUERY."""
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _malformed(text, pos, f"unexpected token: '{text[pos]}'")
        kind = m.lastgroup or ""
        if kind != "ws":
            val = m.group()
            if kind == "ident" and val.upper() in KEYWORDS:
                kind, val = "kw", val.upper()
            toks.append(Tok(kind, val, pos))
        pos = m.end()
    toks.append(Tok("eof", "", len(text)))
    return toks


def _malformed(text: str, pos: int, msg: str) -> SoqlError:
    line_start = text.rfind("\n", 0, pos) + 1
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    line = text[line_start:].split("\n", 1)[0]
    return SoqlError("MALFORMED_QUERY", f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{msg}")


def _unescape(raw: str, text: str, pos: int) -> str:
    out, i = [], 1
    while i < len(raw) - 1:
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt not in _ESC:
                raise _malformed(text, pos + i, f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}'")
            out.append(_ESC[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str, schema: dict[str, FieldDef], obj: str, multi_currency: bool) -> None:
        self.text, self.schema, self.obj, self.multi_currency = text, schema, obj, multi_currency
        self.toks = tokenize(text)
        self.i = 0

    # -------------------------------------------------------------- helpers
    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Tok, msg: str | None = None) -> SoqlError:
        shown = tok.value or "<EOF>"
        return _malformed(self.text, tok.pos, msg or f"unexpected token: '{shown}'")

    def expect_kw(self, *words: str) -> Tok:
        tok = self.next()
        if tok.kind != "kw" or tok.value not in words:
            raise self.fail(tok)
        return tok

    def accept_kw(self, word: str) -> bool:
        if self.peek().kind == "kw" and self.peek().value == word:
            self.i += 1
            return True
        return False

    def expect_punct(self, ch: str) -> None:
        tok = self.next()
        if tok.kind != "punct" or tok.value != ch:
            raise self.fail(tok)

    def field(self) -> FieldDef:
        tok = self.next()
        if tok.kind != "ident":
            raise self.fail(tok)
        if "." in tok.value:
            head = tok.value.split(".", 1)[0]
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.text}\nERROR at Row:1:Column:{tok.pos + 1}\n"
                f"Didn't understand relationship '{head}' in field path.",
            )
        fd = lookup(self.schema, tok.value)
        if fd is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.text}\nERROR at Row:1:Column:{tok.pos + 1}\n"
                f"No such column '{tok.value}' on entity '{self.obj}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
            )
        return fd

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "num" or not tok.value.isdigit():
            raise self.fail(tok)
        return int(tok.value)

    # -------------------------------------------------------------- grammar
    def query(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[FieldDef] | None
        convert: set[str] = set()
        tok = self.peek()
        if tok.kind == "ident" and tok.value.upper() == "COUNT" and self.toks[self.i + 1].value == "(":
            self.i += 1
            self.expect_punct("(")
            self.expect_punct(")")
            fields = None
        else:
            fields = []
            seen: set[str] = set()
            while True:
                through_convert = self._at_convert()
                fd = self.converted() if through_convert else self.field()
                if fd.name in seen:
                    raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {fd.name}")
                seen.add(fd.name)
                fields.append(fd)
                if through_convert:
                    convert.add(fd.name)
                if not (self.peek().kind == "punct" and self.peek().value == ","):
                    break
                self.i += 1
        self.expect_kw("FROM")
        tok = self.next()
        if tok.kind != "ident":
            raise self.fail(tok)
        if tok.value.lower() != self.obj.lower():
            raise SoqlError(
                "INVALID_TYPE",
                f"\n{self.text}\nERROR at Row:1:Column:{tok.pos + 1}\nsObject type '{tok.value}' is not supported.",
            )
        q = Query(self.obj, fields, convert=frozenset(convert))
        if self.accept_kw("WHERE"):
            q.where = self.expr()
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            q.order = self.order()
        if self.accept_kw("LIMIT"):
            q.limit = self.integer()
        if self.accept_kw("OFFSET"):
            q.offset = self.integer()
            if q.offset > 2000:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.peek().kind != "eof":
            raise self.fail(self.peek())
        return q

    def _at_convert(self) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.value.lower() == "convertcurrency" and self.toks[self.i + 1].value == "("

    def converted(self) -> FieldDef:
        """``convertCurrency(field)``: a currency field, in a multi-currency org."""
        start = self.next()
        self.expect_punct("(")
        fd = self.field()
        self.expect_punct(")")
        if not self.multi_currency:
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.text}\nERROR at Row:1:Column:{start.pos + 1}\n"
                "convertCurrency() can only be used in organizations with multiple currencies enabled",
            )
        if fd.kind != "currency":
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.text}\nERROR at Row:1:Column:{start.pos + 1}\n"
                f"convertCurrency() can only be used on currency fields; {fd.name} is not one",
            )
        return fd

    def order(self) -> list[tuple[FieldDef, bool, bool]]:
        out = []
        while True:
            fd = self.field()
            desc = False
            if self.peek().kind == "kw" and self.peek().value in ("ASC", "DESC"):
                desc = self.next().value == "DESC"
            nulls_last = desc
            if self.accept_kw("NULLS"):
                nulls_last = self.expect_kw("FIRST", "LAST").value == "LAST"
            out.append((fd, desc, nulls_last))
            if not (self.peek().kind == "punct" and self.peek().value == ","):
                return out
            self.i += 1

    def expr(self) -> Node:
        items = [self.unary()]
        conn: str | None = None
        while self.peek().kind == "kw" and self.peek().value in ("AND", "OR"):
            tok = self.next()
            if conn is not None and tok.value != conn:
                raise self.fail(tok)
            conn = tok.value
            items.append(self.unary())
        return items[0] if conn is None else BoolExpr(conn, items)

    def unary(self) -> Node:
        if self.accept_kw("NOT"):
            return BoolExpr("NOT", [self.unary()])
        if self.peek().kind == "punct" and self.peek().value == "(":
            self.i += 1
            node = self.expr()
            self.expect_punct(")")
            return node
        return self.cond()

    def cond(self) -> Cond:
        fd = self.field()
        tok = self.next()
        if tok.kind == "op":
            op = "!=" if tok.value == "<>" else tok.value
            return Cond(fd, op, self.literal(fd))
        if tok.kind == "kw" and tok.value == "LIKE":
            lit = self.literal(fd)
            if not isinstance(lit, str):
                raise SoqlError("INVALID_FIELD", f"invalid operator on field {fd.name}: LIKE needs a string")
            return Cond(fd, "LIKE", lit)
        negate = tok.kind == "kw" and tok.value == "NOT"
        if negate:
            tok = self.next()
        if tok.kind == "kw" and tok.value == "IN":
            self.expect_punct("(")
            values = [self.literal(fd)]
            while self.peek().kind == "punct" and self.peek().value == ",":
                self.i += 1
                values.append(self.literal(fd))
            self.expect_punct(")")
            return Cond(fd, "NOT IN" if negate else "IN", values)
        raise self.fail(tok)

    def literal(self, fd: FieldDef) -> Any:
        tok = self.next()
        kind = fd.kind
        if tok.kind == "kw" and tok.value == "NULL":
            return None
        if tok.kind == "dt":
            if not _DT.match(tok.value):
                raise self.fail(
                    tok,
                    f"line 1:{tok.pos} no viable alternative at character: invalid dateTime "
                    f"'{tok.value}' (use YYYY-MM-DDThh:mm:ssZ or ±hh:mm)",
                )
            if kind != "datetime":
                raise self._wrong_type(fd, tok)
            dt = parse_datetime(tok.value)
            if dt is None:
                raise self.fail(tok, f"invalid dateTime: {tok.value}")
            return to_ms(dt)
        if kind == "datetime":
            raise self._wrong_type(fd, tok)
        if tok.kind == "date":
            if kind != "date" or parse_datetime(tok.value) is None:
                raise self._wrong_type(fd, tok)
            return tok.value
        if tok.kind == "num":
            if kind not in ("int", "double", "currency", "percent"):
                raise self._wrong_type(fd, tok)
            return float(tok.value)
        if tok.kind == "kw" and tok.value in ("TRUE", "FALSE"):
            if kind != "boolean":
                raise self._wrong_type(fd, tok)
            return tok.value == "TRUE"
        if tok.kind == "str":
            if kind in ("int", "double", "currency", "percent", "boolean", "date"):
                raise self._wrong_type(fd, tok)
            return _unescape(tok.value, self.text, tok.pos)
        raise self.fail(tok)

    def _wrong_type(self, fd: FieldDef, tok: Tok) -> SoqlError:
        names = {
            "datetime": "dateTime",
            "date": "date",
            "boolean": "boolean",
            "int": "number",
            "double": "number",
            "currency": "number",
            "percent": "number",
        }
        want = names.get(fd.kind, "string")
        quote = "should not be enclosed in quotes" if want != "string" else "should be enclosed in quotes"
        return SoqlError(
            "INVALID_FIELD",
            f"\n{self.text}\nERROR at Row:1:Column:{tok.pos + 1}\n"
            f"value of filter criterion for field '{fd.name}' must be of type {want} and {quote}",
        )


def parse(text: str, schema: dict[str, FieldDef], obj: str = "Account", multi_currency: bool = False) -> Query:
    """Parse ``text`` against ``schema``; raises SoqlError in Salesforce's terms.

    ``multi_currency``: the org has several currencies (``convertCurrency()`` is allowed)."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(text, schema, obj, multi_currency).query()


def object_of(text: str | None) -> str | None:
    """The object named after the query's first FROM (None when there is none or it does not tokenize)."""
    if not text:
        return None
    try:
        toks = tokenize(text)
    except SoqlError:
        return None
    for tok, nxt in itertools.pairwise(toks):
        if tok.kind == "kw" and tok.value == "FROM" and nxt.kind == "ident":
            return nxt.value
    return None
