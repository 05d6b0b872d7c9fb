"""Worker settings from the environment (prefix ``LIFECYCLE_``), validated once at start-up.

Nested engine thresholds use a double underscore:
``LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS=45``. Secrets are ``SecretStr`` and print
as ``**********``. A bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as UnparsableSetting

from lifecycle.campaigns import FrequencyCap, QuietHours, RuntimeContext, ShopInfo
from lifecycle.config import EngineConfig
from lifecycle.exceptions import LifecycleError
from lifecycle.localtime import parse_duration

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "LIFECYCLE_"
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_UNPARSABLE_FIELD = re.compile(r'for field "([a-z_]+)"')

Port = Annotated[int, Field(ge=1, le=65535)]
TopicName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]


class SettingsError(LifecycleError):
    """One line per bad setting, each naming its environment variable."""


def _mailbox(value: str) -> str:
    _, address = parseaddr(value)
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError("must be an address like 'Shop <hello@shop.example>'")
    return value


class CampaignSettings(BaseModel):
    """Operator rules over all campaigns: ``LIFECYCLE_CAMPAIGN__QUIET_HOURS__START=22:00``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    caps: dict[Literal["marketing", "transactional"], tuple[FrequencyCap, ...]] = (
        RuntimeContext().caps
    )
    quiet_hours: QuietHours | None = QuietHours()
    conflict_delay: timedelta = timedelta(days=1)
    shop: ShopInfo = ShopInfo()
    default_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    default_locale: str = "en"

    @field_validator("conflict_delay", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) and value[-1:].isalpha() else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        case_sensitive=False,
    )

    app_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] = "lifecycle-worker"
    kafka_bootstrap_servers: str = "localhost:9092"
    #: Partitions of the internal topics (customer events, outbox) and of table changelogs.
    partitions: Annotated[int, Field(ge=1, le=1024)] = 8
    replication_factor: Annotated[int, Field(ge=1, le=10)] = 1
    #: How long the group waits for a silent worker before moving its partitions away.
    #: Kafka accepts 6-1800 s by default; short means fast failover, and a fast first
    #: join on Tansu, which holds a joining member for half of it.
    kafka_session_timeout_seconds: Annotated[float, Field(ge=1, le=1800)] = 10.0

    topic_customers: TopicName = "shop.customers"
    topic_orders: TopicName = "shop.orders"
    topic_logins: TopicName = "shop.logins"
    topic_support: TopicName = "shop.support"
    topic_customer_events: TopicName = "lifecycle.customer-events"
    topic_outbox: TopicName = "lifecycle.outbox"
    topic_outbox_retry: TopicName = "lifecycle.outbox-retry"
    topic_dead_letter: TopicName = "lifecycle.dead-letter"
    topic_counters: TopicName = "lifecycle.counters"

    #: At most 512 KiB: a dead-lettered record (its bytes plus headers) must still fit the
    #: producer's and the broker's default 1 MB message limit.
    max_event_bytes: Annotated[int, Field(ge=256, le=512 * 1024)] = 64 * 1024
    tick_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    due_bucket_seconds: Annotated[int, Field(ge=1, le=86400)] = 60

    smtp_host: str = "localhost"
    #: Default by ``smtp_tls``: 25 for none, 587 for starttls, 465 for tls.
    smtp_port: Port | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    #: Two agents send (outbox and retry), one email at a time each: 2 connections suffice.
    smtp_pool_size: Annotated[int, Field(ge=1, le=64)] = 2
    smtp_rate_limit_per_second: Annotated[float, Field(gt=0)] = 50.0
    smtp_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    smtp_retry_base_seconds: Annotated[float, Field(gt=0)] = 2.0
    smtp_retry_cap_seconds: Annotated[float, Field(gt=0)] = 600.0
    #: An email decided longer ago than this is not sent (a backfill of old history, a
    #: worker catching up after days down); 0 sends whatever the delay.
    max_send_delay_hours: Annotated[float, Field(ge=0)] = 72.0
    #: A CA bundle to trust for SMTP TLS (tests use a throwaway CA); default: the system's.
    smtp_ca_file: Path | None = None

    mail_from: str = "Lifecycle <lifecycle@localhost>"
    mail_reply_to: str | None = None
    message_id_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}$")] = (
        "lifecycle.invalid"
    )

    campaigns_dir: Path = Path("campaigns")

    web_host: str = "127.0.0.1"
    web_port: Port = 6066
    #: Public base URL of the web server, used in unsubscribe links.
    public_base_url: str = "http://localhost:6066"
    unsubscribe_secret: SecretStr | None = None
    unsubscribe_mailto: str | None = None
    unsubscribe_max_age_days: Annotated[int, Field(ge=1)] = 365

    data_dir: Path = Path(".lifecycle-data")
    #: Where tables live: in memory (restored from changelogs at every start) or in RocksDB
    #: under ``data_dir`` (kept across restarts; only the changelog tail is replayed).
    store: Literal["memory", "rocksdb"] = "memory"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    engine: EngineConfig = EngineConfig()
    campaign: CampaignSettings = CampaignSettings()

    @field_validator("mail_from", "mail_reply_to")
    @classmethod
    def _check_mailbox(cls, value: str | None) -> str | None:
        return None if value is None else _mailbox(value)

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _check_unsubscribe_mailto(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = value.removeprefix("mailto:")
        if not re.fullmatch(r"[^@\s?&<>\"]+@[A-Za-z0-9.-]+", address):
            raise ValueError("must be a plain address like unsubscribe@shop.example")
        return address

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        if value == "rocksdb" and importlib.util.find_spec("rocksdict") is None:
            raise ValueError(
                "rocksdb needs the rocksdict package: pip install 'lifecycle-worker[rocksdb]'"
            )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an absolute URL like https://mail.shop.example")
        if url.scheme == "http" and url.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(
                "must use https (unsubscribe links carry a token; plain http is allowed only"
                " for localhost)"
            )
        return value.rstrip("/")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("must be host:port[,host:port...], e.g. localhost:9092")
        return value

    @model_validator(mode="after")
    def _credentials_together(self) -> Settings:
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "set both LIFECYCLE_SMTP_USERNAME and LIFECYCLE_SMTP_PASSWORD, or neither"
            )
        if self.smtp_username is not None and self.smtp_tls == "none":
            raise ValueError(
                "LIFECYCLE_SMTP_TLS=none would send the password in clear text; use starttls or tls"
            )
        return self

    def runtime_context(self) -> RuntimeContext:
        c = self.campaign
        return RuntimeContext(
            engine=self.engine,
            message_domain=self.message_id_domain,
            caps=c.caps,
            quiet_hours=c.quiet_hours,
            conflict_delay=c.conflict_delay,
            shop=c.shop,
            default_currency=c.default_currency,
        )

    @property
    def max_send_delay(self) -> timedelta | None:
        hours = self.max_send_delay_hours
        return None if hours == 0 else timedelta(hours=hours)

    @property
    def source_topics(self) -> tuple[str, ...]:
        return (self.topic_customers, self.topic_orders, self.topic_logins, self.topic_support)


def _variable(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc) if loc else "(settings)"


def _unparsable_json(prefix: str) -> list[tuple[str, str]]:
    found = []
    for variable, value in sorted(os.environ.items()):
        if not variable.upper().startswith(prefix) or value.strip()[:1] not in ("[", "{"):
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as problem:
            found.append((variable.upper(), str(problem)))
    return found


def load_settings() -> Settings:
    """Read and check the settings in the process environment."""
    try:
        return Settings()
    except UnparsableSetting as exc:
        # pydantic-settings names only the top-level field of a value it cannot parse.
        field = _UNPARSABLE_FIELD.search(str(exc))
        name = ENV_PREFIX + (field.group(1).upper() if field else "")
        lines = [
            f"{variable}: not valid JSON ({problem}); lists and objects are written as JSON,"
            ' e.g. [5, 10] or {"start": "21:00"}'
            for variable, problem in _unparsable_json(name)
        ] or [f"{name} or one of {name}__*: cannot be parsed ({exc})"]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{_variable(error['loc'])}: {message}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
