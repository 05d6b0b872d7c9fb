"""Campaigns as code: the campaign language, its validation and its runtime.

Marketers write campaign YAML and templates (the marketer's guide in README.md); the adapter
reads the files and calls :func:`compile_campaigns`, which returns a
:class:`CampaignSet` or raises :class:`~lifecycle.exceptions.CampaignErrors` with
every problem as ``FILE:LINE:COL: message``. The engine then drives the set through
:meth:`CampaignSet.react`, :meth:`CampaignSet.next_wake` and :meth:`CampaignSet.wake`
(or the same three on :class:`JourneyRunner`, which has the :class:`RuntimeContext`
bound). Everything here is pure: no I/O, time is a parameter.
"""

from lifecycle.campaigns.assignment import assign_variant, bucket
from lifecycle.campaigns.compiler import compile_campaigns
from lifecycle.campaigns.conditions import Condition, parse_condition
from lifecycle.campaigns.context import FrequencyCap, QuietHours, RuntimeContext, ShopInfo
from lifecycle.campaigns.model import CONTROL, DEFAULT_VARIANT, Campaign
from lifecycle.campaigns.records import OUTCOMES, CampaignOutput, Decision, JourneyRecord
from lifecycle.campaigns.runtime import CampaignSet, JourneyRunner
from lifecycle.campaigns.schema import campaign_json_schema

__all__ = [
    "CONTROL",
    "DEFAULT_VARIANT",
    "OUTCOMES",
    "Campaign",
    "CampaignOutput",
    "CampaignSet",
    "Condition",
    "Decision",
    "FrequencyCap",
    "JourneyRecord",
    "JourneyRunner",
    "QuietHours",
    "RuntimeContext",
    "ShopInfo",
    "assign_variant",
    "bucket",
    "campaign_json_schema",
    "compile_campaigns",
    "parse_condition",
]
