"""Counter records for the counters topic: one +1 per thing that happened, at event time.

Reports and other consumers sum them by metric, labels and period (day, cohort week) to
get retention, churn, stage flows, campaign reach and conversions without reading state.
Delivery to the topic is at-least-once (a crash replays the input), so every record
carries an ``id`` that is the same on a replay: consumers count distinct ids.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from lifecycle.events import Event
from lifecycle.processing import Outcome

__all__ = ["CounterRecord", "counter_records"]

CounterRecord = tuple[bytes, bytes]
_COPIED_OUTPUT_LABELS = ("campaign", "variant", "outcome", "step", "event", "category")


def _record(metric: str, at: str, labels: dict[str, Any], identity: str) -> CounterRecord:
    digest = hashlib.sha256(f"{metric}\x1f{at}\x1f{identity}".encode()).hexdigest()[:24]
    body = {"id": digest, "metric": metric, "at": at, "value": 1, "labels": labels}
    return metric.encode(), json.dumps(body, sort_keys=True, default=str).encode()


def counter_records(outcome: Outcome, event: Event | None = None) -> list[CounterRecord]:
    customer = outcome.state.customer_id
    records = []
    if event is not None and not outcome.duplicate:
        at = event.occurred_at.astimezone(UTC).isoformat()
        identity = f"{customer}\x1f{event.event_id}"
        records.append(_record("events", at, {"type": event.type}, identity))
    for signal in outcome.signals:
        labels: dict[str, Any] = {"signal": signal.name, "kind": signal.kind}
        for key in ("from", "to", "reason", "tier", "orders", "years", "days"):
            if key in signal.data:
                labels[key] = signal.data[key]
        identity = f"{customer}\x1f{signal.cause}\x1f{sorted(labels.items())}"
        records.append(_record("signals", signal.at.astimezone(UTC).isoformat(), labels, identity))
    for output in outcome.outputs:
        record = output.to_record()
        labels = {k: record[k] for k in _COPIED_OUTPUT_LABELS if record.get(k) is not None}
        metric = f"campaign.{record.get('kind', 'output')}"
        identity = f"{customer}\x1f{record.get('cause')}\x1f{sorted(labels.items())}"
        records.append(_record(metric, str(record.get("at")), labels, identity))
    return records
