"""The counters on Kafka: per-partition totals from the journals, flushed and recovered.

:class:`Journal` counts the facts of acknowledged changelog records (customer state, or
delivery ledger); :class:`CounterStore` flushes the totals to the compacted counters topic
and recovers them after a start or rebalance (the design and its remaining windows are in
:mod:`streams.counters.store`); :func:`read_counters` is how a reader (``lifecycle report``)
gets current figures: the latest record per key, partitions summed.
"""

from streams.counters.codec import CounterRecord, MarkerRecord, decode_record
from streams.counters.journal import Journal, PartitionCounters
from streams.counters.reader import read_counters
from streams.counters.store import CounterStore, expand_record

__all__ = [
    # Counting acknowledged writes
    "Journal",
    "PartitionCounters",
    # The counters topic
    "CounterStore",
    "CounterRecord",
    "MarkerRecord",
    "decode_record",
    "expand_record",
    "read_counters",
]
