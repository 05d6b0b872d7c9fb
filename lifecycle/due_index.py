"""The per-partition due index: which customers need a look at which time.

Customers are filed in time buckets (one key per bucket). A tick reads only the buckets
between the partition's cursor and the tick time, so its cost follows the number of
customers due, never the number of customers. The storage is behind
:class:`DueIndexStore` so the same logic runs over a Faust table in the worker and over a
dict in replay and tests.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["DueIndex", "DueIndexStore", "MemoryDueIndexStore"]

_SEPARATOR = "\n"


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
    """The due index of one partition. ``bucket_seconds`` trades key count for bucket size."""

    def __init__(self, store: DueIndexStore, partition: int, bucket_seconds: int = 60) -> None:
        self.store = store
        self.partition = partition
        self.bucket_seconds = bucket_seconds
        self._cursor_key = f"due:{partition}:cursor".encode()

    def bucket_of(self, at: datetime) -> int:
        return int(at.astimezone(UTC).timestamp()) // self.bucket_seconds

    def _key(self, bucket: int) -> bytes:
        return f"due:{self.partition}:{bucket}".encode()

    def _members(self, bucket: int) -> list[str]:
        raw = self.store.get(self._key(bucket))
        return raw.decode().split(_SEPARATOR) if raw else []

    def _write(self, bucket: int, members: list[str]) -> None:
        if members:
            self.store.put(self._key(bucket), _SEPARATOR.join(members).encode())
        else:
            self.store.delete(self._key(bucket))

    def cursor(self) -> int | None:
        raw = self.store.get(self._cursor_key)
        return int(raw) if raw else None

    def reschedule(self, customer_id: str, old: datetime | None, new: datetime | None) -> None:
        """Move a customer from the bucket of ``old`` to the bucket of ``new`` (None: none)."""
        if _SEPARATOR in customer_id:
            raise ValueError("customer ids cannot contain a newline")
        old_bucket = None if old is None else self.bucket_of(old)
        new_bucket = None if new is None else self.bucket_of(new)
        if old_bucket == new_bucket:
            return
        if old_bucket is not None:
            members = self._members(old_bucket)
            if customer_id in members:
                members.remove(customer_id)
                self._write(old_bucket, members)
        if new_bucket is not None:
            members = self._members(new_bucket)
            if customer_id not in members:
                members.append(customer_id)
                self._write(new_bucket, members)
            cursor = self.cursor()
            if cursor is None or new_bucket < cursor:
                self.store.put(self._cursor_key, str(new_bucket).encode())

    def bucket_start(self, bucket: int) -> datetime:
        return datetime.fromtimestamp(bucket * self.bucket_seconds, UTC)

    def candidates(self, now: datetime) -> Iterator[tuple[datetime, str]]:
        """(bucket start, customer) filed at or before ``now``'s bucket, oldest bucket first.

        The caller checks each customer's own due time (the last bucket also holds
        customers due later in the same bucket), handles the due ones, and calls
        :meth:`reschedule`; then :meth:`advance_cursor` once the tick is done.
        """
        cursor = self.cursor()
        if cursor is None:
            return
        last = self.bucket_of(now)
        for bucket in range(cursor, last + 1):
            start = self.bucket_start(bucket)
            for customer_id in self._members(bucket):
                yield start, customer_id

    def advance_cursor(self, now: datetime) -> None:
        """Move the cursor to the first bucket that still has members, at most ``now``'s."""
        cursor = self.cursor()
        if cursor is None:
            return
        last = self.bucket_of(now)
        bucket = cursor
        while bucket < last and not self._members(bucket):
            bucket += 1
        if bucket != cursor:
            self.store.put(self._cursor_key, str(bucket).encode())
