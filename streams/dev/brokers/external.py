"""A broker someone else runs (``KAFKA_BOOTSTRAP_SERVERS``); never started or stopped here."""

from __future__ import annotations

from typing import ClassVar

from streams.dev.brokers.base import Broker
from streams.dev.brokers.readiness import parse_servers, wait_until_serving

__all__ = ["ExternalBroker"]


class ExternalBroker(Broker):
    """A broker that runs elsewhere; ``start`` only checks that it answers."""

    kind: ClassVar[str] = "external"

    def __init__(self, bootstrap_servers: str, *, startup_timeout: float = 30.0) -> None:
        parse_servers(bootstrap_servers)
        self._bootstrap = bootstrap_servers
        self._startup_timeout = startup_timeout

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap

    def __repr__(self) -> str:
        return f"<ExternalBroker {self._bootstrap}>"

    async def start(self) -> None:
        await wait_until_serving(self._bootstrap, within=self._startup_timeout)

    async def stop(self) -> None:
        """Nothing to stop: the broker is not ours."""
