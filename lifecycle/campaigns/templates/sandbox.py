"""The Jinja2 sandboxes templates run in, and the built-in HTML frame.

Both environments are immutable sandboxes with :class:`~jinja2.StrictUndefined` (a
misspelt variable is an error, never an empty string); the HTML one autoescapes. A
known variable without a value renders as nothing.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lifecycle.campaigns.templates.filters import FILTERS

__all__ = ["DEFAULT_HTML_LAYOUT", "HTML_ENV", "TEXT_ENV"]


def _finalize(value: Any) -> Any:
    # A known variable without a value renders as nothing, not as "None".
    return "" if value is None else value


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


TEXT_ENV = _environment(autoescape=False)
HTML_ENV = _environment(autoescape=True)

DEFAULT_HTML_LAYOUT = HTML_ENV.from_string(
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
"""
)
