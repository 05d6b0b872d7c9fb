"""Compiled campaigns: frozen values the runtime reads, built once by the loader.

The YAML a marketer writes (see the marketer's guide in README.md and
:func:`lifecycle.campaigns.loading.schema.campaign_json_schema`) has shorthands; these models
are its normal form. Steps are compiled into a flat program: ``if`` becomes a
:class:`BranchStep` that jumps to its ``else`` part, so a journey's position is one
integer (``JourneyState.step``) and each step keeps the 1-based ``number`` it has in
the file, counted in reading order, which is what records and message ids use.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from lifecycle.campaigns.conditions import Condition
from lifecycle.events import Event
from lifecycle.mail import Category
from lifecycle.signals import Signal
from lifecycle.values import FrozenModel

__all__ = [
    "CONTROL",
    "DEFAULT_VARIANT",
    "Adaptive",
    "BranchStep",
    "Campaign",
    "CampaignCap",
    "Category",
    "Conversion",
    "JumpStep",
    "MatchValue",
    "Matcher",
    "Reentry",
    "SendStep",
    "Split",
    "Step",
    "StopStep",
    "Variant",
    "WaitStep",
    "WaitUntilStep",
]

#: The holdout group's name: assigned and measured like a variant, never messaged.
CONTROL = "control"
#: The one variant of a campaign without a split.
DEFAULT_VARIANT = "default"

MatchValue = str | int | float | bool


def _same(actual: object, expected: MatchValue) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, int | float) and isinstance(actual, int | float | Decimal | str):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    return actual == expected


class Matcher(FrozenModel):
    """What a trigger, exit or conversion goal listens for: an event type or a signal."""

    kind: Literal["event", "signal"]
    name: str
    #: ``(key, allowed values)``: each key must have one of its values in the signal data
    #: (or the event field of that name).
    where: tuple[tuple[str, tuple[MatchValue, ...]], ...] = ()

    @property
    def label(self) -> str:
        if not self.where:
            return self.name
        parts = []
        for key, values in self.where:
            shown = "|".join(str(v) for v in values)
            parts.append(f"{key}={shown}")
        return f"{self.name}({', '.join(parts)})"

    def _data_matches(self, get: dict[str, object]) -> bool:
        for key, values in self.where:
            if key not in get:
                return False
            if not any(_same(get[key], value) for value in values):
                return False
        return True

    def matches_event(self, event: Event) -> bool:
        if self.kind != "event" or event.type != self.name:
            return False
        if not self.where:
            return True
        fields = {key: getattr(event, key, None) for key, _ in self.where}
        return self._data_matches(fields)

    def matches_signal(self, signal: Signal) -> bool:
        if self.kind != "signal" or signal.name != self.name:
            return False
        return self._data_matches(dict(signal.data))


class Reentry(FrozenModel):
    """When a customer who was in the journey before may enter it again."""

    #: Minimum time from the previous entry to the next (None: any time after it ended).
    after: timedelta | None = None
    #: Entries in a lifetime (None: no limit). Without a ``reentry`` key this is 1.
    max_entries: int | None = 1


class Conversion(FrozenModel):
    goals: tuple[Matcher, ...]
    within: timedelta


class Variant(FrozenModel):
    name: str
    #: Share of customers in basis points (1/100 of a percent).
    weight: int


class Adaptive(FrozenModel):
    """``split: {mode: adaptive}``: variant shares move toward the better converting one
    (Thompson sampling, :mod:`~lifecycle.campaigns.journeys.adaptive`)."""

    #: How often the shares are recomputed, in event time, on a grid from the epoch.
    every: timedelta = timedelta(hours=12)
    #: The least share of all customers each variant keeps, in basis points.
    floor: int = 500


class Split(FrozenModel):
    #: With ``adaptive``: the starting shares, used until there are counts to learn from.
    variants: tuple[Variant, ...] = (Variant(name=DEFAULT_VARIANT, weight=10_000),)
    control: int = 0
    #: Mixed into the assignment hash; defaults to the campaign id.
    salt: str
    #: None: the shares are fixed as written.
    adaptive: Adaptive | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)


class CampaignCap(FrozenModel):
    messages: int
    per: timedelta


class _StepBase(FrozenModel):
    #: 1-based position of the step in the file, counted in reading order.
    number: int
    line: int


class SendStep(_StepBase):
    kind: Literal["send"] = "send"
    #: Template per variant (every variant has one).
    templates: dict[str, str]
    #: ``best_time``: at the customer's most active hour within ``within`` (see
    #: :mod:`lifecycle.campaigns.journeys.send_time`); ``now``: when the step is reached.
    at: Literal["now", "best_time"] = "now"
    within: timedelta | None = None


class WaitStep(_StepBase):
    kind: Literal["wait"] = "wait"
    duration: timedelta
    #: Written in days or weeks: keeps the customer's local time of day across DST.
    calendar: bool = False


class WaitUntilStep(_StepBase):
    kind: Literal["wait_until"] = "wait_until"
    at: time
    #: Allowed local weekdays, Monday = 0; empty means every day.
    weekdays: tuple[int, ...] = ()


class BranchStep(_StepBase):
    # Conditions are compiled values of ours, not pydantic models.
    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: Literal["if"] = "if"
    condition: Condition
    #: Where the journey goes when the condition is false.
    else_step: int


class JumpStep(_StepBase):
    """End of a ``then`` part: skip the ``else`` part. Never shown to marketers."""

    kind: Literal["jump"] = "jump"
    target: int


class StopStep(_StepBase):
    kind: Literal["stop"] = "stop"


Step = Annotated[
    SendStep | WaitStep | WaitUntilStep | BranchStep | JumpStep | StopStep,
    Field(discriminator="kind"),
]


class Campaign(FrozenModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    name: str
    description: str = ""
    #: The file it came from, for messages.
    file: str
    category: Category
    priority: int = 50
    enabled: bool = True
    triggers: tuple[Matcher, ...]
    audience: tuple[Condition, ...] = ()
    reentry: Reentry = Reentry()
    exit_on: tuple[Matcher, ...] = ()
    exit_when: tuple[Condition, ...] = ()
    conversion: Conversion | None = None
    split: Split
    cap: CampaignCap | None = None
    params: dict[str, MatchValue] = {}
    steps: tuple[Step, ...]

    def variant_names(self) -> tuple[str, ...]:
        return self.split.names

    def templates_used(self) -> tuple[str, ...]:
        names = {t for s in self.steps if isinstance(s, SendStep) for t in s.templates.values()}
        return tuple(sorted(names))
