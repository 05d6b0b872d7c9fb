"""Worker settings from the environment (prefix ``LIFECYCLE_``), validated once at start-up.

Settings are grouped in nested models, each reused where it is needed rather than copied
field by field: :class:`SmtpSettings` is what the SMTP sender takes, ``campaign`` is the
:class:`~lifecycle.campaigns.CampaignRules` the journey runtime reads, ``topics``, ``web``,
``unsubscribe`` and ``delivery`` are what their agents and routes read. The documented
variable names stay flat (``LIFECYCLE_SMTP_HOST``, ``LIFECYCLE_TOPIC_OUTBOX``,
``LIFECYCLE_PUBLIC_BASE_URL``): :data:`FLAT_VARIABLES` maps each to its nested field, for
the environment, for keyword arguments and for error messages. Those names are the only
way in: a flat group is not read as ``LIFECYCLE_SMTP__HOST`` or ``LIFECYCLE_SMTP='{...}'``,
and the fields in :data:`NOT_FROM_ENVIRONMENT` are not settable at all. Engine thresholds
and campaign rules (the :data:`NESTED_BLOCKS`) nest with a double underscore:
``LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS=45``. Secrets are ``SecretStr`` and print
as ``**********``. A bad value stops start-up with a message naming the variable.
:func:`documented_variables` lists every variable of the README's settings table and
refuses a group field that has none.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as UnparsableSetting

from lifecycle.campaigns import CampaignRules, RuntimeContext
from lifecycle.config import EngineConfig
from lifecycle.exceptions import LifecycleError
from lifecycle.mail import InDoubtAction, Mailbox
from lifecycle.values import FrozenModel

__all__ = [
    "ENV_PREFIX",
    "FLAT_GROUPS",
    "FLAT_VARIABLES",
    "NESTED_BLOCKS",
    "NOT_FROM_ENVIRONMENT",
    "DeliverySettings",
    "Settings",
    "SettingsError",
    "SmtpSettings",
    "TlsMode",
    "TopicSettings",
    "UnsubscribeSettings",
    "WebSettings",
    "documented_variables",
    "load_settings",
]

ENV_PREFIX = "LIFECYCLE_"
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_UNPARSABLE_FIELD = re.compile(r'for field "([a-z_]+)"')

Port = Annotated[int, Field(ge=1, le=65535)]
TopicName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
TlsMode = Literal["none", "starttls", "tls"]

_DEFAULT_SMTP_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}


class SettingsError(LifecycleError):
    """One line per bad setting, each naming its environment variable."""


def _mailbox(value: object) -> object:
    """``"Shop <hello@shop.example>"`` -> :class:`~lifecycle.mail.Mailbox`, parsed once."""
    if not isinstance(value, str):
        return value
    name, address = parseaddr(value)
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError("must be an address like 'Shop <hello@shop.example>'")
    return Mailbox(address=address, name=name or None)


MailboxSetting = Annotated[Mailbox, BeforeValidator(_mailbox)]


class SmtpSettings(FrozenModel):
    """How to reach the SMTP server: what :class:`~streams.delivery.SmtpSender` takes.

    ``password`` is a SecretStr: it never shows in a repr.
    """

    host: str = "localhost"
    port: Port | None = Field(default=None, description="default by tls_mode")
    tls_mode: TlsMode = "none"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0, le=600, description="seconds, per SMTP command")
    pool_size: int = Field(default=4, ge=1, le=64)
    max_per_second: float | None = Field(default=None, gt=0, description="None: no limit")
    burst: int = Field(default=1, ge=1, description="sends allowed at once by the rate limit")
    idle_check_after: float = Field(
        default=10.0, ge=0, description="NOOP a pooled connection idle this long before use"
    )
    local_hostname: str | None = Field(default=None, description="EHLO name; default: FQDN")
    ca_file: Path | None = Field(default=None, description="PEM bundle to verify the server")

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else _DEFAULT_SMTP_PORTS[self.tls_mode]


class DeliverySettings(FrozenModel):
    """What delivery does with a message: who it is from, retries, when it is too late."""

    mail_from: MailboxSetting = Mailbox(address="lifecycle@localhost", name="Lifecycle")
    reply_to: MailboxSetting | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    retry_base_seconds: Annotated[float, Field(gt=0)] = 2.0
    retry_cap_seconds: Annotated[float, Field(gt=0)] = 600.0
    #: An email decided longer ago than this is not sent (a backfill of old history, a
    #: worker catching up after days down); 0 sends whatever the delay.
    max_send_delay_hours: Annotated[float, Field(ge=0)] = 72.0
    #: An email in doubt (its worker died between "committing" and the server's reply):
    #: ``skip`` never sends it again (it may be lost), ``resend`` does (it may arrive twice).
    in_doubt_marketing: InDoubtAction = "skip"
    in_doubt_transactional: InDoubtAction = "skip"

    @property
    def max_send_delay(self) -> timedelta | None:
        hours = self.max_send_delay_hours
        return None if hours == 0 else timedelta(hours=hours)

    def in_doubt_action(self, category: str) -> InDoubtAction:
        return (
            self.in_doubt_transactional if category == "transactional" else self.in_doubt_marketing
        )


class TopicSettings(FrozenModel):
    customers: TopicName = "shop.customers"
    orders: TopicName = "shop.orders"
    logins: TopicName = "shop.logins"
    support: TopicName = "shop.support"
    customer_events: TopicName = "lifecycle.customer-events"
    outbox: TopicName = "lifecycle.outbox"
    outbox_retry: TopicName = "lifecycle.outbox-retry"
    dead_letter: TopicName = "lifecycle.dead-letter"
    counters: TopicName = "lifecycle.counters"

    @property
    def sources(self) -> tuple[str, ...]:
        """The shop's own topics, read only."""
        return (self.customers, self.orders, self.logins, self.support)


class WebSettings(FrozenModel):
    host: str = "127.0.0.1"
    port: Port = 6066
    #: Public base URL of the web server, used in unsubscribe links.
    public_base_url: str = "http://localhost:6066"

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


class UnsubscribeSettings(FrozenModel):
    secret: SecretStr | None = None
    mailto: str | None = None
    max_age_days: Annotated[int, Field(ge=1)] = 365

    @field_validator("mailto")
    @classmethod
    def _check_mailto(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = value.removeprefix("mailto:")
        if not re.fullmatch(r"[^@\s?&<>\"]+@[A-Za-z0-9.-]+", address):
            raise ValueError("must be a plain address like unsubscribe@shop.example")
        return address


#: Every documented flat variable (without the prefix) and the nested field it sets.
FLAT_VARIABLES: dict[str, tuple[str, str]] = {
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "SMTP_USERNAME": ("smtp", "username"),
    "SMTP_PASSWORD": ("smtp", "password"),
    "SMTP_TLS": ("smtp", "tls_mode"),
    "SMTP_TIMEOUT_SECONDS": ("smtp", "timeout"),
    "SMTP_POOL_SIZE": ("smtp", "pool_size"),
    "SMTP_RATE_LIMIT_PER_SECOND": ("smtp", "max_per_second"),
    "SMTP_CA_FILE": ("smtp", "ca_file"),
    "SMTP_MAX_ATTEMPTS": ("delivery", "max_attempts"),
    "SMTP_RETRY_BASE_SECONDS": ("delivery", "retry_base_seconds"),
    "SMTP_RETRY_CAP_SECONDS": ("delivery", "retry_cap_seconds"),
    "MAX_SEND_DELAY_HOURS": ("delivery", "max_send_delay_hours"),
    "MAIL_FROM": ("delivery", "mail_from"),
    "MAIL_REPLY_TO": ("delivery", "reply_to"),
    "IN_DOUBT_MARKETING": ("delivery", "in_doubt_marketing"),
    "IN_DOUBT_TRANSACTIONAL": ("delivery", "in_doubt_transactional"),
    **{f"TOPIC_{name.upper()}": ("topics", name) for name in TopicSettings.model_fields},
    "WEB_HOST": ("web", "host"),
    "WEB_PORT": ("web", "port"),
    "PUBLIC_BASE_URL": ("web", "public_base_url"),
    "UNSUBSCRIBE_SECRET": ("unsubscribe", "secret"),
    "UNSUBSCRIBE_MAILTO": ("unsubscribe", "mailto"),
    "UNSUBSCRIBE_MAX_AGE_DAYS": ("unsubscribe", "max_age_days"),
}
#: The blocks set with ``__`` (``LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS``), documented
#: in the README's detection and journey sections rather than the settings table.
NESTED_BLOCKS = frozenset({"engine", "campaign"})
#: Fields of the flat groups that are not the operator's to set: the SMTP sender's own
#: tuning, which the worker leaves at the sender's defaults.
NOT_FROM_ENVIRONMENT = frozenset(
    {("smtp", "burst"), ("smtp", "idle_check_after"), ("smtp", "local_hostname")}
)
_FLAT_BY_PATH = {path: ENV_PREFIX + name for name, path in FLAT_VARIABLES.items()}
#: The groups set by flat variables (``smtp``, ``topics``, ...), as opposed to the
#: ``engine`` and ``campaign`` blocks, which nest with ``__``.
FLAT_GROUPS = frozenset(group for group, _ in FLAT_VARIABLES.values())


def _nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"SMTP_HOST": "x"}`` (any case) -> ``{"smtp": {"host": "x"}}``; others are dropped."""
    nested: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        path = FLAT_VARIABLES.get(name.upper())
        if path is not None:
            group, field = path
            nested.setdefault(group, {})[field] = value
    return nested


class _FlatEnvironment(PydanticBaseSettingsSource):
    """The documented flat variables, read from the environment into their nested fields."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        prefixed = {
            name[len(ENV_PREFIX) :]: value
            for name, value in os.environ.items()
            if name.upper().startswith(ENV_PREFIX)
        }
        return _nest(prefixed)


#: What the campaign runtime runs with unless told otherwise: the defaults of
#: ``engine``, ``campaign`` and ``message_id_domain``, which runtime_context() hands back.
_RUNTIME_DEFAULTS = RuntimeContext()


class _NestedEnvironment(EnvSettingsSource):
    """The environment as pydantic-settings reads it, less the flat groups.

    Top-level fields (``LIFECYCLE_PARTITIONS``) and the ``__`` blocks
    (``LIFECYCLE_ENGINE__...``, ``LIFECYCLE_CAMPAIGN__...``) are read as usual; a flat group
    is read by its documented names only (:class:`_FlatEnvironment`), so that
    ``LIFECYCLE_SMTP__HOST`` or ``LIFECYCLE_SMTP='{...}'`` are not second, undocumented
    spellings of a setting, and are ignored like any other unknown ``LIFECYCLE_`` variable.
    """

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        if field_name in FLAT_GROUPS:
            return None  # before any JSON decoding: an unread variable cannot fail
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        # A variable that sets one field of a group keeps the group's other defaults.
        nested_model_default_partial_update=True,
        frozen=True,
        extra="ignore",
        case_sensitive=False,
    )

    app_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] = "lifecycle-worker"
    kafka_bootstrap_servers: str = "localhost:9092"
    #: Partitions of the internal topics (customer events, outbox) and of table changelogs.
    partitions: Annotated[int, Field(ge=1, le=1024)] = 8
    replication_factor: Annotated[int, Field(ge=1, le=10)] = 1
    #: Create the shop's topics that do not exist yet at start-up (with ``partitions``
    #: partitions). Off: a topic created later is noticed at the next metadata refresh
    #: (every few seconds) and ``/ready`` lists the missing ones meanwhile.
    create_source_topics: bool = True
    #: How long the group waits for a silent worker before moving its partitions away.
    #: Kafka accepts 6-1800 s by default; short means fast failover, and a fast first
    #: join on Tansu, which holds a joining member for half of it.
    kafka_session_timeout_seconds: Annotated[float, Field(ge=1, le=1800)] = 10.0
    #: How long the broker may hold a fetch while it has no new records (Faust's fixed
    #: value by default). Each hop of the pipeline (shop topic, customer events, outbox)
    #: can wait this long when traffic is sparse; lower means less latency, more fetches.
    kafka_fetch_max_wait_ms: Annotated[int, Field(ge=1, le=30_000)] = 1500
    #: How long the producer holds records to fill a batch before it sends them (Faust's
    #: 0 by default: at once). Longer puts more re-keyed events, changelog writes and
    #: outbox records into one produce request, which matters most where each request
    #: crosses a network; it is latency added to each hop that produces. On one local
    #: broker 5 ms gained nothing measurable (README, Performance), so 0 stays.
    kafka_producer_linger_ms: Annotated[int, Field(ge=0, le=1000)] = 0
    #: The most records one fetch hands the worker (Faust passes no limit: every record
    #: the broker returned, up to 1 MiB per partition). A backfill then turns tens of
    #: thousands of records into objects at once, and the memory they leave behind stays
    #: with the process; bounded at one engine batch, the worker kept 2.7-3.1 KB per
    #: customer after the benchmark's backfill instead of 3.2-3.9 KB, and ran faster.
    kafka_max_poll_records: Annotated[int, Field(ge=1, le=100_000)] = 500

    topics: TopicSettings = TopicSettings()

    #: At most 512 KiB: a dead-lettered record (its bytes plus headers) must still fit the
    #: producer's and the broker's default 1 MB message limit.
    max_event_bytes: Annotated[int, Field(ge=256, le=512 * 1024)] = 64 * 1024
    tick_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: ``wall``: the leader's ticker sends ticks from the wall clock every tick interval.
    #: ``external``: no ticker; whoever writes the customer-events topic sends the ticks
    #: (the demo's shop simulator drives simulated time this way). Time is then the
    #: records' alone: a hard bounce is dated by its message's decision time, not by the
    #: wall clock (lifecycle.mail.bounces).
    ticker: Literal["wall", "external"] = "wall"
    #: A wall tick waits until the whole group has consumed the shop's records written
    #: before it (streams.agents.ticker), so a backfill's timers run on its own history's
    #: time; held longer than this, ticks follow the wall clock until the group catches
    #: up. 0: never held (each tick is sent at once, as before there was a hold).
    tick_hold_max_seconds: Annotated[float, Field(ge=0, le=7 * 86400)] = 6 * 3600
    due_bucket_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    #: The engine takes up to this many records at a time, and waits for the broker once
    #: per batch (not once per record that sends) before it writes their state.
    engine_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    #: How long the engine waits for a batch to fill: the latency it may add per record.
    engine_batch_seconds: Annotated[float, Field(gt=0, le=5)] = 0.02
    #: Each ingest agent takes up to this many records at a time, produces their re-keyed
    #: events as one batch per partition, and waits for the broker once per batch.
    ingest_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    #: How long an ingest agent waits for a batch to fill: the latency it may add.
    ingest_batch_seconds: Annotated[float, Field(gt=0, le=5)] = 0.01
    #: How often each worker publishes its changed counter totals to the counters topic.
    counters_flush_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0

    #: The outbox agent sends as many emails at once as the pool has connections.
    smtp: SmtpSettings = SmtpSettings(pool_size=4, max_per_second=50.0)
    delivery: DeliverySettings = DeliverySettings()
    message_id_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}$")] = (
        _RUNTIME_DEFAULTS.message_domain
    )

    campaigns_dir: Path = Path("campaigns")

    web: WebSettings = WebSettings()
    unsubscribe: UnsubscribeSettings = UnsubscribeSettings()

    data_dir: Path = Path(".lifecycle-data")
    #: Where tables live: in memory (restored from changelogs at every start) or in RocksDB
    #: under ``data_dir`` (kept across restarts; only the changelog tail is replayed).
    store: Literal["memory", "rocksdb"] = "memory"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: A partition whose committed offset stands still this long while records wait makes
    #: /health fail (see streams/health.py).
    health_stall_seconds: Annotated[float, Field(gt=0)] = 300.0
    #: ``json``: one JSON object per line (see streams/logs.py); addresses are masked and
    #: secrets never written in either format.
    log_format: Literal["text", "json"] = "text"

    engine: EngineConfig = _RUNTIME_DEFAULTS.engine
    campaign: CampaignRules = _RUNTIME_DEFAULTS.rules

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _FlatEnvironment(settings_cls),
            _NestedEnvironment(settings_cls),  # env_settings' model_config, less the flat groups
            dotenv_settings,
            file_secret_settings,
        )

    @model_validator(mode="before")
    @classmethod
    def _flat_keywords(cls, values: Any) -> Any:
        """``Settings(smtp_host="x")`` means what ``LIFECYCLE_SMTP_HOST=x`` means."""
        if not isinstance(values, dict):
            return values
        flat = {k: v for k, v in values.items() if k.upper() in FLAT_VARIABLES}
        if not flat:
            return values
        merged = {k: v for k, v in values.items() if k not in flat}
        for group, fields in _nest(flat).items():
            # Onto the group as given, else onto the worker's default for the group (which
            # differs from the model's own: a rate limit of 50 a second, not none).
            current = merged.get(group, cls.model_fields[group].default)
            if isinstance(current, FrozenModel):
                current = current.model_dump()
            merged[group] = {**current, **fields}
        return merged

    @model_validator(mode="after")
    def _credentials_together(self) -> Settings:
        # The worker's policy; the sender itself can be given anything (tests do).
        smtp = self.smtp
        if (smtp.username is None) != (smtp.password is None):
            raise ValueError(
                "set both LIFECYCLE_SMTP_USERNAME and LIFECYCLE_SMTP_PASSWORD, or neither"
            )
        if smtp.username is not None and smtp.tls_mode == "none":
            raise ValueError(
                "LIFECYCLE_SMTP_TLS=none would send the password in clear text; use starttls or tls"
            )
        return self

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        if value == "rocksdb" and importlib.util.find_spec("rocksdict") is None:
            raise ValueError(
                "rocksdb needs the rocksdict package: pip install 'lifecycle-worker[rocksdb]'"
            )
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("must be host:port[,host:port...], e.g. localhost:9092")
        return value

    def runtime_context(self) -> RuntimeContext:
        return RuntimeContext(
            engine=self.engine, message_domain=self.message_id_domain, rules=self.campaign
        )


def documented_variables() -> Iterator[str]:
    """Every variable of the settings table, field by field of the settings and their groups.

    The :data:`NESTED_BLOCKS` are left to the detection and campaign tables. A field of a
    flat group with neither a variable in :data:`FLAT_VARIABLES` nor a place in
    :data:`NOT_FROM_ENVIRONMENT`, or a group that is neither flat nor a nested block,
    raises, so a new setting cannot go unnoticed.
    """
    for name, field in Settings.model_fields.items():
        if name in NESTED_BLOCKS:
            continue
        if name not in FLAT_GROUPS:
            if isinstance(field.default, FrozenModel):
                raise LookupError(
                    f"settings group {name} is in neither FLAT_GROUPS nor NESTED_BLOCKS"
                )
            yield ENV_PREFIX + name.upper()
            continue
        for sub in type(field.default).model_fields:
            if (name, sub) in NOT_FROM_ENVIRONMENT:
                continue
            variable = _FLAT_BY_PATH.get((name, sub))
            if variable is None:
                raise LookupError(
                    f"settings field {name}.{sub} has no variable: add it to FLAT_VARIABLES"
                    " (and the README's settings table) or to NOT_FROM_ENVIRONMENT"
                )
            yield variable


def _variable(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "(settings)"
    flat = _FLAT_BY_PATH.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
    if flat is not None:
        return flat
    if loc[0] in FLAT_GROUPS:
        # A whole group (its cross-field checks): name the group's variables.
        return ENV_PREFIX + str(loc[0]).upper() + "_*"
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


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
