"""Create the worker's own topics before Faust starts, and check the ones that exist.

Faust creates the topics its agents read and its table changelogs, but not topics it only
writes to (dead letters, counters); a cluster with auto-creation off would refuse those
writes, and with it on they appear with the broker's default partition count. So every
topic the worker owns is created here with the configured partitions, the table changelogs
included. The topics that carry customer keys must all have the same number of partitions,
or a customer's events, state and outbox would live on different partitions: a mismatch
stops start-up.

A topic the broker has just created can be missing from metadata, or listed with no
partitions, for a moment. Faust reads metadata once when the group forms, and an agent
whose table changelog looked empty then crashes on every record (``PartitionsMismatch``).
So start-up waits until every owned topic is listed with leaders for all its partitions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.settings import Settings, SettingsError

__all__ = ["TABLE_NAMES", "OwnedTopic", "changelog_topic", "ensure_topics", "owned_topics"]

#: The worker's Faust tables; each has a changelog topic named by ``changelog_topic``.
TABLE_NAMES = ("customer-state", "due-index", "delivery-ledger")

_METADATA_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class OwnedTopic:
    name: str
    #: Carries customer keys, so it must have exactly ``settings.partitions`` partitions.
    keyed: bool
    compacted: bool = False


def changelog_topic(settings: Settings, table: str) -> str:
    """The name Faust gives the changelog of ``table`` (``{app id}-{table}-changelog``)."""
    return f"{settings.app_id}-{table}-changelog"


def owned_topics(settings: Settings) -> list[OwnedTopic]:
    return [
        OwnedTopic(settings.topics.customer_events, keyed=True),
        OwnedTopic(settings.topics.outbox, keyed=True),
        OwnedTopic(settings.topics.outbox_retry, keyed=True),
        OwnedTopic(settings.topics.dead_letter, keyed=False),
        OwnedTopic(settings.topics.counters, keyed=False),
        *(
            OwnedTopic(changelog_topic(settings, table), keyed=True, compacted=True)
            for table in TABLE_NAMES
        ),
    ]


async def ensure_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=15_000
    )
    try:
        await admin.start()
    except KafkaConnectionError:
        raise SettingsError(
            f"invalid settings:\n  LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS: no Kafka broker answers at"
            f" {settings.kafka_bootstrap_servers}"
        ) from None
    try:
        owned = owned_topics(settings)
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                topic.name,
                settings.partitions,
                settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if topic.compacted else None,
            )
            for topic in owned
            if topic.name not in existing
        ]
        if missing:
            # Another worker starting at the same moment may have made them.
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        partitions = await _wait_for_partitions(admin, [t.name for t in owned])
    finally:
        await admin.close()
    wrong = {
        topic.name: partitions[topic.name]
        for topic in owned
        if topic.keyed and partitions[topic.name] != settings.partitions
    }
    if wrong:
        detail = ", ".join(f"{name} has {count}" for name, count in sorted(wrong.items()))
        raise SettingsError(
            f"invalid settings:\n  LIFECYCLE_PARTITIONS: is {settings.partitions}, but {detail};"
            " these topics must have exactly LIFECYCLE_PARTITIONS partitions"
        )


async def _wait_for_partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Topic -> partition count, once metadata lists every topic with a leader per partition."""
    deadline = time.monotonic() + _METADATA_WAIT_SECONDS
    while True:
        ready = _ready_partition_counts(await admin.describe_topics(names))
        not_ready = [name for name in names if name not in ready]
        if not not_ready:
            return ready
        if time.monotonic() > deadline:
            raise SettingsError(
                "invalid settings:\n  LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS: the broker did not make"
                f" these topics available within {_METADATA_WAIT_SECONDS:.0f}s:"
                f" {', '.join(sorted(not_ready))}"
            )
        await asyncio.sleep(0.1)  # polling the broker's metadata, not synchronising with us


def _ready_partition_counts(described: list[Mapping[str, Any]]) -> dict[str, int]:
    return {
        d["topic"]: len(d["partitions"])
        for d in described
        if d["error_code"] == 0
        and d["partitions"]
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in d["partitions"])
    }
