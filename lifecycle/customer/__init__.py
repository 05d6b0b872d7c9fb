"""One customer's facts and how events change them.

:func:`apply` folds one event into a :class:`~lifecycle.state.CustomerState` and returns
the new state with the signals it caused; nothing here reads a clock or stores anything.
The hour-of-week activity profile is what send-time optimisation reads.
The attributes are what campaign conditions and templates may read of a customer, each
computed from a state and a ``now`` (never stored).
"""

from lifecycle.customer.active_hours import (
    EVENT_WEIGHT,
    HOURS_PER_WEEK,
    decayed_event_count,
    hour_of_week,
    profile_weights,
    record_activity,
)
from lifecycle.customer.activity import is_declining, next_decline_day, window_counts
from lifecycle.customer.apply import RECENT_PURCHASE_DAYS, apply, is_duplicate, is_new_purchase_day
from lifecycle.customer.attributes import (
    ATTRIBUTES,
    RFM_SEGMENTS,
    Attribute,
    AttributeType,
    AttributeValue,
    attribute_values,
    rfm_segment,
)
from lifecycle.customer.stages import TRANSITIONS, change_stage, stage_after_order

__all__ = [
    # Events into state
    "RECENT_PURCHASE_DAYS",
    "apply",
    "is_duplicate",
    "is_new_purchase_day",
    # Lifecycle stages
    "TRANSITIONS",
    "change_stage",
    "stage_after_order",
    # Rolling engagement (daily activity buckets and their windows)
    "is_declining",
    "next_decline_day",
    "window_counts",
    # Activity by local hour of the week (send-time optimisation)
    "EVENT_WEIGHT",
    "HOURS_PER_WEEK",
    "decayed_event_count",
    "hour_of_week",
    "profile_weights",
    "record_activity",
    # What campaigns may read
    "ATTRIBUTES",
    "RFM_SEGMENTS",
    "Attribute",
    "AttributeType",
    "AttributeValue",
    "attribute_values",
    "rfm_segment",
]
