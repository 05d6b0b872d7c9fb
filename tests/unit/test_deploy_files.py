"""docker-compose.yml and the Dockerfile, checked with parsers (no Docker engine here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from streams.settings import documented_variables

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_kafka_in_kraft_mode_the_worker_and_a_mail_catcher() -> None:
    services = _compose()["services"]
    assert {"kafka", "worker", "mailpit", "prometheus"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["worker"]["build"] == "."
    assert "8025:8025" in services["mailpit"]["ports"]


def test_every_dependency_names_a_service() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_worker_environment_uses_only_real_settings() -> None:
    worker = _compose()["services"]["worker"]
    fields = set(documented_variables())
    for variable in worker["environment"]:
        assert variable in fields, f"{variable} is not a setting"
    env = worker["environment"]
    assert env["LIFECYCLE_SMTP_HOST"] == "mailpit"
    assert env["LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS"].startswith("kafka:")


def test_prometheus_scrapes_the_worker_port() -> None:
    services = _compose()["services"]
    port = services["worker"]["environment"]["LIFECYCLE_WEB_PORT"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"worker:{port}"]


def test_dockerfile_runs_the_worker_and_bakes_in_campaigns() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["lifecycle"]' in text
    assert 'CMD ["worker"]' in text
    assert "COPY campaigns ./campaigns" in text
    assert "USER lifecycle" in text


# A secret-looking variable anywhere in the compose file must come from the operator:
# ``${VAR:?message}`` (or ``${VAR?message}``), never a literal or a ``:-``/``-`` default.
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE", re.IGNORECASE)
_REQUIRED = re.compile(r"^\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*):?\?[^}]+\}$")


def _environment_items(service: dict) -> list[tuple[str, str]]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # ["NAME=value", ...]
        return [tuple(item.split("=", 1)) if "=" in item else (item, "") for item in environment]
    return [(name, "" if value is None else str(value)) for name, value in environment.items()]


def test_compose_ships_no_usable_secret() -> None:
    services = _compose()["services"]
    checked = 0
    for name, service in services.items():
        for variable, value in _environment_items(service):
            if not _SECRET_NAME.search(variable):
                continue
            checked += 1
            required = _REQUIRED.match(value.strip())
            assert required, f"{name}: {variable} must be '${{{variable}:?...}}', not {value!r}"
            assert required["var"] == variable
    assert checked >= 1  # the worker's unsubscribe secret is among them
    worker = services["worker"]["environment"]
    assert _REQUIRED.match(worker["LIFECYCLE_UNSUBSCRIBE_SECRET"])


def test_no_env_file_is_shipped_and_the_worker_port_stays_on_loopback() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "--", ".env", "*.env", "**/.env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert tracked == []
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert all(str(p).startswith("127.0.0.1:") for p in _compose()["services"]["worker"]["ports"])
