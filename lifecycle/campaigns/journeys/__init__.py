"""Journeys at runtime: one customer's moment through every campaign, as a pure function.

:class:`CampaignSet` is what the engine calls; the order of the phases of one moment and
the rules of each are in :mod:`~lifecycle.campaigns.journeys.campaign_set`. A moment is
one working copy (:mod:`~lifecycle.campaigns.journeys.moment`) that the phases, plain
functions one module each (``membership``, ``stepping``, ``send_gate``, ``sending``),
work on in turn. Variants come from a deterministic hash (:func:`assign_variant`), waits
and quiet hours from the customer's own clock (:mod:`~lifecycle.campaigns.journeys.timing`).
"""

from lifecycle.campaigns.journeys.adaptive import (
    Allocations,
    ArmCounts,
    WeightsInForce,
    adaptive_weights,
    best_arm_probabilities,
    window_index,
    window_start,
)
from lifecycle.campaigns.journeys.assignment import BUCKETS, assign_variant, bucket
from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.campaigns.journeys.timing import add_wait, in_quiet_hours, next_local_time

__all__ = [
    # The runtime (bound to its RuntimeContext; the phases stay inside this package)
    "CampaignSet",
    # A/B assignment
    "BUCKETS",
    "assign_variant",
    "bucket",
    # Adaptive splits: Thompson-sampled shares per window
    "Allocations",
    "ArmCounts",
    "WeightsInForce",
    "adaptive_weights",
    "best_arm_probabilities",
    "window_index",
    "window_start",
    # The customer's clock
    "add_wait",
    "in_quiet_hours",
    "next_local_time",
]
