"""Sends decided before ``stale_before`` are decided exactly as always, but not rendered.

A backfill decides many sends that delivery expires as too old; rendering them was most
of what they cost. The worker passes ``stale_before`` (the wall clock minus delivery's
maximum delay); replay passes nothing and renders all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lifecycle.config import EngineConfig
from lifecycle.events import Event, parse_event
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing import DueIndex, Engine, MemoryStateStore, PartitionProcessor
from lifecycle.processing.replay import sorted_history
from streams.dev.traffic import generate
from tests.unit.campaigns.support import shipped_campaigns

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _history() -> list[Event]:
    raw = [json.dumps(t.event).encode() for t in generate(NOW, 60, seed=5, days=60)]
    return sorted_history(parse_event(r) for r in raw)


def _run(stale_before: datetime | None) -> list[tuple[str, object]]:
    """Every output of the history (ticks hourly), and each message, in order."""
    processor = PartitionProcessor(
        Engine(EngineConfig(), shipped_campaigns()),
        MemoryStateStore(),
        DueIndex(MemoryBytesStore(), partition=0),
    )
    seen: list[tuple[str, object]] = []

    def record(outcome: object) -> None:
        for output in outcome.outputs:  # type: ignore[attr-defined]
            body = output.to_record()
            body.pop("message", None)
            seen.append(("output", json.dumps(body, sort_keys=True, default=str)))
            if output.message is not None:
                seen.append(("message", output.message))
        processor.commit(outcome)  # type: ignore[arg-type]

    events = _history()
    tick = events[0].occurred_at
    for event in events:
        while tick + timedelta(hours=1) <= event.occurred_at:
            tick += timedelta(hours=1)
            for state in list(processor.due_states(tick)):
                record(processor.on_due(state, tick, stale_before=stale_before))
        record(processor.on_event(event, stale_before=stale_before))
    return seen


def test_sends_before_the_horizon_are_decided_alike_and_left_unrendered() -> None:
    horizon = NOW - timedelta(days=20)
    rendered, horizoned = _run(None), _run(horizon)
    outputs = [value for kind, value in rendered if kind == "output"]
    assert outputs == [value for kind, value in horizoned if kind == "output"]
    every = [value for kind, value in rendered if kind == "message"]
    some = [value for kind, value in horizoned if kind == "message"]
    assert len(every) == len(some) > 10
    stale = 0
    for full, lean in zip(every, some, strict=True):
        assert lean.message_id == full.message_id  # type: ignore[attr-defined]
        assert lean.decided_at == full.decided_at  # type: ignore[attr-defined]
        if full.decided_at < horizon:  # type: ignore[attr-defined]
            stale += 1
            assert not lean.rendered  # type: ignore[attr-defined]
            assert (lean.subject, lean.text, lean.html) == ("", "", "")  # type: ignore[attr-defined]
        else:
            assert lean == full
            assert full.rendered
            assert full.subject
    assert 0 < stale < len(every)
