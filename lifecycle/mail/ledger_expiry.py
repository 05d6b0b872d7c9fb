"""When a delivery ledger entry may be forgotten, and the index that finds those entries.

Delivery refuses to send an email decided more than the maximum send delay before the
attempt (:func:`lifecycle.mail.ledger.too_late_to_send`). So once ``now`` is past
``decided_at + max_delay + margin`` the ledger entry of that message is no longer
needed: a redelivered outbox or retry record of it finds no entry and is ``expired``,
never sent. The margin covers clock skew between the worker that prunes and a worker
that later attempts the same message (a new owner after a rebalance).

The ledger cannot be scanned cheaply, so every message id is filed, when its first
entry is written, in a bucket of the partition's expiry index, kept in the same store as
the ledger (keys ``expiry:{partition}:...``, never confused with a Message-ID, which
starts with ``<``):

``expiry:{p}:dir``          JSON list of the bucket ends (epoch seconds) that exist
``expiry:{p}:{end}``        number of chunks of that bucket
``expiry:{p}:{end}:{i}``    newline-separated message ids, at most :data:`CHUNK_IDS`
``expiry:{p}:horizon``      epoch microseconds: messages decided at or before it may
                            have lost their entry (see :meth:`LedgerExpiryIndex.pruned`)

Chunks keep every write small whatever the send rate (a single growing value per bucket
would cost a write the size of the bucket per email). Pruning deletes the ids of every
bucket whose end has passed, then the chunks, then the bucket, then updates the
directory: every step is idempotent and a crash between two steps leaves either entries
that the next run deletes, or nothing, never a deleted entry that is still needed.

Storage is behind :class:`~lifecycle.kv.BytesStore` (a Faust table in the worker, a dict in tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lifecycle.kv import BytesStore

__all__ = [
    "CHUNK_IDS",
    "EXPIRY_KEY_PREFIX",
    "LedgerExpiry",
    "LedgerExpiryIndex",
]

EXPIRY_KEY_PREFIX = b"expiry:"
#: Ids per chunk: about 3-4 KB per chunk with the usual Message-ID length.
CHUNK_IDS = 64

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MICROS_PER_SECOND = 1_000_000
_MAX_MARGIN = timedelta(hours=1)
_MAX_BUCKET_SECONDS = 3600
_MAX_PRUNE_INTERVAL_SECONDS = 60.0


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class LedgerExpiry:
    """When an entry may go: ``decided_at + max_delay + margin``, rounded up to a bucket."""

    max_delay: timedelta
    margin: timedelta

    @classmethod
    def for_max_delay(cls, max_delay: timedelta | None) -> LedgerExpiry | None:
        """The policy for a maximum send delay; None (no maximum) never prunes.

        The margin is an hour, or the maximum delay itself when that is shorter (tests
        and demos use seconds); buckets are as wide as the margin, at most an hour.
        """
        if max_delay is None or max_delay <= timedelta(0):
            return None
        return cls(max_delay=max_delay, margin=min(_MAX_MARGIN, max_delay))

    @property
    def bucket_seconds(self) -> int:
        return max(1, min(_MAX_BUCKET_SECONDS, int(self.margin.total_seconds())))

    @property
    def prune_interval_seconds(self) -> float:
        """How often a partition looks for due buckets: a bucket at most, a minute at most."""
        return min(_MAX_PRUNE_INTERVAL_SECONDS, float(self.bucket_seconds))

    def prunable_at(self, decided_at: datetime) -> datetime:
        return decided_at + self.max_delay + self.margin

    def bucket_end(self, decided_at: datetime, now: datetime) -> int:
        """Epoch seconds of the end of the bucket for a message decided at ``decided_at``:
        never before :meth:`prunable_at`. A message already past it (old history) goes in
        the bucket that ends next, so replaying history files into few buckets."""
        width = self.bucket_seconds * _MICROS_PER_SECOND
        at = max(_micros(self.prunable_at(decided_at)), _micros(now))
        return -(-at // width) * width // _MICROS_PER_SECOND

    @staticmethod
    def is_due(bucket_end: int, now: datetime) -> bool:
        return _micros(now) >= bucket_end * _MICROS_PER_SECOND


class LedgerExpiryIndex:
    """The expiry index of one partition; ``policy`` None files and prunes nothing."""

    def __init__(self, store: BytesStore, partition: int, policy: LedgerExpiry | None) -> None:
        self.store = store
        self.partition = partition
        self.policy = policy

    # -- keys -----------------------------------------------------------------------

    def _dir_key(self) -> bytes:
        return f"expiry:{self.partition}:dir".encode()

    def _bucket_key(self, end: int) -> bytes:
        return f"expiry:{self.partition}:{end}".encode()

    def _chunk_key(self, end: int, chunk: int) -> bytes:
        return f"expiry:{self.partition}:{end}:{chunk}".encode()

    def _horizon_key(self) -> bytes:
        return f"expiry:{self.partition}:horizon".encode()

    # -- reading --------------------------------------------------------------------

    def buckets(self) -> list[int]:
        """Ends of the buckets that exist, in order."""
        raw = self.store.get(self._dir_key())
        return sorted(int(n) for n in json.loads(raw)) if raw else []

    def _chunks(self, end: int) -> int:
        raw = self.store.get(self._bucket_key(end))
        return int(raw) if raw else 0

    def _ids(self, end: int, chunk: int) -> list[str]:
        raw = self.store.get(self._chunk_key(end, chunk))
        return raw.decode().split("\n") if raw else []

    def filed(self) -> dict[int, list[str]]:
        """Every bucket end and its ids (for tests and inspection)."""
        return {
            end: [i for c in range(self._chunks(end)) for i in self._ids(end, c)]
            for end in self.buckets()
        }

    def pruned(self, decided_at: datetime) -> bool:
        """Might a message decided at ``decided_at`` have had its entry pruned here?

        True for every message decided at or before the latest pruned bucket's end minus
        the policy's delay and margin at the time. Under an unchanged policy such a
        message is too late to send anyway; after the maximum delay was raised or turned
        off, this is what still refuses it (its entry, if it had one, is gone).
        """
        raw = self.store.get(self._horizon_key())
        return raw is not None and _micros(decided_at) <= int(raw)

    # -- writing --------------------------------------------------------------------

    def file(self, message_id: str, decided_at: datetime, now: datetime) -> None:
        """File ``message_id`` for pruning once its ledger entry can no longer matter."""
        if self.policy is None or "\n" in message_id:
            return
        end = self.policy.bucket_end(decided_at, now)
        chunks = self._chunks(end)
        if chunks == 0:
            # Directory first: a crash before the bucket exists leaves a directory entry
            # the next prune drops, never a bucket the directory does not list.
            ends = self.buckets()
            if end not in ends:
                self._put_buckets([*ends, end])
            chunks = 1
            self.store.put(self._bucket_key(end), b"1")
        ids = self._ids(end, chunks - 1)
        if len(ids) >= CHUNK_IDS:
            chunks += 1
            self.store.put(self._bucket_key(end), str(chunks).encode())
            ids = []
        ids.append(message_id)
        self.store.put(self._chunk_key(end, chunks - 1), "\n".join(ids).encode())

    def prune(self, now: datetime) -> int:
        """Delete the ledger entries of every bucket that ended at or before ``now``,
        and those buckets. Returns how many ledger entries were deleted."""
        if self.policy is None:
            return 0
        ends = self.buckets()
        due = [end for end in ends if self.policy.is_due(end, now)]
        if not due:
            return 0
        horizon = _micros(
            _EPOCH + timedelta(seconds=due[-1]) - self.policy.max_delay - self.policy.margin
        )
        # The horizon goes first: from here on, a message of these buckets is refused
        # even if the maximum delay is raised later.
        raw = self.store.get(self._horizon_key())
        if raw is None or int(raw) < horizon:
            self.store.put(self._horizon_key(), str(horizon).encode())
        pruned = 0
        for end in due:
            for chunk in range(self._chunks(end)):
                for message_id in self._ids(end, chunk):
                    key = message_id.encode()
                    if self.store.get(key) is not None:
                        self.store.delete(key)
                        pruned += 1
                self.store.delete(self._chunk_key(end, chunk))
            self.store.delete(self._bucket_key(end))
        self._put_buckets([end for end in ends if end not in due])
        return pruned

    def _put_buckets(self, ends: list[int]) -> None:
        if ends:
            self.store.put(self._dir_key(), json.dumps(sorted(ends)).encode())
        else:
            self.store.delete(self._dir_key())
