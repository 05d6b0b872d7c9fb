"""``lifecycle demo`` end to end on the embedded Tansu broker, as a new user runs it."""

from __future__ import annotations

import email
import os
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.tansu]

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_on_tansu_ends_by_itself_and_leaves_emails(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "KAFKA_"))}
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--customers", "21", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Tansu" in out
    assert "Broken records sent to the dead-letter topic: 3" in out
    stored = sorted((output / "mail").glob("*.eml"))
    assert f"{len(stored)} emails are in {output / 'mail'}" in out
    assert len(stored) >= 21  # at least a welcome or a thank-you each
    campaigns = set()
    for path in stored:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["Message-ID"].strip("<>") in path.name
        assert message.get_body(("plain",)) is not None
        assert message.get_body(("html",)) is not None
        campaigns.add(message["Subject"])
    assert len(campaigns) >= 5  # several different campaigns spoke
    assert "welcome" in out
    assert "thank-you-first-order" in out
