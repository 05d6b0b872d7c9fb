"""``python -m streams.dev.brokers prefetch``: warm the Kafka jar cache (for CI)."""

from __future__ import annotations

import argparse
import sys
import time

from streams.dev.brokers.base import BrokerError
from streams.dev.brokers.kafka_runtime import DEFAULT_KAFKA_VERSION, ensure_kafka_jars

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.dev.brokers prefetch``: warm the Kafka jar cache (for CI)."""
    parser = argparse.ArgumentParser(prog="python -m streams.dev.brokers", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prefetch = commands.add_parser("prefetch", help="fetch the Apache Kafka jars into the cache")
    prefetch.add_argument("--version", default=None, help=f"default {DEFAULT_KAFKA_VERSION}")
    args = parser.parse_args(argv)
    if args.command == "prefetch":
        started = time.monotonic()
        try:
            libs = ensure_kafka_jars(args.version)
        except BrokerError as exc:
            print(f"prefetch failed: {exc}", file=sys.stderr)
            return 1
        jars = len(list(libs.glob("*.jar")))
        print(f"{jars} jars in {libs} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
