"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie,
"The Gamma-Gamma Model of Monetary Value", note 025).

Each customer is summarised by two numbers:

- ``x``: repeat transactions (purchase days after the first, as in the BG/NBD),
- ``m_x``: their mean value, the *first* purchase day left out (note 025's convention).

The model: a customer's transaction values are Gamma(p, nu) with mean p / nu, and nu varies
across customers as Gamma(q, gamma). So a customer's mean spend per transaction is
p / nu, and its population mean is p * gamma / (q - 1) (finite for q > 1). The model
assumes spend is independent of the purchase process, which is what lets CLV multiply
the BG/NBD's expected transactions by the expected spend.

Only customers with ``x >= 1`` and a positive ``m_x`` carry information; the fit uses
those. Pure: numbers in, numbers out; numpy/scipy are used only by the fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import special

from lifecycle.exceptions import ModelFitError
from lifecycle.prediction.log_fit import (
    check_converged,
    check_identified,
    check_interior,
    log_standard_errors,
    minimize_logs,
)

__all__ = [
    "GammaGammaFit",
    "GammaGammaParams",
    "SpendSummary",
    "conditional_expected_spend",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "summarise_spend",
]

_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_FloatArray = npt.NDArray[np.float64]
_PARAMETER_NAMES: Final = ("p", "q", "gamma")


class GammaGammaParams(BaseModel):
    """Fitted Gamma-Gamma parameters; ``gamma`` is in money (the shop's currency)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    p: _Positive
    q: _Positive
    gamma: _Positive


@dataclass(frozen=True, slots=True)
class SpendSummary:
    """One customer's repeat transactions ``x`` (>= 1) and their mean value ``m_x`` (> 0)."""

    x: int
    m_x: float

    def __post_init__(self) -> None:
        if isinstance(self.x, bool) or not isinstance(self.x, int) or self.x < 1:
            raise ValueError(f"x must be a positive integer, got {self.x!r}")
        if not (math.isfinite(self.m_x) and self.m_x > 0):
            raise ValueError(f"m_x must be positive and finite, got {self.m_x!r}")


@dataclass(frozen=True, slots=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    customers: int


def conditional_expected_spend(params: GammaGammaParams, x: int, m_x: float) -> float:
    """E[mean transaction value | x, m_x]: note 025's equation (5),

        E(M | p, q, gamma, m_x, x) = p (gamma + x m_x) / (p x + q - 1),

    a weighted mean of the population mean p gamma / (q - 1) and the customer's own
    ``m_x``, the weight on ``m_x`` growing with ``x``. With ``x == 0`` it is the population
    mean (``m_x`` is ignored). Needs ``p x + q > 1`` (for x == 0: q > 1), else the mean is
    infinite and ValueError says so.
    """
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise ValueError(f"x must be a non-negative integer, got {x!r}")
    denominator = params.p * x + params.q - 1
    if denominator <= 0:
        raise ValueError(
            f"the expected spend is infinite for p x + q <= 1 (p={params.p}, q={params.q}, x={x})"
        )
    total = params.gamma + (x * m_x if x else 0.0)
    return params.p * total / denominator


def summarise_spend(
    orders: Mapping[str, Iterable[tuple[date, Decimal]]], calibration_end: date
) -> dict[str, SpendSummary]:
    """Each customer's (x, m_x): orders on one calendar day are one transaction (their
    sum), the first purchase day is left out, and orders after ``calibration_end`` are
    ignored. Customers without a repeat purchase day, or whose repeat spend is zero, carry
    no information about spend and are left out."""
    summaries: dict[str, SpendSummary] = {}
    for customer_id in sorted(orders):
        by_day: dict[date, Decimal] = {}
        for day, amount in orders[customer_id]:
            calendar_day = day.date() if isinstance(day, datetime) else day
            if calendar_day <= calibration_end:
                by_day[calendar_day] = by_day.get(calendar_day, Decimal(0)) + amount
        if len(by_day) < 2:
            continue
        repeat = [by_day[d] for d in sorted(by_day)[1:]]
        total = sum(repeat, start=Decimal(0))
        if total <= 0:
            continue
        summaries[customer_id] = SpendSummary(x=len(repeat), m_x=float(total / len(repeat)))
    return summaries


def gamma_gamma_log_likelihood(params: GammaGammaParams, data: Sequence[SpendSummary]) -> float:
    """The log-likelihood of ``data`` (note 025's equation (3), summed over customers):

    L = Gamma(p x + q) / (Gamma(p x) Gamma(q)) * gamma^q m_x^(p x - 1) x^(p x)
        / (gamma + m_x x)^(p x + q)
    """
    x, m_x = _columns(data)
    log_params = np.log(np.array([params.p, params.q, params.gamma]))
    value, _ = _log_likelihood_and_gradient(log_params, x, m_x)
    return value


def fit_gamma_gamma(data: Sequence[SpendSummary]) -> GammaGammaFit:
    """Maximum-likelihood estimates, over the log-parameters with L-BFGS-B and the
    analytic gradient (as :func:`lifecycle.prediction.bgnbd.fit`). Raises
    :class:`ModelFitError` without customers, when the optimiser fails, and when an
    estimate runs to the edge of the search range (1e-6 to 1e6) or the likelihood is
    (nearly) flat around it: the data do not identify it (all customers spending the same
    amount every time, say)."""
    if not data:
        raise ModelFitError(
            "no customer with a repeat purchase of positive value to fit the Gamma-Gamma "
            "spend model on"
        )
    x, m_x = _columns(data)
    customers = len(data)

    def objective(log_params: _FloatArray) -> tuple[float, _FloatArray]:
        value, gradient = _log_likelihood_and_gradient(log_params, x, m_x)
        if not math.isfinite(value):
            return math.inf, np.zeros(3)
        return -value / customers, -gradient / customers

    # p = q = 2 puts the population mean spend p gamma / (q - 1) at the sample mean.
    mean_spend = float(np.mean(m_x))
    start = np.log(np.array([2.0, 2.0, mean_spend / 2.0]))
    estimate, value, result = minimize_logs(objective, start, "Gamma-Gamma")
    check_interior(estimate, _PARAMETER_NAMES, "Gamma-Gamma")
    check_identified(
        log_standard_errors(lambda at: _log_likelihood_and_gradient(at, x, m_x)[1], estimate),
        _PARAMETER_NAMES,
        "Gamma-Gamma",
        "the repeat customers' spend must vary, within customers and between them",
    )
    check_converged(objective, estimate, result, "Gamma-Gamma")
    p, q, gamma = (float(v) for v in np.exp(estimate))
    return GammaGammaFit(
        params=GammaGammaParams(p=p, q=q, gamma=gamma),
        log_likelihood=-value * customers,
        customers=customers,
    )


def _columns(data: Sequence[SpendSummary]) -> tuple[_FloatArray, _FloatArray]:
    x = np.array([c.x for c in data], dtype=np.float64)
    m_x = np.array([c.m_x for c in data], dtype=np.float64)
    return x, m_x


def _log_likelihood_and_gradient(
    log_params: _FloatArray, x: _FloatArray, m_x: _FloatArray
) -> tuple[float, _FloatArray]:
    """The summed log-likelihood and its gradient with respect to the log-parameters."""
    p, q, gamma = (float(v) for v in np.exp(log_params))
    px = p * x
    spend = gamma + m_x * x
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * math.log(gamma)
        + (px - 1) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * np.log(spend)
    )
    psi = special.digamma
    d_p = x * (psi(px + q) - psi(px) + np.log(m_x) + np.log(x) - np.log(spend))
    d_q = psi(px + q) - psi(q) + math.log(gamma) - np.log(spend)
    d_gamma = q / gamma - (px + q) / spend
    gradient = np.array([p * d_p.sum(), q * d_q.sum(), gamma * d_gamma.sum()])
    return float(ll.sum()), gradient
