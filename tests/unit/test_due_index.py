"""The due index: a tick reads only the customers that are due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lifecycle.config import EngineConfig, MilestoneConfig
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing.due_index import DueIndex, _entry
from lifecycle.processing.engine import Engine
from lifecycle.processing.partition import MemoryStateStore, PartitionProcessor
from lifecycle.state import CustomerState

T0 = datetime(2026, 11, 1, tzinfo=UTC)
# Only the anniversary timer, so bulk-built states are exactly what the engine would keep.
ANNIVERSARY_ONLY = EngineConfig(milestones=MilestoneConfig(no_order_after_signup_days=()))


def test_reschedule_moves_a_customer_between_buckets() -> None:
    index = DueIndex(MemoryBytesStore(), partition=3)
    index.reschedule("a", None, T0 + timedelta(minutes=5))
    index.reschedule("b", None, T0 + timedelta(minutes=5, seconds=30))
    index.reschedule("a", T0 + timedelta(minutes=5), T0 + timedelta(hours=2))
    assert [c for _, c in index.candidates(T0 + timedelta(minutes=10))] == ["b"]
    assert sorted(c for _, c in index.candidates(T0 + timedelta(hours=3))) == ["a", "b"]
    index.reschedule("b", T0 + timedelta(minutes=5, seconds=30), None)
    assert [c for _, c in index.candidates(T0 + timedelta(hours=3))] == ["a"]


def test_keys_are_per_partition() -> None:
    store = MemoryBytesStore()
    DueIndex(store, partition=0).reschedule("a", None, T0)
    DueIndex(store, partition=1).reschedule("b", None, T0)
    assert [c for _, c in DueIndex(store, partition=1).candidates(T0)] == ["b"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdefgh"), st.none() | st.integers(0, 10_000)),
        min_size=1,
        max_size=60,
    ),
    st.integers(0, 10_000),
)
@example(moves=[("a", 100), ("b", 119)], now_s=110)  # same bucket, one due, one not yet
def test_candidates_are_exactly_the_customers_due_by_now(moves, now_s) -> None:
    index = DueIndex(MemoryBytesStore(), partition=0, bucket_seconds=60)
    current: dict[str, datetime | None] = {}
    for customer, seconds in moves:
        new = None if seconds is None else T0 + timedelta(seconds=seconds)
        index.reschedule(customer, current.get(customer), new)
        current[customer] = new
    now = T0 + timedelta(seconds=now_s)
    expected = {c for c, due in current.items() if due is not None and due <= now}
    found = [c for _, c in index.candidates(now)]
    assert sorted(found) == sorted(expected)  # each once, none missing
    # Reading is not consuming: until rescheduled, the same customers are still due.
    assert sorted(c for _, c in index.candidates(now)) == sorted(expected)


def _filed_state(customer_id: str, due: datetime) -> CustomerState:
    # A signup a year ago whose only timer is the anniversary: cheap to build in bulk.
    state = CustomerState.new(customer_id)
    profile = state.profile.model_copy(update={"signed_up_at": due.replace(year=due.year - 1)})
    return state.model_copy(update={"profile": profile, "clock": T0, "next_due_at": due})


def test_a_tick_reads_only_due_customers_among_100k() -> None:
    states = MemoryStateStore()
    due_store = MemoryBytesStore()
    index = DueIndex(due_store, partition=0)
    processor = PartitionProcessor(Engine(ANNIVERSARY_ONLY), states, index)
    total, due_now = 100_000, 12
    for n in range(total):
        # Due times spread over the next year; the first few are due within the hour.
        due = T0 + (timedelta(minutes=5 * n) if n < due_now else timedelta(days=30, minutes=n))
        state = _filed_state(f"c{n}", due)
        states.put(state)
        index.reschedule(state.customer_id, None, due)
    tick_at = T0 + timedelta(hours=1)
    woken = []
    due_store.reads = 0
    for state in processor.due_states(tick_at):
        outcome = processor.on_due(state, tick_at)
        processor.commit(outcome)
        woken.append((state.customer_id, [s.name for s in outcome.signals]))
    assert len(woken) == due_now
    assert [s for _, s in woken if s != ["signup_anniversary"]] == []
    assert processor.tick_state_reads == due_now  # not 100k
    # Due-index reads: the directory (day list, day, hour) plus about one bucket read per
    # due customer to find and one to refile it; not the ~130k buckets filed.
    assert due_store.reads <= 6 * due_now
    # The next tick finds nobody due and reads nobody.
    processor.tick_state_reads = 0
    assert list(processor.due_states(tick_at + timedelta(minutes=1))) == []
    assert processor.tick_state_reads == 0
    assert due_store.reads <= 6 * due_now + 5
    # The woken customers moved to next year's anniversary.
    assert states.get("c0").next_due_at == T0.replace(year=2027)  # type: ignore[union-attr]


def test_a_stale_entry_is_refiled_where_the_state_says() -> None:
    states = MemoryStateStore()
    index = DueIndex(MemoryBytesStore(), partition=0)
    processor = PartitionProcessor(Engine(ANNIVERSARY_ONLY), states, index)
    later = T0 + timedelta(days=10)
    states.put(_filed_state("a", later))
    index.reschedule("a", None, T0)  # the index is behind the state (a crash between writes)
    assert list(processor.due_states(T0 + timedelta(minutes=1))) == []
    assert [c for _, c in index.candidates(T0 + timedelta(days=1))] == []
    assert [c for _, c in index.candidates(later)] == ["a"]


def test_a_replayed_event_refiles_a_customer_whose_index_entry_was_lost() -> None:
    from tests.factories import event

    states = MemoryStateStore()
    index = DueIndex(MemoryBytesStore(), partition=0)
    processor = PartitionProcessor(Engine(EngineConfig()), states, index)
    signup = event("customer.signed_up", "a", T0)
    processor.commit(processor.on_event(signup))
    due = states.get("a").next_due_at  # type: ignore[union-attr]
    assert due is not None
    index.reschedule("a", due, None)  # the crash kept the state, lost the index write
    processor.commit(processor.on_event(signup))  # the replay is a duplicate...
    assert [c for _, c in index.candidates(due)] == ["a"]  # ...that files the customer again


def test_a_due_time_filed_a_year_back_costs_a_tick_few_bucket_reads() -> None:
    store = MemoryBytesStore()
    index = DueIndex(store, partition=0, bucket_seconds=60)
    index.reschedule("fresh", None, T0 + timedelta(days=30))
    for k in range(3):
        tick = T0 + timedelta(minutes=k)
        # A backlog customer handled now turns out to have been due a year ago.
        index.reschedule(f"backlog{k}", None, tick - timedelta(days=365))
        store.reads = 0
        found = list(index.candidates(tick))
        assert [c for _, c in found] == [f"backlog{k}"]
        for due, customer in found:
            index.reschedule(customer, due, tick + timedelta(days=40))
        assert store.reads <= 20  # a cursor walk read 1,051,206 empty minute buckets here
    assert index.cursor() == index.bucket_of(T0 + timedelta(days=30))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-600_000, 600_000), min_size=1, max_size=30))
def test_the_directory_is_empty_once_everyone_is_unfiled(offsets) -> None:
    store = MemoryBytesStore()
    index = DueIndex(store, partition=0, bucket_seconds=60)
    filed = {f"c{n}": T0 + timedelta(seconds=s) for n, s in enumerate(offsets)}
    for customer, due in filed.items():
        index.reschedule(customer, None, due)
    assert index.cursor() == index.bucket_of(min(filed.values()))
    for customer, due in filed.items():
        index.reschedule(customer, due, None)
    assert store.data == {}


# Customer ids that could confuse a textual edit of the compact JSON, if anything could.
_AWKWARD_IDS = st.one_of(
    st.sampled_from(["a", "a,b", '["a",1]', "x\\", '"', ',["', "ü", "😀", 'a],["b']),
    st.text(min_size=1, max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_AWKWARD_IDS, st.integers(0, 3), st.booleans()), min_size=1, max_size=30))
def test_bucket_edits_agree_with_a_model_of_the_entries(
    steps: list[tuple[str, int, bool]],
) -> None:
    """Adds and removes on one bucket, whatever the ids: the stored JSON is the model's list."""
    index = DueIndex(MemoryBytesStore(), partition=0, bucket_seconds=3600)
    model: list[tuple[str, int]] = []
    for customer_id, second, add in steps:
        due = T0 + timedelta(seconds=second)
        if add:
            index.reschedule(customer_id, None, due)
            if (customer_id, second) not in model:
                model.append((customer_id, second))
        else:
            index.reschedule(customer_id, due, None)
            model = [e for e in model if e != (customer_id, second)]
        filed = [(c, int((t - T0).total_seconds())) for t, c in index.candidates(T0 + timedelta(1))]
        assert sorted(filed) == sorted(model)
    if not model:
        assert index.cursor() is None


def test_a_bucket_written_with_spaces_is_still_edited() -> None:
    """A bucket not in the compact form (written by hand) is parsed, not edited as text."""
    store = MemoryBytesStore()
    index = DueIndex(store, partition=0, bucket_seconds=60)
    index.reschedule("b", None, T0)
    key = next(k for k in store.data if b"dir" not in k)
    micros = int(T0.timestamp()) * 1_000_000
    store.data[key] = f'[ ["a", {micros}], ["b", {micros}] ]'.encode()
    index.reschedule("a", T0, T0 + timedelta(hours=1))
    assert [c for _, c in index.candidates(T0)] == ["b"]
    assert [c for _, c in index.candidates(T0 + timedelta(hours=1))] == ["b", "a"]


@settings(max_examples=300, deadline=None)
@given(_AWKWARD_IDS | st.text(), st.integers(0, 2**62))
def test_an_entry_is_written_as_compact_json_writes_it(customer_id: str, due: int) -> None:
    """The textual bucket edits find an entry only in the exact compact JSON form."""
    expected = json.dumps([customer_id, due], separators=(",", ":")).encode()
    assert _entry(customer_id, due) == expected
