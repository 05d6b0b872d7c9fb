"""Two workers against one over the same partitions: throughput, and no email sent twice.

The same mix (with a share of recent customers, so that some welcome and first-order
emails are decided recently and really sent, see :func:`~benchmarks.mix.generate`) is
processed by one worker, then, on fresh topics and under a fresh app id, by two worker
processes in one consumer group (each with its own data directory and web port). The
second worker is started once the first is ready, and the mix is produced only when both
answer ``/ready`` again, so the group has settled and each owns about half of the
partitions. Each run is timed like part (c): from the first event processed (the sum over
the group's ``/metrics``) to the last; the run then waits until every outbox record has
an outcome (sent, skipped as a duplicate, dead-lettered or expired).

The sink counts Message-IDs: a Message-ID accepted more than once is a duplicate send.
The set of Message-IDs of the two runs is compared too: a Message-ID is derived from the
decision (customer, campaign, step, cause), so both runs should send the same emails.

Every process shares the machine's cores: the broker, one or two workers, and this
benchmark with the sink. On 2 cores, a second worker has no core of its own, so the
ratio says what the group costs, not what a second machine would add.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from streams.dev.worker_process import WorkerProcess, wait_for

from .harness import (
    ROOT,
    create_source_topics,
    first_to_last_seconds,
    produce,
    worker_environment,
)
from .mix import MixRecord
from .sink import AcceptanceSink, Accepted, duplicates

__all__ = ["GroupRun", "measure_scale", "scale_report"]

_WATCHED = frozenset(
    {
        "lifecycle_events_processed_total",
        "lifecycle_outbox_published_total",
        "lifecycle_emails_sent_total",
        "lifecycle_emails_skipped_duplicate_total",
        "lifecycle_emails_dead_lettered_total",
        "lifecycle_emails_expired_total",
        "lifecycle_emails_expired_at_decision_total",
    }
)


@dataclass(frozen=True)
class GroupRun:
    workers: int
    seconds: float
    records: int
    processed_by: list[float]  # events processed by each worker
    accepted: list[Accepted]
    settled: bool  # every outbox record had an outcome before the deadline
    totals: dict[str, float]  # _WATCHED, summed over the group

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")

    @property
    def message_ids(self) -> set[str]:
        return {a.message_id for a in self.accepted}


async def _group_totals(workers: list[WorkerProcess]) -> list[dict[str, float]]:
    return list(await asyncio.gather(*(w.totals(_WATCHED) for w in workers)))


def _sum(per_worker: list[dict[str, float]], name: str) -> float:
    return sum(t[name] for t in per_worker)


async def _processed_sum(workers: list[WorkerProcess]) -> float:
    return _sum(await _group_totals(workers), "lifecycle_events_processed_total")


def _settled(per_worker: list[dict[str, float]]) -> bool:
    outcomes = sum(
        _sum(per_worker, name)
        for name in (
            "lifecycle_emails_sent_total",
            "lifecycle_emails_skipped_duplicate_total",
            "lifecycle_emails_dead_lettered_total",
            "lifecycle_emails_expired_total",
        )
    )
    return outcomes >= _sum(per_worker, "lifecycle_outbox_published_total")


async def run_group(
    bootstrap: str,
    prefix: str,
    mix: list[MixRecord],
    work: Path,
    *,
    workers: int,
    partitions: int,
    within: float,
) -> GroupRun:
    await create_source_topics(bootstrap, prefix, partitions)
    sink = AcceptanceSink(work / "mail")
    async with sink:
        group = []
        for n in range(workers):
            env = worker_environment(
                prefix,
                bootstrap,
                sink.port,
                work / f"data-{n}",
                partitions=partitions,
                store="memory",
            )
            group.append(WorkerProcess(env, work / f"worker-{n}.log", cwd=ROOT))
        try:
            for worker in group:
                await worker.start(ready_within=180)

            async def all_ready() -> bool:
                return all(await asyncio.gather(*(w.is_ready() for w in group)))

            await wait_for(all_ready, bool, within=120, what="every worker ready")
            producing = asyncio.create_task(produce(bootstrap, prefix, mix))
            seconds = await first_to_last_seconds(
                lambda: _processed_sum(group),
                len(mix),
                within=within,
                what=f"{len(mix)} events processed by {workers} worker(s)",
            )
            await producing
            try:
                per_worker = await wait_for(
                    lambda: _group_totals(group), _settled, within=120, interval=0.5
                )
                settled = True
            except TimeoutError:
                per_worker, settled = await _group_totals(group), False
        finally:
            for worker in group:
                await worker.stop()
    return GroupRun(
        workers=workers,
        seconds=seconds,
        records=len(mix),
        processed_by=[t["lifecycle_events_processed_total"] for t in per_worker],
        accepted=list(sink.accepted),
        settled=settled,
        totals={name: _sum(per_worker, name) for name in _WATCHED},
    )


async def measure_scale(
    bootstrap: str,
    prefix: str,
    mix: list[MixRecord],
    work: Path,
    *,
    partitions: int,
    within: float,
) -> tuple[GroupRun, GroupRun]:
    runs = []
    for workers in (1, 2):
        runs.append(
            await run_group(
                bootstrap,
                f"{prefix}-{workers}w",
                mix,
                work / f"scale-{workers}",
                workers=workers,
                partitions=partitions,
                within=within,
            )
        )
    one, two = runs
    return one, two


def _line(run: GroupRun) -> str:
    split = " / ".join(f"{n:,.0f}" for n in run.processed_by)
    sent = run.totals["lifecycle_emails_sent_total"]
    expired = (
        run.totals["lifecycle_emails_expired_total"]
        + run.totals["lifecycle_emails_expired_at_decision_total"]
    )
    return (
        f"scale {run.workers} worker{'s' if run.workers > 1 else ''}: {run.rate:,.0f} events/s"
        f" ({run.records:,} records in {run.seconds:.1f} s; processed per worker: {split});"
        f" emails {len(run.accepted):,} accepted by the sink ({sent:,.0f} sent,"
        f" {expired:,.0f} expired{'' if run.settled else ', outbox NOT settled'}),"
        f" {duplicates(run.accepted):,} duplicate sends"
    )


def scale_report(one: GroupRun, two: GroupRun, partitions: int) -> str:
    only_one = len(one.message_ids - two.message_ids)
    only_two = len(two.message_ids - one.message_ids)
    return "\n".join(
        [
            f"scale over {partitions} partitions on {os.cpu_count()} cores"
            " (the broker, the workers and this benchmark share them):",
            _line(one),
            _line(two),
            f"scale ratio two/one: {two.rate / one.rate:.2f}",
            f"duplicate sends with two workers: {duplicates(two.accepted)}"
            f" (Message-IDs accepted more than once)",
            f"Message-IDs: {len(one.message_ids & two.message_ids):,} sent by both runs,"
            f" {only_one:,} only by one worker, {only_two:,} only by two",
        ]
    )
