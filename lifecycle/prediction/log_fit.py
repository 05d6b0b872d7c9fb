"""The maximum-likelihood search both models share: L-BFGS-B over log parameters.

Parameters are searched as logs inside ``±LOG_BOUND`` (1e-6 to 1e6), so they stay
positive and a search that runs to the edge shows that the data do not identify the
parameter (:func:`at_edge`). The objective returns the mean negative log-likelihood and
its gradient; ``math.inf`` steers the line search away from overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy import optimize

from lifecycle.exceptions import ModelFitError

__all__ = ["LOG_BOUND", "at_edge", "check_converged", "minimize_logs"]

_FloatArray = npt.NDArray[np.float64]
Objective = Callable[[_FloatArray], tuple[float, _FloatArray]]

LOG_BOUND: Final = math.log(1e6)
_EDGE_MARGIN: Final = 1e-3


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


def check_converged(objective: Objective, estimate: _FloatArray, result: Any, model: str) -> None:
    """L-BFGS-B can stop with a line-search warning when it is already at the optimum to
    machine precision: accept that when the gradient is flat."""
    _, gradient = objective(estimate)
    if not result.success and float(np.max(np.abs(gradient))) > 1e-5:
        raise ModelFitError(f"the {model} fit did not converge: {result.message}")
