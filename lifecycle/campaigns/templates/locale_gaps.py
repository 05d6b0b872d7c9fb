"""Warnings for templates that lack a language other templates have.

A missing locale is not an error: customers fall back to the default locale, and a shop
may translate its campaigns one at a time. But it is easy to miss (Polish customers get
the English win-back while every other mail they get is Polish), so validation names it.
"""

from __future__ import annotations

from lifecycle.campaigns.templates.parts import LocalizedTemplate
from lifecycle.campaigns.templates.template_set import TemplateSet, locale_chain
from lifecycle.exceptions import CampaignError

__all__ = ["locale_gaps"]


def _falls_back(by_locale: dict[str, LocalizedTemplate], locale: str, default: str) -> bool:
    """True when a customer in ``locale`` would get the default-locale text."""
    chain = locale_chain(locale, default)
    default_key = chain[-1]
    return not any(key in by_locale for key in chain if key != default_key)


def locale_gaps(templates: TemplateSet) -> list[CampaignError]:
    """One ``warning:`` per template (and the layout) that lacks a locale others have.

    Anchored at the template's default-locale file, so ``FILE:1:1: warning: ...`` jumps
    to the folder the missing file belongs in.
    """
    every = {*templates.locales(), *(t.locale for t in templates.layouts.values())}
    (default_key,) = locale_chain(None, templates.default_locale)
    named = dict(templates.templates)
    if templates.layouts:
        named["layout"] = templates.layouts
    found: list[CampaignError] = []
    for name, by_locale in sorted(named.items()):
        anchor = by_locale.get(default_key) or min(by_locale.values(), key=lambda t: t.file)
        folder = anchor.file.replace("\\", "/").rsplit("/", 1)[0]
        for locale in sorted(every):
            if locale_chain(locale, templates.default_locale)[0] == default_key:
                continue
            if _falls_back(by_locale, locale, templates.default_locale):
                found.append(
                    CampaignError(
                        anchor.file,
                        1,
                        1,
                        f"warning: {name!r} has no {locale} version, which other templates "
                        f"have; {locale} customers get the {templates.default_locale} text. "
                        f"Add {folder}/{locale}.yaml",
                    )
                )
    return found
