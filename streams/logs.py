"""The worker's logging: text or one JSON object per line, addresses masked, secrets never.

``LIFECYCLE_LOG_FORMAT=json`` gives one JSON object per line: ``ts`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, the context the call site passed (``event_id``,
``message_id``, ``campaign``, ``topic``, ``partition``, ``offset``, ...) and ``exc`` with
the traceback, if any. ``text`` (the default) is one readable line per record.

Whatever the format, every line goes through :class:`Redactor` as it is written, so
nothing reaches the log that the call site did not mean to show:

* email addresses are masked to their first character and domain (``j***@example.com``),
  except Message-IDs, which look like addresses at the configured Message-ID domain and
  are what an operator needs to find a message in the mail server's log;
* the configured secrets (the unsubscribe secret, the SMTP password) are replaced by
  ``**********`` wherever they appear;
* unsubscribe tokens in URLs (``token=...``, as Faust's web server logs requests) are cut.

Faust's, aiokafka's and mode's loggers follow ``LIFECYCLE_LOG_LEVEL`` like ours: left at
DEBUG they build and throw away records on every fetch and send.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "Redactor", "TextFormatter", "logging_config"]

#: Library loggers whose level follows the worker's (they default to DEBUG-friendly levels).
LIBRARY_LOGGERS = ("faust", "aiokafka", "mode", "aiohttp", "kafka")

_ADDRESS = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_TOKEN = re.compile(r"(token=)[^&\s\"'<>]+")
_MASK = "**********"
#: LogRecord attributes that are not context a call site passed in ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class Redactor:
    """Masks addresses, secrets and unsubscribe tokens in a finished log line."""

    def __init__(self, secrets: Iterable[str] = (), *, message_id_domain: str = "") -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.message_id_domain = message_id_domain.lower()

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        text = _TOKEN.sub(r"\1" + _MASK, text)
        return _ADDRESS.sub(self._mask, text)

    def _mask(self, match: re.Match[str]) -> str:
        if self.message_id_domain and match.group(2).lower() == self.message_id_domain:
            return match.group(0)
        return f"{match.group(1)}***@{match.group(2)}"


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context(record)
        if context:
            line += " " + " ".join(f"{k}={v}" for k, v in context.items())
        return self.redact(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return self.redact(json.dumps(entry, default=str, ensure_ascii=False))


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


def logging_config(
    level: str, log_format: str, secrets: Iterable[str], *, message_id_domain: str = ""
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the worker (Faust's worker applies it)."""
    redact = Redactor(secrets, message_id_domain=message_id_domain)
    formatter = JsonFormatter(redact) if log_format == "json" else TextFormatter(redact)
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lifecycle": {"()": lambda: formatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "lifecycle",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": upper, "handlers": ["stdout"]},
        "loggers": {name: {"level": upper} for name in LIBRARY_LOGGERS},
    }
