"""JSON Schemas of the campaign and template files, for editor completion and hover help.

``lifecycle campaigns schema > campaign.schema.json`` and point the editor's YAML
plugin at it (e.g. a ``# yaml-language-server: $schema=campaign.schema.json`` first
line). The schema describes the file format; the validator (``lifecycle campaigns
validate``) checks more than a schema can (conditions, templates, unreachable steps).
"""

from __future__ import annotations

from typing import Any

from lifecycle.campaigns.loading.loader import CAMPAIGN_KEYS, REQUIRED_CAMPAIGN_KEYS
from lifecycle.campaigns.loading.steps import WEEKDAYS
from lifecycle.campaigns.loading.vocabulary import (
    EVENT_FIELDS,
    EVENT_TYPES,
    MILESTONE_SIGNALS,
    SIGNAL_DATA,
    SIGNAL_DESCRIPTIONS,
    SIGNAL_NAMES,
    UNHAPPY_REASONS,
)
from lifecycle.campaigns.templates import LAYOUT_KEYS, TEMPLATE_KEYS, TEMPLATE_VARIABLES
from lifecycle.config import EngineConfig
from lifecycle.customer import ATTRIBUTES
from lifecycle.state import STAGES

__all__ = ["CAMPAIGN_KEY_DOCS", "campaign_json_schema", "template_json_schema"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: What every top-level key means (the marketer guide has the long form).
CAMPAIGN_KEY_DOCS: dict[str, str] = {
    "id": "Unique id (lower-case, digits, - and _). Journeys, message ids and the A/B "
    "split hang on it: never change it once the campaign is live.",
    "name": "A human name for reports. Defaults to the id.",
    "description": "Free text: why this campaign exists, who owns it.",
    "category": "marketing (needs the customer's marketing consent; quiet hours and "
    "marketing caps apply) or transactional (service mail: no consent needed).",
    "priority": "0-1000, default 50. When several marketing campaigns want to message one "
    "customer at the same moment, the highest priority sends; the others wait "
    "(journey steps) or are dropped (new entries).",
    "enabled": "false stops new entries and ends running journeys at their next step.",
    "trigger": "What starts the journey: an event type, a signal, a milestone or a stage "
    "change; one or a list (any of them).",
    "audience": "Conditions that must all hold at entry, e.g. 'orders_count >= 2'.",
    "reentry": "Whether a customer may enter again: 'never' (default) or "
    "{after: 90d, max_entries: 3}.",
    "exit_on": "Events or signals that end the journey at once (e.g. order.placed).",
    "exit_when": "Conditions checked each time the journey runs; if one holds, it ends.",
    "conversion": "The goal measured for every entry, control included: "
    "{event: order.placed, within: 14d}.",
    "split": "A/B variants and a control holdout: {control: 10%, variants: {a: 45%, "
    "b: 45%}}. Shares add up to 100%.",
    "cap": "This campaign's own frequency cap: {messages: 2, per: 30d}.",
    "params": "Values templates can use as params.NAME (discount codes, percentages).",
    "steps": "The journey: send, wait, wait_until, if/then/else and stop.",
}
assert set(CAMPAIGN_KEY_DOCS) == set(CAMPAIGN_KEYS), "document every campaign key"


def _attribute_help() -> str:
    return "Attributes: " + ", ".join(
        f"{name} ({attribute.type})" for name, attribute in ATTRIBUTES.items()
    )


def _values(values: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"enum": list(values)}


def _one_or_many(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "array", "items": schema, "minItems": 1}]}


def _data_value(data_type: str, tiers: list[str]) -> dict[str, Any]:
    if data_type == "number":
        scalar: dict[str, Any] = {"type": "number"}
    elif data_type == "stage":
        scalar = _values(STAGES)
    elif data_type == "reason":
        scalar = _values(UNHAPPY_REASONS)
    elif data_type == "tier":
        scalar = _values(tiers) if tiers else {"type": "string"}
    else:
        scalar = {"type": ["string", "number", "boolean"]}
    return _one_or_many(scalar)


def _matcher_objects(tiers: list[str], extra: dict[str, Any]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for event in EVENT_TYPES:
        fields = EVENT_FIELDS[event]
        properties: dict[str, Any] = {"event": {"const": event}, **extra}
        if fields:
            properties["with"] = {
                "type": "object",
                "description": "Event fields that must match (a value or a list of values).",
                "properties": {
                    f: {"anyOf": [{"type": ["string", "number", "boolean"]}, {"type": "array"}]}
                    for f in fields
                },
                "additionalProperties": False,
            }
        objects.append(
            {
                "type": "object",
                "properties": properties,
                "required": ["event"],
                "additionalProperties": False,
            }
        )
    for key in ("signal", "milestone"):
        names = SIGNAL_NAMES if key == "signal" else MILESTONE_SIGNALS
        for name in names:
            data = SIGNAL_DATA[name]
            properties = {
                key: {"const": name, "description": SIGNAL_DESCRIPTIONS[name]},
                **extra,
            }
            if data:
                properties["with"] = {
                    "type": "object",
                    "description": "Signal data that must match (a value or a list).",
                    "properties": {
                        d.name: {**_data_value(d.type, tiers), "description": d.description}
                        for d in data
                    },
                    "additionalProperties": False,
                }
            objects.append(
                {
                    "type": "object",
                    "properties": properties,
                    "required": [key],
                    "additionalProperties": False,
                }
            )
    objects.append(
        {
            "type": "object",
            "description": "A lifecycle stage change: to 'stage', optionally only 'from' some.",
            "properties": {
                "stage": _one_or_many(_values(STAGES)),
                "from": _one_or_many(_values(STAGES)),
                **extra,
            },
            "required": ["stage"],
            "additionalProperties": False,
        }
    )
    return objects


def campaign_json_schema(engine: EngineConfig | None = None) -> dict[str, Any]:
    """The JSON Schema of a campaign file (``tier`` names come from ``engine``)."""
    engine = engine or EngineConfig()
    tiers = [name for name, _ in engine.milestones.spend_tiers]
    duration = {
        "type": "string",
        "pattern": r"^\s*\d+(\.\d+)?\s*(s|m|h|d|w)\s*$",
        "description": "A number and a unit: 30m, 6h, 5d, 2w. Days and weeks keep the "
        "customer's local time of day across daylight-saving changes.",
    }
    percent = {
        "anyOf": [
            {"type": "string", "pattern": r"^\s*\d+(\.\d{1,2})?\s*%\s*$"},
            {"type": "number", "minimum": 0, "maximum": 100},
        ],
        "description": "A share such as 10%.",
    }
    condition = {
        "type": "string",
        "description": 'A condition, e.g. "orders_count >= 2 and stage in [at_risk, lapsed]". '
        "Operators: == != < <= > >= in, not in, is none, and, or, not. " + _attribute_help(),
    }
    conditions = _one_or_many({"$ref": "#/$defs/condition"})
    shorthand = {
        "enum": [*SIGNAL_NAMES, *EVENT_TYPES],
        "description": "A signal or an event type.",
    }
    matcher = {"anyOf": [shorthand, *_matcher_objects(tiers, {})]}
    conversion_goal = {
        "anyOf": _matcher_objects(tiers, {"within": {"$ref": "#/$defs/duration"}}),
        "description": "The goal and its window, e.g. {event: order.placed, within: 14d}.",
    }
    template_name = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
    step: dict[str, Any] = {
        "anyOf": [
            {"const": "stop", "description": "End the journey here."},
            {
                "type": "object",
                "properties": {
                    "send": {
                        "anyOf": [
                            template_name,
                            {
                                "type": "object",
                                "properties": {
                                    "template": {
                                        "anyOf": [
                                            template_name,
                                            {
                                                "type": "object",
                                                "additionalProperties": template_name,
                                            },
                                        ]
                                    },
                                    "at": {
                                        "enum": ["best_time", "now"],
                                        "description": "best_time: at the customer's most "
                                        "active hour within the window (quiet hours held).",
                                    },
                                    "within": {
                                        "$ref": "#/$defs/duration",
                                        "description": "The window of a best-time send, "
                                        "1h to 7d (default 24h).",
                                    },
                                },
                                "required": ["template"],
                                "additionalProperties": False,
                            },
                            {"type": "object", "additionalProperties": template_name},
                        ],
                        "description": "Send a template (one for all variants, or one per "
                        "variant: {gentle: winback-gentle, discount: winback-discount}), or "
                        "at the customer's best time: {template: welcome-2, at: best_time, "
                        "within: 24h}.",
                    }
                },
                "required": ["send"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"wait": {"$ref": "#/$defs/duration"}},
                "required": ["wait"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "wait_until": {
                        "anyOf": [
                            {"$ref": "#/$defs/time_of_day"},
                            {
                                "type": "object",
                                "properties": {
                                    "time": {"$ref": "#/$defs/time_of_day"},
                                    "days": {
                                        "anyOf": [
                                            {"enum": ["weekdays", "weekends", "every_day"]},
                                            {"type": "array", "items": _values(WEEKDAYS)},
                                        ]
                                    },
                                },
                                "required": ["time"],
                                "additionalProperties": False,
                            },
                        ],
                        "description": "Wait until the customer's local clock shows this "
                        "time (optionally on some weekdays only).",
                    }
                },
                "required": ["wait_until"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "if": {"$ref": "#/$defs/condition"},
                    "then": {"$ref": "#/$defs/steps"},
                    "else": {"$ref": "#/$defs/steps"},
                },
                "required": ["if", "then"],
                "additionalProperties": False,
            },
        ]
    }
    properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "category": _values(["marketing", "transactional"]),
        "priority": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 50},
        "enabled": {"type": "boolean", "default": True},
        "trigger": _one_or_many(matcher),
        "audience": conditions,
        "reentry": {
            "anyOf": [
                {"const": "never"},
                {
                    "type": "object",
                    "properties": {
                        "after": {"$ref": "#/$defs/duration"},
                        "max_entries": {"type": "integer", "minimum": 1},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "exit_on": _one_or_many(matcher),
        "exit_when": conditions,
        "conversion": conversion_goal,
        "split": {
            "type": "object",
            "properties": {
                "mode": {
                    "enum": ["fixed", "adaptive"],
                    "description": "adaptive: shares move toward the variant that converts "
                    "better (Thompson sampling), control keeps its share.",
                },
                "reweight_every": {
                    "$ref": "#/$defs/duration",
                    "description": "Adaptive only: how often shares are recomputed (1h-7d, "
                    "default 12h).",
                },
                "floor": {
                    "$ref": "#/$defs/percent",
                    "description": "Adaptive only: the least share each variant keeps "
                    "(default 5%).",
                },
                "control": {"$ref": "#/$defs/percent"},
                "variants": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/percent"},
                },
                "salt": {
                    "type": "string",
                    "description": "Change it to reshuffle who gets which variant "
                    "(defaults to the id).",
                },
            },
            "additionalProperties": False,
        },
        "cap": {
            "type": "object",
            "properties": {
                "messages": {"type": "integer", "minimum": 1},
                "per": {"$ref": "#/$defs/duration"},
            },
            "required": ["messages", "per"],
            "additionalProperties": False,
        },
        "params": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        "steps": {"$ref": "#/$defs/steps"},
    }
    for key, text in CAMPAIGN_KEY_DOCS.items():
        properties[key] = {**properties[key], "description": text}
    return {
        "$schema": _DRAFT,
        "$id": "https://lifecycle-worker.invalid/campaign.schema.json",
        "title": "Lifecycle campaign",
        "type": "object",
        "properties": properties,
        "required": list(REQUIRED_CAMPAIGN_KEYS),
        "additionalProperties": False,
        "$defs": {
            "duration": duration,
            "percent": percent,
            "time_of_day": {
                "type": "string",
                "pattern": "^([01]?\\d|2[0-3]):[0-5]\\d$",
                "description": 'HH:MM on the customer\'s clock. Quote it: "10:00".',
            },
            "condition": condition,
            "steps": {"type": "array", "items": step, "minItems": 1},
        },
    }


def template_json_schema() -> dict[str, Any]:
    """The JSON Schema of a template file (templates/NAME/LOCALE.yaml)."""
    variables = "Variables: " + ", ".join(sorted(TEMPLATE_VARIABLES))
    part = {"type": "string", "description": "Jinja2 text. " + variables}
    return {
        "$schema": _DRAFT,
        "$id": "https://lifecycle-worker.invalid/template.schema.json",
        "title": "Lifecycle message template (or layout)",
        "type": "object",
        "properties": {
            key: {**part, "description": f"The {key}. " + part["description"]}
            for key in (*TEMPLATE_KEYS, *LAYOUT_KEYS)
        },
        "additionalProperties": False,
    }
