"""The BG/NBD core: P(alive), its crossing time, the likelihood, the fit, and the summaries."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import integrate, optimize, stats

from lifecycle.exceptions import ModelFitError
from lifecycle.prediction.bgnbd import (
    BgNbdParams,
    CustomerSummary,
    TimeUnit,
    fit,
    log_likelihood,
    p_alive,
    p_alive_crossing_time,
    summarise_purchases,
)
from lifecycle.prediction.bgnbd import (
    _columns as bgnbd_columns,
)
from lifecycle.prediction.bgnbd import (
    _log_parameter_standard_errors as log_parameter_standard_errors,
)
from lifecycle.prediction.bgnbd import (
    _per_customer_log_likelihood as per_customer_log_likelihood,
)

# The estimates FHL 2005 report for CDNOW (weeks); realistic values for the properties.
CDNOW_PUBLISHED = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def as_log_array(params: BgNbdParams) -> np.ndarray:
    return np.log([params.r, params.alpha, params.a, params.b])


params_strategy = st.builds(
    BgNbdParams,
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.1, 100.0),
    a=st.floats(0.05, 5.0),
    b=st.floats(0.05, 10.0),
)


def integrated_likelihood_terms(
    params: BgNbdParams, x: int, t_x: float, T: float
) -> tuple[float, float]:
    """The two ways the model produces a history, integrated numerically over lambda and p.

    Alive throughout: (1-p)^x lambda^x e^(-lambda T). Dropped out right after the last
    purchase (only if there was one): p (1-p)^(x-1) lambda^x e^(-lambda t_x). Both averaged
    over lambda ~ Gamma(r, rate alpha) and p ~ Beta(a, b): no closed form involved, so this
    checks the algebra of the formulas under test.
    """
    rate = stats.gamma(params.r, scale=1 / params.alpha)
    dropout = stats.beta(params.a, params.b)

    def over_rate(time: float) -> float:
        # To infinity: a finite cut-off lets quad miss the peak when lambda^x is steep.
        return float(
            integrate.quad(lambda lam: lam**x * math.exp(-lam * time) * rate.pdf(lam), 0, math.inf)[
                0
            ]
        )

    def over_dropout(weight: Callable[[float], float]) -> float:
        return float(integrate.quad(lambda p: weight(p) * dropout.pdf(p), 0, 1)[0])

    alive = over_dropout(lambda p: (1 - p) ** x) * over_rate(T)
    if x == 0:
        return alive, 0.0
    dead = over_dropout(lambda p: p * (1 - p) ** (x - 1)) * over_rate(t_x)
    return alive, dead


# -- P(alive) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T", "expected"),
    [
        # a/(b+x-1) = 1/2, ((1+3)/(1+1))^(1+1) = 4: 1 / (1 + 2) = 1/3
        (BgNbdParams(r=1, alpha=1, a=1, b=2), 1, 1.0, 3.0, 1 / 3),
        # a/(b+x-1) = 1/2, ((2+14)/(2+2))^2.5 = 32: 1 / (1 + 16) = 1/17
        (BgNbdParams(r=0.5, alpha=2, a=1, b=1), 2, 2.0, 14.0, 1 / 17),
        # At T = t_x the ratio is 1: P = (b+x-1) / (a+b+x-1) = 5/7 whatever r and alpha are.
        (BgNbdParams(r=3.7, alpha=0.2, a=2, b=3), 3, 8.0, 8.0, 5 / 7),
        # No repeat purchase: alive by construction of the model, however long ago.
        (CDNOW_PUBLISHED, 0, 0.0, 1e6, 1.0),
    ],
)
def test_p_alive_matches_hand_computed_values(
    params: BgNbdParams, x: int, t_x: float, T: float, expected: float
) -> None:
    assert p_alive(params, x, t_x, T) == pytest.approx(expected, rel=1e-12)


def test_p_alive_is_the_posterior_of_the_generative_model() -> None:
    params, x, t_x, T = CDNOW_PUBLISHED, 3, 20.0, 39.0
    alive, dead = integrated_likelihood_terms(params, x, t_x, T)
    assert p_alive(params, x, t_x, T) == pytest.approx(alive / (alive + dead), rel=1e-6)


def test_p_alive_ignores_recency_without_repeat_purchases() -> None:
    # The worker measures t_x between order timestamps, so two orders on the first day give
    # x == 0 with t_x > 0; the model still says alive.
    assert p_alive(CDNOW_PUBLISHED, 0, 0.3, 10.0) == 1.0


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        (-1, 0.0, 1.0, "x must be a non-negative integer"),
        (1, 2.0, 1.0, "need 0 <= t_x <= T"),
        (1, -0.5, 1.0, "need 0 <= t_x <= T"),
        (1, 0.0, math.inf, "must be finite"),
        (1, math.nan, 1.0, "must be finite"),
    ],
)
def test_p_alive_rejects_impossible_statistics(x: int, t_x: float, T: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        p_alive(CDNOW_PUBLISHED, x, t_x, T)


@given(
    params=params_strategy,
    x=st.integers(0, 200),
    t_x=st.floats(0, 500),
    extra=st.floats(0, 5000),
)
def test_p_alive_is_a_probability(params: BgNbdParams, x: int, t_x: float, extra: float) -> None:
    t_x = t_x if x > 0 else 0.0
    assert 0.0 <= p_alive(params, x, t_x, t_x + extra) <= 1.0


@given(
    params=params_strategy,
    x=st.integers(1, 200),
    t_x=st.floats(0, 500),
    gaps=st.tuples(st.floats(0, 5000), st.floats(0, 5000)),
)
def test_p_alive_does_not_increase_with_age(
    params: BgNbdParams, x: int, t_x: float, gaps: tuple[float, float]
) -> None:
    earlier, later = t_x + min(gaps), t_x + max(gaps)
    # Relative slack of a few ulps for the two numerically stable branches of the logistic.
    assert p_alive(params, x, t_x, later) <= p_alive(params, x, t_x, earlier) * (1 + 1e-14)


# -- the crossing time ------------------------------------------------------------------


def test_crossing_time_matches_a_hand_computed_case() -> None:
    # The first hand case above: P(alive | x=1, t_x=1, T=3) = 1/3, so 1/3 is crossed at T = 3.
    params = BgNbdParams(r=1, alpha=1, a=1, b=2)
    assert p_alive_crossing_time(params, 1, 1.0, 1 / 3) == pytest.approx(3.0, rel=1e-12)


@given(
    params=params_strategy,
    x=st.integers(1, 100),
    t_x=st.floats(0, 300),
    threshold=st.floats(0.01, 0.99),
)
def test_crossing_time_round_trip(
    params: BgNbdParams, x: int, t_x: float, threshold: float
) -> None:
    crossing = p_alive_crossing_time(params, x, t_x, threshold)
    assert crossing is not None
    assert crossing >= t_x
    step = 1e-6 * (params.alpha + crossing)
    # Only histories still above the threshold at the last purchase cross later.
    assume(crossing > t_x + step)
    assert p_alive(params, x, t_x, crossing) == pytest.approx(threshold, rel=1e-9)
    assert p_alive(params, x, t_x, crossing - step) > threshold
    assert p_alive(params, x, t_x, crossing + step) < threshold


def test_crossing_time_is_the_last_purchase_when_already_below() -> None:
    # a / (b + x - 1) = 10, so P(alive) is 1/11 at T = t_x, below 0.3 from the start.
    params = BgNbdParams(r=0.5, alpha=3, a=5, b=0.5)
    assert p_alive(params, 1, 4.0, 4.0) == pytest.approx(1 / 11)
    assert p_alive_crossing_time(params, 1, 4.0, 0.3) == 4.0


def test_crossing_time_is_none_without_repeat_purchases() -> None:
    assert p_alive_crossing_time(CDNOW_PUBLISHED, 0, 0.0, 0.5) is None


def test_crossing_time_is_none_when_too_far_to_represent() -> None:
    params = BgNbdParams(r=0.01, alpha=1, a=1e-6, b=1e6)
    assert p_alive_crossing_time(params, 1, 0.0, 1e-300) is None


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_crossing_time_needs_a_threshold_strictly_inside_0_1(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        p_alive_crossing_time(CDNOW_PUBLISHED, 2, 3.0, threshold)


# -- the likelihood ---------------------------------------------------------------------


def test_log_likelihood_matches_hand_computed_values() -> None:
    params = BgNbdParams(r=1, alpha=1, a=1, b=1)
    # x = 0: L = (alpha / (alpha + T))^r = 1/2.
    assert log_likelihood(params, [CustomerSummary(0, 0.0, 1.0)]) == pytest.approx(math.log(0.5))
    # x = 1, t_x = 0, T = 1: B(1,2)/B(1,1) / 2^2 + B(2,1)/B(1,1) / 1^2 = 1/8 + 1/2 = 5/8.
    assert log_likelihood(params, [CustomerSummary(1, 0.0, 1.0)]) == pytest.approx(math.log(5 / 8))
    # Customers are independent: the log-likelihood of both is the sum.
    both = [CustomerSummary(0, 0.0, 1.0), CustomerSummary(1, 0.0, 1.0)]
    assert log_likelihood(params, both) == pytest.approx(math.log(0.5) + math.log(5 / 8))


@pytest.mark.parametrize(
    ("x", "t_x", "T"), [(0, 0.0, 30.0), (1, 5.0, 30.0), (7, 28.5, 39.0), (25, 60.0, 70.0)]
)
def test_log_likelihood_is_the_generative_model_integrated(x: int, t_x: float, T: float) -> None:
    alive, dead = integrated_likelihood_terms(CDNOW_PUBLISHED, x, t_x, T)
    assert log_likelihood(CDNOW_PUBLISHED, [CustomerSummary(x, t_x, T)]) == pytest.approx(
        math.log(alive + dead), rel=1e-6
    )


@given(
    params=params_strategy,
    rows=st.lists(st.tuples(st.integers(0, 30), st.floats(0, 1), st.floats(0.01, 100)), min_size=1),
    scale=st.floats(0.01, 100),
)
def test_log_likelihood_follows_a_change_of_time_unit(
    params: BgNbdParams, rows: list[tuple[int, float, float]], scale: float
) -> None:
    # Measuring time in a unit 1/scale as long multiplies t_x, T and alpha by scale; the
    # likelihood is a density in the x purchase times, so it shrinks by scale^x.
    data = [CustomerSummary(x, share * T if x else 0.0, T) for x, share, T in rows]
    rescaled = [CustomerSummary(c.x, c.t_x * scale, c.T * scale) for c in data]
    rescaled_params = params.model_copy(update={"alpha": params.alpha * scale})
    repeats = sum(c.x for c in data)
    assert log_likelihood(rescaled_params, rescaled) == pytest.approx(
        log_likelihood(params, data) - repeats * math.log(scale), rel=1e-9, abs=1e-9
    )


def test_analytic_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(7)
    data = simulate(rng, CDNOW_PUBLISHED, 300).summaries
    x, t_x, T, weights = bgnbd_columns(data)

    def value(log_params: np.ndarray) -> float:
        return float(weights @ per_customer_log_likelihood(log_params, x, t_x, T)[0])

    def gradient(log_params: np.ndarray) -> np.ndarray:
        return weights @ per_customer_log_likelihood(log_params, x, t_x, T)[1]

    for point in (as_log_array(CDNOW_PUBLISHED), np.array([0.3, -1.0, 1.2, -0.4])):
        numeric = optimize.approx_fprime(point, value, 1e-6)
        assert gradient(point) == pytest.approx(numeric, rel=1e-4, abs=1e-3)


# -- the fit ----------------------------------------------------------------------------


class Simulated:
    def __init__(self, summaries: list[CustomerSummary], alive: list[bool]) -> None:
        self.summaries = summaries
        self.alive = alive


def simulate(
    rng: np.random.Generator,
    params: BgNbdParams,
    customers: int,
    horizon: float = 52.0,
    entry: float = 12.0,
) -> Simulated:
    """Draw histories from the BG/NBD story itself, not from its likelihood.

    Customers arrive (first purchase) uniformly over the first ``entry`` units and are
    watched until ``horizon``. Each draws lambda ~ Gamma(r, rate alpha) and p ~ Beta(a, b),
    buys at Poisson rate lambda, and after each repeat purchase drops out with probability p.
    """
    rates = rng.gamma(params.r, 1 / params.alpha, customers)
    dropouts = rng.beta(params.a, params.b, customers)
    ages = horizon - rng.uniform(0, entry, customers)
    summaries, alive = [], []
    for rate, dropout, age in zip(rates, dropouts, ages, strict=True):
        time, x, last, active = 0.0, 0, 0.0, True
        while active:
            time += rng.exponential(1 / rate)
            if time > age:
                break
            x, last = x + 1, time
            active = rng.random() >= dropout
        summaries.append(CustomerSummary(x, last, float(age)))
        alive.append(active)
    return Simulated(summaries, alive)


def test_fit_recovers_the_parameters_it_simulated_from() -> None:
    true = CDNOW_PUBLISHED
    rng = np.random.default_rng(20050301)
    data = simulate(rng, true, 8000).summaries
    result = fit(data)
    assert result.customers == 8000
    assert result.log_likelihood == pytest.approx(log_likelihood(result.params, data))
    # The maximum is a maximum: the true parameters fit the sample no better.
    assert result.log_likelihood >= log_likelihood(true, data)

    # Tolerance: 4 asymptotic standard errors of each log-estimate, from the observed
    # information at the optimum. With 8000 customers watched 40-52 weeks these are about
    # 0.025 (r), 0.04 (alpha), 0.10 (a) and 0.13 (b): a and b, which only dropouts inform,
    # are loose in any BG/NBD sample of this size. A Monte Carlo check (300 samples of 5000
    # customers) gave z-scores with mean within 0.07 of 0 and spread 0.95-1.02, so the
    # standard errors are honest and a correct fit leaves 4 of them about once in 4000
    # samples; a wrong likelihood or dropout rule moves estimates by far more.
    x, t_x, T, weights = bgnbd_columns(data)
    estimate = as_log_array(result.params)
    errors = log_parameter_standard_errors(estimate, x, t_x, T, weights)
    assert np.all(errors < 0.2), f"the sample should pin the parameters down: {errors}"
    z = (estimate - as_log_array(true)) / errors
    assert np.all(np.abs(z) < 4), f"estimates {result.params} are {z} standard errors off"


def test_p_alive_is_calibrated_on_simulated_customers() -> None:
    # Among simulated repeat buyers, the expected number alive (sum of P(alive) under the
    # true parameters) should match how many really are, within binomial noise.
    rng = np.random.default_rng(11)
    sample = simulate(rng, CDNOW_PUBLISHED, 6000)
    pairs = [
        (p_alive(CDNOW_PUBLISHED, c.x, c.t_x, c.T), alive)
        for c, alive in zip(sample.summaries, sample.alive, strict=True)
        if c.x > 0
    ]
    expected = sum(p for p, _ in pairs)
    actual = sum(alive for _, alive in pairs)
    spread = math.sqrt(sum(p * (1 - p) for p, _ in pairs))
    assert abs(actual - expected) < 4 * spread, (actual, expected, spread)
    # And P(alive) separates: the alive have clearly higher P(alive) than the dead.
    mean_alive = np.mean([p for p, alive in pairs if alive])
    mean_dead = np.mean([p for p, alive in pairs if not alive])
    assert mean_alive > mean_dead + 0.2


def test_fit_is_unit_free_except_for_alpha() -> None:
    rng = np.random.default_rng(3)
    weeks = simulate(rng, CDNOW_PUBLISHED, 3000).summaries
    days = [CustomerSummary(c.x, c.t_x * 7, c.T * 7) for c in weeks]
    in_weeks, in_days = fit(weeks), fit(days)
    assert in_days.params.r == pytest.approx(in_weeks.params.r, rel=1e-5)
    assert in_days.params.a == pytest.approx(in_weeks.params.a, rel=1e-5)
    assert in_days.params.b == pytest.approx(in_weeks.params.b, rel=1e-5)
    assert in_days.params.alpha == pytest.approx(7 * in_weeks.params.alpha, rel=1e-5)
    repeats = sum(c.x for c in weeks)
    assert in_days.log_likelihood == pytest.approx(
        in_weeks.log_likelihood - repeats * math.log(7), rel=1e-9
    )


def test_fit_does_not_depend_on_the_start() -> None:
    rng = np.random.default_rng(5)
    data = simulate(rng, CDNOW_PUBLISHED, 3000).summaries
    default = fit(data)
    far = fit(data, start=BgNbdParams(r=5, alpha=0.5, a=0.1, b=20))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(far.params, name) == pytest.approx(getattr(default.params, name), rel=1e-4)


def test_fit_needs_customers() -> None:
    with pytest.raises(ModelFitError, match="no customers"):
        fit([])


def test_fit_needs_repeat_purchases() -> None:
    with pytest.raises(ModelFitError, match="repeat purchase"):
        fit([CustomerSummary(0, 0.0, float(T)) for T in range(1, 50)])


def test_fit_refuses_parameters_the_data_cannot_identify() -> None:
    # Every repeat buyer bought last at the very end: nothing tells dropout apart from
    # staying, so a and b are unidentified (the likelihood does not depend on them at all).
    data = [CustomerSummary(1, 10.0, 10.0)] * 50 + [CustomerSummary(0, 0.0, 10.0)] * 50
    with pytest.raises(ModelFitError, match="do not identify"):
        fit(data)


def test_params_must_be_positive_and_finite() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValidationError):
            BgNbdParams(r=bad, alpha=1, a=1, b=1)
    with pytest.raises(ValidationError):
        BgNbdParams(r=1, alpha=1, a=1, b=1, c=1)  # type: ignore[call-arg]


def test_params_are_frozen() -> None:
    params = BgNbdParams(r=1, alpha=1, a=1, b=1)
    with pytest.raises(ValidationError):
        params.r = 2  # type: ignore[misc]


def test_customer_summary_wants_zero_recency_without_repeats() -> None:
    with pytest.raises(ValueError, match="t_x must be 0"):
        CustomerSummary(0, 1.0, 5.0)


# -- sufficient statistics from dates ---------------------------------------------------


def test_summarise_purchases_counts_days_and_measures_in_the_unit() -> None:
    end = date(2024, 3, 31)
    summaries = summarise_purchases(
        {
            # Two orders on 1 Jan count once; the 2 April one is after the end.
            "c1": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 15), date(2024, 4, 2)],
            # A datetime counts on its own calendar date, whatever the time of day.
            "c2": [datetime(2024, 3, 3, 23, 30, tzinfo=timezone(timedelta(hours=-5)))],
            # Nothing on or before the end: not a customer of this calibration period.
            "c3": [date(2024, 4, 1)],
            "c4": [date(2024, 3, 31), date(2024, 3, 10), date(2024, 3, 10)],
        },
        end,
        TimeUnit.WEEK,
    )
    assert list(summaries) == ["c1", "c2", "c4"]
    assert summaries["c1"] == CustomerSummary(1, 14 / 7, 90 / 7)
    assert summaries["c2"] == CustomerSummary(0, 0.0, 28 / 7)
    assert summaries["c4"] == CustomerSummary(1, 21 / 7, 21 / 7)


def test_summarise_purchases_in_days() -> None:
    summaries = summarise_purchases(
        {"c": [date(2024, 1, 1), date(2024, 1, 3), date(2024, 1, 8)]},
        date(2024, 1, 10),
        TimeUnit.DAY,
    )
    assert summaries == {"c": CustomerSummary(2, 7.0, 9.0)}
