"""The ``lifecycle`` command: one module per subcommand, wired in :mod:`~streams.cli.command`."""

from streams.cli.command import build_parser, main

__all__ = ["build_parser", "main"]
