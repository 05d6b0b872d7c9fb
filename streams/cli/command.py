"""The ``lifecycle`` command.

Exit codes: 0 success, 1 a check failed (e.g. invalid campaigns), 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import streams.cli.campaigns as campaigns_cli
import streams.cli.demo as demo_cli
import streams.cli.events as events_cli
import streams.cli.model as model_cli
import streams.cli.replay as replay_cli
import streams.cli.report as report_cli
import streams.cli.worker as worker_cli

__all__ = ["build_parser", "main"]

_COMMANDS = (demo_cli, worker_cli, replay_cli, report_cli, campaigns_cli, events_cli, model_cli)


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
