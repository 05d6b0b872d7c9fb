"""The condition language of ``audience``, ``exit_when`` and ``if``: parsed once, never run as code.

:func:`parse_condition` checks a condition against the documented attributes (unknown
names are errors with the nearest valid one) and returns a :class:`Condition` that
evaluates over attribute values; :func:`fold` finds conditions whose value is known at
load time. The grammar is in :mod:`~lifecycle.campaigns.conditions.condition`.
"""

from lifecycle.campaigns.conditions.condition import (
    Condition,
    ConditionProblem,
    Reader,
    parse_condition,
)
from lifecycle.campaigns.conditions.folding import Folded, fold

__all__ = [
    # Parse and evaluate
    "Condition",
    "ConditionProblem",
    "Reader",
    "parse_condition",
    # Known at load time
    "Folded",
    "fold",
]
