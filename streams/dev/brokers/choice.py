"""Which broker the tests and the demo use here: :func:`choose_broker`.

Which broker :func:`choose_broker` picks, first match wins:

1. ``LIFECYCLE_BROKER=kafka|tansu|external``: explicit, never silently replaced by another kind
   (``external`` needs ``KAFKA_BOOTSTRAP_SERVERS``).
2. ``KAFKA_BOOTSTRAP_SERVERS`` set: that broker, as is.
3. Java 17+ found (``JAVA_HOME`` or ``PATH``) and either the Kafka jars already cached or ``mvn``
   on ``PATH``: Apache Kafka.
4. Otherwise: embedded Tansu.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

from streams.dev.brokers.apache_kafka import ApacheKafka
from streams.dev.brokers.base import Broker, BrokerError, BrokerUnavailableError
from streams.dev.brokers.external import ExternalBroker
from streams.dev.brokers.kafka_runtime import (
    DEFAULT_KAFKA_VERSION,
    ENV_KAFKA_VERSION,
    cached_kafka_libs,
    find_java,
    kafka_cache_dir,
)
from streams.dev.brokers.tansu import EmbeddedTansu

__all__ = ["ENV_BOOTSTRAP_SERVERS", "ENV_BROKER", "choose_broker"]

ENV_BROKER = "LIFECYCLE_BROKER"
ENV_BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"


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
    kafka_runnable = cached_kafka_libs(kafka_cache_dir(version), version) is not None or bool(
        shutil.which("mvn")
    )
    if kafka_runnable and find_java() is not None:
        return ApacheKafka(version)
    return EmbeddedTansu()
