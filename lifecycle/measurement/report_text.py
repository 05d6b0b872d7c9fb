"""The report as terminal tables: campaign results, variants against control, retention, cohorts.

Every figure is one of :func:`~lifecycle.measurement.report.report_data`'s values, formatted
by :func:`figure` (the HTML report uses the same function): counts as integers, rates and
shares in percent with one decimal, money with two decimals, other numbers with two;
``-`` where a figure cannot be computed (the JSON has null and a note says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from lifecycle.measurement.ab_statistics import Comparison, Interval
from lifecycle.measurement.report import ArmResult, CampaignResult, Report

__all__ = ["RETENTION_COLUMNS", "Kind", "figure", "interval_text", "render_text"]

Kind = Literal["int", "pct", "fraction", "money", "num", "p"]


def figure(value: float | int | Decimal | None, kind: Kind) -> str:
    """One figure as shown. ``pct``: a value already in percent; ``fraction``: a share
    (0.05) shown in percent; ``p``: a p-value."""
    if value is None:
        return "-"
    if kind == "int":
        return str(int(value))
    number = float(value)
    if kind == "pct":
        return f"{number:.1f}%"
    if kind == "fraction":
        return f"{number * 100:.1f}%"
    if kind == "p":
        return "<0.0001" if number < 0.0001 else f"{number:.4f}"
    return f"{number:.2f}"


def interval_text(interval: Interval | None, kind: Kind = "fraction") -> str:
    if interval is None:
        return "-"
    return f"{figure(interval.low, kind)} to {figure(interval.high, kind)}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [
            first.ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _skipped(arm: ArmResult) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in arm.skipped.items()) or "-"


def _campaign_lines(campaigns: Sequence[CampaignResult]) -> list[str]:
    headers = (
        "campaign",
        "arm",
        "entries",
        "treated",
        "messaged",
        "held out",
        "sent",
        "failed",
        "converted",
        "rate",
        "revenue",
        "per entry",
        "skipped",
    )
    rows = [
        (
            result.campaign,
            arm.arm,
            figure(arm.entries, "int"),
            figure(arm.treated, "int"),
            figure(arm.messaged, "int"),
            figure(arm.held_out, "int"),
            figure(arm.emails.get("sent", 0), "int"),
            figure(arm.emails.get("failed", 0), "int"),
            figure(arm.conversions, "int"),
            figure(arm.conversion_rate, "fraction"),
            figure(arm.revenue, "money"),
            figure(arm.revenue_per_entry, "money"),
            _skipped(arm),
        )
        for result in campaigns
        for arm in result.arms
    ]
    return _table(headers, rows)


def _comparison_lines(result: CampaignResult) -> list[str]:
    experiment = result.experiment
    if experiment is None:
        return []
    control = experiment.comparisons[0].control if experiment.comparisons else "control"
    lines = [f"{result.campaign} ({result.name}): variants against {control}"]
    headers = (
        "variant",
        "rate",
        "control",
        "uplift",
        "95% interval",
        "p",
        "always-valid interval",
        "rev/entry diff",
        "verdict",
    )
    rows = [_comparison_row(c) for c in experiment.comparisons]
    lines += ["  " + line for line in _table(headers, rows)]
    for comparison in experiment.comparisons:
        lines.append(f"  {comparison.variant}: {comparison.explanation}")
    chi = experiment.across_arms
    lines.append(
        f"  across all arms: chi-squared {figure(chi.statistic, 'num')}, "
        f"{chi.dof} dof, p {figure(chi.p_value, 'p')}" + (f" ({chi.reason})" if chi.reason else "")
    )
    srm = experiment.sample_ratio
    verdict = "MISMATCH: check assignment and counting" if srm.mismatch else "no mismatch"
    lines.append(
        f"  split against the configured shares: p {figure(srm.p_value, 'p')}, {verdict}"
        + (f" ({srm.reason})" if srm.reason else "")
    )
    return lines


#: Windows of shares the text shows per campaign (the latest); ``--json`` has them all.
SHARE_WINDOWS_SHOWN = 14


def _share_lines(result: CampaignResult) -> list[str]:
    if not result.shares:
        return []
    variants = sorted({v for w in result.shares for v in w.shares})
    shown = result.shares[-SHARE_WINDOWS_SHOWN:]
    rows = [
        (
            w.window[:16].replace("T", " "),
            figure(w.partitions, "int"),
            *(figure(w.shares.get(v), "fraction") for v in variants),
        )
        for w in shown
    ]
    lines = [f"{result.campaign} ({result.name}): shares from the window's start (UTC)"]
    lines += ["  " + line for line in _table(("window", "partitions", *variants), rows)]
    if len(result.shares) > len(shown):
        lines.append(f"  ({len(result.shares) - len(shown)} earlier windows in --json)")
    return lines


def _comparison_row(c: Comparison) -> tuple[str, ...]:
    return (
        c.variant,
        figure(c.variant_rate, "fraction"),
        figure(c.control_rate, "fraction"),
        figure(c.absolute_uplift, "fraction"),
        interval_text(c.absolute_interval),
        figure(c.z_test.p_value, "p"),
        interval_text(c.sequential_interval),
        interval_text(c.revenue.interval, "money"),
        c.verdict,
    )


#: The retention table's columns: (header, field of ``PeriodFigures``, format). The HTML
#: page shows the same columns.
RETENTION_COLUMNS: tuple[tuple[str, str, Kind], ...] = (
    ("S", "customers_at_start", "int"),
    ("N", "new_customers", "int"),
    ("E", "customers_at_end", "int"),
    ("lost", "lost_customers", "int"),
    ("retention", "retention_rate", "pct"),
    ("churn", "churn_rate", "pct"),
    ("orders", "orders", "int"),
    ("buyers", "buyers", "int"),
    ("repeat", "repeat_purchase_rate", "pct"),
    ("frequency", "purchase_frequency", "num"),
    ("AOV", "average_order_value", "money"),
    ("revenue", "revenue", "money"),
    ("CLV", "customer_lifetime_value", "money"),
    ("NPS", "nps", "num"),
    ("CSAT", "csat", "pct"),
    ("CES", "average_ces", "num"),
)


def _retention_lines(report: Report) -> list[str]:
    headers = (report.granularity, *(header for header, _, _ in RETENTION_COLUMNS))
    rows = [
        (
            row.period,
            *(figure(getattr(row.figures, name), kind) for _, name, kind in RETENTION_COLUMNS),
        )
        for row in report.retention
    ]
    stage_headers = (report.granularity, *report.retention[0].stages) if report.retention else ()
    stage_rows = [
        (row.period, *(figure(n, "int") for n in row.stages.values())) for row in report.retention
    ]
    lines = _table(headers, rows)
    if stage_rows:
        lines += [
            "",
            "Customers by stage at the end of each period",
            *_table(stage_headers, stage_rows),
        ]
    return lines


def _cohort_lines(report: Report) -> list[str]:
    if not report.cohorts:
        return []
    longest = max(len(row.rates) for row in report.cohorts)
    headers = ("cohort", "size", *(f"m{k}" for k in range(longest)))
    rows = [
        (
            row.cohort,
            figure(row.size, "int"),
            *(figure(rate, "pct") for rate in row.rates),
            *("",) * (longest - len(row.rates)),
        )
        for row in report.cohorts
    ]
    return _table(headers, rows)


def _send_time_lines(campaigns: Sequence[CampaignResult]) -> list[str]:
    rows = [
        (
            result.campaign,
            row.send_time,
            figure(row.sends, "int"),
            figure(row.treated, "int"),
            figure(row.conversions, "int"),
            figure(row.conversion_rate, "fraction"),
        )
        for result in campaigns
        for row in result.send_times
    ]
    if not rows:
        return []
    headers = ("campaign", "send time", "sends", "treated", "converted", "rate")
    return _table(headers, rows)


def render_text(report: Report) -> str:
    sections: list[list[str]] = []
    if report.campaigns:
        sections.append(
            [
                "Campaign results (converted: the goal inside its window after the first "
                "send, or the holdout for control)",
                *_campaign_lines(report.campaigns),
            ]
        )
        comparisons = [line for r in report.campaigns for line in _comparison_lines(r)]
        if comparisons:
            sections.append(["Variants against control", *comparisons])
        send_times = _send_time_lines(report.campaigns)
        if send_times:
            sections.append(
                [
                    "Best-time sends (optimised: at the customer's most active hour; fallback: "
                    "too little history; not a randomised comparison)",
                    *send_times,
                ]
            )
        shares = [line for r in report.campaigns for line in _share_lines(r)]
        if shares:
            sections.append(
                [
                    "Adaptive shares in force (of all customers; the mean over the "
                    "partitions that fixed them; control keeps its share)",
                    *shares,
                ]
            )
    if report.retention:
        sections.append([f"Retention by {report.granularity}", *_retention_lines(report)])
    cohorts = _cohort_lines(report)
    if cohorts:
        sections.append(
            ["Cohorts: share of each signup month that ordered k months later", *cohorts]
        )
    notes = [*report.notes, *(f"{r.campaign}: {n}" for r in report.campaigns for n in r.notes)]
    if notes:
        sections.append(["Notes", *(f"  {n}" for n in notes)])
    if not sections:
        return "nothing counted yet\n"
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
