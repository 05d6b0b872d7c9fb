"""The BG/NBD churn model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way").

Each customer is summarised by three numbers, all in the model's time unit and measured
from the customer's first purchase:

- ``x``: repeat purchases (purchase days after the first one),
- ``t_x``: recency, the age at the last purchase (0 when ``x == 0``),
- ``T``: age at the end of the observation (calibration) period.

The model: while alive, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha)
(shape r, rate alpha); after each repeat purchase they drop out for good with probability
p ~ Beta(a, b). So alpha carries the time unit (it scales with it) and r, a, b are
unit-free.

Everything here is pure: numbers in, numbers out. numpy/scipy are used by the fit, and
one scipy special function (the Gaussian hypergeometric) by the expected transactions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
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
    "BgNbdParams",
    "CustomerSummary",
    "FitResult",
    "TimeUnit",
    "conditional_expected_transactions",
    "expected_transactions_curve",
    "fit",
    "log_likelihood",
    "median_time_to_next_purchase",
    "p_alive",
    "p_alive_crossing_time",
    "summarise_purchases",
]

_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_FloatArray = npt.NDArray[np.float64]

# The fit searches log-parameters in [-LOG_BOUND, LOG_BOUND], i.e. values in [1e-6, 1e6].
# That is far wider than any sane estimate (alpha for daily data of a shop whose customers
# buy once every few years is in the hundreds), so an estimate that ends on the edge means
# the likelihood kept improving towards 0 or infinity: the data do not identify it.
# An estimate inside the range on a (nearly) flat likelihood is refused too
# (log_fit.check_identified).
_PARAMETER_NAMES: Final = ("r", "alpha", "a", "b")


class BgNbdParams(BaseModel):
    """Fitted BG/NBD parameters; ``alpha`` is in the model's time unit, the rest are unit-free."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    r: _Positive
    alpha: _Positive
    a: _Positive
    b: _Positive


class TimeUnit(StrEnum):
    """The unit in which ``t_x``, ``T`` and ``alpha`` are measured."""

    DAY = "day"
    WEEK = "week"

    @property
    def days(self) -> int:
        return 7 if self is TimeUnit.WEEK else 1


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """The sufficient statistics (x, t_x, T) of one customer."""

    x: int
    t_x: float
    T: float

    def __post_init__(self) -> None:
        _check_statistics(self.x, self.t_x, self.T)
        # The likelihood ignores t_x when x == 0; a non-zero one here means the
        # statistics were built wrongly, so say so rather than fit them.
        if self.x == 0 and self.t_x != 0:
            raise ValueError(f"t_x must be 0 when x is 0, got t_x={self.t_x!r}")


@dataclass(frozen=True, slots=True)
class FitResult:
    """A maximum-likelihood fit: the estimates, the log-likelihood there, and the sample size."""

    params: BgNbdParams
    log_likelihood: float
    customers: int


def _check_statistics(x: int, t_x: float, T: float) -> None:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise ValueError(f"x must be a non-negative integer, got {x!r}")
    if not (math.isfinite(t_x) and math.isfinite(T)):
        raise ValueError(f"t_x and T must be finite, got t_x={t_x!r}, T={T!r}")
    if not 0 <= t_x <= T:
        raise ValueError(f"need 0 <= t_x <= T, got t_x={t_x!r}, T={T!r}")


def _log_odds_dead(params: BgNbdParams, x: int, t_x: float, T: float) -> float:
    """ln(P(dead) / P(alive)) for x > 0.

    That is ln(a / (b + x - 1)) + (r + x) ln((alpha + T) / (alpha + t_x)).
    """
    return (
        math.log(params.a)
        - math.log(params.b + x - 1)
        + (params.r + x) * (math.log(params.alpha + T) - math.log(params.alpha + t_x))
    )


def p_alive(params: BgNbdParams, x: int, t_x: float, T: float) -> float:
    """The probability that a customer with history (x, t_x, T) has not dropped out.

        P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))

    as derived in FHL 2005 (and their note "Computing P(alive) using the BG/NBD model").
    For ``x == 0`` it is exactly 1: in the BG/NBD a customer can only drop out right after a
    *repeat* purchase, so one who has made none cannot have dropped out yet. That is a known
    property of the model (the MBG/NBD variant exists to change it); a caller that wants to
    act on one-time buyers needs another signal, such as days since the first order.

    ``t_x`` is not used when ``x == 0`` (it is 0 by convention, but a caller that measures
    it between order timestamps may see several orders on the first day and pass more).
    Raises ValueError unless x is a non-negative int and 0 <= t_x <= T.
    """
    _check_statistics(x, t_x, T)
    if x == 0:
        return 1.0
    z = _log_odds_dead(params, x, t_x, T)
    # 1 / (1 + e^z), written so that neither branch can overflow.
    if z > 0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


def p_alive_crossing_time(
    params: BgNbdParams, x: int, t_x: float, threshold: float
) -> float | None:
    """The age T (same unit as ``t_x``) at which P(alive | x, t_x, T) falls to ``threshold``.

    With the purchase history fixed, P(alive) decreases strictly in T for x > 0, so solving
    p_alive = theta for T gives the closed form

        T* = (alpha + t_x) * ((1 - theta) / theta * (b + x - 1) / a) ** (1 / (r + x)) - alpha

    P(alive) is above ``threshold`` for every age before T* and below it after. The worker can
    therefore schedule the "churn probability above threshold" check once per purchase instead
    of polling.

    Returns ``t_x`` when P(alive) is already at or below ``threshold`` at the last purchase
    (T* <= t_x: the crossing is due at once), and ``None`` when it never crosses: for x == 0
    (P(alive) is always 1, see `p_alive`), and when T* is too large to represent.
    ``threshold`` must lie strictly between 0 and 1.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
    _check_statistics(x, t_x, t_x)
    if x == 0:
        return None
    log_ratio = (
        math.log1p(-threshold)
        - math.log(threshold)
        + math.log(params.b + x - 1)
        - math.log(params.a)
    ) / (params.r + x)
    try:
        crossing = (params.alpha + t_x) * math.exp(log_ratio) - params.alpha
    except OverflowError:
        return None
    if not math.isfinite(crossing):
        return None
    return max(crossing, t_x)


def conditional_expected_transactions(
    params: BgNbdParams, x: int, t_x: float, T: float, t: float
) -> float:
    """E[Y(t) | x, t_x, T]: the expected purchases in the ``t`` units after age ``T``.

    FHL 2005's equation (10):

        E = (a + b + x - 1) / (a - 1)
            * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
                   * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]
            / (1 + [x > 0] a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))

    It is P(alive) times the expectation, over the posterior of a live customer's rate
    and dropout, of (1 - e^(-lambda p t)) / p. Constant work per call whatever the history.
    Returns NaN where the hypergeometric function cannot be evaluated in floating point
    (parameters at the edge of what a fit can give).
    """
    (value,) = expected_transactions_curve(params, x, t_x, T, (t,))
    return value


def expected_transactions_curve(
    params: BgNbdParams, x: int, t_x: float, T: float, horizons: Sequence[float]
) -> list[float]:
    """:func:`conditional_expected_transactions` at each of ``horizons``, P(alive) once."""
    _check_statistics(x, t_x, T)
    alive = p_alive(params, x, t_x, T)
    r, alpha, b = params.r, params.alpha, params.b
    # The formula has a removable singularity at a = 1 (both factors vanish); a fitted a
    # lands there exactly only by accident, and a nudge far below any estimate's
    # precision keeps the closed form usable.
    a = params.a if abs(params.a - 1.0) > 1e-7 else 1.0 + 1e-7
    scale = (a + b + x - 1) / (a - 1)
    values = []
    for t in horizons:
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"t must be a non-negative number, got {t!r}")
        if t == 0:
            values.append(0.0)
            continue
        z = t / (alpha + T + t)
        log_power = (r + x) * (math.log(alpha + T) - math.log(alpha + T + t))
        hypergeometric = float(special.hyp2f1(r + x, b + x, a + b + x - 1, z))
        value = scale * (1.0 - math.exp(log_power) * hypergeometric)
        values.append(max(0.0, value * alive) if math.isfinite(value) else math.nan)
    return values


def median_time_to_next_purchase(params: BgNbdParams, x: int, t_x: float) -> float:
    """The median wait after the last purchase until the next one, for a customer still
    active then (same unit as ``t_x``).

    Given the history up to the last purchase, a live customer's rate is
    Gamma(r + x, alpha + t_x) and the wait is exponential in it, so the wait is Lomax:
    P(W > w) = ((alpha + t_x) / (alpha + t_x + w))^(r + x), with median
    (alpha + t_x) (2^(1 / (r + x)) - 1). The median rather than the mean because the mean
    is infinite for r + x <= 1 (one-time buyers). Being alive is assumed: BG/NBD's
    dropout only ever delays the next purchase to never, which a date cannot say; read
    it with P(alive).
    """
    _check_statistics(x, t_x, t_x)
    shape = params.r + x
    try:
        return (params.alpha + t_x) * math.expm1(math.log(2.0) / shape)
    except OverflowError:
        return math.inf  # a tiny r with no repeat purchase: never, for any date


def summarise_purchases(
    purchases: Mapping[str, Iterable[date]],
    calibration_end: date,
    time_unit: TimeUnit,
) -> dict[str, CustomerSummary]:
    """Turn each customer's purchase dates into (x, t_x, T), ready for `fit` and `p_alive`.

    Purchases after ``calibration_end`` are ignored, and a customer with none on or before it
    is left out. Several purchases on one calendar day count as one, as in FHL's CDNOW data:
    x is the number of distinct purchase days after the first, t_x the days from the first to
    the last purchase day and T the days from the first purchase day to ``calibration_end``,
    both divided by the unit's length. A datetime counts on its own calendar date (convert it
    to the shop's time zone first if that is the day that should count).
    """
    summaries: dict[str, CustomerSummary] = {}
    for customer_id in sorted(purchases):
        days = {_calendar_day(d) for d in purchases[customer_id]}
        days = {d for d in days if d <= calibration_end}
        if not days:
            continue
        first, last = min(days), max(days)
        unit = time_unit.days
        summaries[customer_id] = CustomerSummary(
            x=len(days) - 1,
            t_x=(last - first).days / unit,
            T=(calibration_end - first).days / unit,
        )
    return summaries


def _calendar_day(value: date) -> date:
    # datetime is a subclass of date, and mixing the two in arithmetic raises.
    return value.date() if isinstance(value, datetime) else value


def log_likelihood(params: BgNbdParams, data: Sequence[CustomerSummary]) -> float:
    """The BG/NBD log-likelihood of ``data`` (FHL 2005's individual likelihood, summed).

    L(x, t_x, T) = B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + T)^(r + x))
                 + [x > 0] B(a + 1, b + x - 1) / B(a, b) * Gamma(r + x) alpha^r
                   / (Gamma(r) (alpha + t_x)^(r + x))

    It is a density in the purchase times, so its value depends on the time unit (changing
    the unit by a factor c shifts it by -sum(x) ln c); the maximising r, a, b do not.
    """
    x, t_x, T, weights = _columns(data)
    log_params = np.log(np.array([params.r, params.alpha, params.a, params.b]))
    per_customer, _ = _per_customer_log_likelihood(log_params, x, t_x, T)
    return float(weights @ per_customer)


def fit(data: Sequence[CustomerSummary], *, start: BgNbdParams | None = None) -> FitResult:
    """Maximum-likelihood estimates of the BG/NBD parameters.

    Optimises over the log of each parameter (so positivity needs no constraint and the
    four parameters, which differ by orders of magnitude, are on comparable scales) with
    L-BFGS-B and the analytic gradient. Raises `ModelFitError` when there is nothing to fit
    (no customers, or no repeat purchase at all, which leaves the dropout process unseen),
    when the optimiser fails, when an estimate runs off to 0 or infinity, and when the data
    leave a parameter undetermined (the likelihood is flat along it, judged by the observed
    information at the optimum) so that the number found would only say where the search
    stopped.
    """
    if not data:
        raise ModelFitError("no customers to fit the BG/NBD model on")
    x, t_x, T, weights = _columns(data)
    total_repeats = float(weights @ x)
    if total_repeats == 0:
        raise ModelFitError(
            f"none of the {len(data)} customers made a repeat purchase; the BG/NBD model "
            "needs repeat purchases to estimate purchase rates and dropout"
        )
    if start is None:
        start = _default_start(x, T, weights, total_repeats)
    customers = len(data)

    def objective(log_params: _FloatArray) -> tuple[float, _FloatArray]:
        # Mean rather than total log-likelihood, so tolerances mean the same for any sample size.
        ll, gradient = _per_customer_log_likelihood(log_params, x, t_x, T)
        value = -float(weights @ ll) / customers
        if not math.isfinite(value):
            # Steer the line search away from overflow instead of failing on it.
            return math.inf, np.zeros(4)
        return value, -(weights @ gradient) / customers

    x0 = np.log(np.array([start.r, start.alpha, start.a, start.b]))
    estimate, value, result = minimize_logs(objective, x0, "BG/NBD")
    check_interior(estimate, _PARAMETER_NAMES, "BG/NBD")
    check_identified(
        _log_parameter_standard_errors(estimate, x, t_x, T, weights),
        _PARAMETER_NAMES,
        "BG/NBD",
        "fit on more customers or a longer history",
    )
    check_converged(objective, estimate, result, "BG/NBD")
    r, alpha, a, b = (float(v) for v in np.exp(estimate))
    return FitResult(
        params=BgNbdParams(r=r, alpha=alpha, a=a, b=b),
        log_likelihood=-value * customers,
        customers=customers,
    )


def _default_start(
    x: _FloatArray, T: _FloatArray, weights: _FloatArray, total_repeats: float
) -> BgNbdParams:
    # r = 1 with alpha chosen so the mean purchase rate r / alpha matches the pooled repeat
    # rate (repeats per unit of observed time); a = b = 1 is the uniform prior on dropout.
    # Putting alpha on the data's scale makes the start work for days and weeks alike.
    exposure = float(weights @ T)
    alpha = exposure / total_repeats if exposure > 0 else 1.0
    return BgNbdParams(r=1.0, alpha=alpha, a=1.0, b=1.0)


def _log_parameter_standard_errors(
    log_params: _FloatArray,
    x: _FloatArray,
    t_x: _FloatArray,
    T: _FloatArray,
    weights: _FloatArray,
) -> _FloatArray:
    """Asymptotic standard errors of the log-parameter estimates (inf where undefined)."""
    return log_standard_errors(
        lambda at: weights @ _per_customer_log_likelihood(at, x, t_x, T)[1], log_params
    )


def _columns(
    data: Sequence[CustomerSummary],
) -> tuple[_FloatArray, _FloatArray, _FloatArray, _FloatArray]:
    """Columns of the distinct (x, t_x, T) rows and how many customers share each.

    Customers with equal statistics contribute equally, so evaluating each distinct row
    once is exact and, for data in whole days, much less work.
    """
    if not data:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    rows = np.array([(c.x, c.t_x, c.T) for c in data], dtype=np.float64)
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    return (
        distinct[:, 0].copy(),
        distinct[:, 1].copy(),
        distinct[:, 2].copy(),
        counts.astype(np.float64),
    )


def _per_customer_log_likelihood(
    log_params: _FloatArray,
    x: _FloatArray,
    t_x: _FloatArray,
    T: _FloatArray,
) -> tuple[_FloatArray, _FloatArray]:
    """ln L for each row, and its gradient (one row of 4) with respect to the log-parameters.

    Written as ln L = A1 + A2 + ln(e^A3 + [x > 0] e^A4) (the decomposition in Fader & Hardie's
    note "Implementing the BG/NBD Model for Customer Base Analysis in Excel"), evaluated with
    logaddexp so neither term underflows for large x or long ages.
    """
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    repeat = x > 0
    # b + x - 1 appears only where x > 0; elsewhere 1.0 keeps the log defined for b < 1.
    b_x_1 = np.where(repeat, b + x - 1.0, 1.0)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(repeat, math.log(a) - np.log(b_x_1) - (r + x) * np.log(alpha + t_x), -np.inf)
    mixed = np.logaddexp(a3, a4)
    ll: _FloatArray = a1 + a2 + mixed

    # Shares of the two terms in L; they sum to 1.
    s3 = np.exp(a3 - mixed)
    s4 = np.exp(a4 - mixed)
    psi = special.digamma
    d_r = psi(r + x) - psi(r) + math.log(alpha) - s3 * np.log(alpha + T) - s4 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (s3 / (alpha + T) + s4 / (alpha + t_x))
    d_a = psi(a + b) - psi(a + b + x) + s4 / a
    d_b = psi(a + b) + psi(b + x) - psi(b) - psi(a + b + x) - s4 / b_x_1
    # d/d(ln p) = p * d/dp
    gradient: _FloatArray = np.column_stack((r * d_r, alpha * d_alpha, a * d_a, b * d_b))
    return ll, gradient
