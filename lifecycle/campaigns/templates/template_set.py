"""Message templates: one YAML file per template per locale, rendered in a Jinja2 sandbox.

Layout on disk (keys of the mapping given to :func:`load_templates`)::

    templates/<template>/<locale>.yaml     subject, preheader, text, html (html optional)
    templates/layout/<locale>.yaml         optional frame around every message: text, html

Rendering rules:

* Jinja2 :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting
  with ``_``, no method that changes a value, no file access (``include``, ``import``
  and ``extends`` are rejected at load time).
* :class:`~jinja2.StrictUndefined`: a misspelt variable is an error, never an empty
  string. A *known* variable that has no value (a customer without a name) renders as
  an empty string; test it with ``{% if first_name %}``.
* HTML is autoescaped; text, subject and preheader are not. Subject and preheader are
  folded to one line (no header injection through a customer's name).
* Locale fallback: ``sv-SE`` tries ``sv-SE``, then ``sv``, then the default locale.
  Norwegian has three tags for one readership (:data:`LANGUAGE_ALIASES`): ``nb-NO``
  tries ``nb-NO``, ``nb``, ``no``, then the default; ``no`` (what many shops store)
  tries ``no`` then ``nb``; Nynorsk ``nn`` tries ``no`` and ``nb`` before the default,
  since a Nynorsk reader is better served by Bokmål than by English.
* Money and dates are formatted with Babel for the customer's locale (``money``,
  ``date``, ``datetime``, ``number``, ``percent`` filters), dates in the customer's zone.
* Without an ``html`` part the HTML body is made from the text: paragraphs, line breaks
  and links.
* Bounded (:mod:`~lifecycle.campaigns.templates.limits`): one render budget per message,
  all parts and the layout together, and a finished message (subject, preheader, text
  and HTML) of at most ``MAX_MESSAGE_CHARS`` characters; past a limit the message fails
  with :class:`TemplateFailure`, for that customer only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from lifecycle.campaigns.located import LMap, LScalar, Pos, Problems, parse_yaml
from lifecycle.campaigns.suggest import nearest
from lifecycle.campaigns.templates.checks import PartChecker
from lifecycle.campaigns.templates.filters import babel_locale
from lifecycle.campaigns.templates.limits import MAX_MESSAGE_CHARS, rendering
from lifecycle.campaigns.templates.parts import AttributeUse, LocalizedTemplate, Part
from lifecycle.campaigns.templates.render import (
    RenderedMessage,
    TemplateFailure,
    one_line,
    render_part,
    run_template,
    text_to_html,
    tidy_text,
)
from lifecycle.campaigns.templates.sandbox import DEFAULT_HTML_LAYOUT, HTML_ENV, TEXT_ENV
from lifecycle.campaigns.templates.variables import LAYOUT_EXTRA, TEMPLATE_VARIABLES

__all__ = [
    "LANGUAGE_ALIASES",
    "LAYOUT_KEYS",
    "LAYOUT_NAME",
    "TEMPLATE_KEYS",
    "TemplateSet",
    "load_templates",
    "locale_chain",
]

TEMPLATE_KEYS: tuple[str, ...] = ("subject", "preheader", "text", "html")
LAYOUT_NAME = "layout"
LAYOUT_KEYS: tuple[str, ...] = ("text", "html")

_LOCALE_FILE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _locale_key(tag: str) -> str:
    return tag.replace("_", "-").lower()


#: Languages read by the same customers, tried (in this order) after the language itself
#: and before the default. ``no`` is the Norwegian macrolanguage: Bokmål (``nb``) is
#: what a Norwegian shop writes, and a customer's profile may say either.
LANGUAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "nb": ("no",),
    "no": ("nb",),
    "nn": ("no", "nb"),
}


def locale_chain(locale: str | None, default_locale: str) -> list[str]:
    """``sv-SE`` -> ``["sv-se", "sv", "en"]``; ``nb-NO`` -> ``["nb-no", "nb", "no", "en"]``
    (lower-case keys, no repeats)."""
    chain: list[str] = []
    if locale:
        key = _locale_key(locale)
        parts = key.split("-")
        for n in range(len(parts), 0, -1):
            chain.append("-".join(parts[:n]))
        chain.extend(LANGUAGE_ALIASES.get(parts[0], ()))
    chain.append(_locale_key(default_locale))
    return list(dict.fromkeys(chain))


@dataclass
class TemplateSet:
    default_locale: str
    templates: dict[str, dict[str, LocalizedTemplate]] = field(default_factory=dict)
    layouts: dict[str, LocalizedTemplate] = field(default_factory=dict)
    #: Templates whose files have errors (reported already), so a send naming one is
    #: not reported again as unknown.
    broken: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        return sorted(self.templates)

    def locales(self) -> list[str]:
        found = {t.locale for by_locale in self.templates.values() for t in by_locale.values()}
        return sorted(found)

    def pick(self, name: str, locale: str | None) -> LocalizedTemplate:
        by_locale = self.templates[name]
        for key in locale_chain(locale, self.default_locale):
            if key in by_locale:
                return by_locale[key]
        raise KeyError(f"template {name!r} has no {self.default_locale} version")

    def _layout(self, locale: str | None) -> LocalizedTemplate | None:
        for key in locale_chain(locale, self.default_locale):
            if key in self.layouts:
                return self.layouts[key]
        return None

    def render(
        self,
        name: str,
        locale: str | None,
        variables: Mapping[str, Any],
        *,
        zone: ZoneInfo,
        default_currency: str = "EUR",
    ) -> RenderedMessage:
        """Render template ``name`` for a customer with ``locale``.

        Raises :class:`TemplateFailure` naming the file and line that failed.
        """
        return self.render_localized(
            self.pick(name, locale),
            locale,
            variables,
            zone=zone,
            default_currency=default_currency,
        )

    def render_localized(
        self,
        chosen: LocalizedTemplate,
        locale: str | None,
        variables: Mapping[str, Any],
        *,
        zone: ZoneInfo,
        default_currency: str = "EUR",
    ) -> RenderedMessage:
        with rendering():
            message = self._render(chosen, locale, variables, zone, default_currency)
        size = sum(
            len(part or "")
            for part in (message.subject, message.preheader, message.text, message.html)
        )
        if size > MAX_MESSAGE_CHARS:
            first = min(chosen.parts.values(), key=lambda p: p.first_line)
            raise TemplateFailure(
                chosen.file,
                first.first_line,
                first.pos.column,
                "message",
                f"the message is {size} characters; the limit is {MAX_MESSAGE_CHARS}",
            )
        return message

    def _render(
        self,
        chosen: LocalizedTemplate,
        locale: str | None,
        variables: Mapping[str, Any],
        zone: ZoneInfo,
        default_currency: str,
    ) -> RenderedMessage:
        context: dict[str, Any] = {
            **variables,
            "_format_locale": babel_locale(locale, chosen.locale),
            "_format_zone": zone,
            "_default_currency": default_currency,
        }
        subject = one_line(render_part(chosen, "subject", context))
        preheader = one_line(render_part(chosen, "preheader", context)) or None
        text = render_part(chosen, "text", context)
        # Both are escaped already (autoescaped template, or escaped text), hence Markup.
        body = (
            render_part(chosen, "html", context) if "html" in chosen.parts else text_to_html(text)
        )
        frame = {
            **context,
            "subject": subject,
            "preheader": preheader or "",
            "lang": chosen.locale,
        }
        content = Markup(body)  # noqa: S704
        layout = self._layout(locale)
        if layout is None:
            page = run_template(DEFAULT_HTML_LAYOUT, {**frame, "content": content}, None, "html")
        else:
            page = render_part(layout, "html", {**frame, "content": content})
            text = render_part(layout, "text", {**frame, "content": text})
        return RenderedMessage(
            subject=subject,
            preheader=preheader,
            text=tidy_text(text),
            html=page,
            locale=chosen.locale,
        )


def _split_path(path: str) -> tuple[str, str] | None:
    parts = path.replace("\\", "/").split("/")
    if len(parts) < 2:
        return None
    stem, dot, extension = parts[-1].rpartition(".")
    if not dot or extension not in ("yaml", "yml"):
        return None
    return parts[-2], stem


def load_templates(
    files: Mapping[str, str], problems: Problems, *, default_locale: str = "en"
) -> TemplateSet:
    """Parse and check every template file; problems go to ``problems``."""
    result = TemplateSet(default_locale=default_locale)
    default_key = _locale_key(default_locale)
    for path in sorted(files):
        split = _split_path(path)
        if split is None:
            problems.add(path, Pos(1, 1), "a template file must be templates/NAME/LOCALE.yaml")
            continue
        name, locale = split
        if not _NAME.match(name):
            problems.add(
                path,
                Pos(1, 1),
                f"template name {name!r} (the folder) must be lower-case letters, digits, - or _",
            )
            continue
        if not _LOCALE_FILE.match(locale):
            problems.add(
                path,
                Pos(1, 1),
                f"{locale!r} is not a locale; name the file after one, e.g. en.yaml or sv-SE.yaml",
            )
            continue
        loaded = _load_one(path, files[path], name, locale, problems)
        if loaded is None:
            result.broken.add(name)
            continue
        key = _locale_key(locale)
        target = result.layouts if name == LAYOUT_NAME else result.templates.setdefault(name, {})
        if key in target:
            problems.add(path, Pos(1, 1), f"{name} has two files for locale {locale}; keep one")
            continue
        target[key] = loaded
    for name, by_locale in sorted(result.templates.items()):
        if default_key not in by_locale and name not in result.broken:
            some = next(iter(sorted(by_locale.values(), key=lambda t: t.file)))
            folder = some.file.replace("\\", "/").rsplit("/", 1)[0]
            problems.add(
                some.file,
                Pos(1, 1),
                f"template {name!r} has no {default_locale} version, which every customer "
                f"falls back to; add {folder}/{default_locale}.yaml",
            )
    if result.layouts and default_key not in result.layouts:
        some = next(iter(sorted(result.layouts.values(), key=lambda t: t.file)))
        problems.add(some.file, Pos(1, 1), f"the layout has no {default_locale} version; add one")
    return result


def _load_one(
    path: str, text: str, name: str, locale: str, problems: Problems
) -> LocalizedTemplate | None:
    before = len(problems)
    root = parse_yaml(text, path, problems)
    if root is None:
        return None
    is_layout = name == LAYOUT_NAME
    allowed_keys = LAYOUT_KEYS if is_layout else TEMPLATE_KEYS
    if not isinstance(root, LMap):
        problems.add(path, root.pos, f"a template is a mapping with {', '.join(allowed_keys)}")
        return None
    required = LAYOUT_KEYS if is_layout else ("subject", "text")
    for key in required:
        if root.get(key) is None:
            problems.add(
                path, root.pos, f"missing {key!r}; a template needs {' and '.join(required)}"
            )
    variables = {**TEMPLATE_VARIABLES, **LAYOUT_EXTRA} if is_layout else TEMPLATE_VARIABLES
    lines = text.splitlines()
    parts: dict[str, Part] = {}
    uses: list[AttributeUse] = []
    for key_node, value in root:
        key = key_node.text
        if key not in allowed_keys:
            guess = nearest(key, allowed_keys)
            hint = f"did you mean '{guess}'?" if guess else f"use {', '.join(allowed_keys)}"
            problems.add(path, key_node.pos, f"unknown key {key!r} in a template; {hint}")
            continue
        if not isinstance(value, LScalar) or value.is_null or not isinstance(value.value, str):
            problems.add(path, value.pos, f"{key} must be text")
            continue
        checker = PartChecker(path, problems, lines, value, key, variables)
        if is_layout and "content" not in value.text:
            problems.add(
                path, value.pos, f"the layout's {key} must place the message with {{{{ content }}}}"
            )
        compiled = checker.compile(HTML_ENV if key == "html" else TEXT_ENV)
        if compiled is None:
            continue
        template, part_uses = compiled
        uses.extend(part_uses)
        parts[key] = Part(key, template, path, value.pos, checker.first_line)
    if len(problems) > before:
        return None
    return LocalizedTemplate(name=name, locale=locale, file=path, parts=parts, uses=tuple(uses))
