"""YAML read into a tree that remembers where every node came from.

Campaign errors must point at ``FILE:LINE:COL``, so the loader works on PyYAML's node
graph (``yaml.compose``: marks kept) instead of the plain objects ``yaml.safe_load``
returns. Scalars keep their source text as well as their YAML value: ``10:00`` is a
base-60 integer in YAML 1.1, but a marketer writing ``wait_until: 10:00`` means a time.

Invariant: :func:`parse_yaml` returns a tree or None with located problems, whatever the
text, and its work is bounded (issue 10):

* nesting deeper than :data:`MAX_DEPTH` levels stops composing at once (PyYAML's
  composer is recursive: a few thousand ``[`` were a RecursionError);
* aliases cannot expand a small file into a huge tree ("billion laughs"): the tree has
  at most 50,000 nodes, counting every expansion;
* an explicit YAML tag (``!!binary``, ``!!python/...``, ``!custom``, even ``!!str``) is
  an error: tags are not part of the campaign format. Merge keys (``<<``) are too;
* a number written with more than 40 characters is kept as text, never converted (a
  YAML 1.1 base-60 integer like ``1:1:1:...`` costs quadratic time, and Python refuses
  to print an int of more than 4300 digits); ``.inf`` and ``.nan`` are errors;
  timestamps and binaries stay text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from lifecycle.exceptions import CampaignError

__all__ = ["MAX_DEPTH", "LMap", "LNode", "LScalar", "LSeq", "Pos", "Problems", "parse_yaml"]

#: Mappings and lists nest at most this deep in a campaign or template file.
MAX_DEPTH = 64


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
_TEXT_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_MAX_NUMBER_CHARS = 40


def _scalar(node: yaml.ScalarNode) -> LScalar:
    value: Any = node.value
    if node.tag in _TEXT_TAGS:
        pass  # dates and binaries are not part of the campaign format; keep the text
    elif node.tag in _NUMBER_TAGS and len(node.value) > _MAX_NUMBER_CHARS:
        pass  # far beyond any number the format uses; converting could take minutes
    else:
        try:
            value = _CONSTRUCTOR.construct_object(node, deep=True)
        except (ConstructorError, ValueError, ArithmeticError):
            value = node.value
    return LScalar(
        value=value,
        text=node.value,
        pos=_pos(node.start_mark),
        end=_pos(node.end_mark),
        style=node.style or None,
    )


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__("nested too deeply")
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, composing no deeper than :data:`MAX_DEPTH` and noting every
    explicit tag (the event says which tags were written; the node only has the result)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.explicit_tags: list[tuple[Any, str]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            self.explicit_tags.append((event.start_mark, tag))
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:
                raise _TooDeep(event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


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
    if depth > MAX_DEPTH or budget.left < 0:
        if not budget.exceeded:
            budget.exceeded = True
            problems.add(file, _pos(node.start_mark), "the file is nested too deeply or too large")
        return LMap((), _pos(node.start_mark))
    if isinstance(node, yaml.ScalarNode):
        scalar = _scalar(node)
        if isinstance(scalar.value, float) and not math.isfinite(scalar.value):
            problems.add(
                file,
                scalar.pos,
                f"{scalar.text!r} is not a number campaign files use; "
                "write a finite number, or quote it to make it text",
            )
        return scalar
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


def _compose(text: str) -> tuple[list[yaml.Node | None], list[tuple[Any, str]]]:
    loader = _BoundedLoader(text)
    try:
        nodes: list[yaml.Node | None] = []
        while loader.check_node():
            nodes.append(loader.get_node())
        return nodes, loader.explicit_tags
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str, problems: Problems) -> LNode | None:
    """One YAML document as a located tree, or None (with the reason in ``problems``)."""
    try:
        nodes, tags = _compose(text)
    except _TooDeep as exc:
        problems.add(
            file,
            _pos(exc.mark),
            f"nested more than {MAX_DEPTH} levels deep; a campaign needs a handful, "
            "check the brackets and the indentation",
        )
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Pos(1, 1) if mark is None else _pos(mark)
        problems.add(file, where, f"YAML syntax error: {_syntax_message(exc)}")
        return None
    except (yaml.YAMLError, RecursionError) as exc:  # pragma: no cover - a last resort
        problems.add(file, Pos(1, 1), f"YAML error: {type(exc).__name__}")
        return None
    for mark, tag in tags[:10]:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        problems.add(
            file,
            _pos(mark),
            f"YAML tags ({shown}) are not part of the campaign format; write the plain "
            "value, in quotes if it must stay text",
        )
    documents = [n for n in nodes if n is not None]
    if not documents:
        problems.add(file, Pos(1, 1), "the file is empty")
        return None
    if len(documents) > 1:
        problems.add(
            file, _pos(documents[1].start_mark), "only one YAML document per file; remove '---'"
        )
    if tags:
        return None
    return _convert(documents[0], file, problems, _Budget())
