"""Message templates: loaded and checked once, rendered per customer in a Jinja2 sandbox.

:func:`load_templates` reads every template and layout (syntax, no file access, only
known variables) into a :class:`TemplateSet`; :meth:`TemplateSet.render` renders one
message for a locale, with the variables :func:`message_variables` builds from a
customer's state. The rules are in :mod:`~lifecycle.campaigns.templates.template_set`.
"""

from lifecycle.campaigns.templates.locale_gaps import locale_gaps
from lifecycle.campaigns.templates.parts import AttributeUse, LocalizedTemplate, Part
from lifecycle.campaigns.templates.personalise import message_variables
from lifecycle.campaigns.templates.render import RenderedMessage, TemplateFailure
from lifecycle.campaigns.templates.template_set import (
    LANGUAGE_ALIASES,
    LAYOUT_KEYS,
    LAYOUT_NAME,
    TEMPLATE_KEYS,
    TemplateSet,
    load_templates,
    locale_chain,
)
from lifecycle.campaigns.templates.variables import TEMPLATE_VARIABLES

__all__ = [
    # Loading
    "LAYOUT_KEYS",
    "LAYOUT_NAME",
    "TEMPLATE_KEYS",
    "TemplateSet",
    "load_templates",
    # What a loaded template reads, per locale
    "AttributeUse",
    "LocalizedTemplate",
    "Part",
    "LANGUAGE_ALIASES",
    "locale_chain",
    "locale_gaps",
    # Rendering
    "TEMPLATE_VARIABLES",
    "RenderedMessage",
    "TemplateFailure",
    "message_variables",
]
