"""Turn an outbox record into the exact bytes that go over SMTP (RFC 5322 + MIME).

Pure: no I/O, no clock (``now`` is a parameter) and no randomness, so the same record
and ``now`` always give the same bytes. The MIME boundary is derived from the
Message-ID for that reason (the stdlib would pick a random one).

What comes out:

- ``multipart/alternative`` with a text part and an HTML part, both UTF-8 and
  quoted-printable, so the message is 7-bit clean and needs no 8BITMIME from the
  server while staying readable in a ``.eml`` file;
- ``From``, ``To``, optional ``Reply-To``, ``Subject``, ``Date``, ``Message-ID``,
  ``MIME-Version``; non-ASCII display names and subjects become RFC 2047 encoded
  words (``email.policy.SMTP`` does that);
- for marketing mail, ``List-Unsubscribe`` (https + optional mailto) and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058). Transactional mail
  gets neither, even when links are passed;
- in marketing mail, the ``unsubscribe_url`` placeholder
  (:mod:`lifecycle.mail.unsubscribe_placeholder`) replaced everywhere by the same https URL
  as in ``List-Unsubscribe``, so the visible link and the header agree. Transactional
  mail that still holds the placeholder is refused: it has no link to put there, and a
  dead "unsubscribe" link is worse than no email.

Header injection: display names and the subject come from customer data and
templates, so every control character in them (CR, LF, NUL, the Unicode line and
paragraph separators, ...) is replaced by a space before the header is set. Addresses,
the Message-ID and unsubscribe links are validated and rejected with
:class:`EmailBuildError` instead, because silently "repairing" an address would send
mail somewhere else.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from lifecycle.exceptions import EmailBuildError
from lifecycle.mail.outbox import OutboxMessage
from lifecycle.mail.unsubscribe_placeholder import contains_placeholder, fill_placeholder

__all__ = [
    "Mailbox",
    "UnsubscribeLinks",
    "build_email",
    "normalize_address",
]

# policy.SMTP (CRLF line ends, RFC 2047 for non-ASCII) with one change: headers set with
# ``set_raw`` are emitted as given instead of being refolded. Only ``List-Unsubscribe``
# is set that way: refolding it would turn a long https URL into encoded words, which
# mail clients do not decode in that header and which break one-click unsubscribe.
_POLICY = email_policy.SMTP.clone(refold_source="none")

# C0 and C1 controls, DEL and the Unicode separators that str.splitlines() treats as
# line ends (the email package refuses those in header values).
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ADDRESS = re.compile(r"^[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.-]+$")
_MESSAGE_ID = re.compile(r"^<[!-;=?-~]+@[!-;=?-~]+>$")
# printable ASCII except space, quote, angle brackets and comma: what may sit between
# the angle brackets of a List-Unsubscribe entry without any escaping doubts
_URI = re.compile(r"^[!#-+\--;=?-~]+$")
_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
# One header line may be 998 octets (RFC 5322 2.1.1); stay clearly under it.
_MAX_URI_LENGTH = 900
_PREHEADER_FILLER = "&zwnj;&nbsp;" * 40


@dataclass(frozen=True, slots=True)
class Mailbox:
    """An address with an optional display name, e.g. ``Mailbox("shop@example.com", "Shop")``."""

    address: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class UnsubscribeLinks:
    """Where a recipient can unsubscribe from marketing mail.

    ``url`` must be https: it receives the RFC 8058 one-click POST. ``mailto`` is an
    address (``unsubscribe+token@example.com``) or a ``mailto:`` URI, for clients
    that only do mail-based unsubscribe.
    """

    url: str
    mailto: str | None = None


def build_email(
    message: OutboxMessage,
    *,
    sender: Mailbox,
    now: datetime,
    reply_to: Mailbox | None = None,
    unsubscribe: UnsubscribeLinks | None = None,
) -> bytes:
    """Build the RFC 5322 bytes for ``message``; ``now`` becomes the ``Date`` header.

    Raises :class:`EmailBuildError` for an invalid address, Message-ID or unsubscribe
    link, for marketing mail without unsubscribe links, or for transactional mail that
    holds the ``unsubscribe_url`` placeholder.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    message_id = _checked_message_id(message.message_id)

    message = _with_unsubscribe_url(message, unsubscribe)

    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _header_address(sender)
    msg["To"] = _header_address(Mailbox(message.to_address, message.to_name))
    if reply_to is not None:
        msg["Reply-To"] = _header_address(reply_to)
    msg["Subject"] = _single_line(message.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["MIME-Version"] = "1.0"
    if unsubscribe is not None and message.category == "marketing":
        msg.set_raw("List-Unsubscribe", _list_unsubscribe_value(unsubscribe))
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    msg.make_alternative()
    msg.attach(_text_part(message.text, "plain"))
    msg.attach(_text_part(_with_preheader(message.html, message.preheader), "html"))
    # Quoted-printable never produces "==", so this boundary cannot occur in a body.
    msg.set_boundary("==" + hashlib.sha256(message_id.encode()).hexdigest()[:32] + "==")
    return msg.as_bytes()


def _with_unsubscribe_url(
    message: OutboxMessage, unsubscribe: UnsubscribeLinks | None
) -> OutboxMessage:
    """The message with the ``unsubscribe_url`` placeholder replaced by the real link."""
    parts = (message.subject, message.preheader, message.text, message.html)
    if message.category != "marketing":
        if contains_placeholder(*parts):
            raise EmailBuildError(
                "transactional mail has no unsubscribe link, but its template uses "
                "unsubscribe_url; use it only inside "
                '{% if campaign.category == "marketing" %}'
            )
        return message
    if unsubscribe is None:
        raise EmailBuildError("marketing mail needs unsubscribe links (RFC 8058)")
    if not contains_placeholder(*parts):
        return message
    url = _checked_uri(unsubscribe.url, _web_scheme(unsubscribe.url))
    return message.model_copy(
        update={
            "subject": fill_placeholder(message.subject, url, is_html=False),
            "preheader": None
            if message.preheader is None
            else fill_placeholder(message.preheader, url, is_html=False),
            "text": fill_placeholder(message.text, url, is_html=False),
            "html": fill_placeholder(message.html, url, is_html=True),
        }
    )


def normalize_address(address: str) -> str:
    """Validate an address and return its ASCII form (IDNA for a non-ASCII domain).

    Use the same function for the SMTP envelope, so envelope and header agree. A
    non-ASCII local part would need SMTPUTF8 and is refused.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise EmailBuildError("invalid email address: missing local part or domain")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise EmailBuildError("invalid email address: bad international domain") from None
    candidate = f"{local}@{domain}"
    if len(candidate) > 254 or not _ADDRESS.fullmatch(candidate) or ".." in domain:
        raise EmailBuildError("invalid email address: characters or length not allowed")
    return candidate


def _header_address(mailbox: Mailbox) -> Address:
    name = _single_line(mailbox.name) if mailbox.name else ""
    return Address(display_name=name, addr_spec=normalize_address(mailbox.address))


def _single_line(text: str) -> str:
    return _CONTROL_CHARS.sub(" ", text).strip()


def _checked_message_id(message_id: str) -> str:
    if not _MESSAGE_ID.fullmatch(message_id) or len(message_id) > 250:
        raise EmailBuildError("invalid Message-ID: must look like <token@domain>")
    return message_id


def _checked_uri(uri: str, scheme: str) -> str:
    if not uri.lower().startswith(scheme) or len(uri) > _MAX_URI_LENGTH or not _URI.fullmatch(uri):
        raise EmailBuildError(f"invalid unsubscribe link: must be a plain {scheme} URI")
    return uri


def _web_scheme(url: str) -> str:
    # RFC 8058 wants https. Plain http is allowed only for a loopback host, so the demo
    # and the tests can click their own links.
    if re.match(r"(?i)^http://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?/", url):
        return "http://"
    return "https://"


def _list_unsubscribe_value(links: UnsubscribeLinks) -> str:
    entries = [f"<{_checked_uri(links.url, _web_scheme(links.url))}>"]
    if links.mailto is not None:
        mailto = links.mailto
        if not mailto.lower().startswith("mailto:"):
            mailto = "mailto:" + normalize_address(mailto)
        entries.append(f"<{_checked_uri(mailto, 'mailto:')}>")
    # Folded by hand between the entries; the policy emits raw headers as given.
    return ",\r\n ".join(entries)


def _text_part(content: str, subtype: str) -> EmailMessage:
    part = EmailMessage(policy=_POLICY)
    part.set_content(content, subtype=subtype, charset="utf-8", cte="quoted-printable")
    del part["MIME-Version"]  # set_content adds it; it belongs on the top level only
    return part


def _with_preheader(body: str, preheader: str | None) -> str:
    """Put the preheader first in the HTML body, hidden, so inboxes show it as preview."""
    if not preheader:
        return body
    hidden = (
        '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
        'opacity:0;overflow:hidden;mso-hide:all;color:transparent">'
        f"{html.escape(_single_line(preheader))}{_PREHEADER_FILLER}</div>"
    )
    match = _BODY_TAG.search(body)
    if match is None:
        return hidden + body
    return body[: match.end()] + hidden + body[match.end() :]
