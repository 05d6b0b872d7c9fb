"""Worker settings for one test: its own topics, app id and data dir on the shared broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.kafka_helpers import UniqueNames

__all__ = ["ROOT", "TEST_SECRET", "WorkerEnv", "worker_env"]

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET = "test-unsubscribe-secret-0123456789"


@dataclass
class WorkerEnv:
    names: UniqueNames
    values: dict[str, str]

    def topic(self, setting: str) -> str:
        return self.values[f"LIFECYCLE_TOPIC_{setting.upper()}"]

    @property
    def app_id(self) -> str:
        return self.values["LIFECYCLE_APP_ID"]

    def with_overrides(self, **overrides: str) -> WorkerEnv:
        return WorkerEnv(self.names, {**self.values, **overrides})


def worker_env(
    names: UniqueNames,
    bootstrap_servers: str,
    data_dir: Path,
    *,
    smtp_port: int,
    campaigns_dir: Path | None = None,
    partitions: int = 4,
    **extra: str,
) -> WorkerEnv:
    topics = {
        "customers": "shop-customers",
        "orders": "shop-orders",
        "logins": "shop-logins",
        "support": "shop-support",
        "customer_events": "customer-events",
        "outbox": "outbox",
        "outbox_retry": "outbox-retry",
        "dead_letter": "dead-letter",
        "counters": "counters",
    }
    values = {f"LIFECYCLE_TOPIC_{k.upper()}": names.topic(v) for k, v in topics.items()}
    values.update(
        LIFECYCLE_APP_ID=names.prefix,
        LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers,
        LIFECYCLE_PARTITIONS=str(partitions),
        LIFECYCLE_KAFKA_SESSION_TIMEOUT_SECONDS="6",
        LIFECYCLE_TICK_INTERVAL_SECONDS="1",
        LIFECYCLE_DATA_DIR=str(data_dir),
        LIFECYCLE_CAMPAIGNS_DIR=str(campaigns_dir or ROOT / "campaigns"),
        LIFECYCLE_SMTP_HOST="127.0.0.1",
        LIFECYCLE_SMTP_PORT=str(smtp_port),
        LIFECYCLE_SMTP_RETRY_BASE_SECONDS="0.2",
        LIFECYCLE_SMTP_RETRY_CAP_SECONDS="2",
        LIFECYCLE_SMTP_TIMEOUT_SECONDS="5",
        LIFECYCLE_MAIL_FROM="Shop <hello@shop.test>",
        LIFECYCLE_UNSUBSCRIBE_SECRET=TEST_SECRET,
        LIFECYCLE_LOG_LEVEL="info",
    )
    values.update(extra)
    return WorkerEnv(names, values)
