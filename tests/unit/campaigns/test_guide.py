"""The marketer guide documents everything the validator accepts."""

from __future__ import annotations

import json
import os
import re
import shlex

import pytest
import yaml

from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.campaigns.loading.loader import CAMPAIGN_KEYS
from lifecycle.campaigns.loading.vocabulary import EVENT_TYPES, SIGNAL_NAMES
from lifecycle.campaigns.records import OUTCOMES
from lifecycle.campaigns.templates.filters import FILTERS
from lifecycle.campaigns.templates.variables import EXTRA_VARIABLES
from lifecycle.customer.attributes import ATTRIBUTES
from streams.cli import main

from .support import REPO, SHIPPED_DIR, shipped_files

README = (REPO / "README.md").read_text()
GUIDE = README[README.index("## Marketer's guide") : README.index("## Development")]


@pytest.mark.parametrize(
    ("what", "names"),
    [
        ("campaign key", CAMPAIGN_KEYS),
        ("attribute", tuple(ATTRIBUTES)),
        ("signal", SIGNAL_NAMES),
        ("event type", EVENT_TYPES),
        ("template variable", tuple(EXTRA_VARIABLES)),
        ("filter", tuple(FILTERS)),
        ("outcome", tuple(OUTCOMES)),
    ],
)
def test_the_guide_has_a_table_row_for_each(what: str, names: tuple[str, ...]) -> None:
    rows = set(re.findall(r"^\| `([^`]+)` \|", GUIDE, flags=re.MULTILINE))
    missing = [name for name in names if name not in rows]
    assert missing == [], f"{what}s missing from the README's marketer's guide"


def _block_after(marker: str, fence: str) -> str:
    """The body of the first ``fence`` code block after ``marker`` in the guide."""
    start = GUIDE.index(fence + "\n", GUIDE.index(marker)) + len(fence) + 1
    return GUIDE[start : GUIDE.index("\n```", start)]


def test_the_annotated_example_is_the_shipped_winback_campaign() -> None:
    shown = _block_after("### A complete example", "```yaml")
    shipped = (SHIPPED_DIR / "winback.yaml").read_text()
    assert yaml.safe_load(shown) == yaml.safe_load(shipped)
    # and it validates as it stands, with the shipped templates
    sources, templates = shipped_files()
    (key,) = [name for name in sources if name.endswith("/winback.yaml")]
    sources[key] = shown
    assert "winback" in compile_campaigns(sources, templates).by_id


def test_the_backtest_example_shows_real_replay_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command = "$ lifecycle replay examples/history.jsonl"
    start = GUIDE.index(command, GUIDE.index("### Backtest"))
    block = GUIDE[start : GUIDE.index("\n```", start)]
    first, *lines = block.splitlines()
    assert first == command
    shown = [line for line in lines if line != "..."]
    assert len(shown) >= 3
    for name in list(os.environ):  # the README's output is with default settings
        if name.upper().startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(REPO)
    assert main(shlex.split(first.removeprefix("$ lifecycle "))) == 0
    output = capsys.readouterr().out.splitlines()
    assert all(json.loads(line) for line in output)
    missing = [line for line in shown if line not in output]
    assert missing == []
    # in the order shown
    positions = [output.index(line) for line in shown]
    assert positions == sorted(positions)
