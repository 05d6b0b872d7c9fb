"""Log lines: one JSON object per line in json format; addresses masked and secrets never."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from streams.logs import LIBRARY_LOGGERS, JsonFormatter, Redactor, TextFormatter, logging_config

SECRET = "s3cr3t-unsubscribe-key-0123456789"


def test_addresses_are_masked_to_first_letter_and_domain() -> None:
    redact = Redactor()
    assert redact("to john.smith+tag@example.co.uk now") == "to j***@example.co.uk now"
    assert redact("<anna@shop.example>, x@y.se") == "<a***@shop.example>, x***@y.se"
    assert redact("no address @ here, a@b") == "no address @ here, a@b"  # b is no domain


def test_message_ids_at_the_message_id_domain_are_kept() -> None:
    redact = Redactor(message_id_domain="mail.shop.example")
    assert redact("<a1b2@mail.shop.example> to c@d.se") == "<a1b2@mail.shop.example> to c***@d.se"


def test_secrets_and_unsubscribe_tokens_never_pass() -> None:
    redact = Redactor([SECRET, "pw"])
    line = f"GET /unsubscribe?token=v2.AbC-_x.123 key={SECRET} password pw"
    cleaned = redact(line)
    assert SECRET not in cleaned
    assert "v2.AbC" not in cleaned
    assert "token=**********" in cleaned
    assert cleaned.endswith("password **********")  # "pw" masked, the word around it kept


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("streams.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_context_and_are_redacted() -> None:
    formatter = JsonFormatter(Redactor([SECRET], message_id_domain="lifecycle.invalid"))
    record = _record(
        "not sent to %s (%s)",
        "eve@example.com",
        SECRET,
        message_id="<m1@lifecycle.invalid>",
        topic="lifecycle.outbox",
        partition=3,
        offset=17,
    )
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "warning"
    assert entry["logger"] == "streams.test"
    assert entry["message"] == "not sent to e***@example.com (**********)"
    assert entry["message_id"] == "<m1@lifecycle.invalid>"
    assert (entry["topic"], entry["partition"], entry["offset"]) == ("lifecycle.outbox", 3, 17)
    assert entry["ts"].endswith("+00:00")


def test_json_lines_carry_the_traceback_as_one_field() -> None:
    formatter = JsonFormatter(Redactor())
    try:
        raise ValueError("bad address bob@example.org")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert "ValueError: bad address b***@example.org" in entry["exc"]


def test_text_lines_are_redacted_too() -> None:
    formatter = TextFormatter(Redactor([SECRET]))
    line = formatter.format(_record("x %s %s", "ann@example.com", SECRET, message_id="<m>"))
    assert "a***@example.com" in line
    assert SECRET not in line
    assert "message_id=<m>" in line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_config_routes_every_logger_through_the_format_at_the_level(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    config = logging_config("warning", log_format, [SECRET])
    logging.config.dictConfig(config)
    try:
        for name in LIBRARY_LOGGERS:
            assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
        logging.getLogger("aiokafka.consumer").debug("fetch %s", "noise")
        logging.getLogger("streams.agents").warning("hello %s", "zoe@example.com")
        lines = out.getvalue().splitlines()
        assert len(lines) == 1
        assert "z***@example.com" in lines[0]
        if log_format == "json":
            assert json.loads(lines[0])["message"] == "hello z***@example.com"
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
