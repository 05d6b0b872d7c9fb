"""Ctrl-C on ``lifecycle demo`` on the embedded Tansu broker: after the report with
``--keep-open`` while a client holds a request open to the inbox, during the run while the
worker is up, and twice. Each time the demo exits with 130 within its documented bound
(:data:`streams.dev.demo.STOP_WITHIN_SECONDS`), says so in one line, prints no traceback and
leaves neither the worker nor Tansu running. The smallest shop that reaches the report."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit

import pytest

from streams.dev.demo import STOP_WITHIN_SECONDS
from tests.support import processes

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.tansu,
    pytest.mark.slow,
    pytest.mark.skipif(not processes.HAS_PROC, reason="finds the demo's children in /proc"),
]

_STOPPING = "Stopping the demo"
#: Generous: only a demo that hangs gets near it, and then the test fails on its bound.
_GIVE_UP = STOP_WITHIN_SECONDS + 30


class _Demo:
    """``lifecycle demo --keep-open`` as a child, its stdout collected line by line."""

    def __init__(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "KAFKA_"))}
        self.stderr_path = tmp_path / "demo.stderr"
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "demo", "--customers", "50", "--days", "6",
                 "--output", str(tmp_path / "demo"), "--keep-open", "--timeout", "120"],
                cwd=tmp_path,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )  # fmt: skip
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for_line(self, pattern: str, within: float = 150) -> re.Match[str]:
        deadline = time.monotonic() + within
        with self._changed:
            while True:
                for line in self.lines:
                    if found := re.search(pattern, line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    pytest.fail(f"no line like {pattern!r} ({self.process.poll()}):\n{self.output}")
                self._changed.wait(min(left, 0.5))

    def interrupt(self) -> float:
        """SIGINT, as Ctrl-C sends it to the demo; the seconds until it exited."""
        self.process.send_signal(signal.SIGINT)
        started = time.monotonic()
        self.process.wait(timeout=_GIVE_UP)
        return time.monotonic() - started

    def children(self) -> dict[int, str]:
        """The demo's child processes: pid to command line."""
        return processes.children(self.process.pid)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[_Demo]:
    started = _Demo(tmp_path)
    try:
        yield started
    finally:
        started.close()


def _until(condition: Callable[[], bool], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within} s")
        time.sleep(0.05)  # polling a condition another process makes true


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (URLError, OSError):
        return False


@contextlib.contextmanager
def _request_held_open(url: str) -> Iterator[None]:
    """A request whose body never finishes arriving: the inbox has answered it, and aiohttp
    waits for the rest of the body (up to 10 s) before it lets the connection go, unless
    its shutdown timeout cuts that short."""
    where = urlsplit(url)
    assert where.hostname is not None
    assert where.port is not None
    with socket.create_connection((where.hostname, where.port), timeout=10) as held:
        held.sendall(
            b"GET / HTTP/1.1\r\nHost: inbox\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100
        )
        assert held.recv(64).startswith(b"HTTP/1.1 200")  # the handler ran; the body lingers
        yield


def _stderr(demo: _Demo) -> str:
    return demo.stderr_path.read_text(errors="replace")


def _kind(children: dict[int, str], word: str) -> list[int]:
    return [pid for pid, command in children.items() if word in command]


def test_ctrl_c_after_the_report_stops_within_the_bound_though_a_request_is_held(
    demo: _Demo,
) -> None:
    url = demo.wait_for_line(r"inbox stays open at (http://\S+) ").group(1)
    _until(lambda: _answers(url), "the inbox answers")
    children = demo.children()
    [tansu] = _kind(children, "tansu")
    assert _kind(children, "streams.cli worker") == []  # stopped before the report
    with _request_held_open(url):
        took = demo.interrupt()
    out = demo.output
    assert demo.process.returncode == 130, out
    assert took <= STOP_WITHIN_SECONDS, out
    # The parts stopped themselves; the watchdog did not have to kill anything.
    assert out.count(_STOPPING) == 1
    assert "killed" not in out.split(_STOPPING)[1]
    assert "Traceback" not in _stderr(demo)
    assert processes.gone(tansu)


def test_ctrl_c_during_the_run_stops_the_worker_and_the_broker(demo: _Demo) -> None:
    def worker_and_tansu() -> bool:
        children = demo.children()
        # The demo's default: two worker processes.
        return len(_kind(children, "streams.cli worker")) == 2 and bool(_kind(children, "tansu"))

    _until(worker_and_tansu, "both workers and Tansu started", within=120)
    children = demo.children()
    workers, [tansu] = _kind(children, "streams.cli worker"), _kind(children, "tansu")
    took = demo.interrupt()
    out = demo.output
    assert demo.process.returncode == 130, out
    assert took <= STOP_WITHIN_SECONDS, out
    assert "Campaign results" not in out  # it was stopped before the report
    # One line, the last: nothing after it, no watchdog either.
    assert out.rstrip("\n").splitlines()[-1].startswith(_STOPPING), out
    assert "Traceback" not in _stderr(demo)
    assert all(processes.gone(worker) for worker in workers)
    assert processes.gone(tansu)


def test_a_second_ctrl_c_kills_the_children_and_exits_at_once(demo: _Demo) -> None:
    url = demo.wait_for_line(r"inbox stays open at (http://\S+) ").group(1)
    _until(lambda: _answers(url), "the inbox answers")
    [tansu] = _kind(demo.children(), "tansu")
    # The held request keeps the inbox's stop busy for its timeout, the broker's stop after it.
    with _request_held_open(url):
        demo.process.send_signal(signal.SIGINT)
        demo.wait_for_line(_STOPPING, within=_GIVE_UP)
        took = demo.interrupt()
    out = demo.output
    assert demo.process.returncode == 130, out
    assert took <= 2, out
    assert "stopped at once; 1 child process killed" in out
    assert "Traceback" not in _stderr(demo)
    assert processes.gone(tansu)
