"""Predicted CLV and the expected next order: the closed forms against integrals over the
models' posteriors computed here, and the attributes campaigns and templates read."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from scipy import integrate, optimize, special

from lifecycle.campaigns.context import CampaignRules, RuntimeContext, ShopInfo
from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.config import ChurnModelConfig, EngineConfig, SpendModelConfig
from lifecycle.customer import apply, attribute_values
from lifecycle.prediction import (
    BgNbdParams,
    GammaGammaParams,
    conditional_expected_transactions,
    median_time_to_next_purchase,
    predicted_clv,
)
from lifecycle.state import CustomerState
from tests.factories import event, ts
from tests.unit.test_gamma_gamma import integrate_over_nu

from .campaigns.support import Journeys

CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
SPEND = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
WEEK = timedelta(days=7)


def _gamma_pdf(lam: float, shape: float, rate: float) -> float:
    return math.exp(
        shape * math.log(rate) + (shape - 1) * math.log(lam) - rate * lam - special.gammaln(shape)
    )


def _beta_pdf(p: float, a: float, b: float) -> float:
    return math.exp((a - 1) * math.log(p) + (b - 1) * math.log1p(-p) - special.betaln(a, b))


Density = Callable[[float, float], float]


def posterior_integral(params: BgNbdParams, x: int, t_x: float, T: float, future: Density) -> float:
    """E[future(lambda, p) * [alive] | x, t_x, T], by numerical integration over the prior.

    The individual likelihood is (1-p)^x lambda^x e^(-lambda T) (alive) plus
    [x > 0] p (1-p)^(x-1) lambda^x e^(-lambda t_x) (dropped out after the last purchase).
    """

    def alive(lam: float, p: float) -> float:
        return (1 - p) ** x * lam**x * math.exp(-lam * T)

    def dead(lam: float, p: float) -> float:
        return p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x) if x else 0.0

    def prior(lam: float, p: float) -> float:
        return _gamma_pdf(lam, params.r, params.alpha) * _beta_pdf(p, params.a, params.b)

    options = {"epsabs": 0, "epsrel": 1e-10, "limit": 200}

    def over_lambda(p: float, f: Density) -> float:
        value, _ = integrate.quad(lambda lam: f(lam, p) * prior(lam, p), 0, math.inf, **options)
        return float(value)

    def over_both(f: Density) -> float:
        value, _ = integrate.quad(lambda p: over_lambda(p, f), 0, 1, **options)
        return float(value)

    evidence = over_both(lambda lam, p: alive(lam, p) + dead(lam, p))
    return over_both(lambda lam, p: alive(lam, p) * future(lam, p)) / evidence


def expected_future_purchases(lam: float, p: float, t: float) -> float:
    # Alive now, buying at rate lambda and dropping out after each purchase with
    # probability p: purchases come at rate lambda e^(-lambda p s) at time s.
    return -math.expm1(-lam * p * t) / p


CASES = [(0, 0.0, 10.0, 26.0), (2, 10.0, 14.0, 52.0), (6, 35.0, 38.0, 104.0), (1, 2.0, 30.0, 4.0)]


@pytest.mark.parametrize(("x", "t_x", "T", "t"), CASES)
def test_expected_transactions_are_the_posterior_expectation(
    x: int, t_x: float, T: float, t: float
) -> None:
    expected = posterior_integral(
        CDNOW, x, t_x, T, lambda lam, p: expected_future_purchases(lam, p, t)
    )
    assert conditional_expected_transactions(CDNOW, x, t_x, T, t) == pytest.approx(
        expected, rel=1e-6
    )


def test_expected_transactions_near_a_equal_to_one() -> None:
    params = BgNbdParams(r=0.5, alpha=3.0, a=1.0, b=2.0)
    expected = posterior_integral(
        params, 3, 8.0, 12.0, lambda lam, p: expected_future_purchases(lam, p, 20.0)
    )
    assert conditional_expected_transactions(params, 3, 8.0, 12.0, 20.0) == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize(("x", "t_x"), [(0, 0.0), (1, 3.0), (5, 20.0), (20, 60.0)])
def test_median_wait_halves_the_probability_of_no_purchase(x: int, t_x: float) -> None:
    shape, rate = CDNOW.r + x, CDNOW.alpha + t_x

    def survival(w: float) -> float:
        # Over u = ln(lambda): smooth where the Gamma density with shape < 1 is not.
        value, _ = integrate.quad(
            lambda u: math.exp(u - math.exp(u) * w) * _gamma_pdf(math.exp(u), shape, rate),
            -500,
            10,
            epsabs=0,
            epsrel=1e-11,
            limit=400,
        )
        return float(value)

    median = optimize.brentq(lambda w: survival(w) - 0.5, 1e-9, 1e9, xtol=1e-12, rtol=1e-12)
    assert median_time_to_next_purchase(CDNOW, x, t_x) == pytest.approx(median, rel=1e-7)


def engine_config(discount: float = 0.1, horizon: int = 12) -> EngineConfig:
    return EngineConfig(
        churn=ChurnModelConfig(enabled=True, time_unit="week"),
        spend=SpendModelConfig(enabled=True, horizon_months=horizon, annual_discount_rate=discount),
    )


def customer(cfg: EngineConfig, orders: list[tuple[str, str]], cid: str = "c") -> CustomerState:
    state = CustomerState.new(cid)
    history = [
        event("customer.signed_up", cid, "2026-01-01T09:00:00+00:00", timezone="UTC"),
        *(event("order.placed", cid, at, total=total) for at, total in orders),
    ]
    for item in history:
        state, _ = apply(state, item, cfg)
    return state


# x = 2 repeat purchase days: 2 Feb (30) and 16 Mar (12 + 18); the 5 Jan day is left out.
ORDERS = [
    ("2026-01-05T12:00:00+00:00", "50.00"),
    ("2026-02-02T12:00:00+00:00", "30.00"),
    ("2026-03-16T12:00:00+00:00", "12.00"),
    ("2026-03-16T12:00:00+00:00", "18.00"),
]
NOW = ts("2026-04-13T12:00:00+00:00")  # T = 14 weeks; t_x = 10 weeks


def test_the_state_holds_the_spend_models_sufficient_statistics() -> None:
    state = customer(engine_config(), ORDERS)
    orders = state.orders
    assert orders.purchase_days == 3
    assert orders.first_day_spend == Decimal("50.00")
    assert orders.gross_spend - orders.first_day_spend == Decimal("60.00")  # x * m_x


def test_a_late_order_before_the_first_day_moves_the_first_day_spend() -> None:
    state = customer(engine_config(), [*ORDERS, ("2026-01-02T12:00:00+00:00", "7.00")])
    assert state.orders.first_day_spend == Decimal("7.00")
    assert state.orders.purchase_days == 4


def test_undiscounted_clv_is_expected_transactions_times_expected_spend() -> None:
    cfg = engine_config(discount=0.0)
    state = customer(cfg, ORDERS)
    horizon = 12 * (365.25 / 12) / 7  # weeks
    transactions = posterior_integral(
        CDNOW, 2, 10.0, 14.0, lambda lam, p: expected_future_purchases(lam, p, horizon)
    )
    spend = integrate_over_nu(SPEND, 2, 30.0, weight=1.0) / integrate_over_nu(SPEND, 2, 30.0)
    value = predicted_clv(state, NOW, cfg.churn, cfg.spend)
    assert value == pytest.approx(transactions * spend, rel=1e-6)


def test_discounted_clv_is_the_continuous_dert_with_monthly_steps() -> None:
    """Each month discounted at its end: a little below the continuous DERT (FHL 2005's
    discounted expected residual transactions over the horizon), and within 1% of it."""
    cfg = engine_config(discount=0.1)
    state = customer(cfg, ORDERS)
    horizon = 365.25 / 7  # weeks
    delta = math.log(1.1) / horizon  # continuous rate per week equal to 10% a year

    def discounted(lam: float, p: float) -> float:
        # ∫_0^H e^(-delta s) lambda e^(-lambda p s) ds
        k = delta + lam * p
        return lam * -math.expm1(-k * horizon) / k

    dert = posterior_integral(CDNOW, 2, 10.0, 14.0, discounted)
    spend = integrate_over_nu(SPEND, 2, 30.0, weight=1.0) / integrate_over_nu(SPEND, 2, 30.0)
    value = predicted_clv(state, NOW, cfg.churn, cfg.spend)
    assert value is not None
    assert value < dert * spend
    assert value == pytest.approx(dert * spend, rel=0.01)
    undiscounted = predicted_clv(state, NOW, cfg.churn, engine_config(discount=0.0).spend)
    assert undiscounted is not None
    assert value < undiscounted


def test_the_attributes_read_the_models() -> None:
    cfg = engine_config()
    state = customer(cfg, ORDERS)
    values = attribute_values(state, NOW, cfg)
    clv = predicted_clv(state, NOW, cfg.churn, cfg.spend)
    assert clv is not None
    assert values["predicted_clv"] == Decimal(repr(clv)).quantize(Decimal("0.01"))
    last = ts("2026-03-16T12:00:00+00:00")
    wait = median_time_to_next_purchase(CDNOW, 2, 10.0) * WEEK
    assert values["expected_next_order_at"] == last + wait
    assert values["days_until_next_order"] == (last + wait - NOW) // timedelta(days=1)
    # Much later, the date has passed: the count goes negative; the date stays.
    later = NOW + timedelta(days=400)
    late = attribute_values(state, later, cfg)
    assert late["expected_next_order_at"] == last + wait
    assert late["days_until_next_order"] == (last + wait - later) // timedelta(days=1) < 0
    assert late["predicted_clv"] < values["predicted_clv"]


def test_without_the_models_the_attributes_are_none() -> None:
    cfg = engine_config()
    state = customer(cfg, ORDERS)
    off = EngineConfig()
    values = attribute_values(state, NOW, off)
    assert values["predicted_clv"] is None
    assert values["expected_next_order_at"] is None
    assert values["days_until_next_order"] is None
    churn_only = EngineConfig(churn=cfg.churn)
    assert attribute_values(state, NOW, churn_only)["predicted_clv"] is None
    prospect = CustomerState.new("p")
    assert attribute_values(prospect, NOW, cfg)["predicted_clv"] is None


def test_a_one_time_buyer_gets_the_population_spend() -> None:
    cfg = engine_config(discount=0.0)
    state = customer(cfg, ORDERS[:1])
    horizon = 365.25 / 7
    transactions = conditional_expected_transactions(CDNOW, 0, 0.0, 14.0, horizon)
    population = SPEND.p * SPEND.gamma / (SPEND.q - 1)
    value = predicted_clv(state, NOW, cfg.churn, cfg.spend)
    assert value == pytest.approx(transactions * population, rel=1e-9)


def test_campaign_conditions_and_templates_use_the_predictions() -> None:
    cfg = engine_config()
    rich_orders = [(at, str(Decimal(total) * 40)) for at, total in ORDERS]
    rich, poor = customer(cfg, rich_orders, "rich"), customer(cfg, ORDERS, "poor")
    rich_clv = attribute_values(rich, NOW, cfg)["predicted_clv"]
    poor_clv = attribute_values(poor, NOW, cfg)["predicted_clv"]
    assert isinstance(rich_clv, Decimal)
    assert isinstance(poor_clv, Decimal)
    assert poor_clv < 500 < rich_clv
    source = textwrap.dedent(
        """\
        id: vip
        category: marketing
        trigger: {event: customer.logged_in}
        audience: ["predicted_clv >= 500", "days_until_next_order is not none"]
        steps:
          - send: vip
        """
    )
    template = (
        "subject: 'Worth {{ predicted_clv | money }}'\n"
        "text: 'Next order by {{ expected_next_order_at | date(\"long\") }}'\n"
    )
    campaigns = compile_campaigns({"vip.yaml": source}, {"templates/vip/en.yaml": template})
    ctx = RuntimeContext(engine=cfg, rules=CampaignRules(shop=ShopInfo(name="Shop")))
    history = []
    for cid, orders in (("rich", rich_orders), ("poor", ORDERS)):
        history += [
            event(
                "customer.signed_up",
                cid,
                "2026-01-01T09:00:00+00:00",
                timezone="UTC",
                email=f"{cid}@example.com",
                marketing_consent=True,
            ),
            *(event("order.placed", cid, at, total=total) for at, total in orders),
            event("customer.logged_in", cid, NOW),
        ]
    run = Journeys(campaigns, ctx=ctx).run(history)
    sent = [d for d in run.decisions("vip") if d.outcome == "send"]
    assert [d.customer_id for d in sent] == ["rich"]
    message = sent[0].message
    assert message is not None
    assert message.subject.startswith("Worth ")
    assert f"{rich_clv:,}" in message.subject
    due = attribute_values(rich, NOW, cfg)["expected_next_order_at"]
    assert isinstance(due, datetime)
    assert f"{due:%B} {due.day}, {due.year}" in message.text
