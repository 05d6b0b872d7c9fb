"""Delivery: outbox records to SMTP, at most once per Message-ID as far as a crash can tell.

:class:`SmtpSender` speaks SMTP (pooled connections, TLS, AUTH, a rate limit);
:class:`Delivery` makes each attempt against the delivery ledger
(:class:`FaustLedger`, acknowledged writes before the final dot); the agents that feed
it are in :mod:`streams.agents`.
"""

from streams.delivery.attempts import Delivery, MailSender
from streams.delivery.ledger import (
    CommitNotDurableError,
    DeliveryLedger,
    DuplicateAttemptError,
    FaustLedger,
    KeyedLocks,
)
from streams.delivery.smtp import (
    PermanentSmtpError,
    SmtpError,
    SmtpReceipt,
    SmtpSender,
    SmtpSettings,
    TransientSmtpError,
)

__all__ = [
    # Attempts
    "Delivery",
    "MailSender",
    # The ledger
    "CommitNotDurableError",
    "DeliveryLedger",
    "DuplicateAttemptError",
    "FaustLedger",
    "KeyedLocks",
    # SMTP
    "PermanentSmtpError",
    "SmtpError",
    "SmtpReceipt",
    "SmtpSender",
    "SmtpSettings",
    "TransientSmtpError",
]
