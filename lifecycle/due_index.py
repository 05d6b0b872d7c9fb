"""The per-partition due index: which customers need a look at which time.

Customers are filed in time buckets (one key per bucket). A tick reads only the buckets
between the partition's cursor and the tick time, so its cost follows the number of
customers due, never the number of customers. The storage is behind
:class:`DueIndexStore` so the same logic runs over a Faust table in the worker and over a
dict in replay and tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["DueIndex", "DueIndexStore", "MemoryDueIndexStore"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    """Exact integer microseconds since the epoch (floats would not round-trip)."""
    return (at - _EPOCH) // _MICROSECOND


class DueIndexStore(Protocol):
    """Bytes in, bytes out, keyed by bytes: what a Faust table or a dict offers."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class MemoryDueIndexStore:
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


class DueIndex:
    """The due index of one partition. ``bucket_seconds`` trades key count for bucket size.

    Each bucket holds ``[customer_id, due epoch microseconds]`` pairs, so a tick can tell
    who is due without reading any state: a state is read only for a customer that is due.
    """

    def __init__(self, store: DueIndexStore, partition: int, bucket_seconds: int = 60) -> None:
        self.store = store
        self.partition = partition
        self.bucket_seconds = bucket_seconds
        self._cursor_key = f"due:{partition}:cursor".encode()

    def bucket_of(self, at: datetime) -> int:
        return int(at.timestamp() // self.bucket_seconds)

    def _key(self, bucket: int) -> bytes:
        return f"due:{self.partition}:{bucket}".encode()

    def _entries(self, bucket: int) -> list[tuple[str, int]]:
        raw = self.store.get(self._key(bucket))
        return [(str(c), int(t)) for c, t in json.loads(raw)] if raw else []

    def _write(self, bucket: int, entries: list[tuple[str, int]]) -> None:
        if entries:
            self.store.put(self._key(bucket), json.dumps(entries, separators=(",", ":")).encode())
        else:
            self.store.delete(self._key(bucket))

    def cursor(self) -> int | None:
        raw = self.store.get(self._cursor_key)
        return int(raw) if raw else None

    def reschedule(self, customer_id: str, old: datetime | None, new: datetime | None) -> None:
        """Move a customer's entry from due time ``old`` to ``new`` (None: not filed)."""
        if old == new and old is not None:
            return
        if old is not None and new is not None and self.bucket_of(old) == self.bucket_of(new):
            bucket = self.bucket_of(new)  # one read-modify-write instead of two
            entries = [e for e in self._entries(bucket) if e != (customer_id, _micros(old))]
            self._write(bucket, [*entries, (customer_id, _micros(new))])
            return
        if old is not None:
            bucket = self.bucket_of(old)
            entries = self._entries(bucket)
            kept = [e for e in entries if e != (customer_id, _micros(old))]
            if len(kept) != len(entries):
                self._write(bucket, kept)
        if new is not None:
            bucket = self.bucket_of(new)
            entries = self._entries(bucket)
            entry = (customer_id, _micros(new))
            if entry not in entries:
                entries.append(entry)
                self._write(bucket, entries)
            cursor = self.cursor()
            if cursor is None or bucket < cursor:
                self.store.put(self._cursor_key, str(bucket).encode())

    def candidates(self, now: datetime) -> Iterator[tuple[datetime, str]]:
        """(filed due time, customer) for every entry due at or before ``now``, oldest first.

        The caller reads each customer's state, handles it and calls :meth:`reschedule`;
        then :meth:`advance_cursor` once the tick is done.
        """
        cursor = self.cursor()
        if cursor is None:
            return
        limit = _micros(now)
        for bucket in range(cursor, self.bucket_of(now) + 1):
            for customer_id, due in sorted(self._entries(bucket), key=lambda e: e[1]):
                if due <= limit:
                    yield _EPOCH + timedelta(microseconds=due), customer_id

    def advance_cursor(self, now: datetime) -> None:
        """Move the cursor to the first bucket that still has entries, at most ``now``'s."""
        cursor = self.cursor()
        if cursor is None:
            return
        last = self.bucket_of(now)
        bucket = cursor
        while bucket < last and not self._entries(bucket):
            bucket += 1
        if bucket != cursor:
            self.store.put(self._cursor_key, str(bucket).encode())
