"""Signed unsubscribe tokens: who wants out, proven without a database lookup.

A token is four dot-separated fields, all URL-safe without escaping::

    v1.<customer id, base64url, no padding>.<issued at, epoch seconds>.<HMAC-SHA256, base64url>

The MAC covers the version, customer id and issue time exactly as they are written in
the token (plus a fixed purpose label, so a MAC made for something else with the same
secret can never pass as an unsubscribe token). Nothing is decoded or trusted before
the MAC has been checked with a constant-time comparison. The version field lets the
format change later while old links keep working for as long as a verifier for their
version is kept.

Pure: the caller passes the secret and the times.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from lifecycle.exceptions import UnsubscribeTokenError

__all__ = [
    "DEFAULT_MAX_CLOCK_SKEW",
    "FORMAT_VERSION",
    "MIN_SECRET_BYTES",
    "make_token",
    "verify_token",
]

FORMAT_VERSION = "v1"
MIN_SECRET_BYTES = 16
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)

_PURPOSE = b"lifecycle-unsubscribe\x00"
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_SECONDS = re.compile(r"^[0-9]{1,12}$")
_MAC_CHARS = 43  # 32 bytes in unpadded base64


def make_token(secret: bytes, customer_id: str, issued_at: datetime) -> str:
    """Sign ``customer_id`` at ``issued_at`` (timezone-aware); the result fits in a URL."""
    _check_secret(secret)
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    seconds = int(issued_at.timestamp())
    if seconds < 0:
        raise ValueError("issued_at must not be before 1970")
    signed = f"{FORMAT_VERSION}.{_b64encode(customer_id.encode('utf-8'))}.{seconds}"
    return f"{signed}.{_b64encode(_mac(secret, signed))}"


def verify_token(
    secret: bytes,
    token: str,
    now: datetime,
    max_age: timedelta,
    *,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> str:
    """Return the customer id in ``token`` if it is genuine and not older than ``max_age``.

    Raises :class:`UnsubscribeTokenError` for anything else: wrong shape, unknown
    version, bad signature (forged, truncated, other secret) or expired. A token that
    claims to be issued more than ``max_clock_skew`` after ``now`` is refused too.
    """
    _check_secret(secret)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not token.isascii():
        raise UnsubscribeTokenError("malformed token")
    fields = token.split(".")
    if len(fields) != 4:
        raise UnsubscribeTokenError("malformed token")
    version, encoded_id, seconds, encoded_mac = fields
    if version != FORMAT_VERSION:
        raise UnsubscribeTokenError("unsupported token version")
    if (
        not _B64URL.fullmatch(encoded_id)
        or not _SECONDS.fullmatch(seconds)
        or len(encoded_mac) != _MAC_CHARS
        or not _B64URL.fullmatch(encoded_mac)
    ):
        raise UnsubscribeTokenError("malformed token")

    expected = _b64encode(_mac(secret, f"{version}.{encoded_id}.{seconds}"))
    if not hmac.compare_digest(expected.encode("ascii"), encoded_mac.encode("ascii")):
        raise UnsubscribeTokenError("bad signature")

    age = now.timestamp() - int(seconds)
    if age > max_age.total_seconds():
        raise UnsubscribeTokenError("expired token")
    if -age > max_clock_skew.total_seconds():
        raise UnsubscribeTokenError("token issued in the future")
    try:
        customer_id = _b64decode(encoded_id).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        # Only reachable with a correctly signed token we did not make ourselves.
        raise UnsubscribeTokenError("malformed token") from None
    if not customer_id:
        raise UnsubscribeTokenError("malformed token")
    return customer_id


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"unsubscribe secret must be at least {MIN_SECRET_BYTES} bytes")


def _mac(secret: bytes, signed: str) -> bytes:
    return hmac.new(secret, _PURPOSE + signed.encode("ascii"), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
