"""Counter records for the counters topic: one +1 per thing that happened, at event time.

Reports and other consumers sum them by metric, labels and period (day, cohort week) to
get retention, churn, stage flows, campaign reach and conversions without reading state.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from lifecycle.engine import Outcome
from lifecycle.events import Event

__all__ = ["CounterRecord", "counter_records"]

CounterRecord = tuple[bytes, bytes]
_COPIED_OUTPUT_LABELS = ("campaign", "variant", "outcome", "step", "event", "category")


def _record(metric: str, at: str, labels: dict[str, Any]) -> CounterRecord:
    body = {"metric": metric, "at": at, "value": 1, "labels": labels}
    return metric.encode(), json.dumps(body, sort_keys=True, default=str).encode()


def counter_records(outcome: Outcome, event: Event | None = None) -> list[CounterRecord]:
    records = []
    if event is not None and not outcome.duplicate:
        at = event.occurred_at.astimezone(UTC).isoformat()
        records.append(_record("events", at, {"type": event.type}))
    for signal in outcome.signals:
        labels: dict[str, Any] = {"signal": signal.name, "kind": signal.kind}
        for key in ("from", "to", "reason", "tier", "orders", "years"):
            if key in signal.data:
                labels[key] = signal.data[key]
        records.append(_record("signals", signal.at.astimezone(UTC).isoformat(), labels))
    for output in outcome.outputs:
        record = output.to_record()
        labels = {k: record[k] for k in _COPIED_OUTPUT_LABELS if record.get(k) is not None}
        records.append(
            _record(f"campaign.{record.get('kind', 'output')}", str(record.get("at")), labels)
        )
    return records
