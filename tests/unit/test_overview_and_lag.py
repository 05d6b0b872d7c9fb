"""The overview page's rendering and its counters cache, and the lag gauge's backlog, without
a broker (the integration test ``test_observability`` runs them in a real worker)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from faust.types import TP

import streams.web.overview as overview
from lifecycle.measurement import CampaignInfo, CounterKey
from streams.agents import LagGauge
from streams.metrics import WorkerMetrics
from streams.web.overview import CountersCache, Samples, render_overview


class Consumer:
    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = ends

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]


def _samples(metrics: WorkerMetrics) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in metrics.registry.collect()
        for s in family.samples
    }


def test_lag_per_partition_and_backlog_per_queue_follow_the_assignment() -> None:
    metrics = WorkerMetrics()
    lag = LagGauge(
        metrics.consumer_lag,
        backlog=metrics.delivery_backlog,
        queues={"outbox": "outbox", "retry": "retry"},
    )
    outbox0, outbox1, retry0, orders0 = (
        TP("outbox", 0),
        TP("outbox", 1),
        TP("retry", 0),
        TP("orders", 0),
    )
    lag.update(
        Consumer({outbox0: 10, outbox1: 5, retry0: 3, orders0: 7}),
        {outbox0: 4, outbox1: 5, retry0: 1},
    )
    seen = _samples(metrics)
    assert seen["lifecycle_delivery_backlog_records[('queue', 'outbox')]"] == 6
    assert seen["lifecycle_delivery_backlog_records[('queue', 'retry')]"] == 2
    assert seen["lifecycle_consumer_lag_records[('partition', '0'), ('topic', 'orders')]"] == 7

    # The outbox partitions move to another worker: their series go, the backlog is 0.
    lag.update(Consumer({retry0: 3, orders0: 7}), {retry0: 3, orders0: 7})
    seen = _samples(metrics)
    assert seen["lifecycle_delivery_backlog_records[('queue', 'outbox')]"] == 0
    assert seen["lifecycle_delivery_backlog_records[('queue', 'retry')]"] == 0
    assert not any("'outbox')]" in k and "consumer_lag" in k for k in seen)


def test_tick_delay_of_a_partition_that_moved_away_is_removed() -> None:
    metrics = WorkerMetrics()
    lag = LagGauge(
        metrics.consumer_lag, tick_delay=metrics.tick_delay, ticked_topic="customer-events"
    )
    events0, events1, outbox1 = TP("customer-events", 0), TP("customer-events", 1), TP("outbox", 1)
    metrics.tick_delay.labels("0").set(2.0)
    metrics.tick_delay.labels("1").set(900.0)  # a late tick, just before partition 1 moved
    lag.update(Consumer({events0: 5, events1: 5, outbox1: 1}), {})
    delay = "lifecycle_tick_delay_seconds"
    assert _samples(metrics)[f"{delay}[('partition', '1')]"] == 900.0  # still owned: kept

    class NoHighwaterYet(Consumer):
        def highwater(self, tp: TP) -> int | None:
            return None if tp == events0 else self.ends[tp]

    lag.update(NoHighwaterYet({events0: 5, outbox1: 1}), {})  # the outbox's partition 1 stays
    seen = _samples(metrics)
    assert seen[f"{delay}[('partition', '0')]"] == 2.0
    assert f"{delay}[('partition', '1')]" not in seen


def _page(metrics: WorkerMetrics, totals: dict[CounterKey, Any] | None = None, **kw: Any) -> str:
    return render_overview(
        Samples(metrics.registry.collect()),
        totals or {},
        [CampaignInfo("welcome", "Welcome", {"a": 1.0})],
        period="month",
        app_id="shop<&>",
        at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        **kw,
    )


def test_an_idle_worker_renders_dashes_and_no_charts_of_nothing() -> None:
    page = _page(WorkerMetrics())
    assert '<meta http-equiv="refresh" content="10">' in page
    assert "default-src 'none'" in page
    assert "shop&lt;&amp;&gt;" in page
    assert "shop<&>" not in page
    assert 'data-per="lifecycle_smtp_send_seconds_count">-</td>' in page
    assert "Not measured yet." in page
    assert "<script" not in page


def test_figures_are_the_registrys_and_label_values_are_escaped() -> None:
    metrics = WorkerMetrics()
    metrics.events_ingested.labels("shop.orders", "order.placed").inc(3)
    metrics.events_ingested.labels("shop.customers", "order.placed").inc(2)
    metrics.events_dead_lettered.labels("shop.orders", "<b>odd</b>").inc()
    metrics.emails_sent.labels("welcome", "a", "marketing").inc(4)
    metrics.smtp_send_seconds.observe(1.0)
    metrics.smtp_send_seconds.observe(2.0)
    metrics.tick_delay.labels("0").set(1.5)
    metrics.tick_delay.labels("1").set(0.25)
    metrics.ticks_held.set(42.0)
    page = _page(metrics)
    assert (
        '<td data-metric="lifecycle_events_ingested_total" data-agg="sum" data-kind="int"'
        ' data-labels="type=order.placed">5</td>'
    ) in page
    assert "&lt;b&gt;odd&lt;/b&gt;" in page
    assert "<b>odd</b>" not in page
    assert 'data-per="lifecycle_smtp_send_seconds_count">1.50</td>' in page
    assert 'data-metric="lifecycle_tick_delay_seconds" data-agg="max" data-kind="num">1.50' in page
    assert 'data-metric="lifecycle_ticks_held_seconds" data-agg="max" data-kind="num">42' in page
    assert 'aria-label="emails sent by campaign and variant"' in page


def test_a_failed_counters_read_keeps_the_last_figures_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[Any] = [{"k": 1}, OSError("broker down")]

    async def read(servers: str, topic: str) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(overview, "read_counters", read)

    async def run() -> None:
        cache = CountersCache("nowhere:9092", "counters", max_age=0.0)
        assert await cache.current() == {"k": 1}
        assert cache.error is None
        assert await cache.current() == {"k": 1}
        assert cache.error == "the counters topic could not be read (OSError)"
        fresh = CountersCache("nowhere:9092", "counters", max_age=3600.0)
        answers.append({"k": 2})
        assert await fresh.current() == {"k": 2}
        answers.append(OSError("not asked"))
        assert await fresh.current() == {"k": 2}  # within max_age: not read again
        assert answers  # the failure was never used

    asyncio.run(run())
    page = _page(WorkerMetrics(), counters_error="the counters topic could not be read (OSError)")
    assert "could not be read (OSError); showing the last figures read." in page
