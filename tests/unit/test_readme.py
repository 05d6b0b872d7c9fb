"""The README stays true: its commands parse, every setting is in it, CI runs its test command."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from lifecycle.mail import Mailbox
from streams.cli.command import build_parser
from streams.settings import ENV_PREFIX, FLAT_VARIABLES, Settings, documented_variables

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_two_commands_are_first_and_ci_runs_the_test_command() -> None:
    commands = README[: README.index("## How it works")]
    assert "make demo" in commands
    assert "make test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: ", makefile, flags=re.MULTILINE)
    assert re.search(r"^test: ", makefile, flags=re.MULTILINE)


def test_every_setting_is_in_the_settings_table() -> None:
    documented = list(documented_variables())
    assert len(documented) >= 40
    for variable in documented:
        assert variable in README, f"{variable} is not documented"


def _settings_rows() -> dict[str, str]:
    """variable -> default cell, from the README's settings table (``A / B`` rows split)."""
    section = README[README.index("### Settings") :]
    section = section[: section.index("\n### ", 1)]
    rows = {}
    for variables, default in re.findall(r"^\| (`LIFECYCLE_[^|]+) \| ([^|]+) \|", section, re.M):
        names = re.findall(r"`(LIFECYCLE_[A-Z_]+)`", variables)
        defaults = [d.strip() for d in default.split(" / ")]
        for n, name in enumerate(names):
            rows[name] = defaults[n] if len(defaults) == len(names) else default.strip()
    return rows


def _default_of(variable: str) -> object:
    name = variable.removeprefix(ENV_PREFIX)
    if name in FLAT_VARIABLES:
        group, field = FLAT_VARIABLES[name]
        return getattr(getattr(Settings(), group), field)
    return getattr(Settings(), name.lower())


def _shown(value: object) -> str:
    if isinstance(value, Mailbox):
        return f"{value.name} <{value.address}>" if value.name else value.address
    if isinstance(value, bool):  # as the environment spells it
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_settings_table_shows_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    rows = _settings_rows()
    checked = 0
    for variable in documented_variables():
        cell = rows.get(variable)
        assert cell is not None, f"{variable} has no row in the settings table"
        value = _default_of(variable)
        if cell == "—":
            assert value is None, f"{variable}: the table says no default, the code has {value!r}"
        elif re.fullmatch(r"`[^`]*`", cell):
            assert cell.strip("`") == _shown(value), f"{variable}: table {cell}, code {value!r}"
            checked += 1
    assert checked >= 30


def test_every_lifecycle_command_in_the_readme_parses() -> None:
    parser = build_parser()
    lines = re.findall(r"^(?:\$ )?lifecycle (.+)$", README, flags=re.MULTILINE)
    assert len(lines) >= 5
    for line in lines:
        argv = shlex.split(line.split(" > ")[0].split(" | ")[0])
        parser.parse_args(argv)  # an unknown command or option exits and fails the test


def test_the_contract_table_marks_exactly_the_required_fields() -> None:
    from lifecycle.events import event_json_schema

    schema = event_json_schema()
    always = {"event_id", "customer_id", "occurred_at", "type"}
    section = README[README.index("## Event contract") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([a-z]+\.[a-z_]+)` \| (.+) \|$", section, flags=re.MULTILINE)
    documented = {kind: set(re.findall(r"\*\*`([a-z_]+)`\*\*", text)) for kind, text in rows}
    for kind, ref in schema["discriminator"]["mapping"].items():
        model = schema["$defs"][ref.rsplit("/", 1)[-1]]
        required = set(model.get("required", ())) - always
        if kind == "order.placed":
            required |= set(schema["$defs"]["OrderItem"]["required"])
        assert documented.get(kind) == required, kind


def _engine_setting_names() -> list[str]:
    """Every ``LIFECYCLE_ENGINE__`` setting, as the detection table writes it."""
    from pydantic import BaseModel

    from lifecycle.config import EngineConfig

    names = []
    for name, field in EngineConfig.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names.extend(f"{name}__{sub}".upper() for sub in section.model_fields)
        else:
            names.append(name.upper())
    return names


def test_every_nested_engine_setting_is_documented() -> None:
    detection = README[README.index("### Detection") : README.index("### Delivery guarantees")]
    names = _engine_setting_names()
    assert "STAGES__AT_RISK_AFTER_DAYS" in names
    missing = [name for name in names if f"`{name}`" not in detection]
    assert missing == [], f"LIFECYCLE_ENGINE__ settings missing from the README: {missing}"


def test_every_campaign_rule_is_documented() -> None:
    from lifecycle.campaigns import CampaignRules

    journeys = README[README.index("#### Operator settings that shape journeys") :]
    journeys = journeys[: journeys.index("\n#### ", 1)]
    names = [f"LIFECYCLE_CAMPAIGN__{name.upper()}" for name in CampaignRules.model_fields]
    assert "LIFECYCLE_CAMPAIGN__QUIET_HOURS" in names
    missing = [name for name in names if name not in journeys]
    assert missing == [], f"LIFECYCLE_CAMPAIGN__ settings missing from the README: {missing}"


def test_the_readme_stage_graph_is_the_code_graph() -> None:
    from lifecycle.customer.stages import TRANSITIONS

    detection = README[README.index("### Detection") : README.index("### Delivery guarantees")]
    edges = re.findall(r"^(\w+)\s+->\s+(\w+)\s", detection, flags=re.MULTILINE)
    documented: dict[str, set[str]] = {}
    for source, target in edges:
        documented.setdefault(source, set()).add(target)
    assert documented == {k: set(v) for k, v in TRANSITIONS.items()}
