"""What the campaign runtime needs besides state and time: the operator's settings.

:class:`RuntimeContext` is a frozen value the adapter builds once from its settings
(durations may be written ``"1d"``, times ``"21:00"``) and passes to every call.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated

from pydantic import Field

from lifecycle.config import EngineConfig
from lifecycle.localtime import Duration
from lifecycle.mail import Category
from lifecycle.values import FrozenModel

__all__ = ["CampaignRules", "FrequencyCap", "QuietHours", "RuntimeContext", "ShopInfo"]


class FrequencyCap(FrozenModel):
    """At most ``messages`` messages in any rolling window of length ``per``."""

    messages: Annotated[int, Field(ge=1, le=1000)]
    per: Duration


class QuietHours(FrozenModel):
    """No mail of these categories between ``start`` and ``end``, customer-local time.

    ``start`` after ``end`` wraps midnight (21:00-08:00). A send that falls inside waits
    for ``end`` on the customer's clock, daylight-saving changes included.
    """

    start: time = time(21, 0)
    end: time = time(8, 0)
    categories: tuple[Category, ...] = ("marketing",)


class ShopInfo(FrozenModel):
    """What templates see as ``shop``."""

    name: str = "Our shop"
    url: str = "https://shop.example"
    support_email: str | None = None


class CampaignRules(FrozenModel):
    """The operator's rules over every campaign (``LIFECYCLE_CAMPAIGN__...``)."""

    #: Global frequency caps per category, over every campaign together.
    caps: dict[Category, tuple[FrequencyCap, ...]] = {
        "marketing": (
            FrequencyCap(messages=1, per=timedelta(days=1)),
            FrequencyCap(messages=3, per=timedelta(days=7)),
        ),
        "transactional": (),
    }
    quiet_hours: QuietHours | None = QuietHours()
    #: How long a journey step that lost a priority conflict waits before trying again.
    conflict_delay: Duration = timedelta(days=1)
    shop: ShopInfo = ShopInfo()
    #: Currency for money in templates when the customer has none yet.
    default_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    #: Locale of a customer whose own has no template (and of templates' trial renders).
    default_locale: str = "en"

    def caps_for(self, category: Category) -> tuple[FrequencyCap, ...]:
        return self.caps.get(category, ())


class RuntimeContext(FrozenModel):
    """Everything a campaign set is run with besides state and time."""

    #: Detection settings; attributes and customer time zones are computed with these.
    engine: EngineConfig = EngineConfig()
    #: The domain part of every Message-ID.
    message_domain: str = "lifecycle.invalid"
    rules: CampaignRules = CampaignRules()
