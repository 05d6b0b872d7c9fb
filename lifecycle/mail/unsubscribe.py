"""Unsubscribe tokens: who wants out, proven without a database lookup, and not readable.

The token issued now (version 2) is three dot-separated fields, URL-safe without
escaping::

    v2.<issued at, epoch seconds>.<AES-SIV ciphertext of the customer id, base64url>

AES-SIV (RFC 5297, AES-256) is a deterministic authenticated cipher: the customer id is
encrypted, so a link no longer shows it to whoever sees the URL (the recipient, a mail
scanner, a proxy log), and the token is still verified without any lookup. The version,
the issue time and a fixed purpose label are authenticated as associated data, so
neither can be changed, and a ciphertext made for something else with the same secret
never passes. Nothing is decrypted or trusted before the tag has been checked (SIV
checks it as part of decryption). Deterministic on purpose: the same customer and issue
second give the same token, so building an email stays a pure function. The id is
padded to a multiple of 16 bytes, so a token tells the id's length only to within 16.

The key is derived from the operator's secret with HKDF-SHA256 (its own ``info`` label),
so the secret itself is never used as a cipher key and a future version can derive a
different one.

Version 1 (``v1.<id, base64url>.<seconds>.<HMAC-SHA256>``) carried the id in readable
base64. It is no longer issued, but still verified until it expires (the same
``max_age``): links already in mailboxes must keep working, or a recipient could not get
out (CAN-SPAM asks for 30 days). Any other version is refused as such.

:func:`open_token` returns the issue time as well as the customer id, so the
``consent.changed`` event made from a click can say when the link was issued: an opt-out
through a link sent before a later opt-in must not undo it (see
:mod:`lifecycle.customer.apply`).

Pure: the caller passes the secret and the times.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lifecycle.exceptions import UnsubscribeTokenError

__all__ = [
    "DEFAULT_MAX_CLOCK_SKEW",
    "FORMAT_VERSION",
    "MIN_SECRET_BYTES",
    "UnsubscribeRequest",
    "make_token",
    "make_v1_token",
    "open_token",
    "verify_token",
]

FORMAT_VERSION = "v2"
MIN_SECRET_BYTES = 16
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)

_PURPOSE = b"lifecycle-unsubscribe\x00"
_HKDF_INFO = b"lifecycle-unsubscribe v2 AES-256-SIV"
_BLOCK = 16
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_SECONDS = re.compile(r"^[0-9]{1,12}$")
_MAC_CHARS = 43  # 32 bytes in unpadded base64
# A v2 ciphertext: the 16-byte tag and at least one 16-byte block, at most what a
# 200-character id of 4-byte characters pads to.
_MIN_SEALED_BYTES = 2 * _BLOCK
_MAX_SEALED_BYTES = _BLOCK + 816


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    """What a genuine token says: who, and when the link was issued."""

    customer_id: str
    issued_at: datetime


def make_token(secret: bytes, customer_id: str, issued_at: datetime) -> str:
    """Seal ``customer_id`` at ``issued_at`` (timezone-aware); the result fits in a URL."""
    seconds = _issue_seconds(secret, customer_id, issued_at)
    sealed = _cipher(secret).encrypt(_padded(customer_id.encode("utf-8")), _v2_data(seconds))
    return f"{FORMAT_VERSION}.{seconds}.{_b64encode(sealed)}"


def make_v1_token(secret: bytes, customer_id: str, issued_at: datetime) -> str:
    """A version 1 token, as links sent before version 2 carry: only for tests and tools
    that need one; the worker issues :func:`make_token`'s."""
    seconds = _issue_seconds(secret, customer_id, issued_at)
    signed = f"v1.{_b64encode(customer_id.encode('utf-8'))}.{seconds}"
    return f"{signed}.{_b64encode(_mac(secret, signed))}"


def verify_token(
    secret: bytes,
    token: str,
    now: datetime,
    max_age: timedelta,
    *,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> str:
    """The customer id in ``token`` if it is genuine and not older than ``max_age``.

    Raises :class:`UnsubscribeTokenError` as :func:`open_token` does.
    """
    return open_token(secret, token, now, max_age, max_clock_skew=max_clock_skew).customer_id


def open_token(
    secret: bytes,
    token: str,
    now: datetime,
    max_age: timedelta,
    *,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> UnsubscribeRequest:
    """Who ``token`` unsubscribes and when it was issued, if it is genuine and not older
    than ``max_age``.

    Raises :class:`UnsubscribeTokenError` for anything else: wrong shape, unknown
    version, bad signature (forged, truncated, other secret) or expired. A token that
    claims to be issued more than ``max_clock_skew`` after ``now`` is refused too. The
    reason never echoes the token.
    """
    _check_secret(secret)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not token.isascii():
        raise UnsubscribeTokenError("malformed token")
    fields = token.split(".")
    version = fields[0]
    if version == FORMAT_VERSION:
        customer_id, seconds = _open_v2(secret, fields)
    elif version == "v1":
        customer_id, seconds = _open_v1(secret, fields)
    else:
        raise UnsubscribeTokenError("unsupported token version")
    age = now.timestamp() - seconds
    if age > max_age.total_seconds():
        raise UnsubscribeTokenError("expired token")
    if -age > max_clock_skew.total_seconds():
        raise UnsubscribeTokenError("token issued in the future")
    # Within max_age and the skew of now: a datetime can hold it.
    return UnsubscribeRequest(customer_id, datetime.fromtimestamp(seconds, UTC))


def _open_v2(secret: bytes, fields: list[str]) -> tuple[str, int]:
    if len(fields) != 3:
        raise UnsubscribeTokenError("malformed token")
    _, seconds, encoded = fields
    if not _SECONDS.fullmatch(seconds) or not _B64URL.fullmatch(encoded):
        raise UnsubscribeTokenError("malformed token")
    try:
        sealed = _b64decode(encoded)
    except (binascii.Error, ValueError):
        raise UnsubscribeTokenError("malformed token") from None
    if not _MIN_SEALED_BYTES <= len(sealed) <= _MAX_SEALED_BYTES or _b64encode(sealed) != encoded:
        # The second test refuses a non-canonical base64 text of the same bytes, so one
        # token has exactly one spelling.
        raise UnsubscribeTokenError("malformed token")
    try:
        padded = _cipher(secret).decrypt(sealed, _v2_data(seconds))
    except InvalidTag:
        raise UnsubscribeTokenError("bad signature") from None
    return _customer_id(_unpadded(padded)), int(seconds)


def _open_v1(secret: bytes, fields: list[str]) -> tuple[str, int]:
    if len(fields) != 4:
        raise UnsubscribeTokenError("malformed token")
    version, encoded_id, seconds, encoded_mac = fields
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
    try:
        raw = _b64decode(encoded_id)
    except (binascii.Error, ValueError):
        # Only reachable with a correctly signed token we did not make ourselves.
        raise UnsubscribeTokenError("malformed token") from None
    return _customer_id(raw), int(seconds)


def _customer_id(raw: bytes | None) -> str:
    try:
        customer_id = None if raw is None else raw.decode("utf-8")
    except UnicodeDecodeError:
        customer_id = None
    if not customer_id:
        # Only reachable with a genuine token we did not make ourselves.
        raise UnsubscribeTokenError("malformed token")
    return customer_id


def _issue_seconds(secret: bytes, customer_id: str, issued_at: datetime) -> int:
    _check_secret(secret)
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    seconds = int(issued_at.timestamp())
    if seconds < 0:
        raise ValueError("issued_at must not be before 1970")
    return seconds


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"unsubscribe secret must be at least {MIN_SECRET_BYTES} bytes")


@lru_cache(maxsize=8)
def _cipher(secret: bytes) -> AESSIV:
    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_HKDF_INFO).derive(secret)
    return AESSIV(key)


def _v2_data(seconds: int | str) -> list[bytes]:
    return [_PURPOSE + f"{FORMAT_VERSION}.{seconds}".encode("ascii")]


def _padded(raw: bytes) -> bytes:
    """PKCS#7: 1-16 bytes, each the pad length."""
    count = _BLOCK - len(raw) % _BLOCK
    return raw + bytes([count]) * count


def _unpadded(padded: bytes) -> bytes | None:
    count = padded[-1] if padded else 0
    if not 1 <= count <= _BLOCK or padded[-count:] != bytes([count]) * count:
        return None
    return padded[:-count]


def _mac(secret: bytes, signed: str) -> bytes:
    return hmac.new(secret, _PURPOSE + signed.encode("ascii"), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
