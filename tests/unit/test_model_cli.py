"""`lifecycle model fit`: output shape, options, and located errors for bad input."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lifecycle.prediction.bgnbd import TimeUnit, fit, summarise_purchases
from streams.cli.model import add_parser, main, run

REPO_ROOT = Path(__file__).resolve().parents[2]
START = date(2024, 1, 1)


def simulated_orders(seed: int = 1, customers: int = 400) -> list[tuple[str, date, str]]:
    """(customer_id, date, amount) rows from a BG/NBD-like process, in days, over 2024."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, date, str]] = []
    for number in range(customers):
        customer = f"c-{number:04d}"
        day = float(rng.uniform(0, 90))
        rate = rng.gamma(0.8, 1 / 40)  # about one order per 50 days on average
        dropout = rng.beta(1.0, 3.0)
        while day < 366:
            rows.append((customer, START + timedelta(days=int(day)), f"{rng.uniform(5, 200):.2f}"))
            if len(rows) > 1 and rows[-2][0] == customer and rng.random() < dropout:
                break
            day += rng.exponential(1 / rate)
    return rows


def with_gamma_gamma_spend(
    rows: list[tuple[str, date, str]], p: float, q: float, gamma: float, seed: int = 7
) -> list[tuple[str, date, str]]:
    """The same orders with amounts from the Gamma-Gamma story: each customer's nu ~
    Gamma(q, rate gamma), each order's value ~ Gamma(p, rate nu)."""
    rng = np.random.default_rng(seed)
    nus = {customer: rng.gamma(q, 1 / gamma) for customer in sorted({c for c, _, _ in rows})}
    return [(c, d, f"{rng.gamma(p, 1 / nus[c]):.2f}") for c, d, _ in rows]


def write_csv(
    path: Path, rows: list[tuple[str, Any, str]], header: str = "customer_id,date,amount"
) -> Path:
    lines = [header, *(f"{c},{d if isinstance(d, str) else d.isoformat()},{a}" for c, d, a in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fit_lines(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """The churn line, the spend line (None when left out) and the lines on stderr."""
    status = main(["model", "fit", *argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    lines = captured.out.splitlines()
    assert len(lines) in (1, 2), "one JSON line per model on stdout"
    churn = json.loads(lines[0])
    spend = json.loads(lines[1]) if len(lines) == 2 else None
    assert isinstance(churn, dict)
    return churn, spend, captured.err.splitlines()


def fit_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    """The churn JSON object on stdout and the time-unit note on stderr.

    ``simulated_orders`` draws every amount from one distribution, so customers do not
    differ in spend and the Gamma-Gamma is not identified: its line is left out.
    """
    churn, spend, notes = fit_lines(capsys, *argv)
    spend_notes = [note for note in notes if "no spend model" in note]
    assert len(spend_notes) == (spend is None), notes
    others = [note for note in notes if note not in spend_notes]
    assert len(others) == 1, notes
    return churn, others[0]


def fit_output(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    return fit_run(capsys, *argv)[0]


def test_prints_the_fit_of_the_whole_file_as_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = simulated_orders()
    path = write_csv(tmp_path / "orders.csv", rows)
    output, note = fit_run(capsys, str(path))

    assert set(output) == {"r", "alpha", "a", "b", "log_likelihood", "customers"}
    for key in ("r", "alpha", "a", "b"):
        assert isinstance(output[key], float)
        assert output[key] > 0
    last = max(d for _, d, _ in rows)
    assert note == f"lifecycle model fit: time_unit=week until={last.isoformat()}"
    assert output["customers"] == len({c for c, _, _ in rows})

    # The same numbers as the core gives for the same purchases.
    purchases: dict[str, list[date]] = {}
    for customer, day, _ in rows:
        purchases.setdefault(customer, []).append(day)
    expected = fit(list(summarise_purchases(purchases, last, TimeUnit.WEEK).values()))
    assert output["r"] == pytest.approx(expected.params.r, rel=1e-9)
    assert output["alpha"] == pytest.approx(expected.params.alpha, rel=1e-9)
    assert output["a"] == pytest.approx(expected.params.a, rel=1e-9)
    assert output["b"] == pytest.approx(expected.params.b, rel=1e-9)
    assert output["log_likelihood"] == pytest.approx(expected.log_likelihood, rel=1e-9)


def test_time_unit_day_rescales_alpha_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", simulated_orders())
    weeks = fit_output(capsys, str(path), "--time-unit", "week")
    days, note = fit_run(capsys, str(path), "--time-unit", "day")
    assert "time_unit=day" in note
    assert "LIFECYCLE_ENGINE__CHURN__TIME_UNIT=day" in note
    assert days["alpha"] == pytest.approx(7 * weeks["alpha"], rel=1e-5)
    for key in ("r", "a", "b"):
        assert days[key] == pytest.approx(weeks[key], rel=1e-5)


def test_orders_after_until_are_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = simulated_orders()
    until = date(2024, 9, 30)
    before = [row for row in rows if row[1] <= until]
    assert len(before) < len(rows), "the sample should have orders after --until"
    full, note = fit_run(
        capsys, str(write_csv(tmp_path / "all.csv", rows)), "--until", "2024-09-30"
    )
    cut = fit_output(capsys, str(write_csv(tmp_path / "cut.csv", before)), "--until", "2024-09-30")
    assert full == cut
    assert note.endswith("until=2024-09-30")
    assert full["customers"] == len({c for c, _, _ in before})


def test_several_orders_on_one_day_count_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = simulated_orders()
    # Every order again on the same day, once as a plain date and once as a datetime with an
    # offset, in a file with its columns in another order, an extra column and a BOM.
    doubled = [
        *[(c, d.isoformat(), a) for c, d, a in rows],
        *[(c, f"{d.isoformat()}T23:59:59+01:00", "0.00") for c, d, a in rows],
    ]
    messy = tmp_path / "messy.csv"
    lines = ["\ufeffamount,channel,date,customer_id"]
    lines += [f"{a},web,{d},{c}" for c, d, a in doubled]
    messy.write_text("\n".join(lines) + "\n", encoding="utf-8")

    plain = fit_output(capsys, str(write_csv(tmp_path / "plain.csv", rows)))
    assert fit_output(capsys, str(messy)) == plain


def bad_file_cases() -> list[tuple[str, str, str]]:
    header = "customer_id,date,amount"
    good = "c-1,2024-01-01,10.00"
    return [
        ("", ":1: missing header", "empty file"),
        ("customer_id,day,amount\nc-1,2024-01-01,1\n", ":1: header lacks column(s) date", "column"),
        ("id;date;amount\n", ":1: header lacks column(s) customer_id, date, amount", "separator"),
        (f"{header}\n{good}\nc-2,2024-13-01,5\n", ":3: bad date '2024-13-01'", "month 13"),
        (f"{header}\n{good}\n{good}\nc-2,01/02/2024,5\n", ":4: bad date '01/02/2024'", "US date"),
        (f"{header}\nc-2,2024-01-02,12,50\n", ":2: expected 3 fields, found 4", "decimal comma"),
        (f"{header}\n{good}\nc-2,2024-01-02,abc\n", ":3: bad amount 'abc'", "amount"),
        (f"{header}\nc-2,2024-01-02,-5\n", ":2: bad amount '-5'", "negative amount"),
        (f"{header}\nc-2,2024-01-02,NaN\n", ":2: bad amount 'NaN'", "NaN amount"),
        (f"{header}\n ,2024-01-02,5\n", ":2: empty customer_id", "no customer"),
        (f"{header}\n", ": no orders in the file", "header only"),
    ]


@pytest.mark.parametrize(("content", "message", "case"), bad_file_cases())
def test_bad_input_exits_2_naming_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str, case: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["model", "fit", str(path)]) == 2, case
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}{message}" in captured.err, captured.err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.csv"
    assert main(["model", "fit", str(path)]) == 2
    assert f"{path}: cannot read" in capsys.readouterr().err


def test_non_utf8_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer_id,date,amount\nJos\u00e9,2024-01-01,5\n".encode("latin-1"))
    assert main(["model", "fit", str(path)]) == 2
    assert f"{path}: not UTF-8" in capsys.readouterr().err


def test_bad_until_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "orders.csv", simulated_orders())
    with pytest.raises(SystemExit) as exit_info:
        main(["model", "fit", str(path), "--until", "30/09/2024"])
    assert exit_info.value.code == 2
    assert "bad date '30/09/2024'" in capsys.readouterr().err


def test_data_without_repeat_purchases_cannot_be_fitted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(f"c-{n}", START + timedelta(days=n), "5.00") for n in range(30)]
    path = write_csv(tmp_path / "once.csv", rows)
    assert main(["model", "fit", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"cannot fit {path}" in captured.err
    assert "repeat purchase" in captured.err


def test_until_before_every_order_leaves_nothing_to_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "orders.csv", simulated_orders())
    assert main(["model", "fit", str(path), "--until", "2023-12-31"]) == 1
    assert "no customers" in capsys.readouterr().err


def test_add_parser_registers_model_fit_on_a_host_cli(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="lifecycle")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run")  # the host's own commands stay as they are
    add_parser(commands)
    args = parser.parse_args(
        ["model", "fit", "orders.csv", "--time-unit", "day", "--until", "2024-05-31"]
    )
    assert args.command == "model"
    assert args.model_command == "fit"
    assert args.run is run
    assert args.orders == Path("orders.csv")
    assert args.time_unit == "day"
    assert args.until == date(2024, 5, 31)
    assert parser.parse_args(["model", "fit", "o.csv"]).until is None


def test_runs_as_a_module(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", simulated_orders(customers=200))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli.model",
            "model",
            "fit",
            str(path),
            "--time-unit",
            "day",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout.splitlines()[0])
    assert output["customers"] == 200
    assert "time_unit=day" in completed.stderr
    assert math.isfinite(output["log_likelihood"])


def test_the_output_pastes_into_the_churn_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.settings import Settings

    rows = with_gamma_gamma_spend(simulated_orders(), p=6.0, q=4.0, gamma=15.0)
    path = write_csv(tmp_path / "orders.csv", rows)
    status = main(["model", "fit", str(path), "--time-unit", "day"])
    printed, spend_printed = capsys.readouterr().out.splitlines()
    assert status == 0
    monkeypatch.setenv("LIFECYCLE_ENGINE__CHURN", printed)
    monkeypatch.setenv("LIFECYCLE_ENGINE__SPEND", spend_printed)
    monkeypatch.setenv("LIFECYCLE_ENGINE__CHURN__ENABLED", "true")
    monkeypatch.setenv("LIFECYCLE_ENGINE__CHURN__TIME_UNIT", "day")
    churn = Settings().engine.churn
    output = json.loads(printed)
    assert (churn.r, churn.alpha, churn.a, churn.b) == (
        output["r"],
        output["alpha"],
        output["a"],
        output["b"],
    )
    assert churn.enabled
    assert churn.time_unit == "day"
    assert churn.customers == output["customers"]
    spend = Settings().engine.spend
    spend_output = json.loads(spend_printed)
    assert (spend.p, spend.q, spend.gamma, spend.customers) == (
        spend_output["p"],
        spend_output["q"],
        spend_output["gamma"],
        spend_output["customers"],
    )
    # Other unknown keys are still refused.
    monkeypatch.setenv("LIFECYCLE_ENGINE__CHURN", json.dumps({**output, "rr": 1.0}))
    with pytest.raises(ValueError, match="rr"):
        Settings()


def _simulated_days(
    rng: np.random.Generator, r: float, alpha: float, a: float, b: float, customers: int
) -> list[tuple[str, date, str]]:
    """Orders drawn from the BG/NBD story in days: first purchases over the first 90 days of
    2024, Poisson repeat purchases at rate lambda ~ Gamma(r, alpha), dropout with
    probability p ~ Beta(a, b) after each repeat purchase; watched to the end of 2024."""
    horizon = 365.0
    rows: list[tuple[str, date, str]] = []
    rates = rng.gamma(r, 1 / alpha, customers)
    dropouts = rng.beta(a, b, customers)
    for number in range(customers):
        customer = f"c-{number:05d}"
        first = float(rng.uniform(0, 90))
        rows.append((customer, START + timedelta(days=first), "10.00"))
        time = first
        while True:
            time += rng.exponential(1 / rates[number])
            if time >= horizon:
                break
            rows.append((customer, START + timedelta(days=time), "10.00"))
            if rng.random() < dropouts[number]:
                break
    return rows


def test_the_command_recovers_the_parameters_it_was_simulated_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifecycle.prediction.bgnbd import BgNbdParams
    from tests.unit.test_bgnbd import as_log_array, bgnbd_columns, log_parameter_standard_errors

    true = BgNbdParams(r=0.6, alpha=25.0, a=0.8, b=2.5)  # alpha in days
    rng = np.random.default_rng(20261123)
    rows = _simulated_days(rng, true.r, true.alpha, true.a, true.b, 6000)
    until = START + timedelta(days=364)
    path = write_csv(tmp_path / "orders.csv", rows)
    output, spend, notes = fit_lines(
        capsys, str(path), "--time-unit", "day", "--until", until.isoformat()
    )
    # Every order is 10.00: the spend model has nothing to learn, and says so.
    assert spend is None
    assert any("no spend model" in note and "Gamma-Gamma" in note for note in notes), notes
    assert output["customers"] == 6000
    estimate = BgNbdParams(r=output["r"], alpha=output["alpha"], a=output["a"], b=output["b"])
    # Standard errors of the log-estimates from the observed information of the same data.
    purchases: dict[str, list[date]] = {}
    for customer, day, _ in rows:
        purchases.setdefault(customer, []).append(day)
    summaries = list(summarise_purchases(purchases, until, TimeUnit.DAY).values())
    errors = log_parameter_standard_errors(as_log_array(estimate), *bgnbd_columns(summaries))
    assert np.all(errors < 0.3), errors
    z = (as_log_array(estimate) - as_log_array(true)) / errors
    # 4 standard errors (see test_bgnbd); calendar-day rounding of purchase times adds a
    # small bias, far below that at these rates (about one order per 40 days).
    assert np.all(np.abs(z) < 4), f"estimates {estimate} are {z} standard errors off"


def test_a_spend_model_with_an_infinite_mean_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # q below 1: customers' mean spends are so spread that the population mean is infinite.
    rows = with_gamma_gamma_spend(simulated_orders(customers=1500), p=3.0, q=0.6, gamma=2.0)
    churn, spend, notes = fit_lines(capsys, str(write_csv(tmp_path / "orders.csv", rows)))
    assert spend is not None
    assert spend["q"] < 1
    assert any("q is" in note and "infinite" in note for note in notes), notes
    assert churn["customers"] == 1500
