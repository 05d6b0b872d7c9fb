"""Web routes on Faust's own web server: metrics, health and readiness."""

from __future__ import annotations

from typing import Any, cast

from faust.tables import TableManager
from prometheus_client import CONTENT_TYPE_LATEST

import streams.web.unsubscribe as unsubscribe
from streams.worker import Worker

__all__ = ["register"]


def register(worker: Worker) -> None:
    app = worker.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(worker.metrics.render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "app": worker.settings.app_id})

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        recovered = cast(TableManager, app.tables).recovery.completed.is_set()
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        is_ready = recovered and not app.rebalancing
        body = {
            "ready": is_ready,
            "recovered": recovered,
            "rebalancing": app.rebalancing,
            "assigned": assigned,
        }
        return web.json(body, status=200 if is_ready else 503)

    unsubscribe.register(worker)
