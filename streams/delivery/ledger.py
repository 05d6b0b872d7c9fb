"""The delivery ledger as delivery uses it: over a Faust table, with acknowledged writes.

:class:`FaustLedger` reads and writes :class:`~lifecycle.mail.ledger.LedgerEntry` values in the
``delivery-ledger`` table and can wait for the broker to acknowledge a write (the
``committing`` mark before the final dot). The pure expiry index
(:mod:`lifecycle.mail.ledger_expiry`) reads the same table through
:class:`~streams.tables.RawTableStore`.
:class:`KeyedLocks` serialises the attempts of one Message-ID inside the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from lifecycle.exceptions import LifecycleError
from lifecycle.mail import LedgerEntry
from streams.counters import Journal
from streams.internals import put_acknowledged, put_tracked

__all__ = [
    "CommitNotDurableError",
    "DeliveryLedger",
    "DuplicateAttemptError",
    "FaustLedger",
    "KeyedLocks",
]


class DuplicateAttemptError(LifecycleError):
    """Raised in ``before_commit``: another attempt of this message got there first."""


class CommitNotDurableError(LifecycleError):
    """Raised in ``before_commit``: the broker did not acknowledge ``committing`` in time."""


class DeliveryLedger(Protocol):
    """The delivery ledger as delivery needs it (a Faust table in the worker, a dict in tests)."""

    def get(self, key: bytes) -> LedgerEntry | None: ...

    def put(self, key: bytes, entry: LedgerEntry) -> None:
        """Record ``entry``; the changelog write is Faust's, in the background."""

    def delete(self, key: bytes) -> None:
        """Forget ``key`` (a tombstone on the changelog, in the background)."""

    async def put_acknowledged(self, key: bytes, entry: LedgerEntry, *, within: float) -> None:
        """Record ``entry`` and return once the broker acknowledged it; raise otherwise."""


class FaustLedger:
    """:class:`DeliveryLedger` over the ``delivery-ledger`` Faust table.

    With a ``journal``, an entry that carries counted facts (a final state) is written
    through :func:`~streams.internals.put_tracked` and counted once acknowledged.
    """

    def __init__(self, table: Any, journal: Journal | None = None) -> None:
        self.table = table
        self.journal = journal

    def get(self, key: bytes) -> LedgerEntry | None:
        raw = self.table.get(key)
        return None if raw is None else LedgerEntry.from_bytes(raw)

    def put(self, key: bytes, entry: LedgerEntry) -> None:
        if self.journal is not None and entry.facts:
            self.journal.track(put_tracked(self.table, key, entry.to_bytes()), entry.facts)
        else:
            self.table[key] = entry.to_bytes()

    def delete(self, key: bytes) -> None:
        if key in self.table:  # ``del`` of a missing key sends a tombstone, then raises
            del self.table[key]

    async def put_acknowledged(self, key: bytes, entry: LedgerEntry, *, within: float) -> None:
        """Write ``entry`` and return once the broker acknowledged its changelog record
        (see :func:`streams.internals.put_acknowledged`); raise
        :class:`CommitNotDurableError` otherwise."""
        try:
            await put_acknowledged(self.table, key, entry.to_bytes(), within=within)
        except Exception as exc:
            raise CommitNotDurableError(
                f"the ledger's changelog did not acknowledge {entry.state!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
