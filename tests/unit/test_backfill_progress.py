"""Backfill progress: records behind per source topic and the catch-up estimate, from the
consumer's assignment, high watermarks and committed offsets."""

from __future__ import annotations

import logging

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, Gauge

from streams.agents import BackfillProgress
from tests.support.fake_consumer import FakeConsumer


def make() -> tuple[BackfillProgress, CollectorRegistry]:
    registry = CollectorRegistry()
    behind = Gauge("behind", "", ["topic"], registry=registry)
    eta = Gauge("eta", "", registry=registry)
    return BackfillProgress(("orders", "logins"), behind, eta, log_every=30), registry


ORDERS = (TP("orders", 0), TP("orders", 1))
LOGINS = TP("logins", 0)


def test_records_behind_are_summed_per_source_topic_and_other_topics_ignored() -> None:
    progress, registry = make()
    consumer = FakeConsumer({ORDERS[0]: 100, ORDERS[1]: 50, LOGINS: 10, TP("changelog", 0): 999})
    progress.update(consumer, {ORDERS[0]: 40, LOGINS: 10}, now=0.0)  # type: ignore[arg-type]
    assert registry.get_sample_value("behind", {"topic": "orders"}) == 60 + 50
    assert registry.get_sample_value("behind", {"topic": "logins"}) == 0
    assert registry.get_sample_value("eta") == -1  # one measurement: no rate yet


def test_the_estimate_is_what_is_left_over_the_rate_it_falls_at() -> None:
    progress, registry = make()
    consumer = FakeConsumer({LOGINS: 1000})
    progress.update(consumer, {LOGINS: 0}, now=0.0)  # type: ignore[arg-type]
    estimate = progress.update(consumer, {LOGINS: 200}, now=10.0)  # type: ignore[arg-type]
    assert estimate == pytest.approx(800 / 20)  # 20 records/s, 800 left
    assert registry.get_sample_value("eta") == pytest.approx(40)
    assert progress.update(consumer, {LOGINS: 1000}, now=20.0) == 0  # type: ignore[arg-type]


def test_not_falling_is_unknown_not_an_estimate() -> None:
    progress, _ = make()
    consumer = FakeConsumer({LOGINS: 100})
    progress.update(consumer, {LOGINS: 0}, now=0.0)  # type: ignore[arg-type]
    consumer.ends[LOGINS] = 300  # producers outrun the worker
    assert progress.update(consumer, {LOGINS: 100}, now=10.0) == -1  # type: ignore[arg-type]


def test_logged_at_most_every_interval_while_behind_and_once_when_caught_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    progress, _ = make()
    consumer = FakeConsumer({LOGINS: 100})
    with caplog.at_level(logging.INFO, logger="streams.agents.lag"):
        for now, committed in ((0.0, 0), (10.0, 50), (31.0, 60), (40.0, 100), (50.0, 100)):
            progress.update(consumer, {LOGINS: committed}, now=now)  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "backfill: 100 records behind (orders 0, logins 100); not catching up yet"
    assert lines[1].startswith("backfill: 40 records behind (orders 0, logins 40); about ")
    assert lines[2:] == ["backfill: caught up on orders, logins"]
