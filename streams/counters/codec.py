"""Records of the counters topic: one key per metric, labels, period and source partition.

Key ``metric|label=value,...|period|p<partition>`` (see
:mod:`lifecycle.measurement.aggregates`), value ``{"total": 12, "through": 4711}``: the
partition's current total (a decimal string for money) and the offset in the partition's
journal (the changelog of customer state, or of the delivery ledger) up to which its facts
are in that total. A marker ``_through|journal=state||p<partition>`` with ``{"through": N}``
is written after every key of one flush was acknowledged: every key of that partition and
journal is current up to ``N``. The topic is compacted, so the latest record per key is the
current figure; a reader sums the partitions and ignores the markers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from lifecycle.measurement import DECIMAL_METRICS, CounterKey, Number

__all__ = [
    "MARKER_METRIC",
    "CounterRecord",
    "MarkerRecord",
    "decode_record",
    "encode_marker",
    "encode_total",
]

MARKER_METRIC = "_through"


@dataclass(frozen=True)
class CounterRecord:
    key: CounterKey
    partition: int
    total: Number
    through: int


@dataclass(frozen=True)
class MarkerRecord:
    journal: str
    partition: int
    through: int


def encode_total(
    key: CounterKey, partition: int, total: Number, through: int
) -> tuple[bytes, bytes]:
    shown: int | str = str(total) if isinstance(total, Decimal) else total
    value = json.dumps({"total": shown, "through": through}, separators=(",", ":"))
    return f"{key.to_text()}|p{partition}".encode(), value.encode()


def encode_marker(journal: str, partition: int, through: int) -> tuple[bytes, bytes]:
    key = CounterKey.of(MARKER_METRIC, "", journal=journal)
    value = json.dumps({"through": through}, separators=(",", ":"))
    return f"{key.to_text()}|p{partition}".encode(), value.encode()


def decode_record(key: bytes | None, value: bytes | None) -> CounterRecord | MarkerRecord | None:
    """A record of the counters topic, or None for anything else (a tombstone, a record
    some other writer left)."""
    if key is None or value is None:
        return None
    try:
        text, _, partition_text = key.decode().rpartition("|")
        counter = CounterKey.from_text(text)
        partition = int(partition_text.removeprefix("p"))
        body = json.loads(value)
        through = int(body["through"])
        if counter.metric == MARKER_METRIC:
            return MarkerRecord(counter.label("journal") or "", partition, through)
        raw = body["total"]
        total: Number = Decimal(str(raw)) if counter.metric in DECIMAL_METRICS else int(raw)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return CounterRecord(counter, partition, total, through)
