"""The ``unsubscribe_url`` merge tag: a fixed placeholder now, the signed link at delivery.

Templates render when the engine decides to send, where there is neither the
unsubscribe secret nor the time of sending; the token is signed when the email is
built. So a marketing template's ``{{ unsubscribe_url }}`` renders to
:data:`UNSUBSCRIBE_URL_PLACEHOLDER`, and :func:`lifecycle.mail.mime.build_email` replaces
every occurrence with the same signed URL that goes into ``List-Unsubscribe``.

The placeholder is an https URL on the reserved ``.invalid`` domain (RFC 2606) made of
characters that HTML autoescaping, quoted-printable and the text-to-HTML linker all
leave unchanged, so it arrives at delivery exactly as written here. Should it ever
reach a reader unreplaced it leads nowhere.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import html

__all__ = ["UNSUBSCRIBE_URL_PLACEHOLDER", "contains_placeholder", "fill_placeholder"]

UNSUBSCRIBE_URL_PLACEHOLDER = "https://unsubscribe.invalid/lifecycle-unsubscribe-url"


def contains_placeholder(*texts: str | None) -> bool:
    return any(text is not None and UNSUBSCRIBE_URL_PLACEHOLDER in text for text in texts)


def fill_placeholder(text: str, url: str, *, is_html: bool) -> str:
    """Replace every placeholder in ``text`` with ``url`` (HTML-escaped in HTML).

    The escaping matters only for an ``&`` in a configured base URL; a token is
    base64url and dots, which HTML leaves alone.
    """
    link = html.escape(url, quote=True) if is_html else url
    return text.replace(UNSUBSCRIBE_URL_PLACEHOLDER, link)
