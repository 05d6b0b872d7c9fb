"""``lifecycle replay`` as a marketer runs it: a JSONL history in, one JSON object per line out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import lifecycle
from tests.factories import event_dict

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NO_QUIET_HOURS = {"LIFECYCLE_CAMPAIGN__QUIET_HOURS": "null"}


def _write(path: Path, events: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(e) for e in events]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def _history() -> list[dict]:
    signup = {
        "email": "ada@example.com",
        "marketing_consent": True,
        "timezone": "Europe/Stockholm",
        "locale": "sv-SE",
    }
    return [
        # Ada orders on day two, before the 10:00 welcome-2: the series stops, a thank-you goes.
        event_dict(
            "customer.signed_up", "ada", "2026-03-02T09:00:00+01:00", event_id="a1", **signup
        ),
        event_dict(
            "order.placed",
            "ada",
            "2026-03-03T08:00:00+01:00",
            event_id="a2",
            order_id="o-1",
            total="249.00",
        ),
        # Bo signs up and never orders: the whole welcome series.
        event_dict(
            "customer.signed_up",
            "bo",
            "2026-03-02T09:30:00+01:00",
            event_id="b1",
            **{**signup, "email": "bo@example.com"},
        ),
    ]


def test_replay_prints_signals_decisions_and_journeys(tmp_path: Path) -> None:
    history = _write(
        tmp_path / "history.jsonl", list(reversed(_history()))
    )  # any order in the file
    result = lifecycle(
        "replay",
        str(history),
        "--campaigns",
        str(ROOT / "campaigns"),
        "--until",
        "2026-03-20T00:00:00+01:00",
        env=NO_QUIET_HOURS,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["kind"] for r in records} == {"signal", "decision", "journey", "tally"}
    for record in records:
        assert {"kind", "at", "customer_id"} <= set(record)
    # What each outcome counts, for `lifecycle report --from`: orders among it.
    facts = [fact for r in records if r["kind"] == "tally" for fact in r["facts"]]
    assert any(fact[0] == "o" for fact in facts)
    decisions = [r for r in records if r["kind"] == "decision"]
    for decision in decisions:
        assert {"campaign", "variant", "step", "outcome", "template"} <= set(decision)
    sent = [(d["customer_id"], d["template"]) for d in decisions if d["outcome"] == "send"]
    assert ("ada", "welcome-1") in sent
    assert ("ada", "thank-you-first-order") in sent
    assert ("ada", "welcome-2") not in sent  # exited on her first order
    assert [t for c, t in sent if c == "bo" and t.startswith("welcome")] == [
        "welcome-1",
        "welcome-2",
        "welcome-3-help",
    ]
    exits = [
        r
        for r in records
        if r["kind"] == "journey" and r["customer_id"] == "ada" and r.get("action") == "exited"
    ]
    assert [e["campaign"] for e in exits] == ["welcome"]


def test_replay_is_repeatable_and_reports_bad_lines(tmp_path: Path) -> None:
    history = _write(tmp_path / "history.jsonl", _history(), extra_lines=("{not json", ""))
    first = lifecycle(
        "replay", str(history), "--until", "2026-03-20T00:00:00+01:00", env=NO_QUIET_HOURS
    )
    second = lifecycle(
        "replay", str(history), "--until", "2026-03-20T00:00:00+01:00", env=NO_QUIET_HOURS
    )
    assert first.returncode == 1
    assert f"{history}:4: not JSON" in first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.count('"outcome": "send"') >= 4


def test_replay_refuses_an_invalid_campaign_dir_with_located_errors(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "broken.yaml").write_text(
        "id: broken\nname: Broken\ncategory: marketing\ntrigger: {signal: nope}\n"
    )
    history = _write(tmp_path / "history.jsonl", _history())
    result = lifecycle("replay", str(history), "--campaigns", str(campaigns))
    assert result.returncode == 2
    assert "broken.yaml:4:" in result.stderr
