"""Which broker the tests and the demo get: explicit choice, outside broker, Kafka, Tansu."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from streams.dev.brokers.apache_kafka import ApacheKafka
from streams.dev.brokers.base import BrokerError, BrokerUnavailableError
from streams.dev.brokers.choice import choose_broker
from streams.dev.brokers.external import ExternalBroker
from streams.dev.brokers.tansu import EmbeddedTansu


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH and jar cache: no Java, no Maven, no jars until a test adds them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("LIFECYCLE_KAFKA_JARS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return bin_dir


def add_java(bin_dir: Path, major: int) -> None:
    # `java -version` prints to stderr, as the real one does.
    fake_tool(bin_dir, "java", f"echo 'openjdk version \"{major}.0.2\" 2024-01-16' >&2")


def test_nothing_installed_means_tansu(machine: Path) -> None:
    assert isinstance(choose_broker({}), EmbeddedTansu)


def test_java_17_and_maven_mean_apache_kafka(machine: Path) -> None:
    add_java(machine, 17)
    fake_tool(machine, "mvn", "exit 0")
    assert isinstance(choose_broker({}), ApacheKafka)


def test_java_without_maven_or_jars_means_tansu(machine: Path) -> None:
    add_java(machine, 17)
    assert isinstance(choose_broker({}), EmbeddedTansu)


def test_an_old_java_means_tansu(machine: Path) -> None:
    add_java(machine, 11)
    fake_tool(machine, "mvn", "exit 0")
    assert isinstance(choose_broker({}), EmbeddedTansu)


def test_cached_jars_need_no_maven(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_java(machine, 21)
    jars = machine.parent / "jars"
    jars.mkdir()
    (jars / "kafka_2.13-4.4.0.jar").write_bytes(b"")
    monkeypatch.setenv("LIFECYCLE_KAFKA_JARS_DIR", str(jars))
    assert isinstance(choose_broker({}), ApacheKafka)


def test_bootstrap_servers_mean_that_broker(machine: Path) -> None:
    add_java(machine, 17)
    fake_tool(machine, "mvn", "exit 0")
    chosen = choose_broker({"KAFKA_BOOTSTRAP_SERVERS": "kafka.internal:9092"})
    assert isinstance(chosen, ExternalBroker)
    assert chosen.bootstrap_servers == "kafka.internal:9092"


def test_an_explicit_choice_wins_and_is_never_replaced(machine: Path) -> None:
    # No Java here: asking for Kafka must still give Kafka (which then fails to start loudly).
    assert isinstance(choose_broker({"LIFECYCLE_BROKER": "kafka"}), ApacheKafka)
    assert isinstance(
        choose_broker({"LIFECYCLE_BROKER": "tansu", "KAFKA_BOOTSTRAP_SERVERS": "x:1"}),
        EmbeddedTansu,
    )
    with pytest.raises(BrokerUnavailableError, match="KAFKA_BOOTSTRAP_SERVERS"):
        choose_broker({"LIFECYCLE_BROKER": "external"})
    with pytest.raises(BrokerError, match="expected kafka, tansu or external"):
        choose_broker({"LIFECYCLE_BROKER": "redpanda"})
