"""A/B assignment: a deterministic hash of (campaign salt, customer id) -> variant.

The bucket depends on nothing else: not on other campaigns, not on the order customers
arrive in, not on the process (SHA-256, never Python's randomised ``hash()``). So a
customer keeps their variant across restarts, replays and re-entries, and adding or
editing another campaign moves nobody. Changing a campaign's own shares (or ``salt``)
reassigns customers who enter afterwards; journeys already running keep their variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lifecycle.campaigns.model import CONTROL, Split, Variant

__all__ = ["BUCKETS", "assign_variant", "bucket"]

#: Buckets are basis points: shares can be given to 0.01%.
BUCKETS = 10_000


def bucket(salt: str, customer_id: str) -> int:
    """A number in ``[0, BUCKETS)``, uniform over customers."""
    digest = hashlib.sha256(f"{salt}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign_variant(
    split: Split, customer_id: str, variants: Sequence[Variant] | None = None
) -> str:
    """``control`` for the first ``split.control`` buckets, then the variants in order.

    ``variants``: the shares in force (an adaptive split's current weights); they must
    add up to the same total as the split's own, so control's buckets never move.
    """
    point = bucket(split.salt, customer_id)
    if point < split.control:
        return CONTROL
    shares = split.variants if variants is None else variants
    edge = split.control
    for variant in shares:
        edge += variant.weight
        if point < edge:
            return variant.name
    return shares[-1].name  # unreachable when the shares add up to 100%
