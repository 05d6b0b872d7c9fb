"""The Gamma-Gamma spend model: likelihood, expected spend and fit, checked against
integrals computed here and against parameters it was simulated from."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pytest
from scipy import integrate, special

from lifecycle.exceptions import ModelFitError
from lifecycle.prediction import (
    GammaGammaParams,
    SpendSummary,
    conditional_expected_spend,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    log_fit,
    summarise_spend,
)
from lifecycle.prediction.gamma_gamma import _log_likelihood_and_gradient

CDNOW = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def mean_density(m_x: float, x: int, p: float, nu: float) -> float:
    """Density of the mean of x independent Gamma(p, rate nu) values: Gamma(p x, rate nu x)."""
    shape, rate = p * x, nu * x
    return math.exp(shape * math.log(rate) + (shape - 1) * math.log(m_x) - rate * m_x
                    - special.gammaln(shape))  # fmt: skip


def nu_density(nu: float, q: float, gamma: float) -> float:
    return math.exp(q * math.log(gamma) + (q - 1) * math.log(nu) - gamma * nu - special.gammaln(q))


def integrate_over_nu(params: GammaGammaParams, x: int, m_x: float, weight: float = 0.0) -> float:
    """∫ (p / nu)^weight f(m_x | nu) g(nu) d nu, numerically."""

    def integrand(nu: float) -> float:
        value = mean_density(m_x, x, params.p, nu) * nu_density(nu, params.q, params.gamma)
        return value * (params.p / nu) ** weight

    total, _ = integrate.quad(integrand, 0, np.inf, limit=400, epsabs=0, epsrel=1e-11)
    return float(total)


@pytest.mark.parametrize(("x", "m_x"), [(1, 10.0), (2, 35.5), (7, 18.0), (30, 4.2)])
def test_log_likelihood_is_the_model_integrated_over_nu(x: int, m_x: float) -> None:
    expected = math.log(integrate_over_nu(CDNOW, x, m_x))
    assert gamma_gamma_log_likelihood(CDNOW, [SpendSummary(x, m_x)]) == pytest.approx(
        expected, rel=1e-8
    )


@pytest.mark.parametrize(("x", "m_x"), [(1, 10.0), (3, 80.0), (12, 22.0)])
def test_expected_spend_is_the_posterior_mean(x: int, m_x: float) -> None:
    posterior_mean = integrate_over_nu(CDNOW, x, m_x, weight=1.0) / integrate_over_nu(CDNOW, x, m_x)
    assert conditional_expected_spend(CDNOW, x, m_x) == pytest.approx(posterior_mean, rel=1e-8)


def test_expected_spend_without_repeat_purchases_is_the_population_mean() -> None:
    population = CDNOW.p * CDNOW.gamma / (CDNOW.q - 1)
    assert conditional_expected_spend(CDNOW, 0, 123.0) == pytest.approx(population)
    # Note 025: the expected spend moves from the population mean toward m_x as x grows.
    few, many = (
        conditional_expected_spend(CDNOW, 1, 100.0),
        conditional_expected_spend(CDNOW, 50, 100.0),
    )
    assert population < few < many < 100.0


def test_expected_spend_refuses_an_infinite_mean() -> None:
    with pytest.raises(ValueError, match="infinite"):
        conditional_expected_spend(GammaGammaParams(p=1.0, q=0.5, gamma=1.0), 0, 0.0)


def simulate(params: GammaGammaParams, customers: int, seed: int) -> list[SpendSummary]:
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(customers):
        x = int(rng.integers(1, 12))
        nu = rng.gamma(params.q, 1 / params.gamma)
        values = rng.gamma(params.p, 1 / nu, x)
        data.append(SpendSummary(x=x, m_x=float(values.mean())))
    return data


def log_standard_errors(params: GammaGammaParams, data: list[SpendSummary]) -> np.ndarray:
    """From the observed information, by central second differences of the likelihood."""
    centre = np.log([params.p, params.q, params.gamma])
    step = 1e-3

    def ll(log_params: np.ndarray) -> float:
        p, q, gamma = np.exp(log_params)
        return gamma_gamma_log_likelihood(GammaGammaParams(p=p, q=q, gamma=gamma), data)

    hessian = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            e_i, e_j = np.eye(3)[i] * step, np.eye(3)[j] * step
            hessian[i, j] = (
                ll(centre + e_i + e_j)
                - ll(centre + e_i - e_j)
                - ll(centre - e_i + e_j)
                + ll(centre - e_i - e_j)
            ) / (4 * step * step)
    return np.sqrt(np.diag(np.linalg.inv(-hessian)))


def test_fit_recovers_the_parameters_it_simulated_from() -> None:
    true = GammaGammaParams(p=4.0, q=3.0, gamma=20.0)
    data = simulate(true, 4000, seed=20261203)
    result = fit_gamma_gamma(data)
    assert result.customers == 4000
    estimate = result.params
    errors = log_standard_errors(estimate, data)
    z = (
        np.log([estimate.p, estimate.q, estimate.gamma]) - np.log([true.p, true.q, true.gamma])
    ) / errors
    assert np.all(errors < 0.3), errors
    assert np.all(np.abs(z) < 4), f"estimates {estimate} are {z} standard errors off"
    # The maximum: no neighbour is better.
    best = result.log_likelihood
    assert best == pytest.approx(gamma_gamma_log_likelihood(estimate, data), rel=1e-12)
    for factor in (0.98, 1.02):
        for name in ("p", "q", "gamma"):
            moved = estimate.model_copy(update={name: getattr(estimate, name) * factor})
            assert gamma_gamma_log_likelihood(moved, data) < best


def test_fit_needs_customers() -> None:
    with pytest.raises(ModelFitError, match="no customer"):
        fit_gamma_gamma([])


def test_fit_refuses_spend_that_never_varies() -> None:
    # Everyone spends 10 every time: no variation within or between customers to learn from.
    with pytest.raises(ModelFitError, match="do not identify"):
        fit_gamma_gamma([SpendSummary(x=x, m_x=10.0) for x in range(1, 40)])


@pytest.mark.parametrize(
    ("p", "q", "gamma"), [(162.5, 3233.0, 199.0), (2.0, 2.0, 5.0), (40.0, 900.0, 30.0)]
)
def test_spend_that_never_varies_is_refused_wherever_the_search_stops(
    p: float, q: float, gamma: float
) -> None:
    """Where L-BFGS-B stops on a flat likelihood depends on scipy's version (1.17 stops
    near the first point): the refusal comes from the curvature there, not the stop."""
    x, m_x = np.arange(1.0, 40.0), np.full(39, 10.0)
    errors = log_fit.log_standard_errors(
        lambda at: _log_likelihood_and_gradient(at, x, m_x)[1], np.log([p, q, gamma])
    )
    with pytest.raises(ModelFitError, match="do not identify the Gamma-Gamma parameters"):
        log_fit.check_identified(errors, ("p", "q", "gamma"), "Gamma-Gamma", "vary the spend")


def test_the_identification_check_agrees_with_second_differences_of_the_likelihood() -> None:
    data = simulate(CDNOW, customers=2000, seed=5)
    fitted = fit_gamma_gamma(data).params  # passed the check
    x = np.array([c.x for c in data], dtype=float)
    m_x = np.array([c.m_x for c in data], dtype=float)
    errors = log_fit.log_standard_errors(
        lambda at: _log_likelihood_and_gradient(at, x, m_x)[1],
        np.log([fitted.p, fitted.q, fitted.gamma]),
    )
    assert errors == pytest.approx(log_standard_errors(fitted, data), rel=0.02)
    assert np.all(errors < log_fit.MAX_LOG_STANDARD_ERROR)


@pytest.mark.parametrize(("x", "m_x"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, math.nan)])
def test_spend_summary_rejects_what_the_model_cannot_use(x: int, m_x: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SpendSummary(x=x, m_x=m_x)


def test_summarise_spend_follows_note_025() -> None:
    orders = {
        # First day 1 Jan left out; 5 Jan's two orders are one transaction of 30.
        "a": [
            (date(1997, 1, 1), Decimal("99.00")),
            (date(1997, 1, 5), Decimal("10.00")),
            (datetime(1997, 1, 5, 18, 0), Decimal("20.00")),
            (date(1997, 2, 1), Decimal("12.00")),
            (date(1997, 12, 1), Decimal("500.00")),  # after the calibration period
        ],
        "b": [(date(1997, 1, 2), Decimal("5.00"))],  # no repeat purchase
        "c": [(date(1997, 1, 3), Decimal("5.00")), (date(1997, 1, 9), Decimal("0"))],
        "d": [(date(1997, 1, 3), Decimal("5.00")), (date(1997, 1, 3), Decimal("7.00"))],
    }
    summaries = summarise_spend(orders, date(1997, 9, 30))
    assert summaries == {"a": SpendSummary(x=2, m_x=21.0)}
