"""The core's store protocols over Faust tables of raw bytes.

:class:`RawTableStore` is the :class:`~lifecycle.kv.BytesStore` the due index
(:mod:`lifecycle.processing.due_index`) and the ledger's expiry index
(:mod:`lifecycle.mail.ledger_expiry`) keep their buckets in; :class:`TableStateStore` is the
:class:`~lifecycle.processing.StateStore` of customer state, serialized by the core's own
codec. Writes and deletes go to the changelog partition of the event being processed, so
they may only happen inside an agent's stream iteration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifecycle.state import CustomerState

if TYPE_CHECKING:
    from streams.worker import RawTable

__all__ = ["RawTableStore", "TableStateStore"]


class RawTableStore:
    def __init__(self, table: RawTable) -> None:
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


class TableStateStore:
    """Customer state by customer id."""

    def __init__(self, table: RawTable) -> None:
        self.table = table

    def get(self, customer_id: str) -> CustomerState | None:
        raw = self.table.get(customer_id.encode())
        return None if raw is None else CustomerState.from_bytes(raw)

    def put(self, state: CustomerState) -> None:
        self.table[state.customer_id.encode()] = state.to_bytes()
