"""Create the worker's own topics before Faust starts, and check the ones that exist.

Faust creates the topics its agents read and its table changelogs, but not topics it only
writes to (dead letters, counters); a cluster with auto-creation off would refuse those
writes, and with it on they appear with the broker's default partition count. So every
topic the worker owns is created here with the configured partitions. The topics that
carry customer keys must all have the same number of partitions, or a customer's events,
state and outbox would live on different partitions: a mismatch stops start-up.
"""

from __future__ import annotations

from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.settings import Settings, SettingsError

__all__ = ["ensure_topics"]


def _owned(settings: Settings) -> dict[str, bool]:
    """Topic name -> whether it must be co-partitioned with customer state."""
    return {
        settings.topic_customer_events: True,
        settings.topic_outbox: True,
        settings.topic_outbox_retry: True,
        settings.topic_dead_letter: False,
        settings.topic_counters: False,
    }


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
        owned = _owned(settings)
        existing = {t for t in await admin.list_topics() if t in owned}
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor)
            for name in owned
            if name not in existing
        ]
        if missing:
            # Another worker starting at the same moment may have made them.
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        described = await admin.describe_topics([n for n, keyed in owned.items() if keyed])
    finally:
        await admin.close()
    wrong = {
        d["topic"]: len(d["partitions"])
        for d in described
        if len(d["partitions"]) != settings.partitions
    }
    if wrong:
        detail = ", ".join(f"{name} has {count}" for name, count in sorted(wrong.items()))
        raise SettingsError(
            f"invalid settings:\n  LIFECYCLE_PARTITIONS: is {settings.partitions}, but {detail};"
            " these topics must have exactly LIFECYCLE_PARTITIONS partitions"
        )
