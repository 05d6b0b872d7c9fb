"""Which RCPT refusals suppress the address (real-world reply texts), and when a bounce happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.mail.bounces import (
    EnhancedStatus,
    bounce_time,
    enhanced_status,
    is_mailbox_failure,
)

# (code, reply text as aiosmtplib gives it: without the basic code)
MAILBOX_GONE = [
    (
        550,
        "5.1.1 <gone@shop.test>: Recipient address rejected: User unknown in local recipient table",
    ),
    (
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "5.1.1 double-checking the recipient's email address for typos",
    ),  # Gmail
    (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
    (553, "5.1.3 Invalid address"),
    (550, "5.2.1 The email account that you tried to reach is disabled."),
    (554, "5.1.2 Host or domain name not found"),
    (550, "Requested action not taken: mailbox unavailable"),  # no enhanced code
    (551, "User not local; please try <forward@example.org>"),
    (553, "Requested action not taken: mailbox name not allowed"),
]
NOT_THE_MAILBOX = [
    (554, "5.7.1 <gone@shop.test>: Relay access denied"),
    (550, "5.7.1 Client host [203.0.113.7] blocked using zen.spamhaus.org"),
    (550, "5.7.606 Access denied, banned sending IP [203.0.113.7]"),  # Microsoft
    (552, "5.2.2 The email account that you tried to reach is over quota."),
    (550, "5.4.1 Recipient address rejected: Access denied"),
    (554, "Transaction failed"),  # no enhanced code, not a mailbox code
    (552, "Requested mail action aborted: exceeded storage allocation"),
    (550, "4.1.1 contradicts the basic code"),
    (451, "4.1.1 try again"),
    (None, ""),
]


@pytest.mark.parametrize(("code", "reply"), MAILBOX_GONE)
def test_mailbox_failures_suppress(code: int, reply: str) -> None:
    assert is_mailbox_failure(code, reply)


@pytest.mark.parametrize(("code", "reply"), NOT_THE_MAILBOX)
def test_other_refusals_do_not(code: int | None, reply: str) -> None:
    assert not is_mailbox_failure(code, reply)


def test_enhanced_status_is_read_from_the_start_of_the_first_line() -> None:
    assert enhanced_status("5.1.10 RESOLVER.ADR") == EnhancedStatus(5, 1, 10)
    assert enhanced_status("550 5.7.1 Relay access denied") == EnhancedStatus(5, 7, 1)
    assert enhanced_status("Mailbox 5.1.1 mentioned later") is None
    assert enhanced_status("5.1.1.2 not a status code") is None
    assert enhanced_status("") is None


# -- when a bounce happened: the event time the engine applies it at ----------------------

DECIDED = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)


def test_a_live_bounce_is_dated_when_the_attempt_was_refused() -> None:
    retried = DECIDED + timedelta(hours=5)  # refused at the fourth attempt, hours later
    assert bounce_time(DECIDED, retried) == retried


def test_a_bounce_is_never_dated_before_its_message() -> None:
    # The worker's clock behind the shop's: the decision time is the later one.
    assert bounce_time(DECIDED, DECIDED - timedelta(minutes=3)) == DECIDED


def test_with_time_from_the_records_a_bounce_is_dated_by_its_message() -> None:
    # No event clock at the attempt (external ticks): months of wall clock ahead of the
    # simulation must not move the customer's time.
    assert bounce_time(DECIDED, None) == DECIDED
