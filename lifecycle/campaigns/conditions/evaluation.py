"""The condition language's evaluator: a checked syntax tree against attribute values.

A missing value (``None``) makes ``==``, ``in`` and every ordering comparison false,
and ``!=`` and ``not in`` true; numbers compare as decimals whatever their Python type.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from lifecycle.campaigns.conditions.tree import (
    And,
    Attr,
    Const,
    InList,
    IsNone,
    Node,
    Not,
    Or,
    Truth,
)
from lifecycle.customer import AttributeValue

__all__ = ["Reader", "evaluate"]

Reader = Callable[[str], AttributeValue]


def _get(item: Attr | Const, read: Reader) -> AttributeValue | Decimal:
    if isinstance(item, Const):
        return item.value
    return read(item.name)


def _number(value: AttributeValue | Decimal) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return None


def _equal(left: AttributeValue | Decimal, right: AttributeValue | Decimal) -> bool:
    ln, rn = _number(left), _number(right)
    if ln is not None and rn is not None:
        return ln == rn
    return left == right


def evaluate(node: Node, read: Reader) -> bool:
    if isinstance(node, And):
        return all(evaluate(item, read) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, read) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, read)
    if isinstance(node, Truth):
        return _get(node.item, read) is True
    if isinstance(node, IsNone):
        missing = _get(node.item, read) is None
        return not missing if node.negated else missing
    if isinstance(node, InList):
        value = _get(node.item, read)
        if value is None:
            return node.negated
        found = any(_equal(value, c.value) for c in node.values)
        return not found if node.negated else found
    left, right = _get(node.left, read), _get(node.right, read)
    if left is None or right is None:
        return node.op == "!="
    if node.op == "==":
        return _equal(left, right)
    if node.op == "!=":
        return not _equal(left, right)
    ln, rn = _number(left), _number(right)
    if ln is None or rn is None:
        return False
    if node.op == "<":
        return ln < rn
    if node.op == "<=":
        return ln <= rn
    if node.op == ">":
        return ln > rn
    return ln >= rn
