"""Settings read from the environment: defaults that depend on each other, and clear refusals."""

from __future__ import annotations

from typing import Any

import pytest

from streams.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("mode", "port"), [("none", 25), ("starttls", 587), ("tls", 465)])
def test_the_smtp_port_follows_the_tls_mode_unless_set(
    monkeypatch: pytest.MonkeyPatch, mode: str, port: int
) -> None:
    monkeypatch.setenv("LIFECYCLE_SMTP_TLS", mode)
    assert load_settings().smtp.effective_port == port
    monkeypatch.setenv("LIFECYCLE_SMTP_PORT", "2525")
    assert load_settings().smtp.effective_port == 2525


def test_a_nested_value_that_is_not_json_is_named_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS", "45")
    monkeypatch.setenv("LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS", '[["gold", 500]')
    with pytest.raises(SettingsError) as refused:
        load_settings()
    [line] = str(refused.value).splitlines()[1:]
    assert line.strip().startswith("LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS: not valid JSON")


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://mail.shop.example", True),
        ("https://mail.shop.example/", True),
        ("http://localhost:6066", True),
        ("http://127.0.0.1:8080", True),
        ("http://mail.shop.example", False),
        ("mail.shop.example", False),
        ("javascript:alert(1)", False),
    ],
)
def test_unsubscribe_links_need_an_https_base_except_on_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str, accepted: bool
) -> None:
    monkeypatch.setenv("LIFECYCLE_PUBLIC_BASE_URL", url)
    if accepted:
        assert load_settings().web.public_base_url == url.rstrip("/")
    else:
        with pytest.raises(SettingsError, match="LIFECYCLE_PUBLIC_BASE_URL"):
            load_settings()


def test_the_rocksdb_store_without_its_package_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "rocksdict" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("LIFECYCLE_STORE", "rocksdb")
    with pytest.raises(SettingsError, match=r"LIFECYCLE_STORE: .*\[rocksdb\]"):
        load_settings()
    monkeypatch.setenv("LIFECYCLE_STORE", "memory")
    assert load_settings().store == "memory"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("unsubscribe@shop.example", "unsubscribe@shop.example"),
        ("mailto:unsubscribe@shop.example", "unsubscribe@shop.example"),
        ("unsubscribe@shop.example?subject=x", None),
        ("not an address", None),
    ],
)
def test_the_unsubscribe_mailbox_is_a_plain_address(
    monkeypatch: pytest.MonkeyPatch, value: str, stored: str | None
) -> None:
    monkeypatch.setenv("LIFECYCLE_UNSUBSCRIBE_MAILTO", value)
    if stored is None:
        with pytest.raises(SettingsError, match="LIFECYCLE_UNSUBSCRIBE_MAILTO"):
            load_settings()
    else:
        assert load_settings().unsubscribe.mailto == stored


def test_a_flat_keyword_keeps_the_other_worker_defaults_of_its_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streams.settings import Settings

    worker_default = Settings().smtp
    assert (worker_default.pool_size, worker_default.max_per_second) == (4, 50.0)
    expected = worker_default.model_copy(update={"host": "mail.shop.example"})
    assert Settings(smtp_host="mail.shop.example").smtp == expected
    monkeypatch.setenv("LIFECYCLE_SMTP_HOST", "mail.shop.example")
    assert load_settings().smtp == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIFECYCLE_SMTP__HOST", "mail.shop.example"),
        ("LIFECYCLE_SMTP__BURST", "9"),
        ("LIFECYCLE_TOPICS__OUTBOX", "other.outbox"),
        ("LIFECYCLE_SMTP", '{"host": "mail.shop.example"}'),
        ("LIFECYCLE_WEB", "not json"),
    ],
)
def test_a_group_is_set_by_its_documented_variables_only(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    default = load_settings()
    monkeypatch.setenv(variable, value)
    assert load_settings() == default


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIFECYCLE_SMTP_PORT", "twenty-five"),
        ("LIFECYCLE_SMTP_TLS", "ssl"),
        ("LIFECYCLE_SMTP_TIMEOUT_SECONDS", "0"),
        ("LIFECYCLE_SMTP_MAX_ATTEMPTS", "0"),
        ("LIFECYCLE_MAIL_FROM", "nobody"),
        ("LIFECYCLE_MAIL_REPLY_TO", "Help <help@shop.example>\r\nBcc: x@evil.example"),
        ("LIFECYCLE_TOPIC_OUTBOX", "no spaces allowed"),
        ("LIFECYCLE_WEB_PORT", "0"),
        ("LIFECYCLE_UNSUBSCRIBE_MAX_AGE_DAYS", "0"),
        ("LIFECYCLE_CAMPAIGN__DEFAULT_CURRENCY", "euro"),
    ],
)
def test_a_bad_grouped_value_is_named_by_its_documented_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    [line] = str(refused.value).splitlines()[1:]
    assert line.strip().startswith(f"{variable}: ")


def test_the_sender_and_reply_to_are_parsed_once_into_mailboxes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lifecycle.mail import Mailbox

    monkeypatch.setenv("LIFECYCLE_MAIL_FROM", "Demo Shop <hello@shop.example>")
    monkeypatch.setenv("LIFECYCLE_MAIL_REPLY_TO", "help@shop.example")
    delivery = load_settings().delivery
    assert delivery.mail_from == Mailbox(address="hello@shop.example", name="Demo Shop")
    assert delivery.reply_to == Mailbox(address="help@shop.example", name=None)


def test_the_worker_runs_campaigns_with_the_runtime_defaults_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lifecycle.campaigns import RuntimeContext

    assert load_settings().runtime_context() == RuntimeContext()
    monkeypatch.setenv("LIFECYCLE_CAMPAIGN__SHOP__NAME", "Demo Shop")
    monkeypatch.setenv("LIFECYCLE_MESSAGE_ID_DOMAIN", "mail.shop.example")
    context = load_settings().runtime_context()
    assert (context.rules.shop.name, context.message_domain) == ("Demo Shop", "mail.shop.example")
    assert context.rules.shop.url == RuntimeContext().rules.shop.url


def test_faust_reads_none_of_its_bare_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Faust lets BROKER, WEB_PORT, PRODUCER_ACKS, ... override what the worker passes it;
    the worker's settings are LIFECYCLE_* only."""
    from streams.app import build_faust_app
    from streams.settings import Settings

    expected = build_faust_app(Settings()).conf
    for name, value in {
        "BROKER": "kafka://elsewhere.example:9092",
        "WEB_PORT": "1",
        "PRODUCER_ACKS": "1",
        "STORE": "rocksdb://",
        "APP_DATADIR": "/somewhere/else",
        "BROKER_SESSION_TIMEOUT": "999",
    }.items():
        monkeypatch.setenv(name, value)
    conf = build_faust_app(Settings()).conf
    assert [str(url) for url in conf.broker] == [str(url) for url in expected.broker]
    assert (conf.web_port, conf.producer_acks, str(conf.store)) == (
        expected.web_port,
        -1,
        str(expected.store),
    )
    assert (conf.datadir, conf.broker_session_timeout) == (
        expected.datadir,
        expected.broker_session_timeout,
    )


def _faust_app_with(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> Any:
    """The worker's Faust app, built from the settings these variables give."""
    from streams.app import build_faust_app

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return build_faust_app(load_settings())


@pytest.mark.parametrize(("variable", "linger_ms"), [(None, 0), ("5", 5), ("40", 40)])
def test_the_producer_lingers_as_long_as_its_variable_says(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, linger_ms: int
) -> None:
    variables = {} if variable is None else {"LIFECYCLE_KAFKA_PRODUCER_LINGER_MS": variable}
    app = _faust_app_with(monkeypatch, variables)
    assert app.producer.linger_ms == linger_ms


@pytest.mark.parametrize(("variable", "records"), [(None, 500), ("2000", 2000)])
def test_a_fetch_hands_over_at_most_the_records_its_variable_says(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, records: int
) -> None:
    variables = {} if variable is None else {"LIFECYCLE_KAFKA_MAX_POLL_RECORDS": variable}
    app = _faust_app_with(monkeypatch, variables)
    assert app.conf.broker_max_poll_records == records


@pytest.mark.parametrize(
    ("variables", "records"),
    [
        ({}, 512),
        ({"LIFECYCLE_ENGINE_BATCH_SIZE": "2000"}, 2000),
        ({"LIFECYCLE_INGEST_BATCH_SIZE": "800"}, 800),
    ],
)
def test_each_stream_buffers_512_records_or_one_batch_if_that_is_more(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], records: int
) -> None:
    app = _faust_app_with(monkeypatch, variables)
    assert app.conf.stream_buffer_maxsize == records


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_bad_max_poll_records_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LIFECYCLE_KAFKA_MAX_POLL_RECORDS", value)
    with pytest.raises(SettingsError, match="LIFECYCLE_KAFKA_MAX_POLL_RECORDS"):
        load_settings()


def test_a_negative_producer_linger_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIFECYCLE_KAFKA_PRODUCER_LINGER_MS", "-1")
    with pytest.raises(SettingsError, match="LIFECYCLE_KAFKA_PRODUCER_LINGER_MS"):
        load_settings()
