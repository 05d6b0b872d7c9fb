"""The per-partition due index: which customers need a look at which time.

Customers are filed in time buckets (one key per bucket). A tick reads only the non-empty
buckets up to the tick time (found through a small directory, see :class:`DueIndex`), so
its cost follows the number of customers due, never the number of customers nor how far
back a due time was filed. The storage is behind
:class:`~lifecycle.kv.BytesStore` so the same logic runs over a Faust table in the worker and over a
dict in replay and tests.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from lifecycle.kv import BytesStore

__all__ = ["DueIndex"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    """Exact integer microseconds since the epoch (floats would not round-trip)."""
    return (at - _EPOCH) // _MICROSECOND


class DueIndex:
    """The due index of one partition. ``bucket_seconds`` trades key count for bucket size.

    Each bucket holds ``[customer_id, due epoch microseconds]`` pairs, so a tick can tell
    who is due without reading any state: a state is read only for a customer that is due.

    A directory of non-empty buckets lets a tick skip empty ones. With ``FANOUT = (60,
    24)`` and one-minute buckets: per hour the list of its non-empty buckets, per day the
    list of its non-empty hours, and one list of non-empty days. A tick reads the day list,
    the due days, the due hours and the due buckets, whatever time the oldest entry was
    filed for (a walk from a cursor would read every empty minute since a due time filed a
    year back). The directory changes only when a bucket, hour or day becomes empty or
    non-empty, and each list it rewrites is short (at most 60 or 24 numbers; the day list
    holds one number per day that has anyone due).
    """

    FANOUT: tuple[int, ...] = (60, 24)

    def __init__(self, store: BytesStore, partition: int, bucket_seconds: int = 60) -> None:
        self.store = store
        self.partition = partition
        self.bucket_seconds = bucket_seconds

    def bucket_of(self, at: datetime) -> int:
        return int(at.timestamp() // self.bucket_seconds)

    def _key(self, bucket: int) -> bytes:
        return f"due:{self.partition}:{bucket}".encode()

    def _entries(self, bucket: int) -> list[tuple[str, int]]:
        raw = self.store.get(self._key(bucket))
        return [(str(c), int(t)) for c, t in json.loads(raw)] if raw else []

    def _ints(self, key: bytes) -> list[int]:
        raw = self.store.get(key)
        return [int(n) for n in json.loads(raw)] if raw else []

    def _put_ints(self, key: bytes, values: list[int]) -> None:
        if values:
            self.store.put(key, json.dumps(values, separators=(",", ":")).encode())
        else:
            self.store.delete(key)

    def _write(self, bucket: int, entries: list[tuple[str, int]], was_empty: bool) -> None:
        if entries:
            self.store.put(self._key(bucket), json.dumps(entries, separators=(",", ":")).encode())
            if was_empty:
                self._file(0, bucket)
        else:
            self.store.delete(self._key(bucket))
            if not was_empty:
                self._unfile(0, bucket)

    def _dir_key(self, level: int, group: int | None) -> bytes:
        """Key of the list of non-empty level-``level`` units in ``group`` (None: the top)."""
        if group is None:
            return f"due:{self.partition}:dirs".encode()
        return f"due:{self.partition}:dir{level}:{group}".encode()

    def _list_key(self, level: int, unit: int) -> bytes:
        """The directory that lists ``unit`` (a bucket at level 0, an hour at 1, ...)."""
        if level == len(self.FANOUT):
            return self._dir_key(level, None)
        return self._dir_key(level, unit // self.FANOUT[level])

    def _file(self, level: int, unit: int) -> None:
        key = self._list_key(level, unit)
        units = self._ints(key)
        if unit in units:
            return
        if not units and level < len(self.FANOUT):
            self._file(level + 1, unit // self.FANOUT[level])
        bisect.insort(units, unit)
        self._put_ints(key, units)

    def _unfile(self, level: int, unit: int) -> None:
        key = self._list_key(level, unit)
        units = self._ints(key)
        if unit not in units:
            return
        units.remove(unit)
        self._put_ints(key, units)
        if not units and level < len(self.FANOUT):
            self._unfile(level + 1, unit // self.FANOUT[level])

    def _due_buckets(self, now: datetime) -> list[int]:
        last = self.bucket_of(now)
        spans = [1]
        for fanout in self.FANOUT:
            spans.append(spans[-1] * fanout)
        due: list[int] = []

        def walk(level: int, units: list[int]) -> None:
            for unit in units:
                if unit * spans[level] > last:
                    break
                if level == 0:
                    due.append(unit)
                else:
                    walk(level - 1, self._ints(self._dir_key(level - 1, unit)))

        walk(len(self.FANOUT), self._ints(self._dir_key(len(self.FANOUT), None)))
        return due

    def cursor(self) -> int | None:
        """The earliest non-empty bucket (None: nobody is filed)."""
        units = self._ints(self._dir_key(len(self.FANOUT), None))
        for level in range(len(self.FANOUT) - 1, -1, -1):
            if not units:
                return None
            units = self._ints(self._dir_key(level, units[0]))
        return units[0] if units else None

    def reschedule(self, customer_id: str, old: datetime | None, new: datetime | None) -> None:
        """Move a customer's entry from due time ``old`` to ``new`` (None: not filed)."""
        if old == new and old is not None:
            return
        if old is not None and new is not None and self.bucket_of(old) == self.bucket_of(new):
            bucket = self.bucket_of(new)  # one read-modify-write instead of two
            before = self._entries(bucket)
            filed = (customer_id, _micros(old))
            entries = [e for e in before if e != filed]
            self._write(bucket, [*entries, (customer_id, _micros(new))], was_empty=not before)
            return
        if old is not None:
            bucket = self.bucket_of(old)
            entries = self._entries(bucket)
            filed = (customer_id, _micros(old))
            kept = [e for e in entries if e != filed]
            if len(kept) != len(entries):
                self._write(bucket, kept, was_empty=False)
        if new is not None:
            bucket = self.bucket_of(new)
            entries = self._entries(bucket)
            entry = (customer_id, _micros(new))
            if entry not in entries:
                self._write(bucket, [*entries, entry], was_empty=not entries)

    def candidates(self, now: datetime) -> Iterator[tuple[datetime, str]]:
        """(filed due time, customer) for every entry due at or before ``now``, oldest first.

        The caller reads each customer's state, handles it and calls :meth:`reschedule`.
        Only non-empty buckets are read.
        """
        limit = _micros(now)
        for bucket in self._due_buckets(now):
            for customer_id, due in sorted(self._entries(bucket), key=lambda e: e[1]):
                if due <= limit:
                    yield _EPOCH + timedelta(microseconds=due), customer_id
