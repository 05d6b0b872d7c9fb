"""Turn an outbox record into the exact bytes that go over SMTP (RFC 5322 + MIME).

Pure: no I/O, no clock (``now`` is a parameter) and no randomness, so the same record
and ``now`` always give the same bytes. The MIME boundary is derived from the
Message-ID for that reason. The bytes are written here, line by line: no stdlib
``EmailMessage``, header registry or generator is involved (the container alone cost
about 0.7 ms a message, 14 times this writer; ``python -m benchmarks.mime``), and the
layout is the one they wrote, byte for byte for ordinary text.

What comes out:

- ``multipart/alternative`` with a text part and an HTML part, both UTF-8 and
  quoted-printable, so the message is 7-bit clean and needs no 8BITMIME from the
  server while staying readable in a ``.eml`` file;
- ``From``, ``To``, optional ``Reply-To``, ``Subject``, ``Date``, ``Message-ID``,
  ``MIME-Version``; non-ASCII display names and subjects become RFC 2047 encoded
  words (written here, see below);
- for marketing mail, ``List-Unsubscribe`` (https + optional mailto) and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058). Transactional mail
  gets neither, even when links are passed;
- in marketing mail, the ``unsubscribe_url`` placeholder
  (:mod:`lifecycle.mail.unsubscribe_placeholder`) replaced everywhere by the same https URL
  as in ``List-Unsubscribe``, so the visible link and the header agree. Transactional
  mail that still holds the placeholder is refused: it has no link to put there, and a
  dead "unsubscribe" link is worse than no email.

Header injection (issue 10): nothing from customer data, templates or settings reaches
a header through any header parser, so what the stdlib version does with it
(CVE-2024-6923 was fixed only in later 3.11 and 3.12 patch releases) does not matter.

* Display names, the subject and the preheader go through :func:`header_text`: every
  run of control characters (C0, DEL, C1), Unicode line and paragraph separators,
  bidi embeddings, overrides and isolates, and lone surrogates becomes one space, and
  the ends are stripped. The result is one line of text. In a display name every run
  of whitespace becomes one space too (:func:`display_name`), as parsers show it.
* This module writes the header values itself: plain when the text is printable ASCII
  that cannot be read as anything else (no ``=?`` anywhere; a display name of atoms,
  or one quoted string), folded at spaces; otherwise as RFC 2047 ``=?utf-8?b?...?=``
  words of at most 68 characters, whole characters each, one per folded line. A
  receiver therefore decodes exactly the text we meant: an encoded word a customer
  typed into a name arrives as that literal text, never as the CR/LF, header or
  address it would decode to, and the ``To`` display shows the name as given. (A
  display name longer than one encoded word, 42 bytes of UTF-8, is split into several;
  RFC 2047 joins them exactly, Python's own parser before the gh-128110 fix shows a
  space between them.)
* Those headers are emitted as written, one per line (CRLF); every line is ASCII, and
  within 78 columns except where one address alone is longer.
* Addresses (:func:`normalize_address`, the rules of :mod:`lifecycle.addresses`), the
  Message-ID and unsubscribe links are validated and rejected with
  :class:`EmailBuildError` instead, because silently "repairing" an address would send
  mail somewhere else.
* The bodies are quoted-printable (:func:`binascii.b2a_qp`, after CR LF and lone CR
  became LF, with a final line end added), inside a boundary that quoted-printable
  cannot produce, so no text in them can end a part or start a header: every CR and LF
  on the wire is a CRLF line end the writer put there. A body that is not Unicode text
  (a lone surrogate) is refused with :class:`EmailBuildError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from lifecycle.addresses import ascii_address
from lifecycle.exceptions import EmailBuildError
from lifecycle.mail.outbox import OutboxMessage
from lifecycle.mail.unsubscribe_placeholder import contains_placeholder, fill_placeholder

__all__ = [
    "Mailbox",
    "UnsubscribeLinks",
    "build_email",
    "display_name",
    "header_text",
    "normalize_address",
]

# C0 and C1 controls, DEL, the Unicode separators that str.splitlines() treats as line
# ends, bidi embeddings/overrides/isolates (they reorder what a mail client shows) and
# lone surrogates (not encodable): each run becomes one space in a header.
_NOT_IN_HEADERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]+"
)
_SURROGATES = re.compile("[\ud800-\udfff]")
# What may stand in a header unencoded: printable ASCII; in a display name, RFC 5322
# atext and single spaces between atoms (anything else would need quoting).
_PLAIN_TEXT = re.compile(r"[ -~]+")
_PLAIN_PHRASE = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*"
)
# A folded header line stays within RFC 5322's recommended 78 characters.
_LINE = 78
# Bytes of UTF-8 per encoded word: 56 base64 characters, 68 with "=?utf-8?b?" and "?=",
# within RFC 2047's 75, and short enough that "Reply-To: " and a first word fit in 78
# columns (a line break right after the colon would read as a leading space).
_WORD_BYTES = 42
# A quoted display name longer than this is encoded instead (RFC 5322 lines: 998).
_MAX_QUOTED = 600
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

    headers = [
        f"From: {_mailbox_header('From', sender)}",
        f"To: {_mailbox_header('To', Mailbox(message.to_address, message.to_name))}",
    ]
    if reply_to is not None:
        headers.append(f"Reply-To: {_mailbox_header('Reply-To', reply_to)}")
    headers += [
        f"Subject: {_encoded_header('Subject', header_text(message.subject))}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    if unsubscribe is not None and message.category == "marketing":
        headers.append(f"List-Unsubscribe: {_list_unsubscribe_value(unsubscribe)}")
        headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    # Quoted-printable never produces "==", so this boundary cannot occur in a body.
    boundary = "==" + hashlib.sha256(message_id.encode()).hexdigest()[:32] + "=="
    headers.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return b"".join(
        (
            "\r\n".join(headers).encode("ascii"),
            b"\r\n",
            delimiter,
            _text_part(message.text, "plain"),
            delimiter,
            _text_part(_with_preheader(message.html, message.preheader), "html"),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


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

    Use the same function for the SMTP envelope, so envelope and header agree. The rules
    are :mod:`lifecycle.addresses`' (a one-label domain such as ``localhost`` is allowed
    here, for the worker's own sender); a non-ASCII local part would need SMTPUTF8 and is
    refused.
    """
    try:
        return ascii_address(address.strip(), dotted_domain=False)
    except ValueError as exc:
        raise EmailBuildError(f"invalid email address: {exc}") from None


def header_text(text: str) -> str:
    """``text`` as one line fit for a header: each run of control characters, line or
    paragraph separators, bidi controls and lone surrogates becomes one space."""
    return _NOT_IN_HEADERS.sub(" ", text).strip()


def display_name(name: str | None) -> str:
    """A display name as it goes into a header: :func:`header_text`, with each run of
    whitespace (a no-break space too) as one space, as parsers show a display name."""
    return " ".join(header_text(name).split()) if name else ""


def _mailbox_header(name: str, mailbox: Mailbox) -> str:
    address = normalize_address(mailbox.address)
    display = display_name(mailbox.name)
    if not display:
        return address
    quoted = _quoted_phrase(display)
    if quoted is not None:
        return _folded(name, [quoted, f"<{address}>"])
    return _encoded_header(name, display, phrase=True, suffix=f"<{address}>")


def _quoted_phrase(text: str) -> str | None:
    """``text`` as a display name without encoding (atoms, or one quoted string), or None.

    Never for text holding ``=?``: the email package decodes encoded words even inside
    quoted strings.
    """
    if "=?" in text or "  " in text or not _PLAIN_TEXT.fullmatch(text):
        return None
    if _PLAIN_PHRASE.fullmatch(text) and not _has_long_word(text):
        return text
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return quoted if len(quoted) <= _MAX_QUOTED else None


def _encoded_header(name: str, text: str, *, phrase: bool = False, suffix: str = "") -> str:
    """The value of header ``name`` holding ``text`` (already one line), then ``suffix``.

    Written by hand rather than by the email package: see the module docstring.
    """
    words = None if phrase else _plain_words(text)
    if words is None:
        words = _encoded_words(text)
    return _folded(name, [*words, suffix] if suffix else words)


def _folded(name: str, words: list[str]) -> str:
    """``words`` joined by spaces, a line break before any that would pass 78 columns
    (never before the first: a break right after the colon reads as a leading space)."""
    lines: list[str] = []
    line = f"{name}:"
    for index, word in enumerate(words):
        if index and len(line) + 1 + len(word) > _LINE:
            lines.append(line)
            line = ""
        line = f"{line} {word}"
    lines.append(line)
    return "\r\n".join(lines)[len(name) + 2 :]


def _has_long_word(text: str) -> bool:
    return any(len(word) > _LINE - 1 for word in text.split(" "))


def _plain_words(text: str) -> list[str] | None:
    """The words of unstructured ``text`` if it can be written as it is, else None.

    Folding happens only at a space between two words, and unfolding removes just the
    line break, so a receiver reads the same text; a word too long for one line, and any
    text that a receiver could read as an encoded word, gets encoded instead.
    """
    if not text or "=?" in text or not _PLAIN_TEXT.fullmatch(text) or _has_long_word(text):
        return None
    return text.split(" ")


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 ``B`` words of UTF-8, each whole characters and at most 75 characters."""
    words: list[str] = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_word(chunk))
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(_word(chunk))
    return words


def _word(raw: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(raw).decode("ascii") + "?="


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


def _text_part(content: str, subtype: str) -> bytes:
    """A body part: its two headers, a blank line and the content quoted-printable, with
    CRLF line ends and a final one (no text can end the part: see the module docstring)."""
    if _SURROGATES.search(content):
        raise EmailBuildError(f"the {subtype} body is not Unicode text (a lone surrogate)")
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    # b2a_qp keeps LF line breaks as they are (none other is left) and encodes what needs
    # it: "=", bytes above 126 and below 33 but tab and space, whitespace before a line
    # end, a "." alone on a line; soft breaks ("=" at the end) keep lines within 76.
    body = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    return head.encode("ascii") + body


def _with_preheader(body: str, preheader: str | None) -> str:
    """Put the preheader first in the HTML body, hidden, so inboxes show it as preview."""
    if not preheader:
        return body
    hidden = (
        '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
        'opacity:0;overflow:hidden;mso-hide:all;color:transparent">'
        f"{html.escape(header_text(preheader))}{_PREHEADER_FILLER}</div>"
    )
    match = _BODY_TAG.search(body)
    if match is None:
        return hidden + body
    return body[: match.end()] + hidden + body[match.end() :]
