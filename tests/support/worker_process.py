"""Run ``lifecycle worker`` as a real subprocess, the way an operator would.

A :class:`WorkerProcess` gets its own topics, app id, web port and data dir from the
test's unique names, so tests can share one broker. It can be stopped politely
(SIGTERM), killed (SIGKILL) and started again with the same settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kafka_helpers import UniqueNames, wait_for

__all__ = ["WorkerEnv", "WorkerProcess", "free_port", "worker_env"]

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET = "test-unsubscribe-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerEnv:
    names: UniqueNames
    values: dict[str, str]

    def topic(self, setting: str) -> str:
        return self.values[f"LIFECYCLE_TOPIC_{setting.upper()}"]

    @property
    def app_id(self) -> str:
        return self.values["LIFECYCLE_APP_ID"]

    def with_overrides(self, **overrides: str) -> WorkerEnv:
        return WorkerEnv(self.names, {**self.values, **overrides})


def worker_env(
    names: UniqueNames,
    bootstrap_servers: str,
    data_dir: Path,
    *,
    smtp_port: int,
    campaigns_dir: Path | None = None,
    partitions: int = 4,
    **extra: str,
) -> WorkerEnv:
    topics = {
        "customers": "shop-customers",
        "orders": "shop-orders",
        "logins": "shop-logins",
        "support": "shop-support",
        "customer_events": "customer-events",
        "outbox": "outbox",
        "outbox_retry": "outbox-retry",
        "dead_letter": "dead-letter",
        "counters": "counters",
    }
    values = {f"LIFECYCLE_TOPIC_{k.upper()}": names.topic(v) for k, v in topics.items()}
    values.update(
        LIFECYCLE_APP_ID=names.prefix,
        LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers,
        LIFECYCLE_PARTITIONS=str(partitions),
        LIFECYCLE_KAFKA_SESSION_TIMEOUT_SECONDS="6",
        LIFECYCLE_TICK_INTERVAL_SECONDS="1",
        LIFECYCLE_DATA_DIR=str(data_dir),
        LIFECYCLE_CAMPAIGNS_DIR=str(campaigns_dir or ROOT / "campaigns"),
        LIFECYCLE_SMTP_HOST="127.0.0.1",
        LIFECYCLE_SMTP_PORT=str(smtp_port),
        LIFECYCLE_SMTP_RETRY_BASE_SECONDS="0.2",
        LIFECYCLE_SMTP_RETRY_CAP_SECONDS="2",
        LIFECYCLE_SMTP_TIMEOUT_SECONDS="5",
        LIFECYCLE_MAIL_FROM="Shop <hello@shop.test>",
        LIFECYCLE_UNSUBSCRIBE_SECRET=TEST_SECRET,
        LIFECYCLE_LOG_LEVEL="info",
    )
    values.update(extra)
    return WorkerEnv(names, values)


@dataclass
class WorkerProcess:
    env: WorkerEnv
    log_path: Path
    web_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
        return {
            **inherited,
            **self.env.values,
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
            cwd=ROOT,
            env=self._environment(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        try:
            await wait_for(self.is_ready, lambda ok: ok, within=ready_within)
        except AssertionError as exc:
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
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def metrics(self) -> dict[str, float]:
        """Every sample, keyed ``name{label="v",...}`` with the labels sorted."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.base_url}/metrics") as response,
        ):
            text = await response.text()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

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
        return await wait_for(lambda: self.metric(name, **labels), predicate, within=within)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def env_from(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}
