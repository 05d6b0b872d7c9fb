"""The README stays true: its commands parse, every setting is in it, CI runs its test command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from streams.cli.command import build_parser
from streams.settings import ENV_PREFIX, Settings

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
    for name in Settings.model_fields:
        variable = ENV_PREFIX + name.upper()
        assert variable in README, f"{variable} is not documented"


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


def test_the_readme_stage_graph_is_the_code_graph() -> None:
    from lifecycle.customer.stages import TRANSITIONS

    detection = README[README.index("### Detection") : README.index("### Delivery guarantees")]
    edges = re.findall(r"^(\w+)\s+->\s+(\w+)\s", detection, flags=re.MULTILINE)
    documented: dict[str, set[str]] = {}
    for source, target in edges:
        documented.setdefault(source, set()).add(target)
    assert documented == {k: set(v) for k, v in TRANSITIONS.items()}
