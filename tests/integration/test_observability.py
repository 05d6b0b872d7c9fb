"""A real worker under traffic, seen the way ops see it: ``/metrics`` parsed with
prometheus_client's parser, and ``/overview`` in headless Chromium.

One worker serves every check. Sign-ups enter an A/B campaign with a control arm (a
campaign directory of the test's own), every third customer orders a minute later (a
conversion), and a few records are not events (dead letters). Then:

* ``/metrics`` exposes exactly the metric families :class:`streams.metrics.WorkerMetrics`
  defines (so the deploy files' check against that registry is a check against a real
  worker), every sample's labels are bounded (no customer id, no address), and the
  figures moved as the traffic says they must;
* ``/overview`` renders in Chromium with no console message; every figure it shows from
  the metrics lies between a scrape just before and one just after the page was read
  (counters only grow), every figure from the counters equals ``lifecycle report
  --json``, it refreshes itself, loads nothing, shows no address or customer id, and
  takes no POST. A screenshot is kept in ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.dev.worker_process import wait_for
from streams.metrics import WorkerMetrics, exported_names
from tests.e2e.test_cli import lifecycle
from tests.e2e.test_report_html import Figures, at_path, chromium, console_messages, shown
from tests.factories import event_dict
from tests.support.polling import settled
from tests.support.promql import alert_rules, dashboard_expressions, metric_names
from tests.support.worker_env import ROOT
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ARTIFACTS = ROOT / "test-artifacts"
CUSTOMERS = 60
CONVERTING = range(0, CUSTOMERS, 3)
NOT_EVENTS = 3

CAMPAIGN = """\
id: signup-ab
name: Sign-up welcome, A/B
category: marketing
priority: 60
trigger: {event: customer.signed_up}
audience:
  - orders_count == 0
conversion: {signal: first_order, within: 14d}
split:
  control: 20%
  variants:
    plain: 40%
    warm: 40%
steps:
  - send: welcome-1
"""

#: Label names that would carry a person or an unbounded value.
PERSONAL_LABELS = {"customer", "customer_id", "email", "address", "to", "message_id", "event_id"}


def campaign_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns" / "templates", directory / "templates")
    (directory / "signup-ab.yaml").write_text(CAMPAIGN)
    return directory


def traffic(start: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    signups, orders = [], []
    for n in range(CUSTOMERS):
        customer, at = f"cust-{n:03d}", start + timedelta(seconds=n)
        signups.append(
            event_dict(
                "customer.signed_up",
                customer,
                at,
                event_id=f"signup-{n}",
                email=f"{customer}@example.com",
                name=f"Customer {n}",
                marketing_consent=True,
                timezone="UTC",
            )
        )
        if n in CONVERTING:
            orders.append(
                event_dict(
                    "order.placed",
                    customer,
                    at + timedelta(minutes=1),
                    event_id=f"order-{n}",
                    total="40",
                )
            )
    return signups, orders


async def scrape(base_url: str, names: Sequence[str] = ()) -> list[Any]:
    """The exposition parsed; with ``names``, of those samples only (``?name[]=``)."""
    params = [("name[]", name) for name in names]
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base_url}/metrics", params=params) as response,
    ):
        assert response.status == 200
        return list(text_string_to_metric_families(await response.text()))


def sample_total(families: list[Any], name: str, labels: dict[str, str]) -> float:
    return sum(
        s.value
        for f in families
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


class MetricCells(HTMLParser):
    """(attributes, shown text) of every element with ``data-metric``."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[dict[str, str], str]] = []
        self._open: dict[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "data-metric" in values:
            self._open, self._text = values, []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag in {"td", "span"}:
            self.cells.append((self._open, "".join(self._text)))
            self._open = None


def _labels(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(";") if part)


def check_metric_cell(
    attrs: dict[str, str], text: str, before: list[Any], after: list[Any]
) -> str | None:
    """What is wrong with one metric figure on the page (None: nothing)."""
    name, labels = attrs["data-metric"], _labels(attrs.get("data-labels", ""))
    if "data-state" in attrs:  # ready / healthy
        return None if attrs["data-state"] == "1" else f"{name} is {attrs['data-state']}"
    if "data-per" in attrs:  # a mean: nothing is sent any more, so both scrapes agree
        values = [
            sample_total(s, name, labels) / (sample_total(s, attrs["data-per"], labels) or 1)
            for s in (before, after)
        ]
    else:
        values = [sample_total(s, name, labels) for s in (before, after)]
    if name.endswith(("_total", "_sum", "_count")):
        allowed = {shown(v, attrs["data-kind"]) for v in values}
        low, high = values
        number = float(text)
        if not (low <= number <= high or text in allowed):
            return f"{name}{labels}: page {text}, /metrics {values}"
        return None
    # A gauge (lag, tick delay, backlog) moves with every tick: a figure, and a sane one.
    if text == "-" and attrs.get("data-agg") == "max":
        return f"{name}: no value"
    return None if 0 <= float(text) < 3600 else f"{name}: {text}"


async def test_a_worker_under_traffic_exports_conventional_metrics_and_its_overview_shows_them(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, tmp_path: Path
) -> None:
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        campaigns_dir=str(campaign_dir(tmp_path)),
        LIFECYCLE_CAMPAIGN__QUIET_HOURS="null",
        LIFECYCLE_COUNTERS_FLUSH_SECONDS="0.5",
    )

    # Before any traffic: every family the registry defines, and nothing else.
    families = await scrape(worker.base_url)
    scraped = {
        family.name + suffix: family.type
        for family in families
        for suffix in {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
        }.get(family.type, ("",))
    }
    defined = exported_names(WorkerMetrics().registry)
    assert set(scraped) == set(defined)
    # The text format shows an unlabelled counter's ``_created`` as a gauge of its own.
    assert {n: t for n, t in scraped.items() if not n.endswith("_created")} == {
        n: t for n, t in defined.items() if not n.endswith("_created")
    }
    deployed = [e for _, e in dashboard_expressions(ROOT / "deploy/grafana/lifecycle-worker.json")]
    deployed += [rule["expr"] for rule in alert_rules(ROOT / "deploy/alerts.yml")]
    assert {n for e in deployed for n in metric_names(e)} - set(scraped) == {"up"}

    signups, orders = traffic(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10))
    await kafka_kit.produce(env.topic("customers"), [(e["customer_id"], e) for e in signups])
    await kafka_kit.produce(env.topic("logins"), [(b"x", b"not an event")] * NOT_EVENTS)
    await worker.wait_metric(
        "lifecycle_campaign_decisions_total", lambda v: v == CUSTOMERS, campaign="signup-ab"
    )
    # Only then the orders: records of two shop topics have no order between them, and an
    # order applied before its customer's sign-up keeps that customer out of the audience.
    await kafka_kit.produce(env.topic("orders"), [(e["customer_id"], e) for e in orders])
    sends = await worker.metric(
        "lifecycle_campaign_decisions_total", campaign="signup-ab", outcome="send"
    )
    assert 0 < sends < CUSTOMERS  # the control arm gets no email
    await worker.wait_metric("lifecycle_emails_sent_total", lambda v: v == sends)
    await worker.wait_metric(
        "lifecycle_campaign_journeys_total",
        lambda v: v == len(CONVERTING),
        campaign="signup-ab",
        action="converted",
    )
    await worker.wait_metric(
        "lifecycle_events_dead_lettered_total", lambda v: v == NOT_EVENTS, topic=env.topic("logins")
    )
    # Lag and backlog are measured every 10 s: wait for a measurement after the traffic.
    orders_lag = f'lifecycle_consumer_lag_records{{partition="0",topic="{env.topic("orders")}"}}'
    outbox_backlog = 'lifecycle_delivery_backlog_records{queue="outbox"}'
    await wait_for(
        worker.metrics,
        lambda m: m.get(orders_lag) == 0 and m.get(outbox_backlog) == 0,
        within=40,
        what="lag and backlog measured at 0",
    )

    metrics = await worker.metrics()
    # Asked for sample names (as the demo's poller asks), /metrics renders those only.
    wanted = ["lifecycle_emails_sent_total", "lifecycle_ready"]
    filtered = await scrape(worker.base_url, wanted)
    assert {sample.name for family in filtered for sample in family.samples} == set(wanted)
    assert sample_total(filtered, "lifecycle_emails_sent_total", {}) == sends
    assert await worker.metric("lifecycle_emails_sent_total", variant="plain") > 0
    assert await worker.metric("lifecycle_emails_sent_total", variant="control") == 0
    assert metrics["lifecycle_email_decision_to_accept_seconds_count"] == sends
    # Decided at the sign-up's time, ten minutes ago: the latency says so.
    assert metrics["lifecycle_email_decision_to_accept_seconds_sum"] >= sends * 8 * 60
    assert metrics["lifecycle_smtp_send_seconds_count"] == sends
    assert await worker.metric("lifecycle_events_ingested_total", type="order.placed") == len(
        orders
    )
    assert metrics['lifecycle_delivery_backlog_records{queue="outbox"}'] == 0
    assert 'lifecycle_delivery_backlog_records{queue="retry"}' in metrics
    delays = [v for k, v in metrics.items() if k.startswith("lifecycle_tick_delay_seconds{")]
    assert delays
    assert all(0 <= d < 30 for d in delays)
    assert metrics["lifecycle_ready"] == 1
    assert metrics["lifecycle_healthy"] == 1
    for family in await scrape(worker.base_url):
        for sample in family.samples:
            assert not set(sample.labels) & PERSONAL_LABELS, sample
            for value in sample.labels.values():
                assert "@" not in value, sample
                assert not value.startswith("cust-"), sample

    # The counters topic settles on what the traffic says; `lifecycle report` reads it.
    def report() -> dict[str, Any]:
        result = lifecycle("report", "--json", env=env.values, timeout=120)
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    async def campaign_totals() -> tuple[int, int]:
        [campaign] = report()["campaigns"]
        arms = campaign["arms"]
        return sum(a["entries"] for a in arms), sum(a["conversions"] for a in arms)

    assert await settled(campaign_totals, (CUSTOMERS, len(CONVERTING)), within=90) == (
        CUSTOMERS,
        len(CONVERTING),
    )
    data = report()
    experiment = data["campaigns"][0]["experiment"]
    assert {c["variant"] for c in experiment["comparisons"]} == {"plain", "warm"}

    before = await scrape(worker.base_url)
    dom = chromium(tmp_path, "--dump-dom", f"{worker.base_url}/overview")
    after = await scrape(worker.base_url)
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    page = dom.stdout

    figures = Figures()
    figures.feed(page)
    mismatches = [
        (path, text, shown(at_path(data, path), kind))
        for path, kind, text in figures.cells
        if text != shown(at_path(data, path), kind)
    ]
    assert mismatches == []
    paths = {path for path, _, _ in figures.cells}
    assert "campaigns.0.arms.0.entries" in paths
    assert "campaigns.0.experiment.comparisons.0.absolute_uplift" in paths
    assert "retention.0.figures.orders" in paths
    assert {"variants against control", "funnel of signup-ab", "events in by type"} <= set(
        figures.charts
    )
    for comparison in experiment["comparisons"]:
        assert comparison["verdict"] in page

    cells = MetricCells()
    cells.feed(page)
    shown_metrics = {attrs["data-metric"] for attrs, _ in cells.cells}
    assert shown_metrics >= {
        "lifecycle_events_ingested_total",
        "lifecycle_events_dead_lettered_total",
        "lifecycle_consumer_lag_records",
        "lifecycle_tick_delay_seconds",
        "lifecycle_emails_sent_total",
        "lifecycle_email_retries_total",
        "lifecycle_emails_in_doubt_total",
        "lifecycle_email_decision_to_accept_seconds_sum",
        "lifecycle_ready",
    }
    problems = [check_metric_cell(a, t, before, after) for a, t in cells.cells]
    assert [p for p in problems if p] == []
    sent_cell = next(t for a, t in cells.cells if a["data-metric"] == "lifecycle_emails_sent_total")
    assert sent_cell == str(int(sends))

    assert '<meta http-equiv="refresh"' in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"?(https?:)?//", page)
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", page)
    assert "cust-" not in page

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{worker.base_url}/", allow_redirects=False) as home:
            assert home.status == 302
            assert home.headers["Location"] == "/overview"
        async with http.post(f"{worker.base_url}/overview") as posted:
            assert posted.status == 405
        async with http.get(f"{worker.base_url}/overview?period=week") as weekly:
            assert weekly.status == 200
            assert "Retention by week" in await weekly.text()

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "overview.png"
    shot = chromium(
        tmp_path,
        f"--screenshot={screenshot}",
        "--window-size=1280,3200",
        f"{worker.base_url}/overview",
    )
    assert shot.returncode == 0, shot.stderr
    assert console_messages(shot.stderr) == []
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot of the overview: {screenshot}")
