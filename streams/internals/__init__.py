"""Every use of a library's private names, behind one fence.

Faust, aiokafka, aiosmtplib and prometheus_client offer no public way to do a few things
the worker must do (keep records across a rebalance, await one changelog write, hold
SMTP's final dot). Each such use lives in a module here and nowhere else, and
``tests/unit/test_library_internals.py`` asserts that every private name used still
exists with the expected shape in the installed versions, so an upgrade fails loudly.
Two modules here override public methods only, but change Faust's behaviour as deeply
(a flush before each commit that really drains; a monitor sensor that skips Faust's
bookkeeping per record), so they live behind the same fence.
"""

from streams.internals.batch_acks import acks_withheld_unless_handled, withhold_unhandled
from streams.internals.batch_publish import BatchPublisher, PublishedBatch
from streams.internals.changelog import put_acknowledged, put_tracked
from streams.internals.current_event import acting_for
from streams.internals.draining_producer import DrainingProducer, OutstandingRecords
from streams.internals.lean_monitor import LeanMonitor
from streams.internals.rebalance_safe_consumer import RebalanceSafeConsumer
from streams.internals.smtp_data import data_in_steps, normalize_message_line_endings
from streams.internals.transport import SafeTransport, use_safe_transport

__all__ = [
    # faust: the transport, with records kept across rebalances and flushes that drain
    "DrainingProducer",
    "OutstandingRecords",
    "RebalanceSafeConsumer",
    "SafeTransport",
    "use_safe_transport",
    # faust: its monitor sensor without the bookkeeping per record
    "LeanMonitor",
    # faust: many records as one aiokafka batch per partition
    "BatchPublisher",
    "PublishedBatch",
    # faust: one table write acknowledged by the broker, or tracked until it is
    "put_acknowledged",
    "put_tracked",
    # faust: the event a batch's table write belongs to
    "acting_for",
    # faust: a batch left early acks none of the records it did not handle
    "acks_withheld_unless_handled",
    "withhold_unhandled",
    # aiosmtplib: DATA with a hook before the final dot
    "data_in_steps",
    "normalize_message_line_endings",
]
