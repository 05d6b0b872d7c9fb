"""Adaptive splits: variant shares moved toward the better converting variant by Thompson
sampling, recomputed on a fixed event-time schedule, with a floor per variant and the
control share never touched.

The arithmetic is a pure function of (campaign, counts), so whoever holds the same
counts computes the same shares, bit for bit:

* **Windows.** Time is cut into windows of ``split.adaptive.every`` (12h by default) on a
  grid from the Unix epoch: window ``k`` is ``[k * every, (k + 1) * every)``. Shares are
  fixed for a whole window.
* **Counts.** Per variant, the entries treated (their first send opened the conversion
  window) and the conversions, both as the tally counts them. The shares of window ``k``
  use the counts *dated before the start of window k - 1*: a full window of settling
  time, so work that runs a little late (a tick, a late event) still counts where it
  belongs. The caller keeps the counts (:mod:`lifecycle.processing.allocation`).
* **Thompson sampling.** Each variant's conversion rate has the posterior
  Beta(1 + conversions, 1 + treated - conversions). The share a variant earns is its
  probability of being the best, estimated from ``DRAWS`` joint draws. The draws are not
  random: their uniforms come from NumPy's PCG64 bit stream (``random_raw``, whose
  output NumPy keeps stable across versions) seeded with SHA-256 of (salt, counts), and
  go through the Beta quantile function (``scipy.special.betaincinv``). The same
  evidence therefore always gives the same shares, in any window, so results are cached
  (a few milliseconds each: a window in which nothing new was counted costs nothing).
* **Floor and control.** Control keeps exactly its configured share (the holdout
  comparison stays a fixed-probability randomisation). Of the rest, every variant gets
  ``floor`` first; what is left is shared in proportion to P(best). Shares are whole
  basis points that add up to the variants' total exactly (largest remainder, ties to
  the earlier variant).
* **Before any data** (no variant has a treated entry yet) the configured shares hold.

A customer's variant is still a hash bucket (:mod:`~lifecycle.campaigns.journeys.assignment`)
walked over the shares in force at their entry; a running journey keeps its variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple, Protocol

import numpy as np
from scipy.special import betaincinv

from lifecycle.campaigns.model import Campaign, Split, Variant

__all__ = [
    "DRAWS",
    "Allocations",
    "ArmCounts",
    "WeightsInForce",
    "adaptive_weights",
    "best_arm_probabilities",
    "window_index",
    "window_start",
]

#: Joint posterior draws per reweighting: P(best) to about ±0.008 (one standard error).
DRAWS = 4000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ArmCounts(NamedTuple):
    treated: int = 0
    converted: int = 0

    def plus(self, other: ArmCounts) -> ArmCounts:
        return ArmCounts(self.treated + other.treated, self.converted + other.converted)


class WeightsInForce(NamedTuple):
    """The shares one window uses, and what they were computed from."""

    window: int
    variants: tuple[Variant, ...]
    #: Counts dated before ``settled_before`` (the start of the window before).
    counts: Mapping[str, ArmCounts]


class Allocations(Protocol):
    """Where a moment gets an adaptive campaign's shares (one partition's ledger)."""

    #: The partition whose counts these are (reported with the shares).
    partition: int

    def weights_in_force(self, campaign: Campaign, now: datetime) -> tuple[WeightsInForce, bool]:
        """The shares in force at ``now``, and True when this call fixed them."""
        ...


def window_index(at: datetime, every: timedelta) -> int:
    return (at - _EPOCH) // every


def window_start(index: int, every: timedelta) -> datetime:
    return _EPOCH + index * every


def _uniforms(salt: str, evidence: str, shape: tuple[int, int]) -> np.ndarray:
    digest = hashlib.sha256(f"adaptive\x1f{salt}\x1f{evidence}".encode()).digest()
    stream = np.random.PCG64(int.from_bytes(digest[:16], "big"))
    raw = stream.random_raw(shape[0] * shape[1])
    # 53 high bits, centred in their cell: strictly inside (0, 1).
    return (((raw >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53).reshape(shape)


def best_arm_probabilities(
    counts: Mapping[str, ArmCounts], names: tuple[str, ...], *, salt: str
) -> tuple[float, ...]:
    """P(variant is the best) under independent Beta posteriors, from ``DRAWS`` draws."""
    evidence = tuple(counts.get(n, ArmCounts()) for n in names)
    return _probabilities(evidence, salt)


@lru_cache(maxsize=4096)
def _probabilities(evidence: tuple[ArmCounts, ...], salt: str) -> tuple[float, ...]:
    alpha = np.array([1.0 + arm.converted for arm in evidence])
    beta = np.array([1.0 + max(arm.treated - arm.converted, 0) for arm in evidence])
    seed_text = ";".join(f"{arm.treated},{arm.converted}" for arm in evidence)
    samples = betaincinv(alpha, beta, _uniforms(salt, seed_text, (DRAWS, len(evidence))))
    best = np.argmax(samples, axis=1)  # ties go to the earlier variant
    wins = np.bincount(best, minlength=len(evidence))
    return tuple(float(w) / DRAWS for w in wins)


def adaptive_weights(split: Split, counts: Mapping[str, ArmCounts]) -> tuple[Variant, ...]:
    """The variants with their shares (basis points of all customers) for these counts."""
    assert split.adaptive is not None, "a fixed split has no adaptive weights"
    names = split.names
    if not any(counts.get(n, ArmCounts()).treated for n in names):
        return split.variants
    room = sum(v.weight for v in split.variants)  # everything outside control
    floor = split.adaptive.floor
    spare = room - floor * len(names)
    probabilities = best_arm_probabilities(counts, names, salt=split.salt)
    exact = [floor + spare * p for p in probabilities]
    whole = [int(x) for x in exact]
    short = room - sum(whole)
    # Largest remainder first; on equal remainders the earlier variant.
    order = sorted(range(len(names)), key=lambda i: (-(exact[i] - whole[i]), i))
    for i in order[:short]:
        whole[i] += 1
    return tuple(Variant(name=n, weight=w) for n, w in zip(names, whole, strict=True))
