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


def test_replay_shows_the_time_a_best_time_send_chose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaigns = tmp_path / "campaigns"
    (campaigns / "templates" / "hello").mkdir(parents=True)
    (campaigns / "templates" / "hello" / "en.yaml").write_text("subject: Hi\ntext: Hi\n")
    (campaigns / "timed.yaml").write_text(
        "id: timed\ncategory: marketing\ntrigger: {event: customer.updated}\n"
        "steps:\n  - send: {template: hello, at: best_time, within: 24h}\n"
    )
    lines = [
        {
            "event_id": "s",
            "type": "customer.signed_up",
            "customer_id": "c1",
            "occurred_at": "2026-04-01T12:00:00+02:00",
            "email": "c1@example.com",
            "timezone": "Europe/Stockholm",
            "marketing_consent": True,
        },
        *(
            {
                "event_id": f"l{day}",
                "type": "customer.logged_in",
                "customer_id": "c1",
                "occurred_at": f"2026-04-{day:02d}T18:40:00+02:00",
            }
            for day in (13, 14, 15, 16, 17, 20, 21)
        ),
        {
            "event_id": "u",
            "type": "customer.updated",
            "customer_id": "c1",
            "occurred_at": "2026-04-28T09:00:00+02:00",
            "name": "Ann",
        },
    ]
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    until = "--until=2026-05-01T00:00:00+00:00"
    status = main(["replay", str(history), "--campaigns", str(campaigns), until])
    out = capsys.readouterr().out
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    decisions = [r for r in records if r["kind"] == "decision"]
    assert [
        (d["outcome"], d["at"], d.get("deferred_until"), d["send_time"]) for d in decisions
    ] == [
        ("scheduled", "2026-04-28T07:00:00+00:00", "2026-04-28T16:00:00+00:00", "optimised"),
        ("send", "2026-04-28T16:00:00+00:00", None, "optimised"),
    ]
    assert decisions[0]["detail"] == "optimised: Tue 18:00 local"


ADAPTIVE = """id: nudge
category: transactional
trigger: first_order
conversion: {event: order.placed, within: 7d}
split:
  mode: adaptive
  control: 10%
  variants: {plain: 45%, bold: 45%}
steps:
  - send: {plain: t, bold: t}
"""


def _adaptive_dir(tmp_path: Path) -> Path:
    campaigns = tmp_path / "campaigns"
    (campaigns / "templates" / "t").mkdir(parents=True)
    (campaigns / "nudge.yaml").write_text(ADAPTIVE)
    (campaigns / "templates" / "t" / "en.yaml").write_text("subject: Hi\ntext: Hello\n")
    return campaigns


def _buyers(tmp_path: Path, customers: int) -> Path:
    path = tmp_path / "buyers.jsonl"
    lines = []
    for i in range(customers):
        at = f"2026-03-02T{9 + i % 10:02d}:{i % 60:02d}:00+01:00"
        base = {"customer_id": f"c-{i}", "occurred_at": at}
        lines.append(
            base | {"event_id": f"s{i}", "type": "customer.signed_up", "email": f"c{i}@example.com"}
        )
        lines.append(
            base
            | {
                "event_id": f"o{i}",
                "type": "order.placed",
                "order_id": f"o{i}",
                "total": "10",
                "currency": "EUR",
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("partitions", [1, 4])
def test_adaptive_splits_learn_in_the_given_partitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], partitions: int
) -> None:
    history, campaigns = _buyers(tmp_path, 40), _adaptive_dir(tmp_path)
    args = ["replay", str(history), "--campaigns", str(campaigns), f"--partitions={partitions}"]
    assert main(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    allocations = [r for r in records if r["kind"] == "allocation"]
    # entries from 08:00 to 17:59 UTC on 2 March: two 12h windows, each fixed once per partition
    by_window: dict[str, list[int]] = {}
    for record in allocations:
        by_window.setdefault(record["window_start"], []).append(record["partition"])
    assert sorted(by_window) == ["2026-03-02T00:00:00+00:00", "2026-03-02T12:00:00+00:00"]
    assert all(sorted(found) == list(range(partitions)) for found in by_window.values())


def test_the_default_partitions_are_the_workers_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECYCLE_PARTITIONS", "3")
    history, campaigns = _buyers(tmp_path, 40), _adaptive_dir(tmp_path)
    assert main(["replay", str(history), "--campaigns", str(campaigns)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    found = {r["partition"] for r in records if r["kind"] == "allocation"}
    assert found == {0, 1, 2}


def test_partitions_below_one_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = _history(tmp_path)
    status = main(
        ["replay", str(history), "--campaigns", str(ROOT / "campaigns"), "--partitions=0"]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "--partitions" in err
