"""A broker run as a child process in its own temp dir, on free loopback ports.

A subprocess broker listens on free loopback ports only, is tied to the Python thread that
started it (on Linux it gets SIGTERM when that thread dies, so a killed test run leaves no
broker behind), and is stopped with SIGTERM, then SIGKILL after ``stop_timeout`` seconds.
Its temp dir is removed on stop, except after a failed start, when it is kept and named in
the error. A start that fails on a port clash is retried on other ports.
"""

from __future__ import annotations

import abc
import asyncio
import atexit
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streams.dev.brokers.base import LOG_TAIL_LINES, Broker, BrokerError
from streams.dev.brokers.readiness import wait_until_serving

__all__ = ["LOOPBACK", "SubprocessBroker", "free_loopback_ports"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_PORT_CLASH_MARKERS = ("Address already in use", "AddrInUse", "BindException")

# Processes started here and not stopped yet: killed at interpreter exit as a last resort.
_live_processes: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftover_processes() -> None:
    for process in list(_live_processes):
        _terminate_sync(process, timeout=5.0)


def _terminate_sync(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _live_processes.discard(process)


def free_loopback_ports(count: int) -> list[int]:
    """Ports the kernel just handed out; a race with another process is caught by retrying."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _death_signal_prefix() -> list[str]:
    # setpriv sets PR_SET_PDEATHSIG and then execs the broker, so the broker gets SIGTERM when the
    # thread that spawned it dies, even by SIGKILL. No preexec_fn: that is unsafe with threads.
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class SubprocessBroker(Broker):
    """A broker run as a child process in its own temp dir, on free loopback ports."""

    _START_ATTEMPTS = 3

    def __init__(self, *, startup_timeout: float, stop_timeout: float) -> None:
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self._bootstrap is None or self._process is None:
            raise BrokerError(f"{self.kind} broker is not started")
        return self._bootstrap

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (not yet reaped), else None."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def workdir(self) -> Path | None:
        """The broker's temp dir (config, data, logs) while it exists."""
        return self._workdir

    @property
    def log_path(self) -> Path | None:
        """The broker's main log file, the first place to look when it misbehaves."""
        return None if self._workdir is None else self._log_files(self._workdir)[0]

    def __repr__(self) -> str:
        where = self._bootstrap if self._process is not None else "not started"
        return f"<{type(self).__name__} {where}>"

    async def _prepare(self) -> None:
        """Check prerequisites and fetch what is missing, once per instance."""

    @abc.abstractmethod
    async def _launch_command(self, workdir: Path) -> tuple[list[str], str]:
        """Pick ports, write config into ``workdir``; return (argv, bootstrap servers)."""

    @abc.abstractmethod
    def _log_files(self, workdir: Path) -> list[Path]:
        """Log files worth showing on failure, most useful first."""

    def _output_path(self, workdir: Path) -> Path:
        return workdir / "process.out"

    async def start(self) -> None:
        if self._process is not None:
            raise BrokerError(f"{self!r} is already started")
        await self._prepare()
        for attempt in range(1, self._START_ATTEMPTS + 1):
            workdir = Path(tempfile.mkdtemp(prefix=f"lifecycle-{self.kind}-"))
            self._workdir = workdir
            started_at = time.monotonic()
            try:
                argv, bootstrap = await self._launch_command(workdir)
                self._spawn(argv, workdir)
                self._bootstrap = bootstrap
                await wait_until_serving(
                    bootstrap, within=self._startup_timeout, is_running=self._is_running
                )
            except BrokerError as exc:
                self._kill_now()
                if attempt < self._START_ATTEMPTS and self._port_clash(workdir):
                    log.info("%s: port clash on attempt %d, retrying", self.kind, attempt)
                    shutil.rmtree(workdir, ignore_errors=True)
                    continue
                raise BrokerError(
                    f"{self.kind} broker failed to start: {exc}\n{self._failure_report(workdir)}"
                ) from exc
            except BaseException:
                self._kill_now()
                shutil.rmtree(workdir, ignore_errors=True)
                self._workdir = None
                raise
            log.info(
                "%s serving at %s after %.2fs (dir %s)",
                self.kind,
                bootstrap,
                time.monotonic() - started_at,
                workdir,
            )
            return

    def _spawn(self, argv: list[str], workdir: Path) -> None:
        with self._output_path(workdir).open("wb") as output:
            # The child keeps its own copy of the descriptor.
            self._process = subprocess.Popen(  # noqa: S603 - argv is built here, no shell
                [*_death_signal_prefix(), *argv],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        _live_processes.add(self._process)

    def _is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _kill_now(self) -> None:
        if self._process is not None:
            _terminate_sync(self._process, timeout=0.0)
        self._process = None
        self._bootstrap = None

    def _port_clash(self, workdir: Path) -> bool:
        texts = (_tail(path, 200) for path in self._log_files(workdir))
        return any(marker in text for text in texts for marker in _PORT_CLASH_MARKERS)

    def _failure_report(self, workdir: Path) -> str:
        parts = [f"broker dir kept for inspection: {workdir}"]
        for path in self._log_files(workdir):
            tail = _tail(path)
            if tail:
                parts.append(f"--- last lines of {path} ---\n{tail}")
        return "\n".join(parts)

    async def stop(self) -> None:
        process = self._process
        if process is not None:
            if process.poll() is None:
                process.terminate()
                deadline = time.monotonic() + self._stop_timeout
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                if process.poll() is None:
                    log.warning("%s did not stop within %.0fs; killing", self, self._stop_timeout)
            # SIGKILL now if still running: stop() takes stop_timeout at most.
            _terminate_sync(process, timeout=0.0)
        self._process = None
        self._bootstrap = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
