"""``compile_campaigns``: file contents in, a validated :class:`CampaignSet` out.

No I/O: the adapter reads the files (``streams/campaign_files.py``) and passes their
text keyed by the path to show in errors. All problems of all files are collected and
raised together as :class:`~lifecycle.exceptions.CampaignErrors`, each one
``FILE:LINE:COL: message``.

Besides each file on its own, the compiler checks what spans files: unique campaign
ids, templates that exist, ``params.x`` / ``trigger.x`` in a template against every
campaign that sends it, ``unsubscribe_url`` only in marketing mail (or inside a
marketing-only branch), and finally renders every template a campaign uses, in every
locale, for a sample customer, so a template that cannot render fails validation
rather than a customer's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.journeys import CampaignSet
from lifecycle.campaigns.loading.loader import LoadedCampaign, load_campaign
from lifecycle.campaigns.loading.reader import TemplateRef, name_problem
from lifecycle.campaigns.loading.vocabulary import SIGNAL_DATA
from lifecycle.campaigns.located import Pos, Problems
from lifecycle.campaigns.model import CONTROL, Campaign, Matcher
from lifecycle.campaigns.suggest import nearest
from lifecycle.campaigns.templates import (
    LocalizedTemplate,
    TemplateFailure,
    TemplateSet,
    load_templates,
    message_variables,
)
from lifecycle.config import EngineConfig
from lifecycle.events import OrderItem, OrderPlaced
from lifecycle.exceptions import CampaignErrors
from lifecycle.localtime import zone
from lifecycle.state import CustomerState, JourneyState, OrderStats, Profile, SupportStats

__all__ = ["compile_campaigns"]

_SAMPLE_NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


def compile_campaigns(
    sources: Mapping[str, str],
    templates: Mapping[str, str],
    *,
    default_locale: str = "en",
    context: RuntimeContext | None = None,
) -> CampaignSet:
    """Validate and compile campaign files (``sources``) and template files into a set
    bound to ``context`` (the operator's rules; defaults throughout when None).

    ``context.engine`` supplies the spend tier names conditions may compare ``tier``
    with; the sample render runs with ``context`` too, as the set will.
    Raises :class:`CampaignErrors` with every problem found.
    """
    context = RuntimeContext() if context is None else context
    engine = context.engine
    problems = Problems()
    known_values = {"tier": tuple(name for name, _ in engine.milestones.spend_tiers)}
    template_set = load_templates(templates, problems, default_locale=default_locale)
    loaded: list[LoadedCampaign] = []
    refs: list[TemplateRef] = []
    for file in sorted(sources):
        campaign = load_campaign(
            file, sources[file], problems, known_values=known_values, refs=refs
        )
        if campaign is not None:
            loaded.append(campaign)
    _check_ids(loaded, problems)
    _check_template_names(refs, template_set, problems)
    _check_template_fields(loaded, template_set, problems)
    _check_layout_unsubscribe(loaded, template_set, problems)
    if not problems.errors:
        for item in loaded:
            _trial_render(item.campaign, template_set, context, problems)
    if problems.errors:
        raise CampaignErrors(problems.errors)
    return CampaignSet([item.campaign for item in loaded], template_set, context)


def _check_ids(loaded: list[LoadedCampaign], problems: Problems) -> None:
    first: dict[str, LoadedCampaign] = {}
    for item in loaded:
        campaign_id = item.campaign.id
        if campaign_id in first:
            other = first[campaign_id]
            problems.add(
                item.campaign.file,
                item.id_pos,
                f"campaign id {campaign_id!r} is already used in "
                f"{other.campaign.file}:{other.id_pos.line}; every campaign needs its own id",
            )
        else:
            first[campaign_id] = item


def _trigger_fields(campaign: Campaign) -> set[str]:
    fields = {"name"}
    for matcher in campaign.triggers:
        if matcher.kind == "signal":
            fields.update(key.name for key in SIGNAL_DATA[matcher.name])
    return fields


def _check_template_names(
    refs: list[TemplateRef], template_set: TemplateSet, problems: Problems
) -> None:
    names = template_set.names()
    for ref in refs:
        if ref.template in template_set.templates or ref.template in template_set.broken:
            continue
        message = (
            name_problem(ref.template, names, "template")
            if names
            else f"unknown template {ref.template!r}"
        )
        problems.add(
            ref.file,
            ref.pos,
            f"{message} (a template is a folder templates/{ref.template}/ with one "
            "LOCALE.yaml per language)",
        )


_NO_UNSUBSCRIBE = "unsubscribe_url is only for marketing campaigns (transactional mail has none)"
_GUARD_HINT = 'show it only inside {% if campaign.category == "marketing" %}'


def _check_layout_unsubscribe(
    loaded: list[LoadedCampaign], template_set: TemplateSet, problems: Problems
) -> None:
    """The layout frames every message: an unguarded ``unsubscribe_url`` in it breaks
    every transactional one."""
    transactional = [item.campaign for item in loaded if item.campaign.category != "marketing"]
    if not transactional:
        return
    for layout in template_set.layouts.values():
        for use in layout.uses:
            if use.obj == "unsubscribe_url":
                problems.add(
                    use.file,
                    use.pos,
                    f"{_NO_UNSUBSCRIBE}, and the layout also frames transactional mail "
                    f"(campaign {transactional[0].id!r}); {_GUARD_HINT}",
                )


def _check_template_fields(
    loaded: list[LoadedCampaign], template_set: TemplateSet, problems: Problems
) -> None:
    for item in loaded:
        campaign = item.campaign
        trigger_fields = sorted(_trigger_fields(campaign))
        for name in campaign.templates_used():
            for localized in template_set.templates.get(name, {}).values():
                for use in localized.uses:
                    if use.obj == "params" and use.attr not in campaign.params:
                        guess = nearest(use.attr, list(campaign.params))
                        hint = f"did you mean '{guess}'? " if guess else ""
                        problems.add(
                            use.file,
                            use.pos,
                            f"params.{use.attr} is not set in campaign {campaign.id!r} "
                            f"({campaign.file}); {hint}add it under 'params:' there",
                        )
                    elif use.obj == "unsubscribe_url" and campaign.category != "marketing":
                        problems.add(
                            use.file,
                            use.pos,
                            f"{_NO_UNSUBSCRIBE} and campaign {campaign.id!r} "
                            f"({campaign.file}) is {campaign.category}; {_GUARD_HINT}",
                        )
                    elif use.obj == "trigger" and use.attr not in trigger_fields:
                        triggers = ", ".join(m.name for m in campaign.triggers)
                        problems.add(
                            use.file,
                            use.pos,
                            f"trigger.{use.attr} does not exist for campaign {campaign.id!r}, "
                            f"triggered by {triggers}; available: "
                            f"{', '.join('trigger.' + f for f in trigger_fields)}",
                        )


# -- trial render -------------------------------------------------------------------------


def _sample_state(locale: str, engine: EngineConfig) -> CustomerState:
    now = _SAMPLE_NOW
    tiers = engine.milestones.spend_tiers
    spend = tiers[0][1] + Decimal("42.50") if tiers else Decimal("420.50")
    return CustomerState(
        customer_id="sample-customer",
        clock=now,
        first_seen_at=now - timedelta(days=400),
        profile=Profile(
            email="alex@example.com",
            name="Alex Example",
            locale=locale,
            timezone="Europe/Stockholm",
            marketing_consent=True,
            consent_changed_at=now - timedelta(days=400),
            signed_up_at=now - timedelta(days=400),
        ),
        orders=OrderStats(
            count=3,
            first_at=now - timedelta(days=120),
            last_at=now - timedelta(days=45),
            last_order_id="o-1003",
            last_total=Decimal("59.90"),
            currency="EUR",
            gross_spend=spend,
            purchase_days=3,
            first_purchase_day=date(2026, 2, 15),
            last_purchase_day=date(2026, 5, 1),
            interval_count=2,
            interval_mean_days=37.5,
        ),
        last_login_at=now - timedelta(days=20),
        support=SupportStats(last_csat=2, last_ces=6, last_nps=5, last_nps_at=now),
        stage="at_risk",
        stage_since=now - timedelta(days=5),
    )


def _sample_data(
    matcher: Matcher, engine: EngineConfig
) -> dict[str, str | int | float | bool | None]:
    samples: dict[str, str | int | float | bool | None] = {}
    for data_key in SIGNAL_DATA.get(matcher.name, ()) if matcher.kind == "signal" else ():
        if data_key.type == "number":
            samples[data_key.name] = 2
        elif data_key.type == "stage":
            samples[data_key.name] = "at_risk"
        elif data_key.type == "reason":
            samples[data_key.name] = "low_csat"
        elif data_key.type == "tier":
            tiers = engine.milestones.spend_tiers
            samples[data_key.name] = tiers[0][0] if tiers else "silver"
        else:
            samples[data_key.name] = "sample"
    for key, values in matcher.where:
        samples[key] = values[0]
    return samples


def _sample_order(now: datetime) -> OrderPlaced:
    return OrderPlaced(
        type="order.placed",
        event_id="sample-event",
        customer_id="sample-customer",
        occurred_at=now,
        order_id="o-1003",
        total=Decimal("59.90"),
        currency="EUR",
        items=[OrderItem(sku="sku-1", name="Sample item", quantity=2, price=Decimal("29.95"))],
    )


def _trial_render(
    campaign: Campaign, template_set: TemplateSet, ctx: RuntimeContext, problems: Problems
) -> None:
    reported: set[tuple[str, int]] = set()
    for name in campaign.templates_used():
        for key in sorted(template_set.templates.get(name, {})):
            localized: LocalizedTemplate = template_set.templates[name][key]
            state = _sample_state(localized.locale, ctx.engine)
            for matcher in campaign.triggers:
                journey = JourneyState(
                    entries=1,
                    active=True,
                    variant=next(v for v in campaign.variant_names() if v != CONTROL),
                    entered_at=_SAMPLE_NOW,
                    cause="sample",
                    trigger=matcher.name,
                    data=_sample_data(matcher, ctx.engine),
                )
                variables = message_variables(
                    state,
                    _SAMPLE_NOW,
                    ctx,
                    campaign=campaign,
                    variant=journey.variant or "",
                    step=1,
                    journey=journey,
                    order=_sample_order(_SAMPLE_NOW),
                )
                try:
                    template_set.render_localized(
                        localized,
                        localized.locale,
                        variables,
                        zone=zone("Europe/Stockholm"),
                        default_currency=ctx.rules.default_currency,
                    )
                except TemplateFailure as failure:
                    if (failure.file, failure.line) in reported:
                        continue
                    reported.add((failure.file, failure.line))
                    problems.add(
                        failure.file,
                        Pos(failure.line, failure.column),
                        f"{failure.part} fails to render for a sample customer of campaign "
                        f"{campaign.id!r}: {failure.reason}",
                    )
