"""Reading an email's header block as it is on the wire, for the header-injection tests."""

from __future__ import annotations

__all__ = ["header_lines", "header_names", "headers_of_marketing_mail"]


def header_lines(raw: bytes) -> list[str]:
    """The header block's lines, folded continuations as their own lines."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def header_names(raw: bytes) -> list[str]:
    """Every header's name, in order: what a receiver sees as separate headers."""
    return [line.split(":", 1)[0] for line in header_lines(raw) if not line[:1].isspace()]


def headers_of_marketing_mail(*, reply_to: bool) -> list[str]:
    """The exact header set build_email writes for marketing mail."""
    return [
        "From",
        "To",
        *(["Reply-To"] if reply_to else []),
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Content-Type",
    ]
