"""The Kafka transport the worker runs on: Faust's aiokafka driver with two safety fixes.

* :class:`~streams.internals.rebalance_safe_consumer.RebalanceSafeConsumer` keeps the records
  in flight during a rebalance (stock Faust drops some, faust-streaming/faust#596).
* :class:`~streams.internals.draining_producer.DrainingProducer` makes the flush before each
  offset commit wait until every record produced so far is acknowledged, so a commit never
  gets ahead of the table writes it stands for.
"""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.internals.draining_producer import DrainingProducer
from streams.internals.rebalance_safe_consumer import RebalanceSafeConsumer

__all__ = ["SafeTransport", "use_safe_transport"]


class SafeTransport(aiokafka_driver.Transport):
    Consumer = RebalanceSafeConsumer
    Producer = DrainingProducer


def use_safe_transport(app: faust.App) -> None:
    """Give ``app`` the :class:`SafeTransport`; call before it starts."""
    app.transport = SafeTransport(app.conf.broker_consumer, app)
