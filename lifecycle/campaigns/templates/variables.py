"""What a template may use: the variables (customer attributes plus the extras every
send provides), the fields of the structured ones, and :class:`Fields`, the read-only
record those structured values reach the template as.

The lists double as documentation: the marketer's guide and the JSON schema show them,
and the template checks reject any other name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lifecycle.customer import ATTRIBUTES

__all__ = ["EXTRA_VARIABLES", "LAYOUT_EXTRA", "OBJECT_FIELDS", "TEMPLATE_VARIABLES", "Fields"]

#: Variables beyond the customer attributes, with what they hold.
EXTRA_VARIABLES: dict[str, str] = {
    "first_name": "The first word of the customer's name, or nothing.",
    "order": "The triggering order (or else the latest one): id, total, currency, at, items "
    "(each: sku, name, quantity, price); nothing before the first order.",
    "campaign": "The campaign: id, name, category.",
    "variant": "The A/B variant this customer is in.",
    "step": "The step number of this send.",
    "params": "The campaign's params (e.g. params.discount_code).",
    "trigger": "What started the journey: name, plus the signal's data (e.g. trigger.years).",
    "shop": "The shop: name, url, support_email.",
    "now": "The time of the decision.",
    "unsubscribe_url": "Marketing only: the customer's signed one-click unsubscribe link "
    '(put it in the message, e.g. <a href="{{ unsubscribe_url }}">). In a transactional '
    'campaign it is an error; guard it with {% if campaign.category == "marketing" %}.',
}
#: Every variable a template may use.
TEMPLATE_VARIABLES: dict[str, str] = {
    **{name: attribute.description for name, attribute in ATTRIBUTES.items()},
    **EXTRA_VARIABLES,
}
LAYOUT_EXTRA = {
    "content": "The message body (rendered text or HTML).",
    "subject": "The rendered subject.",
    "preheader": "The rendered preheader.",
    "lang": "The template's locale, for <html lang>.",
}
#: Fields of the structured variables, checked at load time.
OBJECT_FIELDS: dict[str, tuple[str, ...]] = {
    "order": ("id", "total", "currency", "at", "items"),
    "campaign": ("id", "name", "category"),
    "shop": ("name", "url", "support_email"),
}


class Fields:
    """A read-only record for templates: ``trigger.years`` and ``trigger['from']`` work,
    missing fields raise (so StrictUndefined reports them), nothing else is reachable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __bool__(self) -> bool:
        return bool(self._data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("read only")

    def __repr__(self) -> str:
        return f"Fields({self._data!r})"
