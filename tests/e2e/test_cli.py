"""The ``lifecycle`` command as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.events import EVENT_TYPES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def lifecycle(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_events_schema_prints_the_contract() -> None:
    result = lifecycle("events", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LIFECYCLE_SMTP_PORT", "twenty-five", "LIFECYCLE_SMTP_PORT"),
        ("LIFECYCLE_SMTP_TLS", "ssl", "LIFECYCLE_SMTP_TLS"),
        ("LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS", "no-port-here", "LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS"),
        (
            "LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS",
            "soon",
            "LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS",
        ),
        ("LIFECYCLE_MAIL_FROM", "nobody", "LIFECYCLE_MAIL_FROM"),
        # A nested list that is not JSON: pydantic-settings itself names only "engine".
        (
            "LIFECYCLE_ENGINE__MILESTONES__ORDER_COUNTS",
            "[5,10",
            "LIFECYCLE_ENGINE__MILESTONES__ORDER_COUNTS: not valid JSON",
        ),
        ("LIFECYCLE_CAMPAIGN__CAPS", "[1", "LIFECYCLE_CAMPAIGN__CAPS: not valid JSON"),
        ("LIFECYCLE_PUBLIC_BASE_URL", "ftp://shop.example", "LIFECYCLE_PUBLIC_BASE_URL"),
        ("LIFECYCLE_PUBLIC_BASE_URL", "http://shop.example", "must use https"),
        ("LIFECYCLE_CAMPAIGNS_DIR", "/nonexistent/campaigns", "LIFECYCLE_CAMPAIGNS_DIR"),
        ("LIFECYCLE_SMTP_CA_FILE", "/nonexistent/ca.pem", "LIFECYCLE_SMTP_CA_FILE"),
        ("LIFECYCLE_SMTP_CA_FILE", str(ROOT / "README.md"), "not a readable PEM bundle"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(variable: str, value: str, expected: str) -> None:
    env = {"LIFECYCLE_UNSUBSCRIBE_SECRET": "x" * 32, variable: value}
    result = lifecycle("worker", env=env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_unsubscribe_secret_is_named_and_secret_values_never_printed() -> None:
    result = lifecycle(
        "worker", env={"LIFECYCLE_SMTP_PASSWORD": "hunter2-secret", "LIFECYCLE_SMTP_PORT": "x"}
    )
    assert result.returncode == 2
    assert "hunter2-secret" not in result.stderr + result.stdout
    result = lifecycle("worker")
    assert result.returncode == 2
    assert "LIFECYCLE_UNSUBSCRIBE_SECRET" in result.stderr


def test_the_worker_refuses_to_start_on_an_invalid_campaign_set(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "broken.yaml").write_text("id: broken\ncategory: marketing\n")
    env = {"LIFECYCLE_UNSUBSCRIBE_SECRET": "x" * 32, "LIFECYCLE_CAMPAIGNS_DIR": str(campaigns)}
    result = lifecycle("worker", env=env)
    validate = lifecycle("campaigns", "validate", str(campaigns))
    assert result.returncode == 2
    assert validate.returncode == 1
    located = [line for line in validate.stdout.splitlines() if "broken.yaml:1:1:" in line]
    assert len(located) == 2
    for line in located:
        assert line in result.stderr


def test_the_worker_prints_the_validators_warnings_at_start_up(tmp_path: Path) -> None:
    import shutil

    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", campaigns)
    (campaigns / "templates" / "welcome-2" / "pl.yaml").unlink()
    env = {
        "LIFECYCLE_UNSUBSCRIBE_SECRET": "x" * 32,
        "LIFECYCLE_CAMPAIGNS_DIR": str(campaigns),
        "LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # stops right after the checks
    }
    worker = lifecycle("worker", env=env)
    validate = lifecycle("campaigns", "validate", str(campaigns))
    [warning] = [line for line in validate.stdout.splitlines() if "warning:" in line]
    assert "welcome-2" in warning
    assert validate.returncode == 0
    assert f"lifecycle worker: {warning}" in worker.stderr.splitlines()
    assert worker.returncode == 2  # no broker at that address, named as such
    assert "LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS" in worker.stderr
