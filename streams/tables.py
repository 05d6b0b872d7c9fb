"""A Faust table of raw bytes behind the small key-value interface the core's indexes use.

The due index (:mod:`lifecycle.processing.due_index`) and the ledger's expiry index
(:mod:`lifecycle.mail.ledger_expiry`) keep their buckets in a table through ``get``, ``put`` and
``delete``. Writes and deletes go to the changelog partition of the event being processed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RawTableStore"]


class RawTableStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes) -> bytes | None:
        value = self.table.get(key)
        return value if value else None

    def put(self, key: bytes, value: bytes) -> None:
        self.table[key] = value

    def delete(self, key: bytes) -> None:
        # ``del table[key]`` of a missing key sends a tombstone, then raises KeyError.
        if key in self.table:
            del self.table[key]
