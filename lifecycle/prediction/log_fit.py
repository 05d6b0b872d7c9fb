"""The maximum-likelihood search both models share: L-BFGS-B over log parameters.

Parameters are searched as logs inside ``±LOG_BOUND`` (1e-6 to 1e6), so they stay
positive and a search that runs to the edge shows that the data do not identify the
parameter (:func:`at_edge`). The objective returns the mean negative log-likelihood and
its gradient; ``math.inf`` steers the line search away from overflow.

An estimate inside the range can still be one the data do not identify: on a (nearly)
flat likelihood the search stops wherever its tolerances are met, and where depends on
the optimiser's version (scipy 1.17 stops a fit of spend that never varies at p = 162
instead of running to the edge). :func:`log_standard_errors` and :func:`check_identified`
refuse such a fit from the curvature at the estimate, whatever the optimiser did.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy import optimize

from lifecycle.exceptions import ModelFitError

__all__ = [
    "LOG_BOUND",
    "MAX_LOG_STANDARD_ERROR",
    "at_edge",
    "check_converged",
    "check_identified",
    "check_interior",
    "log_standard_errors",
    "minimize_logs",
]

_FloatArray = npt.NDArray[np.float64]
Objective = Callable[[_FloatArray], tuple[float, _FloatArray]]
Gradient = Callable[[_FloatArray], _FloatArray]

LOG_BOUND: Final = math.log(1e6)
_EDGE_MARGIN: Final = 1e-3
#: An estimate whose log has a standard error above this is not a finding but an artefact
#: of where the optimiser stopped on a (nearly) flat likelihood: e^5 is a factor of ~150.
MAX_LOG_STANDARD_ERROR: Final = 5.0


def minimize_logs(
    objective: Objective, start: _FloatArray, model: str
) -> tuple[_FloatArray, float, Any]:
    """The log parameters minimising ``objective`` from ``start``, the minimum, and
    scipy's result; raises :class:`ModelFitError` if the search ended on no finite value."""
    result = optimize.minimize(
        objective,
        np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
    )
    estimate = np.asarray(result.x, dtype=np.float64)
    value = float(result.fun)
    if not (math.isfinite(value) and np.all(np.isfinite(estimate))):
        raise ModelFitError(f"the {model} fit did not converge: {result.message}")
    return estimate, value, result


def at_edge(log_value: float) -> bool:
    """Whether a log parameter ran to the edge of the search range."""
    return abs(log_value) >= LOG_BOUND - _EDGE_MARGIN


def check_interior(log_params: _FloatArray, names: tuple[str, ...], model: str) -> None:
    """Raise :class:`ModelFitError` for the first parameter that ran to the edge."""
    for name, value in zip(names, log_params, strict=True):
        if at_edge(float(value)):
            raise ModelFitError(
                f"the data do not identify the {model} parameter {name}: its estimate ran "
                f"to {math.exp(value):.3g}, the edge of the search range"
            )


def check_converged(objective: Objective, estimate: _FloatArray, result: Any, model: str) -> None:
    """L-BFGS-B can stop with a line-search warning when it is already at the optimum to
    machine precision: accept that when the gradient is flat."""
    _, gradient = objective(estimate)
    if not result.success and float(np.max(np.abs(gradient))) > 1e-5:
        raise ModelFitError(f"the {model} fit did not converge: {result.message}")


def log_standard_errors(gradient: Gradient, log_params: _FloatArray) -> _FloatArray:
    """Asymptotic standard errors of the log-parameter estimates (inf where undefined).

    From the observed information, the negative Hessian of the log-likelihood, taken by
    central differences of ``gradient`` (the summed log-likelihood's, by log parameter).
    """
    size = len(log_params)
    step = 1e-4
    hessian = np.empty((size, size))
    for j in range(size):
        shift = np.zeros(size)
        shift[j] = step
        hessian[:, j] = (gradient(log_params + shift) - gradient(log_params - shift)) / (2 * step)
    information = -(hessian + hessian.T) / 2
    if not np.all(np.isfinite(information)):
        return np.full(size, math.inf)
    eigenvalues, eigenvectors = np.linalg.eigh(information)
    # A direction with no curvature (to rounding) is one the data say nothing about; every
    # parameter that moves along it has an unbounded standard error.
    flat = eigenvalues <= max(float(eigenvalues[-1]), 0.0) * 1e-12
    curved = ~flat
    covariance = (eigenvectors[:, curved] / eigenvalues[curved]) @ eigenvectors[:, curved].T
    errors: _FloatArray = np.sqrt(np.diag(covariance))
    errors[np.any(np.abs(eigenvectors[:, flat]) > 1e-3, axis=1)] = math.inf
    return errors


def check_identified(
    log_standard_errors: _FloatArray, names: tuple[str, ...], model: str, hint: str
) -> None:
    """Raise :class:`ModelFitError` naming every parameter the data do not pin down."""
    loose = [
        f"{name} (standard error of ln {name}: {float(error):.3g})"
        for name, error in zip(names, log_standard_errors, strict=True)
        if not error <= MAX_LOG_STANDARD_ERROR
    ]
    if loose:
        raise ModelFitError(
            f"the data do not identify the {model} parameters, the likelihood is (nearly) "
            f"flat in: {', '.join(loose)}; {hint}"
        )
