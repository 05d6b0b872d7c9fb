"""Consumer lag as a gauge: Faust has none built in, and lag is what ops page on.

Read from public places only: the consumer's assignment and each partition's high
watermark (``Consumer.highwater``), and the committed offsets Faust's own monitor sensor
records at every commit (``Monitor.tp_committed_offsets``). A partition that moved to
another worker has its series removed, so a dashboard never shows a stale lag; so has its
tick delay (``lifecycle_tick_delay_seconds``, set by the engine at each tick it applies),
which would otherwise stay at the value of the last tick this worker applied there, and
could hold the late-ticks alert up on a worker that no longer owns the partition.

The delivery backlog is the same lag summed over this worker's partitions of the outbox
and of the retry topic (``queue`` label): a retry waiting for its backoff is re-appended
to its partition until due, so the retry topic's lag counts the retries still pending
(and the ticker's pruning ticks not yet read, about one per partition). A worker with no
partition of a queue shows 0 for it.

:class:`BackfillProgress` sums the same figures per source topic for an operator starting
on a bus with history: how far behind, and an estimate of when it will have caught up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from faust.types import TP, ConsumerT
from prometheus_client import Gauge

__all__ = ["BackfillProgress", "LagGauge"]

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 10.0


class LagGauge:
    name = "lifecycle.lag"
    interval_seconds = LAG_INTERVAL_SECONDS

    def __init__(
        self,
        gauge: Gauge,
        *,
        backlog: Gauge | None = None,
        queues: Mapping[str, str] | None = None,
        tick_delay: Gauge | None = None,
        ticked_topic: str | None = None,
    ) -> None:
        """``queues``: topic name -> the ``queue`` label of its backlog in ``backlog``.

        ``tick_delay``: a gauge labelled by ``partition`` of ``ticked_topic``, whose series
        of partitions not assigned here are removed."""
        self.gauge = gauge
        self.backlog = backlog
        self.queues = dict(queues or {})
        self.tick_delay = tick_delay
        self.ticked_topic = ticked_topic
        self._shown: set[tuple[str, str]] = set()

    def update(self, consumer: ConsumerT, committed: Mapping[TP, int]) -> None:
        seen = set()
        backlog = dict.fromkeys(self.queues.values(), 0)
        assignment = consumer.assignment()
        for tp in assignment:
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = committed.get(tp) or 0
            labels = (tp.topic, str(tp.partition))
            lag = max(0, end - position)
            self.gauge.labels(*labels).set(lag)
            seen.add(labels)
            queue = self.queues.get(tp.topic)
            if queue is not None:
                backlog[queue] += lag
        if self.backlog is not None:
            for queue, records in backlog.items():
                self.backlog.labels(queue).set(records)
        for labels in self._shown - seen:
            self.gauge.remove(*labels)
        self._shown = seen
        if self.tick_delay is not None:
            # Assigned, with or without a high watermark yet: still ticked here.
            owned = {str(tp.partition) for tp in assignment if tp.topic == self.ticked_topic}
            for partition in _partitions_shown(self.tick_delay) - owned:
                self.tick_delay.remove(partition)

    def measure(self, consumer: ConsumerT, committed: Mapping[TP, int]) -> None:
        """The timer's body: a metrics hiccup must never stop the worker."""
        try:
            self.update(consumer, committed)
        except Exception:
            log.exception("measuring consumer lag failed")


def _partitions_shown(gauge: Gauge) -> set[str]:
    """The ``partition`` labels ``gauge`` has series for (its samples, read publicly)."""
    return {
        sample.labels["partition"]
        for family in gauge.collect()
        for sample in family.samples
        if "partition" in sample.labels
    }


#: How often the backfill line is logged while the worker is behind.
PROGRESS_LOG_SECONDS = 30.0


class BackfillProgress:
    """Records behind on the shop's source topics (and the engine's own topic), and when
    the worker will have caught up.

    Behind = high watermark minus committed offset, summed over this worker's partitions
    of each of ``sources`` (the same public figures as :class:`LagGauge`). The catch-up rate
    is the fall of that sum between two measurements, smoothed; the estimate is the sum
    over that rate, or -1 while the sum is not falling (producers as fast as the worker,
    or a stall) and before the first measurement. Logged every
    :data:`PROGRESS_LOG_SECONDS` while behind, and once when caught up. ``now`` is the
    loop's monotonic clock, passed in by the timer.
    """

    name = "lifecycle.backfill"

    def __init__(
        self,
        sources: tuple[str, ...],
        behind: Gauge,
        eta: Gauge,
        *,
        log_every: float = PROGRESS_LOG_SECONDS,
    ) -> None:
        self.sources = sources
        self.behind = behind
        self.eta = eta
        self.log_every = log_every
        self._last: tuple[float, int] | None = None
        self._rate = 0.0
        self._logged_at: float | None = None
        self._was_behind = False
        self.eta.set(-1)  # unknown until measured: 0 would claim "caught up"

    def update(self, consumer: ConsumerT, committed: Mapping[TP, int], now: float) -> float:
        """Set the gauges; returns the estimate in seconds (-1: unknown)."""
        per_topic = dict.fromkeys(self.sources, 0)
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if tp.topic not in per_topic or end is None:
                continue
            per_topic[tp.topic] += max(0, end - (committed.get(tp) or 0))
        for topic, count in per_topic.items():
            self.behind.labels(topic).set(count)
        total = sum(per_topic.values())
        if self._last is not None and now > self._last[0]:
            fall = (self._last[1] - total) / (now - self._last[0])
            self._rate = fall if self._rate <= 0 else 0.5 * self._rate + 0.5 * fall
        self._last = (now, total)
        estimate = 0.0 if total == 0 else (total / self._rate if self._rate > 0 else -1.0)
        self.eta.set(estimate)
        self._log(per_topic, total, estimate, now)
        return estimate

    def _log(self, per_topic: Mapping[str, int], total: int, estimate: float, now: float) -> None:
        if total == 0:
            if self._was_behind:
                log.info("backfill: caught up on %s", ", ".join(per_topic))
            self._was_behind, self._logged_at = False, None
            return
        self._was_behind = True
        if self._logged_at is not None and now - self._logged_at < self.log_every:
            return
        self._logged_at = now
        topics = ", ".join(f"{topic} {count}" for topic, count in per_topic.items())
        when = f"about {estimate:.0f} s to catch up" if estimate >= 0 else "not catching up yet"
        log.info("backfill: %d records behind (%s); %s", total, topics, when)

    def measure(self, consumer: ConsumerT, committed: Mapping[TP, int], now: float) -> None:
        """The timer's body: a metrics hiccup must never stop the worker."""
        try:
            self.update(consumer, committed, now)
        except Exception:
            log.exception("measuring backfill progress failed")
