"""Campaigns as code: the campaign language, its validation and its runtime.

Marketers write campaign YAML and templates (the marketer's guide in README.md); the adapter
reads the files and calls :func:`compile_campaigns`, which returns a
:class:`CampaignSet` or raises :class:`~lifecycle.exceptions.CampaignErrors` with
every problem as ``FILE:LINE:COL: message``. The set is bound to the
:class:`RuntimeContext` it was compiled with, and the engine drives it through
:meth:`CampaignSet.react`, :meth:`CampaignSet.next_wake` and :meth:`CampaignSet.wake`.
Everything here is pure: no I/O, time is a parameter.

The subpackages, each behind its own front door: ``conditions`` (the condition
language), ``templates`` (loading and rendering messages), ``loading`` (campaign files to
a campaign set) and ``journeys`` (the runtime). Beside them, the values they share:
``model`` (compiled campaigns), ``records`` (what the runtime reports), ``context`` (the
operator's rules), ``located`` (YAML with positions) and ``suggest`` (did-you-mean).
"""

from lifecycle.campaigns.conditions import Condition, parse_condition
from lifecycle.campaigns.context import (
    CampaignRules,
    FrequencyCap,
    QuietHours,
    RuntimeContext,
    ShopInfo,
)
from lifecycle.campaigns.journeys import (
    Allocations,
    ArmCounts,
    CampaignSet,
    WeightsInForce,
    adaptive_weights,
    assign_variant,
    bucket,
    window_index,
    window_start,
)
from lifecycle.campaigns.loading import (
    campaign_json_schema,
    compile_campaigns,
    template_json_schema,
)
from lifecycle.campaigns.model import CONTROL, DEFAULT_VARIANT, Campaign, Variant
from lifecycle.campaigns.records import (
    OUTCOMES,
    AllocationRecord,
    Decision,
    DecisionOutcome,
    JourneyOutput,
    JourneyRecord,
)
from lifecycle.campaigns.templates import locale_gaps

__all__ = [
    # Compiling campaign files
    "compile_campaigns",
    "locale_gaps",
    # Editor support
    "campaign_json_schema",
    "template_json_schema",
    # The compiled campaigns and their runtime
    "CONTROL",
    "DEFAULT_VARIANT",
    "Campaign",
    "CampaignSet",
    "assign_variant",
    "bucket",
    # Adaptive splits
    "Allocations",
    "ArmCounts",
    "Variant",
    "WeightsInForce",
    "adaptive_weights",
    "window_index",
    "window_start",
    # The operator's rules
    "CampaignRules",
    "FrequencyCap",
    "QuietHours",
    "RuntimeContext",
    "ShopInfo",
    # What the runtime reports
    "OUTCOMES",
    "AllocationRecord",
    "Decision",
    "DecisionOutcome",
    "JourneyOutput",
    "JourneyRecord",
    # The condition language
    "Condition",
    "parse_condition",
]
