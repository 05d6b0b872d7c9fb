"""Measurement: what the worker counts, and the arithmetic that turns counts into answers.

:mod:`~lifecycle.measurement.tally` says what one engine outcome adds to the counters (a few
facts, stored with the customer's state); :mod:`~lifecycle.measurement.aggregates` turns
facts into totals by metric, labels and period (:mod:`~lifecycle.measurement.periods`).
:mod:`~lifecycle.measurement.retention` computes retention, churn, order and survey figures
per period and the cohort triangle from counts and sums, and says who "a customer" is.
:mod:`~lifecycle.measurement.ab_statistics` compares campaign variants with the control from
per-arm aggregates (entries, conversions, revenue sums): uplifts with intervals, p-values,
an always-valid interval, the sample-ratio check and a verdict in plain words. Both are
pure and take plain values, so live counters and a replayed history give the same report:
:mod:`~lifecycle.measurement.report` builds it from totals, and
:mod:`~lifecycle.measurement.report_text` and :mod:`~lifecycle.measurement.report_html`
render it.
"""

from lifecycle.measurement.ab_statistics import (
    DEFAULT_SEQUENTIAL_TUNING,
    SRM_THRESHOLD,
    ArmCounts,
    ChiSquaredTest,
    Comparison,
    ExperimentResult,
    Interval,
    MeanEstimate,
    RevenueComparison,
    SampleRatioCheck,
    Verdict,
    ZTest,
    always_valid_p_value,
    analyse_experiment,
    chi_squared_across_arms,
    compare_arms,
    confidence_sequence,
    difference_interval,
    minimum_detectable_effect,
    rate_interval,
    relative_interval,
    revenue_difference,
    revenue_per_entry,
    sample_ratio_mismatch,
    two_proportion_ztest,
)
from lifecycle.measurement.aggregates import (
    DECIMAL_METRICS,
    CounterKey,
    Number,
    Totals,
    expand,
    journal_of,
)
from lifecycle.measurement.periods import (
    ALL,
    GRANULARITIES,
    Granularity,
    boundary_day,
    day_of,
    granularity_of,
    period_label,
    period_range,
    periods_between,
)
from lifecycle.measurement.report import (
    ArmResult,
    CampaignInfo,
    CampaignResult,
    Report,
    RetentionRow,
    SendTimeResult,
    build_report,
    report_data,
)
from lifecycle.measurement.report_html import render_html
from lifecycle.measurement.report_text import figure, render_text
from lifecycle.measurement.retention import (
    CohortRow,
    CustomerFlow,
    FlowGroup,
    PeriodActivity,
    PeriodFigures,
    SurveyCounts,
    average_ces,
    average_order_value,
    churn_rate,
    cohort_triangle,
    csat_score,
    customer_lifetime_value,
    expected_lifespan,
    flow_group,
    is_customer_at,
    net_promoter_score,
    period_figures,
    purchase_frequency,
    repeat_purchase_rate,
    retention_rate,
)
from lifecycle.measurement.tally import CUSTOMER_STAGES, delivery_fact, tally

__all__ = [
    # Counting: the facts of one outcome, and what they add up to
    "CUSTOMER_STAGES",
    "tally",
    "delivery_fact",
    "CounterKey",
    "Number",
    "DECIMAL_METRICS",
    "Totals",
    "expand",
    "journal_of",
    # Periods: UTC days, ISO weeks, months
    "ALL",
    "GRANULARITIES",
    "Granularity",
    "boundary_day",
    "day_of",
    "granularity_of",
    "period_label",
    "period_range",
    "periods_between",
    # The report: built from totals, as JSON values, text and HTML
    "CampaignInfo",
    "ArmResult",
    "CampaignResult",
    "RetentionRow",
    "SendTimeResult",
    "Report",
    "build_report",
    "report_data",
    "figure",
    "render_text",
    "render_html",
    # Retention: who is a customer, and the per-period figures
    "CustomerFlow",
    "FlowGroup",
    "PeriodActivity",
    "PeriodFigures",
    "SurveyCounts",
    "flow_group",
    "is_customer_at",
    "period_figures",
    "retention_rate",
    "churn_rate",
    "repeat_purchase_rate",
    "purchase_frequency",
    "average_order_value",
    "expected_lifespan",
    "customer_lifetime_value",
    "net_promoter_score",
    "csat_score",
    "average_ces",
    # Retention: signup cohorts
    "CohortRow",
    "cohort_triangle",
    # A/B statistics: inputs and results
    "ArmCounts",
    "Interval",
    "Verdict",
    "Comparison",
    "ExperimentResult",
    "ZTest",
    "ChiSquaredTest",
    "SampleRatioCheck",
    "MeanEstimate",
    "RevenueComparison",
    # A/B statistics: the whole report for one campaign, and one variant against control
    "analyse_experiment",
    "compare_arms",
    # A/B statistics: conversion rates (fixed horizon)
    "rate_interval",
    "two_proportion_ztest",
    "difference_interval",
    "relative_interval",
    "minimum_detectable_effect",
    # A/B statistics: always valid (sequential)
    "DEFAULT_SEQUENTIAL_TUNING",
    "confidence_sequence",
    "always_valid_p_value",
    # A/B statistics: across arms
    "SRM_THRESHOLD",
    "chi_squared_across_arms",
    "sample_ratio_mismatch",
    # A/B statistics: revenue per entry
    "revenue_per_entry",
    "revenue_difference",
]
