"""Load and compile the campaign set named by the settings, refusing an invalid one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifecycle.engine import CampaignRuntime
from streams.campaign_files import load_campaign_dir

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["load_campaign_runtime"]


def load_campaign_runtime(settings: Settings) -> CampaignRuntime:
    """Raises :class:`~lifecycle.exceptions.CampaignErrors` with every located problem."""
    campaigns = load_campaign_dir(
        settings.campaigns_dir,
        default_locale=settings.campaign.default_locale,
        engine=settings.engine,
    )
    return campaigns.runner(settings.runtime_context())
