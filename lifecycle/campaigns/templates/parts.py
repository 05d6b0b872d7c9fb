"""A loaded template: its compiled parts per key, for one locale, and the ``params.x`` /
``trigger.x`` fields and unguarded ``unsubscribe_url`` it reads (checked per campaign
that sends it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jinja2

from lifecycle.campaigns.located import Pos

__all__ = ["AttributeUse", "LocalizedTemplate", "Part"]


@dataclass(frozen=True)
class Part:
    key: str
    template: jinja2.Template
    file: str
    pos: Pos
    #: File line of the template's first line.
    first_line: int


@dataclass(frozen=True)
class AttributeUse:
    """``params.x`` or ``trigger.x`` in a template, or an ``unsubscribe_url`` outside a
    marketing-only branch (``obj`` "unsubscribe_url", no ``attr``): checked per campaign
    that uses it."""

    obj: str
    attr: str
    file: str
    pos: Pos


@dataclass(frozen=True)
class LocalizedTemplate:
    name: str
    locale: str
    file: str
    parts: Mapping[str, Part]
    uses: tuple[AttributeUse, ...] = ()

    def line_of(self, key: str, template_line: int) -> int:
        return self.parts[key].first_line + template_line - 1
