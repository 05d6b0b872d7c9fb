"""Pytest fixtures for tests on a real broker (loaded from ``tests/conftest.py``).

- ``kafka_broker`` (session): the broker :func:`streams.dev.brokers.choose_broker` picks, started on
  first request and stopped at the end of the session. Set ``LIFECYCLE_BROKER=kafka|tansu`` or
  ``KAFKA_BOOTSTRAP_SERVERS`` to steer it.
- ``tansu_broker`` (session): always the embedded Tansu broker, for tests marked ``tansu``.
- ``unique_names`` (function): this test's :class:`UniqueNames`, so tests share one broker
  without sharing topics or groups.
- ``kafka_kit`` / ``tansu_kit`` (function): :class:`KafkaKit` helpers bound to the broker and to
  this test's unique names.

Session-scoped async fixtures run in the session event loop (``loop_scope="session"``, as set as
the default in pyproject.toml), so a broker started in one test's loop stays usable in the next.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from streams.dev.brokers.base import Broker
from streams.dev.brokers.choice import choose_broker
from streams.dev.brokers.tansu import EmbeddedTansu
from tests.support.kafka_helpers import KafkaKit, UniqueNames

__all__ = ["kafka_broker", "kafka_kit", "tansu_broker", "tansu_kit", "unique_names"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_broker() -> AsyncIterator[Broker]:
    async with choose_broker() as broker:
        yield broker


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tansu_broker() -> AsyncIterator[Broker]:
    async with EmbeddedTansu() as broker:
        yield broker


@pytest.fixture
def unique_names(request: pytest.FixtureRequest) -> UniqueNames:
    return UniqueNames.for_test(request.node.name)


@pytest.fixture
def kafka_kit(kafka_broker: Broker, unique_names: UniqueNames) -> KafkaKit:
    return KafkaKit(kafka_broker.bootstrap_servers, unique_names)


@pytest.fixture
def tansu_kit(tansu_broker: Broker, unique_names: UniqueNames) -> KafkaKit:
    return KafkaKit(tansu_broker.bootstrap_servers, unique_names)
