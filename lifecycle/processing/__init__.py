"""Processing: one customer's input through detection and campaigns, one partition at a time.

:class:`Engine` turns (state, event) or (state, due time) into an :class:`Outcome`;
:class:`PartitionProcessor` adds the state store and the :class:`DueIndex` of one
partition; ticks are time as a record; :class:`Replay` drives the same steps over a history.
The worker, ``lifecycle replay`` and the tests all go through here, so they decide alike.
"""

from lifecycle.processing.allocation import (
    AllocationLedger,
    murmur2,
    partition_for,
    partition_of_key,
)
from lifecycle.processing.due_index import DueIndex
from lifecycle.processing.engine import Engine, Outcome
from lifecycle.processing.partition import MemoryStateStore, PartitionProcessor, StateStore
from lifecycle.processing.replay import Replay, outcome_records, signal_record, sorted_history
from lifecycle.processing.ticks import TICK_TYPE, Tick, encode_tick, parse_engine_record

__all__ = [
    # One customer (campaigns come in as a lifecycle.campaigns.CampaignSet)
    "Engine",
    "Outcome",
    # One partition
    "DueIndex",
    "MemoryStateStore",
    "PartitionProcessor",
    "StateStore",
    # Adaptive splits' counts, per partition as the producer partitions customers
    "AllocationLedger",
    "murmur2",
    "partition_for",
    "partition_of_key",
    # Time as a record
    "TICK_TYPE",
    "Tick",
    "encode_tick",
    "parse_engine_record",
    # Backtests
    "Replay",
    "outcome_records",
    "signal_record",
    "sorted_history",
]
