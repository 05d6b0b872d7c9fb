"""The per-partition due index: which customers need a look at which time.

Customers are filed in time buckets (one key per bucket). A tick reads only the non-empty
buckets up to the tick time (found through a small directory, see :class:`DueIndex`), so
its cost follows the number of customers due, never the number of customers nor how far
back a due time was filed. The storage is behind :class:`~lifecycle.kv.BytesStore`; the
worker, replay and the tests keep it in a dict.

The index is derived data: every state carries its ``next_due_at``, so the worker keeps
each partition's index in memory only, and fills it from the partition's states
(:meth:`DueIndex.file_all`) before its first record in a consumer-group generation.
Nothing can then disagree between a state and its entry after a crash, and the index
costs no changelog records: it used to be a Faust table, whose changelog took about two
records per state write (a bucket left, a bucket joined, their directory lists).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii

from lifecycle.kv import BytesStore

__all__ = ["DueIndex"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# One encoder for every write: ``json.dumps`` with separators builds a new one per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _entry(customer_id: str, due: int) -> bytes:
    """An entry as it stands in a bucket's compact JSON list (what ``_COMPACT`` writes,
    without its per-call list walk: two or three entries are built per state write)."""
    return f"[{encode_basestring_ascii(customer_id)},{due:d}]".encode()


def _bucket_without(raw: bytes, entry: bytes) -> bytes | None:
    """``raw`` without ``entry`` (every copy), or None if ``entry`` is not in it.

    Text, not parsing: in compact JSON (``ensure_ascii``, quotes inside strings escaped)
    ``,["`` only ever starts an element, so ``,`` + entry + ``,`` inside ``,`` + the
    list's elements + ``,`` matches that exact element and nothing else. A bucket in
    any other layout (not written by this module) is parsed instead."""
    elements = b"," + raw[1:-1] + b","
    needle = b"," + entry + b","
    if needle not in elements:
        parsed = json.loads(raw)
        compact = _COMPACT.encode(parsed).encode()
        if compact == raw:
            return None
        return _bucket_without(compact, entry) or compact
    while needle in elements:  # adjacent copies overlap at their commas
        elements = elements.replace(needle, b",")
    return b"[" + elements[1:-1] + b"]"


def _bucket_with(raw: bytes | None, entry: bytes) -> bytes:
    """``raw`` (None: an empty bucket) with ``entry`` added at the end, unless it holds it.

    (In a bucket not in the compact layout, a copy of ``entry`` is not seen and the entry
    is added again; the due walk refiles a copy the state does not back.)"""
    if not raw or raw == b"[]":
        return b"[" + entry + b"]"
    if b"," + entry + b"," in b"," + raw[1:-1] + b",":
        return raw
    return raw[:-1] + b"," + entry + b"]"


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
            self.store.put(key, _COMPACT.encode(values).encode())
        else:
            self.store.delete(key)

    def _write(self, bucket: int, raw: bytes, was_empty: bool) -> None:
        """Store a bucket's new bytes (``[]``: it is empty now) and keep the directory."""
        if raw != b"[]":
            self.store.put(self._key(bucket), raw)
            if was_empty:
                self._file(0, bucket)
        else:
            self.store.delete(self._key(bucket))
            if not was_empty:
                self._unfile(0, bucket)

    def _remove(self, bucket: int, customer_id: str, due: int) -> None:
        raw = self.store.get(self._key(bucket))
        if raw:
            kept = _bucket_without(raw, _entry(customer_id, due))
            if kept is not None:
                self._write(bucket, kept, was_empty=False)

    def _add(self, bucket: int, customer_id: str, due: int) -> None:
        raw = self.store.get(self._key(bucket))
        added = _bucket_with(raw, _entry(customer_id, due))
        if added is not raw:
            self._write(bucket, added, was_empty=not raw)

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
            raw = self.store.get(self._key(bucket))
            kept = _bucket_without(raw, _entry(customer_id, _micros(old))) if raw else None
            base = raw if kept is None else kept
            self._write(bucket, _bucket_with(base, _entry(customer_id, _micros(new))), not raw)
            return
        if old is not None:
            self._remove(self.bucket_of(old), customer_id, _micros(old))
        if new is not None:
            self._add(self.bucket_of(new), customer_id, _micros(new))

    def file_all(self, entries: Iterable[tuple[str, datetime]]) -> int:
        """File many (customer, due time) at once, as :meth:`reschedule` from None would,
        with one write per bucket touched; returns how many were filed.

        For an index being filled from the states (each customer once): the entries'
        bucket lists are joined, not searched for copies one by one, so filling a
        partition costs its customers, not its customers times a bucket's size."""
        by_bucket: dict[int, list[bytes]] = {}
        count = 0
        for customer_id, due in entries:
            by_bucket.setdefault(self.bucket_of(due), []).append(_entry(customer_id, _micros(due)))
            count += 1
        for bucket, added in by_bucket.items():
            raw = self.store.get(self._key(bucket))
            joined = b",".join(added)
            merged = (
                b"[" + joined + b"]" if not raw or raw == b"[]" else raw[:-1] + b"," + joined + b"]"
            )
            self._write(bucket, merged, was_empty=not raw)
        return count

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
