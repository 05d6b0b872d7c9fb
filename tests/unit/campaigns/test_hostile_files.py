"""Campaign files never produce a traceback (issue 10, item 6).

Whatever the campaign and template files hold — deep nesting, absurd durations, huge
numbers, YAML tags, anchors and aliases, merge keys, binary, timestamps, ``.inf`` and
``.nan`` — compiling them gives a campaign set or located errors (``FILE:LINE:COL`` with
a message), nothing else, and quickly.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.exceptions import CampaignErrors

from .support import simple_templates

TEMPLATES = simple_templates("hello", "bye")
BASE = {
    "id": "hello",
    "name": "Hello",
    "category": "marketing",
    "priority": "50",
    "trigger": "{event: customer.signed_up}",
    "audience": '["orders_count == 0"]',
    "reentry": "{after: 90d, max_entries: 3}",
    "exit_on": "[order.placed]",
    "conversion": "{signal: first_order, within: 14d}",
    "split": "{control: 10%, variants: {a: 45%, b: 45%}}",
    "cap": "{messages: 2, per: 30d}",
    "params": "{code: X}",
    "steps": '[{send: hello}, {wait: 1d}, {wait_until: "10:00"}, {send: bye}]',
}

DEEP = 5000
HOSTILE_VALUES = [
    "99999999999999d",
    "1e999999d",
    "9" * 5000,
    "-" + "9" * 5000,
    "1" + ":1" * 20000,  # a YAML 1.1 base-60 integer: quadratic to construct
    "1" + ":1" * 20000 + ".5",
    "0x" + "f" * 20000,
    "0b" + "1" * 50000,
    "1e999",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "!!binary aGVsbG8=",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    "2001-12-14",
    "!!python/object:os.system ls",
    "!!python/name:os.system",
    "!custom x",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!str",
    "!!int x",
    "!!float nope",
    "~",
    "null",
    "[]",
    "{}",
    "&a [*a]",
    "*undefined",
    "[" * DEEP + "]" * DEEP,
    "{a: " * 2000 + "1" + "}" * 2000,
    '"' + "(" * DEEP + "orders_count > 1" + ")" * DEEP + '"',
    '"' + "not " * DEEP + 'orders_count > 1"',
    '"' + " and ".join(["orders_count > 1"] * 3000) + '"',
    '"orders_count > ' + "9" * 5000 + '"',
    '"days_since_signup > 99999999999999d"',
    '"days_since_signup > ' + "9" * 50 + 'd"',
    '"lifetime_value > 1.' + "5" * 5000 + '"',
    "{wait: 99999999999999d}",
    "[{wait: 3661d}]",
    '[{wait_until: "99:99"}]',
    "[{if: " + '"' + "(" * 300 + "true" + ")" * 300 + '", then: [{send: hello}]}]',
    "[" + "{if: true, then: [" * 300 + "{send: hello}" + "]}" * 300 + "]",
    "{control: 1e999%, variants: {a: .nan}}",
    "{control: .nan, variants: {a: 100%}}",
    "{messages: 99999999999999999999, per: 1e9w}",
    "{after: .inf, max_entries: -.inf}",
    "'\\ud800'",
    '"\\ud800"',
    '"\\0\\a\\x1b"',
    '"' + "x" * 200_000 + '"',
]

BOMBS = [
    # billion laughs: nine levels of ten aliases each
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 10)}]\n" for n in range(9)
    ),
    "base: &base {id: hello, category: marketing}\n<<: *base\n",
    "<<: [*a]\n",
    "\t- tab",
    "%YAML 1.3\n---\na: 1",
    "---\n...\n---\n",
    "\x00\x01",
    "\ufeffid: hello",
    "a: b: c",
    "[" * 200_000,
    "{" * 200_000,
    "- " * 100_000 + "x",
    " " * 100_000 + "x: 1",
    "a: |" + "\n  x" * 100_000,
]


def assert_loaded_or_located(sources: dict[str, str], templates: dict[str, str]) -> None:
    started = time.process_time()
    try:
        result = compile_campaigns(sources, templates)
    except CampaignErrors as errors:
        located = errors.errors
        assert located
        for error in located:
            assert error.file in sources or error.file in templates
            assert error.line >= 1
            assert error.column >= 1
            assert error.message
            assert "Traceback" not in error.message
    else:
        assert isinstance(result, CampaignSet)
    # Bounded CPU: compile-time work is linear in the files (a few hundred KB here).
    assert time.process_time() - started < 5.0


def _campaign(**values: str) -> str:
    fields = {**BASE, **values}
    return "".join(f"{key}: {value}\n" for key, value in fields.items())


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
@pytest.mark.parametrize("key", ["priority", "audience", "reentry", "split", "steps"])
def test_hostile_values_give_located_errors(key: str, value: str) -> None:
    assert_loaded_or_located({"hello.yaml": _campaign(**{key: value})}, TEMPLATES)


@pytest.mark.parametrize("text", BOMBS, ids=range(len(BOMBS)))
def test_hostile_documents_give_located_errors(text: str) -> None:
    assert_loaded_or_located({"hello.yaml": text}, TEMPLATES)
    assert_loaded_or_located({}, {"templates/hello/en.yaml": text})


def test_a_valid_base_file_loads() -> None:
    loaded = compile_campaigns({"hello.yaml": _campaign()}, TEMPLATES)
    assert [c.id for c in loaded.campaigns] == ["hello"]


def test_absurd_durations_name_the_limit() -> None:
    with pytest.raises(CampaignErrors) as info:
        compile_campaigns(
            {"hello.yaml": _campaign(reentry="{after: 99999999999999d, max_entries: 3}")},
            TEMPLATES,
        )
    (error,) = info.value.errors
    assert (error.file, error.line) == ("hello.yaml", 7)
    assert "3660d" in error.message


keys = st.sampled_from(sorted(BASE))
fragments = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.sampled_from(list(BASE.values())),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, fragments, max_size=4), st.sampled_from(["campaign", "template"]))
@example({"steps": "[" * 100 + "]" * 100}, "campaign")
def test_any_campaign_or_template_file_loads_or_gives_located_errors(
    values: dict[str, str], where: str
) -> None:
    text = _campaign(**values)
    if where == "campaign":
        assert_loaded_or_located({"hello.yaml": text}, TEMPLATES)
    else:
        template = "".join(f"{k}: {v}\n" for k, v in values.items()) or "x"
        assert_loaded_or_located(
            {"hello.yaml": _campaign()}, {**TEMPLATES, "templates/hello/en.yaml": template}
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_as_a_campaign_file_loads_or_gives_located_errors(text: str) -> None:
    assert_loaded_or_located({"hello.yaml": text}, TEMPLATES)
