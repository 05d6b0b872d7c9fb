"""``lifecycle demo``: the options here; the demo itself (:mod:`streams.dev.demo`) is imported
only when it runs, so no other command (the worker above all) loads the dev area."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the worker on an embedded broker with a simulated shop, report, then stop",
    )
    demo.add_argument(
        "--customers", type=int, default=2000, help="how many customers (default 2000)"
    )
    demo.add_argument("--days", type=int, default=120, help="simulated days (default 120)")
    demo.add_argument(
        "--slot-days",
        type=int,
        default=3,
        help="simulated days fed to the broker at a time; a customer has at most one event "
        "per slot, so every customer's events reach the engine in order (default 3)",
    )
    demo.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=50,
        help="the worker's LIFECYCLE_KAFKA_FETCH_MAX_WAIT_MS: simulated traffic comes in "
        "bursts, so each idle hop would otherwise wait up to Faust's 1500 ms (default 50)",
    )
    demo.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes in one consumer group, 1 to 4 (the demo's topics have 4 "
        "partitions; default 2)",
    )
    demo.add_argument("--seed", type=int, default=7, help="the simulation's seed (default 7)")
    demo.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 3, 2),
        help="the first simulated day, YYYY-MM-DD (default 2026-03-02)",
    )
    demo.add_argument(
        "--output", type=Path, default=Path("demo-output"), help="where emails and logs go"
    )
    demo.add_argument(
        "--campaigns",
        type=Path,
        default=None,
        help="campaign directory (default: LIFECYCLE_CAMPAIGNS_DIR, else ./campaigns, "
        "else the shipped examples)",
    )
    demo.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds"
    )
    demo.add_argument(
        "--keep-open", action="store_true", help="keep the inbox page up after the report"
    )
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if min(args.customers, args.days, args.slot_days, args.fetch_max_wait_ms) < 1:
        print(
            "lifecycle demo: --customers, --days, --slot-days and --fetch-max-wait-ms"
            " must be at least 1"
        )
        return 2
    if not 1 <= args.workers <= 4:
        print("lifecycle demo: --workers must be 1 to 4 (the demo's topics have 4 partitions)")
        return 2
    from streams.dev import demo_main

    return demo_main(args)
