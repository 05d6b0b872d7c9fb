"""Measurement: what the worker counts, for reports and other consumers of the counters topic."""

from lifecycle.measurement.counters import CounterRecord, counter_records

__all__ = [
    "CounterRecord",
    "counter_records",
]
