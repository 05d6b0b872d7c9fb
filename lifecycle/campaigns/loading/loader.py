"""Campaign YAML -> :class:`~lifecycle.campaigns.model.Campaign`, with every error located.

The loader walks the located YAML tree itself (instead of handing a dict to pydantic)
so that each message can point at the exact key or value and say what to write
instead. It never stops at the first problem: everything wrong in a file is reported.

This module assembles the top level of a campaign; the parts are read by
:mod:`~lifecycle.campaigns.loading.reader` (single values),
:mod:`~lifecycle.campaigns.loading.triggers` (trigger, exit_on and conversion matchers),
:mod:`~lifecycle.campaigns.loading.blocks` (reentry, conversion, split, cap, params),
:mod:`~lifecycle.campaigns.loading.steps` (the steps) and
:mod:`~lifecycle.campaigns.loading.flow` (their flow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lifecycle.campaigns.loading.blocks import BlockReader
from lifecycle.campaigns.loading.flow import check_flow
from lifecycle.campaigns.loading.reader import TemplateRef
from lifecycle.campaigns.loading.steps import StepCompiler
from lifecycle.campaigns.located import LMap, LNode, Pos, Problems, parse_yaml
from lifecycle.campaigns.model import Campaign, Reentry

__all__ = [
    "CAMPAIGN_KEYS",
    "REQUIRED_CAMPAIGN_KEYS",
    "LoadedCampaign",
    "load_campaign",
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
_MAX_PRIORITY = 1000


@dataclass(frozen=True)
class LoadedCampaign:
    campaign: Campaign
    id_pos: Pos
    refs: tuple[TemplateRef, ...]
    params_pos: Pos | None = None


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
    reader = BlockReader(file, problems, known_values or {}, refs if refs is not None else [])
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
    if split is not None and split.adaptive is not None and conversion_node is None:
        assert isinstance(split_node, LMap)
        mode_node = split_node.get("mode")
        reader.err(
            (mode_node or split_node).pos,
            "an adaptive split learns from conversions; add a goal, e.g. "
            "conversion: {event: order.placed, within: 14d}",
        )
    cap_node = get("cap")
    cap = None if cap_node is None else reader.cap(cap_node)
    params_node = get("params")
    params = {} if params_node is None else reader.params(params_node)

    steps_node = get("steps")
    compiler = StepCompiler(
        reader, None if split is None else split.names, has_split=split_node is not None
    )
    if steps_node is not None:
        compiler.block(steps_node, "steps")
        if len(problems) == before:
            # Only a program compiled without errors is complete enough to judge its flow.
            check_flow(compiler, steps_node.pos)

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
