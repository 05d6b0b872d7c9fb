"""The condition language's syntax tree: what the parser builds, the evaluator and the
constant folding walk.

Leaves are attributes (:class:`Attr`, with their declared type) and constants
(:class:`Const`, with the type of their literal); :data:`Node` is any checked
condition. :class:`Name` is a bare word before it is known whether it names an
attribute or a value (a stage, a segment) compared with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from lifecycle.customer import AttributeType

__all__ = [
    "And",
    "Attr",
    "Compare",
    "CompareOp",
    "Const",
    "InList",
    "IsNone",
    "Name",
    "Node",
    "Not",
    "Operand",
    "Or",
    "Truth",
    "ValueType",
]

ValueType = Literal["number", "string", "bool", "stage", "datetime", "none", "duration"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Attr:
    name: str
    type: AttributeType
    offset: int


@dataclass(frozen=True)
class Const:
    value: Decimal | str | bool | None
    type: ValueType
    offset: int
    text: str


@dataclass(frozen=True)
class Compare:
    op: CompareOp
    left: Attr | Const
    right: Attr | Const


@dataclass(frozen=True)
class InList:
    item: Attr | Const
    values: tuple[Const, ...]
    negated: bool


@dataclass(frozen=True)
class IsNone:
    item: Attr | Const
    negated: bool


@dataclass(frozen=True)
class Truth:
    """A bool attribute or constant used on its own: ``marketing_consent``."""

    item: Attr | Const


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Compare | InList | IsNone | Truth | Not | And | Or

# A parsed operand before it is known what it is compared with.


@dataclass(frozen=True)
class Name:
    text: str
    offset: int


Operand = Attr | Const | Name | Node
