"""The condition language: small, typed, parsed once, never executed as code.

Grammar (keywords are lower case)::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [ OP operand | ["not"] "in" list | "is" ["not"] "none" ]
    operand    := ATTRIBUTE | NUMBER | DURATION | STRING | STAGE | "true" | "false" | "none"
                | "(" condition ")"
    list       := "[" literal ("," literal)* "]"
    OP         := "==" | "!=" | "<" | "<=" | ">" | ">="

Attributes come from :data:`lifecycle.attributes.ATTRIBUTES` and are type checked at
load time: numbers compare with numbers (``days_...`` attributes also with durations
such as ``30d``), strings and stages only with ``==``, ``!=`` and ``in``. A missing
value (a customer without orders has no ``days_since_last_order``) makes ``==``,
``in`` and every ordering comparison false, and ``!=`` and ``not in`` true; test for
it with ``is none``.

The tokenizer and parser are hand-written: no ``eval``, no Jinja, nothing that can
reach Python objects.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from lifecycle.attributes import ATTRIBUTES, AttributeType, AttributeValue
from lifecycle.localtime import parse_duration
from lifecycle.state import STAGES

__all__ = [
    "RFM_SEGMENTS",
    "Condition",
    "ConditionProblem",
    "Reader",
    "nearest",
    "parse_condition",
]

RFM_SEGMENTS: tuple[str, ...] = (
    "champions",
    "loyal",
    "promising",
    "needs_attention",
    "at_risk",
    "hibernating",
    "no_orders",
)

Reader = Callable[[str], AttributeValue]
ValueType = Literal["number", "string", "bool", "stage", "datetime", "none", "duration"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]

_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "none", "null", "true", "false"})
_DAY_SECONDS = Decimal(86400)


def nearest(name: str, options: Sequence[str]) -> str | None:
    """The closest valid name, for "did you mean" hints."""
    matches = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class ConditionProblem:
    """One problem, ``offset`` characters into the condition text."""

    offset: int
    message: str


class _Stop(Exception):
    """A syntax error: parsing cannot go on."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.problem = ConditionProblem(offset, message)


# -- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: Literal["num", "dur", "str", "name", "op", "(", ")", "[", "]", ",", "end"]
    text: str
    offset: int
    value: str = ""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<dur>\d+(?:\.\d+)?(?:s|m|h|d|w)(?![A-Za-z0-9_]))
  | (?P<num>\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)

_MISTAKES = {
    "=": "use == to compare ('=' alone is not an operator)",
    "&": "use 'and' to combine conditions",
    "|": "use 'or' to combine conditions",
    "!": "use 'not' to negate, or != to compare",
}


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise _Stop(start, f"a string is not closed; add the closing {quote}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            value, end = _read_string(text, i)
            tokens.append(_Token("str", text[i:end], i, value))
            i = end
            continue
        if ch == "-" and i + 1 < len(text) and text[i + 1].isdigit():
            match = _TOKEN.match(text, i + 1)
            if match and match.lastgroup in ("num", "dur"):
                kind: Literal["num", "dur"] = "num" if match.lastgroup == "num" else "dur"
                tokens.append(_Token(kind, text[i : match.end()], i))
                i = match.end()
                continue
        match = _TOKEN.match(text, i)
        if match is None:
            two = text[i : i + 2]
            if two in ("&&", "||"):
                raise _Stop(i, _MISTAKES[two[0]])
            if ch in _MISTAKES:
                raise _Stop(i, _MISTAKES[ch])
            raise _Stop(i, f"unexpected character {ch!r}")
        group = match.lastgroup
        token_text = match.group()
        if group == "dur":
            tokens.append(_Token("dur", token_text, i))
        elif group == "num":
            tokens.append(_Token("num", token_text, i))
        elif group == "name":
            tokens.append(_Token("name", token_text, i))
        elif group == "op":
            tokens.append(_Token("op", token_text, i))
        elif group == "punct":
            tokens.append(_Token(token_text, token_text, i))  # type: ignore[arg-type]
        i = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# -- the tree ----------------------------------------------------------------------------


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
class _Name:
    text: str
    offset: int


_Operand = Attr | Const | _Name | Node


def _is_day_attribute(name: str) -> bool:
    return name.startswith("days_") or name == "mean_days_between_orders"


def _value_type(attribute_type: AttributeType) -> ValueType:
    return "number" if attribute_type == "decimal" else attribute_type


class _Parser:
    def __init__(self, text: str, known_values: Mapping[str, Sequence[str]]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.known_values = known_values
        self.problems: list[ConditionProblem] = []
        self.attributes: set[str] = set()

    # token helpers

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _kind(self) -> str:
        # A method, not the property: mypy would keep a narrowed kind across _advance().
        return self.tokens[self.index].kind

    def _is_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    def _describe(self, token: _Token) -> str:
        return "the end of the condition" if token.kind == "end" else repr(token.text)

    def _fail(self, expected: str) -> _Stop:
        return _Stop(self.token.offset, f"expected {expected}, found {self._describe(self.token)}")

    def problem(self, offset: int, message: str) -> None:
        self.problems.append(ConditionProblem(offset, message))

    # grammar

    def parse(self) -> Node:
        node = self._or()
        if self.token.kind != "end":
            raise _Stop(
                self.token.offset,
                f"unexpected {self._describe(self.token)} after a complete condition; "
                "join conditions with 'and' or 'or'",
            )
        return node

    def _or(self) -> Node:
        items = [self._and()]
        while self._is_word("or"):
            self._advance()
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._not()]
        while self._is_word("and"):
            self._advance()
            items.append(self._not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _not(self) -> Node:
        if self._is_word("not"):
            self._advance()
            return Not(self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._operand()
        token = self.token
        if token.kind == "op":
            self._advance()
            right = self._operand()
            return self._compare(token, left, right)
        if self._is_word("in") or (
            self._is_word("not")
            and self.tokens[self.index + 1].kind == "name"
            and self.tokens[self.index + 1].text == "in"
        ):
            negated = self._is_word("not")
            if negated:
                self._advance()
            self._advance()
            values = self._list()
            return self._in_list(left, values, negated, token.offset)
        if self._is_word("is"):
            self._advance()
            negated = self._is_word("not")
            if negated:
                self._advance()
            if not (self._is_word("none") or self._is_word("null")):
                raise self._fail("'none' after 'is' (write 'x is none' or 'x is not none')")
            self._advance()
            item = self._value(left, None, token.offset)
            if item is None:
                return Truth(Const(False, "bool", token.offset, "false"))
            return IsNone(item, negated)
        return self._truth(left)

    def _operand(self) -> _Operand:
        token = self.token
        if token.kind == "(":
            self._advance()
            inner = self._or()
            if self.token.kind != ")":
                raise self._fail("')' to close the '(' at column " + str(token.offset + 1))
            self._advance()
            return inner
        if token.kind in ("num", "dur", "str"):
            self._advance()
            return self._literal(token)
        if token.kind == "name":
            self._advance()
            word = token.text
            if word in ("true", "false"):
                return Const(word == "true", "bool", token.offset, word)
            if word in ("none", "null"):
                return Const(None, "none", token.offset, word)
            if word in _KEYWORDS:
                raise _Stop(
                    token.offset, f"expected an attribute or a value, found the keyword {word!r}"
                )
            return _Name(word, token.offset)
        raise self._fail("an attribute, a number or a quoted string")

    def _literal(self, token: _Token) -> Const:
        if token.kind == "num":
            return Const(Decimal(token.text), "number", token.offset, token.text)
        if token.kind == "dur":
            negative = token.text.startswith("-")
            seconds = Decimal(parse_duration(token.text.lstrip("-")).total_seconds())
            days = seconds / _DAY_SECONDS
            return Const(-days if negative else days, "duration", token.offset, token.text)
        return Const(token.value, "string", token.offset, token.text)

    def _list(self) -> tuple[Const, ...]:
        if self.token.kind not in ("[", "("):
            raise self._fail("a list after 'in', e.g. [at_risk, lapsed]")
        closing = "]" if self.token.kind == "[" else ")"
        self._advance()
        values: list[Const] = []
        while True:
            token = self.token
            if token.kind in ("num", "dur", "str"):
                self._advance()
                values.append(self._literal(token))
            elif token.kind == "name" and token.text not in _KEYWORDS:
                self._advance()
                # A bare word in a list is a name value (a stage, a segment); checked later.
                values.append(Const(token.text, "string", token.offset, token.text))
            elif token.kind == "name" and token.text in ("true", "false"):
                self._advance()
                values.append(Const(token.text == "true", "bool", token.offset, token.text))
            else:
                raise self._fail("a value in the list")
            if self._kind() == ",":
                self._advance()
                if self._kind() == closing:  # a trailing comma is fine
                    break
                continue
            break
        if self._kind() != closing:
            raise self._fail(f"',' or '{closing}' in the list")
        self._advance()
        return tuple(values)

    # checking

    def _attribute(self, name: _Name) -> Attr | None:
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

    def _value(self, operand: _Operand, other: Attr | None, offset: int) -> Attr | Const | None:
        """Resolve a bare name: an attribute, or a stage/segment name compared with one."""
        if isinstance(operand, Attr | Const):
            return operand
        if isinstance(operand, _Name):
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

    def _compare(self, op_token: _Token, left_raw: _Operand, right_raw: _Operand) -> Node:
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
        self, left_raw: _Operand, values: tuple[Const, ...], negated: bool, offset: int
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

    def _truth(self, operand: _Operand) -> Node:
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


def _known_attr(operand: _Operand) -> Attr | None:
    """The attribute an operand names, without recording anything (for resolving the other side)."""
    if isinstance(operand, Attr):
        return operand
    if isinstance(operand, _Name) and operand.text in ATTRIBUTES:
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


# -- evaluation --------------------------------------------------------------------------


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


def _evaluate(node: Node, read: Reader) -> bool:
    if isinstance(node, And):
        return all(_evaluate(item, read) for item in node.items)
    if isinstance(node, Or):
        return any(_evaluate(item, read) for item in node.items)
    if isinstance(node, Not):
        return not _evaluate(node.item, read)
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


@dataclass(frozen=True)
class Condition:
    """A parsed, checked condition. ``attributes`` are the names it reads."""

    source: str
    root: Node
    attributes: frozenset[str]

    def evaluate(self, read: Reader) -> bool:
        return _evaluate(self.root, read)

    def constant(self) -> bool | None:
        """The value of a condition that reads no attribute (``1 > 2``), else None."""
        if self.attributes:
            return None

        def no_attributes(name: str) -> AttributeValue:  # pragma: no cover - never called
            raise AssertionError(name)

        return self.evaluate(no_attributes)

    def __str__(self) -> str:
        return self.source


def parse_condition(
    text: str, known_values: Mapping[str, Sequence[str]] | None = None
) -> Condition | list[ConditionProblem]:
    """Parse and check ``text``; the problems (offsets into ``text``) if it is not valid.

    ``known_values`` lists the valid values of string attributes (``tier`` names from
    the engine configuration, ``rfm_segment``), so a misspelt value is an error too.
    """
    if not text.strip():
        return [ConditionProblem(0, "the condition is empty")]
    values = {"rfm_segment": RFM_SEGMENTS, **(known_values or {})}
    try:
        parser = _Parser(text, values)
        root = parser.parse()
    except _Stop as stop:
        return [stop.problem]
    if parser.problems:
        return parser.problems
    return Condition(text.strip(), root, frozenset(parser.attributes))
