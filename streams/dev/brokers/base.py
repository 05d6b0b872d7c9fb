"""The broker interface every kind implements, and the errors they raise."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import ClassVar, Self

from lifecycle.exceptions import LifecycleError

__all__ = ["LOG_TAIL_LINES", "Broker", "BrokerError", "BrokerUnavailableError"]

#: How many lines of a broker's (or Maven's) output an error shows.
LOG_TAIL_LINES = 40


class BrokerError(LifecycleError):
    """A broker could not be prepared, started or reached."""


class BrokerUnavailableError(BrokerError):
    """A broker kind cannot run on this machine (missing package, Java or Maven)."""


class Broker(abc.ABC):
    """A Kafka-protocol broker that clients reach at ``bootstrap_servers`` once started."""

    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]``; raises :class:`BrokerError` before start."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Make the broker serve; returns once it answers Kafka requests."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop serving and release what start took; safe to call twice."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
