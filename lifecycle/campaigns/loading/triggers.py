"""Triggers and other matchers: what starts a journey, ends it, or counts as its goal.

``trigger``, ``exit_on`` and ``conversion`` all name events, signals, milestones or
stage changes, optionally narrowed with ``with:`` (event fields, signal data) or
``from:`` (the stage left). :class:`TriggerReader` reads one or a list of them into
:class:`~lifecycle.campaigns.model.Matcher` values against the vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle.campaigns.loading.reader import ValueReader, name_problem
from lifecycle.campaigns.loading.vocabulary import (
    EVENT_FIELDS,
    EVENT_TYPES,
    MILESTONE_SIGNALS,
    SIGNAL_DATA,
    SIGNAL_NAMES,
    UNHAPPY_REASONS,
)
from lifecycle.campaigns.located import LMap, LNode, LScalar, LSeq
from lifecycle.campaigns.model import Matcher, MatchValue
from lifecycle.state import STAGES

__all__ = ["MATCHER_KEYS", "TriggerReader"]

MATCHER_KEYS: tuple[str, ...] = ("event", "signal", "milestone", "stage", "from", "with")
_MATCHER_KINDS: tuple[str, ...] = ("event", "signal", "milestone", "stage")


class TriggerReader(ValueReader):
    """Reads matchers; the value readers it builds on come from :class:`ValueReader`."""

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
