"""Consumer lag as a gauge: Faust has none built in, and lag is what ops page on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["register", "update_lag"]

LAG_INTERVAL_SECONDS = 10.0


def update_lag(worker: Worker) -> None:
    consumer = worker.app.consumer
    gauge = worker.metrics.consumer_lag
    assigned = consumer.assignment()
    # Faust keeps the last committed offset per partition; there is no public accessor.
    committed = getattr(consumer, "_committed_offset", {})
    seen = set()
    for tp in assigned:
        end = consumer.highwater(tp)
        if end is None:
            continue
        position = committed.get(tp) or 0
        gauge.labels(tp.topic, str(tp.partition)).set(max(0, end - position))
        seen.add((tp.topic, str(tp.partition)))
    for labels in list(gauge._metrics):  # partitions that moved to another worker
        if labels not in seen:
            gauge.remove(*labels)


def register(worker: Worker) -> None:
    async def measure() -> None:
        try:
            update_lag(worker)
        except Exception:  # a metrics hiccup must never stop the worker
            worker.app.log.exception("measuring consumer lag failed")

    worker.app.timer(LAG_INTERVAL_SECONDS, name="lifecycle.lag")(measure)
