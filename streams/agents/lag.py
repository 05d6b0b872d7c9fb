"""Consumer lag as a gauge: Faust has none built in, and lag is what ops page on.

Read from public places only: the consumer's assignment and each partition's high
watermark (``Consumer.highwater``), and the committed offsets Faust's own monitor sensor
records at every commit (``Monitor.tp_committed_offsets``). A partition that moved to
another worker has its series removed, so a dashboard never shows a stale lag.

The delivery backlog is the same lag summed over this worker's partitions of the outbox
and of the retry topic (``queue`` label): a retry waiting for its backoff is re-appended
to its partition until due, so the retry topic's lag counts the retries still pending
(and the ticker's pruning ticks not yet read, about one per partition). A worker with no
partition of a queue shows 0 for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from faust.types import TP, ConsumerT
from prometheus_client import Gauge

__all__ = ["LagGauge"]

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
    ) -> None:
        """``queues``: topic name -> the ``queue`` label of its backlog in ``backlog``."""
        self.gauge = gauge
        self.backlog = backlog
        self.queues = dict(queues or {})
        self._shown: set[tuple[str, str]] = set()

    def update(self, consumer: ConsumerT, committed: Mapping[TP, int]) -> None:
        seen = set()
        backlog = dict.fromkeys(self.queues.values(), 0)
        for tp in consumer.assignment():
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

    def measure(self, consumer: ConsumerT, committed: Mapping[TP, int]) -> None:
        """The timer's body: a metrics hiccup must never stop the worker."""
        try:
            self.update(consumer, committed)
        except Exception:
            log.exception("measuring consumer lag failed")
