"""Ctrl-C for a command that owns child processes: a bounded stop, then a hard one.

While ``with interrupts.installed():`` runs the command's ``asyncio.run``, SIGINT and
SIGTERM are handled here instead of raising :class:`KeyboardInterrupt` (or ending the
process, for SIGTERM):

- the first signal writes one line (``message``), cancels the task given to
  :meth:`Interrupts.watch` (its cleanup then stops each part within that part's own
  bound) and starts a watchdog thread;
- a second signal, or the watchdog ``within`` seconds after the first, sends SIGKILL to
  every child a source given to :meth:`Interrupts.adopt` still names, waits until they
  have died (2 s at most: SIGKILL lands asynchronously), writes one line and
  ends the process at once (``os._exit``: no cleanup, no atexit handlers) with
  128 + the signal's number: 130 for SIGINT, the shell's convention and the CLI's.

Invariants: once a signal came, the process ends within ``within`` seconds, and no child
adopted here outlives it. A Python signal handler runs on the main thread between two
bytecodes, also while that thread waits in ``select`` or a lock's ``acquire``, so a
blocked event loop does not delay the second signal; the handler writes with
``os.write`` because a ``print`` on the same thread may be half done. A signal that was
ignored when the command started (``nohup``, a background job of a non-interactive shell)
stays ignored.

Failure window: a source names a child by its pid while the child is not yet reaped; a
child reaped between that check and the SIGKILL could, in that instant, have its pid
reused by an unrelated process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

__all__ = ["Interrupts"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """The signal handling described in the module docstring."""

    def __init__(self, *, within: float, message: str, name: str) -> None:
        self.within = within
        self.message = message
        self.name = name
        #: The first signal received, if any.
        self.received: signal.Signals | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sources: list[Callable[[], Iterable[int]]] = []
        self._watchdog: threading.Timer | None = None

    @property
    def exit_code(self) -> int:
        """128 + the first signal's number (130 for SIGINT); 0 before any signal."""
        return 0 if self.received is None else 128 + self.received

    def watch(self, task: asyncio.Task[Any]) -> None:
        """The task the first signal cancels (call from inside its loop)."""
        self._task = task
        self._loop = task.get_loop()

    def adopt(self, pids: Callable[[], Iterable[int]]) -> None:
        """``pids()`` names the children still running: killed when the stop is cut short."""
        self._sources.append(pids)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        previous = {number: signal.getsignal(number) for number in _SIGNALS}
        handled = [n for n, handler in previous.items() if handler is not signal.SIG_IGN]
        for number in handled:
            signal.signal(number, self._on_signal)
        try:
            yield self
        finally:
            for number in handled:
                signal.signal(number, previous[number])
            if self._watchdog is not None:
                self._watchdog.cancel()

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        received = signal.Signals(number)
        task, loop = self._task, self._loop
        if self.received is not None or task is None or loop is None or loop.is_closed():
            self._end_now(received, "stopped at once")
            return
        self.received = received
        _write(("\n" if sys.stdout.isatty() else "") + self.message)
        watchdog = threading.Timer(
            self.within,
            self._end_now,
            args=(received, f"not stopped within {self.within:.0f} s, so killed"),
        )
        watchdog.daemon = True
        watchdog.start()
        self._watchdog = watchdog
        # Thread-safe, so it also wakes a loop that waits in select().
        loop.call_soon_threadsafe(task.cancel)

    def _end_now(self, received: signal.Signals, how: str) -> None:
        killed: list[int] = []
        for source in self._sources:
            for pid in source():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        _reap(killed)
        count = len(killed)
        children = f"; {count} child process{'es' if count != 1 else ''} killed"
        _write(f"{self.name}: {how}{children if count else ''}")
        os._exit(128 + (self.received or received))


def _reap(pids: list[int], within: float = 2.0) -> None:
    """Wait (``within`` seconds at most) until each killed child has died.

    SIGKILL is delivered asynchronously: on a loaded machine a child can still be running
    for a moment after ``kill`` returned, and would then outlive this process."""
    deadline = time.monotonic() + within
    waiting = list(pids)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (asyncio's child watcher)
                done = pid
            if done == pid:
                waiting.remove(pid)
        if waiting:
            time.sleep(0.01)


def _write(line: str) -> None:
    # What print() buffered goes first; on the main thread the buffer may be mid-write.
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.write(sys.stdout.fileno(), (line + "\n").encode())
