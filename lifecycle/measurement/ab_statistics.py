"""A/B statistics from aggregates: each arm is a count of entries, of conversions, a revenue
sum and a sum of squared revenue, so the live counters and a replayed backtest give the same
answer. Pure: numbers in, numbers out; scipy only for distribution functions.

What is computed, for each variant against the control:

- **Absolute uplift** ``p_v - p_c`` with a fixed-horizon confidence interval from the
  *unpooled* (Wald) variance ``p_v(1-p_v)/n_v + p_c(1-p_c)/n_c``: an interval describes
  the difference wherever it lies, so it must not assume the two rates are equal. Equal to
  ``statsmodels.stats.proportion.confint_proportions_2indep(..., method="wald")``.
- **Relative uplift** ``p_v / p_c - 1`` with the log-ratio (Katz) interval
  ``exp(log(p_v/p_c) ± z·sqrt(1/x_v - 1/n_v + 1/x_c - 1/n_c)) - 1``; equal to
  ``confint_proportions_2indep(..., compare="ratio", method="log")`` minus one.
- **p-value**: the two-sided two-proportion z-test with the *pooled* variance
  ``p(1-p)(1/n_v + 1/n_c)``, ``p`` the rate of both arms together: a test computes its
  statistic under its null hypothesis (equal rates), and then the pooled estimate is the
  right one. Equal to ``statsmodels.stats.proportion.proportions_ztest`` (its default) and
  to ``scipy.stats.chi2_contingency(..., correction=False)`` on the 2x2 table.
- **Always-valid interval** (a confidence sequence): see :func:`confidence_sequence`. It
  holds at every sample size at once, so the report can be read every day without
  inflating false positives. **The report calls a difference significant when this
  interval excludes zero and neither arm is too small** (below); the fixed-horizon p-value
  and interval above are valid only for one look at a size fixed in advance, and are shown
  for comparison with other tools.
- **Verdict** in plain words: ``better`` / ``worse`` (significant by the rule above),
  ``not yet`` (with the minimum detectable effect: the smallest rise over the control's
  rate that the same always-valid rule finds with 80% power at the current size, alpha
  0.05; both adjustable) or ``sample too small`` (an arm below ``min_entries``, 100, or
  below ``min_expected``, 5, expected conversions or non-conversions at the pooled rate:
  there the normal approximations behind every figure here are not to be trusted).
- **Revenue per entry** with Welch's interval and p-value for the difference, from the
  count, sum and sum of squares (``revenue_squares``: the sum over entries of the square
  of each entry's revenue; entries without revenue count as 0).

Across all arms: a chi-squared test of independence of arm and conversion (equal to
``scipy.stats.chi2_contingency(..., correction=False)``), and the **sample-ratio-mismatch
check** (:func:`sample_ratio_mismatch`) of the observed split against the configured
weights (chi-squared goodness of fit, flagged at p < 0.001, as GrowthBook does).

Nothing here raises on data that can occur: empty arms, zero or all conversions, zero
variance. A figure that cannot be computed is ``None`` and its result says why (in
``reason``, or ``notes`` for a :class:`Comparison`); nothing returns NaN. Impossible
input (negative counts, more conversions than entries, non-finite sums) raises
``ValueError`` when the :class:`ArmCounts` is built: that is a counting bug upstream, and
a silent verdict would hide it.

The always-valid interval is asymptotic (a central-limit argument, like every other figure
here). The unit tests measure it by simulation: read 40 times as an experiment grows to
10 000 entries per arm, it ever misses the true difference in under 2% of experiments
(the fixed-horizon interval read the same way: about 30%).

Several variants against one control are compared one by one at the ``alpha`` given; pass
``alpha / (number of variants)`` for a Bonferroni-corrected report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Final, Literal

from scipy import stats

__all__ = [
    "DEFAULT_SEQUENTIAL_TUNING",
    "SRM_THRESHOLD",
    "ArmCounts",
    "ChiSquaredTest",
    "Comparison",
    "ExperimentResult",
    "Interval",
    "MeanEstimate",
    "RevenueComparison",
    "SampleRatioCheck",
    "Verdict",
    "ZTest",
    "always_valid_p_value",
    "analyse_experiment",
    "chi_squared_across_arms",
    "compare_arms",
    "confidence_sequence",
    "difference_interval",
    "minimum_detectable_effect",
    "rate_interval",
    "relative_interval",
    "revenue_difference",
    "revenue_per_entry",
    "sample_ratio_mismatch",
    "two_proportion_ztest",
]

Amount = Decimal | float | int
Verdict = Literal["better", "worse", "not yet", "sample too small"]

#: GrowthBook's threshold for a sample-ratio mismatch: a split this unlikely under the
#: configured weights means assignment or counting is broken, not bad luck.
SRM_THRESHOLD: Final = 0.001
#: The total sample size (both arms) at which the confidence sequence is tightest
#: (GrowthBook's default). There it is 3.04 standard errors each side, 1.55x the
#: fixed-horizon 1.96; about 1.7x at a fifth of it or at twenty times it.
DEFAULT_SEQUENTIAL_TUNING: Final = 5000.0
#: Smallest arm that gets a verdict; below it one or two conversions swing every figure.
DEFAULT_MIN_ENTRIES: Final = 100
#: The usual rule for the normal approximation of a proportion: n·p and n·(1-p) at least 5.
DEFAULT_MIN_EXPECTED: Final = 5.0


@dataclass(frozen=True, slots=True)
class ArmCounts:
    """One arm's aggregates: entries, conversions and revenue (sum and sum of squares).

    ``revenue_squares`` is the sum over entries of (that entry's revenue)². When an entry's
    revenue grows from ``a`` to ``a + b`` (a second attributed order), the sum grows by
    ``2ab + b²``, so a counter needs the entry's running revenue to stay exact.
    """

    name: str
    entries: int
    conversions: int
    revenue: Amount = 0
    revenue_squares: Amount = 0

    def __post_init__(self) -> None:
        if self.entries < 0 or self.conversions < 0:
            raise ValueError(f"arm {self.name!r}: counts cannot be negative")
        if self.conversions > self.entries:
            raise ValueError(
                f"arm {self.name!r}: {self.conversions} conversions > {self.entries} entries"
            )
        for label, value in (("revenue", self.revenue), ("revenue_squares", self.revenue_squares)):
            if not _is_finite(value):
                raise ValueError(f"arm {self.name!r}: {label} is not a finite number")
        if self.revenue_squares < 0:
            raise ValueError(f"arm {self.name!r}: revenue_squares cannot be negative")

    @property
    def rate(self) -> float | None:
        """The conversion rate, None for an empty arm."""
        return self.conversions / self.entries if self.entries else None


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class ZTest:
    """Two-sided two-proportion z-test (pooled variance); None with a reason if undefined."""

    z: float | None
    p_value: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChiSquaredTest:
    statistic: float | None
    dof: int
    p_value: float | None
    #: The arms the test used (arms without entries are left out).
    arms: tuple[str, ...]
    reason: str | None = None
    #: Caveats that do not stop the test (expected counts below 5).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    statistic: float | None
    dof: int
    p_value: float | None
    #: True when the observed split is implausible under the weights (p < threshold).
    mismatch: bool
    expected: Mapping[str, float]
    reason: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MeanEstimate:
    """Revenue per entry of one arm, with a Student-t interval."""

    arm: str
    entries: int
    mean: float | None
    interval: Interval | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RevenueComparison:
    """Revenue per entry, variant minus control, with Welch's interval and p-value."""

    control: MeanEstimate
    variant: MeanEstimate
    difference: float | None
    interval: Interval | None
    p_value: float | None
    dof: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One variant against the control. Rates and uplifts are fractions (0.05 = 5 points)."""

    variant: str
    control: str
    variant_rate: float | None
    control_rate: float | None
    variant_rate_interval: Interval | None
    control_rate_interval: Interval | None
    absolute_uplift: float | None
    absolute_interval: Interval | None
    relative_uplift: float | None
    relative_interval: Interval | None
    z_test: ZTest
    #: The always-valid interval for the absolute uplift and its p-value.
    sequential_interval: Interval | None
    sequential_p_value: float | None
    #: The report's rule: the sample is large enough and the always-valid interval
    #: excludes zero (the verdict is ``better`` or ``worse``).
    significant: bool
    verdict: Verdict
    #: The verdict in a sentence a marketer can act on.
    explanation: str
    #: Smallest absolute rise the always-valid rule detects at this size with ``power``.
    mde_absolute: float | None
    mde_relative: float | None
    alpha: float
    power: float
    revenue: RevenueComparison
    #: Why any figure above is None.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    comparisons: tuple[Comparison, ...]
    across_arms: ChiSquaredTest
    sample_ratio: SampleRatioCheck
    notes: tuple[str, ...] = ()


# --- conversion rates ------------------------------------------------------------------


@lru_cache(maxsize=64)
def _z(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")


def rate_interval(arm: ArmCounts, alpha: float = 0.05) -> Interval | None:
    """Wilson score interval for one arm's rate (sensible at 0 and at all conversions);
    equal to ``statsmodels.stats.proportion.proportion_confint(..., method="wilson")``.
    None for an empty arm."""
    _check_alpha(alpha)
    n = arm.entries
    if n == 0:
        return None
    z = _z(alpha)
    p = arm.conversions / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_ztest(control: ArmCounts, variant: ArmCounts) -> ZTest:
    """z = (p_v - p_c) / sqrt(p(1-p)(1/n_v + 1/n_c)), p pooled; two-sided p-value."""
    if control.entries == 0 or variant.entries == 0:
        return ZTest(None, None, "an arm has no entries yet")
    pooled = (control.conversions + variant.conversions) / (control.entries + variant.entries)
    variance = pooled * (1 - pooled) * (1 / control.entries + 1 / variant.entries)
    if variance <= 0:
        what = "no entry has converted" if pooled == 0 else "every entry has converted"
        return ZTest(None, None, f"{what} in either arm: the rates cannot differ yet")
    z = (variant.conversions / variant.entries - control.conversions / control.entries) / (
        math.sqrt(variance)
    )
    return ZTest(z, float(2 * stats.norm.sf(abs(z))))


def _unpooled_standard_error(control: ArmCounts, variant: ArmCounts) -> float | None:
    if control.entries == 0 or variant.entries == 0:
        return None
    pc, pv = control.conversions / control.entries, variant.conversions / variant.entries
    variance = pc * (1 - pc) / control.entries + pv * (1 - pv) / variant.entries
    return math.sqrt(variance) if variance > 0 else None


def _no_spread_reason(control: ArmCounts, variant: ArmCounts) -> str:
    if control.entries == 0 or variant.entries == 0:
        return "an arm has no entries yet"
    return "each arm converted none or all of its entries: no spread to estimate an interval from"


def difference_interval(
    control: ArmCounts, variant: ArmCounts, alpha: float = 0.05
) -> Interval | None:
    """Fixed-horizon (Wald, unpooled) interval for ``p_v - p_c``; None without spread."""
    _check_alpha(alpha)
    se = _unpooled_standard_error(control, variant)
    if se is None:
        return None
    difference = variant.conversions / variant.entries - control.conversions / control.entries
    half = _z(alpha) * se
    return Interval(difference - half, difference + half)


def relative_interval(
    control: ArmCounts, variant: ArmCounts, alpha: float = 0.05
) -> Interval | None:
    """Log-ratio (Katz) interval for ``p_v / p_c - 1``; None unless both arms converted."""
    _check_alpha(alpha)
    if control.conversions == 0 or variant.conversions == 0:
        return None
    variance = (
        1 / variant.conversions
        - 1 / variant.entries
        + 1 / control.conversions
        - 1 / control.entries
    )
    if variance <= 0:  # both arms converted every entry
        return None
    log_ratio = math.log(
        (variant.conversions / variant.entries) / (control.conversions / control.entries)
    )
    half = _z(alpha) * math.sqrt(variance)
    return Interval(math.exp(log_ratio - half) - 1, math.exp(log_ratio + half) - 1)


# --- the always-valid interval ---------------------------------------------------------


def _mixing_rho(alpha: float, tuning: float) -> float:
    # The mixture variance that makes the boundary tightest at n = tuning (eq. 161 of the
    # arXiv v7 of Waudby-Smith et al., after Howard et al. 2021).
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning)


def _sequential_multiplier(total: int, alpha: float, tuning: float) -> float:
    """The confidence sequence's half-width in standard errors of the difference: with the
    per-entry variance s² = SE² · n, the boundary below is SE times this."""
    rho2 = _mixing_rho(alpha, tuning) ** 2
    grow = total * rho2 + 1
    return math.sqrt(2 * grow / (total * rho2) * math.log(math.sqrt(grow) / alpha))


def _check_tuning(tuning: float) -> None:
    if not tuning > 0:
        raise ValueError(f"the sequential tuning must be positive, not {tuning}")


def confidence_sequence(
    control: ArmCounts,
    variant: ArmCounts,
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> Interval | None:
    """An always-valid (1 - alpha) interval for ``p_v - p_c``: the asymptotic confidence
    sequence of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit
    theory and asymptotic confidence sequences" (Annals of Statistics 2024; arXiv:2103.06476),
    Theorem 2.2, with the two-sided normal-mixture boundary of Howard, Ramdas, McAuliffe &
    Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences"::

        d ± sqrt( s² · 2(nrho² + 1) / (n²rho²) · log( sqrt(nrho² + 1) / alpha ) )

    ``n`` is the total number of entries, ``d`` the difference of the rates and ``s²`` the
    per-entry variance, estimated by ``n`` times the squared (unpooled) standard error of
    ``d``: the variance of the inverse-propensity-weighted difference that the paper's A/B
    setting averages, with the realised arm shares plugged in. ``rho`` is chosen so that the
    boundary is tightest at ``n = tuning``. This is the sequential test GrowthBook runs.

    With probability at least 1 - alpha (asymptotically) the interval contains the true
    difference at *every* n at once, so it can be looked at any number of times. Computed
    from the current aggregates only: a reader that keeps earlier intervals may intersect
    them for a tighter, still valid, interval. None when there is no spread (see
    :func:`difference_interval`).
    """
    _check_alpha(alpha)
    _check_tuning(tuning)
    se = _unpooled_standard_error(control, variant)
    if se is None:
        return None
    difference = variant.conversions / variant.entries - control.conversions / control.entries
    half = se * _sequential_multiplier(control.entries + variant.entries, alpha, tuning)
    return Interval(difference - half, difference + half)


def always_valid_p_value(
    control: ArmCounts,
    variant: ArmCounts,
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> float | None:
    """The p-value that goes with :func:`confidence_sequence`: below ``alpha`` exactly when
    the sequence at that ``alpha`` excludes zero (``alpha`` only sets the tuning's rho).
    It is 1 / the mixture likelihood ratio, capped at 1 (eq. 155 of arXiv:2103.06476v7)."""
    _check_alpha(alpha)
    _check_tuning(tuning)
    se = _unpooled_standard_error(control, variant)
    if se is None:
        return None
    total = control.entries + variant.entries
    difference = variant.conversions / variant.entries - control.conversions / control.entries
    rho2 = _mixing_rho(alpha, tuning) ** 2
    grow = total * rho2 + 1
    log_e_value = rho2 * total * difference**2 / (2 * se**2 * grow) - 0.5 * math.log(grow)
    return min(1.0, math.exp(-log_e_value))


# --- power -----------------------------------------------------------------------------


def minimum_detectable_effect(
    control: ArmCounts,
    variant: ArmCounts,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    sequential: bool = True,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> float | None:
    """The smallest absolute rise over the control's rate that is found significant with
    probability ``power`` at the current arm sizes.

    A rise ``d`` is found when the estimate exceeds ``k · SE(d)``, where ``k`` is
    ``z_{1-alpha/2}`` for one fixed-horizon look and the confidence sequence's multiplier
    for the report's always-valid rule (the default), and ``SE(d)² = p(1-p)/n_c +
    (p+d)(1-p-d)/n_v`` with ``p`` the control's rate: the variance the variant would have
    at the rate it is being sized for. So ``d = (k + z_power) · SE(d)``, a quadratic in
    ``d``, solved exactly. None for an empty arm, or when no rise to at most 100% is
    detectable at this size.
    """
    _check_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, not {power}")
    if control.entries == 0 or variant.entries == 0:
        return None
    if sequential:
        _check_tuning(tuning)
        k = _sequential_multiplier(control.entries + variant.entries, alpha, tuning)
    else:
        k = _z(alpha)
    c2 = (k + float(stats.norm.ppf(power))) ** 2
    p = control.conversions / control.entries
    n_c, n_v = control.entries, variant.entries
    # d² = c²·(p(1-p)/n_c + (p+d)(1-p-d)/n_v), as a·d² + b·d + c = 0:
    a = 1 + c2 / n_v
    b = -c2 * (1 - 2 * p) / n_v
    c = -c2 * (p * (1 - p) / n_c + p * (1 - p) / n_v)
    rise = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return rise if rise > 0 and p + rise <= 1 else None


# --- across arms -----------------------------------------------------------------------


def chi_squared_across_arms(arms: Sequence[ArmCounts]) -> ChiSquaredTest:
    """Pearson's chi-squared test of independence on the arms x (converted, not) table,
    without continuity correction. Arms without entries are left out."""
    used = [arm for arm in arms if arm.entries > 0]
    names = tuple(arm.name for arm in used)
    dof = max(0, len(used) - 1)
    if len(used) < 2:
        return ChiSquaredTest(None, dof, None, names, "fewer than two arms have entries")
    total = sum(arm.entries for arm in used)
    converted = sum(arm.conversions for arm in used)
    if converted in (0, total):
        what = "no entry has converted" if converted == 0 else "every entry has converted"
        return ChiSquaredTest(None, dof, None, names, f"{what} in any arm")
    statistic = 0.0
    smallest = math.inf
    for arm in used:
        for observed, column in (
            (arm.conversions, converted),
            (arm.entries - arm.conversions, total - converted),
        ):
            expected = arm.entries * column / total
            smallest = min(smallest, expected)
            statistic += (observed - expected) ** 2 / expected
    notes = (_small_expected_note(smallest),) if smallest < 5 else ()
    p_value = float(stats.chi2.sf(statistic, dof))
    return ChiSquaredTest(statistic, dof, p_value, names, notes=notes)


def _small_expected_note(smallest: float) -> str:
    return f"an expected count is {smallest:.1f} (< 5): the chi-squared p-value is rough"


def sample_ratio_mismatch(
    observed: Mapping[str, int],
    weights: Mapping[str, float],
    threshold: float = SRM_THRESHOLD,
) -> SampleRatioCheck:
    """Chi-squared goodness of fit of the observed assignments against the configured
    weights (any positive scale: fractions, percent, basis points). ``mismatch`` when
    p < ``threshold``. Count each customer once (their first entry): re-entries keep their
    variant, so they are not new draws of the split.

    An arm with assignments but no (or zero) weight is a mismatch outright; an arm with a
    weight and no assignments counts as 0.
    """
    if any(count < 0 for count in observed.values()):
        raise ValueError("assignment counts cannot be negative")
    if any(not (weight >= 0 and math.isfinite(weight)) for weight in weights.values()):
        raise ValueError("weights must be finite and not negative")
    weight_total = sum(weights.values())
    if weight_total <= 0:
        raise ValueError("the weights add up to zero")
    total = sum(observed.values())
    arms = [name for name, weight in weights.items() if weight > 0]
    expected = {name: total * weights[name] / weight_total for name in arms}
    dof = max(0, len(arms) - 1)
    unweighted = sorted(name for name, count in observed.items() if count > 0 and name not in arms)
    if unweighted:
        reason = f"assignments to arms without a weight: {', '.join(unweighted)}"
        return SampleRatioCheck(None, dof, None, True, expected, reason)
    if total == 0:
        return SampleRatioCheck(None, dof, None, False, expected, "no assignments yet")
    if len(arms) < 2:
        return SampleRatioCheck(None, dof, None, False, expected, "only one arm has a weight")
    statistic = sum((observed.get(name, 0) - expected[name]) ** 2 / expected[name] for name in arms)
    p_value = float(stats.chi2.sf(statistic, dof))
    smallest = min(expected.values())
    notes = (_small_expected_note(smallest),) if smallest < 5 else ()
    return SampleRatioCheck(statistic, dof, p_value, p_value < threshold, expected, notes=notes)


# --- revenue ---------------------------------------------------------------------------


def _is_finite(value: Amount) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite()
    return math.isfinite(value)


def _sample_variance(arm: ArmCounts) -> Fraction:
    """(Σx² - (Σx)²/n) / (n - 1), exactly (Fraction), so that no cancellation is added to
    the rounding already in the sums; never negative."""
    n = arm.entries
    total, squares = Fraction(arm.revenue), Fraction(arm.revenue_squares)
    return max(Fraction(0), (squares - total * total / n) / (n - 1))


def revenue_per_entry(arm: ArmCounts, alpha: float = 0.05) -> MeanEstimate:
    """Mean revenue per entry with a Student-t interval (None below 2 entries or when every
    entry brought the same revenue)."""
    _check_alpha(alpha)
    n = arm.entries
    if n == 0:
        return MeanEstimate(arm.name, 0, None, None, "no entries yet")
    mean = float(Fraction(arm.revenue) / n)
    if n < 2:
        return MeanEstimate(arm.name, n, mean, None, "one entry: no spread to estimate")
    variance = _sample_variance(arm)
    if variance == 0:
        return MeanEstimate(arm.name, n, mean, None, "every entry brought the same revenue")
    half = float(stats.t.isf(alpha / 2, n - 1)) * math.sqrt(variance / n)
    return MeanEstimate(arm.name, n, mean, Interval(mean - half, mean + half))


def revenue_difference(
    control: ArmCounts, variant: ArmCounts, alpha: float = 0.05
) -> RevenueComparison:
    """Welch's t for revenue per entry, variant minus control: interval, two-sided p-value
    and Welch-Satterthwaite degrees of freedom. Equal to ``scipy.stats.ttest_ind(variant,
    control, equal_var=False)`` on the per-entry revenues."""
    control_mean = revenue_per_entry(control, alpha)
    variant_mean = revenue_per_entry(variant, alpha)

    def without(reason: str) -> RevenueComparison:
        difference = (
            variant_mean.mean - control_mean.mean
            if variant_mean.mean is not None and control_mean.mean is not None
            else None
        )
        return RevenueComparison(control_mean, variant_mean, difference, None, None, None, reason)

    if control.entries < 2 or variant.entries < 2:
        return without("an arm has fewer than two entries")
    share_c = _sample_variance(control) / control.entries
    share_v = _sample_variance(variant) / variant.entries
    if share_c + share_v == 0:
        return without("every entry in both arms brought the same revenue")
    se = math.sqrt(share_c + share_v)
    dof = float(
        (share_c + share_v) ** 2
        / (share_c**2 / (control.entries - 1) + share_v**2 / (variant.entries - 1))
    )
    difference = float(
        Fraction(variant.revenue) / variant.entries - Fraction(control.revenue) / control.entries
    )
    t = difference / se
    half = float(stats.t.isf(alpha / 2, dof)) * se
    return RevenueComparison(
        control_mean,
        variant_mean,
        difference,
        Interval(difference - half, difference + half),
        float(2 * stats.t.sf(abs(t), dof)),
        dof,
    )


# --- the verdict -----------------------------------------------------------------------


def _points(fraction: float) -> str:
    return f"{fraction * 100:+.2f} points"


def _too_small(
    control: ArmCounts, variant: ArmCounts, min_entries: int, min_expected: float
) -> str | None:
    for arm in (control, variant):
        if arm.entries < min_entries:
            return f"{arm.name} has {arm.entries} entries; each arm needs at least {min_entries}"
    pooled = (control.conversions + variant.conversions) / (control.entries + variant.entries)
    for arm in (control, variant):
        expected_yes, expected_no = arm.entries * pooled, arm.entries * (1 - pooled)
        if min(expected_yes, expected_no) < min_expected:
            which = "conversions" if expected_yes < expected_no else "non-conversions"
            return (
                f"too few {which} so far ({control.conversions + variant.conversions} "
                f"conversions in {control.entries + variant.entries} entries): each arm needs "
                f"at least {min_expected:g} expected {which} at the overall rate"
            )
    return None


def compare_arms(
    control: ArmCounts,
    variant: ArmCounts,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    min_entries: int = DEFAULT_MIN_ENTRIES,
    min_expected: float = DEFAULT_MIN_EXPECTED,
) -> Comparison:
    """Every figure of one variant against the control, and the verdict."""
    _check_alpha(alpha)
    notes: list[str] = []
    pc, pv = control.rate, variant.rate
    absolute = pv - pc if pv is not None and pc is not None else None
    relative = pv / pc - 1 if pv is not None and pc else None
    if absolute is None:
        notes.append("uplift: an arm has no entries yet")
    elif relative is None:
        notes.append("relative uplift: the control has not converted yet")
    absolute_ci = difference_interval(control, variant, alpha)
    if absolute_ci is None:
        notes.append(f"intervals: {_no_spread_reason(control, variant)}")
    relative_ci = relative_interval(control, variant, alpha)
    if relative_ci is None and absolute_ci is not None:
        notes.append("relative interval: needs a conversion in each arm and not all converted")
    z_test = two_proportion_ztest(control, variant)
    if z_test.reason is not None:
        notes.append(f"z-test: {z_test.reason}")
    sequence = confidence_sequence(control, variant, alpha, tuning)
    sequential_p = always_valid_p_value(control, variant, alpha, tuning)
    mde = minimum_detectable_effect(control, variant, alpha=alpha, power=power, tuning=tuning)
    mde_relative = mde / pc if mde is not None and pc else None

    verdict: Verdict
    too_small = _too_small(control, variant, min_entries, min_expected)
    if too_small is not None:
        verdict, explanation = "sample too small", f"sample too small: {too_small}"
    elif sequence is None or absolute is None:
        verdict = "sample too small"
        explanation = f"sample too small: {_no_spread_reason(control, variant)}"
    elif sequence.excludes_zero():
        verdict = "better" if sequence.low > 0 else "worse"
        explanation = (
            f"{verdict}: {variant.name} converts {_points(absolute)} against {control.name} "
            f"(always-valid {1 - alpha:.0%} interval {_points(sequence.low)} to "
            f"{_points(sequence.high)})"
        )
    else:
        verdict = "not yet"
        detectable = f"{mde * 100:.2f} points" if mde is not None else "unknown"
        if mde_relative is not None:
            detectable += f" ({mde_relative:.0%} of the control rate)"
        explanation = (
            f"not yet: no difference shown ({_points(absolute)}, always-valid interval "
            f"{_points(sequence.low)} to {_points(sequence.high)}); at this size a rise "
            f"of {detectable} would be found {power:.0%} of the time (alpha {alpha:g})"
        )
    return Comparison(
        variant=variant.name,
        control=control.name,
        variant_rate=pv,
        control_rate=pc,
        variant_rate_interval=rate_interval(variant, alpha),
        control_rate_interval=rate_interval(control, alpha),
        absolute_uplift=absolute,
        absolute_interval=absolute_ci,
        relative_uplift=relative,
        relative_interval=relative_ci,
        z_test=z_test,
        sequential_interval=sequence,
        sequential_p_value=sequential_p,
        significant=verdict in ("better", "worse"),
        verdict=verdict,
        explanation=explanation,
        mde_absolute=mde,
        mde_relative=mde_relative,
        alpha=alpha,
        power=power,
        revenue=revenue_difference(control, variant, alpha),
        notes=tuple(notes),
    )


def analyse_experiment(
    arms: Sequence[ArmCounts],
    weights: Mapping[str, float],
    *,
    control: str = "control",
    assignments: Mapping[str, int] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    min_entries: int = DEFAULT_MIN_ENTRIES,
    min_expected: float = DEFAULT_MIN_EXPECTED,
) -> ExperimentResult:
    """Each variant against ``control``, the chi-squared test across all arms and the
    sample-ratio check. ``assignments`` are the distinct customers per arm for the ratio
    check (default: the arms' entries)."""
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names repeat: {names}")
    by_name = {arm.name: arm for arm in arms}
    notes: list[str] = []
    comparisons: list[Comparison] = []
    baseline = by_name.get(control)
    if baseline is None:
        notes.append(f"no {control!r} arm: nothing to compare the variants against")
    else:
        comparisons = [
            compare_arms(
                baseline,
                arm,
                alpha=alpha,
                power=power,
                tuning=tuning,
                min_entries=min_entries,
                min_expected=min_expected,
            )
            for arm in arms
            if arm.name != control
        ]
    observed = dict(assignments) if assignments is not None else {a.name: a.entries for a in arms}
    return ExperimentResult(
        comparisons=tuple(comparisons),
        across_arms=chi_squared_across_arms(arms),
        sample_ratio=sample_ratio_mismatch(observed, weights),
        notes=tuple(notes),
    )
