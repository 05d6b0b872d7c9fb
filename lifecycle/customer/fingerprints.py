"""Compact sets of recently seen ids, for dropping duplicates without storing the ids.

Each id becomes a 6-byte digest; a bounded, oldest-first run of digests is kept as one
base64 string. Two ids of one customer collide with probability about n²/2^49 (n = 32:
under 2e-12), which is the price of keeping state small.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["FINGERPRINT_BYTES", "contains", "remember"]

FINGERPRINT_BYTES = 6


def _digest(identifier: str) -> bytes:
    return hashlib.blake2b(identifier.encode(), digest_size=FINGERPRINT_BYTES).digest()


def _chunks(packed: str) -> list[bytes]:
    raw = base64.b64decode(packed) if packed else b""
    return [raw[i : i + FINGERPRINT_BYTES] for i in range(0, len(raw), FINGERPRINT_BYTES)]


def contains(packed: str, identifier: str) -> bool:
    return _digest(identifier) in _chunks(packed)


def remember(packed: str, identifier: str, keep: int) -> str:
    """``packed`` with ``identifier`` added, keeping the newest ``keep`` ids."""
    chunks = [*_chunks(packed), _digest(identifier)][-keep:]
    return base64.b64encode(b"".join(chunks)).decode()
