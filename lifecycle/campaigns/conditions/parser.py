"""The condition language's parser: recursive descent over the tokens, one method per
grammar rule (the grammar is in :mod:`~lifecycle.campaigns.conditions`).

Syntax errors stop parsing (:class:`~lifecycle.campaigns.conditions.tokens.Stop`);
operands are resolved and checked on the way by
:class:`~lifecycle.campaigns.conditions.checks.ConditionChecker`.

Parentheses and ``not`` nest at most :data:`MAX_NESTING` deep, so the recursive descent
(and the evaluator and the folding, which walk the tree it builds) never come near
Python's recursion limit; deeper is a located error. Numbers have at most
:data:`MAX_NUMBER_DIGITS` digits and durations are bounded by
:func:`~lifecycle.localtime.parse_duration`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from lifecycle.campaigns.conditions.checks import ConditionChecker
from lifecycle.campaigns.conditions.tokens import ConditionProblem, Stop, Token, tokenize
from lifecycle.campaigns.conditions.tree import (
    And,
    Const,
    IsNone,
    Name,
    Node,
    Not,
    Operand,
    Or,
    Truth,
)
from lifecycle.localtime import parse_duration

__all__ = ["MAX_NESTING", "MAX_NUMBER_DIGITS", "ConditionParser"]

MAX_NESTING = 32
MAX_NUMBER_DIGITS = 30

_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "none", "null", "true", "false"})
_DAY_SECONDS = Decimal(86400)


class ConditionParser(ConditionChecker):
    def __init__(self, text: str, known_values: Mapping[str, Sequence[str]]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.known_values = known_values
        self.problems: list[ConditionProblem] = []
        self.attributes: set[str] = set()
        self.nesting = 0

    # token helpers

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _kind(self) -> str:
        # A method, not the property: mypy would keep a narrowed kind across _advance().
        return self.tokens[self.index].kind

    def _is_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    def _describe(self, token: Token) -> str:
        return "the end of the condition" if token.kind == "end" else repr(token.text)

    def _fail(self, expected: str) -> Stop:
        return Stop(self.token.offset, f"expected {expected}, found {self._describe(self.token)}")

    # grammar

    def parse(self) -> Node:
        node = self._or()
        if self.token.kind != "end":
            raise Stop(
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

    def _deeper(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise Stop(
                self.token.offset,
                f"nested more than {MAX_NESTING} levels deep (parentheses and 'not'); "
                "write it more simply",
            )

    def _not(self) -> Node:
        if self._is_word("not"):
            self._advance()
            self._deeper()
            inner = self._not()
            self.nesting -= 1
            return Not(inner)
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

    def _operand(self) -> Operand:
        token = self.token
        if token.kind == "(":
            self._advance()
            self._deeper()
            inner = self._or()
            self.nesting -= 1
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
                raise Stop(
                    token.offset, f"expected an attribute or a value, found the keyword {word!r}"
                )
            return Name(word, token.offset)
        raise self._fail("an attribute, a number or a quoted string")

    def _literal(self, token: Token) -> Const:
        if token.kind == "num":
            if sum(c.isdigit() for c in token.text) > MAX_NUMBER_DIGITS:
                raise Stop(token.offset, f"a number with more than {MAX_NUMBER_DIGITS} digits")
            return Const(Decimal(token.text), "number", token.offset, token.text)
        if token.kind == "dur":
            negative = token.text.startswith("-")
            try:
                duration = parse_duration(token.text.lstrip("-"))
            except ValueError as exc:
                raise Stop(token.offset, str(exc)) from None
            seconds = Decimal(duration.total_seconds())
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
