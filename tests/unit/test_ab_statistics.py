"""The A/B statistics against scipy and statsmodels, and the always-valid interval's coverage
and power by seeded simulation."""

from __future__ import annotations

import dataclasses
import math
import warnings
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from lifecycle.measurement import (
    SRM_THRESHOLD,
    ArmCounts,
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

TOLERANCE = 1e-6
SETTINGS = settings(max_examples=100, deadline=None)


@st.composite
def arms(draw: st.DrawFn, name: str = "arm", max_entries: int = 20_000) -> ArmCounts:
    """Arms of every shape: empty, tiny, huge; no, few, all conversions."""
    entries = draw(st.one_of(st.integers(0, 12), st.integers(0, max_entries)))
    conversions = draw(
        st.one_of(st.sampled_from([0, entries]), st.integers(0, min(entries, 3)))
        | st.integers(0, entries)
    )
    return ArmCounts(name, entries, conversions)


def close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, float(theirs), rel_tol=TOLERANCE, abs_tol=TOLERANCE * 1e-3)


def quietly(call, *args, **kwargs):
    """statsmodels divides by zero on degenerate tables and says so; we compare the result."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


# --- two arms against the libraries ----------------------------------------------------


@SETTINGS
@given(arms("control"), arms("variant"))
@example(ArmCounts("control", 0, 0), ArmCounts("variant", 0, 0))
@example(ArmCounts("control", 500, 0), ArmCounts("variant", 500, 0))
@example(ArmCounts("control", 500, 500), ArmCounts("variant", 500, 500))
@example(ArmCounts("control", 1, 0), ArmCounts("variant", 1, 1))
def test_the_z_test_is_statsmodels_and_scipy(control: ArmCounts, variant: ArmCounts) -> None:
    ours = two_proportion_ztest(control, variant)
    if control.entries == 0 or variant.entries == 0:
        assert ours.z is None
        assert ours.p_value is None
        assert ours.reason
        return
    z, p = quietly(
        proportions_ztest,
        [variant.conversions, control.conversions],
        [variant.entries, control.entries],
    )
    if not (math.isfinite(z) and math.isfinite(p)):
        assert ours.z is None
        assert ours.p_value is None
        assert "converted" in (ours.reason or "")
        return
    assert ours.z is not None
    assert ours.p_value is not None
    assert close(ours.z, z)
    assert close(ours.p_value, p)
    table = [
        [variant.conversions, variant.entries - variant.conversions],
        [control.conversions, control.entries - control.conversions],
    ]
    chi2 = stats.chi2_contingency(table, correction=False)
    assert close(ours.p_value, chi2.pvalue)


@SETTINGS
@given(arms("control"), arms("variant"))
def test_the_intervals_are_statsmodels(control: ArmCounts, variant: ArmCounts) -> None:
    for arm in (control, variant):
        wilson = rate_interval(arm)
        if arm.entries == 0:
            assert wilson is None
        else:
            low, high = proportion_confint(arm.conversions, arm.entries, method="wilson")
            assert wilson is not None
            assert close(wilson.low, low)
            assert close(wilson.high, high)

    absolute = difference_interval(control, variant)
    relative = relative_interval(control, variant)
    if control.entries == 0 or variant.entries == 0:
        assert absolute is None
        assert relative is None
        return
    counts = [
        float(n)
        for n in (variant.conversions, variant.entries, control.conversions, control.entries)
    ]
    low, high = quietly(confint_proportions_2indep, *counts, method="wald", compare="diff")
    if low == high:  # no spread: the library's interval has zero width
        assert absolute is None
    else:
        assert absolute is not None
        assert close(absolute.low, low)
        assert close(absolute.high, high)

    if variant.conversions == 0 or control.conversions == 0:
        assert relative is None
        return
    ratio_low, ratio_high = quietly(
        confint_proportions_2indep, *counts, method="log", compare="ratio"
    )
    if ratio_low == ratio_high:  # every entry converted in both arms
        assert relative is None
    else:
        assert relative is not None
        assert close(relative.low, ratio_low - 1)
        assert close(relative.high, ratio_high - 1)


@st.composite
def tables(draw: st.DrawFn) -> list[ArmCounts]:
    count = draw(st.integers(2, 6))
    return [draw(arms(f"arm{i}", max_entries=5_000)) for i in range(count)]


@SETTINGS
@given(tables())
@example([ArmCounts("a", 10, 0), ArmCounts("b", 10, 0)])
@example([ArmCounts("a", 10, 10), ArmCounts("b", 0, 0), ArmCounts("c", 3, 3)])
@example([ArmCounts("a", 0, 0), ArmCounts("b", 7, 2)])
def test_the_chi_squared_across_arms_is_scipy(table: list[ArmCounts]) -> None:
    ours = chi_squared_across_arms(table)
    used = [arm for arm in table if arm.entries > 0]
    assert ours.arms == tuple(arm.name for arm in used)
    rows = [[arm.conversions, arm.entries - arm.conversions] for arm in used]
    try:
        scipy_result = stats.chi2_contingency(rows, correction=False) if len(rows) >= 2 else None
    except ValueError:  # a zero expected frequency: no conversions, or all, anywhere
        scipy_result = None
    if scipy_result is None:
        assert ours.statistic is None
        assert ours.p_value is None
        assert ours.reason
        return
    assert ours.statistic is not None
    assert ours.p_value is not None
    assert close(ours.statistic, scipy_result.statistic)
    assert close(ours.p_value, scipy_result.pvalue)
    assert ours.dof == scipy_result.dof


# --- sample-ratio mismatch -------------------------------------------------------------


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 50_000), st.integers(1, 10_000)), min_size=2, max_size=6))
def test_the_sample_ratio_check_is_scipys_goodness_of_fit(pairs: list[tuple[int, int]]) -> None:
    observed = {f"arm{i}": count for i, (count, _) in enumerate(pairs)}
    weights = {f"arm{i}": float(weight) for i, (_, weight) in enumerate(pairs)}
    ours = sample_ratio_mismatch(observed, weights)
    total = sum(observed.values())
    if total == 0:
        assert ours.p_value is None
        assert not ours.mismatch
        return
    expected = [total * w / sum(weights.values()) for w in weights.values()]
    theirs = stats.chisquare(list(observed.values()), expected)
    assert ours.statistic is not None
    assert ours.p_value is not None
    assert close(ours.statistic, theirs.statistic)
    assert close(ours.p_value, theirs.pvalue)
    assert ours.mismatch == (theirs.pvalue < SRM_THRESHOLD)


def test_a_52_48_split_of_a_50_50_test_is_flagged_at_large_n_only() -> None:
    weights = {"control": 5_000, "variant": 5_000}  # basis points, as campaigns store them
    large = sample_ratio_mismatch({"control": 52_000, "variant": 48_000}, weights)
    assert large.mismatch
    assert large.p_value is not None
    assert large.p_value < SRM_THRESHOLD
    for total in (100, 1_000):
        small = sample_ratio_mismatch(
            {"control": total * 52 // 100, "variant": total * 48 // 100}, weights
        )
        assert not small.mismatch, total
        assert small.p_value is not None
        assert small.p_value > SRM_THRESHOLD


def test_assignments_to_an_arm_without_weight_are_a_mismatch_and_no_entries_are_not() -> None:
    weights = {"control": 10, "gentle": 45, "discount": 45}
    stray = sample_ratio_mismatch({"control": 10, "gentle": 45, "old": 1}, weights)
    assert stray.mismatch
    assert "old" in (stray.reason or "")
    empty = sample_ratio_mismatch({}, weights)
    assert not empty.mismatch
    assert empty.p_value is None
    assert empty.reason == "no assignments yet"
    assert empty.expected == {"control": 0.0, "gentle": 0.0, "discount": 0.0}


# --- the always-valid interval ---------------------------------------------------------


@SETTINGS
@given(arms("control"), arms("variant"))
def test_the_sequence_is_wider_than_the_fixed_interval_and_matches_its_p_value(
    control: ArmCounts, variant: ArmCounts
) -> None:
    fixed = difference_interval(control, variant)
    sequence = confidence_sequence(control, variant)
    p_value = always_valid_p_value(control, variant)
    if fixed is None:
        assert sequence is None
        assert p_value is None
        return
    assert sequence is not None
    assert p_value is not None
    assert sequence.low < fixed.low
    assert sequence.high > fixed.high
    assert 0 <= p_value <= 1  # 0.0 only by underflow, for overwhelming differences
    assert (p_value < 0.05) == sequence.excludes_zero() or math.isclose(p_value, 0.05, rel_tol=1e-9)


def _simulated_runs(
    rng: np.random.Generator, runs: int, looks: int, step: int, p_control: float, p_variant: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative conversions per arm after each look: (runs, looks) arrays, ``step``
    entries per arm between looks."""
    control = rng.binomial(step, p_control, size=(runs, looks)).cumsum(axis=1)
    variant = rng.binomial(step, p_variant, size=(runs, looks)).cumsum(axis=1)
    return control, variant


def test_the_sequence_covers_the_true_difference_at_every_look_at_once() -> None:
    """Looking 40 times, the always-valid interval misses the truth at some look in fewer
    than 5% of experiments; the fixed interval, read the same way, misses far more often."""
    rng = np.random.default_rng(20260214)
    runs, looks, step = 2_000, 40, 250
    p_control, p_variant = 0.10, 0.11
    control, variant = _simulated_runs(rng, runs, looks, step, p_control, p_variant)
    truth = p_variant - p_control
    sequence_missed = fixed_missed = 0
    for run in range(runs):
        sequence_miss = fixed_miss = False
        for look in range(looks):
            n = step * (look + 1)
            c = ArmCounts("control", n, int(control[run, look]))
            v = ArmCounts("variant", n, int(variant[run, look]))
            sequence = confidence_sequence(c, v)
            fixed = difference_interval(c, v)
            assert sequence is not None
            assert fixed is not None
            sequence_miss |= not sequence.low <= truth <= sequence.high
            fixed_miss |= not fixed.low <= truth <= fixed.high
        sequence_missed += sequence_miss
        fixed_missed += fixed_miss
    assert sequence_missed / runs < 0.05
    assert fixed_missed / runs > 0.15  # peeking at a fixed-horizon interval: the problem solved


def test_at_the_minimum_detectable_effect_the_rule_finds_it_with_the_stated_power() -> None:
    n, p_control = 4_000, 0.10
    even = ArmCounts("control", n, int(n * p_control))
    mde = minimum_detectable_effect(even, ArmCounts("variant", n, int(n * p_control)))
    assert mde is not None
    rng = np.random.default_rng(7)
    runs = 2_000
    control = rng.binomial(n, p_control, size=runs)
    variant = rng.binomial(n, p_control + mde, size=runs)
    found = 0
    for c, v in zip(control, variant, strict=True):
        sequence = confidence_sequence(ArmCounts("control", n, int(c)), ArmCounts("v", n, int(v)))
        found += sequence is not None and sequence.low > 0
    assert 0.75 < found / runs < 0.85


def unpooled_se(p_control: float, n_control: int, p_variant: float, n_variant: int) -> float:
    return math.sqrt(
        p_control * (1 - p_control) / n_control + p_variant * (1 - p_variant) / n_variant
    )


@pytest.mark.parametrize("sequential", [True, False])
@pytest.mark.parametrize(
    ("n_control", "n_variant", "conversions"), [(500, 4_500, 50), (8_000, 8_000, 0)]
)
def test_the_minimum_detectable_effect_has_the_stated_power_under_the_normal_model(
    sequential: bool, n_control: int, n_variant: int, conversions: int
) -> None:
    control = ArmCounts("control", n_control, conversions)
    variant = ArmCounts("variant", n_variant, 0)
    mde = minimum_detectable_effect(control, variant, sequential=sequential)
    assert mde is not None
    p = conversions / n_control
    se = unpooled_se(p, n_control, p + mde, n_variant)
    # The rise is found when the estimate clears k standard errors, k the rule's multiplier
    # (the half-width of the rule's interval over the standard error, for any counts).
    if sequential:
        interval = confidence_sequence(control, ArmCounts("variant", n_variant, n_variant // 2))
        assert interval is not None
        k = (interval.high - interval.low) / 2 / unpooled_se(p, n_control, 0.5, n_variant)
    else:
        k = stats.norm.isf(0.025)
    assert stats.norm.cdf((mde - k * se) / se) == pytest.approx(0.8, abs=2e-3)


def test_the_minimum_detectable_effect_shrinks_with_the_sample_and_costs_more_sequentially() -> (
    None
):
    values = []
    for n in (500, 2_000, 8_000, 32_000):
        c, v = ArmCounts("control", n, n // 10), ArmCounts("variant", n, n // 10)
        sequential = minimum_detectable_effect(c, v)
        fixed = minimum_detectable_effect(c, v, sequential=False)
        assert sequential is not None
        assert fixed is not None
        assert sequential > fixed
        values.append(sequential)
    assert values == sorted(values, reverse=True)
    full = ArmCounts("control", 200, 200)
    assert minimum_detectable_effect(full, ArmCounts("v", 200, 0)) is None  # no rise over 100%


# --- verdicts --------------------------------------------------------------------------


def test_a_clear_gain_is_better_and_a_clear_loss_is_worse() -> None:
    control = ArmCounts("control", 10_000, 1_000)
    better = compare_arms(control, ArmCounts("discount", 10_000, 1_300))
    assert better.verdict == "better"
    assert better.significant
    assert better.explanation.startswith("better: discount converts +3.00 points")
    worse = compare_arms(control, ArmCounts("gentle", 10_000, 700))
    assert worse.verdict == "worse"
    assert worse.significant
    assert worse.sequential_interval is not None
    assert worse.sequential_interval.high < 0


def test_a_small_difference_is_not_yet_with_the_effect_that_could_be_seen() -> None:
    result = compare_arms(ArmCounts("control", 2_000, 200), ArmCounts("gentle", 2_000, 215))
    assert result.verdict == "not yet"
    assert not result.significant
    assert result.mde_absolute is not None
    assert result.mde_relative == pytest.approx(result.mde_absolute / 0.1)
    assert f"{result.mde_absolute * 100:.2f} points" in result.explanation
    assert "80% of the time (alpha 0.05)" in result.explanation
    # The fixed-horizon test is shown, but a lucky fixed p-value is not a verdict.
    assert result.z_test.p_value is not None


def test_significant_by_a_fixed_look_is_not_yet_significant_always_valid() -> None:
    control, variant = ArmCounts("control", 3_000, 300), ArmCounts("v", 3_000, 352)
    result = compare_arms(control, variant)
    assert result.z_test.p_value is not None
    assert result.z_test.p_value < 0.05
    assert result.verdict == "not yet"


@pytest.mark.parametrize(
    ("control", "variant", "words"),
    [
        (ArmCounts("control", 0, 0), ArmCounts("v", 0, 0), "control has 0 entries"),
        (ArmCounts("control", 40, 4), ArmCounts("v", 5_000, 900), "control has 40 entries"),
        (ArmCounts("control", 5_000, 0), ArmCounts("v", 5_000, 0), "too few conversions"),
        (ArmCounts("control", 5_000, 1), ArmCounts("v", 5_000, 2), "too few conversions"),
        (ArmCounts("control", 500, 500), ArmCounts("v", 500, 499), "too few non-conversions"),
    ],
)
def test_tiny_and_degenerate_arms_are_sample_too_small_with_a_reason(
    control: ArmCounts, variant: ArmCounts, words: str
) -> None:
    result = compare_arms(control, variant)
    assert result.verdict == "sample too small"
    assert not result.significant
    assert words in result.explanation


def _floats(value: object) -> list[float]:
    if isinstance(value, float):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            f for field in dataclasses.fields(value) for f in _floats(getattr(value, field.name))
        ]
    if isinstance(value, dict):
        return [f for item in value.values() for f in _floats(item)]
    if isinstance(value, tuple):
        return [f for item in value for f in _floats(item)]
    return []


@SETTINGS
@given(arms("control"), st.lists(arms("v"), min_size=1, max_size=3), st.data())
def test_no_arms_make_a_nan_or_an_exception(
    control: ArmCounts, variants: list[ArmCounts], data: st.DataObject
) -> None:
    named = [dataclasses.replace(v, name=f"v{i}") for i, v in enumerate(variants)]
    every = [control, *named]
    per_conversion = [data.draw(st.sampled_from([0, 10])) for _ in every]
    with_revenue = [
        dataclasses.replace(
            arm, revenue=r * arm.conversions, revenue_squares=r * r * arm.conversions
        )
        for arm, r in zip(every, per_conversion, strict=True)
    ]
    weights = {arm.name: 1.0 for arm in with_revenue}
    result = analyse_experiment(with_revenue, weights)
    assert len(result.comparisons) == len(named)
    assert all(math.isfinite(f) for f in _floats(result))
    for comparison in result.comparisons:
        assert comparison.explanation.startswith(comparison.verdict)
        if comparison.absolute_interval is None or comparison.relative_interval is None:
            assert comparison.notes  # every missing figure says why


def test_an_experiment_without_a_control_compares_nothing_but_still_checks_the_split() -> None:
    arms_ = [ArmCounts("gentle", 5_000, 600), ArmCounts("discount", 5_000, 400)]
    result = analyse_experiment(arms_, {"gentle": 1, "discount": 1})
    assert result.comparisons == ()
    assert "no 'control' arm" in result.notes[0]
    assert result.across_arms.p_value is not None
    assert result.across_arms.p_value < 1e-6
    assert not result.sample_ratio.mismatch


@pytest.mark.parametrize(
    ("entries", "conversions", "revenue", "squares"),
    [(-1, 0, 0, 0), (5, 6, 0, 0), (5, -1, 0, 0), (5, 1, float("nan"), 0), (5, 1, 1, -1)],
)
def test_impossible_counts_are_refused(
    entries: int, conversions: int, revenue: float, squares: float
) -> None:
    with pytest.raises(ValueError, match="arm 'x'"):
        ArmCounts("x", entries, conversions, revenue, squares)


# --- revenue per entry -----------------------------------------------------------------

_cents = st.one_of(st.just(0), st.integers(0, 2_000_00), st.sampled_from([999, 4_950, 12_000]))


def _arm(name: str, cents: list[int]) -> ArmCounts:
    """An arm from per-entry revenues, summed exactly as Decimal counters would."""
    total = Decimal(sum(cents)) / 100
    squares = Decimal(sum(c * c for c in cents)) / 10_000
    return ArmCounts(name, len(cents), sum(1 for c in cents if c), total, squares)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy's, not ours
@SETTINGS
@given(st.lists(_cents, min_size=0, max_size=60), st.lists(_cents, min_size=0, max_size=60))
@example([0, 0, 0], [0, 0, 0])
@example([500, 500], [700, 700])
@example([0, 0, 4_950], [0, 0])
@example([], [169, 169, 169])  # equal values whose float std() is not 0
@example([0, 0], [9, 9, 9])  # both arms constant, the variant's float std() not 0
def test_revenue_per_entry_is_welch_from_aggregates(control: list[int], variant: list[int]) -> None:
    result = revenue_difference(_arm("control", control), _arm("variant", variant))
    c = np.array(control, dtype=float) / 100
    v = np.array(variant, dtype=float) / 100
    for estimate, values in ((result.control, c), (result.variant, v)):
        if len(values) == 0:
            assert estimate.mean is None
            continue
        assert estimate.mean == pytest.approx(values.mean(), rel=1e-12, abs=1e-12)
        if len(values) < 2 or len(set(values)) == 1:  # std() of equal floats may not be 0
            assert estimate.interval is None
            assert estimate.reason
        else:
            low, high = stats.t.interval(
                0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values)
            )
            assert estimate.interval is not None
            assert close(estimate.interval.low, low)
            assert close(estimate.interval.high, high)
    # Both arms constant: no spread to test with (compared as integers: float std() of
    # equal values may not be 0).
    if len(c) < 2 or len(v) < 2 or (len(set(control)) == 1 and len(set(variant)) == 1):
        assert result.interval is None
        assert result.p_value is None
        assert result.reason
        return
    theirs = stats.ttest_ind(v, c, equal_var=False)
    interval = theirs.confidence_interval(0.95)
    assert result.interval is not None
    assert result.p_value is not None
    assert result.difference == pytest.approx(v.mean() - c.mean(), abs=1e-9)
    assert close(result.p_value, theirs.pvalue)
    assert close(result.interval.low, interval.low)
    assert close(result.interval.high, interval.high)
    assert result.dof is not None
    assert close(result.dof, theirs.df)


def test_sums_of_squares_lose_nothing_to_cancellation() -> None:
    # 10 000 entries of about 1 000.00 differing by a cent: Σx² - (Σx)²/n cancels 12 digits.
    cents = [100_000 + (i % 2) for i in range(10_000)]
    estimate = revenue_per_entry(_arm("big", cents))
    values = np.array(cents, dtype=float) / 100
    exact_variance = Fraction(1, 4) * Fraction(10_000, 9_999) / 10_000  # (0.005)² · n/(n-1)
    assert values.var(ddof=1) == pytest.approx(float(exact_variance), rel=1e-9)
    assert estimate.interval is not None
    half = stats.t.isf(0.025, 9_999) * math.sqrt(exact_variance / 10_000)
    assert estimate.interval.low == pytest.approx(1000.005 - half, rel=1e-12)
    assert estimate.interval.high == pytest.approx(1000.005 + half, rel=1e-12)
