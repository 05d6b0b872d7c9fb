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
* Money and dates are formatted with Babel for the customer's locale (``money``,
  ``date``, ``datetime``, ``number``, ``percent`` filters), dates in the customer's zone.
* Without an ``html`` part the HTML body is made from the text: paragraphs, line breaks
  and links.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import StrictUndefined, meta, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from lifecycle.attributes import ATTRIBUTES
from lifecycle.campaigns.located import LMap, LScalar, Pos, Problems, parse_yaml
from lifecycle.campaigns.suggest import nearest
from lifecycle.exceptions import TemplateRenderError

__all__ = [
    "EXTRA_VARIABLES",
    "FILTERS",
    "LAYOUT_KEYS",
    "LAYOUT_NAME",
    "OBJECT_FIELDS",
    "TEMPLATE_KEYS",
    "TEMPLATE_VARIABLES",
    "Fields",
    "LocalizedTemplate",
    "RenderedMessage",
    "TemplateFailure",
    "TemplateSet",
    "load_templates",
    "locale_chain",
]

TEMPLATE_KEYS: tuple[str, ...] = ("subject", "preheader", "text", "html")
LAYOUT_NAME = "layout"
LAYOUT_KEYS: tuple[str, ...] = ("text", "html")

#: Variables beyond the customer attributes, with what they hold.
EXTRA_VARIABLES: dict[str, str] = {
    "first_name": "The first word of the customer's name, or nothing.",
    "order": "The triggering order (or else the latest one): id, total, currency, at, items "
    "(each: sku, name, quantity, price); nothing before the first order.",
    "campaign": "The campaign: id, name, category.",
    "variant": "The A/B variant this customer is in.",
    "step": "The step number of this send.",
    "params": "The campaign's params (e.g. params.discount_code).",
    "trigger": "What started the journey: name, plus the signal's data (e.g. trigger.years).",
    "shop": "The shop: name, url, support_email.",
    "now": "The time of the decision.",
}
#: Every variable a template may use.
TEMPLATE_VARIABLES: dict[str, str] = {
    **{name: attribute.description for name, attribute in ATTRIBUTES.items()},
    **EXTRA_VARIABLES,
}
_LAYOUT_EXTRA = {
    "content": "The message body (rendered text or HTML).",
    "subject": "The rendered subject.",
    "preheader": "The rendered preheader.",
    "lang": "The template's locale, for <html lang>.",
}
#: Fields of the structured variables, checked at load time.
OBJECT_FIELDS: dict[str, tuple[str, ...]] = {
    "order": ("id", "total", "currency", "at", "items"),
    "campaign": ("id", "name", "category"),
    "shop": ("name", "url", "support_email"),
}

_LOCALE_FILE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_WHITESPACE = re.compile(r"\s+")
_URL = re.compile(r"(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)])")


class Fields:
    """A read-only record for templates: ``trigger.years`` and ``trigger['from']`` work,
    missing fields raise (so StrictUndefined reports them), nothing else is reachable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __bool__(self) -> bool:
        return bool(self._data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("read only")

    def __repr__(self) -> str:
        return f"Fields({self._data!r})"


# -- formatting filters ----------------------------------------------------------------


@lru_cache(maxsize=256)
def _babel_locale(tag: str | None, fallback: str) -> Locale:
    for candidate in (tag, fallback, "en"):
        if not candidate:
            continue
        try:
            return Locale.parse(candidate.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return Locale("en")  # pragma: no cover


def _format_locale(ctx: Context) -> Locale:
    value = ctx.get("_format_locale")
    return value if isinstance(value, Locale) else Locale("en")


def _format_zone(ctx: Context) -> ZoneInfo:
    value = ctx.get("_format_zone")
    return value if isinstance(value, ZoneInfo) else ZoneInfo("UTC")


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, jinja2.Undefined | bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError("money and number filters need a number") from None


@pass_context
def _money(ctx: Context, value: Any, currency: str | None = None) -> str:
    amount = _decimal(value)
    if amount is None:
        return ""
    code = currency or ctx.get("currency") or ctx.get("_default_currency") or "EUR"
    return format_currency(amount, str(code), locale=_format_locale(ctx))


def _as_local(ctx: Context, value: Any) -> datetime | date | None:
    if value is None or isinstance(value, jinja2.Undefined):
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a time without a zone cannot be shown in the customer's zone")
        return value.astimezone(_format_zone(ctx))
    if isinstance(value, date):
        return value
    raise ValueError("date filters need a date or a time")


@pass_context
def _date(ctx: Context, value: Any, format: str = "medium") -> str:
    local = _as_local(ctx, value)
    if local is None:
        return ""
    day = local.date() if isinstance(local, datetime) else local
    return format_date(day, format, locale=_format_locale(ctx))


@pass_context
def _datetime(ctx: Context, value: Any, format: str = "medium") -> str:
    local = _as_local(ctx, value)
    if local is None:
        return ""
    if not isinstance(local, datetime):
        return format_date(local, format, locale=_format_locale(ctx))
    return format_datetime(local, format, locale=_format_locale(ctx))


@pass_context
def _number(ctx: Context, value: Any, digits: int | None = None) -> str:
    number = _decimal(value)
    if number is None:
        return ""
    if digits is not None:
        number = round(number, digits)
    return format_decimal(number, locale=_format_locale(ctx))


@pass_context
def _percent(ctx: Context, value: Any) -> str:
    number = _decimal(value)
    return "" if number is None else format_percent(number, locale=_format_locale(ctx))


FILTERS: dict[str, Callable[..., str]] = {
    "money": _money,
    "date": _date,
    "datetime": _datetime,
    "number": _number,
    "percent": _percent,
}


def _finalize(value: Any) -> Any:
    # A known variable without a value renders as nothing, not as "None".
    return "" if value is None else value


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)

_DEFAULT_HTML_LAYOUT = _HTML_ENV.from_string(
    """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f4">
<div style="max-width:600px;margin:0 auto;padding:24px;background:#ffffff;\
font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#222222">
{{ content }}
</div>
</body>
</html>
"""
)


# -- loading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    key: str
    template: jinja2.Template
    file: str
    pos: Pos
    #: File line of the template's first line.
    first_line: int


@dataclass(frozen=True)
class AttributeUse:
    """``params.x`` or ``trigger.x`` in a template: checked per campaign that uses it."""

    obj: str
    attr: str
    file: str
    pos: Pos


@dataclass(frozen=True)
class LocalizedTemplate:
    name: str
    locale: str
    file: str
    parts: Mapping[str, _Part]
    uses: tuple[AttributeUse, ...] = ()

    def line_of(self, key: str, template_line: int) -> int:
        return self.parts[key].first_line + template_line - 1


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    preheader: str | None
    text: str
    html: str
    #: The locale of the template that was used.
    locale: str


def _locale_key(tag: str) -> str:
    return tag.replace("_", "-").lower()


def locale_chain(locale: str | None, default_locale: str) -> list[str]:
    """``sv-SE`` -> ``["sv-se", "sv", "en"]`` (lower-case keys, no repeats)."""
    chain: list[str] = []
    if locale:
        key = _locale_key(locale)
        parts = key.split("-")
        for n in range(len(parts), 0, -1):
            chain.append("-".join(parts[:n]))
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
        context: dict[str, Any] = {
            **variables,
            "_format_locale": _babel_locale(locale, chosen.locale),
            "_format_zone": zone,
            "_default_currency": default_currency,
        }
        subject = _one_line(_render(chosen, "subject", context))
        preheader = _one_line(_render(chosen, "preheader", context)) or None
        text = _render(chosen, "text", context)
        # Both are escaped already (autoescaped template, or escaped text), hence Markup.
        body = _render(chosen, "html", context) if "html" in chosen.parts else text_to_html(text)
        frame = {
            **context,
            "subject": subject,
            "preheader": preheader or "",
            "lang": chosen.locale,
        }
        content = Markup(body)  # noqa: S704
        layout = self._layout(locale)
        if layout is None:
            page = _run(_DEFAULT_HTML_LAYOUT, {**frame, "content": content}, None, "html")
        else:
            page = _render(layout, "html", {**frame, "content": content})
            text = _render(layout, "text", {**frame, "content": text})
        return RenderedMessage(
            subject=subject,
            preheader=preheader,
            text=_tidy_text(text),
            html=page,
            locale=chosen.locale,
        )


class TemplateFailure(TemplateRenderError):
    """A template failed for one customer: where, and why (never the customer's data)."""

    def __init__(self, file: str, line: int, column: int, part: str, reason: str) -> None:
        super().__init__(f"{file}:{line}: {part}: {reason}")
        self.file = file
        self.line = line
        self.column = column
        self.part = part
        self.reason = reason


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _tidy_text(text: str) -> str:
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


def _run(
    template: jinja2.Template,
    context: Mapping[str, Any],
    source: LocalizedTemplate | None,
    key: str,
) -> str:
    try:
        return template.render(context)
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        if source is None:
            raise TemplateFailure("<built-in layout>", 1, 1, key, reason) from None
        line = _template_line(exc.__traceback__)
        part = source.parts[key]
        at = part.first_line if line is None else part.first_line + line - 1
        raise TemplateFailure(source.file, at, part.pos.column, key, reason) from None


def _render(source: LocalizedTemplate, key: str, context: Mapping[str, Any]) -> str:
    part = source.parts.get(key)
    if part is None:
        return ""
    return _run(part.template, context, source, key)


# -- static checks ------------------------------------------------------------------------


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
class _PartChecker:
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
    variables = {**TEMPLATE_VARIABLES, **_LAYOUT_EXTRA} if is_layout else TEMPLATE_VARIABLES
    lines = text.splitlines()
    parts: dict[str, _Part] = {}
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
        checker = _PartChecker(path, problems, lines, value, key, variables)
        if is_layout and "content" not in value.text:
            problems.add(
                path, value.pos, f"the layout's {key} must place the message with {{{{ content }}}}"
            )
        compiled = checker.compile(_HTML_ENV if key == "html" else _TEXT_ENV)
        if compiled is None:
            continue
        template, part_uses = compiled
        uses.extend(part_uses)
        parts[key] = _Part(key, template, path, value.pos, checker.first_line)
    if len(problems) > before:
        return None
    return LocalizedTemplate(name=name, locale=locale, file=path, parts=parts, uses=tuple(uses))


def template_files(templates: TemplateSet, name: str) -> Iterable[LocalizedTemplate]:
    return (templates.templates[name][key] for key in sorted(templates.templates[name]))
