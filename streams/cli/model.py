"""`lifecycle model fit`: fit the BG/NBD churn model and the Gamma-Gamma spend model to an
order history CSV.

    lifecycle model fit ORDERS.csv [--time-unit day|week] [--until DATE]

ORDERS.csv has the header ``customer_id,date,amount`` (more columns are allowed and
ignored). ``date`` is an ISO date or datetime and counts on its calendar date as written;
``amount`` is a non-negative decimal (the Gamma-Gamma's transaction value: the orders of
one day are one transaction, their sum). Orders after ``--until`` are ignored; it
defaults to the last date in the file.

Prints two JSON lines. The first has exactly ``r``, ``alpha``, ``a``, ``b``,
``log_likelihood`` and ``customers``: ready to paste as
``LIFECYCLE_ENGINE__CHURN='<line 1>'``. The second has exactly ``p``, ``q``, ``gamma``,
``log_likelihood`` and ``customers`` (those with a repeat purchase day of positive value,
the only ones that inform the spend model): ``LIFECYCLE_ENGINE__SPEND='<line 2>'``. The
engine accepts ``log_likelihood`` and ``customers`` as a record of the fit. The time unit
and calibration end go to one line on stderr, with the setting to add when the unit is
not the engine's default (week). When only the spend model cannot be fitted (every repeat
purchase of one value, say), the second line is left out and stderr says why.

Exit status: 0 on success, 2 for bad input (the message names
the file and line), 1 when the data cannot be fitted.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lifecycle.exceptions import ModelFitError
from lifecycle.prediction import (
    TimeUnit,
    fit,
    fit_gamma_gamma,
    summarise_purchases,
    summarise_spend,
)

__all__ = ["OrdersFileError", "add_parser", "main", "read_orders", "run"]

REQUIRED_COLUMNS = ("customer_id", "date", "amount")


class OrdersFileError(Exception):
    """The orders CSV cannot be read; the message names the file and, where known, the line."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``model`` (with its ``fit`` subcommand) on an argparse subparsers object."""
    model = subparsers.add_parser("model", help="fit the BG/NBD churn and Gamma-Gamma spend models")
    model_commands = model.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    fit_parser = model_commands.add_parser(
        "fit",
        help="fit BG/NBD and Gamma-Gamma parameters to an order history",
        description=(
            "Fit the BG/NBD model (Fader, Hardie & Lee 2005) and the Gamma-Gamma spend model "
            "(Fader & Hardie note 025) by maximum likelihood to an order history and print "
            "the parameters as two JSON lines (churn, then spend). Several orders by one "
            "customer on one day count as one purchase, of their summed amount."
        ),
    )
    fit_parser.add_argument(
        "orders", type=Path, metavar="ORDERS.csv", help="CSV with header customer_id,date,amount"
    )
    fit_parser.add_argument(
        "--time-unit",
        choices=[unit.value for unit in TimeUnit],
        default=TimeUnit.WEEK.value,
        help="unit of the model's time scale (alpha is per this unit; default: week)",
    )
    fit_parser.add_argument(
        "--until",
        type=_until_date,
        metavar="DATE",
        help="end of the calibration period, inclusive (default: the last date in the file)",
    )
    fit_parser.set_defaults(run=run)
    parser: argparse.ArgumentParser = model
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``model fit`` with parsed arguments; returns the exit status."""
    try:
        purchases, last_date = read_orders(args.orders)
    except OrdersFileError as error:
        print(f"lifecycle model fit: {error}", file=sys.stderr)
        return 2
    if last_date is None:
        print(f"lifecycle model fit: {args.orders}: no orders in the file", file=sys.stderr)
        return 2
    until: date = args.until if args.until is not None else last_date
    time_unit = TimeUnit(args.time_unit)
    days = {customer: [day for day, _ in orders] for customer, orders in purchases.items()}
    summaries = summarise_purchases(days, until, time_unit)
    try:
        result = fit(list(summaries.values()))
    except ModelFitError as error:
        print(
            f"lifecycle model fit: cannot fit {args.orders} up to {until.isoformat()}: {error}",
            file=sys.stderr,
        )
        return 1
    spend_problem = ""
    try:
        spend = fit_gamma_gamma(list(summarise_spend(purchases, until).values()))
    except ModelFitError as error:
        # The churn model stands on its own; say why there is no second line.
        spend = None
        spend_problem = str(error)
    churn_line = {
        "r": result.params.r,
        "alpha": result.params.alpha,
        "a": result.params.a,
        "b": result.params.b,
        "log_likelihood": result.log_likelihood,
        "customers": result.customers,
    }
    print(json.dumps(churn_line))
    if spend is not None:
        spend_line = {
            "p": spend.params.p,
            "q": spend.params.q,
            "gamma": spend.params.gamma,
            "log_likelihood": spend.log_likelihood,
            "customers": spend.customers,
        }
        print(json.dumps(spend_line))
        if spend.params.q <= 1:
            print(
                f"lifecycle model fit: the spend model's q is {spend.params.q:.3g}, not above 1: "
                "the population's mean spend is infinite, so the engine refuses it "
                "(a few very large orders? check the amounts)",
                file=sys.stderr,
            )
    else:
        print(f"lifecycle model fit: no spend model: {spend_problem}", file=sys.stderr)
    # The unit and period are not churn settings of their own; say them where a human reads.
    note = f"lifecycle model fit: time_unit={time_unit.value} until={until.isoformat()}"
    if time_unit is not TimeUnit.WEEK:
        note += f" (also set LIFECYCLE_ENGINE__CHURN__TIME_UNIT={time_unit.value})"
    print(note, file=sys.stderr)
    return 0


def read_orders(path: Path) -> tuple[dict[str, list[tuple[date, Decimal]]], date | None]:
    """Each customer's orders (date, amount), and the last date in the file (None if it
    has no orders)."""
    purchases: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    last_date: date | None = None
    try:
        # utf-8-sig: spreadsheet exports often start with a byte order mark.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise OrdersFileError(
                    f"{path}:1: missing header (expected {','.join(REQUIRED_COLUMNS)})"
                )
            columns = [name.strip() for name in header]
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise OrdersFileError(
                    f"{path}:{reader.line_num}: header lacks column(s) {', '.join(missing)} "
                    f"(expected {','.join(REQUIRED_COLUMNS)})"
                )
            at = {name: columns.index(name) for name in REQUIRED_COLUMNS}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines carry no order
                where = f"{path}:{reader.line_num}"
                if len(row) != len(columns):
                    raise OrdersFileError(
                        f"{where}: expected {len(columns)} fields, found {len(row)}"
                    )
                customer_id = row[at["customer_id"]].strip()
                if not customer_id:
                    raise OrdersFileError(f"{where}: empty customer_id")
                day = _parse_day(row[at["date"]], where)
                amount = _parse_amount(row[at["amount"]], where)
                purchases[customer_id].append((day, amount))
                if last_date is None or day > last_date:
                    last_date = day
    except OSError as error:
        raise OrdersFileError(f"{path}: cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise OrdersFileError(f"{path}: not UTF-8 text: {error.reason}") from error
    except csv.Error as error:
        raise OrdersFileError(f"{path}: malformed CSV: {error}") from error
    return dict(purchases), last_date


def _parse_day(text: str, where: str) -> date:
    value = text.strip()
    try:
        # fromisoformat reads plain dates too (as midnight); the calendar date is what counts.
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise OrdersFileError(
            f"{where}: bad date {value!r} (expected an ISO date such as 2024-05-31 "
            "or an ISO datetime)"
        ) from None


def _parse_amount(text: str, where: str) -> Decimal:
    value = text.strip()
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise OrdersFileError(
            f"{where}: bad amount {value!r} (expected a non-negative decimal such as 59.90)"
        )
    return amount


def _until_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad date {text!r} (expected an ISO date such as 1997-09-30)"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry until `model` is wired into ``streams.cli``."""
    parser = argparse.ArgumentParser(prog="lifecycle")
    add_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
