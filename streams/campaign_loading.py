"""Load and compile the campaign set named by the settings (refusing an invalid one)."""

from __future__ import annotations

from typing import Any

from lifecycle.engine import CampaignRuntime

__all__ = ["load_campaign_runtime"]


def load_campaign_runtime(settings: Any) -> CampaignRuntime | None:
    # Wired to the campaign compiler when the campaigns package lands.
    return None
