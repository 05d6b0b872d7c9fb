"""How the simulated customers answer the emails the mail sink received.

Seeded per message: whether a customer opens and acts on an email is drawn from
``Random(f"{seed}:{Message-ID}")``, so it depends on the email alone, not on the order
in which the sink happened to receive the day's mail.

The model (every figure a field of :class:`ResponseModel`):

* Only marketing email moves anyone (it carries ``List-Unsubscribe``); service mail
  (order thank-yous, service recovery, NPS follow-ups) is read and changes nothing.
* A customer opens a marketing email with probability ``open_rate``.
* A customer who has stopped buying (:meth:`SimCustomer.lapsed`: the declining and some
  of the unhappy ones) orders again after an opened email with probability
  ``comeback``, plus ``offer_bonus`` when the email holds a discount code of a shipped
  campaign (the win-back's discount variant, and its reminder to that variant), within
  ``delay_days`` of the day the email arrived: inside the win-back's 14-day conversion
  window.
* A signed-up customer who never ordered places a first order after an opened email
  with probability ``first_order``.
* Nobody else changes their plans, and the holdout receives nothing, so whatever the
  holdout does is what the customers do by themselves: the uplift the report shows is
  this model's, measured through the worker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path

from streams.dev.shop import Shop

__all__ = ["ResponseModel", "Responses"]

_HEADERS = BytesParser(policy=compat32)


@dataclass(frozen=True)
class ResponseModel:
    open_rate: float = 0.6
    comeback: float = 0.35
    offer_bonus: float = 0.15
    first_order: float = 0.04
    delay_days: tuple[float, float] = (0.2, 6.0)


@dataclass
class Responses:
    """Reads the day's emails and plans the orders they cause in the shop."""

    shop: Shop
    discount_codes: frozenset[str]
    model: ResponseModel = ResponseModel()
    seed: int = 7
    read: int = 0
    orders: int = 0

    def read_emails(self, paths: list[Path], arrived: datetime) -> int:
        """Act on ``paths`` (received by ``arrived``, the end of the simulated time already
        produced); say how many orders they caused."""
        caused = 0
        for path in paths:
            self.read += 1
            if self._respond(path.read_bytes(), arrived):
                caused += 1
        self.orders += caused
        return caused

    def _respond(self, raw: bytes, arrived: datetime) -> bool:
        # The headers first (cheap); the whole message only for someone who may answer.
        headers = _HEADERS.parsebytes(raw, headersonly=True)
        if headers["List-Unsubscribe"] is None:
            return False
        addresses = getaddresses([str(headers.get("To", ""))])
        customer = self.shop.by_email.get(addresses[0][1].lower()) if addresses else None
        if customer is None:
            return False
        rng = random.Random(f"{self.seed}:{str(headers['Message-ID']).strip()}")
        if rng.random() >= self.model.open_rate:
            return False
        if customer.lapsed(arrived):
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(("plain",))
            text = body.get_content() if isinstance(body, EmailMessage) else ""
            offer = any(code in text for code in self.discount_codes)
            chance = self.model.comeback + (self.model.offer_bonus if offer else 0.0)
        elif not customer.has_ordered():
            chance = self.model.first_order
        else:
            return False
        if rng.random() >= chance:
            return False
        at = arrived + timedelta(days=rng.uniform(*self.model.delay_days))
        return self.shop.respond_with_order(customer, at.replace(microsecond=0), rng)
