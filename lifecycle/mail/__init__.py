"""Mail policy: what an email is, how it is built, and the rules delivery follows.

The engine writes :class:`OutboxMessage` records; delivery builds their exact bytes
(:func:`build_email`), checks the ledger before every attempt (:func:`may_send`), paces
retries (:func:`backoff_delay`), limits the send rate (:class:`TokenBucket`), decides
which refusals suppress an address (:func:`is_mailbox_failure`) and when such a bounce
happened (:func:`bounce_time`), and seals unsubscribe links (:func:`make_token`,
:func:`open_token`). Pure: the SMTP conversation itself is the adapter's.
"""

from lifecycle.mail.backoff import RetryPacer, RetryStep, backoff_delay
from lifecycle.mail.bounces import (
    EnhancedStatus,
    bounce_time,
    enhanced_status,
    is_mailbox_failure,
)
from lifecycle.mail.ledger import (
    FINAL_STATES,
    InDoubtAction,
    LedgerEntry,
    LedgerState,
    RetryRecord,
    may_commit,
    may_send,
    too_late_to_send,
)
from lifecycle.mail.ledger_expiry import EXPIRY_KEY_PREFIX, LedgerExpiry, LedgerExpiryIndex
from lifecycle.mail.mime import Mailbox, UnsubscribeLinks, build_email, normalize_address
from lifecycle.mail.outbox import Category, OutboxMessage, derive_message_id
from lifecycle.mail.rate_limit import TokenBucket
from lifecycle.mail.unsubscribe import (
    MIN_SECRET_BYTES,
    UnsubscribeRequest,
    make_token,
    open_token,
    verify_token,
)
from lifecycle.mail.unsubscribe_placeholder import (
    UNSUBSCRIBE_URL_PLACEHOLDER,
    contains_placeholder,
    fill_placeholder,
)

__all__ = [
    # The outbox record
    "Category",
    "OutboxMessage",
    "derive_message_id",
    # The email's bytes
    "Mailbox",
    "UnsubscribeLinks",
    "build_email",
    "normalize_address",
    # Unsubscribe links
    "MIN_SECRET_BYTES",
    "UNSUBSCRIBE_URL_PLACEHOLDER",
    "UnsubscribeRequest",
    "contains_placeholder",
    "fill_placeholder",
    "make_token",
    "open_token",
    "verify_token",
    # The delivery ledger and its expiry
    "EXPIRY_KEY_PREFIX",
    "FINAL_STATES",
    "InDoubtAction",
    "LedgerEntry",
    "LedgerExpiry",
    "LedgerExpiryIndex",
    "LedgerState",
    "RetryRecord",
    "may_commit",
    "may_send",
    "too_late_to_send",
    # Retries, rate limit, bounces
    "EnhancedStatus",
    "RetryPacer",
    "RetryStep",
    "TokenBucket",
    "backoff_delay",
    "bounce_time",
    "enhanced_status",
    "is_mailbox_failure",
]
