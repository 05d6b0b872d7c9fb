"""The visible unsubscribe link: ``{{ unsubscribe_url }}`` renders a placeholder when the
engine decides, and the email builder swaps in the signed link that List-Unsubscribe
carries; transactional mail never gets one."""

from __future__ import annotations

import email
import re
import textwrap
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.campaigns.context import CampaignRules, RuntimeContext, ShopInfo
from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.campaigns.templates.personalise import unsubscribe_url
from lifecycle.campaigns.templates.render import TemplateFailure
from lifecycle.campaigns.templates.variables import Fields
from lifecycle.exceptions import CampaignErrors, EmailBuildError
from lifecycle.mail.mime import Mailbox, UnsubscribeLinks, build_email
from lifecycle.mail.outbox import OutboxMessage
from lifecycle.mail.unsubscribe import verify_token
from lifecycle.mail.unsubscribe_placeholder import UNSUBSCRIBE_URL_PLACEHOLDER as PLACEHOLDER
from tests.factories import event
from tests.unit.campaigns.support import Journeys, shipped_campaigns, utc
from tests.unit.test_delivery_attempts import make_delivery

SECRET = b"x" * 32  # what make_delivery configures
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SENDER = Mailbox("shop@example.com", "Shop")


@pytest.fixture(scope="module")
def shipped() -> CampaignSet:
    return shipped_campaigns()


def run(shipped: CampaignSet, locale: str) -> Journeys:
    ctx = RuntimeContext(
        rules=CampaignRules(shop=ShopInfo(name="Nordic Socks", url="https://nordicsocks.example"))
    )
    signup = event(
        "customer.signed_up",
        "c1",
        "2026-03-02T10:00:00+01:00",
        email="c1@example.com",
        name="Anna Berg",
        locale=locale,
        timezone="Europe/Stockholm",
        marketing_consent=True,
    )
    first_order = event(
        "order.placed", "c1", "2026-03-02T12:00:00+01:00", total="100.00", currency="SEK"
    )
    return Journeys(shipped, ctx=ctx).run([signup, first_order], until=utc("2026-03-03T00:00Z"))


def parts(raw: bytes) -> dict[str, str]:
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    found = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_subtype()] = part.get_content().replace("\r\n", "\n")
    found["subject"] = str(msg["Subject"])
    found["list-unsubscribe"] = str(msg.get("List-Unsubscribe", ""))
    return found


def outbox(category: str = "marketing", **fields: Any) -> OutboxMessage:
    values: dict[str, Any] = {
        "message_id": "<m1@shop.example.com>",
        "customer_id": "c1",
        "campaign_id": "welcome",
        "variant": "default",
        "step": 1,
        "category": category,
        "decided_at": NOW,
        "to_address": "c1@example.com",
        "locale": "en",
        "subject": "Hello",
        "text": "Hi",
        "html": "<p>Hi</p>",
    }
    values.update(fields)
    return OutboxMessage(**values)


# -- rendering: the placeholder ----------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "words"), [("en", "Unsubscribe"), ("sv", "Avregistrera dig"), ("pl", "Wypisz się")]
)
def test_a_marketing_message_carries_the_placeholder_in_text_and_html(
    shipped: CampaignSet, locale: str, words: str
) -> None:
    welcome = run(shipped, locale).message("welcome", 1)
    assert welcome.category == "marketing"
    assert f"{words}: {PLACEHOLDER}\n" in welcome.text
    assert f'<a href="{PLACEHOLDER}" style="color:#77716a">{words}</a>' in welcome.html


def test_a_transactional_message_has_no_unsubscribe_link(shipped: CampaignSet) -> None:
    thanks = run(shipped, "en").message("thank-you-first-order", 1)
    assert thanks.category == "transactional"
    for text in (thanks.subject, thanks.text, thanks.html):
        assert PLACEHOLDER not in text
        assert "unsubscribe" not in text.lower()


# -- delivery: the signed link -----------------------------------------------------------


@pytest.mark.asyncio
async def test_delivery_puts_the_list_unsubscribe_link_in_text_and_html(
    shipped: CampaignSet,
) -> None:
    delivery, _, sender, _ = make_delivery()
    welcome = run(shipped, "sv").message("welcome", 1)
    # Decided just now, so it is not too late to send.
    await delivery.attempt(welcome.model_copy(update={"decided_at": datetime.now(UTC)}), attempt=1)

    assert len(sender.sent) == 1
    found = parts(sender.sent[0])
    header_url = re.search(r"<(https?://[^>]+)>", found["list-unsubscribe"])
    assert header_url is not None
    url = header_url.group(1)
    assert f"Avregistrera dig: {url}\n" in found["plain"]
    assert f'<a href="{url}" style="color:#77716a">Avregistrera dig</a>' in found["html"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert verify_token(SECRET, token, datetime.now(UTC), max_age=timedelta(days=1)) == "c1"
    assert PLACEHOLDER not in found["plain"] + found["html"]
    assert b"unsubscribe.invalid" not in sender.sent[0]


@pytest.mark.asyncio
async def test_delivery_does_not_send_transactional_mail_holding_the_placeholder() -> None:
    delivery, _, sender, worker = make_delivery()
    message = outbox("transactional", text=f"Stop: {PLACEHOLDER}", decided_at=datetime.now(UTC))
    await delivery.attempt(message, attempt=1)

    assert sender.sent == []
    given_up = [
        (h["lifecycle.reason-kind"], h["lifecycle.reason"])
        for h in worker.topics.dead_letter.headers
    ]
    assert len(given_up) == 1
    kind, reason = given_up[0]
    assert kind == "unbuildable"
    assert "unsubscribe_url" in reason


# -- the builder -------------------------------------------------------------------------

LINKS = UnsubscribeLinks("https://shop.example.com/unsubscribe?token=v1.YzE.1.abc&x=1")

_safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=60
)


@given(
    pieces=st.lists(_safe_text, min_size=1, max_size=5),
    html_pieces=st.lists(_safe_text, min_size=1, max_size=5),
    in_subject=st.booleans(),
    in_preheader=st.booleans(),
)
def test_no_placeholder_survives_in_a_built_marketing_email(
    pieces: list[str], html_pieces: list[str], in_subject: bool, in_preheader: bool
) -> None:
    text = PLACEHOLDER.join(pieces)
    html = PLACEHOLDER.join(html_pieces)
    message = outbox(
        text=text,
        html=html,
        subject=f"Hi {PLACEHOLDER}" if in_subject else "Hi",
        preheader=f"Pre {PLACEHOLDER}" if in_preheader else None,
    )
    found = parts(build_email(message, sender=SENDER, now=NOW, unsubscribe=LINKS))
    for key in ("plain", "html", "subject"):
        assert PLACEHOLDER not in found[key]
    assert found["plain"].count(LINKS.url) == text.count(PLACEHOLDER)
    # In HTML the link is escaped ("&" in a query string becomes "&amp;"); the hidden
    # preheader is in the HTML part too.
    escaped = LINKS.url.replace("&", "&amp;")
    assert found["html"].count(escaped) == html.count(PLACEHOLDER) + in_preheader
    assert (LINKS.url in found["subject"]) is in_subject


def test_a_transactional_email_holding_the_placeholder_is_refused() -> None:
    for where in ("text", "html", "subject", "preheader"):
        with pytest.raises(EmailBuildError, match="unsubscribe_url"):
            build_email(
                outbox("transactional", **{where: f"x {PLACEHOLDER} y"}),
                sender=SENDER,
                now=NOW,
                unsubscribe=LINKS,  # even when links are passed, transactional gets none
            )


def test_marketing_mail_without_the_placeholder_is_built_as_before() -> None:
    plain = outbox(text="No link here", html="<p>No link here</p>")
    found = parts(build_email(plain, sender=SENDER, now=NOW, unsubscribe=LINKS))
    assert found["plain"] == "No link here\n"
    assert LINKS.url in found["list-unsubscribe"]
    with pytest.raises(EmailBuildError, match="needs unsubscribe links"):
        build_email(outbox(text=PLACEHOLDER), sender=SENDER, now=NOW)


# -- validation: transactional campaigns -------------------------------------------------

CAMPAIGN = """\
id: receipt
category: {category}
trigger: first_order
steps:
  - send: receipt
"""


def compile_with(category: str, text: str) -> CampaignSet:
    return compile_campaigns(
        {"c.yaml": CAMPAIGN.format(category=category)},
        {"templates/receipt/en.yaml": "subject: Thanks\ntext: |\n" + textwrap.indent(text, "  ")},
    )


def test_a_transactional_template_showing_unsubscribe_url_fails_validation() -> None:
    with pytest.raises(CampaignErrors) as caught:
        compile_with("transactional", "Thanks for your order.\nStop: {{ unsubscribe_url }}\n")
    [error] = caught.value.errors
    assert (error.file, error.line) == ("templates/receipt/en.yaml", 4)
    assert "unsubscribe_url is only for marketing campaigns" in str(error)


@pytest.mark.parametrize(
    "guarded",
    [
        '{% if campaign.category == "marketing" %}Stop: {{ unsubscribe_url }}{% endif %}\n',
        "{% if unsubscribe_url is defined %}Stop: {{ unsubscribe_url }}{% endif %}\n",
        '{% if first_name and campaign.category == "marketing" %}{{ unsubscribe_url }}'
        "{% endif %}\n",
        '{{ unsubscribe_url if campaign.category == "marketing" else shop.url }}\n',
    ],
)
def test_a_guarded_unsubscribe_url_is_fine_in_both_categories(guarded: str) -> None:
    for category in ("transactional", "marketing"):
        compile_with(category, "Thanks.\n" + guarded)


def test_a_branch_the_sample_customer_skips_fails_validation_too() -> None:
    # The trial render takes one path; the template check reads every branch.
    with pytest.raises(CampaignErrors) as caught:
        compile_with(
            "transactional",
            'Thanks.\n{% if first_name == "Zed" %}\nStop: {{ unsubscribe_url }}\n{% endif %}\n',
        )
    [error] = caught.value.errors
    assert (error.file, error.line, error.column) == ("templates/receipt/en.yaml", 5, 12)
    assert "campaign 'receipt' (c.yaml) is transactional" in str(error)


def test_the_else_of_a_marketing_branch_is_not_guarded() -> None:
    with pytest.raises(CampaignErrors):
        compile_with(
            "transactional",
            '{% if campaign.category == "marketing" %}Hi{% else %}{{ unsubscribe_url }}'
            "{% endif %}\n",
        )


LAYOUT = """\
text: |
  {{ content }}
  Unsubscribe: {{ unsubscribe_url }}
html: |
  {{ content }}
"""


def test_an_unguarded_layout_fails_only_when_transactional_mail_uses_it() -> None:
    templates = {
        "templates/layout/en.yaml": LAYOUT,
        "templates/receipt/en.yaml": "subject: a\ntext: b\n",
    }
    compile_campaigns({"c.yaml": CAMPAIGN.format(category="marketing")}, templates)
    with pytest.raises(CampaignErrors) as caught:
        compile_campaigns({"c.yaml": CAMPAIGN.format(category="transactional")}, templates)
    [error] = caught.value.errors
    assert (error.file, error.line) == ("templates/layout/en.yaml", 3)
    assert "the layout also frames transactional mail (campaign 'receipt')" in str(error)


def test_transactional_variables_make_a_shown_unsubscribe_url_fail_to_render() -> None:
    # The safety net behind validation: for transactional mail the variable is an error
    # at the template's line (the engine records render_error), never a link.
    campaigns = compile_with("marketing", "Thanks.\nStop: {{ unsubscribe_url }}\n")
    variables: dict[str, Any] = {
        "first_name": "Zed",
        "campaign": Fields({"id": "receipt", "name": "r", "category": "transactional"}),
        "unsubscribe_url": unsubscribe_url("transactional"),
    }
    with pytest.raises(TemplateFailure, match="only for marketing") as caught:
        campaigns.templates.render("receipt", "en", variables, zone=ZoneInfo("UTC"))
    assert (caught.value.file, caught.value.line) == ("templates/receipt/en.yaml", 4)
    variables["unsubscribe_url"] = unsubscribe_url("marketing")
    rendered = campaigns.templates.render("receipt", "en", variables, zone=ZoneInfo("UTC"))
    assert f"Stop: {PLACEHOLDER}" in rendered.text
