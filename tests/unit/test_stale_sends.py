"""Sends decided before ``stale_before`` are decided exactly as always, but not rendered.

A backfill decides many sends that delivery would expire as too old; rendering and
publishing them was most of what they cost. The worker passes ``stale_before`` (the wall
clock minus delivery's maximum delay); replay passes nothing and renders all. A stale send
is the outcome's ``expired``, never one of its ``messages`` (the outbox records), and the
state's facts count it as an expired email.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lifecycle.config import EngineConfig
from lifecycle.events import Event, parse_event
from lifecycle.kv import MemoryBytesStore
from lifecycle.measurement.periods import day_of
from lifecycle.processing import DueIndex, Engine, MemoryStateStore, PartitionProcessor
from lifecycle.processing.replay import sorted_history
from streams.dev.traffic import generate
from tests.unit.campaigns.support import shipped_campaigns

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _history() -> list[Event]:
    raw = [json.dumps(t.event).encode() for t in generate(NOW, 60, seed=5, days=60)]
    return sorted_history(parse_event(r) for r in raw)


def _run(stale_before: datetime | None) -> list[tuple[str, object]]:
    """Every output of the history (ticks hourly), each message, and per outcome what it
    publishes, what it expires and the expired emails its state's facts count."""
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
        seen.append(("published", outcome.messages))  # type: ignore[attr-defined]
        seen.append(("expired", outcome.expired))  # type: ignore[attr-defined]
        counted = [f for f in outcome.state.facts if f[0] == "e"]  # type: ignore[attr-defined]
        seen.append(("counted", counted))
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


def test_stale_sends_are_not_published_and_their_states_count_them_expired() -> None:
    horizon = NOW - timedelta(days=20)
    rendered, horizoned = _run(None), _run(horizon)
    assert not any(value for kind, value in rendered if kind in ("expired", "counted"))
    published = [m for kind, ms in rendered if kind == "published" for m in ms]
    assert published == [value for kind, value in rendered if kind == "message"]

    # Per outcome: ("published", ...), ("expired", ...), ("counted", ...) in a row.
    at = [i for i, (kind, _) in enumerate(horizoned) if kind == "published"]
    outcomes = [tuple(value for _, value in horizoned[i : i + 3]) for i in at]
    expired_total = published_now = 0
    for publish, expired, counted in outcomes:
        assert all(m.rendered for m in publish)
        assert all(not m.rendered and m.decided_at < horizon for m in expired)
        assert sorted(counted) == sorted(
            ("e", day_of(m.decided_at), m.campaign_id, m.variant, "expired") for m in expired
        )
        expired_total += len(expired)
        published_now += len(publish)
    assert expired_total > 10
    assert published_now + expired_total == len(published)
