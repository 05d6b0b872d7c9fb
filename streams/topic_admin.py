"""Create the worker's own topics before Faust starts, and check the ones that exist.

Faust creates the topics its agents read and its table changelogs, but not topics it only
writes to (dead letters, and counters: compacted, one key per counter); a cluster with
auto-creation off would refuse those writes, and with it on they appear with the broker's
default partition count. So every
topic the worker owns is created here with the configured partitions, the table changelogs
included. The topics that carry customer keys must all have the same number of partitions,
or a customer's events, state and outbox would live on different partitions: a mismatch
stops start-up.

A topic the broker has just created can be missing from metadata, or listed with no
partitions, for a moment. Faust reads metadata once when the group forms, and an agent
whose table changelog looked empty then crashes on every record (``PartitionsMismatch``).
So start-up waits until every owned topic is listed with leaders for all its partitions.

The shop's topics are not the worker's, but a worker that starts before the shop has
produced anything would subscribe to topics that do not exist yet, and Faust (through
aiokafka) would see them only at its next metadata refresh. So by default
(``LIFECYCLE_CREATE_SOURCE_TOPICS``) the missing ones are created too, with
``LIFECYCLE_PARTITIONS`` partitions, and :func:`ensure_topics` says which it created. With
creation off it says which are missing; the worker refreshes metadata every
:data:`METADATA_REFRESH_SECONDS` (:func:`streams.app.build_faust_app`), so a topic created
later is consumed within seconds, and ``/ready`` lists the missing ones meanwhile.
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

__all__ = [
    "JOURNAL_TABLES",
    "METADATA_REFRESH_SECONDS",
    "TABLE_NAMES",
    "OwnedTopic",
    "TopicReport",
    "changelog_topic",
    "ensure_topics",
    "owned_topics",
]

#: How often the worker's consumer refreshes cluster metadata, so that a topic created
#: after start-up is subscribed within about this long (aiokafka's default is 300 s).
METADATA_REFRESH_SECONDS = 5.0

#: The worker's Faust tables; each has a changelog topic named by ``changelog_topic``.
TABLE_NAMES = ("customer-state", "due-index", "delivery-ledger")
#: The tables whose changelog records carry counted facts (the counters' journals).
JOURNAL_TABLES = ("customer-state", "delivery-ledger")

_METADATA_WAIT_SECONDS = 30.0


#: Changelog records are the counters' journal (see :mod:`streams.counters.store`): a
#: recovery reads the records written since a partition's last counters flush, so
#: compaction must leave recent records alone.
_JOURNAL_COMPACTION_LAG_MS = str(24 * 3600 * 1000)
#: The counters topic holds a few records per key per flush; roll segments hourly so
#: compaction can keep a recovery's read of it short.
_COUNTERS_SEGMENT_MS = str(3600 * 1000)


@dataclass(frozen=True)
class OwnedTopic:
    name: str
    #: Carries customer keys, so it must have exactly ``settings.partitions`` partitions.
    keyed: bool
    compacted: bool = False
    #: Topic configuration beyond ``cleanup.policy``.
    configs: tuple[tuple[str, str], ...] = ()

    def topic_configs(self) -> dict[str, str] | None:
        configs = dict(self.configs)
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        return configs or None


@dataclass(frozen=True)
class TopicReport:
    """What :func:`ensure_topics` found of the shop's topics."""

    #: Created by this start-up (``LIFECYCLE_CREATE_SOURCE_TOPICS``).
    created_sources: tuple[str, ...] = ()
    #: Missing and not created (creation off): consumed once they exist.
    missing_sources: tuple[str, ...] = ()

    def lines(self, partitions: int) -> list[str]:
        """What the worker says about them at start-up."""
        lines = []
        if self.created_sources:
            lines.append(
                f"created the missing shop topics {', '.join(self.created_sources)} with"
                f" {partitions} partitions (LIFECYCLE_CREATE_SOURCE_TOPICS=false turns this off)"
            )
        if self.missing_sources:
            lines.append(
                f"shop topics missing: {', '.join(self.missing_sources)}; each is consumed"
                f" within about {METADATA_REFRESH_SECONDS:.0f}s of its creation (and /ready"
                " lists the missing ones)"
            )
        return lines


def changelog_topic(settings: Settings, table: str) -> str:
    """The name Faust gives the changelog of ``table`` (``{app id}-{table}-changelog``)."""
    return f"{settings.app_id}-{table}-changelog"


def owned_topics(settings: Settings) -> list[OwnedTopic]:
    return [
        OwnedTopic(settings.topics.customer_events, keyed=True),
        OwnedTopic(settings.topics.outbox, keyed=True),
        OwnedTopic(settings.topics.outbox_retry, keyed=True),
        OwnedTopic(settings.topics.dead_letter, keyed=False),
        # Key: metric, labels, period and source partition; value: the current total.
        OwnedTopic(
            settings.topics.counters,
            keyed=False,
            compacted=True,
            configs=(("segment.ms", _COUNTERS_SEGMENT_MS),),
        ),
        *(
            OwnedTopic(
                changelog_topic(settings, table),
                keyed=True,
                compacted=True,
                configs=(("min.compaction.lag.ms", _JOURNAL_COMPACTION_LAG_MS),)
                if table in JOURNAL_TABLES
                else (),
            )
            for table in TABLE_NAMES
        ),
    ]


async def ensure_topics(settings: Settings) -> TopicReport:
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
        missing_sources = tuple(
            name for name in dict.fromkeys(settings.topics.sources) if name not in existing
        )
        created_sources = missing_sources if settings.create_source_topics else ()
        missing = [
            NewTopic(
                topic.name,
                settings.partitions,
                settings.replication_factor,
                topic_configs=topic.topic_configs(),
            )
            for topic in owned
            if topic.name not in existing
        ] + [
            NewTopic(name, settings.partitions, settings.replication_factor)
            for name in created_sources
        ]
        for topic in missing:
            # One at a time: another worker (or the shop) starting at the same moment may
            # have made some of them, and a batch would stop at the first that exists.
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
        partitions = await _wait_for_partitions(
            admin, [t.name for t in owned] + list(created_sources)
        )
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
    return TopicReport(
        created_sources=created_sources,
        missing_sources=() if settings.create_source_topics else missing_sources,
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
