"""Validation: every kind of mistake gives FILE:LINE:COL and says what to do."""

from __future__ import annotations

import textwrap

import pytest

from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.exceptions import CampaignErrors

from .support import shipped_files

TEMPLATES = {
    "templates/hello/en.yaml": "subject: Hello {{ first_name }}\ntext: Hi {{ first_name }}\n",
    "templates/hello/sv.yaml": "subject: Hej {{ first_name }}\ntext: Hej {{ first_name }}\n",
    "templates/bye/en.yaml": "subject: Bye\ntext: Bye\n",
}


def errors(
    campaign: str, templates: dict[str, str] | None = None, file: str = "c.yaml"
) -> list[str]:
    sources = {file: textwrap.dedent(campaign)} if campaign else {}
    with pytest.raises(CampaignErrors) as caught:
        compile_campaigns(sources, TEMPLATES if templates is None else templates)
    return [str(e) for e in caught.value.errors]


def valid(campaign: str) -> None:
    compile_campaigns({"c.yaml": textwrap.dedent(campaign)}, TEMPLATES)


BASE = """\
id: demo
category: marketing
trigger: first_order
steps:
  - send: hello
"""


def test_the_base_campaign_is_valid() -> None:
    valid(BASE)


def test_the_shipped_campaigns_are_valid() -> None:
    sources, templates = shipped_files()
    campaigns = compile_campaigns(sources, templates)
    assert len(campaigns) == 9
    for name in campaigns.templates.names():
        assert {"en", "sv", "pl"} <= set(campaigns.templates.templates[name]), name


# -- the file and its keys ---------------------------------------------------------------


def test_yaml_syntax_error_names_the_bracket_never_closed() -> None:
    assert errors("id: demo\ntrigger: [first_order\nsteps: []\n") == [
        "c.yaml:3:6: YAML syntax error: the '[' opened at 2:10 is never closed; add ']' "
        "(expected ',' or ']', but got ':')"
    ]
    assert errors("id: demo\ncategory: marketing\ntrigger: {signal: first_order\nsteps: []\n") == [
        "c.yaml:4:6: YAML syntax error: the '{' opened at 3:10 is never closed; add '}' "
        "(expected ',' or '}', but got ':')"
    ]


def test_yaml_syntax_error_names_the_quote_never_closed() -> None:
    assert errors("id: demo\nname: 'Win back\ntrigger: first_order\n") == [
        "c.yaml:4:1: YAML syntax error: the quote ' opened at 2:7 is never closed; "
        "end the text with '"
    ]


def test_yaml_tabs_say_to_indent_with_spaces() -> None:
    assert errors("id: demo\nsteps:\n\t- send: hello\n") == [
        "c.yaml:3:1: YAML syntax error: a tab character: indent with spaces, not tabs"
    ]


def test_yaml_colon_in_a_value_or_a_bad_indent() -> None:
    assert errors("id: demo\nname: Note: new\n") == [
        "c.yaml:2:11: YAML syntax error: a ':' here starts a key where none can be; check "
        "this line's indentation, or put a value that contains ': ' in quotes"
    ]


def test_unknown_key_names_the_nearest() -> None:
    assert errors(BASE + "priorty: 10\n") == [
        "c.yaml:6:1: unknown key 'priorty'; did you mean 'priority'?"
    ]


def test_unknown_key_without_a_near_one_lists_the_valid_ones() -> None:
    assert errors(BASE + "cap: {messages: 1, every: 3d}\n") == [
        "c.yaml:6:6: cap needs 'messages' and 'per', e.g. {messages: 2, per: 30d}",
        "c.yaml:6:20: unknown key 'every' in cap; use one of: messages, per",
    ]


def test_missing_required_key_says_what_to_add() -> None:
    assert errors("id: demo\ntrigger: first_order\nsteps:\n  - send: hello\n") == [
        "c.yaml:1:1: missing 'category': add 'category: marketing' (needs consent) or "
        "'category: transactional'"
    ]


def test_duplicate_key() -> None:
    assert errors(BASE + "category: transactional\n") == [
        "c.yaml:6:1: 'category' is given twice (first on line 2); keep one"
    ]


def test_bad_values() -> None:
    found = errors(
        """\
        id: Demo Campaign
        category: promo
        priority: 5000
        trigger: first_order
        conversion: {event: order.placed, within: 2 weeks}
        steps:
          - send: hello
          - wait: soon
          - wait_until: "25:00"
          - send: hello
        """
    )
    assert found == [
        "c.yaml:1:5: id 'Demo Campaign' must be lower-case letters, digits, '-' or '_' "
        "(at most 64), e.g. winback",
        "c.yaml:2:11: category must be marketing (needs consent) or transactional, not 'promo'",
        "c.yaml:3:11: priority must be from 0 to 1000, not 5000",
        "c.yaml:5:43: conversion.within: '2 weeks' is not a duration; write a number and a "
        "unit: 30m, 6h, 5d or 2w",
        "c.yaml:8:11: wait: 'soon' is not a duration; write a number and a unit: 30m, 6h, 5d or 2w",
        "c.yaml:9:17: wait_until: '25:00' is not a time of day; write HH:MM, e.g. 09:30",
    ]


def test_duplicate_campaign_ids_across_files() -> None:
    with pytest.raises(CampaignErrors) as caught:
        compile_campaigns({"a.yaml": BASE, "b.yaml": BASE}, TEMPLATES)
    assert [str(e) for e in caught.value.errors] == [
        "b.yaml:1:5: campaign id 'demo' is already used in a.yaml:1; every campaign needs "
        "its own id"
    ]


# -- triggers, exits, conversion -----------------------------------------------------------


def test_unknown_trigger_names_the_nearest() -> None:
    assert errors(BASE.replace("trigger: first_order", "trigger: first_ordr")) == [
        "c.yaml:3:10: unknown event type or signal 'first_ordr'; did you mean 'first_order'?"
    ]


def test_unknown_event_type_in_exit_on() -> None:
    assert errors(BASE + "exit_on: [{event: order.place}]\n") == [
        "c.yaml:6:19: unknown event type 'order.place'; did you mean 'order.placed'?"
    ]


def test_signal_data_keys_and_values_are_checked() -> None:
    found = errors(
        BASE.replace(
            "trigger: first_order",
            "trigger:\n  - {signal: support_unhappy, with: {reason: low_cast}}\n"
            "  - {signal: tier_reached, with: {teir: gold}}\n"
            "  - {stage: at_rsk, from: active}",
        )
    )
    assert found == [
        "c.yaml:4:46: unknown reason value 'low_cast'; did you mean 'low_csat'?",
        "c.yaml:5:35: unknown key 'teir' in 'with' of signal tier_reached; did you mean 'tier'?",
        "c.yaml:6:13: unknown stage 'at_rsk'; did you mean 'at_risk'?",
    ]


def test_milestone_trigger_only_takes_milestones() -> None:
    assert errors(BASE.replace("trigger: first_order", "trigger: {milestone: churn_risk}")) == [
        "c.yaml:3:22: unknown milestone 'churn_risk'; use one of: first_order, second_order, "
        "order_count_reached, tier_reached, signup_anniversary, no_order_after_signup"
    ]


# -- conditions --------------------------------------------------------------------------


def test_unknown_attribute_in_audience_points_into_the_condition() -> None:
    campaign = BASE + "audience:\n  - orders_count >= 2 and days_since_order > 30\n"
    assert errors(campaign) == [
        "c.yaml:7:27: unknown attribute 'days_since_order'; did you mean 'days_since_last_order'?"
    ]


def test_quoted_condition_columns_count_the_quote() -> None:
    campaign = BASE + 'audience: "stage == 3"\n'
    assert errors(campaign) == [
        "c.yaml:6:18: cannot compare 'stage' (a stage) with 3 (a number); compare a stage "
        "with a stage name, e.g. stage == at_risk"
    ]


def test_condition_type_error_in_an_if_step() -> None:
    campaign = BASE + "  - wait: 1d\n  - if: tier > 3\n    then:\n      - send: hello\n"
    assert errors(campaign) == [
        "c.yaml:7:14: cannot compare 'tier' (a string) with 3 (a number); put text in quotes, "
        "e.g. tier == 'text'"
    ]


def test_tier_names_come_from_the_engine_configuration() -> None:
    campaign = BASE + "audience: tier == 'golden'\n"
    assert errors(campaign) == [
        "c.yaml:6:19: 'golden' is not a valid tier value; did you mean 'gold'?"
    ]


# -- split ---------------------------------------------------------------------------------


SPLIT = """\
id: demo
category: marketing
trigger: first_order
split:
  control: 10%
  variants: {a: 45%, b: 40%}
steps:
  - send: {a: hello, b: bye}
"""


def test_weights_that_do_not_add_up_to_100() -> None:
    assert errors(SPLIT) == [
        "c.yaml:5:3: the split adds up to 95% (control 10% + a 45% + b 40%); the shares must "
        "add up to 100%"
    ]


def test_percentages_must_be_percentages() -> None:
    found = errors(SPLIT.replace("control: 10%", "control: ten").replace("40%", "45%"))
    assert found == ["c.yaml:5:12: control: 'ten' is not a percentage; write e.g. 10%"]


def test_send_must_name_a_template_for_every_variant_and_none_for_control() -> None:
    campaign = SPLIT.replace("40%", "45%").replace(
        "send: {a: hello, b: bye}", "send: {a: hello, control: bye}"
    )
    assert errors(campaign) == [
        "c.yaml:8:11: variant 'b' has no template in this send; add 'b: TEMPLATE' (or give "
        "one template for all variants: '- send: TEMPLATE')",
        "c.yaml:8:22: the control group is never messaged; remove 'control' here",
    ]


def test_a_variant_called_control_is_refused() -> None:
    campaign = SPLIT.replace("  control: 10%\n", "").replace(
        "{a: 45%, b: 40%}", "{a: 50%, control: 50%}"
    )
    assert errors(campaign) == ["c.yaml:5:22: 'control' is the holdout; set it with split.control"]


# -- templates -----------------------------------------------------------------------------


def test_a_template_that_does_not_exist_names_the_nearest() -> None:
    campaign = BASE.replace("send: hello", "send: helo")
    assert errors(campaign) == [
        "c.yaml:5:11: unknown template 'helo'; did you mean 'hello'? (a template is a folder "
        "templates/helo/ with one LOCALE.yaml per language)"
    ]


def test_a_template_variable_that_does_not_exist() -> None:
    templates = {
        **TEMPLATES,
        "templates/hello/sv.yaml": "subject: Hej\ntext: |\n  Hej {{ frist_name }},\n  ok\n",
    }
    assert errors(BASE, templates) == [
        "templates/hello/sv.yaml:3:10: unknown template variable 'frist_name'; did you mean "
        "'first_name'?"
    ]


def test_a_field_that_does_not_exist() -> None:
    templates = {**TEMPLATES, "templates/bye/en.yaml": "subject: Bye\ntext: '{{ order.totl }}'\n"}
    assert errors(BASE, templates) == [
        "templates/bye/en.yaml:2:17: order has no field 'totl'; did you mean 'total'?"
    ]


def test_params_used_by_a_template_must_be_set_by_the_campaign() -> None:
    templates = {
        **TEMPLATES,
        "templates/hello/en.yaml": "subject: Code {{ params.discount_code }}\ntext: x\n",
    }
    campaign = BASE + "params: {discount_cod: X1}\n"
    assert errors(campaign, templates) == [
        "templates/hello/en.yaml:1:25: params.discount_code is not set in campaign 'demo' "
        "(c.yaml); did you mean 'discount_cod'? add it under 'params:' there"
    ]


def test_trigger_data_used_by_a_template_must_exist_for_the_trigger() -> None:
    templates = {
        **TEMPLATES,
        "templates/hello/en.yaml": "subject: '{{ trigger.years }}'\ntext: x\n",
    }
    assert errors(BASE, templates) == [
        "templates/hello/en.yaml:1:22: trigger.years does not exist for campaign 'demo', "
        "triggered by first_order; available: trigger.name"
    ]


def test_template_syntax_error() -> None:
    templates = {**TEMPLATES, "templates/hello/en.yaml": "subject: Hi\ntext: |\n  a\n  {% if %}\n"}
    assert errors(BASE, templates) == [
        "templates/hello/en.yaml:4:7: template syntax error in text: Expected an expression, "
        "got 'end of statement block'"
    ]


def test_templates_cannot_reach_files_or_private_attributes() -> None:
    templates = {
        **TEMPLATES,
        "templates/hello/en.yaml": (
            "subject: Hi\ntext: |\n  {% include 'x' %}\n  {{ shop.__class__ }}\n"
        ),
    }
    assert errors(BASE, templates) == [
        "templates/hello/en.yaml:3:7: templates cannot use 'include'; each file stands alone",
        "templates/hello/en.yaml:4:11: '__class__': names starting with '_' are not allowed",
    ]


def test_every_template_needs_the_default_locale() -> None:
    templates = {**TEMPLATES, "templates/extra/sv.yaml": "subject: a\ntext: b\n"}
    assert errors(BASE, templates) == [
        "templates/extra/sv.yaml:1:1: template 'extra' has no en version, which every customer "
        "falls back to; add templates/extra/en.yaml"
    ]


def test_template_keys_are_checked() -> None:
    templates = {**TEMPLATES, "templates/bye/en.yaml": "subjet: Bye\ntext: Bye\n"}
    assert errors(BASE, templates) == [
        "templates/bye/en.yaml:1:1: missing 'subject'; a template needs subject and text",
        "templates/bye/en.yaml:1:1: unknown key 'subjet' in a template; did you mean 'subject'?",
    ]


def test_a_template_that_fails_to_render_is_caught_at_validation() -> None:
    templates = {
        **TEMPLATES,
        "templates/hello/en.yaml": "subject: Hi\ntext: |\n  ok\n  {{ orders_count + 'x' }}\n",
    }
    found = errors(BASE, templates)
    assert len(found) == 1
    assert found[0].startswith(
        "templates/hello/en.yaml:4:7: text fails to render for a sample customer of campaign "
        "'demo': unsupported operand type"
    )


# -- steps that can never run -----------------------------------------------------------


def test_a_step_after_stop_can_never_run() -> None:
    campaign = BASE + "  - stop\n  - wait: 1d\n  - send: bye\n"
    assert errors(campaign) == [
        "c.yaml:7:5: this step can never run: every path before it ends with 'stop' (line 6); "
        "remove it or move it before the stop"
    ]


def test_a_branch_whose_condition_is_always_false_can_never_run() -> None:
    campaign = BASE + "  - wait: 1d\n  - if: 1 > 2\n    then:\n      - send: bye\n"
    assert errors(campaign) == [
        "c.yaml:9:9: this step can never run: the condition on line 7 is always false; fix "
        "the condition or remove the if"
    ]


def _branches(condition: str) -> str:
    return (
        BASE
        + f"  - wait: 1d\n  - if: {condition}\n    then:\n      - send: bye\n"
        + "    else:\n      - send: hello\n"
    )


def test_a_then_branch_behind_a_contradiction_can_never_run() -> None:
    assert errors(_branches("orders_count > 5 and orders_count < 2")) == [
        "c.yaml:9:9: this step can never run: the condition on line 7 is always false "
        "('orders_count > 5' and 'orders_count < 2' cannot both hold for any orders_count); "
        "fix the condition or remove the if"
    ]


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("orders_count > 5 and orders_count <= 5", "'orders_count > 5' and 'orders_count <= 5'"),
        # either way round, nested, with unrelated comparisons between them
        (
            "3 > orders_count and (lifetime_value > 3 and orders_count >= 3)",
            "'3 > orders_count' and 'orders_count >= 3'",
        ),
        ("orders_count == 2 and orders_count > 4", "'orders_count == 2' and 'orders_count > 4'"),
        (
            "days_since_last_order > 30d and days_since_last_order < 10",
            "'days_since_last_order > 30d' and 'days_since_last_order < 10'",
        ),
    ],
)
def test_numeric_contradictions_joined_by_and(condition: str, reason: str) -> None:
    (found,) = errors(_branches(condition))
    assert found.startswith("c.yaml:9:9: this step can never run: the condition on line 7 ")
    assert f"always false ({reason} cannot both hold for any " in found


def test_an_else_branch_behind_or_true_can_never_run() -> None:
    assert errors(_branches("orders_count >= 0 or true")) == [
        "c.yaml:11:9: this step can never run: the condition on line 7 is always true "
        "('or true' makes it true for everyone); fix the condition or remove the else part"
    ]


def test_not_turns_a_contradiction_into_an_else_that_never_runs() -> None:
    assert errors(_branches("not (orders_count > 5 and orders_count < 2)")) == [
        "c.yaml:11:9: this step can never run: the condition on line 7 is always true "
        "('orders_count > 5' and 'orders_count < 2' cannot both hold for any orders_count); "
        "fix the condition or remove the else part"
    ]


def test_and_false_folds_too() -> None:
    assert errors(_branches("stage == lapsed and (false or 1 > 2)")) == [
        "c.yaml:9:9: this step can never run: the condition on line 7 is always false "
        "('false or 1 > 2' is always false, so the whole 'and' is false); fix the condition "
        "or remove the if"
    ]


@pytest.mark.parametrize(
    "condition",
    [
        "orders_count >= 5 and orders_count <= 5",  # exactly 5
        "orders_count > 5 or orders_count < 2",
        "orders_count > 5 and lifetime_value < 2",  # different attributes
        "orders_count > 5 or false",
    ],
)
def test_conditions_that_can_go_either_way_pass(condition: str) -> None:
    valid(_branches(condition))


def test_steps_after_an_if_that_stops_on_every_path_can_never_run() -> None:
    campaign = (
        BASE
        + "  - wait: 1d\n  - if: orders_count > 1\n    then: [stop]\n    else: [stop]\n"
        + "  - send: bye\n"
    )
    assert errors(campaign) == [
        "c.yaml:10:5: this step can never run: every path before it ends with 'stop' "
        "(line 7); remove it or move it before the stop"
    ]


def test_two_sends_without_a_wait_between_them() -> None:
    campaign = BASE + "  - if: orders_count > 1\n    then:\n      - send: bye\n"
    assert errors(campaign) == [
        "c.yaml:8:9: this send follows the send on line 5 with no wait between them; a "
        "customer gets at most one message at a time, so add a wait (e.g. '- wait: 1d') "
        "before it"
    ]


def test_a_wait_with_nothing_after_it() -> None:
    assert errors(BASE + "  - wait: 3d\n") == [
        "c.yaml:6:5: nothing is sent after this wait, so it only delays the end of the "
        "journey; remove it (to keep customers from entering again, use reentry.after)"
    ]


def test_a_campaign_that_never_sends() -> None:
    assert errors(BASE.replace("  - send: hello\n", "  - stop\n")) == [
        "c.yaml:5:3: this campaign never sends anything; add a '- send: TEMPLATE' step"
    ]


def test_unknown_step() -> None:
    assert errors(BASE + "  - wiat: 2d\n") == [
        "c.yaml:6:5: unknown step 'wiat'; did you mean 'wait'?"
    ]


def test_all_errors_of_all_files_come_together() -> None:
    with pytest.raises(CampaignErrors) as caught:
        compile_campaigns(
            {
                "a.yaml": BASE.replace("first_order", "first_ordr"),
                "b.yaml": BASE.replace("demo", "other").replace("hello", "nope"),
            },
            {**TEMPLATES, "templates/bye/en.yaml": "subject: '{{ nme }}'\ntext: x\n"},
        )
    assert [(e.file, e.line) for e in caught.value.errors] == [
        ("a.yaml", 3),
        ("b.yaml", 5),
        ("templates/bye/en.yaml", 1),
    ]
