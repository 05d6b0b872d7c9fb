"""Templates: sandbox, escaping, strict variables, locale fallback, formatting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from lifecycle.campaigns.located import Problems
from lifecycle.campaigns.templates.render import TemplateFailure
from lifecycle.campaigns.templates.template_set import TemplateSet, load_templates, locale_chain
from lifecycle.campaigns.templates.variables import Fields

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def template_set(files: dict[str, str]) -> TemplateSet:
    problems = Problems()
    loaded = load_templates(files, problems)
    assert not problems.errors, [str(e) for e in problems.errors]
    return loaded


def render(
    files: dict[str, str], locale: str | None = "en", template: str = "t", **variables: Any
) -> Any:
    defaults: dict[str, Any] = {
        "first_name": "Anna",
        "currency": "SEK",
        "shop": Fields({"name": "Shop", "url": "https://shop.example", "support_email": None}),
        "campaign": Fields({"id": "c", "name": "C", "category": "marketing"}),
    }
    return template_set(files).render(template, locale, {**defaults, **variables}, zone=STOCKHOLM)


def one(text: str, subject: str = "s", html: str | None = None) -> dict[str, str]:
    # JSON strings are YAML double-quoted scalars.
    body = f"subject: {json.dumps(subject)}\ntext: {json.dumps(text)}\n"
    if html is not None:
        body += f"html: {json.dumps(html)}\n"
    return {"templates/t/en.yaml": body}


def test_html_is_autoescaped_and_text_is_not() -> None:
    files = one("Hi {{ first_name }}", html="<p>Hi {{ first_name }}</p>")
    message = render(files, first_name="<script>alert(1)</script>")
    assert "Hi <script>alert(1)</script>" in message.text
    assert "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>" in message.html
    assert "<script>" not in message.html


def test_html_made_from_text_is_escaped_with_paragraphs_and_links() -> None:
    files = one("Hi {{ first_name }} & co\nline two\n\nSee https://shop.example/a?b=1.")
    message = render(files, first_name="<b>Ann</b>")
    assert "<p>Hi &lt;b&gt;Ann&lt;/b&gt; &amp; co<br>\nline two</p>" in message.html
    assert '<a href="https://shop.example/a?b=1">https://shop.example/a?b=1</a>.' in message.html


def test_subject_and_preheader_are_one_line_whatever_the_data() -> None:
    files = {
        "templates/t/en.yaml": (
            "subject: 'Hi {{ first_name }}'\npreheader: '{{ first_name }} x'\ntext: x\n"
        )
    }
    message = render(files, first_name="Anna\r\nBcc: evil@example.com")
    assert message.subject == "Hi Anna Bcc: evil@example.com"
    assert "\n" not in message.subject
    assert "\r" not in (message.preheader or "")


def test_a_known_variable_without_a_value_renders_empty() -> None:
    message = render(
        one("Hi{% if first_name %} {{ first_name }}{% endif %}! [{{ name }}]"),
        first_name=None,
        name=None,
    )
    assert message.text == "Hi! []\n"


def test_strict_undefined_names_the_file_and_line() -> None:
    files = {"templates/t/en.yaml": "subject: s\ntext: |\n  line one\n  {{ trigger.years }}\n"}
    with pytest.raises(TemplateFailure) as caught:
        render(files, trigger=Fields({"name": "first_order"}))
    failure = caught.value
    assert (failure.file, failure.line, failure.part) == ("templates/t/en.yaml", 4, "text")
    assert "has no attribute 'years'" in failure.reason


@pytest.mark.parametrize(
    "expression",
    [
        "shop.__class__",
        "shop.__init__.__globals__",
        "first_name.__class__.__mro__",
        "range.__globals__",
        "lipsum.__globals__['os']",
        "cycler.__init__.__globals__",
    ],
)
def test_the_sandbox_blocks_escapes(expression: str) -> None:
    # Loading already refuses '_' attributes; the sandbox is the second line of defence,
    # so compile around the loader's check to see the runtime refuse too.
    from lifecycle.campaigns.templates.sandbox import TEXT_ENV

    template = TEXT_ENV.from_string("{{ " + expression + " }}")
    with pytest.raises(jinja2.TemplateRuntimeError) as caught:
        template.render(shop=Fields({"name": "x"}), first_name="Anna")
    assert isinstance(caught.value, jinja2.exceptions.SecurityError | jinja2.UndefinedError)


def test_the_sandbox_keeps_values_immutable() -> None:
    from lifecycle.campaigns.templates.sandbox import TEXT_ENV

    with pytest.raises(Exception, match="unsafe"):
        TEXT_ENV.from_string("{% set x = [1] %}{{ x.append(2) }}").render()
    with pytest.raises(AttributeError):
        Fields({"a": 1}).a = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("sv-SE", ["sv-se", "sv", "en"]),
        ("sv_SE", ["sv-se", "sv", "en"]),
        ("pl", ["pl", "en"]),
        ("en-GB", ["en-gb", "en"]),
        (None, ["en"]),
        ("zh-Hant-TW", ["zh-hant-tw", "zh-hant", "zh", "en"]),
    ],
)
def test_locale_chain(locale: str | None, expected: list[str]) -> None:
    assert locale_chain(locale, "en") == expected


def test_locale_fallback_picks_the_most_specific_file() -> None:
    files = {
        "templates/t/en.yaml": "subject: English\ntext: x\n",
        "templates/t/sv.yaml": "subject: Svenska\ntext: x\n",
        "templates/t/sv-FI.yaml": "subject: Finlandssvenska\ntext: x\n",
    }
    assert render(files, "sv-SE").subject == "Svenska"
    assert render(files, "sv-FI").subject == "Finlandssvenska"
    assert render(files, "sv").subject == "Svenska"
    assert render(files, "de-DE").subject == "English"
    assert render(files, None).subject == "English"
    assert render(files, "sv-SE").locale == "sv"


def test_money_and_dates_follow_the_customer_locale_and_zone() -> None:
    files = {
        "templates/t/en.yaml": (
            "subject: s\ntext: '{{ last_order_total | money }} | "
            '{{ last_order_total | money("EUR") }} | {{ last_order_at | date("long") }} | '
            '{{ last_order_at | datetime("short") }} | {{ 1234.5 | number }}\'\n'
        )
    }
    # 23:30 UTC on 1 March is already 2 March in Stockholm.
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    amount = Decimal("1234.50")
    sv = render(files, "sv-SE", last_order_total=amount, last_order_at=at).text
    assert (
        sv == "1\xa0234,50\xa0kr | 1\xa0234,50\xa0€ | 2 mars 2026 | 2026-03-02 00:30 | 1\xa0234,5\n"
    )
    pl = render(files, "pl-PL", last_order_total=amount, last_order_at=at, currency="PLN").text
    assert (
        pl
        == "1\xa0234,50\xa0zł | 1\xa0234,50\xa0€ | 2 marca 2026 | 2.03.2026, 00:30 | 1\xa0234,5\n"
    )
    en = render(files, "en-GB", last_order_total=amount, last_order_at=at).text
    assert en == "SEK1,234.50 | €1,234.50 | 2 March 2026 | 02/03/2026, 00:30 | 1,234.5\n"


def test_missing_money_renders_empty_not_an_error() -> None:
    files = one("[{{ last_order_total | money }}] [{{ last_order_at | date }}]")
    assert render(files, last_order_total=None, last_order_at=None).text == "[] []\n"


def test_layout_frames_text_and_html() -> None:
    files = {
        **one("Body {{ first_name }}", subject="Subj"),
        "templates/layout/en.yaml": (
            'text: "{{ content }}-- {{ shop.name }}"\n'
            'html: \'<html lang="{{ lang }}"><body>{{ content }}<i>{{ subject }}</i>'
            "</body></html>'\n"
        ),
    }
    message = render(files, first_name="<Ann>")
    assert message.text == "Body <Ann>-- Shop\n"
    assert message.html == '<html lang="en"><body><p>Body &lt;Ann&gt;</p><i>Subj</i></body></html>'


def test_without_a_layout_a_complete_html_document_is_made() -> None:
    message = render(one("Hello"))
    assert message.html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "<title>s</title>" in message.html
    assert "<p>Hello</p>" in message.html
