"""Load and compile the campaign set named by the settings, refusing an invalid one.

The worker, ``lifecycle replay`` and ``lifecycle campaigns validate`` all load through
:func:`load_campaign_set`, so validation checks the set with the settings the worker
will run it with (spend tier names from ``LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS``,
the default locale from ``LIFECYCLE_CAMPAIGN__DEFAULT_LOCALE``) and they cannot disagree.
:func:`campaign_infos` is what the report (``lifecycle report``, the worker's overview
page) needs of a loaded set: names and configured splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.campaigns import CampaignSet
from lifecycle.measurement import CampaignInfo
from streams.campaign_files import load_campaign_dir

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["campaign_infos", "load_campaign_set"]


def load_campaign_set(
    settings: Settings,
    *,
    directory: str | Path | None = None,
    default_locale: str | None = None,
) -> CampaignSet:
    """The compiled set, bound to the settings' runtime context; ``directory`` and
    ``default_locale`` override the settings.

    Raises :class:`~lifecycle.exceptions.CampaignErrors` with every located problem,
    :class:`FileNotFoundError` when the directory does not exist.
    """
    return load_campaign_dir(
        settings.campaigns_dir if directory is None else directory,
        default_locale=(
            settings.campaign.default_locale if default_locale is None else default_locale
        ),
        context=settings.runtime_context(),
    )


def campaign_infos(campaigns: CampaignSet) -> list[CampaignInfo]:
    """What the report needs of each campaign: its name and configured split."""
    infos = []
    for campaign in campaigns.campaigns:
        weights = {v.name: float(v.weight) for v in campaign.split.variants}
        if campaign.split.control:
            weights["control"] = float(campaign.split.control)
        adaptive = campaign.split.adaptive is not None
        infos.append(CampaignInfo(campaign.id, campaign.name, weights, adaptive=adaptive))
    return infos
