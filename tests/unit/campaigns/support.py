"""Helpers for campaign tests: compile in memory, and drive customers through time.

:class:`Journeys` runs histories through the real replay engine (``lifecycle.processing.replay``,
the one ``lifecycle replay`` and, event by event, the worker use), so a scenario test
cannot pass on a test-only copy of the engine loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifecycle.campaigns.context import CampaignRules, RuntimeContext, ShopInfo
from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.campaigns.records import Decision, JourneyOutput, JourneyRecord
from lifecycle.config import EngineConfig
from lifecycle.events import Event
from lifecycle.processing.engine import Engine
from lifecycle.processing.replay import Replay, sorted_history
from lifecycle.state import CustomerState
from streams.campaign_files import read_campaign_dir

REPO = Path(__file__).resolve().parents[3]
SHIPPED_DIR = REPO / "campaigns"

SIMPLE_TEMPLATE = "subject: Hello {{ first_name }}\ntext: Hi {{ first_name }}\n"


def shipped_files() -> tuple[dict[str, str], dict[str, str]]:
    files = read_campaign_dir(SHIPPED_DIR)
    assert not files.unreadable
    return files.sources, files.templates


def shipped_campaigns(context: RuntimeContext | None = None) -> CampaignSet:
    sources, templates = shipped_files()
    return compile_campaigns(sources, templates, context=context)


def simple_templates(*names: str) -> dict[str, str]:
    return {f"templates/{name}/en.yaml": SIMPLE_TEMPLATE for name in names}


def compile_inline(
    campaigns: Mapping[str, str], templates: Mapping[str, str] | None = None
) -> CampaignSet:
    return compile_campaigns(dict(campaigns), dict(templates or {}))


def utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value.astimezone(UTC)


@dataclass
class Journeys:
    """Customers driven through the real engine by :class:`lifecycle.processing.replay.Replay`.

    Exactly what ``lifecycle replay`` runs: one in-memory partition, the due index, and
    ticks synthesised from event time every ``tick``; ``run`` keeps every output in
    processing order and each customer's latest state.
    """

    campaigns: CampaignSet
    ctx: RuntimeContext = field(
        default_factory=lambda: RuntimeContext(
            rules=CampaignRules(shop=ShopInfo(name="Nordic Socks"))
        )
    )
    tick: timedelta = timedelta(hours=1)
    states: dict[str, CustomerState] = field(default_factory=dict)
    outputs: list[JourneyOutput] = field(default_factory=list)

    @property
    def cfg(self) -> EngineConfig:
        return self.ctx.engine

    def run(self, events: Iterable[Event], until: datetime | None = None) -> Journeys:
        campaigns = CampaignSet(self.campaigns.campaigns, self.campaigns.templates, self.ctx)
        engine = Engine(self.cfg, campaigns)
        replay = Replay(engine, tick=self.tick)
        for outcome, _ in replay.outcomes(sorted_history(events), until=until):
            self.outputs.extend(outcome.outputs)
            self.states[outcome.state.customer_id] = outcome.state
        return self

    # -- reading the outputs ---------------------------------------------------------

    def decisions(self, campaign: str | None = None, customer: str | None = None) -> list[Decision]:
        return [
            o
            for o in self.outputs
            if isinstance(o, Decision)
            and (campaign is None or o.campaign == campaign)
            and (customer is None or o.customer_id == customer)
        ]

    def journey_records(
        self, campaign: str | None = None, customer: str | None = None
    ) -> list[JourneyRecord]:
        return [
            o
            for o in self.outputs
            if isinstance(o, JourneyRecord)
            and (campaign is None or o.campaign == campaign)
            and (customer is None or o.customer_id == customer)
        ]

    def sends(self, campaign: str | None = None, customer: str | None = None) -> list[Any]:
        """(UTC time, customer, campaign, step, template) of every message sent."""
        return [
            (d.at.astimezone(UTC).isoformat(), d.customer_id, d.campaign, d.step, d.template)
            for d in self.decisions(campaign, customer)
            if d.outcome == "send"
        ]

    def all_sends(self) -> list[Any]:
        """Every message sent to anyone, in time order (then customer, campaign)."""
        return sorted(self.sends())

    def outcomes(self, campaign: str | None = None, customer: str | None = None) -> list[Any]:
        """(UTC time, campaign, step, outcome) of every decision."""
        return [
            (d.at.astimezone(UTC).isoformat(), d.campaign, d.step, d.outcome)
            for d in self.decisions(campaign, customer)
        ]

    def actions(self, campaign: str | None = None, customer: str | None = None) -> list[Any]:
        """(UTC time, campaign, variant, action, reason) of every journey record."""
        return [
            (r.at.astimezone(UTC).isoformat(), r.campaign, r.variant, r.action, r.reason)
            for r in self.journey_records(campaign, customer)
        ]

    def message(self, campaign: str, step: int, customer: str | None = None) -> Any:
        found = [
            d.message
            for d in self.decisions(campaign, customer)
            if d.outcome == "send" and d.step == step
        ]
        assert len(found) == 1, found
        return found[0]
