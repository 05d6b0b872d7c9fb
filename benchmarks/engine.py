"""Engine benchmarks, measured side by side in one run (the machine is shared and noisy).

    .venv/bin/python -m benchmarks.engine [--customers 2000] [--tick-customers 100000]

Prints:
1. events/s through the engine (detection + campaigns) next to events/s through ``apply`` alone
   and through the state codec alone, with the ratios;
2. serialized state size per customer (median, p95, max) after a few months of traffic, with
   the shipped campaigns and without any;
3. one tick over N customers with a handful due: the due index against a full scan of the
   states, in state reads and in time, with the ratio;
4. the same traffic with the shipped win-back split fixed and made adaptive, events/s side by
   side, and the time one reweighting (Thompson draws for one window) takes.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from lifecycle.campaigns import ArmCounts, adaptive_weights, compile_campaigns
from lifecycle.config import EngineConfig, MilestoneConfig
from lifecycle.customer import apply
from lifecycle.events import Event, parse_event
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing import (
    DueIndex,
    Engine,
    MemoryStateStore,
    PartitionProcessor,
    Replay,
    sorted_history,
)
from lifecycle.state import CustomerState
from streams.campaign_files import read_campaign_dir
from streams.campaign_loading import load_campaign_set
from streams.dev.traffic import generate
from streams.settings import Settings


def _history(customers: int) -> list[Event]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    raw = [json.dumps(t.event).encode() for t in generate(now, customers, seed=3)]
    return sorted_history(parse_event(r) for r in raw)


def engine_throughput(customers: int) -> None:
    events = _history(customers)
    settings = Settings()
    campaigns = load_campaign_set(settings)
    engine = Engine(settings.engine, campaigns)

    start = time.perf_counter()
    replay = Replay(engine, tick=timedelta(hours=1))
    outputs = sum(1 for _ in replay.outcomes(events))
    full = time.perf_counter() - start

    start = time.perf_counter()
    states: dict[str, CustomerState] = {}
    for event in events:
        state = states.get(event.customer_id) or CustomerState.new(event.customer_id)
        states[event.customer_id], _ = apply(state, event, settings.engine)
    apply_only = time.perf_counter() - start

    start = time.perf_counter()
    for event in events:
        CustomerState.from_bytes(states[event.customer_id].to_bytes())
    codec = time.perf_counter() - start

    n = len(events)
    print(f"engine: {n} events, {customers} customers, campaigns {'on' if campaigns else 'off'}")
    print(
        f"  engine + due index + campaigns + codec  {n / full:10.0f} events/s  ({outputs} outcomes)"
    )
    print(f"  apply() alone                           {n / apply_only:10.0f} events/s")
    print(f"  state codec alone (decode + encode)     {n / codec:10.0f} events/s")
    print(f"  ratio engine / apply-only               {full / apply_only:10.2f}x the time")

    _print_state_sizes("with the campaigns", replay.states.data.values())
    # The same traffic without campaigns: journeys and send records are most of the difference.
    bare = Replay(Engine(settings.engine), tick=timedelta(hours=1))
    for _ in bare.outcomes(events):
        pass
    _print_state_sizes("without campaigns", bare.states.data.values())


def _print_state_sizes(label: str, values: Iterable[bytes]) -> None:
    sizes = sorted(len(raw) for raw in values)
    p95 = sizes[math.ceil(len(sizes) * 0.95) - 1]  # nearest rank
    print(
        f"state size per customer {label}: median {statistics.median(sizes):.0f} B, "
        f"p95 {p95} B, max {sizes[-1]} B, total {sum(sizes) / 1024:.0f} KiB "
        f"for {len(sizes)} customers"
    )


def tick_cost(total: int, due_now: int) -> None:
    cfg = EngineConfig(milestones=MilestoneConfig(no_order_after_signup_days=()))
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    states = MemoryStateStore()
    index = DueIndex(MemoryBytesStore(), partition=0)
    for n in range(total):
        due = t0 + (timedelta(minutes=n) if n < due_now else timedelta(days=30, seconds=n))
        state = CustomerState.new(f"c{n}")
        profile = state.profile.model_copy(update={"signed_up_at": due.replace(year=due.year - 1)})
        state = state.model_copy(update={"profile": profile, "clock": t0, "next_due_at": due})
        states.put(state)
        index.reschedule(state.customer_id, None, due)
    now = t0 + timedelta(hours=1)

    processor = PartitionProcessor(Engine(cfg), states, index)
    start = time.perf_counter()
    woken = [s.customer_id for s in processor.due_states(now)]
    indexed = time.perf_counter() - start
    reads = processor.tick_state_reads

    start = time.perf_counter()
    scanned = [
        s.customer_id
        for raw in states.data.values()
        if (s := CustomerState.from_bytes(raw)).next_due_at is not None and s.next_due_at <= now
    ]
    scan = time.perf_counter() - start
    assert sorted(woken) == sorted(scanned)
    print(f"tick over {total} customers, {due_now} due:")
    print(f"  due index   {reads:7d} state reads  {indexed * 1000:9.2f} ms")
    print(f"  full scan   {total:7d} state reads  {scan * 1000:9.2f} ms")
    print(f"  ratio       {total / reads:7.0f}x fewer reads, {scan / indexed:.0f}x faster")


def adaptive_cost(customers: int) -> None:
    events = _history(customers)
    settings = Settings()
    files = read_campaign_dir(settings.campaigns_dir)
    adaptive_sources = {
        path: text.replace("split:\n  control: 10%", "split:\n  mode: adaptive\n  control: 10%")
        for path, text in files.sources.items()
    }
    fixed = compile_campaigns(files.sources, files.templates)
    adaptive = compile_campaigns(adaptive_sources, files.templates)
    assert adaptive.by_id["winback"].split.adaptive is not None
    timings: dict[str, float] = {}
    allocations = 0
    # Interleaved, best of two each: the first pass also warms caches for both.
    for label, campaigns in [("fixed", fixed), ("adaptive", adaptive)] * 2:
        replay = Replay(Engine(settings.engine, campaigns), tick=timedelta(hours=1), partitions=8)
        start = time.perf_counter()
        fixed_windows = 0
        for outcome, _ in replay.outcomes(events):
            fixed_windows += sum(
                1 for o in outcome.outputs if o.to_record()["kind"] == "allocation"
            )
        seconds = time.perf_counter() - start
        timings[label] = min(seconds, timings.get(label, seconds))
        allocations = max(allocations, fixed_windows)
    n = len(events)
    print(f"win-back split fixed vs adaptive (8 partitions), {n} events:")
    for label, seconds in timings.items():
        print(f"  {label:9s} {n / seconds:10.0f} events/s")
    print(
        f"  ratio adaptive / fixed {timings['adaptive'] / timings['fixed']:.3f}x the time, "
        f"{allocations} windows fixed"
    )
    split = adaptive.by_id["winback"].split
    counts = {"gentle": ArmCounts(400, 31), "discount": ArmCounts(380, 42)}
    rounds = 50
    start = time.perf_counter()
    for extra in range(rounds):  # new evidence each time: no cached result
        adaptive_weights(split, counts | {"gentle": ArmCounts(400 + extra, 31)})
    each = (time.perf_counter() - start) / rounds
    print(f"  one reweighting (2 variants, 4000 draws) {each * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--tick-customers", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=12)
    args = parser.parse_args()
    engine_throughput(args.customers)
    tick_cost(args.tick_customers, args.due)
    adaptive_cost(args.customers)


if __name__ == "__main__":
    main()
