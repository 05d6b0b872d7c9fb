"""Campaign YAML -> :class:`~lifecycle.campaigns.model.Campaign`, with every error located.

The loader walks the located YAML tree itself (instead of handing a dict to pydantic)
so that each message can point at the exact key or value and say what to write
instead. It never stops at the first problem: everything wrong in a file is reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal

from lifecycle.campaigns.conditions import Condition, nearest, parse_condition
from lifecycle.campaigns.folding import fold
from lifecycle.campaigns.located import LMap, LNode, LScalar, LSeq, Pos, Problems, parse_yaml
from lifecycle.campaigns.model import (
    CONTROL,
    DEFAULT_VARIANT,
    BranchStep,
    Campaign,
    CampaignCap,
    Conversion,
    JumpStep,
    Matcher,
    MatchValue,
    Reentry,
    SendStep,
    Split,
    Step,
    StopStep,
    Variant,
    WaitStep,
    WaitUntilStep,
)
from lifecycle.campaigns.vocabulary import (
    EVENT_FIELDS,
    EVENT_TYPES,
    MILESTONE_SIGNALS,
    SIGNAL_DATA,
    SIGNAL_NAMES,
    UNHAPPY_REASONS,
)
from lifecycle.localtime import parse_duration
from lifecycle.state import STAGES

__all__ = [
    "CAMPAIGN_KEYS",
    "IF_KEYS",
    "MATCHER_KEYS",
    "REQUIRED_CAMPAIGN_KEYS",
    "STEP_KEYS",
    "WEEKDAYS",
    "LoadedCampaign",
    "TemplateRef",
    "load_campaign",
    "name_problem",
]

CAMPAIGN_KEYS: tuple[str, ...] = (
    "id",
    "name",
    "description",
    "category",
    "priority",
    "enabled",
    "trigger",
    "audience",
    "reentry",
    "exit_on",
    "exit_when",
    "conversion",
    "split",
    "cap",
    "params",
    "steps",
)
REQUIRED_CAMPAIGN_KEYS: tuple[str, ...] = ("id", "category", "trigger", "steps")
MATCHER_KEYS: tuple[str, ...] = ("event", "signal", "milestone", "stage", "from", "with")
_MATCHER_KINDS: tuple[str, ...] = ("event", "signal", "milestone", "stage")
STEP_KEYS: tuple[str, ...] = ("send", "wait", "wait_until", "if")
IF_KEYS: tuple[str, ...] = ("if", "then", "else")
REENTRY_KEYS: tuple[str, ...] = ("after", "max_entries")
SPLIT_KEYS: tuple[str, ...] = ("control", "variants", "salt")
CAP_KEYS: tuple[str, ...] = ("messages", "per")
WAIT_UNTIL_KEYS: tuple[str, ...] = ("time", "days")

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_GROUPS = {"weekdays": (0, 1, 2, 3, 4), "weekends": (5, 6), "every_day": ()}
_FULL_DAY_NAMES = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_BASIS_POINTS = Decimal(100)
_MAX_PRIORITY = 1000


@dataclass(frozen=True)
class TemplateRef:
    """A ``send`` naming a template, remembered so the compiler can check it exists."""

    template: str
    file: str
    pos: Pos
    campaign: str
    step: int


@dataclass(frozen=True)
class LoadedCampaign:
    campaign: Campaign
    id_pos: Pos
    refs: tuple[TemplateRef, ...]
    params_pos: Pos | None = None


def name_problem(word: str, options: Sequence[str], what: str, where: str = "") -> str:
    """``unknown key 'priorty'; did you mean 'priority'?`` (or the list of valid ones)."""
    guess = nearest(word, options)
    if guess is not None:
        return f"unknown {what} {word!r}{where}; did you mean {guess!r}?"
    return f"unknown {what} {word!r}{where}; use one of: {', '.join(options)}"


@dataclass
class _Reader:
    file: str
    problems: Problems
    known_values: Mapping[str, Sequence[str]]
    refs: list[TemplateRef] = field(default_factory=list)
    campaign_id: str = "?"

    # -- basics --------------------------------------------------------------------------

    def err(self, pos: Pos, message: str) -> None:
        self.problems.add(self.file, pos, message)

    def mapping(
        self, node: LNode, what: str, allowed: Sequence[str] | None, example: str
    ) -> LMap | None:
        """``node`` as a mapping whose keys are all in ``allowed`` (None: any key)."""
        if not isinstance(node, LMap):
            self.err(node.pos, f"{what} must be a mapping, e.g. {example}")
            return None
        for key, _ in node:
            if allowed is not None and key.text not in allowed:
                where = "" if what == "a campaign" else f" in {what}"
                self.err(key.pos, name_problem(key.text, allowed, "key", where))
        return node

    def scalar(self, node: LNode, what: str, example: str) -> LScalar | None:
        if not isinstance(node, LScalar) or node.is_null:
            shown = "nothing" if isinstance(node, LScalar) else "a list or mapping"
            self.err(node.pos, f"{what} needs a single value, e.g. {example}; found {shown}")
            return None
        return node

    def text(self, node: LNode, what: str, example: str) -> str | None:
        scalar = self.scalar(node, what, example)
        return None if scalar is None else scalar.text

    def identifier(self, node: LNode, what: str, example: str) -> str | None:
        value = self.text(node, what, example)
        if value is None:
            return None
        if not _ID.match(value):
            self.err(
                node.pos,
                f"{what} {value!r} must be lower-case letters, digits, '-' or '_' "
                f"(at most 64), e.g. {example}",
            )
            return None
        return value

    def integer(self, node: LNode, what: str, low: int, high: int) -> int | None:
        scalar = self.scalar(node, what, str(low))
        if scalar is None:
            return None
        value = scalar.value
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(node.pos, f"{what} must be a whole number from {low} to {high}")
            return None
        if not low <= value <= high:
            self.err(node.pos, f"{what} must be from {low} to {high}, not {value}")
            return None
        return value

    def boolean(self, node: LNode, what: str) -> bool | None:
        scalar = self.scalar(node, what, "true")
        if scalar is None:
            return None
        if not isinstance(scalar.value, bool):
            self.err(node.pos, f"{what} must be true or false")
            return None
        return scalar.value

    def duration(self, node: LNode, what: str) -> timedelta | None:
        value = self.text(node, what, "5d")
        if value is None:
            return None
        try:
            duration = parse_duration(value)
        except ValueError:
            self.err(
                node.pos,
                f"{what}: {value!r} is not a duration; write a number and a unit: "
                "30m, 6h, 5d or 2w",
            )
            return None
        if duration <= timedelta(0):
            self.err(node.pos, f"{what} must be longer than 0")
            return None
        return duration

    def percent(self, node: LNode, what: str) -> int | None:
        """A share as basis points: ``10%`` (or a bare 10) -> 1000."""
        scalar = self.scalar(node, what, "10%")
        if scalar is None:
            return None
        raw = scalar.value
        if isinstance(raw, bool):
            raw = None
        match = _PERCENT.match(scalar.text)
        if match:
            number = Decimal(match.group(1))
        elif isinstance(raw, int | float):
            number = Decimal(str(raw))
        else:
            self.err(node.pos, f"{what}: {scalar.text!r} is not a percentage; write e.g. 10%")
            return None
        points = number * _BASIS_POINTS
        if points != points.to_integral_value() or not 0 <= number <= 100:
            self.err(
                node.pos,
                f"{what} must be between 0% and 100% with at most two decimals, not {scalar.text}",
            )
            return None
        return int(points)

    def time_of_day(self, node: LNode, what: str) -> time | None:
        value = self.text(node, what, '"10:00"')
        if value is None:
            return None
        match = _TIME.match(value.strip())
        if not match:
            self.err(node.pos, f"{what}: {value!r} is not a time of day; write HH:MM, e.g. 09:30")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def condition(self, node: LNode, what: str) -> Condition | None:
        scalar = self.scalar(node, what, "orders_count >= 2")
        if scalar is None:
            return None
        parsed = parse_condition(scalar.text, self.known_values)
        if isinstance(parsed, Condition):
            return parsed
        for problem in parsed:
            self.err(_offset_pos(scalar, problem.offset), problem.message)
        return None

    def conditions(self, node: LNode, what: str) -> tuple[Condition, ...]:
        items = node.items if isinstance(node, LSeq) else (node,)
        out = []
        for item in items:
            parsed = self.condition(item, what)
            if parsed is not None:
                out.append(parsed)
        return tuple(out)

    # -- matchers ------------------------------------------------------------------------

    def matchers(self, node: LNode, what: str, extra: Sequence[str] = ()) -> tuple[Matcher, ...]:
        items = node.items if isinstance(node, LSeq) else (node,)
        if isinstance(node, LSeq) and not items:
            self.err(node.pos, f"{what} is empty; name at least one event or signal")
        out = []
        for item in items:
            matcher = self.matcher(item, what, extra)
            if matcher is not None:
                out.append(matcher)
        return tuple(out)

    def matcher(self, node: LNode, what: str, extra: Sequence[str] = ()) -> Matcher | None:
        if isinstance(node, LScalar):
            name = self.text(node, what, "order.placed")
            if name is None:
                return None
            if name in EVENT_TYPES:
                return Matcher(kind="event", name=name)
            if name in SIGNAL_NAMES:
                return Matcher(kind="signal", name=name)
            self.err(
                node.pos,
                name_problem(name, [*SIGNAL_NAMES, *EVENT_TYPES], "event type or signal"),
            )
            return None
        mapping = self.mapping(
            node,
            what,
            (*MATCHER_KEYS, *extra),
            "{signal: support_unhappy, with: {reason: low_csat}}",
        )
        if mapping is None:
            return None
        kinds = [k for k in _MATCHER_KINDS if mapping.get(k) is not None]
        if len(kinds) != 1:
            message = (
                "needs one of event, signal, milestone or stage"
                if not kinds
                else f"has both {kinds[0]!r} and {kinds[1]!r}; use one per entry "
                "(list several to match any of them)"
            )
            self.err(mapping.pos, f"{what} {message}")
            return None
        kind = kinds[0]
        value = mapping.get(kind)
        assert value is not None
        if kind == "stage":
            return self.stage_matcher(mapping, value, what)
        if mapping.get("from") is not None:
            key = mapping.key_node("from")
            assert key is not None
            self.err(
                key.pos, "'from' belongs to a stage trigger, e.g. {stage: at_risk, from: active}"
            )
        name = self.text(value, kind, "order.placed")
        if name is None:
            return None
        if kind == "event":
            if name not in EVENT_TYPES:
                self.err(value.pos, name_problem(name, EVENT_TYPES, "event type"))
                return None
            where = self.with_block(mapping, EVENT_FIELDS[name], {}, f"event {name}")
            return None if where is None else Matcher(kind="event", name=name, where=where)
        options = MILESTONE_SIGNALS if kind == "milestone" else SIGNAL_NAMES
        if name not in options:
            self.err(value.pos, name_problem(name, options, kind))
            return None
        keys = SIGNAL_DATA[name]
        allowed_values = {k.name: self._values_for(k.type) for k in keys}
        where = self.with_block(mapping, [k.name for k in keys], allowed_values, f"signal {name}")
        return None if where is None else Matcher(kind="signal", name=name, where=where)

    def _values_for(self, data_type: str) -> Sequence[str] | None:
        if data_type == "stage":
            return STAGES
        if data_type == "reason":
            return UNHAPPY_REASONS
        if data_type == "tier":
            return self.known_values.get("tier")
        return None

    def stage_matcher(self, mapping: LMap, value: LNode, what: str) -> Matcher | None:
        if mapping.get("with") is not None:
            key = mapping.key_node("with")
            assert key is not None
            self.err(key.pos, "a stage trigger takes 'from', not 'with'")
        to = self.stage_names(value, "stage")
        where: list[tuple[str, tuple[MatchValue, ...]]] = []
        if to is None:
            return None
        where.append(("to", to))
        source = mapping.get("from")
        if source is not None:
            before = self.stage_names(source, "from")
            if before is None:
                return None
            where.insert(0, ("from", before))
        return Matcher(kind="signal", name="stage_changed", where=tuple(where))

    def stage_names(self, node: LNode, what: str) -> tuple[MatchValue, ...] | None:
        items = node.items if isinstance(node, LSeq) else (node,)
        names: list[MatchValue] = []
        ok = True
        for item in items:
            name = self.text(item, what, "at_risk")
            if name is None:
                ok = False
            elif name not in STAGES:
                self.err(item.pos, name_problem(name, STAGES, "stage"))
                ok = False
            else:
                names.append(name)
        return tuple(names) if ok and names else None

    def with_block(
        self,
        mapping: LMap,
        keys: Sequence[str],
        allowed_values: Mapping[str, Sequence[str] | None],
        what: str,
    ) -> tuple[tuple[str, tuple[MatchValue, ...]], ...] | None:
        node = mapping.get("with")
        if node is None:
            return ()
        if not keys:
            self.err(node.pos, f"{what} carries no data to match; remove 'with'")
            return None
        block = self.mapping(node, f"'with' of {what}", keys, "{reason: low_csat}")
        if block is None:
            return None
        where = []
        ok = True
        for key, value in block:
            if key.text not in keys:
                ok = False
                continue
            items = value.items if isinstance(value, LSeq) else (value,)
            values: list[MatchValue] = []
            for item in items:
                scalar = self.scalar(item, f"with.{key.text}", "low_csat")
                if scalar is None:
                    ok = False
                    continue
                raw = scalar.value
                matched: MatchValue = raw if isinstance(raw, bool | int | float) else scalar.text
                valid = allowed_values.get(key.text)
                if valid is not None and isinstance(matched, str) and matched not in valid:
                    self.err(item.pos, name_problem(matched, valid, f"{key.text} value"))
                    ok = False
                    continue
                values.append(matched)
            if values:
                where.append((key.text, tuple(values)))
        return tuple(where) if ok else None

    # -- blocks --------------------------------------------------------------------------

    def reentry(self, node: LNode) -> Reentry | None:
        if isinstance(node, LScalar) and node.text == "never":
            return Reentry()
        mapping = self.mapping(node, "reentry", REENTRY_KEYS, "{after: 90d, max_entries: 3}")
        if mapping is None:
            return None
        after_node = mapping.get("after")
        max_node = mapping.get("max_entries")
        if after_node is None and max_node is None:
            self.err(mapping.pos, "reentry needs 'after', 'max_entries' or both")
            return None
        after = None if after_node is None else self.duration(after_node, "reentry.after")
        most = None if max_node is None else self.integer(max_node, "max_entries", 1, 1000)
        if (after_node is not None and after is None) or (max_node is not None and most is None):
            return None
        return Reentry(after=after, max_entries=most)

    def conversion(self, node: LNode) -> Conversion | None:
        mapping = self.mapping(
            node, "conversion", (*MATCHER_KEYS, "within"), "{event: order.placed, within: 14d}"
        )
        if mapping is None:
            return None
        within_node = mapping.get("within")
        if within_node is None:
            self.err(mapping.pos, "conversion needs 'within', e.g. within: 14d")
            return None
        within = self.duration(within_node, "conversion.within")
        goal = self.matcher(mapping, "conversion", ("within",))
        if goal is None or within is None:
            return None
        return Conversion(goals=(goal,), within=within)

    def split(self, node: LNode | None, campaign_id: str) -> Split | None:
        if node is None:
            return Split(salt=campaign_id)
        mapping = self.mapping(
            node, "split", SPLIT_KEYS, "{control: 10%, variants: {a: 45%, b: 45%}}"
        )
        if mapping is None:
            return None
        control_node = mapping.get("control")
        control = 0 if control_node is None else self.percent(control_node, "control")
        salt_node = mapping.get("salt")
        salt = campaign_id if salt_node is None else self.text(salt_node, "salt", campaign_id)
        variants_node = mapping.get("variants")
        variants: list[Variant] = []
        ok = control is not None and salt is not None
        if variants_node is None:
            if control is None or control == 0:
                self.err(mapping.pos, "split needs 'variants' or a 'control' share")
                return None
            variants.append(Variant(name=DEFAULT_VARIANT, weight=10_000 - control))
        else:
            block = self.mapping(variants_node, "variants", None, "{gentle: 45%, discount: 45%}")
            if block is None:
                return None
            if not block.items:
                self.err(block.pos, "variants is empty; name at least one, e.g. {a: 100%}")
                return None
            for key, value in block:
                weight = self.percent(value, f"variant {key.text}")
                if key.text == CONTROL:
                    self.err(key.pos, "'control' is the holdout; set it with split.control")
                    ok = False
                elif not _ID.match(key.text):
                    self.err(
                        key.pos,
                        f"variant name {key.text!r} must be lower-case letters, digits, '-' or '_'",
                    )
                    ok = False
                elif weight == 0:
                    self.err(
                        value.pos,
                        f"variant {key.text!r} has 0% and would never be used; "
                        "remove it or give it a share",
                    )
                    ok = False
                elif weight is None:
                    ok = False
                else:
                    variants.append(Variant(name=key.text, weight=weight))
            if ok and control is not None:
                total = control + sum(v.weight for v in variants)
                if total != 10_000:
                    parts = [f"control {_pct(control)}"] if control_node is not None else []
                    parts += [f"{v.name} {_pct(v.weight)}" for v in variants]
                    self.err(
                        mapping.pos,
                        f"the split adds up to {_pct(total)} ({' + '.join(parts)}); "
                        "the shares must add up to 100%",
                    )
                    ok = False
        if not ok or control is None or salt is None:
            return None
        return Split(variants=tuple(variants), control=control, salt=salt)

    def cap(self, node: LNode) -> CampaignCap | None:
        mapping = self.mapping(node, "cap", CAP_KEYS, "{messages: 2, per: 30d}")
        if mapping is None:
            return None
        messages_node, per_node = mapping.get("messages"), mapping.get("per")
        if messages_node is None or per_node is None:
            self.err(mapping.pos, "cap needs 'messages' and 'per', e.g. {messages: 2, per: 30d}")
            return None
        messages = self.integer(messages_node, "cap.messages", 1, 1000)
        per = self.duration(per_node, "cap.per")
        if messages is None or per is None:
            return None
        return CampaignCap(messages=messages, per=per)

    def params(self, node: LNode) -> dict[str, MatchValue] | None:
        mapping = self.mapping(node, "params", None, "{discount_code: COMEBACK15}")
        if mapping is None:
            return None
        out: dict[str, MatchValue] = {}
        for key, value in mapping:
            if not _PARAM.match(key.text):
                self.err(key.pos, f"param name {key.text!r} must be letters, digits and '_'")
                continue
            scalar = self.scalar(value, f"params.{key.text}", "COMEBACK15")
            if scalar is None:
                continue
            raw = scalar.value
            out[key.text] = raw if isinstance(raw, bool | int | float) else scalar.text
        return out


def _pct(points: int) -> str:
    value = Decimal(points) / _BASIS_POINTS
    return f"{value.normalize():f}%"


def _offset_pos(scalar: LScalar, offset: int) -> Pos:
    """Where character ``offset`` of a scalar's value is in the file (exact on one line)."""
    if scalar.pos.line == scalar.end.line and scalar.style in (None, "'", '"'):
        quote = 1 if scalar.style in ("'", '"') else 0
        return Pos(scalar.pos.line, scalar.pos.column + quote + offset)
    return scalar.pos


# -- steps ---------------------------------------------------------------------------------


@dataclass
class _StepCompiler:
    reader: _Reader
    variants: tuple[str, ...] | None
    has_split: bool
    program: list[Step] = field(default_factory=list)
    positions: list[Pos] = field(default_factory=list)
    number: int = 0

    def emit(self, step: Step, pos: Pos) -> None:
        self.program.append(step)
        self.positions.append(pos)

    def block(self, node: LNode, what: str) -> bool:
        """Compile a list of steps; True when every path through it ends with ``stop``."""
        if not isinstance(node, LSeq):
            self.reader.err(node.pos, f"{what} must be a list of steps, each starting with '- '")
            return False
        if not node.items:
            self.reader.err(node.pos, f"{what} is empty; add at least one step")
            return False
        stopped_at: Pos | None = None
        reported = False
        for item in node.items:
            if stopped_at is not None and not reported:
                self.reader.err(
                    item.pos,
                    "this step can never run: every path before it ends with 'stop' "
                    f"(line {stopped_at.line}); remove it or move it before the stop",
                )
                reported = True
            if self.step(item) and stopped_at is None:
                stopped_at = item.pos
        return stopped_at is not None

    def step(self, node: LNode) -> bool:
        reader = self.reader
        if isinstance(node, LScalar):
            if node.text == "stop":
                self.number += 1
                self.emit(StopStep(number=self.number, line=node.pos.line), node.pos)
                return True
            reader.err(
                node.pos,
                f"{node.describe()} is not a step; write '- send: TEMPLATE', '- wait: 2d', "
                "'- wait_until: \"10:00\"', '- if: CONDITION' or '- stop'",
            )
            return False
        if not isinstance(node, LMap):
            reader.err(node.pos, "a step is a mapping like '- send: TEMPLATE'")
            return False
        keys = node.keys()
        if "if" in keys or "then" in keys or "else" in keys:
            return self.branch(node)
        kinds = [k for k in keys if k in STEP_KEYS]
        for key, _ in node:
            if key.text not in STEP_KEYS:
                reader.err(key.pos, name_problem(key.text, (*STEP_KEYS, "stop"), "step"))
        if not kinds:
            return False
        if len(kinds) > 1:
            second = node.key_node(kinds[1])
            assert second is not None
            reader.err(
                second.pos,
                f"one step per list item: start '{kinds[1]}' on its own line with '- '",
            )
            return False
        kind = kinds[0]
        value = node.get(kind)
        assert value is not None
        self.number += 1
        number, line = self.number, node.pos.line
        if kind == "send":
            templates = self.send(value, number)
            if templates is not None:
                self.emit(SendStep(number=number, line=line, templates=templates), node.pos)
        elif kind == "wait":
            duration = reader.duration(value, "wait")
            if duration is not None:
                assert isinstance(value, LScalar)
                calendar = value.text.strip()[-1:] in ("d", "w")
                self.emit(
                    WaitStep(number=number, line=line, duration=duration, calendar=calendar),
                    node.pos,
                )
        else:
            until = self.wait_until(value)
            if until is not None:
                at, days = until
                self.emit(WaitUntilStep(number=number, line=line, at=at, weekdays=days), node.pos)
        return False

    def send(self, node: LNode, number: int) -> dict[str, str] | None:
        reader = self.reader
        variants = self.variants
        if isinstance(node, LScalar):
            name = reader.identifier(node, "template name", "welcome-1")
            if name is None:
                return None
            reader.refs.append(TemplateRef(name, reader.file, node.pos, reader.campaign_id, number))
            return None if variants is None else dict.fromkeys(variants, name)
        if variants is None:
            return None
        if not self.has_split:
            reader.err(
                node.pos,
                "this campaign has no split, so send takes one template: '- send: TEMPLATE'",
            )
            return None
        mapping = reader.mapping(node, "send", None, "{gentle: winback-gentle}")
        if mapping is None:
            return None
        templates: dict[str, str] = {}
        for key, value in mapping:
            if key.text == CONTROL:
                reader.err(key.pos, "the control group is never messaged; remove 'control' here")
                continue
            if key.text not in variants:
                reader.err(key.pos, name_problem(key.text, variants, "variant", " in send"))
                continue
            name = reader.identifier(value, "template name", "welcome-1")
            if name is not None:
                templates[key.text] = name
                reader.refs.append(
                    TemplateRef(name, reader.file, value.pos, reader.campaign_id, number)
                )
        missing = [v for v in variants if v not in templates and mapping.get(v) is None]
        for variant in missing:
            reader.err(
                mapping.pos,
                f"variant {variant!r} has no template in this send; add '{variant}: TEMPLATE' "
                "(or give one template for all variants: '- send: TEMPLATE')",
            )
        if len(templates) != len(variants):
            return None
        return {v: templates[v] for v in variants}

    def wait_until(self, node: LNode) -> tuple[time, tuple[int, ...]] | None:
        reader = self.reader
        if isinstance(node, LScalar):
            at = reader.time_of_day(node, "wait_until")
            return None if at is None else (at, ())
        mapping = reader.mapping(
            node, "wait_until", WAIT_UNTIL_KEYS, '{time: "10:00", days: weekdays}'
        )
        if mapping is None:
            return None
        time_node = mapping.get("time")
        if time_node is None:
            reader.err(mapping.pos, 'wait_until needs a time, e.g. {time: "10:00"}')
            return None
        at = reader.time_of_day(time_node, "wait_until.time")
        days_node = mapping.get("days")
        days: tuple[int, ...] = ()
        if days_node is not None:
            parsed = self.weekdays(days_node)
            if parsed is None:
                return None
            days = parsed
        return None if at is None else (at, days)

    def weekdays(self, node: LNode) -> tuple[int, ...] | None:
        reader = self.reader
        if isinstance(node, LScalar) and node.text in _DAY_GROUPS:
            return _DAY_GROUPS[node.text]
        items = node.items if isinstance(node, LSeq) else (node,)
        days: set[int] = set()
        for item in items:
            name = reader.text(item, "days", "mon")
            if name is None:
                return None
            key = name.lower()
            if key in _FULL_DAY_NAMES:
                days.add(_FULL_DAY_NAMES[key])
            elif key[:3] in WEEKDAYS and len(key) == 3:
                days.add(WEEKDAYS.index(key[:3]))
            else:
                options = (*WEEKDAYS, *_DAY_GROUPS)
                reader.err(item.pos, name_problem(name, options, "day"))
                return None
        return tuple(sorted(days))

    def branch(self, node: LMap) -> bool:
        reader = self.reader
        for key, _ in node:
            if key.text not in IF_KEYS:
                reader.err(key.pos, name_problem(key.text, IF_KEYS, "key", " in an if step"))
        condition_node, then_node, else_node = node.get("if"), node.get("then"), node.get("else")
        if condition_node is None:
            reader.err(node.pos, "'then' and 'else' belong to an if step: add 'if: CONDITION'")
            return False
        self.number += 1
        number = self.number
        condition = reader.condition(condition_node, "if")
        if then_node is None:
            reader.err(node.pos, "an if step needs 'then:' with the steps to run")
            return False
        index = len(self.program)
        placeholder: Step = StopStep(number=number, line=node.pos.line)
        self.emit(placeholder, node.pos)
        then_stops = self.block(then_node, "then")
        else_stops = False
        if else_node is not None:
            jump_index = len(self.program)
            self.emit(JumpStep(number=number, line=node.pos.line, target=-1), node.pos)
            else_start = len(self.program)
            else_stops = self.block(else_node, "else")
            self.program[jump_index] = JumpStep(
                number=number, line=node.pos.line, target=len(self.program)
            )
        else:
            else_start = len(self.program)
        if condition is None:
            return False
        self.program[index] = BranchStep(
            number=number, line=node.pos.line, condition=condition, else_step=else_start
        )
        folded = fold(condition)
        constant = None if folded is None else folded.value
        why = "" if folded is None or folded.reason is None else f" ({folded.reason})"
        if constant is False and isinstance(then_node, LSeq) and then_node.items:
            reader.err(
                then_node.items[0].pos,
                f"this step can never run: the condition on line {condition_node.pos.line} "
                f"is always false{why}; fix the condition or remove the if",
            )
        if constant is True and isinstance(else_node, LSeq) and else_node.items:
            reader.err(
                else_node.items[0].pos,
                f"this step can never run: the condition on line {condition_node.pos.line} "
                f"is always true{why}; fix the condition or remove the else part",
            )
        if constant is True:
            return then_stops
        if constant is False:
            return else_stops
        return then_stops and else_stops


def _successors(program: Sequence[Step], index: int) -> list[int]:
    step = program[index]
    if isinstance(step, StopStep):
        return []
    if isinstance(step, JumpStep):
        return [step.target]
    if isinstance(step, BranchStep):
        folded = fold(step.condition)
        constant = None if folded is None else folded.value
        if constant is True:
            return [index + 1]
        if constant is False:
            return [step.else_step]
        return [index + 1, step.else_step]
    return [index + 1]


def _reaches(program: Sequence[Step], start: int, stop_at: Callable[[Step], bool]) -> list[int]:
    """Indexes of steps matching ``stop_at`` reachable from ``start`` without passing one."""
    found: list[int] = []
    seen: set[int] = set()
    todo = [start]
    while todo:
        index = todo.pop()
        if index in seen or index >= len(program):
            continue
        seen.add(index)
        if stop_at(program[index]):
            found.append(index)
            continue
        todo.extend(_successors(program, index))
    return sorted(found)


def _check_flow(compiler: _StepCompiler, steps_pos: Pos) -> None:
    """Sends back to back, waits with nothing after them, and journeys that send nothing."""
    program, positions, reader = compiler.program, compiler.positions, compiler.reader

    def is_send(step: Step) -> bool:
        return isinstance(step, SendStep)

    def is_wait_or_send(step: Step) -> bool:
        return isinstance(step, SendStep | WaitStep | WaitUntilStep)

    if not any(isinstance(s, SendStep) for s in program):
        reader.err(steps_pos, "this campaign never sends anything; add a '- send: TEMPLATE' step")
        return
    reported: set[int] = set()
    for index, step in enumerate(program):
        if isinstance(step, SendStep):
            for following in _reaches(program, index + 1, is_wait_or_send):
                if is_send(program[following]) and following not in reported:
                    reported.add(following)
                    reader.err(
                        positions[following],
                        f"this send follows the send on line {step.line} with no wait between "
                        "them; a customer gets at most one message at a time, so add a wait "
                        "(e.g. '- wait: 1d') before it",
                    )
        elif isinstance(step, WaitStep | WaitUntilStep) and not _reaches(
            program, index + 1, is_send
        ):
            reader.err(
                positions[index],
                "nothing is sent after this wait, so it only delays the end of the "
                "journey; remove it (to keep customers from entering again, use "
                "reentry.after)",
            )


# -- the whole campaign ------------------------------------------------------------------


def load_campaign(
    file: str,
    text: str,
    problems: Problems,
    *,
    known_values: Mapping[str, Sequence[str]] | None = None,
    refs: list[TemplateRef] | None = None,
) -> LoadedCampaign | None:
    """Read one campaign file; None when it has errors (all of them are in ``problems``).

    ``refs`` collects the templates its sends name even when the file has errors, so
    a misspelt template name is reported together with everything else.
    """
    before = len(problems)
    root = parse_yaml(text, file, problems)
    if root is None:
        return None
    reader = _Reader(file, problems, known_values or {}, refs if refs is not None else [])
    top = reader.mapping(root, "a campaign", CAMPAIGN_KEYS, "id: welcome")
    if top is None:
        return None
    for key in REQUIRED_CAMPAIGN_KEYS:
        if top.get(key) is None and top.key_node(key) is None:
            reader.err(top.pos, f"missing {key!r}: {_REQUIRED_HINTS[key]}")

    def get(key: str) -> LNode | None:
        return top.get(key)

    id_node = get("id")
    campaign_id = None if id_node is None else reader.identifier(id_node, "id", "winback")
    reader.campaign_id = campaign_id or "?"
    name_node, description_node = get("name"), get("description")
    name = None if name_node is None else reader.text(name_node, "name", "Win back")
    description = (
        "" if description_node is None else reader.text(description_node, "description", "...")
    )
    category_node = get("category")
    category = None
    if category_node is not None:
        category = reader.text(category_node, "category", "marketing")
        if category is not None and category not in ("marketing", "transactional"):
            reader.err(
                category_node.pos,
                f"category must be marketing (needs consent) or transactional, not {category!r}",
            )
            category = None
    priority_node = get("priority")
    priority = (
        50 if priority_node is None else reader.integer(priority_node, "priority", 0, _MAX_PRIORITY)
    )
    enabled_node = get("enabled")
    enabled = True if enabled_node is None else reader.boolean(enabled_node, "enabled")
    trigger_node = get("trigger")
    triggers = () if trigger_node is None else reader.matchers(trigger_node, "trigger")
    audience_node = get("audience")
    audience = () if audience_node is None else reader.conditions(audience_node, "audience")
    reentry_node = get("reentry")
    reentry = Reentry() if reentry_node is None else reader.reentry(reentry_node)
    exit_node = get("exit_on")
    exit_on = () if exit_node is None else reader.matchers(exit_node, "exit_on")
    exit_when_node = get("exit_when")
    exit_when = () if exit_when_node is None else reader.conditions(exit_when_node, "exit_when")
    conversion_node = get("conversion")
    conversion = None if conversion_node is None else reader.conversion(conversion_node)
    split_node = get("split")
    split = reader.split(split_node, campaign_id or "?")
    cap_node = get("cap")
    cap = None if cap_node is None else reader.cap(cap_node)
    params_node = get("params")
    params = {} if params_node is None else reader.params(params_node)

    steps_node = get("steps")
    compiler = _StepCompiler(
        reader, None if split is None else split.names, has_split=split_node is not None
    )
    if steps_node is not None:
        compiler.block(steps_node, "steps")
        if len(problems) == before:
            # Only a program compiled without errors is complete enough to judge its flow.
            _check_flow(compiler, steps_node.pos)

    if len(problems) > before:
        return None
    # No problems were added, so every part was read.
    assert campaign_id is not None
    assert category in ("marketing", "transactional")
    assert priority is not None
    assert enabled is not None
    assert reentry is not None
    assert split is not None
    assert params is not None
    assert id_node is not None
    campaign = Campaign(
        id=campaign_id,
        name=name or campaign_id,
        description=description or "",
        file=file,
        category=category,
        priority=priority,
        enabled=enabled,
        triggers=triggers,
        audience=audience,
        reentry=reentry,
        exit_on=exit_on,
        exit_when=exit_when,
        conversion=conversion,
        split=split,
        cap=cap,
        params=params,
        steps=tuple(compiler.program),
    )
    return LoadedCampaign(
        campaign=campaign,
        id_pos=id_node.pos,
        refs=tuple(reader.refs),
        params_pos=None if params_node is None else params_node.pos,
    )


_REQUIRED_HINTS = {
    "id": "add e.g. 'id: winback' (never change it once the campaign is live: "
    "journeys and the A/B split hang on it)",
    "category": "add 'category: marketing' (needs consent) or 'category: transactional'",
    "trigger": "add what starts the journey, e.g. 'trigger: first_order' or "
    "'trigger: {event: customer.signed_up}'",
    "steps": "add the journey, e.g. 'steps: [{send: TEMPLATE}]'",
}
