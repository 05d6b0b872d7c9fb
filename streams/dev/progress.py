"""Progress of the demo: a one-line bar on a terminal, plain lines otherwise.

On a TTY the line is redrawn in place (carriage return, no newline) at most ten times a
second; anywhere else (a pipe, a CI log) one plain line is written every ``every`` steps
and at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 24


@dataclass
class Progress:
    steps: int
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    every: int = 10
    started: float = field(default_factory=time.monotonic)
    _drawn: float = 0.0
    _tty: bool = field(init=False)

    def __post_init__(self) -> None:
        self._tty = self.stream.isatty()

    def update(self, step: int, today: date, *, events: int, emails: int, dead: int) -> None:
        """After step ``step`` (0-based) of ``steps``, the simulated date now ``today``."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        done = step + 1
        figures = (
            f"{today.isoformat()}  {done:>3}/{self.steps}  {events / elapsed:>6,.0f} events/s"
            f"  {emails:>6,} emails sent  {dead} dead letters"
        )
        last = done == self.steps
        if self._tty:
            now = time.monotonic()
            if not last and now - self._drawn < 0.1:
                return
            self._drawn = now
            filled = round(_WIDTH * done / self.steps)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {figures}\x1b[K" + ("\n" if last else ""))
        elif last or done % self.every == 0:
            self.stream.write(f"simulated {figures}\n")
        self.stream.flush()
