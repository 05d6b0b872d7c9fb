"""The small key-value interface the core's indexes keep their buckets in, and a memory store.

Bytes in, bytes out, keyed by bytes: exactly what a Faust table of raw bytes offers
(``streams.tables.RawTableStore`` in the worker) and what a dict offers (replay, tests,
benchmarks, and the worker's in-memory due indexes). The due index
(:mod:`lifecycle.processing.due_index`), the delivery ledger's expiry index
(:mod:`lifecycle.mail.ledger_expiry`) and the adaptive splits' counts are written against
this protocol only, so the same logic runs everywhere.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Protocol

__all__ = ["BytesStore", "MemoryBytesStore"]


class BytesStore(Protocol):
    """Bytes in, bytes out, keyed by bytes."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None:
        """Remove ``key``; a key that is not there is fine."""


class MemoryBytesStore:
    """:class:`BytesStore` over a dict (or any mutable mapping); counts its reads, which is
    the cost tests and benchmarks hold the indexes to."""

    def __init__(self, data: MutableMapping[bytes, bytes] | None = None) -> None:
        self.data: MutableMapping[bytes, bytes] = {} if data is None else data
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)
