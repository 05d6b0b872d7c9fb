"""YAML read into a tree that remembers where every node came from.

Campaign errors must point at ``FILE:LINE:COL``, so the loader works on PyYAML's node
graph (``yaml.compose``: marks kept) instead of the plain objects ``yaml.safe_load``
returns. Scalars keep their source text as well as their YAML value: ``10:00`` is a
base-60 integer in YAML 1.1, but a marketer writing ``wait_until: 10:00`` means a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from lifecycle.exceptions import CampaignError

__all__ = ["LMap", "LNode", "LScalar", "LSeq", "Pos", "Problems", "parse_yaml"]


@dataclass(frozen=True, order=True)
class Pos:
    """A 1-based line and column in one file."""

    line: int
    column: int


@dataclass(frozen=True)
class LScalar:
    value: Any
    text: str
    pos: Pos
    end: Pos
    #: ``None`` for a plain scalar, else the YAML style character (``'``, ``"``, ``|``, ``>``).
    style: str | None = None

    @property
    def is_null(self) -> bool:
        return self.value is None and self.style is None

    def describe(self) -> str:
        if self.is_null:
            return "nothing"
        return f"{self.text!r}"


@dataclass(frozen=True)
class LSeq:
    items: tuple[LNode, ...]
    pos: Pos


@dataclass(frozen=True)
class LMap:
    items: tuple[tuple[LScalar, LNode], ...]
    pos: Pos

    def keys(self) -> list[str]:
        return [key.text for key, _ in self.items]

    def get(self, key: str) -> LNode | None:
        for k, value in self.items:
            if k.text == key:
                return value
        return None

    def key_node(self, key: str) -> LScalar | None:
        for k, _ in self.items:
            if k.text == key:
                return k
        return None

    def __iter__(self) -> Iterator[tuple[LScalar, LNode]]:
        return iter(self.items)


LNode = LScalar | LSeq | LMap


@dataclass
class Problems:
    """Collects located errors for one compile; nothing stops at the first."""

    errors: list[CampaignError] = field(default_factory=list)

    def add(self, file: str, pos: Pos, message: str) -> None:
        self.errors.append(CampaignError(file, pos.line, pos.column, message))

    def __len__(self) -> int:
        return len(self.errors)


def _pos(mark: Any) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


_CONSTRUCTOR = SafeConstructor()


def _scalar(node: yaml.ScalarNode) -> LScalar:
    try:
        value = _CONSTRUCTOR.construct_object(node, deep=True)
    except (ConstructorError, ValueError):
        value = node.value
    if node.tag == "tag:yaml.org,2002:timestamp" or node.tag == "tag:yaml.org,2002:binary":
        # Dates and binaries are not part of the campaign format; keep the text.
        value = node.value
    return LScalar(
        value=value,
        text=node.value,
        pos=_pos(node.start_mark),
        end=_pos(node.end_mark),
        style=node.style or None,
    )


_MAX_NODES = 50_000


@dataclass
class _Budget:
    """Aliases can make a small file expand into a huge tree ("billion laughs")."""

    left: int = _MAX_NODES
    exceeded: bool = False


def _convert(
    node: yaml.Node, file: str, problems: Problems, budget: _Budget, depth: int = 0
) -> LNode:
    budget.left -= 1
    if depth > 64 or budget.left < 0:
        if not budget.exceeded:
            budget.exceeded = True
            problems.add(file, _pos(node.start_mark), "the file is nested too deeply or too large")
        return LMap((), _pos(node.start_mark))
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return LSeq(
            tuple(_convert(item, file, problems, budget, depth + 1) for item in node.value),
            _pos(node.start_mark),
        )
    assert isinstance(node, yaml.MappingNode)
    items: list[tuple[LScalar, LNode]] = []
    seen: dict[str, Pos] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problems.add(file, _pos(key_node.start_mark), "a key must be a plain word")
            continue
        key = _scalar(key_node)
        if key.text == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
            problems.add(
                file, key.pos, "YAML merge keys (<<) are not supported; write the keys out"
            )
            continue
        if key.text in seen:
            first = seen[key.text]
            problems.add(
                file,
                key.pos,
                f"{key.text!r} is given twice (first on line {first.line}); keep one",
            )
            continue
        seen[key.text] = key.pos
        items.append((key, _convert(value_node, file, problems, budget, depth + 1)))
    return LMap(tuple(items), _pos(node.start_mark))


_OPENERS = {"{": "}", "[": "]", "'": "'", '"': '"'}


def _opener(mark: Any) -> str | None:
    """The bracket or quote at ``mark`` (PyYAML keeps the text it read in the mark)."""
    buffer = getattr(mark, "buffer", None)
    pointer = getattr(mark, "pointer", None)
    if not isinstance(buffer, str) or not isinstance(pointer, int) or pointer >= len(buffer):
        return None
    char = buffer[pointer]
    return char if char in _OPENERS else None


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's reason, led by what to do about it where we can tell.

    PyYAML reports where it gave up (the problem mark) and, for an unclosed bracket or
    quote, where that was opened (the context mark); the second is what the writer needs.
    """
    problem = exc.problem or exc.context or "invalid YAML"
    detail = f"{problem} ({exc.context})" if exc.context and exc.problem else problem
    if "\\t" in problem or "tab" in problem.split():
        return "a tab character: indent with spaces, not tabs"
    opener = None if exc.context_mark is None else _opener(exc.context_mark)
    if opener is not None and exc.context_mark is not None:
        at = f"{exc.context_mark.line + 1}:{exc.context_mark.column + 1}"
        if opener in "{[":
            return (
                f"the '{opener}' opened at {at} is never closed; add '{_OPENERS[opener]}' "
                f"({problem})"
            )
        return f"the quote {opener} opened at {at} is never closed; end the text with {opener}"
    if problem == "mapping values are not allowed here":
        return (
            "a ':' here starts a key where none can be; check this line's indentation, "
            "or put a value that contains ': ' in quotes"
        )
    return detail


def parse_yaml(text: str, file: str, problems: Problems) -> LNode | None:
    """One YAML document as a located tree, or None (with the reason in ``problems``)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Pos(1, 1) if mark is None else _pos(mark)
        problems.add(file, where, f"YAML syntax error: {_syntax_message(exc)}")
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error we saw is marked
        problems.add(file, Pos(1, 1), f"YAML error: {exc}")
        return None
    documents = [n for n in nodes if n is not None]
    if not documents:
        problems.add(file, Pos(1, 1), "the file is empty")
        return None
    if len(documents) > 1:
        problems.add(
            file, _pos(documents[1].start_mark), "only one YAML document per file; remove '---'"
        )
    return _convert(documents[0], file, problems, _Budget())
