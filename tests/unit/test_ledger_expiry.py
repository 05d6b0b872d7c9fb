"""The ledger's expiry index: what is pruned, never too early, and safely after a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.kv import MemoryBytesStore
from lifecycle.mail.ledger_expiry import (
    CHUNK_IDS,
    LedgerExpiry,
    LedgerExpiryIndex,
)

T0 = datetime(2026, 11, 23, 14, 7, 31, 250_000, tzinfo=UTC)
POLICY = LedgerExpiry.for_max_delay(timedelta(hours=72))


def entry_bytes(n: int) -> bytes:
    return b'{"state":"sent","at":"2026-11-23T14:07:31Z","attempt":1}' + str(n).encode()


def filed_ledger(
    count: int, *, decided_at: datetime = T0, partition: int = 0
) -> tuple[MemoryBytesStore, LedgerExpiryIndex, list[str]]:
    """``count`` messages with a ledger entry each, filed as delivery files them."""
    store = MemoryBytesStore()
    index = LedgerExpiryIndex(store, partition, POLICY)
    ids = [f"<{n:032x}@lifecycle.invalid>" for n in range(count)]
    for n, message_id in enumerate(ids):
        index.file(message_id, decided_at, now=decided_at)
        store.put(message_id.encode(), entry_bytes(n))
    return store, index, ids


def ledger_ids(store: MemoryBytesStore) -> set[bytes]:
    return {k for k in store.data if not k.startswith(b"expiry:")}


def test_the_policy_follows_the_maximum_delay() -> None:
    assert POLICY is not None
    assert (POLICY.margin, POLICY.bucket_seconds, POLICY.prune_interval_seconds) == (
        timedelta(hours=1),
        3600,
        60.0,
    )
    tiny = LedgerExpiry.for_max_delay(timedelta(hours=0.001))  # 3.6 s, as in the tests
    assert tiny is not None
    assert (tiny.margin, tiny.bucket_seconds, tiny.prune_interval_seconds) == (
        timedelta(seconds=3.6),
        3,
        3.0,
    )
    assert LedgerExpiry.for_max_delay(None) is None


def test_entries_go_once_their_bucket_ended_and_not_before() -> None:
    store, index, ids = filed_ledger(3)
    assert POLICY is not None
    prunable = T0 + timedelta(hours=73)
    assert index.prune(prunable - timedelta(microseconds=1)) == 0
    assert ledger_ids(store) == {i.encode() for i in ids}
    [end] = index.buckets()
    bucket_end = datetime.fromtimestamp(end, UTC)
    assert prunable <= bucket_end < prunable + timedelta(hours=1)
    assert index.prune(bucket_end - timedelta(microseconds=1)) == 0
    assert index.prune(bucket_end) == 3
    assert ledger_ids(store) == set()
    assert store.data == {b"expiry:0:horizon": store.data[b"expiry:0:horizon"]}  # index gone


def test_only_due_buckets_are_pruned_and_other_partitions_are_untouched() -> None:
    store = MemoryBytesStore()
    early = LedgerExpiryIndex(store, 0, POLICY)
    other = LedgerExpiryIndex(store, 1, POLICY)
    early.file("<a@x>", T0, T0)
    early.file("<b@x>", T0 + timedelta(hours=5), T0)
    other.file("<c@x>", T0, T0)
    for key in (b"<a@x>", b"<b@x>", b"<c@x>"):
        store.put(key, b"{}")
    assert early.prune(T0 + timedelta(hours=75)) == 1
    assert ledger_ids(store) == {b"<b@x>", b"<c@x>"}
    assert list(early.filed().values()) == [["<b@x>"]]
    assert list(other.filed().values()) == [["<c@x>"]]


def test_no_maximum_delay_files_and_prunes_nothing() -> None:
    store = MemoryBytesStore()
    index = LedgerExpiryIndex(store, 0, LedgerExpiry.for_max_delay(None))
    index.file("<a@x>", T0, T0)
    store.put(b"<a@x>", b"{}")
    assert index.prune(T0 + timedelta(days=3650)) == 0
    assert store.data == {b"<a@x>": b"{}"}
    assert not index.pruned(T0 - timedelta(days=3650))


def test_chunks_keep_every_write_small() -> None:
    store, index, ids = filed_ledger(2 * CHUNK_IDS + 5)
    chunks = [k for k in store.data if k.startswith(b"expiry:0:") and k.count(b":") == 3]
    assert len(chunks) == 3
    assert max(len(store.data[k]) for k in chunks) < (len(ids[0]) + 1) * CHUNK_IDS
    assert [i for bucket in index.filed().values() for i in bucket] == ids
    assert index.prune(T0 + timedelta(hours=75)) == len(ids)
    assert ledger_ids(store) == set()


def test_pruning_twice_is_harmless() -> None:
    store, index, ids = filed_ledger(5)
    later = T0 + timedelta(hours=75)
    assert index.prune(later) == 5
    assert index.prune(later) == 0
    # An id filed twice (a redelivery after a crash) is deleted once.
    index.file(ids[0], T0, later)
    index.file(ids[0], T0, later)
    store.put(ids[0].encode(), b"{}")
    assert index.prune(later + timedelta(hours=1)) == 1


class CrashingStore(MemoryBytesStore):
    """Dies (raises) at the ``crash_at``-th delete, as a worker killed mid-prune."""

    def __init__(self, data: dict[bytes, bytes], crash_at: int) -> None:
        super().__init__(data)
        self.deletes = 0
        self.crash_at = crash_at

    def delete(self, key: bytes) -> None:
        self.deletes += 1
        if self.deletes == self.crash_at:
            raise RuntimeError("killed")
        super().delete(key)


@pytest.mark.parametrize("crash_at", range(1, CHUNK_IDS + 8))
def test_a_crash_anywhere_in_a_prune_is_finished_by_the_next_one(crash_at: int) -> None:
    """Killed after deleting some ids, after all ids but before the chunks, or between
    the chunks and the bucket: the next run deletes what is left and nothing else."""
    store, _, _ = filed_ledger(CHUNK_IDS + 3)
    store.put(b"<not-filed@x>", b"{}")  # an entry of a message decided later
    crashing = CrashingStore(dict(store.data), crash_at)
    later = T0 + timedelta(hours=75)
    with pytest.raises(RuntimeError):
        LedgerExpiryIndex(crashing, 0, POLICY).prune(later)
    survivor = MemoryBytesStore(crashing.data)
    left = len(ledger_ids(survivor)) - 1  # filed entries the crashed run did not delete
    again = LedgerExpiryIndex(survivor, 0, POLICY)
    assert again.prune(later) == left
    assert ledger_ids(survivor) == {b"<not-filed@x>"}
    assert again.buckets() == []
    assert [k for k in survivor.data if k.startswith(b"expiry:")] == [b"expiry:0:horizon"]


def test_old_history_is_filed_in_the_next_bucket_and_goes_at_its_end() -> None:
    store = MemoryBytesStore()
    index = LedgerExpiryIndex(store, 0, POLICY)
    for days in (10, 20, 30):
        index.file(f"<old{days}@x>", T0 - timedelta(days=days), now=T0)
    [end] = index.buckets()
    assert T0 <= datetime.fromtimestamp(end, UTC) < T0 + timedelta(hours=1)


def test_the_horizon_covers_every_pruned_message_and_nothing_newer() -> None:
    _, index, _ = filed_ledger(2)
    newer = T0 + timedelta(hours=1)
    index.file("<newer@x>", newer, newer)
    [first, _] = index.buckets()
    assert not index.pruned(T0)  # nothing pruned yet
    index.prune(datetime.fromtimestamp(first, UTC))
    assert index.pruned(T0)
    assert not index.pruned(newer)


@given(
    decided_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    filed_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    max_delay=st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=30)),
    pruned_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
)
def test_an_entry_is_never_pruned_before_decided_at_plus_max_delay_plus_margin(
    decided_at: datetime, filed_after: timedelta, max_delay: timedelta, pruned_after: timedelta
) -> None:
    policy = LedgerExpiry.for_max_delay(max_delay)
    assert policy is not None
    store = MemoryBytesStore()
    index = LedgerExpiryIndex(store, 0, policy)
    filed_at = decided_at + filed_after
    index.file("<m@x>", decided_at, filed_at)
    store.put(b"<m@x>", b"{}")
    now = filed_at + pruned_after
    pruned = index.prune(now)
    if now < decided_at + max_delay + policy.margin:
        assert pruned == 0
        assert b"<m@x>" in store.data
    if pruned:
        # and whatever was pruned is covered by the horizon
        assert index.pruned(decided_at)
