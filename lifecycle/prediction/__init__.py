"""Statistical models of customer behaviour, fitted offline and applied per customer in O(1).

:mod:`~lifecycle.prediction.bgnbd` is the BG/NBD model (Fader, Hardie & Lee 2005): its
likelihood, fit, P(alive), expected transactions and wait to the next purchase, knowing
nothing of customers. :mod:`~lifecycle.prediction.gamma_gamma` is the Gamma-Gamma spend
model (Fader & Hardie note 025) the same way. :mod:`~lifecycle.prediction.churn` reads the
BG/NBD's three numbers off a customer state, so the churn detector and the ``p_alive``
attribute agree; :mod:`~lifecycle.prediction.value` combines both models into a customer's
predicted CLV and expected next order date.
"""

from lifecycle.prediction.bgnbd import (
    BgNbdParams,
    CustomerSummary,
    FitResult,
    TimeUnit,
    conditional_expected_transactions,
    expected_transactions_curve,
    fit,
    log_likelihood,
    median_time_to_next_purchase,
    p_alive,
    p_alive_crossing_time,
    summarise_purchases,
)
from lifecycle.prediction.churn import bgnbd_statistics, churn_crossing_at, churn_p_alive
from lifecycle.prediction.gamma_gamma import (
    GammaGammaFit,
    GammaGammaParams,
    SpendSummary,
    conditional_expected_spend,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    summarise_spend,
)
from lifecycle.prediction.value import (
    customer_expected_spend,
    expected_next_order_at,
    predicted_clv,
)

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
    "conditional_expected_transactions",
    "expected_transactions_curve",
    "median_time_to_next_purchase",
    "p_alive",
    "p_alive_crossing_time",
    # Gamma-Gamma spend model
    "GammaGammaFit",
    "GammaGammaParams",
    "SpendSummary",
    "conditional_expected_spend",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "summarise_spend",
    # Applied to one customer's state
    "bgnbd_statistics",
    "churn_crossing_at",
    "churn_p_alive",
    "customer_expected_spend",
    "expected_next_order_at",
    "predicted_clv",
]
