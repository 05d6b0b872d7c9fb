"""``lifecycle report --html`` in headless Chromium: no console errors, and every figure the
page shows is the figure of ``--json``, formatted as documented. A screenshot stays in the
test's tmp directory (its path is printed) for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from streams.dev.traffic import generate
from tests.e2e.test_cli import ROOT, lifecycle

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class Figures(HTMLParser):
    """(data-path, data-kind, shown text) of every figure cell, and the charts' labels."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str]] = []
        self.charts: list[str] = []
        self._open: tuple[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "svg" and values.get("aria-label"):
            self.charts.append(str(values["aria-label"]))
        if "data-path" in values:
            self._open = (str(values["data-path"]), str(values["data-kind"]))
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open is not None:
            self.cells.append((*self._open, "".join(self._text)))
            self._open = None


def shown(value: Any, kind: str) -> str:
    """The README's formatting rules, written out again here."""
    if value is None:
        return "-"
    return {
        "int": lambda v: str(int(v)),
        "pct": lambda v: f"{v:.1f}%",
        "fraction": lambda v: f"{v * 100:.1f}%",
        "money": lambda v: f"{v:.2f}",
        "num": lambda v: f"{v:.2f}",
        "p": lambda v: "<0.0001" if v < 0.0001 else f"{v:.4f}",
    }[kind](value)


def at_path(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def test_chromium_reports_console_messages_so_their_absence_means_something(
    tmp_path: Path,
) -> None:
    page = tmp_path / "noisy.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('seen')</script>")
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr
    assert any("seen" in line for line in console_messages(result.stderr))


def test_the_html_report_shows_the_json_figures_without_console_errors(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    now = datetime(2026, 6, 1, tzinfo=UTC)
    history.write_text(
        "".join(json.dumps(t.event) + "\n" for t in generate(now, 210, seed=3, days=240))
    )
    env = {"LIFECYCLE_CAMPAIGNS_DIR": str(ROOT / "campaigns")}
    replayed = lifecycle("replay", str(history), "--until", now.isoformat(), env=env, timeout=300)
    assert replayed.returncode == 0, replayed.stderr
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(replayed.stdout)
    as_json = lifecycle("report", "--from", str(decisions), "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    page = tmp_path / "report.html"
    as_html = lifecycle("report", "--from", str(decisions), "--html", str(page), env=env)
    assert as_html.returncode == 0, as_html.stderr

    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    figures = Figures()
    figures.feed(dom.stdout)
    assert len(figures.cells) > 100
    mismatches = [
        (path, text, shown(at_path(data, path), kind))
        for path, kind, text in figures.cells
        if text != shown(at_path(data, path), kind)
    ]
    assert mismatches == []
    paths = {path for path, _, _ in figures.cells}
    winback = next(i for i, c in enumerate(data["campaigns"]) if c["campaign"] == "winback")
    assert f"campaigns.{winback}.experiment.comparisons.0.absolute_uplift" in paths
    assert f"retention.{len(data['retention']) - 1}.figures.retention_rate" in paths
    assert "cohorts.0.rates.0" in paths
    assert set(figures.charts) >= {
        "cohort retention heatmap",
        "variants against control",
        "retention and churn over time",
        "funnel of winback",
    }

    screenshot = tmp_path / "report.png"
    shot = chromium(
        tmp_path, f"--screenshot={screenshot}", "--window-size=1280,3000", page.as_uri()
    )
    assert shot.returncode == 0, shot.stderr
    assert console_messages(shot.stderr) == []
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot of the report: {screenshot}")
