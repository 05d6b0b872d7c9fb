"""The ``lifecycle`` command.

Exit codes: 0 success, 1 a check failed (e.g. invalid campaigns), 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streams.cli import campaigns as campaigns_cli
from streams.cli import events as events_cli
from streams.cli import model as model_cli
from streams.cli import replay as replay_cli
from streams.cli import worker as worker_cli
from streams.dev import demo

__all__ = ["build_parser", "main"]

_COMMANDS = (demo, worker_cli, replay_cli, campaigns_cli, events_cli, model_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecycle",
        description="Customer lifecycle messaging worker: Kafka events in, journey emails out.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `lifecycle replay ... | head`
        sys.stderr.close()
        return 0
