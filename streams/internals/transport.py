"""The Kafka transport the worker runs on: Faust's aiokafka driver with two safety fixes.

* :class:`~streams.internals.rebalance_safe_consumer.RebalanceSafeConsumer` keeps the records
  in flight during a rebalance (stock Faust drops some, faust-streaming/faust#596).
* :class:`~streams.internals.draining_producer.DrainingProducer` makes the flush before each
  offset commit wait until every record produced so far is acknowledged, so a commit never
  gets ahead of the table writes it stands for.

It also carries the consumer's fetch long-poll (``fetch_max_wait_ms``), which Faust fixes
at 1500 ms.
"""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.internals.draining_producer import DrainingProducer
from streams.internals.rebalance_safe_consumer import (
    FAUST_FETCH_MAX_WAIT_MS,
    RebalanceSafeConsumer,
)

__all__ = ["SafeTransport", "use_safe_transport"]


class SafeTransport(aiokafka_driver.Transport):
    Consumer = RebalanceSafeConsumer
    Producer = DrainingProducer
    #: How long a fetch may wait at the broker for records to arrive (ms).
    fetch_max_wait_ms: int = FAUST_FETCH_MAX_WAIT_MS


def use_safe_transport(app: faust.App, *, fetch_max_wait_ms: int | None = None) -> None:
    """Give ``app`` the :class:`SafeTransport`; call before it starts.

    ``fetch_max_wait_ms`` replaces Faust's fixed 1500 ms fetch long-poll when given."""
    transport = SafeTransport(app.conf.broker_consumer, app)
    if fetch_max_wait_ms is not None:
        transport.fetch_max_wait_ms = fetch_max_wait_ms
    app.transport = transport
