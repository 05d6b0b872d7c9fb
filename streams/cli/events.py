"""``lifecycle events schema``: the event contract as JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lifecycle.events import event_json_schema

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    events = subparsers.add_parser("events", help="the inbound event contract")
    commands = events.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
    schema = commands.add_parser("schema", help="print the JSON Schema of inbound events")
    schema.set_defaults(run=_schema)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(event_json_schema(), indent=2, sort_keys=True))
    return 0
