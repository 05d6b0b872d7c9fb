"""The marketer guide documents everything the validator accepts."""

from __future__ import annotations

import re

import pytest

from lifecycle.attributes import ATTRIBUTES
from lifecycle.campaigns.loader import CAMPAIGN_KEYS
from lifecycle.campaigns.records import OUTCOMES
from lifecycle.campaigns.templates import EXTRA_VARIABLES, FILTERS
from lifecycle.campaigns.vocabulary import EVENT_TYPES, SIGNAL_NAMES

from .support import REPO

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
