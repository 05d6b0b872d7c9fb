"""The campaign's optional blocks: reentry, conversion, the A/B split, cap and params.

The split is where most arithmetic lives: shares are read as basis points so that
``control`` plus the variants must add up to exactly 100%, and a split-less campaign
still gets one (the default variant, salted with the campaign id) so the runtime
never has to special-case it. ``mode: adaptive`` adds a schedule (``reweight_every``)
and a ``floor`` per variant; the floors must leave something to move.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from lifecycle.campaigns.loading.reader import BASIS_POINTS, ID_PATTERN, name_problem
from lifecycle.campaigns.loading.triggers import MATCHER_KEYS, TriggerReader
from lifecycle.campaigns.located import LMap, LNode, LScalar
from lifecycle.campaigns.model import (
    CONTROL,
    DEFAULT_VARIANT,
    Adaptive,
    CampaignCap,
    Conversion,
    MatchValue,
    Reentry,
    Split,
    Variant,
)

__all__ = ["CAP_KEYS", "REENTRY_KEYS", "SPLIT_KEYS", "BlockReader"]

REENTRY_KEYS: tuple[str, ...] = ("after", "max_entries")
SPLIT_KEYS: tuple[str, ...] = ("mode", "control", "variants", "salt", "reweight_every", "floor")
SPLIT_MODES: tuple[str, ...] = ("fixed", "adaptive")
ADAPTIVE_KEYS: tuple[str, ...] = ("reweight_every", "floor")
#: Reweighting more often than hourly learns from noise; less often than weekly hardly adapts.
MIN_REWEIGHT = timedelta(hours=1)
MAX_REWEIGHT = timedelta(days=7)
CAP_KEYS: tuple[str, ...] = ("messages", "per")

_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class BlockReader(TriggerReader):
    """Reads the blocks a campaign may have besides its trigger and steps."""

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
                elif not ID_PATTERN.match(key.text):
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
        adaptive = self._adaptive(mapping, variants, control)
        if not ok or control is None or salt is None or adaptive is False:
            return None
        return Split(variants=tuple(variants), control=control, salt=salt, adaptive=adaptive)

    def _adaptive(
        self, mapping: LMap, variants: list[Variant], control: int | None
    ) -> Adaptive | bool | None:
        """The adaptive options; None for a fixed split, False when they are wrong."""
        mode_node = mapping.get("mode")
        mode = "fixed" if mode_node is None else self.text(mode_node, "split.mode", "adaptive")
        if mode is None:
            return False
        if mode not in SPLIT_MODES:
            assert mode_node is not None
            self.err(mode_node.pos, name_problem(mode, SPLIT_MODES, "split mode", ""))
            return False
        options = [(key, mapping.get(key)) for key in ADAPTIVE_KEYS]
        if mode == "fixed":
            wrong = [(key, node) for key, node in options if node is not None]
            for key, node in wrong:
                self.err(node.pos, f"{key} is an option of an adaptive split; add mode: adaptive")
            return False if wrong else None
        assert mode_node is not None
        ok = True
        if len(variants) < 2:
            self.err(
                mode_node.pos,
                "an adaptive split moves customers between variants; name at least two, "
                "e.g. variants: {a: 45%, b: 45%}",
            )
            ok = False
        every_node, floor_node = mapping.get("reweight_every"), mapping.get("floor")
        every = Adaptive().every
        if every_node is not None:
            read = self.duration(every_node, "split.reweight_every")
            if read is None:
                ok = False
            elif not MIN_REWEIGHT <= read <= MAX_REWEIGHT:
                self.err(every_node.pos, "split.reweight_every must be between 1h and 7d")
                ok = False
            else:
                every = read
        floor = Adaptive().floor
        if floor_node is not None:
            read_floor = self.percent(floor_node, "split.floor")
            if read_floor is None:
                ok = False
            else:
                floor = read_floor
        if ok and control is not None and variants:
            room = 10_000 - control
            if floor * len(variants) >= room:
                where = floor_node.pos if floor_node is not None else mode_node.pos
                self.err(
                    where,
                    f"a floor of {_pct(floor)} for each of {len(variants)} variants leaves "
                    f"nothing to adapt in the {_pct(room)} outside control; lower the floor "
                    f"below {_pct(room // len(variants))}",
                )
                ok = False
            elif any(v.weight < floor for v in variants):
                low = next(v for v in variants if v.weight < floor)
                self.err(
                    mapping.pos,
                    f"variant {low.name!r} starts at {_pct(low.weight)}, below the floor of "
                    f"{_pct(floor)}; start every variant at or above it",
                )
                ok = False
        return Adaptive(every=every, floor=floor) if ok else False

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
    value = Decimal(points) / BASIS_POINTS
    return f"{value.normalize():f}%"
