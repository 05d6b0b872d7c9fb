"""``lifecycle report``: campaign results, variants against control, retention and cohorts.

Reads the counters topic (``--bootstrap``/``--topic``, default the worker's settings), or
the output of ``lifecycle replay`` (``--from FILE``: its ``tally`` lines), adds the facts
up with the same code either way, and prints terminal tables; ``--json`` prints the same
figures as one JSON object, ``--html PATH`` writes a self-contained page with charts.
Campaign names and configured splits come from the campaign directory (``--campaigns``,
default the settings'); without it the report still runs, checking splits against equal
shares. Exit codes: 0, or 2 for bad usage, settings or an unreachable broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from lifecycle.exceptions import LifecycleError
from lifecycle.measurement import (
    GRANULARITIES,
    CampaignInfo,
    CounterKey,
    Number,
    Totals,
    build_report,
    render_html,
    render_text,
    report_data,
)
from streams.campaign_loading import campaign_infos

__all__ = ["add_parser", "campaign_infos", "totals_from_replay"]


def add_parser(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="campaign results, A/B statistics, retention and cohorts from the counters"
    )
    source = report.add_mutually_exclusive_group()
    source.add_argument(
        "--from",
        dest="replay_output",
        type=Path,
        help="the output of `lifecycle replay` instead of the counters topic",
    )
    source.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    report.add_argument("--topic", help="the counters topic (default: settings)")
    report.add_argument("--campaigns", type=Path, help="campaign directory (default: settings)")
    report.add_argument(
        "--period", choices=GRANULARITIES, default="month", help="retention period (default month)"
    )
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the figures as JSON")
    output.add_argument("--html", type=Path, metavar="PATH", help="write an HTML report to PATH")
    report.set_defaults(run=_run)


def totals_from_replay(path: Path) -> dict[CounterKey, Number]:
    """Add up the ``tally`` lines of ``lifecycle replay`` output (other lines are skipped)."""
    totals = Totals()
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if '"tally"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if record.get("kind") == "tally":
                totals.add_facts(tuple(fact) for fact in record.get("facts", ()))
    return totals.values


def _run(args: argparse.Namespace) -> int:
    from streams.campaign_loading import load_campaign_set
    from streams.settings import load_settings

    try:
        settings = load_settings()
    except LifecycleError as exc:
        print(f"lifecycle report: {exc}", file=sys.stderr)
        return 2
    from streams.shipped_campaigns import campaigns_dir_for

    directory, _ = campaigns_dir_for(settings, args.campaigns)
    settings = settings.model_copy(update={"campaigns_dir": directory})
    infos: list[CampaignInfo] = []
    try:
        infos = campaign_infos(load_campaign_set(settings))
    except (OSError, LifecycleError) as exc:
        if args.campaigns is not None:
            print(f"lifecycle report: --campaigns {args.campaigns}: {exc}", file=sys.stderr)
            return 2
        print(
            f"lifecycle report: no campaigns loaded from {settings.campaigns_dir} ({exc}); "
            "splits are checked against equal shares",
            file=sys.stderr,
        )
    try:
        if args.replay_output is not None:
            totals = totals_from_replay(args.replay_output)
        else:
            from streams.counters import read_counters

            servers = args.bootstrap or settings.kafka_bootstrap_servers
            topic = args.topic or settings.topics.counters
            totals = asyncio.run(asyncio.wait_for(read_counters(servers, topic), timeout=120))
    except OSError as exc:
        print(f"lifecycle report: {exc}", file=sys.stderr)
        return 2
    except (ValueError, LookupError, TimeoutError) as exc:
        print(f"lifecycle report: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the broker's client errors: no traceback for a marketer
        print(f"lifecycle report: cannot read the counters: {exc}", file=sys.stderr)
        return 2
    report = build_report(totals, infos, args.period)
    if args.json:
        print(json.dumps(report_data(report), indent=2, ensure_ascii=False))
    elif args.html is not None:
        args.html.write_text(render_html(report), encoding="utf-8")
        print(f"wrote {args.html}")
    else:
        sys.stdout.write(render_text(report))
    return 0
