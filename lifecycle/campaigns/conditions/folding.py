"""Conditions whose value is known at load time, so a branch of an ``if`` can never run.

Three simple, sound rules (nothing here guesses):

* a condition that reads no attribute has one value (``1 > 2``);
* ``X or true`` is true and ``X and false`` is false whatever ``X`` is, and so on up the
  tree (``not``, nested ``and``/``or``);
* numeric comparisons of one attribute with constants, joined by ``and``, that no number
  can satisfy at once (``orders_count > 5 and orders_count < 2``) make the ``and`` false.
  A customer without a value fails every ordering comparison, so that customer cannot
  satisfy them either.

Anything else (``orders_count > 5 or orders_count <= 5`` is false for a customer without
a value, for instance) is left to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lifecycle.campaigns.conditions.condition import Condition
from lifecycle.campaigns.conditions.tree import (
    And,
    Attr,
    Compare,
    CompareOp,
    Const,
    InList,
    IsNone,
    Node,
    Not,
    Or,
    Truth,
)

__all__ = ["Folded", "fold"]


@dataclass(frozen=True)
class Folded:
    value: bool
    #: Why, in the writer's terms; None when the condition reads no attribute at all.
    reason: str | None = None


def fold(condition: Condition) -> Folded | None:
    """The condition's value if it is the same for every customer, else None."""
    if not condition.attributes:
        constant = condition.constant()
        return None if constant is None else Folded(constant)
    return _fold(condition.root)


def _show_item(item: Attr | Const) -> str:
    return item.name if isinstance(item, Attr) else item.text


def _show(node: Node) -> str:
    """The node written back as a condition (for messages)."""
    if isinstance(node, Compare):
        return f"{_show_item(node.left)} {node.op} {_show_item(node.right)}"
    if isinstance(node, Truth):
        return _show_item(node.item)
    if isinstance(node, IsNone):
        return f"{_show_item(node.item)} is {'not ' if node.negated else ''}none"
    if isinstance(node, InList):
        values = ", ".join(c.text for c in node.values)
        return f"{_show_item(node.item)} {'not ' if node.negated else ''}in [{values}]"
    if isinstance(node, Not):
        return f"not {_show_inner(node.item)}"
    joiner = " and " if isinstance(node, And) else " or "
    return joiner.join(_show_inner(item) for item in node.items)


def _show_inner(node: Node) -> str:
    return f"({_show(node)})" if isinstance(node, And | Or) else _show(node)


def _fold(node: Node) -> Folded | None:
    if isinstance(node, Truth):
        if isinstance(node.item, Const) and isinstance(node.item.value, bool):
            return Folded(node.item.value, f"'{node.item.text}'")
        return None
    if isinstance(node, Compare):
        if isinstance(node.left, Const) and isinstance(node.right, Const):
            value = Condition(_show(node), node, frozenset()).constant()
            return None if value is None else Folded(value, f"'{_show(node)}'")
        return None
    if isinstance(node, Not):
        inner = _fold(node.item)
        return None if inner is None else Folded(not inner.value, inner.reason)
    if isinstance(node, Or):
        return _fold_junction(node.items, decisive=True, word="or")
    if isinstance(node, And):
        found = _fold_junction(node.items, decisive=False, word="and")
        return found if found is not None else _contradiction(node)
    return None


def _fold_junction(items: tuple[Node, ...], *, decisive: bool, word: str) -> Folded | None:
    """``or`` is decided by one true item, ``and`` by one false item; else by all items."""
    folded = [_fold(item) for item in items]
    for item, value in zip(items, folded, strict=True):
        if value is not None and value.value is decisive:
            always = "true" if decisive else "false"
            if isinstance(item, Truth):  # a literal true or false
                return Folded(decisive, f"'{word} {_show(item)}' makes it {always} for everyone")
            return Folded(
                decisive,
                f"'{_show(item)}' is always {always}, so the whole '{word}' is {always}",
            )
    if all(value is not None for value in folded):
        always = "false" if decisive else "true"
        return Folded(not decisive, f"every part of the '{word}' is always {always}")
    return None


# -- numeric intervals ---------------------------------------------------------------------

_FLIPPED: dict[CompareOp, CompareOp] = {
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
    "==": "==",
    "!=": "!=",
}


@dataclass(frozen=True)
class _Bound:
    value: Decimal
    inclusive: bool
    source: Compare


def _flatten(node: And) -> list[Node]:
    items: list[Node] = []
    for item in node.items:
        items.extend(_flatten(item) if isinstance(item, And) else [item])
    return items


def _numeric(node: Node) -> tuple[str, CompareOp, Decimal] | None:
    """``attribute OP number`` (either way round) as (attribute, op, number)."""
    if not isinstance(node, Compare):
        return None
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Const) and isinstance(right, Attr):
        left, right, op = right, left, _FLIPPED[op]
    if not (isinstance(left, Attr) and isinstance(right, Const)):
        return None
    if left.type not in ("number", "decimal") or not isinstance(right.value, Decimal):
        return None
    return left.name, op, right.value


def _contradiction(node: And) -> Folded | None:
    lowest: dict[str, _Bound] = {}  # the tightest lower bound per attribute
    highest: dict[str, _Bound] = {}  # the tightest upper bound per attribute
    for item in _flatten(node):
        found = _numeric(item)
        if found is None:
            continue
        assert isinstance(item, Compare)
        name, op, value = found
        if op in (">", ">=", "=="):
            bound = _Bound(value, op != ">", item)
            old = lowest.get(name)
            if old is None or (value, not bound.inclusive) > (old.value, not old.inclusive):
                lowest[name] = bound
        if op in ("<", "<=", "=="):
            bound = _Bound(value, op != "<", item)
            old = highest.get(name)
            if old is None or (value, bound.inclusive) < (old.value, old.inclusive):
                highest[name] = bound
        low, high = lowest.get(name), highest.get(name)
        if low is None or high is None:
            continue
        if low.value > high.value or (
            low.value == high.value and not (low.inclusive and high.inclusive)
        ):
            first, second = sorted((low.source, high.source), key=_offset)
            return Folded(
                False, f"'{_show(first)}' and '{_show(second)}' cannot both hold for any {name}"
            )
    return None


def _offset(node: Compare) -> int:
    return min(item.offset for item in (node.left, node.right))
