"""Templates are bounded (issue 10, item 5).

Load-time bombs (constant expressions that build huge values) are located errors within
seconds, from ``load_templates`` and from ``campaigns validate``; runaway loops, recursion
and huge output behind a condition on customer data fail that customer's message with a
``TemplateFailure`` (the same one every time: the budget counts steps, not seconds), and
the journey runtime records a ``render_error`` for that customer while others get theirs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.campaigns.located import Problems
from lifecycle.campaigns.templates.limits import (
    MAX_ITEMS,
    MAX_STEPS,
    MAX_VALUE_CHARS,
    TemplateLimitError,
    checked_binop,
    rendering,
)
from lifecycle.campaigns.templates.render import TemplateFailure
from lifecycle.campaigns.templates.template_set import TemplateSet, load_templates
from lifecycle.exceptions import CampaignErrors, TemplateRenderError
from tests.factories import event

from .support import SHIPPED_DIR, Journeys, compile_inline, utc
from .test_templates import STOCKHOLM, one, render, template_set

LOAD_BOMBS = {
    "string times a huge number": "{{ 'x' * 10**10 }}",
    "a huge range as a list": "{{ range(10**9)|list }}",
    "a power tower": "{{ 10**(10**10) }}",
    "nested string multiplication": "{{ ('x' * 1000) * 1000 * 1000 }}",
    "list multiplication": "{{ [[1] * 10000] * 10000 }}",
    "center filter": "{{ 'x'|center(9999999999) }}",
    "format widths": "{{ '%999999999d'|format(1) }}",
    "printf operator": "{{ '%0999999999d' % 1 }}",
    "replace with an empty pattern": "{{ ('x' * 90000)|replace('', 'yyyyyyyy') }}",
    "batch fill": "{{ [1]|batch(10**9, 0)|list }}",
    "join of repeats": "{{ ([('x' * 50000)] * 5000)|join }}",
    "concatenation doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"
    ),
    "a loop of loops": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    ),
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "captured output": (
        "{% set s %}{% for i in range(10000) %}{{ 'y' * 50000 }}{% endfor %}{% endset %}"
        "{{ s|length }}"
    ),
}

SYNTAX_BOMBS = {
    "deep parentheses": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "a 5000-digit number": "{{ " + "9" * 5000 + " }}",
    "deep blocks": "{% if true %}" * 200 + "x" + "{% endif %}" * 200,
    "an amplifying string method": "{{ 'x'.center(10**9) }}",
    "lipsum (random)": "{{ lipsum(10**6) }}",
    "the random filter": "{{ [1, 2]|random }}",
}


def _file(body: str) -> dict[str, str]:
    return {"templates/t/en.yaml": f"subject: s\ntext: {json.dumps(body)}\n"}


def _load_or_render_fails(body: str) -> str:
    """A located load problem or a TemplateFailure: the message, within seconds."""
    started = time.process_time()
    problems = Problems()
    loaded = load_templates(_file(body), problems)
    try:
        if problems.errors:
            (error,) = problems.errors
            assert (error.file, error.line) == ("templates/t/en.yaml", 2)
            return error.message
        with pytest.raises(TemplateFailure) as failure:
            loaded.render("t", "en", {}, zone=STOCKHOLM)
        assert failure.value.file == "templates/t/en.yaml"
        assert failure.value.line == 2
        return failure.value.reason
    finally:
        assert time.process_time() - started < 5.0


@pytest.mark.parametrize("body", LOAD_BOMBS.values(), ids=LOAD_BOMBS.keys())
def test_load_time_bombs_fail_fast_with_the_limit_they_hit(body: str) -> None:
    reason = _load_or_render_fails(body)
    assert any(
        word in reason for word in ("larger than a template may build", "steps", "nested", "output")
    ), reason


@pytest.mark.parametrize("body", SYNTAX_BOMBS.values(), ids=SYNTAX_BOMBS.keys())
def test_unreadable_or_unsafe_templates_are_located_load_errors(body: str) -> None:
    problems = Problems()
    started = time.process_time()
    load_templates(_file(body), problems)
    assert time.process_time() - started < 5.0
    messages = [e.message for e in problems.errors]
    if "center" in body:
        # Allowed to load; refused when it runs, as any attribute the sandbox refuses.
        assert messages == []
        assert "unsafe" in _load_or_render_fails(body)
    else:
        assert len(messages) == 1, messages
        assert problems.errors[0].line >= 2


def test_ordinary_arithmetic_loops_and_filters_still_work() -> None:
    body = (
        "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ [1, 2] * 2 }} {{ 'a' ~ 'b' }} {{ 7 // 2 }} "
        "{{ '%05.1f' % 3.14159 }} {{ 'x'|center(7) }}|{{ ['a', 'b']|join(',') }} "
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ range(5)|list|sum }} "
        "{% macro twice(s) %}{{ s }}{{ s }}{% endmacro %}{{ twice('z') }} "
        "{{ 'abc'|replace('b', 'B') }} {{ 'a-b'.replace('-', '+') }} {{ 3 > 2 }}"
    )
    message = render(one(body))
    assert message.text == (
        "ababab 1024 [1, 2, 1, 2] ab 3 003.1    x   |a,b 012 10 zz aBc a+b True\n"
    )


def test_the_budget_is_deterministic_and_per_message() -> None:
    loop = "{% for i in range(100) %}{% for j in range(" + str(MAX_STEPS // 400) + ") %}"
    loop += "{% endfor %}{% endfor %}ok"
    loaded = template_set(one(loop))
    # One message costs a quarter of the budget: many of them in a row all render.
    for _ in range(8):
        assert loaded.render("t", "en", {}, zone=STOCKHOLM).text == "ok\n"
    runaway = template_set(
        one("{% for i in range(9999) %}{% for j in range(99) %}{% endfor %}{% endfor %}")
    )
    reasons = set()
    for _ in range(3):
        with pytest.raises(TemplateFailure) as failure:
            runaway.render("t", "en", {}, zone=STOCKHOLM)
        reasons.add((failure.value.line, failure.value.reason))
    assert len(reasons) == 1


def test_a_finished_message_has_a_size_limit() -> None:
    # Each value is within the limits, the message is not.
    body = "{% for i in range(40) %}{{ 'x' * 9000 }}{% endfor %}"
    with pytest.raises(TemplateFailure, match="characters; the limit is"):
        render(one(body))


@pytest.mark.parametrize(
    ("op", "left", "right"),
    [
        ("*", "x", MAX_VALUE_CHARS + 1),
        ("*", MAX_VALUE_CHARS + 1, "x"),
        ("*", [1], MAX_ITEMS + 1),
        ("*", [["x" * 100]] * 100, 100),
        ("*", 2**4000, 2**200),
        ("**", 10, 10**10),
        ("**", 2, 4097),
        ("+", "x" * MAX_VALUE_CHARS, "y"),
        ("+", [1] * MAX_ITEMS, [2]),
        ("%", "%99999999d", 1),
        ("%", "%*d", (10**9, 1)),
    ],
)
def test_amplifying_operators_are_refused_before_they_run(op: str, left: Any, right: Any) -> None:
    started = time.process_time()
    with pytest.raises(TemplateLimitError):
        checked_binop(op, left, right)
    assert time.process_time() - started < 0.5


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]),
    st.one_of(
        st.integers(-(10**6), 10**6), st.text(max_size=5), st.lists(st.integers(), max_size=3)
    ),
    st.one_of(
        st.integers(-(10**6), 10**6), st.text(max_size=5), st.lists(st.integers(), max_size=3)
    ),
)
def test_operators_either_give_a_bounded_value_or_refuse(op: str, left: Any, right: Any) -> None:
    started = time.process_time()
    with rendering():
        try:
            value = checked_binop(op, left, right)
        except (TemplateLimitError, ArithmeticError, TypeError, ValueError):
            return
    assert time.process_time() - started < 0.5
    if isinstance(value, int):
        assert value.bit_length() <= 4096
    if isinstance(value, str | list):
        assert len(value) <= MAX_VALUE_CHARS


# -- runaway templates behind a condition on customer data --------------------------------

RUNAWAY = {
    "loop": "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "recursion": "{{ f(0) }}",
    "output": "{% for i in range(9999) %}{{ params.chunk }}{% endfor %}",
    "loop recursion": ("{% for x in [[[]]] recursive %}{{ loop([[x]]) }}{% endfor %}"),
}


def _campaign(body: str) -> Any:
    guarded = (
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}"
        '{% if first_name == "Mallory" %}' + body + "{% endif %}Hello {{ first_name }}"
    )
    return compile_inline(
        {
            "hello.yaml": "id: hello\ncategory: marketing\n"
            "trigger: {event: customer.signed_up}\n"
            "params: {chunk: " + json.dumps("z" * 900) + "}\n"
            "steps: [{send: hello}]\n"
        },
        {"templates/hello/en.yaml": f"subject: Hi\ntext: {json.dumps(guarded)}\n"},
    )


@pytest.mark.parametrize("body", RUNAWAY.values(), ids=RUNAWAY.keys())
def test_a_runaway_template_fails_one_customer_and_the_others_get_their_mail(body: str) -> None:
    # It passes validation: the sample customer is not Mallory.
    campaigns = _campaign(body)
    signups = [
        event(
            "customer.signed_up",
            customer,
            "2026-03-02T09:00:00+01:00",
            email=f"{customer}@example.com",
            name=name,
            marketing_consent=True,
            timezone="Europe/Stockholm",
        )
        for customer, name in (("c-1", "Alice"), ("c-2", "Mallory"), ("c-3", "Bob"))
    ]
    started = time.process_time()
    journeys = Journeys(campaigns).run(signups, until=utc("2026-03-03T00:00:00+00:00"))
    assert time.process_time() - started < 10.0
    outcomes = {d.customer_id: d.outcome for d in journeys.decisions("hello")}
    assert outcomes == {"c-1": "send", "c-2": "render_error", "c-3": "send"}
    # The facts of Mallory's signup are applied all the same.
    assert journeys.states["c-2"].profile.name == "Mallory"


def test_validate_reports_a_load_time_bomb_as_file_line_col_within_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.cli.campaigns import run
    from tests.unit.campaigns.test_cli import parse

    for name in [n for n in os.environ if n.upper().startswith("LIFECYCLE_")]:
        monkeypatch.delenv(name)
    shutil.copytree(SHIPPED_DIR, tmp_path / "campaigns")
    monkeypatch.chdir(tmp_path)
    bomb = tmp_path / "campaigns" / "templates" / "welcome-1" / "en.yaml"
    bomb.write_text(bomb.read_text().replace("{{ shop.name }}", "{{ 'x' * 10**10 }}", 1))
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    code = run(parse("campaigns", "validate", "campaigns"), out=out, err=err)
    assert time.monotonic() - started < 30  # seconds, on a loaded 2-core machine
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines
    assert all(line.startswith("campaigns/templates/welcome-1/en.yaml:") for line in lines)
    assert "larger than a template may build" in lines[0]
    _, line, column, _ = lines[0].split(":", 3)
    assert int(line) > 0
    assert int(column) > 0


def test_template_failures_are_template_render_errors() -> None:
    loaded: TemplateSet = template_set(one("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"))
    with pytest.raises(TemplateRenderError):
        loaded.render("t", "en", {}, zone=STOCKHOLM)


def test_a_broken_campaign_set_is_still_a_campaign_error() -> None:
    with pytest.raises(CampaignErrors):
        compile_inline(
            {
                "hello.yaml": "id: hello\ncategory: marketing\n"
                "trigger: {event: customer.signed_up}\nsteps: [{send: hello}]\n"
            },
            {"templates/hello/en.yaml": "subject: Hi\ntext: \"{{ 'x' * 10**10 }}\"\n"},
        )
