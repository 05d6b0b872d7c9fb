"""``lifecycle replay`` option errors and the shape of its signal records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifecycle.processing.replay import signal_record
from lifecycle.signals import Signal
from streams.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _history(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    line = {
        "event_id": "e1",
        "type": "customer.signed_up",
        "customer_id": "c1",
        "occurred_at": "2026-03-02T09:00:00+01:00",
    }
    path.write_text(json.dumps(line) + "\n")
    return path


@pytest.mark.parametrize("tick", ["0h", "-1h", "0s"])
def test_a_tick_that_is_not_positive_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tick: str
) -> None:
    status = main(
        [
            "replay",
            str(_history(tmp_path)),
            "--campaigns",
            str(ROOT / "campaigns"),
            f"--tick={tick}",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "--tick" in err
    assert "Traceback" not in err


def test_without_a_campaigns_directory_the_shipped_campaigns_are_replayed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside the repository: no ./campaigns
    monkeypatch.delenv("LIFECYCLE_CAMPAIGNS_DIR", raising=False)
    status = main(["replay", str(_history(tmp_path))])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "shipped example campaigns" in captured.err
    assert '"kind": "decision"' in captured.out


def test_a_missing_configured_campaigns_directory_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIFECYCLE_CAMPAIGNS_DIR", str(tmp_path / "nowhere"))
    status = main(["replay", str(_history(tmp_path))])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "--campaigns" in err
    assert "LIFECYCLE_CAMPAIGNS_DIR" in err


def test_a_missing_given_campaigns_directory_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["replay", str(_history(tmp_path)), "--campaigns", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("lifecycle replay: --campaigns")


def test_signal_data_cannot_overwrite_the_stable_fields() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    signal = Signal(
        name="tier_reached",
        kind="milestone",
        at=at,
        cause="e1",
        data={"kind": "x", "at": "y", "customer_id": "z", "signal": "w", "tier": "gold"},
    )
    record = signal_record("c1", signal)
    assert record["kind"] == "signal"
    assert record["at"] == at.isoformat()
    assert record["customer_id"] == "c1"
    assert record["signal"] == "tier_reached"
    assert record["tier"] == "gold"
