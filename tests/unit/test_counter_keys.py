"""Counter keys share their label sets and period strings (memory: a worker holds tens of
thousands of keys over a few hundred label sets), and still compare and hash by value."""

from __future__ import annotations

from lifecycle.measurement import CounterKey, Totals, aggregates


def test_keys_made_apart_share_one_label_tuple_and_one_period_string() -> None:
    day = "".join(["2026-03-", "01"])  # built at run time: not a shared constant already
    first = CounterKey.of("campaign_decisions", day, campaign="welcome", outcome="sent")
    second = CounterKey.of(
        "campaign_decisions", "".join(["2026-03-", "01"]), outcome="sent", campaign="welcome"
    )
    assert first == second
    assert hash(first) == hash(second)
    assert first.labels is second.labels
    assert first.period is second.period
    read = CounterKey.from_text(first.to_text())
    assert read == first
    assert read.labels is first.labels
    assert read.period is first.period


def test_totals_add_up_by_value_across_shared_and_unshared_keys() -> None:
    totals = Totals()
    totals.add(CounterKey.of("orders", "2026-03-01"), 1)
    totals.add(CounterKey("orders", (), "2026-03-01"), 2)  # made without sharing
    assert totals.values == {CounterKey.of("orders", "2026-03-01"): 3}


def test_the_shared_label_sets_are_bounded() -> None:
    limit = aggregates._MAX_SHARED_LABELS
    for n in range(limit + 10):
        CounterKey.of("campaign_entries", "2026-03-01", campaign=f"c{n}")
    assert 0 < len(aggregates._shared_labels) <= limit
    key = CounterKey.of("campaign_entries", "2026-03-01", campaign="again")
    assert key.labels == (("campaign", "again"),)
