"""When a broker counts as serving: metadata lists a live broker and a group coordinator answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.dev.brokers.base import BrokerError

__all__ = ["parse_servers", "wait_until_serving"]


def parse_servers(bootstrap_servers: str) -> list[tuple[str, int]]:
    servers = []
    for item in bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise BrokerError(f"not a host:port list: {bootstrap_servers!r}")
        servers.append((host.strip("[]"), int(port)))
    return servers


async def _any_port_open(servers: list[tuple[str, int]]) -> bool:
    for host, port in servers:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def _serving_problem(bootstrap_servers: str) -> str | None:
    """What still keeps clients from working, or None when metadata and groups both answer."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="lifecycle-broker-probe",
        request_timeout_ms=5000,
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        if not cluster["brokers"]:
            return "metadata lists no live broker yet"
        # Apache Kafka creates __consumer_offsets on the first coordinator lookup; doing it here
        # spares the first consumer group a round of GroupCoordinatorNotAvailable retries.
        await admin.find_coordinator("lifecycle-broker-probe")
    finally:
        await admin.close()
    return None


async def wait_until_serving(
    bootstrap_servers: str,
    *,
    within: float,
    is_running: Callable[[], bool] = lambda: True,
) -> None:
    """Return once metadata lists a live broker and a group coordinator answers.

    Raises :class:`BrokerError` at the deadline.

    A TCP pre-check keeps aiokafka from logging connection errors while the port is still closed.
    ``is_running`` lets a subprocess broker fail fast when its process has exited.
    """
    servers = parse_servers(bootstrap_servers)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last_problem = "port not open yet"
    while True:
        if not is_running():
            raise BrokerError(f"broker process exited before serving ({last_problem})")
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise BrokerError(
                f"{bootstrap_servers} did not serve Kafka requests within {within:.0f}s "
                f"(last problem: {last_problem})"
            )
        if await _any_port_open(servers):
            try:
                problem = await asyncio.wait_for(_serving_problem(bootstrap_servers), remaining)
                if problem is None:
                    return
                last_problem = problem
            except (KafkaError, OSError, TimeoutError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.1)
