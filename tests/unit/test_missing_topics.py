"""What the worker says about shop topics that do not exist: at start-up and on /ready."""

from __future__ import annotations

from types import SimpleNamespace

from streams.topic_admin import TopicReport
from streams.web.routes import _missing_sources


def test_start_up_names_the_topics_it_created_or_found_missing() -> None:
    created = TopicReport(created_sources=("shop.customers", "shop.orders"))
    [line] = created.lines(6)
    assert "created the missing shop topics shop.customers, shop.orders with 6 partitions" in line
    assert "LIFECYCLE_CREATE_SOURCE_TOPICS=false" in line
    [line] = TopicReport(missing_sources=("shop.support",)).lines(6)
    assert line.startswith("shop topics missing: shop.support;")
    assert "/ready" in line
    assert TopicReport().lines(6) == []


def test_ready_lists_the_shop_topics_the_metadata_has_no_partitions_for() -> None:
    partitions = {"shop.customers": 3, "shop.orders": 0, "shop.logins": 0}  # support: unknown
    consumer = SimpleNamespace(topic_partitions=partitions.get)
    sources = [
        SimpleNamespace(get_topic_name=lambda n=name: n)
        for name in ("shop.customers", "shop.orders", "shop.logins", "shop.support", "shop.orders")
    ]
    worker = SimpleNamespace(
        app=SimpleNamespace(consumer=consumer), topics=SimpleNamespace(sources=sources)
    )
    assert _missing_sources(worker) == ["shop.orders", "shop.logins"]  # type: ignore[arg-type]
    worker.app.consumer = None
    assert _missing_sources(worker) == []  # type: ignore[arg-type]
