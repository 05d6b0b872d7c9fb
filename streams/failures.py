"""How an agent describes a failure it survives: in a dead letter's reason and in the log.

Every agent catches whatever handling one record raises and dead-letters that record,
because an exception that leaves an agent makes Faust acknowledge the record (its offset is
committed) and restart the agent: the record would be gone, neither processed nor counted.

Exception messages are not ours to repeat: pydantic's quote the input (addresses, names),
the email package's can quote a header. So :func:`describe` gives the exception's type, and
its message only for the project's own :class:`~lifecycle.exceptions.LifecycleError`
(written to name the problem, never the data), and :func:`log_failure` logs that
description with the stack (file, line, function and source line of each frame), which
tells a bug's place without its values.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping

from lifecycle.exceptions import LifecycleError

__all__ = ["caused_by", "describe", "log_failure"]

_MAX_REASON = 300


def describe(exc: BaseException) -> str:
    """One line about ``exc`` that carries no record data."""
    name = type(exc).__name__
    if isinstance(exc, LifecycleError):
        first = (str(exc).splitlines() or [""])[0]
        return f"{name}: {first}"[:_MAX_REASON] if first else name
    return name


def log_failure(
    log: logging.Logger,
    what: str,
    exc: BaseException,
    *,
    context: Mapping[str, object] | None = None,
) -> None:
    """``what`` failed with ``exc``: logged as an error with the stack, without the message;
    ``context`` (event id, topic, partition, offset, ...) goes to structured logs."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "%s: %s\nTraceback (message left out):\n%s",
        what,
        describe(exc),
        stack.rstrip(),
        extra=dict(context or {}),
    )


def caused_by(
    exc: BaseException | None, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """Is ``exc``, or one of the exceptions it was raised from (ten deep at most), a ``kinds``?"""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kinds):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
