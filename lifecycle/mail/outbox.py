"""The outbox record: one fully rendered email waiting for delivery.

The engine writes these to the outbox topic; the delivery agent reads them, checks its
ledger and sends. Everything needed to build the MIME message is inside, so delivery
never has to look at customer state or templates.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

__all__ = ["Category", "OutboxMessage", "derive_message_id"]

Category = Literal["marketing", "transactional"]


def derive_message_id(
    customer_id: str, campaign_id: str, step: int, cause: str, *, domain: str = "lifecycle.invalid"
) -> str:
    """A ``Message-ID`` that is the same every time the same decision is made.

    ``cause`` names what triggered the decision: an event id, or a due time for decisions
    taken on a tick. Replaying the same history therefore yields the same id, which is
    what lets the delivery ledger recognise a redelivered or replayed record.
    """
    material = "\x1f".join((customer_id, campaign_id, str(step), cause)).encode()
    digest = hashlib.sha256(material).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class OutboxMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    customer_id: str
    campaign_id: str
    variant: str
    step: int
    category: Category
    decided_at: AwareDatetime
    to_address: str
    to_name: str | None = None
    locale: str
    subject: str
    preheader: str | None = None
    text: str
    html: str
    #: A best-time send: whether the customer's activity chose its time (``optimised``)
    #: or the fallback hour did; None for every other send.
    send_time: Literal["optimised", "fallback"] | None = None
    #: False: decided before the engine's ``stale_before`` (so long ago that delivery
    #: will not send it), and not rendered: ``subject``, ``text`` and ``html`` are empty.
    #: The engine counts it expired and does not publish it; delivery expires one that an
    #: earlier version published.
    rendered: bool = True

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> OutboxMessage:
        return cls.model_validate_json(raw)
