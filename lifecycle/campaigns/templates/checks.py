"""Static checks on one template part before it is compiled: syntax, no file access
(``extends``, ``include``, ``import``), only known variables and fields, no ``_`` names.
It also notes each ``unsubscribe_url`` shown outside a marketing-only branch, which the
compiler refuses in a template (or the layout) that transactional mail uses.

Problems are reported at the file position of the offending word, so a typo is
``FILE:LINE:COL`` in the template file, not in the template string. Whatever the source
holds, compiling it gives a template or a located problem: a syntax tree nested deeper
than :data:`~lifecycle.campaigns.templates.limits.MAX_TREE_DEPTH` levels, a number
literal Python refuses, or anything Jinja or Python's compiler raise on it is a problem
too, never an exception. The template is compiled bounded
(:func:`~lifecycle.campaigns.templates.sandbox.compile_bounded`), so folding its
constants cannot build huge values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import jinja2
from jinja2 import meta, nodes

from lifecycle.campaigns.located import LScalar, Pos, Problems
from lifecycle.campaigns.suggest import nearest
from lifecycle.campaigns.templates.limits import MAX_TREE_DEPTH, tree_depth
from lifecycle.campaigns.templates.parts import AttributeUse
from lifecycle.campaigns.templates.sandbox import BoundedSandbox, compile_bounded
from lifecycle.campaigns.templates.variables import OBJECT_FIELDS

__all__ = ["PartChecker"]


_FORBIDDEN_NODES: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
)


_UNSUBSCRIBE_URL = "unsubscribe_url"


def _is_campaign_category(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Getattr)
        and node.attr == "category"
        and isinstance(node.node, nodes.Name)
        and node.node.name == "campaign"
    )


def _is_marketing_guard(test: nodes.Node) -> bool:
    """``campaign.category == "marketing"`` or ``unsubscribe_url is defined`` (or an
    ``and`` with one of them): true only in marketing mail."""
    if isinstance(test, nodes.And):
        return _is_marketing_guard(test.left) or _is_marketing_guard(test.right)
    if isinstance(test, nodes.Test):
        return (
            test.name == "defined"
            and isinstance(test.node, nodes.Name)
            and test.node.name == _UNSUBSCRIBE_URL
        )
    if isinstance(test, nodes.Compare) and len(test.ops) == 1 and test.ops[0].op == "eq":
        left, right = test.expr, test.ops[0].expr
        return any(
            _is_campaign_category(a) and isinstance(b, nodes.Const) and b.value == "marketing"
            for a, b in ((left, right), (right, left))
        )
    return False


def _unguarded_unsubscribe_urls(node: nodes.Node) -> Iterator[nodes.Name]:
    """Every ``unsubscribe_url`` read outside a marketing-only ``if`` (or inline if)."""
    if isinstance(node, nodes.Name):
        if node.name == _UNSUBSCRIBE_URL and node.ctx == "load":
            yield node
        return
    if isinstance(node, nodes.If) and _is_marketing_guard(node.test):
        for branch in (*node.elif_, *node.else_):
            yield from _unguarded_unsubscribe_urls(branch)
        return
    if isinstance(node, nodes.CondExpr) and _is_marketing_guard(node.test):
        if node.expr2 is not None:
            yield from _unguarded_unsubscribe_urls(node.expr2)
        return
    for child in node.iter_child_nodes():
        yield from _unguarded_unsubscribe_urls(child)


def _column(lines: list[str], line: int, word: str, fallback: int) -> int:
    if 1 <= line <= len(lines):
        match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", lines[line - 1])
        if match:
            return match.start() + 1
    return fallback


_UNKNOWN_FILTER = re.compile(r"No (filter|test) named '([^']*)'")


def _hint(exc: jinja2.TemplateSyntaxError, env: BoundedSandbox) -> str:
    match = _UNKNOWN_FILTER.search(exc.message or "")
    if match is None:
        return ""
    kind, name = match.groups()
    names = env.filters if kind == "filter" else env.tests
    known = sorted(n for n in names if not n.startswith("lifecycle_"))
    guess = nearest(name, known)
    if guess is not None:
        return f"; did you mean '{guess}'?"
    return f"; the {kind}s are: {', '.join(known)}"


@dataclass
class PartChecker:
    file: str
    problems: Problems
    lines: list[str]
    scalar: LScalar
    key: str
    allowed: Mapping[str, str]

    @property
    def first_line(self) -> int:
        # A block scalar (| or >) starts on the line after its indicator.
        return self.scalar.pos.line + (1 if self.scalar.style in ("|", ">") else 0)

    def pos(self, template_line: int, word: str | None = None) -> Pos:
        line = self.first_line + max(template_line, 1) - 1
        fallback = self.scalar.pos.column
        column = fallback if word is None else _column(self.lines, line, word, fallback)
        return Pos(line, column)

    def err(self, template_line: int, message: str, word: str | None = None) -> None:
        self.problems.add(self.file, self.pos(template_line, word), message)

    def compile(self, env: BoundedSandbox) -> tuple[jinja2.Template, list[AttributeUse]] | None:
        source = self.scalar.text
        try:
            tree = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            self.err(exc.lineno, f"template syntax error in {self.key}: {exc.message}")
            return None
        except (RecursionError, MemoryError):
            self.err(1, f"{self.key} is nested too deeply to read; write it more simply")
            return None
        except (ValueError, ArithmeticError, TypeError) as exc:
            # A number literal Python refuses (more than 4300 digits), and the like.
            self.err(1, f"{self.key} cannot be read: {type(exc).__name__}: {exc}"[:300])
            return None
        if tree_depth(tree) > MAX_TREE_DEPTH:
            self.err(
                1,
                f"{self.key} nests more than {MAX_TREE_DEPTH} levels deep "
                "(parentheses, blocks, filters); write it more simply",
            )
            return None
        ok = True
        for node_type, what in _FORBIDDEN_NODES:
            for found in tree.find_all(node_type):
                self.err(found.lineno, f"templates cannot use '{what}'; each file stands alone")
                ok = False
        try:
            undeclared = meta.find_undeclared_variables(tree)
        except jinja2.TemplateSyntaxError as exc:
            # Jinja finds unknown filters and tests while analysing the template.
            message = (exc.message or "").rstrip(".")
            self.err(exc.lineno, f"template error in {self.key}: {message}{_hint(exc, env)}")
            return None
        for name in sorted(undeclared):
            if name in self.allowed:
                continue
            line = min(
                (n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"),
                default=1,
            )
            guess = nearest(name, list(self.allowed))
            hint = (
                f"; did you mean '{guess}'?"
                if guess
                else "; see the variable list in the marketer's guide in README.md"
            )
            self.err(line, f"unknown template variable '{name}'{hint}", name)
            ok = False
        uses: list[AttributeUse] = []
        for getattr_node in tree.find_all(nodes.Getattr):
            attr = getattr_node.attr
            if attr.startswith("_"):
                self.err(
                    getattr_node.lineno, f"'{attr}': names starting with '_' are not allowed", attr
                )
                ok = False
                continue
            target = getattr_node.node
            if not isinstance(target, nodes.Name) or target.name not in self.allowed:
                continue
            obj = target.name
            if obj in OBJECT_FIELDS and attr not in OBJECT_FIELDS[obj]:
                guess = nearest(attr, OBJECT_FIELDS[obj])
                hint = (
                    f"did you mean '{guess}'?" if guess else f"use {', '.join(OBJECT_FIELDS[obj])}"
                )
                self.err(getattr_node.lineno, f"{obj} has no field '{attr}'; {hint}", attr)
                ok = False
            elif obj in ("params", "trigger"):
                uses.append(AttributeUse(obj, attr, self.file, self.pos(getattr_node.lineno, attr)))
        for shown in _unguarded_unsubscribe_urls(tree):
            at = self.pos(shown.lineno, _UNSUBSCRIBE_URL)
            uses.append(AttributeUse(_UNSUBSCRIBE_URL, "", self.file, at))
        if not ok:
            return None
        try:
            return compile_bounded(env, tree), uses
        except jinja2.TemplateSyntaxError as exc:
            # Found only while compiling: an unknown filter or test, for instance.
            self.err(exc.lineno, f"template error in {self.key}: {exc.message}")
        except Exception as exc:  # Python's compiler on a pathological template
            self.err(1, f"{self.key} cannot be compiled: {type(exc).__name__}"[:300])
        return None
