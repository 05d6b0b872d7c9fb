"""The Grafana dashboard, the alert rules and the README's metric table against the metrics
the worker defines: every PromQL expression names only series a worker exports (the
integration test ``test_observability`` checks that a real worker's ``/metrics`` exposes
exactly these), the files are mounted where their configs say, and ``promtool`` (Debian's
``prometheus`` package) accepts the rules and their unit tests when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams.metrics import WorkerMetrics, exported_names
from tests.support.processes import HAS_PROC
from tests.support.promql import (
    PROMETHEUS_OWN,
    alert_rules,
    dashboard_expressions,
    metric_names,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "lifecycle-worker.json"
ALERTS = DEPLOY / "alerts.yml"
PROMTOOL = shutil.which("promtool")

#: Labels whose values are unbounded or personal: never on a worker metric.
FORBIDDEN_LABELS = {"customer", "customer_id", "email", "address", "to", "message_id", "event_id"}


def exported() -> set[str]:
    return set(exported_names(WorkerMetrics().registry)) | PROMETHEUS_OWN


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _mounts(service: str) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of a service's volumes."""
    mounts = {}
    for volume in _compose()["services"][service].get("volumes", []):
        host, container = volume.split(":")[:2]
        mounts[container] = host.removeprefix("./")
    return mounts


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (
            'sum by (type) (rate(lifecycle_events_ingested_total{topic="a"}[$__rate_interval]))',
            {"lifecycle_events_ingested_total"},
        ),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))", {"x_bucket"}),
        ("a / on (job) group_left b > 1e-3 and c offset 5m", {"a", "b", "c"}),
        ('count(up{job="w"} == 1) unless max without (p) (d[10m:1m])', {"up", "d"}),
    ],
)
def test_metric_names_finds_every_series_and_nothing_else(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names


def test_metrics_are_conventional_and_bounded() -> None:
    metrics = WorkerMetrics()
    for spec in metrics.specs:
        assert re.fullmatch(r"lifecycle_[a-z0-9_]+", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name
        assert not set(spec.labels) & FORBIDDEN_LABELS, spec
    names = {spec.name for spec in metrics.specs}
    for wanted in (
        "lifecycle_consumer_lag_records",
        "lifecycle_tick_delay_seconds",
        "lifecycle_delivery_backlog_records",
        "lifecycle_email_decision_to_accept_seconds",
        "lifecycle_emails_in_doubt_total",
        "lifecycle_email_retries_total",
        "lifecycle_ready",
    ):
        assert wanted in names
    # A time is in seconds, and a histogram's name says its unit.
    for spec in metrics.specs:
        if spec.type == "histogram":
            assert spec.name.endswith("_seconds"), spec.name


def test_every_dashboard_expression_names_only_exported_metrics() -> None:
    expressions = dashboard_expressions(DASHBOARD)
    assert len(expressions) >= 15
    known = exported()
    unknown = [(title, n) for title, e in expressions for n in metric_names(e) - known]
    assert unknown == []
    used = {n for _, e in expressions for n in metric_names(e)}
    # Stream health, delivery and campaigns, as the README describes the dashboard.
    assert used >= {
        "lifecycle_events_ingested_total",
        "lifecycle_consumer_lag_records",
        "lifecycle_events_dead_lettered_total",
        "lifecycle_tick_delay_seconds",
        "lifecycle_emails_sent_total",
        "lifecycle_email_failures_total",
        "lifecycle_email_retries_total",
        "lifecycle_emails_in_doubt_total",
        "lifecycle_smtp_send_seconds_bucket",
        "lifecycle_email_decision_to_accept_seconds_bucket",
        "lifecycle_campaign_journeys_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    }


@pytest.mark.skipif(not HAS_PROC, reason="the process collector reads /proc")
def test_a_worker_exports_its_process_memory_and_cpu() -> None:
    metrics = WorkerMetrics()
    rss = metrics.registry.get_sample_value("process_resident_memory_bytes")
    assert rss is not None
    assert rss > 10 * 2**20  # an interpreter with the worker imported
    assert metrics.registry.get_sample_value("process_cpu_seconds_total") is not None
    assert b"process_resident_memory_bytes " in metrics.render()
    assert b"process_resident_memory_bytes" in metrics.render(["process_resident_memory_bytes"])


def test_the_dashboard_is_provisioned_from_the_mounted_folder() -> None:
    provider = yaml.safe_load((DEPLOY / "grafana-dashboards.yml").read_text())
    [entry] = provider["providers"]
    mounts = _mounts("grafana")
    assert mounts[entry["options"]["path"]] == "deploy/grafana"
    assert mounts["/etc/grafana/provisioning/dashboards/lifecycle.yml"] == (
        "deploy/grafana-dashboards.yml"
    )
    datasource = yaml.safe_load((DEPLOY / "grafana-datasource.yml").read_text())
    uids = {d["uid"] for d in datasource["datasources"]}
    text = DASHBOARD.read_text()
    assert set(re.findall(r'"uid": "([^"]+)"', text)) - {"lifecycle-worker"} <= uids


def test_alert_rules_cover_the_failures_and_name_only_exported_metrics() -> None:
    rules = alert_rules(ALERTS)
    by_name = {rule["alert"]: rule for rule in rules}
    assert set(by_name) >= {
        "LifecycleConsumerLagGrowing",
        "LifecycleDeadLetters",
        "LifecycleSmtpFailureRatio",
        "LifecycleEmailsInDoubt",
        "LifecycleWorkerNotReady",
        "LifecycleWorkerDown",
    }
    known = exported()
    for rule in rules:
        assert metric_names(rule["expr"]) <= known, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_prometheus_loads_the_rules_it_is_given() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    mounts = _mounts("prometheus")
    config_dir = Path("/etc/prometheus")
    assert mounts[str(config_dir / "prometheus.yml")] == "deploy/prometheus.yml"
    for rule_file in config["rule_files"]:
        assert mounts[str(config_dir / rule_file)] == f"deploy/{rule_file}"
        assert (DEPLOY / rule_file).exists()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool absent (apt-get install prometheus)")
@pytest.mark.parametrize(
    "check",
    [
        ("check", "rules", "alerts.yml"),
        ("check", "config", "prometheus.yml"),
        ("test", "rules", "alerts.test.yml"),
    ],
    ids=" ".join,
)
def test_promtool_accepts_the_rules(check: tuple[str, ...]) -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, *check], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_table_lists_every_metric_with_its_type_and_labels() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(lifecycle_[a-z0-9_]+)` \| (\w+) \|([^|]*)\|", readme, re.M)
    documented = {
        name: (kind, tuple(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows
    }
    defined = {spec.name: (spec.type, spec.labels) for spec in WorkerMetrics().specs}
    assert documented == defined
