"""One partition's counts for adaptive splits, and the shares they give each window.

The worker is partitioned by customer and a partition sees only its own customers, so
each partition learns from its own counts: an :class:`AllocationLedger` per partition,
kept in the same bytes store as the due index (``alloc:<partition>:...`` keys, in the
partition's changelog). ``lifecycle replay`` keeps one ledger per partition too and puts
each customer in the partition the worker's producer puts them in
(:func:`partition_for`, Kafka's default murmur2 partitioner over the customer id), so it
reproduces each partition's counts, and so its shares, exactly. With ``P`` partitions
every partition learns from about 1/P of the traffic: fine for the volumes a shop
reweights on, and the price of deciding without any cross-partition coordination.

What the ledger keeps, per adaptive campaign:

* ``settled``: the treated entries and conversions per variant dated before the start of
  window ``until``; ``pending:<w>``: those dated in window ``w >= until``. Facts are
  dated by the outcome that counted them (the customer's clock).
* ``fixed``: the shares of the last few windows, fixed the first time a moment of that
  window needed them, from the counts settled before the window before it (see
  :mod:`lifecycle.campaigns.journeys.adaptive`); fixing first settles the pending
  windows up to there.

Failure windows, where the worker and a replay of the same history can differ:

* Work that reaches the partition more than one window late in event time: a count
  dated before window ``k - 1`` that arrives after window ``k``'s shares were fixed is
  added to the next window still pending, so it counts from the next reweighting on
  (a replay, in event-time order, would have counted it in time). Ticks and shop events
  running more than ``reweight_every`` (12h by default) behind are that case.
* A moment more than ``KEEP_WINDOWS`` windows older than the newest fixed one gets the
  oldest shares kept.
* A crash between the ledger's writes and the state's write (two changelogs) can count a
  treatment or conversion twice when the input is processed again.
* Changing the number of partitions moves customers and starts new counts where they land.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from lifecycle.campaigns import (
    CONTROL,
    ArmCounts,
    Campaign,
    CampaignSet,
    Variant,
    WeightsInForce,
    adaptive_weights,
    window_index,
)
from lifecycle.kv import BytesStore
from lifecycle.state import Fact

__all__ = ["KEEP_WINDOWS", "AllocationLedger", "murmur2", "partition_for"]

#: Fixed shares kept per campaign (at 12h windows: four days).
KEEP_WINDOWS = 8
#: The tally's codes for an entry's first treatment and its conversion.
_TREATED, _CONVERTED = "jt", "jc"


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``) as an unsigned
    32-bit value, the hash its default partitioner and aiokafka's use for keyed records."""
    length = len(data)
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(customer_id: str, partitions: int) -> int:
    """The partition of the customer-events topic a customer's records go to."""
    return partition_of_key(customer_id.encode(), partitions)


def partition_of_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record with ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class AllocationLedger:
    """The adaptive splits' counts and fixed shares of one partition."""

    def __init__(self, store: BytesStore, partition: int) -> None:
        self.store = store
        self.partition = partition

    def _key(self, campaign_id: str, part: str) -> bytes:
        return f"alloc:{self.partition}:{campaign_id}:{part}".encode()

    def _get(self, key: bytes) -> Any:
        raw = self.store.get(key)
        return None if raw is None else json.loads(raw)

    def _put(self, key: bytes, value: Any) -> None:
        self.store.put(key, json.dumps(value, separators=(",", ":"), sort_keys=True).encode())

    # -- counting ----------------------------------------------------------------------

    def count_facts(self, campaigns: CampaignSet, facts: tuple[Fact, ...], at: datetime) -> None:
        """Add an outcome's treated entries and conversions of adaptive splits' variants."""
        for fact in facts:
            if fact[0] not in (_TREATED, _CONVERTED):
                continue
            campaign = campaigns.by_id.get(str(fact[2]))
            variant = str(fact[3])
            if campaign is None or campaign.split.adaptive is None or variant == CONTROL:
                continue
            self.add(campaign, variant, at, ArmCounts(*((1, 0) if fact[0] == _TREATED else (0, 1))))

    def add(self, campaign: Campaign, variant: str, at: datetime, counts: ArmCounts) -> None:
        assert campaign.split.adaptive is not None
        window = window_index(at, campaign.split.adaptive.every)
        settled_key = self._key(campaign.id, "settled")
        settled = self._get(settled_key)
        if settled is None:
            settled = {"until": window, "arms": {}}
            self._put(settled_key, settled)
        # Too late for its own window: it counts in the first one not settled yet.
        window = max(window, int(settled["until"]))
        key = self._key(campaign.id, f"pending:{window}")
        pending = self._get(key) or {}
        pending[variant] = list(ArmCounts(*pending.get(variant, (0, 0))).plus(counts))
        self._put(key, pending)

    def _settle(self, campaign_id: str, before: int) -> dict[str, ArmCounts]:
        """The counts dated before window ``before``, folding pending windows in."""
        settled_key = self._key(campaign_id, "settled")
        settled = self._get(settled_key)
        if settled is None:
            return {}
        arms = {name: ArmCounts(*pair) for name, pair in settled["arms"].items()}
        until = int(settled["until"])
        if before <= until:
            return arms
        for window in range(until, before):
            key = self._key(campaign_id, f"pending:{window}")
            pending = self._get(key)
            if pending is None:
                continue
            for name, pair in pending.items():
                arms[name] = arms.get(name, ArmCounts()).plus(ArmCounts(*pair))
            self.store.delete(key)
        self._put(
            settled_key,
            {"until": before, "arms": {name: list(pair) for name, pair in arms.items()}},
        )
        return arms

    # -- shares ------------------------------------------------------------------------

    def weights_in_force(self, campaign: Campaign, now: datetime) -> tuple[WeightsInForce, bool]:
        adaptive = campaign.split.adaptive
        assert adaptive is not None, "only adaptive splits have a ledger"
        window = window_index(now, adaptive.every)
        fixed_key = self._key(campaign.id, "fixed")
        fixed: dict[str, Any] = self._get(fixed_key) or {}
        if str(window) in fixed:
            return _decode(window, fixed[str(window)]), False
        if fixed and window < min(int(w) for w in fixed):
            oldest = min(int(w) for w in fixed)
            return _decode(oldest, fixed[str(oldest)]), False
        counts = self._settle(campaign.id, window - 1)
        variants = adaptive_weights(campaign.split, counts)
        fixed[str(window)] = {
            "weights": [[v.name, v.weight] for v in variants],
            "counts": {name: list(pair) for name, pair in counts.items()},
        }
        for old in sorted(int(w) for w in fixed)[:-KEEP_WINDOWS]:
            del fixed[str(old)]
        self._put(fixed_key, fixed)
        return WeightsInForce(window, variants, counts), True


def _decode(window: int, stored: dict[str, Any]) -> WeightsInForce:
    variants = tuple(Variant(name=name, weight=int(weight)) for name, weight in stored["weights"])
    counts = {name: ArmCounts(*pair) for name, pair in stored["counts"].items()}
    return WeightsInForce(window, variants, counts)
