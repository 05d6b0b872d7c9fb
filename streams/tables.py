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

:meth:`TableStateStore.filed_due_times` reads one partition's due times from the
states, which is how the engine agent fills that partition's due index (kept in memory,
see :mod:`lifecycle.processing.due_index`); a state that does not decode is set aside
there too, and reported by the caller.

A store given a :class:`WriteBehind` holds its writes there while a batch is open: reads
see them at once, the table gets them, in order and each for the event that made it,
only when the batch is written (:meth:`WriteBehind.write`): the last write of each key,
and every write that carries counted facts (the counters are journalled in them). The
engine agent writes a batch after the broker has acknowledged the batch's outbox
records, so no table ever says "sent" for a message the outbox may not hold; a crash
before that loses the held writes and the batch's records are processed again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from faust.types import EventT

from lifecycle.exceptions import LifecycleError
from lifecycle.processing import partition_of_key
from lifecycle.state import CustomerState
from streams.internals import acting_for, put_tracked

if TYPE_CHECKING:
    from streams.counters import Journal
    from streams.worker import RawTable

__all__ = [
    "RawTableStore",
    "TableStateStore",
    "UnreadableState",
    "UnreadableStateError",
    "WriteBehind",
]


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


@dataclass(frozen=True)
class _HeldWrite:
    event: EventT[Any]
    table: RawTable
    key: bytes
    #: None: a delete.
    value: bytes | None
    journal: Journal | None = None
    facts: tuple[Any, ...] = ()
    #: The customer whose state this is (state writes only).
    customer_id: str | None = None


class WriteBehind:
    """Table writes held back while a batch is processed; see the module docstring."""

    def __init__(self) -> None:
        self._open = False
        self._event: EventT[Any] | None = None
        self._held: list[_HeldWrite] = []
        #: The latest held value per (table, key), what reads see; None: deleted.
        self._latest: dict[tuple[int, bytes], bytes | None] = {}
        self._states: dict[str, CustomerState] = {}

    @property
    def holding(self) -> bool:
        return self._open

    def begin(self) -> None:
        """Hold writes from now on (a batch starts); nothing may be held yet."""
        if self._held:
            raise RuntimeError("a batch's writes were neither written nor discarded")
        self._open = True

    def working_for(self, event: EventT[Any]) -> None:
        """Writes held from now on belong to ``event`` (its partition's changelog)."""
        self._event = event

    def hold(
        self,
        table: RawTable,
        key: bytes,
        value: bytes | None,
        *,
        journal: Journal | None = None,
        facts: tuple[Any, ...] = (),
        state: CustomerState | None = None,
    ) -> None:
        if self._event is None:
            raise RuntimeError("a held write needs the event it belongs to")
        customer_id = None if state is None else state.customer_id
        self._held.append(_HeldWrite(self._event, table, key, value, journal, facts, customer_id))
        self._latest[(id(table), key)] = value
        if state is not None:
            self._states[state.customer_id] = state

    def lookup(self, table: RawTable, key: bytes) -> tuple[bool, bytes | None]:
        """(True, the latest held value) if a write of ``key`` is held, else (False, None)."""
        found = (id(table), key)
        if found in self._latest:
            return True, self._latest[found]
        return False, None

    def held_state(self, customer_id: str) -> CustomerState | None:
        return self._states.get(customer_id)

    def discard_states_of(self, customers: set[str]) -> int:
        """Drop the held state writes of ``customers`` (their outbox records failed).

        Other held writes stay: the due index and the adaptive splits' counts tolerate an
        entry the state does not back (the due walk refiles a stale entry)."""
        kept = [w for w in self._held if w.customer_id is None or w.customer_id not in customers]
        dropped = len(self._held) - len(kept)
        self._held = kept
        return dropped

    def write(self) -> list[tuple[EventT[Any], Exception]]:
        """Give the tables every held write, in order; the batch ends.

        Returns the writes that raised, with their event: each is tried, whatever the
        others did."""
        held, self._held = self._held, []
        self.end()
        # Only a key's last write reaches the table, except writes whose facts count:
        # the due index rewrites one bucket for many customers of a batch.
        last = {(id(w.table), w.key): n for n, w in enumerate(held)}
        failed = []
        for n, write in enumerate(held):
            if last[(id(write.table), write.key)] != n and not write.facts:
                continue
            try:
                with acting_for(write.event):
                    _apply(write)
            except Exception as exc:
                failed.append((write.event, exc))
        return failed

    def end(self) -> None:
        """Stop holding; whatever is still held is discarded."""
        self._open = False
        self._event = None
        self._held = []
        self._latest.clear()
        self._states.clear()


def _apply(write: _HeldWrite) -> None:
    table, key = write.table, write.key
    if write.value is None:
        _delete(table, key)
    elif write.journal is not None and write.facts:
        write.journal.track(put_tracked(table, key, write.value), write.facts)
    else:
        table[key] = write.value


def _delete(table: RawTable, key: bytes) -> None:
    # ``del table[key]`` of a missing key sends a tombstone, then raises KeyError.
    if key in table:
        del table[key]


class RawTableStore:
    def __init__(self, table: RawTable, write_behind: WriteBehind | None = None) -> None:
        self.table = table
        self.write_behind = write_behind

    def get(self, key: bytes) -> bytes | None:
        behind = self.write_behind
        if behind is not None and behind.holding:
            held, value = behind.lookup(self.table, key)
            if held:
                return value
        value = self.table.get(key)
        return value if value else None

    def put(self, key: bytes, value: bytes) -> None:
        behind = self.write_behind
        if behind is not None and behind.holding:
            behind.hold(self.table, key, value)
        else:
            self.table[key] = value

    def delete(self, key: bytes) -> None:
        behind = self.write_behind
        if behind is not None and behind.holding:
            behind.hold(self.table, key, None)
        else:
            _delete(self.table, key)

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """The table's keys that start with ``prefix`` (held writes aside)."""
        return [key for key in list(self.table.keys()) if key.startswith(prefix)]


class TableStateStore:
    """Customer state by customer id.

    With a ``journal``, a state that carries counted facts is written through
    :func:`~streams.internals.put_tracked`, and the journal counts the facts once the
    broker acknowledges the changelog record (see :mod:`streams.counters.store`).
    """

    def __init__(
        self,
        table: RawTable,
        journal: Journal | None = None,
        write_behind: WriteBehind | None = None,
    ) -> None:
        self.table = table
        self.journal = journal
        self.write_behind = write_behind
        self._set_aside: list[UnreadableState] | None = None

    def get(self, customer_id: str) -> CustomerState | None:
        behind = self.write_behind
        if behind is not None and behind.holding:
            held = behind.held_state(customer_id)
            if held is not None:
                return held
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

    def filed_due_times(
        self, partition: int, partitions: int, unreadable: list[UnreadableState]
    ) -> Iterator[tuple[str, datetime]]:
        """(customer, next due time) of every stored state of ``partition`` that is due
        some time; states that do not decode go to ``unreadable``.

        The table holds the states of every partition this worker reads (and, on the
        memory store, some it read before); a customer's partition is the one the
        customer-events topic's partitioner gives their id, which is where the engine
        wrote their state."""
        # Over a copy of the keys: the caller may let the loop run between states.
        for key in list(self.table.keys()):
            if partition_of_key(key, partitions) != partition:
                continue
            customer_id = key.decode("utf-8", "replace")
            raw = self.table.get(key)
            if not raw:
                continue
            try:
                due = CustomerState.from_bytes(raw).next_due_at
            except Exception as exc:  # whatever the decoder raises: the bytes are the problem
                unreadable.append(UnreadableState(customer_id, raw, type(exc).__name__))
                continue
            if due is not None:
                yield customer_id, due

    def put(self, state: CustomerState) -> None:
        key, value = state.customer_id.encode(), state.to_bytes()
        behind = self.write_behind
        if behind is not None and behind.holding:
            journal = self.journal if state.facts else None
            behind.hold(self.table, key, value, journal=journal, facts=state.facts, state=state)
        elif self.journal is not None and state.facts:
            self.journal.track(put_tracked(self.table, key, value), state.facts)
        else:
            self.table[key] = value
