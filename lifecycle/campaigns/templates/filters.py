"""Template filters that format money, numbers, percentages and dates with Babel for
the customer's locale, dates and times in the customer's zone.

The renderer puts the Babel locale, the zone and the default currency into the
template context under ``_``-prefixed keys, which templates themselves cannot name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import pass_context
from jinja2.runtime import Context

__all__ = ["FILTERS", "babel_locale"]


@lru_cache(maxsize=256)
def babel_locale(tag: str | None, fallback: str) -> Locale:
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
