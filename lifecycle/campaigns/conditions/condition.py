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

Attributes come from :data:`lifecycle.customer.attributes.ATTRIBUTES` and are type checked at
load time: numbers compare with numbers (``days_...`` attributes also with durations
such as ``30d``), strings and stages only with ``==``, ``!=`` and ``in``. A missing
value (a customer without orders has no ``days_since_last_order``) makes ``==``,
``in`` and every ordering comparison false, and ``!=`` and ``not in`` true; test for
it with ``is none``.

The tokenizer and parser are hand-written: no ``eval``, no Jinja, nothing that can
reach Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lifecycle.campaigns.conditions.evaluation import Reader, evaluate
from lifecycle.campaigns.conditions.parser import ConditionParser
from lifecycle.campaigns.conditions.tokens import ConditionProblem, Stop
from lifecycle.campaigns.conditions.tree import Node
from lifecycle.customer import RFM_SEGMENTS, AttributeValue

__all__ = [
    "Condition",
    "ConditionProblem",
    "Reader",
    "parse_condition",
]


@dataclass(frozen=True)
class Condition:
    """A parsed, checked condition. ``attributes`` are the names it reads."""

    source: str
    root: Node
    attributes: frozenset[str]

    def evaluate(self, read: Reader) -> bool:
        return evaluate(self.root, read)

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
        parser = ConditionParser(text, values)
        root = parser.parse()
    except Stop as stop:
        return [stop.problem]
    if parser.problems:
        return parser.problems
    return Condition(text.strip(), root, frozenset(parser.attributes))
