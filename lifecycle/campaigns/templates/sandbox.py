"""The Jinja2 sandboxes templates run in, and the built-in HTML frame.

Both environments are immutable sandboxes with :class:`~jinja2.StrictUndefined` (a
misspelt variable is an error, never an empty string); the HTML one autoescapes. A
known variable without a value renders as nothing.

They are also bounded (:mod:`~lifecycle.campaigns.templates.limits`): every operator is
intercepted (so Jinja's optimizer folds none of them at load time, and each is checked
before it builds its result), every call goes through the budget, string methods that
only amplify are refused, filters and globals are the bounded ones, and
:func:`compile_bounded` routes loops, output, ``~`` and comparisons through the budget
before a template is compiled. Templates compiled any other way are not bounded.
"""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lifecycle.campaigns.templates.filters import FILTERS
from lifecycle.campaigns.templates.limits import (
    bound_tree,
    bounded_filters,
    bounded_globals,
    checked_binop,
    checked_call,
    checked_unop,
    unsafe_string_method,
)

__all__ = ["DEFAULT_HTML_LAYOUT", "HTML_ENV", "TEXT_ENV", "BoundedSandbox", "compile_bounded"]


def _finalize(value: Any) -> Any:
    # A known variable without a value renders as nothing, not as "None".
    return "" if value is None else value


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits of :mod:`.limits`."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return checked_binop(operator, left, right)

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        return checked_unop(operator, arg)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return not unsafe_string_method(obj, attr) and super().is_safe_attribute(obj, attr, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        def run(obj: Any, *a: Any, **k: Any) -> Any:
            return ImmutableSandboxedEnvironment.call(__self, __context, obj, *a, **k)

        return checked_call(run, __obj, *args, **kwargs)


def _environment(autoescape: bool) -> BoundedSandbox:
    env = BoundedSandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters = bounded_filters({**env.filters, **FILTERS})
    env.globals = bounded_globals(env.globals)
    return env


def compile_bounded(env: BoundedSandbox, tree: nodes.Template | str) -> jinja2.Template:
    """A template from a parsed tree (or source), with the budget filters in place."""
    parsed = env.parse(tree) if isinstance(tree, str) else tree
    return env.from_string(bound_tree(parsed, env))


TEXT_ENV = _environment(autoescape=False)
HTML_ENV = _environment(autoescape=True)

DEFAULT_HTML_LAYOUT = compile_bounded(
    HTML_ENV,
    """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f4">
<div style="max-width:600px;margin:0 auto;padding:24px;background:#ffffff;\
font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#222222">
{{ content }}
</div>
</body>
</html>
""",
)
