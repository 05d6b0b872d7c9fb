"""``lifecycle demo`` end to end on the embedded Tansu broker, as a new user runs it: a short
simulation (fewer customers and days), the report's uplift and split check, the emails on
disk against the report's counts, ``lifecycle replay`` of the history deciding the same
emails, hard bounces suppressing marketing mail in simulated time, and the inbox page in
headless Chromium while ``--keep-open`` holds it up."""

from __future__ import annotations

import email
import json
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_report_html import chromium, console_messages

pytestmark = [pytest.mark.e2e, pytest.mark.tansu, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _run_demo(output: Path, cwd: Path) -> tuple[subprocess.Popen[str], list[str], str]:
    """Start the demo with ``--keep-open``; return it once the inbox line is printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "KAFKA_"))}
    demo = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--customers", "500", "--days", "66",
         "--output", str(output), "--keep-open", "--timeout", "200"],
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    watchdog = threading.Timer(240, demo.kill)
    watchdog.start()
    lines: list[str] = []
    assert demo.stdout is not None
    try:
        for line in demo.stdout:
            lines.append(line)
            found = re.search(r"inbox stays open at (http://\S+) ", line)
            if found:
                return demo, lines, found.group(1)
    finally:
        watchdog.cancel()
    demo.wait()
    pytest.fail(f"the demo ended ({demo.returncode}) without an open inbox:\n{''.join(lines)}")


def _winback(report: dict[str, Any]) -> dict[str, Any]:
    [winback] = [c for c in report["campaigns"] if c["campaign"] == "winback"]
    return winback


def test_demo_simulates_a_shop_reports_uplift_and_serves_its_inbox(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    demo, lines, inbox = _run_demo(output, cwd=tmp_path)  # outside the repository
    try:
        out = "".join(lines)
        assert "Tansu" in out
        assert "shipped example campaigns" in out
        # Progress: plain lines when stdout is not a terminal.
        assert re.search(
            r"simulated 2026-\d\d-\d\d .* events/s .* emails sent .* dead letters", out
        )
        assert "Broken records sent to the dead-letter topic: 3" in out

        # The printed report: per campaign and variant, uplift with intervals and a verdict.
        assert "Campaign results" in out
        assert "Variants against control" in out
        assert re.search(r"split against the configured shares: p [\d.]+, no mismatch", out)
        assert "Retention by month" in out

        report = json.loads((output / "report.json").read_text())
        winback = _winback(report)
        arms = {arm["arm"]: arm for arm in winback["arms"]}
        assert set(arms) == {"control", "gentle", "discount"}
        assert arms["control"]["messaged"] == 0
        assert arms["control"]["entries"] > 0
        assert arms["control"]["emails"] == {}
        experiment = winback["experiment"]
        assert experiment["sample_ratio"]["mismatch"] is False
        for comparison in experiment["comparisons"]:
            assert comparison["absolute_uplift"] is not None
            interval = comparison["absolute_interval"]
            assert interval["low"] <= comparison["absolute_uplift"] <= interval["high"]
            assert comparison["verdict"]
        # The response model gives treated customers a reason to come back; the holdout none.
        treated = [arms[v]["conversion_rate"] for v in ("gentle", "discount")]
        assert max(treated) > arms["control"]["conversion_rate"]
        assert (output / "report.html").read_text().startswith("<!")

        # The emails on disk, and those closed mailboxes refused, are what the report counts.
        stored = sorted((output / "mail").glob("*.eml"))
        counted = sum(sum(a["emails"].values()) for c in report["campaigns"] for a in c["arms"])
        refusals = json.loads((output / "simulation.json").read_text())["hard_bounces"]
        assert len(stored) + refusals == counted
        assert len(stored) > 500
        assert f"{len(stored)} emails are in {output / 'mail'}" in out
        on_disk = set()
        for path in stored:
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            assert message.get_body(("plain",)) is not None
            assert message.get_body(("html",)) is not None
            on_disk.add(message["Message-ID"])

        # Replaying the history decides exactly the emails the worker sent.
        simulation = json.loads((output / "simulation.json").read_text())
        replay = subprocess.run(
            [sys.executable, "-m", "streams.cli", "replay", str(output / "history.jsonl"),
             "--campaigns", simulation["campaigns"], "--until", simulation["end"]],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert replay.returncode == 0, replay.stderr[-2000:]
        decisions = [
            record
            for record in map(json.loads, replay.stdout.splitlines())
            if record["kind"] == "decision"
        ]
        decided = {d["message_id"] for d in decisions if d.get("message_id")}
        history = (output / "history.jsonl").read_text().splitlines()
        bounces = [json.loads(line) for line in history if '"email.bounced"' in line]
        refused = {b["message_id"] for b in bounces}
        # Every email decided was stored, or refused by a closed mailbox (and bounced).
        assert decided == on_disk | refused
        assert not on_disk & refused

        # Hard bounces, in simulated time: dated inside the simulation, each customer's
        # marketing suppressed from their first bounce on, and no email stored after it.
        assert simulation["hard_bounces"] == len(bounces) > 0
        end = datetime.fromisoformat(simulation["end"])
        first_bounce: dict[str, datetime] = {}
        for bounce in bounces:
            at = datetime.fromisoformat(bounce["occurred_at"])
            assert datetime.fromisoformat(simulation["start"]) < at <= end
            customer = bounce["customer_id"]
            first_bounce[customer] = min(at, first_bounce.get(customer, at))
        stored_after_bounce = [
            d
            for d in decisions
            if d.get("message_id") in on_disk
            and d["customer_id"] in first_bounce
            and datetime.fromisoformat(d["at"]) >= first_bounce[d["customer_id"]]
        ]
        assert stored_after_bounce == []
        suppressed = [
            d for d in decisions if d["outcome"] == "suppressed" and d["variant"] != "control"
        ]
        assert all(
            datetime.fromisoformat(d["at"]) >= first_bounce[d["customer_id"]] for d in suppressed
        )
        reported = sum(
            arm["skipped"].get("suppressed", 0) for c in report["campaigns"] for arm in c["arms"]
        )
        assert reported == len(suppressed) == simulation["suppressed_by_bounces"] > 0
        assert (
            f"Hard bounces: {len(bounces)} emails refused to {len(first_bounce)} closed"
            f" mailboxes; marketing to them suppressed from then on: {reported} emails not sent"
        ) in out

        # The inbox while the demo keeps it open: the list, then one message's parts.
        listing = chromium(tmp_path, "--dump-dom", inbox)
        assert listing.returncode == 0, listing.stderr[-2000:]
        assert console_messages(listing.stderr) == []
        assert f"{len(stored)} messages in" in listing.stdout
        links = re.findall(r'href="/m/([^"/]+\.eml)"', listing.stdout)
        assert len(links) >= 100
        page = chromium(tmp_path, "--dump-dom", f"{inbox}m/{links[0]}")
        assert page.returncode == 0, page.stderr[-2000:]
        assert console_messages(page.stderr) == []
        assert "<iframe sandbox" in page.stdout
        assert "srcdoc=" in page.stdout
        assert "<pre>" in page.stdout
        assert "Message-ID" in page.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130  # stopped by Ctrl-C (tests/e2e/test_demo_stop.py: its bounds)
