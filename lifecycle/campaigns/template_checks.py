"""Static checks on one template part before it is compiled: syntax, no file access
(``extends``, ``include``, ``import``), only known variables and fields, no ``_`` names.

Problems are reported at the file position of the offending word, so a typo is
``FILE:LINE:COL`` in the template file, not in the template string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lifecycle.campaigns.located import LScalar, Pos, Problems
from lifecycle.campaigns.suggest import nearest
from lifecycle.campaigns.template_parts import AttributeUse
from lifecycle.campaigns.template_variables import OBJECT_FIELDS

__all__ = ["PartChecker"]


_FORBIDDEN_NODES: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
)


def _column(lines: list[str], line: int, word: str, fallback: int) -> int:
    if 1 <= line <= len(lines):
        match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", lines[line - 1])
        if match:
            return match.start() + 1
    return fallback


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

    def compile(
        self, env: ImmutableSandboxedEnvironment
    ) -> tuple[jinja2.Template, list[AttributeUse]] | None:
        source = self.scalar.text
        try:
            tree = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            self.err(exc.lineno, f"template syntax error in {self.key}: {exc.message}")
            return None
        ok = True
        for node_type, what in _FORBIDDEN_NODES:
            for found in tree.find_all(node_type):
                self.err(found.lineno, f"templates cannot use '{what}'; each file stands alone")
                ok = False
        for name in sorted(meta.find_undeclared_variables(tree)):
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
        if not ok:
            return None
        return env.from_string(source), uses
