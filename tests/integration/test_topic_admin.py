"""Start-up creates every topic the worker owns, and refuses a partition mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.app import build_worker
from streams.settings import Settings, SettingsError
from streams.topic_admin import changelog_topic, ensure_topics, owned_topics
from tests.support.worker_env import worker_env

pytestmark = pytest.mark.integration


def settings_for(kafka_kit, tmp_path: Path, **extra: str) -> Settings:
    env = worker_env(kafka_kit.names, kafka_kit.bootstrap_servers, tmp_path, smtp_port=2525)
    values = {**env.values, **extra}
    return Settings(**{k.removeprefix("LIFECYCLE_").lower(): v for k, v in values.items()})


async def describe(bootstrap_servers: str, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def cleanup_policy(bootstrap_servers: str, name: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}["cleanup.policy"]


def test_the_changelogs_created_are_the_ones_faust_uses(kafka_kit, tmp_path: Path) -> None:
    settings = settings_for(kafka_kit, tmp_path)
    worker = build_worker(settings)
    faust_names = {table.changelog_topic.get_topic_name() for table in vars(worker.tables).values()}
    ours = {t.name for t in owned_topics(settings) if t.compacted}
    assert faust_names == ours - {settings.topics.counters}


@pytest.mark.asyncio(loop_scope="session")
async def test_every_owned_topic_exists_with_its_partitions_and_changelogs_compact(
    kafka_broker, kafka_kit, tmp_path: Path
) -> None:
    settings = settings_for(kafka_kit, tmp_path, LIFECYCLE_PARTITIONS="3")
    await ensure_topics(settings)
    await ensure_topics(settings)  # a second start finds them and is content

    names = [t.name for t in owned_topics(settings)]
    assert await describe(kafka_kit.bootstrap_servers, names) == dict.fromkeys(names, 3)
    ledger = changelog_topic(settings, "delivery-ledger")
    if kafka_broker.kind == "apache-kafka":  # Tansu does not compact
        assert await cleanup_policy(kafka_kit.bootstrap_servers, ledger) == "compact"
        # The latest value per key is the current total.
        assert await cleanup_policy(kafka_kit.bootstrap_servers, settings.topics.counters) == (
            "compact"
        )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_keyed_topic_with_other_partitions_stops_start_up(
    kafka_kit, tmp_path: Path
) -> None:
    settings = settings_for(kafka_kit, tmp_path, LIFECYCLE_PARTITIONS="4")
    await kafka_kit.create_topic("outbox", partitions=2)

    with pytest.raises(SettingsError) as refused:
        await ensure_topics(settings)

    message = str(refused.value)
    assert "LIFECYCLE_PARTITIONS: is 4" in message
    assert f"{settings.topics.outbox} has 2" in message


async def existing_topics(bootstrap_servers: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_missing_shop_topics_are_created_unless_that_is_turned_off(
    kafka_kit, tmp_path: Path
) -> None:
    off = settings_for(
        kafka_kit, tmp_path, LIFECYCLE_PARTITIONS="3", LIFECYCLE_CREATE_SOURCE_TOPICS="false"
    )
    sources = tuple(off.topics.sources)
    report = await ensure_topics(off)
    assert (report.created_sources, report.missing_sources) == ((), sources)
    assert not set(sources) & await existing_topics(kafka_kit.bootstrap_servers)

    on = settings_for(kafka_kit, tmp_path, LIFECYCLE_PARTITIONS="3")
    report = await ensure_topics(on)
    assert (report.created_sources, report.missing_sources) == (sources, ())
    assert await describe(kafka_kit.bootstrap_servers, list(sources)) == dict.fromkeys(sources, 3)
    again = await ensure_topics(on)  # a second start finds them
    assert (again.created_sources, again.missing_sources) == ((), ())
