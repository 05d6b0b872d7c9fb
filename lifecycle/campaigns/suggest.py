"""Did-you-mean hints: the closest valid name to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["nearest"]


def nearest(name: str, options: Sequence[str]) -> str | None:
    """The closest valid name, for "did you mean" hints."""
    matches = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None
