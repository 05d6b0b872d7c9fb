"""The condition language: parsing, type checking and evaluation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lifecycle.campaigns.conditions.condition import Condition, parse_condition
from lifecycle.campaigns.conditions.tokens import ConditionProblem


def parsed(text: str, **known: tuple[str, ...]) -> Condition:
    result = parse_condition(text, known or None)
    assert isinstance(result, Condition), result
    return result


def problems(text: str, **known: tuple[str, ...]) -> list[ConditionProblem]:
    result = parse_condition(text, known or None)
    assert isinstance(result, list), f"{text!r} should not parse"
    return result


def holds(text: str, **values: Any) -> bool:
    condition = parsed(text)

    def read(name: str) -> Any:
        return values[name]

    return condition.evaluate(read)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("orders_count >= 2", {"orders_count": 2}, True),
        ("orders_count >= 2", {"orders_count": 1}, False),
        ("orders_count == 2", {"orders_count": 2}, True),
        ("orders_count != 2", {"orders_count": 2}, False),
        ("orders_count < 2", {"orders_count": 1}, True),
        ("orders_count <= 1", {"orders_count": 2}, False),
        ("orders_count > -1", {"orders_count": 0}, True),
        ("lifetime_value >= 50.5", {"lifetime_value": Decimal("50.50")}, True),
        ("lifetime_value > 50.5", {"lifetime_value": Decimal("50.50")}, False),
        ("lifetime_value == 59.90", {"lifetime_value": Decimal("59.9")}, True),
        ("days_since_last_order > 30", {"days_since_last_order": 30.0001}, True),
        ("days_since_last_order > 30d", {"days_since_last_order": 29.9}, False),
        ("days_since_last_order > 2w", {"days_since_last_order": 14.5}, True),
        ("days_since_last_order < 36h", {"days_since_last_order": 1.4}, True),
        ("stage == at_risk", {"stage": "at_risk"}, True),
        ("stage == 'at_risk'", {"stage": "active"}, False),
        ("stage in [at_risk, lapsed]", {"stage": "lapsed"}, True),
        ("stage not in [at_risk, lapsed]", {"stage": "lapsed"}, False),
        ("locale in ['sv-SE', \"sv\"]", {"locale": "sv"}, True),
        ("marketing_consent", {"marketing_consent": True}, True),
        ("not marketing_consent", {"marketing_consent": True}, False),
        ("marketing_consent == false", {"marketing_consent": False}, True),
        ("orders_count in [1, 2, 3]", {"orders_count": 3}, True),
        (
            "recent_activity < baseline_activity",
            {"recent_activity": 1, "baseline_activity": 4},
            True,
        ),
    ],
)
def test_evaluation(text: str, values: dict[str, Any], expected: bool) -> None:
    assert holds(text, **values) is expected


def test_precedence_is_not_then_and_then_or() -> None:
    text = "orders_count > 5 or orders_count > 1 and not marketing_consent"
    # read as: orders_count > 5 or (orders_count > 1 and (not marketing_consent))
    assert holds(text, orders_count=2, marketing_consent=False)
    assert not holds(text, orders_count=2, marketing_consent=True)
    assert holds(text, orders_count=6, marketing_consent=True)
    grouped = "(orders_count > 5 or orders_count > 1) and not marketing_consent"
    assert not holds(grouped, orders_count=6, marketing_consent=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("days_since_last_order > 30", False),
        ("days_since_last_order <= 30", False),
        ("days_since_last_order == 30", False),
        ("days_since_last_order != 30", True),
        ("days_since_last_order in [1, 2]", False),
        ("days_since_last_order not in [1, 2]", True),
        ("days_since_last_order is none", True),
        ("days_since_last_order is not none", False),
        ("days_since_last_order == none", True),
        ("not days_since_last_order > 30", True),
    ],
)
def test_a_missing_value_fails_comparisons_but_not_their_negation(
    text: str, expected: bool
) -> None:
    assert holds(text, days_since_last_order=None) is expected


def test_only_the_attributes_used_are_read() -> None:
    condition = parsed("orders_count >= 2 and tier == 'gold'", tier=("silver", "gold"))
    assert condition.attributes == {"orders_count", "tier"}
    read: list[str] = []

    def reader(name: str) -> Any:
        read.append(name)
        return {"orders_count": 1, "tier": "gold"}[name]

    assert condition.evaluate(reader) is False
    assert read == ["orders_count"]  # 'and' stops at the first false part


def test_constant_conditions_are_known_at_load_time() -> None:
    assert parsed("1 > 2").constant() is False
    assert parsed("'a' == 'a'").constant() is True
    assert parsed("orders_count > 2").constant() is None


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        (
            "days_since_order > 30",
            0,
            "unknown attribute 'days_since_order'; did you mean 'days_since_last_order'?",
        ),
        (
            "orders_count > 1 and lifetime_valu > 5",
            21,
            "unknown attribute 'lifetime_valu'; did you mean 'lifetime_value'?",
        ),
        ("stage == at_rsk", 9, "'at_rsk' is not a valid stage; did you mean 'at_risk'?"),
        (
            "stage == 3",
            6,
            "cannot compare 'stage' (a stage) with 3 (a number); compare a stage with a stage "
            "name, e.g. stage == at_risk",
        ),
        (
            "orders_count == 'two'",
            13,
            "cannot compare 'orders_count' (a number) with 'two' (a string); compare with a "
            "number, e.g. orders_count >= 2",
        ),
        (
            "name > 'A'",
            5,
            "'>' needs numbers; 'name' (a string) can only be compared with == or !=",
        ),
        (
            "orders_count > 30d",
            15,
            "a duration like 30d can only be compared with a days_... attribute, e.g. "
            "days_since_last_order > 30d",
        ),
        (
            "last_order_at > 3",
            0,
            "'last_order_at' is a point in time and can only be tested with 'is none' / "
            "'is not none'; use days_since_last_order",
        ),
        (
            "orders_count",
            0,
            "'orders_count' (a number) is not a yes/no value on its own; compare it, e.g. "
            "orders_count > 0",
        ),
        ("orders_count = 2", 13, "use == to compare ('=' alone is not an operator)"),
        ("marketing_consent && suppressed", 18, "use 'and' to combine conditions"),
        ("name == 'x", 8, "a string is not closed; add the closing '"),
        (
            "(orders_count > 1",
            17,
            "expected ')' to close the '(' at column 1, found the end of the condition",
        ),
        (
            "orders_count > 1 orders_count < 5",
            17,
            "unexpected 'orders_count' after a complete condition; join conditions with 'and' "
            "or 'or'",
        ),
        ("tier == 'gld'", 8, "'gld' is not a valid tier value; did you mean 'gold'?"),
        (
            "rfm_segment in [loyal, champs]",
            23,
            "'champs' is not a valid rfm_segment value; did you mean 'champions'?",
        ),
        ("", 0, "the condition is empty"),
    ],
)
def test_problems_say_where_and_what_to_do(text: str, offset: int, message: str) -> None:
    found = problems(text, tier=("silver", "gold"))
    assert found[0] == ConditionProblem(offset, message)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "orders_count.__class__ > 1",
        "open('x')",
        "orders_count + 1 > 2",
        "[1, 2] == orders_count",
    ],
)
def test_nothing_that_looks_like_code_gets_through(text: str) -> None:
    assert problems(text)
