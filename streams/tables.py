"""The core's store protocols over Faust tables of raw bytes.

:class:`RawTableStore` is the :class:`~lifecycle.kv.BytesStore` the due index
(:mod:`lifecycle.processing.due_index`) and the ledger's expiry index
(:mod:`lifecycle.mail.ledger_expiry`) keep their buckets in; :class:`TableStateStore` is the
:class:`~lifecycle.processing.StateStore` of customer state, serialized by the core's own
codec. Writes and deletes go to the changelog partition of the event being processed, so
they may only happen inside an agent's stream iteration.

A stored state that no longer decodes (written by a version that is gone, or by hand)
must neither crash the engine nor be mistaken for a new customer: reading it raises
:class:`UnreadableStateError`, so the event that needed it is dead-lettered and the
stored bytes stay as they are. Only while a tick walks the due customers
(:meth:`TableStateStore.skipping_unreadable`) is such a state read as "no state" and set
aside, so one bad state cannot stop every other due customer of its partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lifecycle.exceptions import LifecycleError
from lifecycle.state import CustomerState
from streams.internals import put_tracked

if TYPE_CHECKING:
    from streams.counters import Journal
    from streams.worker import RawTable

__all__ = ["RawTableStore", "TableStateStore", "UnreadableState", "UnreadableStateError"]


@dataclass(frozen=True)
class UnreadableState:
    customer_id: str
    raw: bytes
    #: The decoder's exception type (its message may quote the stored data).
    error: str


class UnreadableStateError(LifecycleError):
    """A stored customer state that does not decode."""

    def __init__(self, unreadable: UnreadableState) -> None:
        super().__init__(f"the stored customer state does not decode ({unreadable.error})")
        self.unreadable = unreadable


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
    """Customer state by customer id.

    With a ``journal``, a state that carries counted facts is written through
    :func:`~streams.internals.put_tracked`, and the journal counts the facts once the
    broker acknowledges the changelog record (see :mod:`streams.counters.store`).
    """

    def __init__(self, table: RawTable, journal: Journal | None = None) -> None:
        self.table = table
        self.journal = journal
        self._set_aside: list[UnreadableState] | None = None

    def get(self, customer_id: str) -> CustomerState | None:
        raw = self.table.get(customer_id.encode())
        if raw is None:
            return None
        try:
            return CustomerState.from_bytes(raw)
        except Exception as exc:  # whatever the decoder raises: the bytes are the problem
            unreadable = UnreadableState(customer_id, raw, type(exc).__name__)
            if self._set_aside is None:
                raise UnreadableStateError(unreadable) from None
            self._set_aside.append(unreadable)
            return None

    @contextmanager
    def skipping_unreadable(self) -> Iterator[list[UnreadableState]]:
        """Within the block, an unreadable state reads as None and is added to the list."""
        previous, self._set_aside = self._set_aside, []
        try:
            yield self._set_aside
        finally:
            self._set_aside = previous

    def put(self, state: CustomerState) -> None:
        key, value = state.customer_id.encode(), state.to_bytes()
        if self.journal is not None and state.facts:
            self.journal.track(put_tracked(self.table, key, value), state.facts)
        else:
            self.table[key] = value
