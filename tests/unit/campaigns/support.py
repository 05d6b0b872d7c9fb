"""Helpers for campaign tests: compile in memory, and drive customers through time.

:class:`Journeys` runs one customer's history the way the engine does (everything due
before an event runs first, at its own due time; then the event is applied with
``lifecycle.apply.apply`` and the campaigns react), using only the campaign API, so the
runtime tests do not depend on the engine's internals. One test checks that the real
engine gives the same decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle.apply import apply, is_duplicate
from lifecycle.campaigns import (
    CampaignOutput,
    CampaignSet,
    Decision,
    JourneyRecord,
    RuntimeContext,
    ShopInfo,
    compile_campaigns,
)
from lifecycle.config import EngineConfig
from lifecycle.detectors import fire_due_detectors, next_detector_due
from lifecycle.events import Event
from lifecycle.signals import due_cause
from lifecycle.state import CustomerState
from streams.campaign_files import read_campaign_dir

REPO = Path(__file__).resolve().parents[3]
SHIPPED_DIR = REPO / "campaigns"

SIMPLE_TEMPLATE = "subject: Hello {{ first_name }}\ntext: Hi {{ first_name }}\n"


def shipped_files() -> tuple[dict[str, str], dict[str, str]]:
    files = read_campaign_dir(SHIPPED_DIR)
    assert not files.unreadable
    return files.sources, files.templates


def shipped_campaigns(engine: EngineConfig | None = None) -> CampaignSet:
    sources, templates = shipped_files()
    return compile_campaigns(sources, templates, engine=engine)


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
    """Customers driven through time by the campaign API (see the module docstring)."""

    campaigns: CampaignSet
    ctx: RuntimeContext = field(
        default_factory=lambda: RuntimeContext(shop=ShopInfo(name="Nordic Socks"))
    )
    states: dict[str, CustomerState] = field(default_factory=dict)
    outputs: list[CampaignOutput] = field(default_factory=list)

    @property
    def cfg(self) -> EngineConfig:
        return self.ctx.engine

    def _due(self, state: CustomerState) -> datetime | None:
        times = [
            t
            for t in (next_detector_due(state, self.cfg), self.campaigns.next_wake(state))
            if t is not None
        ]
        return min(times) if times else None

    def _advance(self, state: CustomerState, until: datetime) -> CustomerState:
        for _ in range(10_000):
            due = self._due(state)
            if due is None or due > until:
                return state
            state, fired = fire_due_detectors(state, due, self.cfg)
            at = max(due, state.clock) if state.clock else due
            state = state.model_copy(update={"clock": at})
            if fired:
                state, out = self.campaigns.react(
                    state, at, event=None, signals=fired, cause=due_cause(due), ctx=self.ctx
                )
                self.outputs.extend(out)
            state, woke = self.campaigns.wake(state, at, self.ctx)
            self.outputs.extend(woke)
            if not fired and not woke and self._due(state) == due:
                raise AssertionError(f"nothing ran at {due}")
        raise AssertionError("too many wake-ups")

    def event(self, event: Event) -> None:
        state = self.states.get(event.customer_id) or CustomerState.new(event.customer_id)
        if is_duplicate(state, event):
            return
        state = self._advance(state, event.occurred_at)
        state, signals = apply(state, event, self.cfg)
        assert state.clock is not None
        state, out = self.campaigns.react(
            state, state.clock, event=event, signals=signals, cause=event.event_id, ctx=self.ctx
        )
        self.outputs.extend(out)
        self.states[event.customer_id] = state

    def run(self, events: Iterable[Event], until: datetime | None = None) -> Journeys:
        last = None
        for item in sorted(events, key=lambda e: e.occurred_at):
            self.event(item)
            last = item.occurred_at
        end = until or last
        if end is not None:
            for customer_id in sorted(self.states):
                self.states[customer_id] = self._advance(self.states[customer_id], end)
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
