"""Tokenizer and recursive-descent parser for `when` expressions (no eval, ever)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from crmseg.errors import RuleError
from crmseg.rules.ast import BoolOp, Call, Compare, ListLit, Lit, Name, Node, Not

MAX_DEPTH = 64
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
COMPARE_OPS = ("==", "!=", "<=", ">=", "<", ">")


class ExprError(RuleError):
    """A problem at a column of one expression; the loader adds file and rule."""

    def __init__(self, col: int, message: str) -> None:
        super().__init__(f"col {col}: {message}")
        self.col = col
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # num, str, name, op, kw, end
    value: object
    col: int  # 1-based
    end: int  # 0-based index just past the token


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|-)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; unknown characters are an error at their column."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            ch = text[pos]
            hint = " (use 'and', 'or', 'not')" if ch in "&|!" else ""
            hint = " (strings need matching quotes)" if ch in "'\"" else hint
            raise ExprError(pos + 1, f"unexpected character {ch!r}{hint}")
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "num":
            tokens.append(Token("num", _number(raw, pos + 1), pos + 1, m.end()))
        elif kind == "str":
            tokens.append(Token("str", _unquote(raw, pos + 1), pos + 1, m.end()))
        elif kind == "name":
            tokens.append(Token("kw" if raw in KEYWORDS else "name", raw, pos + 1, m.end()))
        elif kind == "op":
            tokens.append(Token("op", raw, pos + 1, m.end()))
        pos = m.end()
    tokens.append(Token("end", None, len(text) + 1, len(text)))
    return tokens


def _number(raw: str, col: int) -> int | float:
    if raw.startswith("_") or raw.endswith("_") or "__" in raw or "_." in raw or "._" in raw:
        raise ExprError(col, f"malformed number {raw!r}")
    clean = raw.replace("_", "")
    try:
        value = float(clean) if any(c in clean for c in ".eE") else int(clean)
    except ValueError:
        raise ExprError(col, f"malformed number {raw!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(col, f"number {raw!r} is too large")
    if isinstance(value, int) and value > 2**53:
        raise ExprError(
            col,
            f"integer {raw!r} is beyond 2**53 and cannot compare exactly; write it as a float, e.g. {float(value):.0e}",
        )
    return value


def _unquote(raw: str, col: int) -> str:
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(col + i + 1, f"unknown escape '\\{nxt}' in string")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Parser:
    """Grammar: or := and ('or' and)*; and := not ('and' not)*; not := 'not' not | cmp;
    cmp := primary (op primary)*; primary := literal | name | call | '(' or ')' | '[' list ']'."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _is(self, kind: str, value: object = None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def _expect_op(self, value: str, what: str) -> Token:
        if not self._is("op", value):
            raise ExprError(self.tok.col, f"expected '{value}' {what}, found {self._describe(self.tok)}")
        return self._take()

    @staticmethod
    def _describe(t: Token) -> str:
        if t.kind == "end":
            return "end of expression"
        if t.kind == "str":
            return f"string {t.value!r}"
        return f"'{t.value}'"

    def _src(self, start_col: int) -> str:
        return self.text[start_col - 1 : self.tokens[self.i - 1].end].strip()

    def _enter(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(col, f"expression nested deeper than {MAX_DEPTH} levels")

    # -- grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError(1, "empty expression")
        node = self._or()
        if self.tok.kind != "end":
            raise ExprError(self.tok.col, f"unexpected {self._describe(self.tok)} (missing 'and'/'or'?)")
        return node

    def _bool(self, op: str, sub: Callable[[], Node]) -> Node:
        start = self.tok.col
        items = [sub()]
        while self._is("kw", op):
            self._take()
            items.append(sub())
        if len(items) == 1:
            return items[0]
        return BoolOp(op, tuple(items), start, self._src(start))

    def _or(self) -> Node:
        return self._bool("or", self._and)

    def _and(self) -> Node:
        return self._bool("and", self._not)

    def _not(self) -> Node:
        if self._is("kw", "not"):
            t = self._take()
            self._enter(t.col)
            item = self._not()
            self.depth -= 1
            return Not(item, t.col, self._src(t.col))
        return self._compare()

    def _compare(self) -> Node:
        start = self.tok.col
        first = self._primary()
        ops: list[str] = []
        rest: list[Node] = []
        while True:
            if self.tok.kind == "op" and self.tok.value in COMPARE_OPS:
                ops.append(str(self._take().value))
            elif self._is("kw", "in"):
                self._take()
                ops.append("in")
            elif (
                self._is("kw", "not") and self.tokens[self.i + 1].kind == "kw" and self.tokens[self.i + 1].value == "in"
            ):
                self.i += 2
                ops.append("not in")
            else:
                break
            rest.append(self._primary())
        if not ops:
            return first
        return Compare(first, tuple(ops), tuple(rest), start, self._src(start))

    def _primary(self) -> Node:
        t = self.tok
        if t.kind == "num" or t.kind == "str":
            self._take()
            return Lit(t.value, t.col, self._src(t.col))
        if self._is("op", "-") and self.tokens[self.i + 1].kind == "num":
            self._take()
            num = self._take()
            assert isinstance(num.value, int | float)  # a "num" token holds what _number gave
            return Lit(-num.value, t.col, self._src(t.col))
        if t.kind == "kw" and t.value in ("true", "false", "null"):
            self._take()
            return Lit({"true": True, "false": False, "null": None}[str(t.value)], t.col, str(t.value))
        if t.kind == "name":
            self._take()
            if self._is("op", "("):
                return self._call(t)
            return Name(str(t.value), t.col, str(t.value))
        if self._is("op", "("):
            self._take()
            self._enter(t.col)
            node = self._or()
            self.depth -= 1
            self._expect_op(")", f"to close the '(' at col {t.col:d}")
            return node
        if self._is("op", "["):
            return self._list()
        if t.kind == "kw" and t.value in ("and", "or", "in"):
            raise ExprError(t.col, f"'{t.value}' needs a value on its left")
        raise ExprError(t.col, f"expected a value, found {self._describe(t)}")

    def _call(self, name: Token) -> Node:
        self._take()  # (
        self._enter(name.col)
        args: list[Node] = []
        if not self._is("op", ")"):
            args.append(self._or())
            while self._is("op", ","):
                self._take()
                args.append(self._or())
        self.depth -= 1
        self._expect_op(")", f"to close {name.value}(")
        return Call(str(name.value), tuple(args), name.col, self._src(name.col))

    def _list(self) -> Node:
        start = self._take().col  # [
        self._enter(start)
        items: list[Lit] = []
        while not self._is("op", "]"):
            item = self._primary()
            if not isinstance(item, Lit):
                raise ExprError(item.col, "list items must be literal values (text, numbers, true/false)")
            items.append(item)
            if not self._is("op", ","):
                break
            self._take()
        self._expect_op("]", f"to close the '[' at col {start}")
        self.depth -= 1
        return ListLit(tuple(items), start, self._src(start))


def parse(text: str) -> Node:
    """Parse one expression; raises ExprError (a RuleError) with the column on any problem."""
    if not isinstance(text, str):
        raise ExprError(1, "expression must be a string")
    return Parser(text).parse()
