"""The campaign and retention report, built from counter totals (summed over partitions).

:func:`build_report` reads nothing but the totals, so the live counters topic and a
replayed history (``lifecycle replay`` output, its ``tally`` lines) give the same report
through the same code. :func:`report_data` is its JSON shape (``lifecycle report
--json``, documented in the README); the text and HTML renderings show the same values.

- **Retention** per period (day, ISO week or month): S, N (first-time and reactivated),
  E, lost, with every figure of :func:`~lifecycle.measurement.retention.period_figures`,
  and the customers per stage at the period's end. S and E are the running sums of the
  ``customers`` changes before the period's boundaries; N is the ``new_customers`` of the
  period; retained = E - N and lost = S - retained.
- **Cohorts**: the signup-month triangle of :func:`~lifecycle.measurement.retention.
  cohort_triangle`.
- **Campaigns**: per campaign and arm (variant or control), entries, customers assigned
  (first entries), entries treated (first send or holdout), decisions by outcome,
  conversions, attributed revenue and its sum of squares, final delivery states, the
  conversion rate and revenue per entry; for a campaign with a control, every variant
  against it (:func:`~lifecycle.measurement.ab_statistics.analyse_experiment`, the SRM
  check against the configured split); for best-time sends, conversion by optimised and
  fallback sends.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lifecycle.measurement.ab_statistics import ArmCounts, ExperimentResult, analyse_experiment
from lifecycle.measurement.aggregates import CounterKey, Number
from lifecycle.measurement.periods import (
    ALL,
    Granularity,
    granularity_of,
    month_label,
    period_range,
    periods_between,
)
from lifecycle.measurement.retention import (
    CohortRow,
    CustomerFlow,
    PeriodActivity,
    PeriodFigures,
    SurveyCounts,
    cohort_triangle,
    period_figures,
)
from lifecycle.state import STAGES

__all__ = [
    "ArmResult",
    "CampaignInfo",
    "CampaignResult",
    "Report",
    "RetentionRow",
    "SendTimeResult",
    "ShareWindow",
    "build_report",
    "report_data",
]

#: The decision outcomes a report shows as "skipped", by the reason a marketer reads.
SKIP_REASONS: dict[str, str] = {
    "capped": "cap",
    "quiet_hours": "quiet hours",
    "no_consent": "consent",
    "no_address": "no address",
    "suppressed": "suppressed",
    "lower_priority": "lower priority",
    "exited": "exited",
    "render_error": "render error",
}


@dataclass(frozen=True)
class CampaignInfo:
    """What the report knows of a campaign from its file (names, the configured split)."""

    id: str
    name: str
    #: Arm name -> configured share (any scale), control included.
    weights: Mapping[str, float]
    control: str = "control"
    #: An adaptive split: the variants' shares move, only control's is fixed.
    adaptive: bool = False


@dataclass(frozen=True)
class ShareWindow:
    """The shares an adaptive split had in force in one reweighting window."""

    #: The window's start (ISO time, UTC).
    window: str
    #: Partitions that fixed shares for it (each learns from its own customers).
    partitions: int
    #: Variant -> share of all customers (0.45 is 45%), the mean over those partitions.
    shares: Mapping[str, float]


@dataclass(frozen=True)
class ArmResult:
    campaign: str
    arm: str
    entries: int
    assigned: int
    treated: int
    decisions: Mapping[str, int]
    messaged: int
    held_out: int
    skipped: Mapping[str, int]
    conversions: int
    revenue: Decimal
    revenue_squares: Decimal
    emails: Mapping[str, int]
    conversion_rate: float | None
    revenue_per_entry: float | None

    def counts(self) -> ArmCounts:
        return ArmCounts(
            self.arm, self.entries, self.conversions, self.revenue, self.revenue_squares
        )


@dataclass(frozen=True)
class SendTimeResult:
    """A campaign's best-time sends of one kind (``optimised`` or ``fallback``), over its
    variants (control gets no mail, so its holdouts are left out): sends, entries whose
    first treatment was such a send, and of those the converted ones."""

    send_time: str
    sends: int
    treated: int
    conversions: int
    conversion_rate: float | None


@dataclass(frozen=True)
class CampaignResult:
    campaign: str
    name: str
    arms: tuple[ArmResult, ...]
    experiment: ExperimentResult | None
    notes: tuple[str, ...] = ()
    #: Conversion by optimised and fallback best-time sends (empty without any).
    send_times: tuple[SendTimeResult, ...] = ()
    #: Adaptive splits: which shares were in force when, window by window.
    shares: tuple[ShareWindow, ...] = ()


@dataclass(frozen=True)
class RetentionRow:
    period: str
    figures: PeriodFigures
    #: Customers per stage at the period's end (``prospect`` included).
    stages: Mapping[str, int]


@dataclass(frozen=True)
class Report:
    granularity: Granularity
    retention: tuple[RetentionRow, ...]
    cohorts: tuple[CohortRow, ...]
    campaigns: tuple[CampaignResult, ...]
    notes: tuple[str, ...] = field(default=())


# --- retention ---------------------------------------------------------------------------


def _by_metric(totals: Mapping[CounterKey, Number]) -> dict[str, dict[CounterKey, Number]]:
    grouped: dict[str, dict[CounterKey, Number]] = defaultdict(dict)
    for key, value in totals.items():
        grouped[key.metric][key] = value
    return grouped


def _running(deltas: Mapping[int, int], days: Sequence[int]) -> dict[int, int]:
    """For each boundary day D in ``days`` (sorted), the sum of ``deltas`` before D."""
    ordered = sorted(deltas.items())
    result: dict[int, int] = {}
    total = 0
    index = 0
    for day in days:
        while index < len(ordered) and ordered[index][0] < day:
            total += ordered[index][1]
            index += 1
        result[day] = total
    return result


def _period_total(metric: Mapping[CounterKey, Number], period: str, **labels: str) -> Number:
    want = tuple(sorted(labels.items()))
    return sum((v for k, v in metric.items() if k.period == period and k.labels == want), start=0)


def _scores(metric: Mapping[CounterKey, Number], period: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for key, value in metric.items():
        score = key.label("score")
        if key.period == period and score is not None:
            found[int(score)] = found.get(int(score), 0) + int(value)
    return found


def _retention(
    metrics: Mapping[str, Mapping[CounterKey, Number]], granularity: Granularity
) -> tuple[tuple[RetentionRow, ...], list[str]]:
    notes: list[str] = []
    customers: dict[int, int] = defaultdict(int)
    for key, value in metrics.get("customers", {}).items():
        customers[period_range(key.period)[0]] += int(value)
    stage_deltas: dict[str, dict[int, int]] = {stage: defaultdict(int) for stage in STAGES}
    for key, value in metrics.get("stage", {}).items():
        stage = key.label("stage")
        if stage in stage_deltas:
            stage_deltas[stage][period_range(key.period)[0]] += int(value)
    days = [
        period_range(key.period)[0]
        for name in ("orders", "stage", "customers", "nps", "csat", "ces")
        for key in metrics.get(name, {})
        if granularity_of(key.period) == "day"
    ]
    if not days:
        return (), notes
    labels = list(periods_between(min(days), max(days), granularity))
    bounds = sorted({day for label in labels for day in period_range(label)})
    at = _running(customers, bounds)
    stages_at = {stage: _running(deltas, bounds) for stage, deltas in stage_deltas.items()}
    rows = []
    new = metrics.get("new_customers", {})
    for label in labels:
        start, end = period_range(label)
        first_time = int(_period_total(new, label, group="first_time"))
        reactivated = int(_period_total(new, label, group="reactivated"))
        retained = at[end] - first_time - reactivated
        try:
            flow = CustomerFlow(
                retained=retained,
                lost=at[start] - retained,
                first_time=first_time,
                reactivated=reactivated,
            )
        except ValueError as exc:
            notes.append(f"{label}: the customer counts do not fit together ({exc})")
            continue
        orders = int(_period_total(metrics.get("orders", {}), label))
        activity = PeriodActivity(
            orders=orders,
            buyers=int(_period_total(metrics.get("buyers", {}), label)),
            repeat_buyers=int(_period_total(metrics.get("repeat_buyers", {}), label)),
            revenue=Decimal(_period_total(metrics.get("revenue", {}), label)),
        )
        surveys = SurveyCounts(
            nps=_scores(metrics.get("nps", {}), label),
            csat=_scores(metrics.get("csat", {}), label),
            ces=_scores(metrics.get("ces", {}), label),
        )
        stages: dict[str, int] = {stage: stages_at[stage][end] for stage in STAGES}
        rows.append(RetentionRow(label, period_figures(flow, activity, surveys), stages))
    return tuple(rows), notes


def _cohorts(metrics: Mapping[str, Mapping[CounterKey, Number]]) -> tuple[CohortRow, ...]:
    sizes: dict[str, int] = {}
    for key, value in metrics.get("cohort_size", {}).items():
        cohort = key.label("cohort")
        if cohort is not None and key.period == ALL:
            sizes[cohort] = sizes.get(cohort, 0) + int(value)
    active: dict[tuple[str, int], int] = {}
    months = [*sizes]
    for key, value in metrics.get("cohort_active", {}).items():
        cohort = key.label("cohort")
        if cohort is None or granularity_of(key.period) != "month":
            continue
        offset = _month_number(key.period) - _month_number(cohort)
        active[(cohort, offset)] = active.get((cohort, offset), 0) + int(value)
        months.append(key.period)
    if not sizes:
        return ()
    through = month_label(max(_month_number(m) for m in months))
    return cohort_triangle(sizes, active, through)


def _month_number(label: str) -> int:
    return int(label[:4]) * 12 + int(label[5:7]) - 1


# --- campaigns ---------------------------------------------------------------------------


def _arm_totals(
    metrics: Mapping[str, Mapping[CounterKey, Number]],
) -> dict[tuple[str, str], dict[str, Any]]:
    arms: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "entries": 0,
            "assigned": 0,
            "treated": 0,
            "conversions": 0,
            "revenue": Decimal(0),
            "revenue_squares": Decimal(0),
            "decisions": defaultdict(int),
            "emails": defaultdict(int),
        }
    )
    simple = {
        "campaign_entries": "entries",
        "campaign_assignments": "assigned",
        "campaign_treated": "treated",
        "campaign_conversions": "conversions",
        "campaign_revenue": "revenue",
        "campaign_revenue_squares": "revenue_squares",
    }
    for metric, name in simple.items():
        for key, value in metrics.get(metric, {}).items():
            arm = (key.label("campaign") or "", key.label("variant") or "")
            arms[arm][name] += value
    for metric, name, label in (
        ("campaign_decisions", "decisions", "outcome"),
        ("campaign_emails", "emails", "state"),
    ):
        for key, value in metrics.get(metric, {}).items():
            arm = (key.label("campaign") or "", key.label("variant") or "")
            arms[arm][name][key.label(label) or ""] += int(value)
    return arms


def _arm_result(campaign: str, arm: str, values: Mapping[str, Any]) -> ArmResult:
    entries = int(values["entries"])
    decisions = dict(sorted(values["decisions"].items()))
    revenue = Decimal(values["revenue"])
    return ArmResult(
        campaign=campaign,
        arm=arm,
        entries=entries,
        assigned=int(values["assigned"]),
        treated=int(values["treated"]),
        decisions=decisions,
        messaged=decisions.get("send", 0),
        held_out=decisions.get("holdout", 0),
        skipped={
            shown: decisions[outcome]
            for outcome, shown in SKIP_REASONS.items()
            if outcome in decisions
        }
        | ({"expired": values["emails"]["expired"]} if values["emails"].get("expired") else {}),
        conversions=int(values["conversions"]),
        revenue=revenue,
        revenue_squares=Decimal(values["revenue_squares"]),
        emails=dict(sorted(values["emails"].items())),
        conversion_rate=values["conversions"] / entries if entries else None,
        revenue_per_entry=float(revenue / entries) if entries else None,
    )


_SEND_TIME_FIELDS = {
    "campaign_send_time_sends": "sends",
    "campaign_send_time_treated": "treated",
    "campaign_send_time_conversions": "conversions",
}


def _send_times(
    metrics: Mapping[str, Mapping[CounterKey, Number]], control: Mapping[str, str]
) -> dict[str, tuple[SendTimeResult, ...]]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for metric, name in _SEND_TIME_FIELDS.items():
        for key, value in metrics.get(metric, {}).items():
            campaign = key.label("campaign") or ""
            if key.label("variant") == control.get(campaign, "control"):
                continue
            counts[(campaign, key.label("send_time") or "")][name] += int(value)
    found: dict[str, list[SendTimeResult]] = defaultdict(list)
    for (campaign, timing), values in sorted(
        counts.items(), key=lambda i: (i[0][0], i[0][1] != "optimised")
    ):
        treated = values["treated"]
        found[campaign].append(
            SendTimeResult(
                send_time=timing,
                sends=values["sends"],
                treated=treated,
                conversions=values["conversions"],
                conversion_rate=values["conversions"] / treated if treated else None,
            )
        )
    return {campaign: tuple(rows) for campaign, rows in found.items()}


def _share_windows(
    metrics: Mapping[str, Mapping[CounterKey, Number]],
) -> dict[str, tuple[ShareWindow, ...]]:
    partitions: dict[tuple[str, str], int] = defaultdict(int)
    for key, value in metrics.get("campaign_share_partitions", {}).items():
        partitions[(key.label("campaign") or "", key.label("window") or "")] += int(value)
    points: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for key, value in metrics.get("campaign_share", {}).items():
        where = (key.label("campaign") or "", key.label("window") or "")
        variant = key.label("variant") or ""
        points[where][variant] = points[where].get(variant, 0) + int(value)
    found: dict[str, list[ShareWindow]] = defaultdict(list)
    for (campaign, window), count in sorted(partitions.items()):
        if count <= 0:
            continue
        shares = {v: p / count / 10_000 for v, p in points[(campaign, window)].items()}
        found[campaign].append(ShareWindow(window=window, partitions=count, shares=shares))
    return {campaign: tuple(windows) for campaign, windows in found.items()}


def _expected_shares(
    info: CampaignInfo | None, rows: Sequence[ArmResult], names: Sequence[str], control: str
) -> dict[str, float]:
    """What the sample-ratio check tests against: the configured shares; for an adaptive
    split only control's share is fixed, so the variants' expected shares are their
    observed ones (scaled to the rest) and the check tests control's share alone."""
    if info is None:
        return {arm: 1.0 for arm in names}
    weights = dict(info.weights)
    if not info.adaptive:
        return weights
    rest = sum(w for arm, w in weights.items() if arm != control)
    assigned = {row.arm: row.assigned for row in rows if row.arm != control}
    total = sum(assigned.values())
    if total == 0:
        return weights
    return {control: weights.get(control, 0.0)} | {
        arm: rest * count / total for arm, count in assigned.items()
    }


def _campaigns(
    metrics: Mapping[str, Mapping[CounterKey, Number]], infos: Sequence[CampaignInfo]
) -> tuple[CampaignResult, ...]:
    arms = _arm_totals(metrics)
    share_windows = _share_windows(metrics)
    by_id = {info.id: info for info in infos}
    send_times = _send_times(metrics, {info.id: info.control for info in infos})
    ids = sorted({campaign for campaign, _ in arms})
    results = []
    for campaign in ids:
        info = by_id.get(campaign)
        control = info.control if info is not None else "control"
        names = sorted((arm for c, arm in arms if c == campaign), key=lambda a: (a != control, a))
        rows = tuple(_arm_result(campaign, arm, arms[(campaign, arm)]) for arm in names)
        notes: list[str] = []
        experiment = None
        if info is None:
            notes.append("not in the campaign directory: no configured split to check against")
        if info is not None and info.adaptive:
            notes.append(
                "adaptive split: the variants' shares moved (see the shares in force), so "
                "the sample-ratio check tests control's fixed share only"
            )
        if control in names and len(names) > 1:
            weights = _expected_shares(info, rows, names, control)
            if info is None:
                notes.append("sample-ratio check against equal weights (split unknown)")
            experiment = analyse_experiment(
                [row.counts() for row in rows],
                weights,
                control=control,
                assignments={row.arm: row.assigned for row in rows},
            )
        results.append(
            CampaignResult(
                campaign=campaign,
                name=info.name if info is not None else campaign,
                arms=rows,
                experiment=experiment,
                notes=tuple(notes),
                send_times=send_times.get(campaign, ()),
                shares=share_windows.get(campaign, ()),
            )
        )
    return tuple(results)


# --- the report --------------------------------------------------------------------------


def build_report(
    totals: Mapping[CounterKey, Number],
    campaigns: Sequence[CampaignInfo] = (),
    granularity: Granularity = "month",
) -> Report:
    metrics = _by_metric(totals)
    retention, notes = _retention(metrics, granularity)
    return Report(
        granularity=granularity,
        retention=retention,
        cohorts=_cohorts(metrics),
        campaigns=_campaigns(metrics, campaigns),
        notes=tuple(notes),
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (decimals as numbers); see the README for the shape."""
    data: dict[str, Any] = _plain(report)
    return data
