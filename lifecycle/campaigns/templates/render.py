"""Running a loaded template's parts, and tidying what they produce.

A failure names the file and line of the template (never the customer's data).
Subject and preheader are folded to one line (no header injection through a
customer's name); text keeps at most one blank line in a row; without an ``html``
part the HTML body is made from the text.

Invariant: :func:`run_template` raises nothing but :class:`TemplateFailure` (a
:class:`~lifecycle.exceptions.TemplateRenderError`), whatever the template does: a
limit of :mod:`~lifecycle.campaigns.templates.limits` reached, a recursion, a missing
value, a type error in a filter. It renders within the active render budget (one per
message) or opens one.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2

from lifecycle.campaigns.templates.limits import rendering
from lifecycle.campaigns.templates.parts import LocalizedTemplate
from lifecycle.exceptions import TemplateRenderError

__all__ = [
    "RenderedMessage",
    "TemplateFailure",
    "one_line",
    "render_part",
    "run_template",
    "text_to_html",
    "tidy_text",
]

_WHITESPACE = re.compile(r"\s+")
_URL = re.compile(r"(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)])")


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    preheader: str | None
    text: str
    html: str
    #: The locale of the template that was used.
    locale: str


class TemplateFailure(TemplateRenderError):
    """A template failed for one customer: where, and why (never the customer's data)."""

    def __init__(self, file: str, line: int, column: int, part: str, reason: str) -> None:
        super().__init__(f"{file}:{line}: {part}: {reason}")
        self.file = file
        self.line = line
        self.column = column
        self.part = part
        self.reason = reason


def one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line == "" and tidy and tidy[-1] == "":
            continue  # at most one blank line in a row (conditionals leave gaps)
        tidy.append(line)
    return "\n".join(tidy) + "\n"


def text_to_html(text: str) -> str:
    """Paragraphs from blank lines, ``<br>`` from line breaks, links from URLs; escaped."""
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for paragraph in paragraphs:
        escaped = html_lib.escape(paragraph, quote=True)
        linked = _URL.sub(r'<a href="\1">\1</a>', escaped)
        out.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def run_template(
    template: jinja2.Template,
    context: Mapping[str, Any],
    source: LocalizedTemplate | None,
    key: str,
) -> str:
    try:
        with rendering():
            return template.render(context)
    except Exception as exc:
        # Exception, not BaseException: a KeyboardInterrupt or SystemExit is not the
        # template's fault. MemoryError and RecursionError are, and are caught.
        reason = _reason(exc)
        if source is None:
            raise TemplateFailure("<built-in layout>", 1, 1, key, reason) from None
        line = _template_line(exc.__traceback__)
        part = source.parts[key]
        at = part.first_line if line is None else part.first_line + line - 1
        raise TemplateFailure(source.file, at, part.pos.column, key, reason) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "the template recursed too deeply"
    if isinstance(exc, MemoryError):
        return "the template ran out of memory"
    return (str(exc) or type(exc).__name__)[:500]


def render_part(source: LocalizedTemplate, key: str, context: Mapping[str, Any]) -> str:
    part = source.parts.get(key)
    if part is None:
        return ""
    return run_template(part.template, context, source, key)
