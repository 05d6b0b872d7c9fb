"""``lifecycle demo``: the options here; the demo itself (:mod:`streams.dev.demo`) is imported
only when it runs, so no other command (the worker above all) loads the dev area."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the worker on an embedded broker with generated traffic, then stop"
    )
    demo.add_argument("--customers", type=int, default=70, help="how many customers (default 70)")
    demo.add_argument(
        "--output", type=Path, default=Path("demo-output"), help="where emails and logs go"
    )
    demo.add_argument(
        "--campaigns", type=Path, default=Path("campaigns"), help="campaign directory"
    )
    demo.add_argument(
        "--timeout", type=float, default=240.0, help="give up after this many seconds"
    )
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from streams.dev import demo_main

    return demo_main(args)
