"""Statistical models of customer behaviour, fitted offline and applied per customer in O(1).

:mod:`~lifecycle.prediction.bgnbd` is the BG/NBD model (Fader, Hardie & Lee 2005): its
likelihood, fit and P(alive), knowing nothing of customers. :mod:`~lifecycle.prediction.churn`
reads the model's three numbers off a customer state, so the churn detector and the
``p_alive`` attribute agree.
"""

from lifecycle.prediction.bgnbd import (
    BgNbdParams,
    CustomerSummary,
    FitResult,
    TimeUnit,
    fit,
    log_likelihood,
    p_alive,
    p_alive_crossing_time,
    summarise_purchases,
)
from lifecycle.prediction.churn import bgnbd_statistics, churn_crossing_at, churn_p_alive

__all__ = [
    # BG/NBD: parameters, likelihood and fit
    "BgNbdParams",
    "CustomerSummary",
    "FitResult",
    "TimeUnit",
    "fit",
    "log_likelihood",
    "summarise_purchases",
    # BG/NBD: prediction
    "p_alive",
    "p_alive_crossing_time",
    # Applied to one customer's state
    "bgnbd_statistics",
    "churn_crossing_at",
    "churn_p_alive",
]
