"""Measurement: what the worker counts, and the arithmetic that turns counts into answers.

:mod:`~lifecycle.measurement.counters` makes the records of the counters topic.
:mod:`~lifecycle.measurement.ab_statistics` compares campaign variants with the control from
per-arm aggregates (entries, conversions, revenue sums): uplifts with intervals, p-values,
an always-valid interval, the sample-ratio check and a verdict in plain words. It is
pure and takes plain values, so live counters and a replayed history give the same report.
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
from lifecycle.measurement.counters import CounterRecord, counter_records

__all__ = [
    # Counter records for the counters topic
    "CounterRecord",
    "counter_records",
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
