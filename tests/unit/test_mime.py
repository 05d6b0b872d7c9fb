"""build_email: the bytes parse back (stdlib parser) into the headers and parts we meant."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any, cast

import pytest

from lifecycle.exceptions import EmailBuildError
from lifecycle.mail.mime import Mailbox, UnsubscribeLinks, build_email, normalize_address
from lifecycle.mail.outbox import OutboxMessage, derive_message_id

NOW = datetime(2026, 11, 2, 14, 3, 11, tzinfo=timezone(timedelta(hours=1)))
SENDER = Mailbox("shop@example.com", "Sklep Łódź")
LINKS = UnsubscribeLinks(
    url="https://shop.example.com/unsubscribe?token=v1.YzQy.1767225600." + "A" * 43,
    mailto="unsubscribe@shop.example.com",
)


def outbox(**changes: Any) -> OutboxMessage:
    fields: dict[str, Any] = {
        "message_id": derive_message_id("c-42", "onboarding", 0, "e-1"),
        "customer_id": "c-42",
        "campaign_id": "onboarding",
        "variant": "a",
        "step": 0,
        "category": "transactional",
        "decided_at": NOW,
        "to_address": "asa@example.se",
        "to_name": "Åsa Öberg",
        "locale": "sv-SE",
        "subject": "Välkommen, Åsa!",
        "preheader": None,
        "text": "Hej Åsa,\nvälkommen.\n",
        "html": "<html><body><p>Hej Åsa, välkommen.</p></body></html>",
    }
    fields.update(changes)
    return OutboxMessage(**fields)


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def content(msg: EmailMessage, subtype: str) -> str:
    """A body part's text with the CRLF line ends of the wire turned back into LF."""
    part = cast(EmailMessage, msg.get_body((subtype,)))
    return cast(str, part.get_content()).replace("\r\n", "\n")


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]


def test_multipart_alternative_with_text_and_html_in_utf8() -> None:
    raw = build_email(outbox(), sender=SENDER, now=NOW)
    msg = parse(raw)

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert content(msg, "plain") == "Hej Åsa,\nvälkommen.\n"
    assert "Hej Åsa, välkommen." in content(msg, "html")
    assert msg["MIME-Version"] == "1.0"


def test_output_is_7bit_crlf_and_lines_within_limits() -> None:
    raw = build_email(outbox(text="å" * 500, subject="ż" * 200), sender=SENDER, now=NOW)
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body_lines = raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 78


def test_standard_headers() -> None:
    message = outbox()
    raw = build_email(
        message, sender=SENDER, now=NOW, reply_to=Mailbox("help@example.com", "Kundtjänst")
    )
    msg = parse(raw)

    assert msg["Message-ID"] == message.message_id
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["From"].addresses[0].addr_spec == "shop@example.com"
    assert msg["From"].addresses[0].display_name == "Sklep Łódź"
    assert msg["To"].addresses[0].addr_spec == "asa@example.se"
    assert msg["To"].addresses[0].display_name == "Åsa Öberg"
    assert msg["Reply-To"].addresses[0].display_name == "Kundtjänst"
    assert msg["Subject"] == "Välkommen, Åsa!"


def test_same_input_gives_same_bytes() -> None:
    assert build_email(outbox(), sender=SENDER, now=NOW) == build_email(
        outbox(), sender=SENDER, now=NOW
    )


@pytest.mark.parametrize(
    ("subject", "name"),
    [
        ("Välkommen tillbaka, Åsa! Här är ditt erbjudande", "Åsa Öberg"),
        ("Zażółć gęślą jaźń — łśżźćń ŁŚŻŹĆŃ", "Łukasz Świątek"),
        ("Tervetuloa! Äiti sanoi: älä hätäile", "Jääskeläinen Äijä"),
        ("Gratulerer 🎉 med 10. bestilling 🛍️", "Bjørn 🧔 Ærø"),
        ("x" * 40 + " " + "ą" * 90, 'Name, with "quotes" and (parens) <and> ; semicolons'),
    ],
)
def test_non_ascii_subjects_and_names_are_rfc2047_encoded(subject: str, name: str) -> None:
    raw = build_email(outbox(subject=subject, to_name=name), sender=SENDER, now=NOW)
    head = raw.split(b"\r\n\r\n", 1)[0]

    assert head.isascii()
    assert b"=?utf-8?" in head
    msg = parse(raw)
    assert msg["Subject"] == subject
    assert msg["To"].addresses[0].display_name == name
    assert msg["To"].addresses[0].addr_spec == "asa@example.se"


def test_marketing_mail_carries_one_click_unsubscribe() -> None:
    raw = build_email(outbox(category="marketing"), sender=SENDER, now=NOW, unsubscribe=LINKS)
    msg = parse(raw)

    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    entries = re.findall(r"<([^>]*)>", str(msg["List-Unsubscribe"]))
    assert entries == [LINKS.url, "mailto:unsubscribe@shop.example.com"]
    # the long https URL must arrive verbatim, not as encoded words
    assert f"<{LINKS.url}>".encode() in raw


def test_unsubscribe_without_mailto_and_with_mailto_uri() -> None:
    only_url = build_email(
        outbox(category="marketing"),
        sender=SENDER,
        now=NOW,
        unsubscribe=UnsubscribeLinks(url="https://e.example/u/1"),
    )
    assert parse(only_url)["List-Unsubscribe"] == "<https://e.example/u/1>"
    with_uri = build_email(
        outbox(category="marketing"),
        sender=SENDER,
        now=NOW,
        unsubscribe=UnsubscribeLinks("https://e.example/u/1", "mailto:u@e.example?subject=stop"),
    )
    assert parse(with_uri)["List-Unsubscribe"] == (
        "<https://e.example/u/1>, <mailto:u@e.example?subject=stop>"
    )


def test_transactional_mail_has_no_list_unsubscribe_even_if_links_given() -> None:
    raw = build_email(outbox(), sender=SENDER, now=NOW, unsubscribe=LINKS)
    names = {n.lower() for n in header_names(raw)}
    assert "list-unsubscribe" not in names
    assert "list-unsubscribe-post" not in names


def test_marketing_mail_without_unsubscribe_links_is_refused() -> None:
    with pytest.raises(EmailBuildError, match="unsubscribe"):
        build_email(outbox(category="marketing"), sender=SENDER, now=NOW)


@pytest.mark.parametrize(
    "links",
    [
        UnsubscribeLinks("http://shop.example.com/u"),  # not https
        UnsubscribeLinks("https://shop.example.com/u>, <https://evil.example/"),
        UnsubscribeLinks("https://shop.example.com/u\r\nBcc: x@evil.example"),
        UnsubscribeLinks("https://shop.example.com/ u"),
        UnsubscribeLinks("https://shop.example.com/" + "a" * 1000),
        UnsubscribeLinks("https://shop.example.com/u", "not an address"),
        UnsubscribeLinks("https://shop.example.com/u", "mailto:a@b\r\nX: y"),
    ],
)
def test_bad_unsubscribe_links_are_refused(links: UnsubscribeLinks) -> None:
    with pytest.raises(EmailBuildError):
        build_email(outbox(category="marketing"), sender=SENDER, now=NOW, unsubscribe=links)


def test_preheader_is_hidden_first_thing_in_the_html_body() -> None:
    message = outbox(
        preheader="Din rabatt på 20 % väntar <b>här</b>",
        html='<html><head><title>t</title></head><body class="x"><p>Synlig text</p></body></html>',
    )
    msg = parse(build_email(message, sender=SENDER, now=NOW))
    html = content(msg, "html")
    text = content(msg, "plain")

    after_body = html.split('<body class="x">', 1)[1]
    assert after_body.startswith('<div style="display:none;')
    hidden = after_body.split("</div>", 1)[0]
    assert "Din rabatt på 20 % väntar &lt;b&gt;här&lt;/b&gt;" in hidden
    assert "opacity:0" in hidden
    assert "max-height:0" in hidden
    assert "<title>t</title>" in html.split("<body", 1)[0]  # head untouched
    assert "Din rabatt" not in text


def test_preheader_without_body_tag_goes_first() -> None:
    message = outbox(preheader="Förhandsvisning", html="<p>Hej</p>")
    html = content(parse(build_email(message, sender=SENDER, now=NOW)), "html")
    assert html.startswith('<div style="display:none;')
    assert html.rstrip().endswith("<p>Hej</p>")


def test_no_preheader_leaves_html_unchanged() -> None:
    message = outbox()
    html = content(parse(build_email(message, sender=SENDER, now=NOW)), "html")
    assert html.rstrip("\n") == message.html


@pytest.mark.parametrize(
    "evil",
    [
        "Hello\r\nBcc: victim@evil.example",
        "Hello\nBcc: victim@evil.example",
        "Hello\rBcc: victim@evil.example",
        "Hello\u2028Bcc: victim@evil.example",
        "Hello\x85Bcc: victim@evil.example",
        "Hello\r\n\r\n<html>injected body</html>",
        "Hello\x00\x0bBcc: victim@evil.example",
    ],
)
def test_header_injection_through_subject_and_names_is_impossible(evil: str) -> None:
    message = outbox(subject=evil, to_name=evil)
    raw = build_email(
        message,
        sender=Mailbox("shop@example.com", evil),
        reply_to=Mailbox("help@example.com", evil),
        now=NOW,
    )
    msg = parse(raw)

    assert msg["Bcc"] is None
    assert header_names(raw) == [
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
    ]
    assert len(msg["To"].addresses) == 1
    assert msg["To"].addresses[0].addr_spec == "asa@example.se"
    # every run of control characters became one space, nothing else changed
    assert msg["Subject"] == re.sub(r"[\x00-\x1f\x85\u2028]+", " ", evil)
    assert msg["To"].addresses[0].display_name == msg["Subject"]
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    "address",
    [
        "victim@evil.example\r\nBcc: other@evil.example",
        "a@b.example>, <c@d.example",
        "a@b.example, c@d.example",
        "no-at-sign",
        "@example.com",
        "a@",
        "a b@example.com",
        "a@exa mple.com",
        "åsa@example.com",  # needs SMTPUTF8
        "a@b..example",
    ],
)
def test_bad_recipient_addresses_are_refused(address: str) -> None:
    with pytest.raises(EmailBuildError):
        build_email(outbox(to_address=address), sender=SENDER, now=NOW)
    with pytest.raises(EmailBuildError):
        build_email(outbox(), sender=Mailbox(address), now=NOW)


def test_international_domain_becomes_idna() -> None:
    assert normalize_address("kund@åäö.se") == "kund@xn--4cab6c.se"
    msg = parse(build_email(outbox(to_address="kund@åäö.se"), sender=SENDER, now=NOW))
    assert msg["To"].addresses[0].addr_spec == "kund@xn--4cab6c.se"


@pytest.mark.parametrize(
    "message_id",
    ["no-brackets@example.com", "<no-at-sign>", "<a@b>\r\nBcc: x@y", "<a b@c>", "<>"],
)
def test_bad_message_ids_are_refused(message_id: str) -> None:
    with pytest.raises(EmailBuildError, match="Message-ID"):
        build_email(outbox(message_id=message_id), sender=SENDER, now=NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_email(outbox(), sender=SENDER, now=datetime(2026, 1, 1))


def test_date_keeps_the_offset_of_now() -> None:
    utc_raw = build_email(outbox(), sender=SENDER, now=NOW.astimezone(UTC))
    assert parse(utc_raw)["Date"].endswith("+0000")
    assert parse(build_email(outbox(), sender=SENDER, now=NOW))["Date"].endswith("+0100")


def test_body_lines_starting_with_a_dot_survive_parsing() -> None:
    # Dot-stuffing is the SMTP client's job; the MIME bytes keep the text as is.
    msg = parse(build_email(outbox(text=".hidden?\n..two\n"), sender=SENDER, now=NOW))
    assert content(msg, "plain") == ".hidden?\n..two\n"


_AWKWARD_BODIES = [
    "x" * 77 + "\n" + "y" * 1200,  # past a QP line, past SMTP's 998 octets, no final newline
    "trailing space \ntrailing tab\t\nboth \t \n",
    ".\n. \n..\nFrom the start\n>From quoted\n",
    "= == =3D =\n=",
    "Åsa 😀 ünïcödé € \u200b\u00a0nbsp\n",
    "crlf\r\nlone cr\rlf\nend",
    "",
    "\n\n\n",
    "form\x0cfeed\x0bvtab\x00nul",
]


@pytest.mark.parametrize("body", _AWKWARD_BODIES)
def test_awkward_bodies_decode_to_exactly_what_was_meant(body: str) -> None:
    raw = build_email(outbox(text=body, html=f"<p>{body}</p>"), sender=SENDER, now=NOW)
    raw.decode("ascii")  # 7-bit clean
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    msg = parse(raw)
    # Line ends become LF (CRLF on the wire) and a final one is added, as for any text part.
    meant = body.replace("\r\n", "\n").replace("\r", "\n")
    meant = meant if meant.endswith("\n") else meant + "\n"
    assert content(msg, "plain") == meant
    html = f"<p>{body}</p>".replace("\r\n", "\n").replace("\r", "\n") + "\n"
    assert content(msg, "html") == html
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
