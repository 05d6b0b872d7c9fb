"""Web routes on Faust's own web server: metrics, health, readiness and the overview page.

``/ready`` is 200 once the tables are recovered and no rebalance is running; its body also
lists the configured shop topics the cluster metadata does not have yet
(``missing_topics``), which the worker consumes within seconds of their creation. The
``lifecycle_ready`` and ``lifecycle_healthy`` gauges are computed at each scrape by the
same code as ``/ready`` and ``/health``.
"""

from __future__ import annotations

from typing import Any, cast

from faust.tables import TableManager
from prometheus_client import CONTENT_TYPE_LATEST

import streams.web.overview as overview
import streams.web.unsubscribe as unsubscribe
from streams.worker import Worker

__all__ = ["readiness", "register"]


def register(worker: Worker) -> None:
    app = worker.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # ``?name[]=x_total&name[]=y``: those samples only, as prometheus_client's own
        # exporter filters (a sample name, not a family's: counters end in _total).
        names = request.query.getall("name[]", [])
        return web.bytes(
            worker.metrics.render(names), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        body = {
            "status": "ok" if worker.health.healthy else "unhealthy",
            "app": worker.settings.app_id,
        }
        body.update(worker.health.report())
        return web.json(body, status=200 if worker.health.healthy else 503)

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        body = readiness(worker)
        return web.json(body, status=200 if body["ready"] else 503)

    # Computed at each scrape, by the same code as the routes.
    worker.metrics.ready.set_function(lambda: _ready_value(worker))
    worker.metrics.healthy.set_function(lambda: 1.0 if worker.health.healthy else 0.0)

    unsubscribe.register(worker)
    overview.register(worker)


def readiness(worker: Worker) -> dict[str, Any]:
    """The body of ``/ready``; ``ready`` is what its status says."""
    app = worker.app
    recovered = cast(TableManager, app.tables).recovery.completed.is_set()
    assigned = bool(app.consumer.assignment()) if app.consumer else False
    return {
        "ready": recovered and not app.rebalancing,
        "recovered": recovered,
        "rebalancing": app.rebalancing,
        "assigned": assigned,
        "missing_topics": _missing_sources(worker),
    }


def _ready_value(worker: Worker) -> float:
    try:
        return 1.0 if readiness(worker)["ready"] else 0.0
    except Exception:  # a scrape during start-up or shutdown: not ready, never a failed scrape
        return 0.0


def _missing_sources(worker: Worker) -> list[str]:
    """Shop topics the consumer's metadata lists with no partitions (unknown: not listed)."""
    consumer = worker.app.consumer
    if consumer is None:
        return []
    names = dict.fromkeys(topic.get_topic_name() for topic in worker.topics.sources)
    return [name for name in names if consumer.topic_partitions(name) == 0]
