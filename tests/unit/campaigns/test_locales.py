"""Every seed market: the shipped templates in each language, the locale fallback chain
(Norwegian's three tags included) and money and dates as Babel formats them per locale."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.campaigns.located import Problems
from lifecycle.campaigns.templates import (
    LANGUAGE_ALIASES,
    TemplateSet,
    load_templates,
    locale_chain,
)
from lifecycle.campaigns.templates.variables import Fields

from .support import SHIPPED_DIR, shipped_files

SEED_LOCALES = ("en", "sv", "pl", "nb", "fi")
NBSP = "\xa0"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nb-NO", ["nb-no", "nb", "no", "en"]),
        ("nb", ["nb", "no", "en"]),
        ("no", ["no", "nb", "en"]),
        ("no-NO", ["no-no", "no", "nb", "en"]),
        ("nn-NO", ["nn-no", "nn", "no", "nb", "en"]),
        ("fi-FI", ["fi-fi", "fi", "en"]),
        ("sv-FI", ["sv-fi", "sv", "en"]),
        ("NB_no", ["nb-no", "nb", "no", "en"]),
    ],
)
def test_locale_fallback_chain(locale: str, expected: list[str]) -> None:
    assert locale_chain(locale, "en") == expected


def test_the_chain_never_repeats_the_default_even_when_it_is_an_alias() -> None:
    assert locale_chain("no", "nb") == ["no", "nb"]
    assert set(LANGUAGE_ALIASES) == {"nb", "no", "nn"}


def test_every_shipped_template_exists_in_every_seed_market_language() -> None:
    folders = sorted(p for p in (SHIPPED_DIR / "templates").iterdir() if p.is_dir())
    assert len(folders) == 16  # 15 templates and the layout
    for folder in folders:
        present = {p.stem for p in folder.glob("*.yaml")}
        assert present == set(SEED_LOCALES), folder.name


@pytest.fixture(scope="module")
def shipped() -> TemplateSet:
    _, templates = shipped_files()
    problems = Problems()
    loaded = load_templates(templates, problems)
    assert not problems.errors, [str(e) for e in problems.errors]
    return loaded


def _variables(**extra: Any) -> dict[str, Any]:
    order = Fields(
        {
            "id": "o-7",
            "total": Decimal("1234.50"),
            "currency": extra.pop("currency"),
            "at": datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
            "items": [
                Fields(
                    {
                        "sku": "sock-1",
                        "name": "Ullsokker",
                        "quantity": 2,
                        "price": Decimal("617.25"),
                    }
                )
            ],
        }
    )
    return {
        "first_name": "Kari",
        "order": order,
        "shop": Fields(
            {"name": "Nordic Socks", "url": "https://shop.example", "support_email": None}
        ),
        "campaign": Fields({"id": "thank-you", "name": "T", "category": "transactional"}),
        **extra,
    }


@pytest.mark.parametrize(
    ("locale", "currency", "file", "total", "day", "zone"),
    [
        # CLDR (Babel 2.19) puts the Norwegian krone after the amount: not the older
        # "kr 1 234,50" shelf-label style. Grouping and the space before the symbol are
        # non-breaking spaces (U+00A0), so an amount never wraps across lines.
        ("nb-NO", "NOK", "nb", f"1{NBSP}234,50{NBSP}kr", "2. mars 2026", "Europe/Oslo"),
        ("no", "NOK", "nb", f"1{NBSP}234,50{NBSP}kr", "2. mars 2026", "Europe/Oslo"),
        ("fi-FI", "EUR", "fi", f"1{NBSP}234,50{NBSP}€", "2. maaliskuuta 2026", "Europe/Helsinki"),
        ("pl-PL", "PLN", "pl", f"1{NBSP}234,50{NBSP}zł", "2 marca 2026", "Europe/Warsaw"),
        ("sv-SE", "SEK", "sv", f"1{NBSP}234,50{NBSP}kr", "2 mars 2026", "Europe/Stockholm"),
        ("en-GB", "EUR", "en", "€1,234.50", "2 March 2026", "Europe/London"),
    ],
)
def test_the_order_confirmation_formats_money_and_dates_per_locale(
    shipped: TemplateSet, locale: str, currency: str, file: str, total: str, day: str, zone: str
) -> None:
    # 23:30 UTC on 1 March is already 2 March in Oslo, Helsinki, Warsaw and Stockholm;
    # London is still on 1 March at 23:30, so its date is the 1st.
    message = shipped.render(
        "thank-you-first-order", locale, _variables(currency=currency), zone=ZoneInfo(zone)
    )
    assert message.locale == file
    expected_day = day if zone != "Europe/London" else "1 March 2026"
    assert f"o-7, {expected_day}\n" in message.text
    assert f"o-7</strong>, {expected_day}</p>" in message.html
    total_line = [line for line in message.text.splitlines() if total in line]
    assert len(total_line) == 1, message.text
    assert f"<strong>{total}</strong>" in message.html


def test_norwegian_and_finnish_customers_read_their_own_language(shipped: TemplateSet) -> None:
    oslo, helsinki = ZoneInfo("Europe/Oslo"), ZoneInfo("Europe/Helsinki")
    nb = shipped.render("thank-you-first-order", "nb-NO", _variables(currency="NOK"), zone=oslo)
    fi = shipped.render("thank-you-first-order", "fi", _variables(currency="EUR"), zone=helsinki)
    assert nb.subject == "Takk for din første bestilling (o-7)"
    assert fi.subject == "Kiitos ensimmäisestä tilauksestasi (o-7)"
    assert "Hei Kari!" in nb.text
    assert "Hei Kari!" in fi.text
    assert '<html lang="nb">' in nb.html
    assert '<html lang="fi">' in fi.html


def test_a_danish_customer_gets_the_default_not_norwegian(shipped: TemplateSet) -> None:
    # Danish reads close to Bokmål, but no alias says so: the default is the honest choice.
    message = shipped.render(
        "thank-you-first-order", "da-DK", _variables(currency="DKK"), zone=ZoneInfo("UTC")
    )
    assert message.locale == "en"


@pytest.mark.parametrize(
    ("locale", "phrase"),
    [
        ("en", "2 years since you joined"),
        ("sv", "2 år sedan du blev kund"),
        ("nb", "2 år siden du ble kunde"),
        ("fi", "2 vuotta siitä, kun liityit"),
        ("pl", "2 lata od kiedy"),
    ],
)
def test_the_anniversary_keeps_the_space_after_its_years(
    shipped: TemplateSet, locale: str, phrase: str
) -> None:
    variables = _variables(currency="EUR") | {
        "orders_count": 3,
        "trigger": Fields({"name": "signup_anniversary", "years": 2}),
        "campaign": Fields({"id": "a", "name": "A", "category": "transactional"}),
    }
    message = shipped.render("anniversary", locale, variables, zone=ZoneInfo("UTC"))
    assert phrase in " ".join(message.text.split())
