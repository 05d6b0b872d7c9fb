"""The condition language's checks, made while parsing: known attributes, valid values,
and types that can be compared.

Numbers compare with numbers (``days_...`` attributes also with durations such as
``30d``), strings and stages only with ``==``, ``!=`` and ``in``, points in time only
with ``is none``. A problem is recorded and parsing goes on, so one run reports every
problem; the offending part becomes a constant ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle.campaigns.conditions.tokens import ConditionProblem, Token
from lifecycle.campaigns.conditions.tree import (
    And,
    Attr,
    Compare,
    CompareOp,
    Const,
    InList,
    IsNone,
    Name,
    Node,
    Not,
    Operand,
    Or,
    Truth,
    ValueType,
)
from lifecycle.campaigns.suggest import nearest
from lifecycle.customer import ATTRIBUTES, AttributeType
from lifecycle.state import STAGES

__all__ = ["ConditionChecker"]


def _is_day_attribute(name: str) -> bool:
    return name.startswith("days_") or name == "mean_days_between_orders"


def _value_type(attribute_type: AttributeType) -> ValueType:
    return "number" if attribute_type == "decimal" else attribute_type


class ConditionChecker:
    """Resolves and checks the operands the parser reads (the base of its parser)."""

    known_values: Mapping[str, Sequence[str]]
    problems: list[ConditionProblem]
    attributes: set[str]

    def problem(self, offset: int, message: str) -> None:
        self.problems.append(ConditionProblem(offset, message))

    # checking

    def _attribute(self, name: Name) -> Attr | None:
        attribute = ATTRIBUTES.get(name.text)
        if attribute is None:
            guess = nearest(name.text, list(ATTRIBUTES))
            if guess is not None:
                hint = f"; did you mean '{guess}'?"
            else:
                hint = "; the attributes are listed in the marketer's guide in README.md"
            self.problem(name.offset, f"unknown attribute '{name.text}'{hint}")
            return None
        self.attributes.add(attribute.name)
        return Attr(attribute.name, attribute.type, name.offset)

    def _value(self, operand: Operand, other: Attr | None, offset: int) -> Attr | Const | None:
        """Resolve a bare name: an attribute, or a stage/segment name compared with one."""
        if isinstance(operand, Attr | Const):
            return operand
        if isinstance(operand, Name):
            if operand.text not in ATTRIBUTES and other is not None:
                values = self._known(other)
                if values is not None:
                    # Checked like a quoted value ("'at_rsk' is not a valid stage") by the caller.
                    return Const(operand.text, "string", operand.offset, operand.text)
            return self._attribute(operand)
        self.problem(offset, "a combined condition cannot be compared; compare attributes instead")
        return None

    def _known(self, attr: Attr) -> Sequence[str] | None:
        if attr.type == "stage":
            return STAGES
        return self.known_values.get(attr.name)

    def _check_name_value(self, attr: Attr, const: Const) -> None:
        values = self._known(attr)
        if values is None or const.type != "string" or not isinstance(const.value, str):
            return
        if const.value not in values:
            guess = nearest(const.value, values)
            hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(values)}"
            what = "stage" if attr.type == "stage" else f"{attr.name} value"
            self.problem(const.offset, f"'{const.value}' is not a valid {what}; {hint}")

    def _types_clash(self, left: Attr | Const, right: Attr | Const, offset: int) -> bool:
        lt = _value_type(left.type) if isinstance(left, Attr) else left.type
        rt = _value_type(right.type) if isinstance(right, Attr) else right.type
        for side, other in ((left, right), (right, left)):
            if (
                isinstance(side, Const)
                and side.type == "duration"
                and not (isinstance(other, Attr) and _is_day_attribute(other.name))
            ):
                self.problem(
                    side.offset,
                    f"a duration like {side.text} can only be compared with a days_... "
                    "attribute, e.g. days_since_last_order > 30d",
                )
                return True
        numeric = {"number", "duration"}
        if lt in numeric and rt in numeric:
            return False
        if lt == rt or {lt, rt} == {"stage", "string"}:
            return False
        for side in (left, right):
            if isinstance(side, Attr) and side.type == "datetime":
                hint = _DATETIME_HINTS.get(side.name, "compare a days_... attribute instead")
                self.problem(
                    side.offset,
                    f"'{side.name}' is a point in time and can only be tested with "
                    f"'is none' / 'is not none'; {hint}",
                )
                return True
        attr = left if isinstance(left, Attr) else right
        hint = ""
        if isinstance(attr, Attr):
            hint = _COMPARE_HINTS.get(_value_type(attr.type), "").format(name=attr.name)
        self.problem(offset, f"cannot compare {_describe(left)} with {_describe(right)}{hint}")
        return True

    def _compare(self, op_token: Token, left_raw: Operand, right_raw: Operand) -> Node:
        op: CompareOp = op_token.text  # type: ignore[assignment]
        left = self._value(left_raw, _known_attr(right_raw), op_token.offset)
        right = self._value(right_raw, _known_attr(left_raw), op_token.offset)
        if left is None or right is None:
            return Truth(Const(False, "bool", op_token.offset, "false"))
        for side, other in ((left, right), (right, left)):
            if isinstance(side, Const) and side.type == "none":
                if op not in ("==", "!="):
                    self.problem(
                        op_token.offset, "a missing value can only be tested with == or !="
                    )
                return IsNone(other, negated=op == "!=")
        if self._types_clash(left, right, op_token.offset):
            return Truth(Const(False, "bool", op_token.offset, "false"))
        kinds = {_value_type(s.type) if isinstance(s, Attr) else s.type for s in (left, right)}
        if kinds & {"string", "stage", "bool"} and op not in ("==", "!="):
            self.problem(
                op_token.offset,
                f"'{op}' needs numbers; {_describe(left)} can only be compared with == or !=",
            )
        for side, other in ((left, right), (right, left)):
            if isinstance(side, Attr) and isinstance(other, Const):
                self._check_name_value(side, other)
        return Compare(op, left, right)

    def _in_list(
        self, left_raw: Operand, values: tuple[Const, ...], negated: bool, offset: int
    ) -> Node:
        left = self._value(left_raw, None, offset)
        if left is None:
            return Truth(Const(False, "bool", offset, "false"))
        checked: list[Const] = []
        for value in values:
            if self._types_clash(left, value, value.offset):
                continue
            if isinstance(left, Attr):
                self._check_name_value(left, value)
            checked.append(value)
        return InList(left, tuple(checked), negated)

    def _truth(self, operand: Operand) -> Node:
        if isinstance(operand, Compare | InList | IsNone | Truth | Not | And | Or):
            return operand
        item = self._value(operand, None, 0)
        if item is None:
            return Truth(Const(False, "bool", 0, "false"))
        item_type = item.type
        if item_type != "bool":
            example = {
                "number": f"{_name_of(item)} > 0",
                "decimal": f"{_name_of(item)} > 0",
                "string": f"{_name_of(item)} == 'value'",
                "stage": f"{_name_of(item)} == active",
                "datetime": f"{_name_of(item)} is not none",
            }.get(item_type, f"{_name_of(item)} == ...")
            self.problem(
                item.offset,
                f"{_describe(item)} is not a yes/no value on its own; compare it, e.g. {example}",
            )
            return Truth(Const(False, "bool", item.offset, "false"))
        return Truth(item)


_COMPARE_HINTS = {
    "stage": "; compare a stage with a stage name, e.g. {name} == at_risk",
    "string": "; put text in quotes, e.g. {name} == 'text'",
    "bool": "; compare with true or false, or use {name} on its own",
    "number": "; compare with a number, e.g. {name} >= 2",
}

_DATETIME_HINTS = {
    "signed_up_at": "use days_since_signup",
    "last_order_at": "use days_since_last_order",
    "first_order_at": "use days_since_last_order or orders_count",
}


def _known_attr(operand: Operand) -> Attr | None:
    """The attribute an operand names, without recording anything (for resolving the other side)."""
    if isinstance(operand, Attr):
        return operand
    if isinstance(operand, Name) and operand.text in ATTRIBUTES:
        attribute = ATTRIBUTES[operand.text]
        return Attr(attribute.name, attribute.type, operand.offset)
    return None


def _name_of(item: Attr | Const) -> str:
    return item.name if isinstance(item, Attr) else item.text


def _describe(item: Attr | Const) -> str:
    if isinstance(item, Attr):
        kind = {"decimal": "number", "stage": "stage", "datetime": "time"}.get(item.type, item.type)
        article = "an" if kind[0] in "aeiou" else "a"
        return f"'{item.name}' ({article} {kind})"
    kind = {"none": "nothing", "duration": "a duration"}.get(item.type, f"a {item.type}")
    return f"{item.text} ({kind})"
