"""Per-customer prediction costs, measured side by side in one run (the machine is shared).

    .venv/bin/python -m benchmarks.predictions [--customers 300]

Builds states from the demo's traffic with the churn and spend models on, then times, per
call over those states:

1. ``p_alive`` (the churn model's one closed form) next to ``predicted_clv`` (12 monthly
   BG/NBD expectations and the Gamma-Gamma spend) and ``expected_next_order_at``;
2. one activity added to the hour-of-week profile: the usual case (no decay due, one entry
   updated) next to the rebuild a new decay period takes;
3. choosing a best-time send over a 24-hour window.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from lifecycle.campaigns.context import QuietHours
from lifecycle.campaigns.journeys.send_time import best_send_time
from lifecycle.config import ChurnModelConfig, EngineConfig, SpendModelConfig
from lifecycle.customer import apply, record_activity
from lifecycle.events import parse_event
from lifecycle.localtime import zone
from lifecycle.prediction import churn_p_alive, expected_next_order_at, predicted_clv
from lifecycle.state import CustomerState
from streams.dev.traffic import generate


def _per_call(calls: list[Callable[[], object]], rounds: int = 3) -> float:
    """Best of ``rounds`` of the mean microseconds per call."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for call in calls:
            call()
        best = min(best, (time.perf_counter() - start) / len(calls) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    args = parser.parse_args()
    cfg = EngineConfig(churn=ChurnModelConfig(enabled=True), spend=SpendModelConfig(enabled=True))
    end = datetime(2026, 6, 1, tzinfo=UTC)
    states: dict[str, CustomerState] = {}
    for item in generate(end, args.customers, seed=5):
        event = parse_event(json.dumps(item.event).encode())
        state = states.get(event.customer_id) or CustomerState.new(event.customer_id)
        states[event.customer_id], _ = apply(state, event, cfg)
    buyers = [s for s in states.values() if s.orders.count]
    now = end + timedelta(days=1)
    print(f"predictions: {len(buyers)} customers with orders ({len(states)} in all)")

    alive = _per_call([lambda s=s: churn_p_alive(s, now, cfg.churn) for s in buyers])
    clv = _per_call([lambda s=s: predicted_clv(s, now, cfg.churn, cfg.spend) for s in buyers])
    nxt = _per_call([lambda s=s: expected_next_order_at(s, cfg.churn) for s in buyers])
    print(f"  p_alive                     {alive:8.2f} us/call")
    print(f"  predicted_clv (12 months)   {clv:8.2f} us/call   {clv / alive:5.1f}x p_alive")
    print(f"  expected_next_order_at      {nxt:8.2f} us/call   {nxt / alive:5.1f}x p_alive")

    profiled = [s for s in states.values() if s.active_hours]
    sizes = sorted(len(s.active_hours) for s in profiled)
    half = cfg.send_time.half_life_days

    def add(state: CustomerState, days: int) -> Callable[[], object]:
        tz = zone(state.profile.timezone, cfg.fallback_timezone)
        local = (now + timedelta(days=days)).astimezone(tz)
        return lambda: record_activity(
            state.active_hours, state.active_hours_period, local, half_life_days=half
        )

    # The same period as the profile (usual) versus a later one (decay, rebuild).
    usual = _per_call(
        [add(s, s.active_hours_period * half - now.toordinal() + 1) for s in profiled]
    )
    rebuild = _per_call([add(s, 400) for s in profiled])
    print(
        f"activity profile: {len(profiled)} customers, median {sizes[len(sizes) // 2]} "
        f"hours held (at most 168)"
    )
    print(f"  add one activity, usual     {usual:8.2f} us/call")
    print(f"  add one activity, decaying  {rebuild:8.2f} us/call   {rebuild / usual:5.1f}x")
    quiet = QuietHours()
    choose = _per_call(
        [
            lambda s=s: best_send_time(
                s,
                now,
                timedelta(hours=24),
                zone(s.profile.timezone, cfg.fallback_timezone),
                cfg.send_time,
                quiet=quiet,
                category="marketing",
            )
            for s in profiled
        ]
    )
    print(f"  choose a best time (24h)    {choose:8.2f} us/call")


if __name__ == "__main__":
    main()
