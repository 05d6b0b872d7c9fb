"""Adaptive splits: the pure Thompson allocation, the per-partition ledger, the options'
validation, and a closed loop through the replay engine that a second replay (and a
partition-by-partition run, as the worker would see it) reproduces exactly."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from aiokafka.partitioner import DefaultPartitioner

from lifecycle.campaigns import (
    CONTROL,
    AllocationRecord,
    ArmCounts,
    Variant,
    adaptive_weights,
    assign_variant,
    compile_campaigns,
    window_index,
    window_start,
)
from lifecycle.campaigns.model import Adaptive, Split
from lifecycle.config import EngineConfig
from lifecycle.events import Event
from lifecycle.exceptions import CampaignErrors
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing import AllocationLedger, Engine, Replay, murmur2, partition_for
from tests.factories import event

EVERY = timedelta(hours=12)


def split(*shares: int, control: int = 1000, floor: int = 500, salt: str = "s") -> Split:
    variants = tuple(Variant(name=f"v{i}", weight=w) for i, w in enumerate(shares))
    return Split(
        variants=variants, control=control, salt=salt, adaptive=Adaptive(every=EVERY, floor=floor)
    )


# -- the pure allocation --------------------------------------------------------------


def simulate(rates: list[float], windows: int, per_window: int, seed: int) -> list[list[int]]:
    """Entries allocated window by window with the shares in force, conversions drawn at
    ``rates`` (the test's own generator); the shares of each window, in basis points."""
    plan = split(*[9000 // len(rates)] * len(rates))
    rng = np.random.default_rng(seed)
    counts = {name: ArmCounts() for name in plan.names}
    history = []
    for _ in range(windows):
        shares = adaptive_weights(plan, counts)
        history.append([v.weight for v in shares])
        for variant, rate in zip(shares, rates, strict=True):
            treated = round(per_window * variant.weight / 9000)
            converted = int(rng.binomial(treated, rate))
            counts[variant.name] = counts[variant.name].plus(ArmCounts(treated, converted))
    return history


def test_shares_move_toward_the_better_converting_variant() -> None:
    history = simulate([0.04, 0.08], windows=30, per_window=400, seed=7)
    assert history[0] == [4500, 4500]  # no counts yet: the configured shares
    late = history[-10:]
    # the better arm ends with most of the traffic; the worse one keeps its floor
    assert all(better > 7000 for _, better in late), late
    assert all(worse >= 500 for worse, _ in history)
    assert sum(b for _, b in history) > 2 * sum(a for a, _ in history)


def test_three_variants_the_best_one_wins_and_every_floor_holds() -> None:
    history = simulate([0.05, 0.05, 0.12], windows=25, per_window=600, seed=3)
    assert history[-1][2] > max(history[-1][:2])
    assert history[-1][2] > 6000
    assert all(min(shares) >= 500 for shares in history)
    assert all(sum(shares) == 9000 for shares in history)


def test_floors_hold_against_overwhelming_evidence() -> None:
    plan = split(4500, 4500, floor=800)
    shares = adaptive_weights(plan, {"v0": ArmCounts(5000, 0), "v1": ArmCounts(5000, 2500)})
    assert [v.weight for v in shares] == [800, 8200]


def test_equal_evidence_gives_about_equal_shares() -> None:
    plan = split(6000, 3000)
    shares = adaptive_weights(plan, {"v0": ArmCounts(300, 30), "v1": ArmCounts(300, 30)})
    assert abs(shares[0].weight - shares[1].weight) < 300  # ±0.8% draw error each side
    assert sum(v.weight for v in shares) == 9000


def test_without_counts_the_configured_shares_hold() -> None:
    plan = split(6000, 3000)
    assert adaptive_weights(plan, {}) == plan.variants
    assert adaptive_weights(plan, {"v0": ArmCounts(0, 0)}) == plan.variants


def test_the_same_counts_give_the_same_shares_and_new_evidence_new_draws() -> None:
    counts = {"v0": ArmCounts(40, 3), "v1": ArmCounts(41, 5)}
    first = adaptive_weights(split(4500, 4500), counts)
    assert adaptive_weights(split(4500, 4500), dict(counts)) == first
    # the draws are seeded by the salt and the evidence
    assert adaptive_weights(split(4500, 4500, salt="other"), counts) != first
    nearby = []
    for more in range(1, 11):  # one more treated entry each time: fresh draws
        bumped = {"v0": ArmCounts(40 + more, 3), "v1": counts["v1"]}
        nearby.append(adaptive_weights(split(4500, 4500), bumped)[0].weight)
    assert len(set(nearby)) > 1
    # more non-converting entries for v0 only ever lower its share (up to draw noise)
    assert max(nearby) < first[0].weight + 200
    assert nearby[-1] < first[0].weight


def test_control_keeps_its_share_and_its_customers_whatever_the_weights() -> None:
    plan = split(4500, 4500)
    skewed = (Variant(name="v0", weight=500), Variant(name="v1", weight=8500))
    customers = [f"c-{i}" for i in range(20_000)]
    before = [assign_variant(plan, c) for c in customers]
    after = [assign_variant(plan, c, skewed) for c in customers]
    control_before = {c for c, v in zip(customers, before, strict=True) if v == CONTROL}
    control_after = {c for c, v in zip(customers, after, strict=True) if v == CONTROL}
    assert control_before == control_after
    assert abs(len(control_after) / len(customers) - 0.10) < 0.01
    assert abs(after.count("v1") / len(customers) - 0.85) < 0.01


def test_windows_are_a_grid_from_the_epoch() -> None:
    at = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    k = window_index(at, EVERY)
    assert window_start(k, EVERY) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert window_index(window_start(k, EVERY) - timedelta(microseconds=1), EVERY) == k - 1


# -- the ledger -----------------------------------------------------------------------

LEDGER_CAMPAIGN = """id: nudge
category: transactional
trigger: first_order
conversion: {event: order.placed, within: 7d}
split:
  mode: adaptive
  control: 10%
  variants: {plain: 45%, bold: 45%}
  reweight_every: 12h
  floor: 5%
steps:
  - send: {plain: t, bold: t}
"""
TEMPLATES = {"templates/t/en.yaml": "subject: Hello {{ variant }}\ntext: Hi\n"}


def test_a_window_uses_counts_settled_a_window_earlier_and_fixes_them_once() -> None:
    campaign = compile_campaigns({"campaigns/nudge.yaml": LEDGER_CAMPAIGN}, TEMPLATES).by_id[
        "nudge"
    ]
    ledger = AllocationLedger(MemoryBytesStore(), partition=3)
    start = window_start(window_index(datetime(2026, 3, 2, tzinfo=UTC), EVERY), EVERY)
    # window 0: ten treated bold entries, all converted; window 1: the same for plain
    for _ in range(10):
        ledger.add(campaign, "bold", start + timedelta(hours=1), ArmCounts(1, 1))
        ledger.add(campaign, "plain", start + EVERY + timedelta(hours=1), ArmCounts(1, 1))
    in_w1, fixed = ledger.weights_in_force(campaign, start + EVERY + timedelta(hours=2))
    assert fixed
    assert in_w1.counts == {}  # window 1 uses counts before window 0: none
    assert in_w1.variants == campaign.split.variants
    again, fixed_again = ledger.weights_in_force(campaign, start + EVERY + timedelta(hours=11))
    assert (again, fixed_again) == (in_w1, False)
    in_w2, _ = ledger.weights_in_force(campaign, start + 2 * EVERY)
    assert in_w2.counts == {"bold": ArmCounts(10, 10)}  # window 0 only
    assert dict((v.name, v.weight) for v in in_w2.variants)["bold"] > 7000
    # a count dated in window 0 that arrives now is too late for window 0: next pending
    ledger.add(campaign, "plain", start + timedelta(hours=2), ArmCounts(1, 0))
    in_w3, _ = ledger.weights_in_force(campaign, start + 3 * EVERY)
    assert in_w3.counts == {"bold": ArmCounts(10, 10), "plain": ArmCounts(11, 10)}


@pytest.mark.parametrize("partitions", [1, 2, 3, 12, 100])
def test_partition_for_is_the_producers_default_partitioner(partitions: int) -> None:
    partitioner = DefaultPartitioner()
    for i in range(300):
        key = f"c-{i}-ø{'x' * (i % 7)}"
        expected = partitioner(key.encode(), list(range(partitions)), list(range(partitions)))
        assert partition_for(key, partitions) == expected


def test_murmur2_matches_kafkas_known_values() -> None:
    from aiokafka.partitioner import murmur2 as reference

    for data in (b"", b"a", b"ab", b"abc", b"abcd", b"21", b"foobar", "ąęł".encode()):
        assert murmur2(data) == reference(data)


# -- validation -----------------------------------------------------------------------


def _errors(campaign_text: str) -> list[str]:
    try:
        compile_campaigns({"campaigns/nudge.yaml": campaign_text}, TEMPLATES)
    except CampaignErrors as exc:
        return [str(e) for e in exc.errors]
    return []


def test_the_shipped_example_compiles() -> None:
    assert _errors(LEDGER_CAMPAIGN) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  mode: adaptive\n",
            "  mode: adaptiv\n",
            "campaigns/nudge.yaml:6:9: unknown split mode 'adaptiv'; did you mean 'adaptive'?",
        ),
        (
            "conversion: {event: order.placed, within: 7d}\n",
            "",
            "campaigns/nudge.yaml:5:9: an adaptive split learns from conversions; add a goal, "
            "e.g. conversion: {event: order.placed, within: 14d}",
        ),
        (
            "  reweight_every: 12h\n",
            "  reweight_every: 30m\n",
            "campaigns/nudge.yaml:9:19: split.reweight_every must be between 1h and 7d",
        ),
        (
            "  floor: 5%\n",
            "  floor: 45%\n",
            "campaigns/nudge.yaml:10:10: a floor of 45% for each of 2 variants leaves nothing "
            "to adapt in the 90% outside control; lower the floor below 45%",
        ),
        (
            "  floor: 5%\n",
            "  floor: lots\n",
            "campaigns/nudge.yaml:10:10: split.floor",
        ),
        (
            "  variants: {plain: 45%, bold: 45%}\n",
            "  variants: {plain: 86%, bold: 4%}\n",
            "campaigns/nudge.yaml:6:3: variant 'bold' starts at 4%, below the floor of 5%; "
            "start every variant at or above it",
        ),
        (
            "  mode: adaptive\n",
            "  mode: fixed\n",
            "campaigns/nudge.yaml:9:19: reweight_every is an option of an adaptive split; "
            "add mode: adaptive",
        ),
        (
            "  variants: {plain: 45%, bold: 45%}\n",
            "  variants: {plain: 90%}\n",
            "campaigns/nudge.yaml:6:9: an adaptive split moves customers between variants; "
            "name at least two, e.g. variants: {a: 45%, b: 45%}",
        ),
    ],
)
def test_bad_adaptive_options_are_located_errors(old: str, new: str, expected: str) -> None:
    text = LEDGER_CAMPAIGN.replace(old, new)
    if "plain: 90%" in new:
        text = text.replace("{plain: t, bold: t}", "{plain: t}")
    assert text != LEDGER_CAMPAIGN
    errors = _errors(text)
    assert any(e.startswith(expected) for e in errors), errors


# -- a closed loop through the engine, replayed ----------------------------------------

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RATES = {"bold": 0.5, "plain": 0.1, CONTROL: 0.1}


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def _engine() -> Engine:
    campaigns = compile_campaigns({"campaigns/nudge.yaml": LEDGER_CAMPAIGN}, TEMPLATES)
    return Engine(EngineConfig(), campaigns)


def _arrivals(customers: int) -> list[Event]:
    found = []
    for i in range(customers):
        customer = f"c-{i}"
        at = BASE + timedelta(minutes=37 * i)
        found.append(
            event(
                "customer.signed_up",
                customer,
                at,
                event_id=f"{customer}-s",
                email=f"{customer}@example.com",
            )
        )
        found.append(
            event("order.placed", customer, at + timedelta(minutes=5), event_id=f"{customer}-o1")
        )
    return found


def closed_loop(customers: int, partitions: int) -> tuple[list[Event], list[dict[str, Any]]]:
    """Customers arrive and place a first order; whoever is sent the campaign orders
    again a day later with their variant's probability (the shop's reaction). Returns the
    history this produced and every record, in processing order."""
    queue: list[tuple[datetime, int, Event]] = []
    for n, item in enumerate(_arrivals(customers)):
        heapq.heappush(queue, (item.occurred_at, n, item))
    counter = len(queue)

    def feed() -> Iterator[Event]:
        while queue:
            yield heapq.heappop(queue)[2]

    history: list[Event] = []
    records: list[dict[str, Any]] = []
    replay = Replay(_engine(), partitions=partitions)
    for outcome, cause in replay.outcomes(feed()):
        if cause is not None:
            history.append(cause)
        for output in outcome.outputs:
            records.append(output.to_record())
            treated = output.to_record().get("outcome") in ("send", "holdout")
            if treated and _unit(output.customer_id) < RATES[output.variant]:
                customer = output.customer_id
                again = event(
                    "order.placed",
                    customer,
                    output.at + timedelta(days=1),
                    event_id=f"{customer}-o2",
                )
                counter += 1
                heapq.heappush(queue, (again.occurred_at, counter, again))
    return history, records


def _replayed(history: list[Event], partitions: int) -> list[dict[str, Any]]:
    replay = Replay(_engine(), partitions=partitions)
    return [o.to_record() for outcome, _ in replay.outcomes(history) for o in outcome.outputs]


def test_replay_reproduces_the_adaptive_shares_and_every_assignment() -> None:
    history, live = closed_loop(customers=240, partitions=2)
    allocations = [r for r in live if r["kind"] == "allocation"]
    assert {r["partition"] for r in allocations} == {0, 1}
    late = [r for r in allocations if r["window_start"] >= "2026-03-05"]
    assert late
    assert all(r["weights"]["bold"] > r["weights"]["plain"] for r in late), late
    assert all(r["control"] == 0.1 for r in allocations)
    assert _replayed(history, partitions=2) == live
    # With another partition count the counts split differently: the shares differ.
    other = [r for r in _replayed(history, partitions=3) if r["kind"] == "allocation"]
    assert {r["partition"] for r in other} == {0, 1, 2}


def test_each_partition_on_its_own_decides_what_the_whole_replay_decided() -> None:
    # The worker runs partitions independently and in any interleaving: run each
    # partition's customers alone (all of partition 0 first), as two workers would.
    history, live = closed_loop(customers=160, partitions=2)
    by_partition: list[dict[str, Any]] = []
    for partition in range(2):
        mine = [e for e in history if partition_for(e.customer_id, 2) == partition]
        by_partition.extend(_replayed(mine, partitions=2))
    key = lambda r: (r["customer_id"], r["at"], r["kind"], r.get("step", 0), r.get("action", ""))  # noqa: E731
    assert sorted(by_partition, key=key) == sorted(live, key=key)


def test_allocation_records_say_which_weights_held_when() -> None:
    _, live = closed_loop(customers=120, partitions=1)
    allocations = [r for r in live if r["kind"] == "allocation"]
    starts = [r["window_start"] for r in allocations]
    assert starts == sorted(set(starts))  # one per window, in order
    for record in allocations:
        start = datetime.fromisoformat(record["window_start"])
        assert datetime.fromisoformat(record["window_end"]) - start == EVERY
        assert datetime.fromisoformat(record["settled_before"]) == start - EVERY
        assert start <= datetime.fromisoformat(record["at"]) < start + EVERY
        assert sum(record["weights"].values()) == pytest.approx(0.9)
    entered = [r for r in live if r["kind"] == "journey" and r["action"] == "entered"]
    assert len(entered) == 120
    assert isinstance(AllocationRecord, type)


def test_the_report_says_which_shares_were_in_force_when() -> None:
    from lifecycle.measurement import Totals
    from lifecycle.measurement.report import CampaignInfo, build_report, report_data
    from lifecycle.measurement.report_html import render_html
    from lifecycle.measurement.report_text import render_text

    history, live = closed_loop(customers=200, partitions=2)
    totals = Totals()
    for outcome, _ in Replay(_engine(), partitions=2).outcomes(history):
        if not outcome.duplicate:
            totals.add_facts(outcome.state.facts)
    info = CampaignInfo(
        "nudge", "Nudge", {"plain": 4500.0, "bold": 4500.0, CONTROL: 1000.0}, adaptive=True
    )
    (result,) = build_report(totals.values, [info]).campaigns
    # every window's mean share over the partitions that fixed it, from the records
    by_window: dict[str, list[dict[str, float]]] = {}
    for record in live:
        if record["kind"] == "allocation":
            by_window.setdefault(record["window_start"], []).append(record["weights"])
    assert [w.window for w in result.shares] == sorted(by_window)
    for window in result.shares:
        fixed = by_window[window.window]
        assert window.partitions == len(fixed)
        for variant in ("plain", "bold"):
            mean = sum(w[variant] for w in fixed) / len(fixed)
            assert window.shares[variant] == pytest.approx(mean)
    assert result.shares[-1].shares["bold"] > result.shares[-1].shares["plain"]
    # the sample-ratio check tests control's fixed share only, so moved shares are no SRM
    assert result.experiment is not None
    assert not result.experiment.sample_ratio.mismatch
    assert any("adaptive split" in note for note in result.notes)
    text = render_text(build_report(totals.values, [info]))
    assert "Adaptive shares in force" in text
    latest = result.shares[-1]
    assert f"{latest.window[:16].replace('T', ' ')}  " in text
    data = report_data(build_report(totals.values, [info]))
    assert data["campaigns"][0]["shares"][-1]["shares"]["bold"] == pytest.approx(
        latest.shares["bold"]
    )
    html = render_html(build_report(totals.values, [info]))
    assert f'data-path="campaigns.0.shares.{len(result.shares) - 1}.shares.bold"' in html
