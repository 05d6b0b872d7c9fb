"""``lifecycle replay HISTORY.jsonl``: backtest the engine and campaigns over an event log.

Engine thresholds come from the same ``LIFECYCLE_ENGINE__*`` variables as the worker, so a
backtest decides what the worker would. Lines that break the contract are reported on
stderr as ``FILE:LINE: reason`` and skipped; the exit code is then 1. Adaptive splits
learn per partition, so the replay splits customers into ``LIFECYCLE_PARTITIONS``
partitions as the worker's producer does (``--partitions`` overrides it).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.events import Event, parse_event
from lifecycle.exceptions import EventError, LifecycleError
from lifecycle.localtime import parse_duration
from lifecycle.processing import Engine, Replay, sorted_history
from streams.shipped_campaigns import campaigns_dir_for

if TYPE_CHECKING:
    from lifecycle.campaigns import CampaignSet
    from streams.settings import Settings

__all__ = ["add_parser", "read_history"]


def add_parser(subparsers: Any) -> None:
    replay = subparsers.add_parser(
        "replay", help="run the engine over a JSONL event history and print what it decides"
    )
    replay.add_argument("history", type=Path, help="one event per line, in the contract's JSON")
    replay.add_argument(
        "--campaigns",
        type=Path,
        help="campaign directory (default: LIFECYCLE_CAMPAIGNS_DIR, else ./campaigns, "
        "else the shipped examples)",
    )
    replay.add_argument("--tick", default="1h", help="tick interval in event time (default 1h)")
    replay.add_argument("--until", help="stop at this time (ISO 8601 with offset)")
    replay.add_argument(
        "--partitions",
        type=int,
        help="partitions adaptive splits learn in, as the worker's LIFECYCLE_PARTITIONS "
        "(default: that setting)",
    )
    replay.set_defaults(run=_run)


def read_history(path: Path, max_bytes: int) -> tuple[list[Event], list[str]]:
    events: list[Event] = []
    problems: list[str] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if not stripped:
                continue
            try:
                events.append(parse_event(stripped, max_bytes=max_bytes))
            except EventError as exc:
                problems.append(f"{path}:{number}: {exc.reason}")
    return events, problems


def _run(args: argparse.Namespace) -> int:
    from streams.settings import load_settings

    try:
        tick = _parse_tick(args.tick)
        until = _parse_until(args.until)
        settings = load_settings()
        directory, shipped = campaigns_dir_for(settings, args.campaigns)
        if shipped:
            print(
                f"lifecycle replay: using the shipped example campaigns in {directory}",
                file=sys.stderr,
            )
        settings = settings.model_copy(update={"campaigns_dir": directory})
        campaigns = _load_campaigns(settings, given=args.campaigns is not None)
        partitions = settings.partitions if args.partitions is None else args.partitions
        if partitions < 1:
            raise ValueError(f"--partitions must be at least 1, not {partitions}")
    except (ValueError, LifecycleError) as exc:
        print(f"lifecycle replay: {exc}", file=sys.stderr)
        return 2
    if not args.history.is_file():
        print(f"lifecycle replay: {args.history}: no such file", file=sys.stderr)
        return 2
    events, problems = read_history(args.history, settings.max_event_bytes)
    for problem in problems:
        print(problem, file=sys.stderr)
    replay = Replay(Engine(settings.engine, campaigns), tick=tick, partitions=partitions)
    out = sys.stdout
    for record in replay.run(sorted_history(events), until=until):
        out.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if problems else 0


def _parse_tick(text: str) -> timedelta:
    try:
        tick = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"--tick {text!r}: {exc}") from None
    if tick <= timedelta(0):
        raise ValueError(f"--tick {text!r}: the tick interval must be positive, e.g. 1h")
    return tick


def _load_campaigns(settings: Settings, *, given: bool) -> CampaignSet:
    from streams.campaign_loading import load_campaign_set

    try:
        return load_campaign_set(settings)
    except OSError as exc:
        source = "--campaigns" if given else "--campaigns (default from LIFECYCLE_CAMPAIGNS_DIR)"
        reason = exc.strerror or str(exc)
        raise ValueError(f"{source} {str(settings.campaigns_dir)!r}: {reason}") from None


def _parse_until(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"--until {text!r} needs an offset, e.g. 2026-12-01T00:00:00+00:00")
    return value
