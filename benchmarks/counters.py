"""The counters path, before and after, measured side by side in one run on the same traffic.

    .venv/bin/python -m benchmarks.counters [--customers 1000]

Before: one JSON record per event, signal and decision, each a ``Topic.send`` to the
counters topic (``counter_records`` below, as the worker had it). After: the engine's
``tally`` (facts stored in the state), adding the facts to the partition's totals when the
state record is acknowledged, and one record per changed key per flush.

Prints, per event: the CPU time of each path's own work, the Kafka records each produces,
and what the facts and the tally add to the serialized state.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from datetime import UTC, timedelta
from typing import Any

import lifecycle.processing.engine as engine_module
from lifecycle.events import Event
from lifecycle.measurement import Totals
from lifecycle.processing import Engine, Outcome, Replay
from lifecycle.state import CustomerState
from streams.campaign_loading import load_campaign_set
from streams.settings import Settings

from .engine import _history

_COPIED_OUTPUT_LABELS = ("campaign", "variant", "outcome", "step", "event", "category")


def _record(metric: str, at: str, labels: dict[str, Any], identity: str) -> tuple[bytes, bytes]:
    digest = hashlib.sha256(f"{metric}\x1f{at}\x1f{identity}".encode()).hexdigest()[:24]
    body = {"id": digest, "metric": metric, "at": at, "value": 1, "labels": labels}
    return metric.encode(), json.dumps(body, sort_keys=True, default=str).encode()


def counter_records(outcome: Outcome, event: Event | None) -> list[tuple[bytes, bytes]]:
    """The previous counters path: a +1 record per event, signal and decision."""
    customer = outcome.state.customer_id
    records = []
    if event is not None and not outcome.duplicate:
        at = event.occurred_at.astimezone(UTC).isoformat()
        records.append(
            _record("events", at, {"type": event.type}, f"{customer}\x1f{event.event_id}")
        )
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
        identity = f"{customer}\x1f{record.get('cause')}\x1f{sorted(labels.items())}"
        records.append(
            _record(f"campaign.{record.get('kind')}", str(record.get("at")), labels, identity)
        )
    return records


def _best(function: Any, repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs (the machine is shared: the minimum is the least noisy)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument(
        "--flush-events", type=int, default=2500, help="events per flush (5 s at 500/s)"
    )
    args = parser.parse_args()
    events = _history(args.customers)
    settings = Settings()
    engine = Engine(settings.engine, load_campaign_set(settings))
    n = len(events)

    # One replay, keeping every call the engine makes to tally, to time it alone below.
    calls: list[tuple[Any, ...]] = []
    tally = engine_module.tally

    def recording(before: Any, after: Any, **kwargs: Any) -> Any:
        calls.append((before, after, kwargs))
        return tally(before, after, **kwargs)

    engine_module.tally = recording  # type: ignore[assignment]
    try:
        replay = Replay(engine, tick=timedelta(hours=1))
        outcomes = list(replay.outcomes(events))
    finally:
        engine_module.tally = tally

    old_records = sum(len(counter_records(outcome, event)) for outcome, event in outcomes)
    old_cpu = _best(lambda: [counter_records(outcome, event) for outcome, event in outcomes])
    tally_cpu = _best(lambda: [tally(before, after, **kw) for before, after, kw in calls])

    def add_up() -> int:
        totals = Totals()
        records = 0
        for index, (outcome, _) in enumerate(outcomes, start=1):
            if not outcome.duplicate:
                totals.add_facts(outcome.state.facts)
            if index % args.flush_events == 0:
                records += len(totals.take_dirty()) + 1  # the changed keys and the marker
        return records + len(totals.take_dirty()) + 1

    new_records = add_up()
    add_cpu = _best(add_up)

    print(f"counters: {n} events, {args.customers} customers, shipped campaigns")
    print(
        f"  before: +1 records built             {old_cpu / n * 1e6:8.1f} us/event, "
        f"{old_records / n:.2f} Kafka sends/event ({old_records})"
    )
    print(f"  after:  tally (facts in the state)   {tally_cpu / n * 1e6:8.1f} us/event")
    print(f"          facts added to the totals    {add_cpu / n * 1e6:8.1f} us/event")
    print(
        f"          Kafka records                {new_records / n:8.3f} per event "
        f"({new_records} in {-(-n // args.flush_events)} flushes of {args.flush_events} events)"
    )
    sizes, extra = [], []
    for raw in replay.states.data.values():
        state = CustomerState.from_bytes(raw)
        bare = state.model_copy(update={"facts": (), "tally": type(state.tally)()})
        sizes.append(len(raw))
        extra.append(len(raw) - len(bare.to_bytes()))
    extra.sort()
    print(
        f"  state per customer: median {statistics.median(sizes):.0f} B; the facts and the "
        f"tally in it: median {statistics.median(extra):.0f} B, "
        f"p95 {extra[len(extra) * 95 // 100]} B"
    )


if __name__ == "__main__":
    main()
