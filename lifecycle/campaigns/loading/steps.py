"""The ``steps`` list compiled to a flat program.

:class:`StepCompiler` turns nested steps (``send``, ``wait``, ``wait_until``,
``if``/``then``/``else``, ``stop``) into a list of
:class:`~lifecycle.campaigns.model.Step` with branches and jumps by index, noting
each step's position for errors. :func:`~lifecycle.campaigns.loading.flow.check_flow` then
checks the program's flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Literal

from lifecycle.campaigns.conditions import fold
from lifecycle.campaigns.loading.reader import TemplateRef, ValueReader, name_problem
from lifecycle.campaigns.located import LMap, LNode, LScalar, LSeq, Pos
from lifecycle.campaigns.model import (
    CONTROL,
    BranchStep,
    JumpStep,
    SendStep,
    Step,
    StopStep,
    WaitStep,
    WaitUntilStep,
)

__all__ = [
    "IF_KEYS",
    "SEND_OPTION_KEYS",
    "STEP_KEYS",
    "WAIT_UNTIL_KEYS",
    "WEEKDAYS",
    "StepCompiler",
]

STEP_KEYS: tuple[str, ...] = ("send", "wait", "wait_until", "if")
#: The long form of a send: ``send: {template: x, at: best_time, within: 24h}``.
SEND_OPTION_KEYS: tuple[str, ...] = ("template", "at", "within")
SEND_AT: tuple[str, ...] = ("best_time", "now")
#: The window of a best-time send: at least an hour, at most a week (the profile's cycle).
_MIN_WITHIN = timedelta(hours=1)
_MAX_WITHIN = timedelta(days=7)
_DEFAULT_WITHIN = timedelta(hours=24)
IF_KEYS: tuple[str, ...] = ("if", "then", "else")
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


@dataclass
class StepCompiler:
    reader: ValueReader
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
            if self.is_send_options(value):
                assert isinstance(value, LMap)
                step = self.send_options(value, number, line)
                if step is not None:
                    self.emit(step, node.pos)
            else:
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

    def is_send_options(self, node: LNode) -> bool:
        """Whether ``send:`` is the long form: a mapping with an option key that is not
        a variant's name (a variant called ``at`` keeps the per-variant form)."""
        if not isinstance(node, LMap):
            return False
        variants = self.variants or ()
        keys = node.keys()  # iterating an LMap gives (key, value) pairs
        return any(k in SEND_OPTION_KEYS and k not in variants for k in keys)

    def send_options(self, node: LMap, number: int, line: int) -> SendStep | None:
        reader = self.reader
        mapping = reader.mapping(
            node, "send", SEND_OPTION_KEYS, "{template: welcome-1, at: best_time, within: 24h}"
        )
        if mapping is None:
            return None
        template_node = mapping.get("template")
        if template_node is None:
            reader.err(
                mapping.pos,
                "send needs a template: {template: welcome-1, at: best_time, within: 24h} "
                "(or one per variant: template: {gentle: winback-gentle, ...})",
            )
            return None
        templates = self.send(template_node, number)
        at: Literal["now", "best_time"] = "now"
        at_node = mapping.get("at")
        if at_node is not None:
            text = reader.text(at_node, "send.at", "best_time")
            if text is None:
                return None
            if text not in SEND_AT:
                reader.err(at_node.pos, name_problem(text, SEND_AT, "send time", " in send.at"))
                return None
            at = "best_time" if text == "best_time" else "now"
        within_node = mapping.get("within")
        within: timedelta | None = None
        if within_node is not None:
            if at != "best_time":
                reader.err(
                    within_node.pos,
                    "'within' is the window of a best-time send: add 'at: best_time' or "
                    "remove 'within'",
                )
                return None
            within = reader.duration(within_node, "send.within")
            if within is None:
                return None
            assert isinstance(within_node, LScalar)  # a duration is a scalar
            if not _MIN_WITHIN <= within <= _MAX_WITHIN:
                reader.err(
                    within_node.pos,
                    f"send.within must be from 1h to 7d (a week is the activity profile's "
                    f"cycle), got {within_node.text!r}",
                )
                return None
        elif at == "best_time":
            within = _DEFAULT_WITHIN
        if templates is None:
            return None
        return SendStep(number=number, line=line, templates=templates, at=at, within=within)

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
