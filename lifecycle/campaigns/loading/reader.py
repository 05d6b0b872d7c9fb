"""Reading located YAML values: the building blocks every part of a campaign file uses.

:class:`ValueReader` turns one located node into a checked value (identifier, whole
number, duration, percentage, time of day, condition) or records a problem at the
node's exact position and returns None, so a caller keeps reading and every mistake
in a file is reported. :func:`name_problem` words "unknown X; did you mean Y?" for
every part of the loader and the compiler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal

from lifecycle.campaigns.conditions import Condition, parse_condition
from lifecycle.campaigns.located import LMap, LNode, LScalar, LSeq, Pos, Problems
from lifecycle.campaigns.suggest import nearest
from lifecycle.localtime import parse_duration

__all__ = [
    "BASIS_POINTS",
    "ID_PATTERN",
    "TemplateRef",
    "ValueReader",
    "name_problem",
]

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
BASIS_POINTS = Decimal(100)


@dataclass(frozen=True)
class TemplateRef:
    """A ``send`` naming a template, remembered so the compiler can check it exists."""

    template: str
    file: str
    pos: Pos
    campaign: str
    step: int


def name_problem(word: str, options: Sequence[str], what: str, where: str = "") -> str:
    """``unknown key 'priorty'; did you mean 'priority'?`` (or the list of valid ones)."""
    guess = nearest(word, options)
    if guess is not None:
        return f"unknown {what} {word!r}{where}; did you mean {guess!r}?"
    return f"unknown {what} {word!r}{where}; use one of: {', '.join(options)}"


@dataclass
class ValueReader:
    """One file's reader: each method checks a node, records any problem, returns None."""

    file: str
    problems: Problems
    known_values: Mapping[str, Sequence[str]]
    refs: list[TemplateRef] = field(default_factory=list)
    campaign_id: str = "?"

    def err(self, pos: Pos, message: str) -> None:
        self.problems.add(self.file, pos, message)

    def mapping(
        self, node: LNode, what: str, allowed: Sequence[str] | None, example: str
    ) -> LMap | None:
        """``node`` as a mapping whose keys are all in ``allowed`` (None: any key)."""
        if not isinstance(node, LMap):
            self.err(node.pos, f"{what} must be a mapping, e.g. {example}")
            return None
        for key, _ in node:
            if allowed is not None and key.text not in allowed:
                where = "" if what == "a campaign" else f" in {what}"
                self.err(key.pos, name_problem(key.text, allowed, "key", where))
        return node

    def scalar(self, node: LNode, what: str, example: str) -> LScalar | None:
        if not isinstance(node, LScalar) or node.is_null:
            shown = "nothing" if isinstance(node, LScalar) else "a list or mapping"
            self.err(node.pos, f"{what} needs a single value, e.g. {example}; found {shown}")
            return None
        return node

    def text(self, node: LNode, what: str, example: str) -> str | None:
        scalar = self.scalar(node, what, example)
        return None if scalar is None else scalar.text

    def identifier(self, node: LNode, what: str, example: str) -> str | None:
        value = self.text(node, what, example)
        if value is None:
            return None
        if not ID_PATTERN.match(value):
            self.err(
                node.pos,
                f"{what} {value!r} must be lower-case letters, digits, '-' or '_' "
                f"(at most 64), e.g. {example}",
            )
            return None
        return value

    def integer(self, node: LNode, what: str, low: int, high: int) -> int | None:
        scalar = self.scalar(node, what, str(low))
        if scalar is None:
            return None
        value = scalar.value
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(node.pos, f"{what} must be a whole number from {low} to {high}")
            return None
        if not low <= value <= high:
            self.err(node.pos, f"{what} must be from {low} to {high}, not {value}")
            return None
        return value

    def boolean(self, node: LNode, what: str) -> bool | None:
        scalar = self.scalar(node, what, "true")
        if scalar is None:
            return None
        if not isinstance(scalar.value, bool):
            self.err(node.pos, f"{what} must be true or false")
            return None
        return scalar.value

    def duration(self, node: LNode, what: str) -> timedelta | None:
        value = self.text(node, what, "5d")
        if value is None:
            return None
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            self.err(node.pos, f"{what}: {exc}")
            return None
        if duration <= timedelta(0):
            self.err(node.pos, f"{what} must be longer than 0")
            return None
        return duration

    def percent(self, node: LNode, what: str) -> int | None:
        """A share as basis points: ``10%`` (or a bare 10) -> 1000."""
        scalar = self.scalar(node, what, "10%")
        if scalar is None:
            return None
        raw = scalar.value
        if isinstance(raw, bool):
            raw = None
        match = _PERCENT.match(scalar.text)
        if match:
            number = Decimal(match.group(1))
        elif isinstance(raw, int | float):
            number = Decimal(str(raw))
        else:
            self.err(node.pos, f"{what}: {scalar.text!r} is not a percentage; write e.g. 10%")
            return None
        points = number * BASIS_POINTS
        if points != points.to_integral_value() or not 0 <= number <= 100:
            self.err(
                node.pos,
                f"{what} must be between 0% and 100% with at most two decimals, not {scalar.text}",
            )
            return None
        return int(points)

    def time_of_day(self, node: LNode, what: str) -> time | None:
        value = self.text(node, what, '"10:00"')
        if value is None:
            return None
        match = _TIME.match(value.strip())
        if not match:
            self.err(node.pos, f"{what}: {value!r} is not a time of day; write HH:MM, e.g. 09:30")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def condition(self, node: LNode, what: str) -> Condition | None:
        scalar = self.scalar(node, what, "orders_count >= 2")
        if scalar is None:
            return None
        parsed = parse_condition(scalar.text, self.known_values)
        if isinstance(parsed, Condition):
            return parsed
        for problem in parsed:
            self.err(_offset_pos(scalar, problem.offset), problem.message)
        return None

    def conditions(self, node: LNode, what: str) -> tuple[Condition, ...]:
        items = node.items if isinstance(node, LSeq) else (node,)
        out = []
        for item in items:
            parsed = self.condition(item, what)
            if parsed is not None:
                out.append(parsed)
        return tuple(out)


def _offset_pos(scalar: LScalar, offset: int) -> Pos:
    """Where character ``offset`` of a scalar's value is in the file (exact on one line)."""
    if scalar.pos.line == scalar.end.line and scalar.style in (None, "'", '"'):
        quote = 1 if scalar.style in ("'", '"') else 0
        return Pos(scalar.pos.line, scalar.pos.column + quote + offset)
    return scalar.pos
