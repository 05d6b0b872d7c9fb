"""Run ``lifecycle worker`` as a subprocess and watch it through its web port.

Used by ``lifecycle demo`` and by the integration tests. A worker can be stopped politely
(SIGTERM), killed (SIGKILL) and started again with the same settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["WorkerProcess", "free_port", "wait_for"]

T = TypeVar("T")


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    within: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call ``probe`` until ``until(result)`` holds; raise with the last result at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await probe()
        if until(result):
            return result
        if loop.time() >= deadline:
            raise TimeoutError(f"{what} not met within {within:.0f}s; last seen: {result!r}")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerProcess:
    """``environment``: the ``LIFECYCLE_*`` settings; web port and public URL are added."""

    environment: Mapping[str, str]
    log_path: Path
    cwd: Path = field(default_factory=Path.cwd)
    web_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    #: Kept open between scrapes of /metrics (closed by :meth:`stop` and :meth:`kill`):
    #: a scrape on a kept-alive connection costs each side a third of one on a new one.
    _scrapes: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs (its exit not yet seen), else None."""
        process = self.process
        return process.pid if process is not None and process.returncode is None else None

    def _environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
        return {
            **inherited,
            **self.environment,
            "LIFECYCLE_WEB_PORT": str(self.web_port),
            "LIFECYCLE_PUBLIC_BASE_URL": self.base_url,
            "PYTHONUNBUFFERED": "1",
        }

    async def start(self, *, ready_within: float = 90.0) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streams.cli",
            "worker",
            cwd=self.cwd,
            env=self._environment(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        try:
            await wait_for(self.is_ready, lambda ok: ok, within=ready_within)
        except (AssertionError, TimeoutError) as exc:
            raise AssertionError(
                f"worker not ready in {ready_within}s:\n{self.log_tail()}"
            ) from exc

    async def is_ready(self) -> bool:
        if self.process is None or self.process.returncode is not None:
            raise AssertionError(
                f"worker exited with {self.process and self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"{self.base_url}/ready", timeout=aiohttp.ClientTimeout(total=2)
                ) as response,
            ):
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def stop(self, within: float = 30.0) -> int | None:
        await self.close_scrapes()
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no last commit, no flush."""
        await self.close_scrapes()
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def metrics(self) -> dict[str, float]:
        """Every sample, keyed ``name{label="v",...}`` with the labels sorted."""
        text = await self._scrape([])
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    async def totals(self, names: frozenset[str]) -> dict[str, float]:
        """The sum over all labels of each sample name in ``names`` (absent: 0).

        A name may also be one labelled sample as the exposition writes it, e.g.
        ``x_total{reason="a"}`` (exactly that label set). A line filter instead of the
        exposition parser, over only the samples asked for: cheap enough to poll many
        times a second without the poller's CPU, or the worker's rendering of the rest,
        slowing the worker."""
        families = sorted({name.partition("{")[0] for name in names})
        text = await self._scrape([("name[]", name) for name in families])
        sums = dict.fromkeys(names, 0.0)
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            sample, _, value = line.rpartition(" ")
            name = sample.partition("{")[0]
            for key in (name, sample) if sample != name else (name,):
                if key in sums:
                    try:
                        sums[key] += float(value)
                    except ValueError:
                        continue
        return sums

    async def _scrape(self, params: list[tuple[str, str]]) -> str:
        if self._scrapes is None or self._scrapes.closed:
            self._scrapes = aiohttp.ClientSession()
        # A kept connection the server closed meanwhile: aiohttp retries a GET on a new one.
        async with self._scrapes.get(f"{self.base_url}/metrics", params=params) as response:
            return await response.text()

    async def close_scrapes(self) -> None:
        """Close the connection the scrapes keep (a later scrape opens a new one)."""
        scrapes, self._scrapes = self._scrapes, None
        if scrapes is not None:
            await scrapes.close()

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for key, value in (await self.metrics()).items():
            sample_name, _, rest = key.partition("{")
            if sample_name != name:
                continue
            if all(f'{k}="{v}"' in rest for k, v in labels.items()):
                total += value
        return total

    async def wait_metric(
        self, name: str, predicate: Callable[[float], bool], *, within: float = 60.0, **labels: str
    ) -> float:
        try:
            return await wait_for(lambda: self.metric(name, **labels), predicate, within=within)
        except TimeoutError as exc:
            # What the worker said is what tells a slow worker from a stuck one.
            tail = self.log_tail()
            raise TimeoutError(f"{exc}\n--- worker log ({self.log_path}) ---\n{tail}") from None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class WorkerGroup:
    """Several worker processes of one consumer group, read as one worker.

    Each process exposes its own counters; the group's :meth:`totals` and :meth:`metrics`
    add them up, so a wait on "every event handled" holds once the whole group has
    handled them. (A record processed by one process and again by another after a
    partition moved is counted by both, as a duplicate the second time.)"""

    workers: list[WorkerProcess]

    @property
    def log_path(self) -> Path:
        return self.workers[0].log_path

    @property
    def log_paths(self) -> list[Path]:
        return [w.log_path for w in self.workers]

    async def start(self, *, ready_within: float = 90.0) -> None:
        """Start every process at once; return when all of them are ready."""
        await asyncio.gather(*(w.start(ready_within=ready_within) for w in self.workers))

    async def stop(self, within: float = 30.0) -> None:
        await asyncio.gather(*(w.stop(within) for w in self.workers))

    async def metrics(self) -> dict[str, float]:
        summed: dict[str, float] = {}
        for samples in await asyncio.gather(*(w.metrics() for w in self.workers)):
            for key, value in samples.items():
                summed[key] = summed.get(key, 0.0) + value
        return summed

    async def totals(self, names: frozenset[str]) -> dict[str, float]:
        summed = dict.fromkeys(names, 0.0)
        for sums in await asyncio.gather(*(w.totals(names) for w in self.workers)):
            for key, value in sums.items():
                summed[key] += value
        return summed

    def log_tail(self, lines: int = 60) -> str:
        if len(self.workers) == 1:
            return self.workers[0].log_tail(lines)
        return "\n".join(f"--- {w.log_path.name} ---\n{w.log_tail(lines)}" for w in self.workers)
