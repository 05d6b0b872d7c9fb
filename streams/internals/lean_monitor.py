"""Faust's monitor sensor without its bookkeeping per record.

Faust calls its monitor around every record read, every stream event, every table get
and set and every send (``on_message_in``, ``on_stream_event_in``, ``on_table_set``,
``on_send_initiated``, ...) to keep counts and latency histories that nothing here reads:
the worker's own metrics are in :mod:`streams.metrics`. That is about 2% of a busy
worker's time. :class:`LeanMonitor` keeps what is read: the committed offsets
(``tp_committed_offsets``, for lag and health), the end offsets, commit latencies, and
each partition's last stream event time (``stream_inbound_time``, which Faust's consumer
checks to warn about a stream that stopped); the per-record hooks do nothing else. Only
public sensor methods are overridden.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors import Monitor
from faust.types import TP, CollectionT, EventT, Message, StreamT

__all__ = ["LeanMonitor"]


class LeanMonitor(Monitor):
    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        pass

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        pass

    def on_table_del(self, table: CollectionT, key: Any) -> None:
        pass

    def on_send_initiated(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def on_send_completed(self, *args: Any, **kwargs: Any) -> None:
        pass
