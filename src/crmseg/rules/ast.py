"""Syntax tree of a `when` expression. Every node keeps its 1-based column and source text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any  # str | int | float | bool | None
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Lit, ...]
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison chain: ``first op0 rest0 op1 rest1 ...``; ops include 'in' and 'not in'."""

    first: Node
    ops: tuple[str, ...]
    rest: tuple[Node, ...]
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # 'and' | 'or'
    items: tuple[Node, ...]
    col: int
    text: str


@dataclass(frozen=True, slots=True)
class Not:
    item: Node
    col: int
    text: str


Node = Lit | ListLit | Name | Call | Compare | BoolOp | Not
