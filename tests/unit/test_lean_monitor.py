"""The worker's Faust monitor keeps what lag, health and Faust's stall warning read, and
nothing per record else (the broker path: tests/integration/test_observability.py and
test_health_and_readiness.py read lag and health from it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.app import build_faust_app
from streams.internals import LeanMonitor
from streams.settings import Settings


def test_the_worker_app_uses_the_lean_monitor() -> None:
    assert isinstance(build_faust_app(Settings()).monitor, LeanMonitor)


def test_it_keeps_commits_end_offsets_and_stream_times_and_no_per_record_counts() -> None:
    monitor = LeanMonitor()
    tp = TP("lifecycle.customer-events", 3)
    message: Any = SimpleNamespace(time_in=None)
    table: Any = SimpleNamespace(name="customer-state")
    monitor.on_message_in(tp, 10, message)
    state = monitor.on_stream_event_in(tp, 10, SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
    monitor.on_stream_event_out(tp, 10, SimpleNamespace(), SimpleNamespace(), state)  # type: ignore[arg-type]
    monitor.on_message_out(tp, 10, message)
    monitor.on_table_get(table, b"k")
    monitor.on_table_set(table, b"k", b"v")
    monitor.on_table_del(table, b"k")
    sent = monitor.on_send_initiated(None, "topic", None, 1, 1)  # type: ignore[arg-type]
    monitor.on_send_completed(None, sent, None)  # type: ignore[arg-type]
    monitor.on_tp_commit({tp: 11})
    monitor.track_tp_end_offset(tp, 20)
    assert monitor.tp_committed_offsets[tp] == 11
    assert monitor.tp_end_offsets[tp] == 20
    assert tp in monitor.stream_inbound_time
    # What the stock monitor would have counted, it did not.
    assert monitor.messages_received_total == 0
    assert monitor.events_total == 0
    assert monitor.messages_sent == 0
    assert monitor.tables == {}
    assert message.time_in is None
