"""One exception root for the whole project, so callers can catch what is ours."""

from __future__ import annotations

__all__ = [
    "CampaignError",
    "CampaignErrors",
    "EmailBuildError",
    "EventError",
    "LifecycleError",
    "ModelFitError",
    "TemplateRenderError",
    "UnsubscribeTokenError",
]


class LifecycleError(Exception):
    """Root of every error this project raises on purpose."""


class EventError(LifecycleError):
    """An inbound record does not meet the event contract.

    ``reason`` is short and safe to put in a dead-letter header; it never contains the
    record's payload. ``kind`` is a fixed word for counting: empty, oversized, not_utf8,
    not_json, not_object, unknown_type or invalid.
    """

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class CampaignError(LifecycleError):
    """One located problem in a campaign file or template."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{file}:{line}:{column}: {message}")
        self.file = file
        self.line = line
        self.column = column
        self.message = message


class CampaignErrors(LifecycleError):
    """Every problem found in a campaign set, reported together."""

    def __init__(self, errors: list[CampaignError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.column, e.message))
        super().__init__("\n".join(str(e) for e in self.errors))


class TemplateRenderError(LifecycleError):
    """A template failed to render for one customer (missing data, sandbox violation)."""


class ModelFitError(LifecycleError):
    """A model fit (BG/NBD, Gamma-Gamma) could not run on the data given."""


class UnsubscribeTokenError(LifecycleError):
    """An unsubscribe token is forged, truncated, malformed, expired or of an unknown version.

    ``reason`` is short and safe to log or show; it never echoes the token.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailBuildError(LifecycleError):
    """An outbox message cannot become a valid email (bad address, Message-ID or links).

    Retrying cannot help: the record itself is wrong, so delivery dead-letters it.
    """
