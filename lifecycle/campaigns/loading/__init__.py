"""Campaign files to a validated campaign set, with every problem located at ``FILE:LINE:COL``.

:func:`compile_campaigns` takes the files' text (the adapter reads them) and returns a
:class:`~lifecycle.campaigns.journeys.CampaignSet` or raises
:class:`~lifecycle.exceptions.CampaignErrors`. The loader walks located YAML itself, block
by block (triggers, steps, split, reentry, ...), so each error names where it is.
:func:`campaign_json_schema` describes the same language for editors.
"""

from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.campaigns.loading.loader import LoadedCampaign, load_campaign
from lifecycle.campaigns.loading.schema import campaign_json_schema, template_json_schema
from lifecycle.campaigns.loading.vocabulary import EVENT_TYPES, SIGNAL_DATA, SIGNAL_NAMES

__all__ = [
    # Files to a campaign set
    "LoadedCampaign",
    "compile_campaigns",
    "load_campaign",
    # What triggers can listen to
    "EVENT_TYPES",
    "SIGNAL_DATA",
    "SIGNAL_NAMES",
    # Editor support
    "campaign_json_schema",
    "template_json_schema",
]
