"""The variables a template sees, built from customer state (see ``TEMPLATE_VARIABLES``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.model import Campaign
from lifecycle.campaigns.templates.variables import Fields
from lifecycle.customer import attribute_values
from lifecycle.events import OrderPlaced
from lifecycle.mail import UNSUBSCRIBE_URL_PLACEHOLDER
from lifecycle.state import CustomerState, JourneyState

__all__ = ["first_name", "message_variables", "order_view", "unsubscribe_url"]


def first_name(name: str | None) -> str | None:
    if not name or not name.strip():
        return None
    return name.strip().split()[0]


def order_view(state: CustomerState, event: OrderPlaced | None) -> Fields | None:
    """The triggering order with its items, or else the latest order (without items)."""
    if event is not None:
        items = [
            Fields(
                {"sku": item.sku, "name": item.name, "quantity": item.quantity, "price": item.price}
            )
            for item in event.items
        ]
        return Fields(
            {
                "id": event.order_id,
                "total": event.total,
                "currency": event.currency,
                "at": event.occurred_at,
                "items": items,
            }
        )
    orders = state.orders
    if orders.count == 0 or orders.last_order_id is None:
        return None
    return Fields(
        {
            "id": orders.last_order_id,
            "total": orders.last_total,
            "currency": orders.currency,
            "at": orders.last_at,
            "items": [],
        }
    )


def unsubscribe_url(category: str) -> Any:
    """The placeholder delivery swaps for the signed link, for marketing mail only.

    Transactional mail has no unsubscribe, so there the variable fails when shown (with
    this reason, at the template's line): validation's trial render and the engine's
    render report it rather than a customer getting a link that goes nowhere.
    ``{% if unsubscribe_url is defined %}`` is false there.
    """
    if category == "marketing":
        return UNSUBSCRIBE_URL_PLACEHOLDER
    return StrictUndefined(
        hint="unsubscribe_url is only for marketing campaigns (transactional mail has no "
        'unsubscribe); use it inside {% if campaign.category == "marketing" %}',
        name="unsubscribe_url",
    )


def message_variables(
    state: CustomerState,
    now: datetime,
    ctx: RuntimeContext,
    *,
    campaign: Campaign,
    variant: str,
    step: int,
    journey: JourneyState,
    order: OrderPlaced | None,
) -> dict[str, Any]:
    values: dict[str, Any] = dict(attribute_values(state, now, ctx.engine))
    values.update(
        first_name=first_name(state.profile.name),
        order=order_view(state, order),
        campaign=Fields({"id": campaign.id, "name": campaign.name, "category": campaign.category}),
        variant=variant,
        step=step,
        params=Fields(campaign.params),
        trigger=Fields({"name": journey.trigger or "", **journey.data}),
        shop=Fields(ctx.rules.shop.model_dump()),
        now=now,
        unsubscribe_url=unsubscribe_url(campaign.category),
    )
    return values
