"""Counter totals by metric, labels and period: what facts add up to, and how keys are written.

:func:`expand` turns one fact (:mod:`~lifecycle.measurement.tally`) into increments of
:class:`CounterKey` s; :class:`Totals` adds them up. The worker keeps one ``Totals`` per
partition and publishes it to the counters topic; ``lifecycle report`` adds the
partitions together; a replayed history goes through the same two functions.

Metrics (labels in braces; periods: ``d/w/m`` = day, ISO week and month, ``day`` only,
or ``all``):

=========================== ======================================== =================
metric                      what                                     periods
=========================== ======================================== =================
``customers``               change in the number of customers        day (boundary)
``stage`` {stage}           change in the number in a stage          day (boundary)
``new_customers`` {group}   N: first_time or reactivated             d/w/m (boundary)
``orders``, ``revenue``     orders placed, their totals              d/w/m
``buyers``                  customers with an order in the period    d/w/m
``repeat_buyers``           customers with two or more               d/w/m
``cohort_size`` {cohort}    customers who joined in that month       all
``cohort_active`` {cohort}  of them, those who ordered in the month  month
``nps``/``csat``/``ces``    answers, by {score}                      d/w/m
``campaign_entries``        journey entries {campaign, variant}      day
``campaign_assignments``    first entries (customers assigned)       day
``campaign_treated``        entries that got a first send/holdout    day
``campaign_decisions``      decisions by {campaign, variant,         day
                            outcome}
``campaign_conversions``    converted entries                        day
``campaign_revenue``        revenue attributed to entries            day
``campaign_revenue_squares`` sum over entries of revenue²            day
``campaign_emails``         final delivery states {campaign,         day
                            variant, state}
``campaign_send_time_sends`` best-time sends {campaign, variant,     day
                            send_time}
``campaign_send_time_treated`` entries first treated by one          day
``campaign_send_time_conversions`` of them, converted                day
``campaign_share``          adaptive shares fixed for a {window},    day (window's)
                            basis points {campaign, variant}, summed
                            over the partitions that fixed them
``campaign_share_partitions`` partitions that fixed a {campaign,     day (window's)
                            window}'s shares (mean = share / this)
=========================== ======================================== =================

"boundary": dated by the boundary day (see :mod:`~lifecycle.measurement.periods`), so
customers at the start of day ``D`` = the sum of ``customers`` over the days before ``D``.

A key as text is ``metric|label=value,label=value|period`` (labels sorted); the counters
topic appends ``|p<partition>``. Label values never hold ``|``, ``,`` or ``=`` (ids are
checked when campaigns load; other values are the worker's own names).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import NamedTuple

from lifecycle.measurement.periods import (
    ALL,
    GRANULARITIES,
    month_index,
    month_label,
    period_label,
)
from lifecycle.measurement.tally import CUSTOMER_STAGES
from lifecycle.state import Fact

__all__ = [
    "DECIMAL_METRICS",
    "CounterKey",
    "Number",
    "Totals",
    "expand",
    "journal_of",
]

Number = int | Decimal

#: Metrics whose totals are decimals (money); every other total is an integer.
DECIMAL_METRICS = frozenset({"revenue", "campaign_revenue", "campaign_revenue_squares"})
#: Metrics counted by delivery from the ledger; every other one by the engine.
_LEDGER_METRICS = frozenset({"campaign_emails"})


#: Label sets shared by every key that has them (see :func:`_shared`), at most this many.
_MAX_SHARED_LABELS = 65_536
_shared_labels: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}


def _shared(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """One tuple for each label set: a worker holds tens of thousands of keys (metrics x
    periods x partitions) over a few hundred label sets, and a label set of its own made
    each key cost about 340 bytes instead of about 125. Only memory: keys compare by value."""
    shared = _shared_labels.get(labels)
    if shared is None:
        if len(_shared_labels) >= _MAX_SHARED_LABELS:
            _shared_labels.clear()
        shared = _shared_labels[labels] = labels
    return shared


class CounterKey(NamedTuple):
    metric: str
    labels: tuple[tuple[str, str], ...]
    period: str

    @classmethod
    def of(cls, metric: str, period: str, **labels: object) -> CounterKey:
        pairs = _shared(tuple(sorted((k, str(v)) for k, v in labels.items())))
        return cls(metric, pairs, sys.intern(period))

    def label(self, name: str) -> str | None:
        for key, value in self.labels:
            if key == name:
                return value
        return None

    def to_text(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in self.labels)
        return f"{self.metric}|{labels}|{self.period}"

    @classmethod
    def from_text(cls, text: str) -> CounterKey:
        metric, labels, period = text.split("|")
        pairs = tuple(tuple(p.split("=", 1)) for p in labels.split(",") if p)
        return cls(sys.intern(metric), _shared(pairs), sys.intern(period))  # type: ignore[arg-type]


def journal_of(metric: str) -> str:
    """Whose records carry this metric's facts: ``state`` (the engine) or ``ledger``."""
    return "ledger" if metric in _LEDGER_METRICS else "state"


def _each_period(
    metric: str, day: int, value: Number, **labels: object
) -> Iterator[tuple[CounterKey, Number]]:
    for granularity in GRANULARITIES:
        yield CounterKey.of(metric, period_label(day, granularity), **labels), value


def _bits(
    metric: str, day: int, bits: int, **labels: object
) -> Iterator[tuple[CounterKey, Number]]:
    for index, granularity in enumerate(GRANULARITIES):
        if bits & (1 << index):
            yield CounterKey.of(metric, period_label(day, granularity), **labels), 1


def expand(fact: Fact) -> Iterator[tuple[CounterKey, Number]]:
    """The counter increments of one fact (unknown codes add nothing: a newer worker's
    facts read by an older report)."""
    code = fact[0]
    if code == "p":
        yield CounterKey.of("stage", period_label(_int(fact[1]), "day"), stage="prospect"), 1
    elif code == "s":
        _, day, source, target, new_d, new_w, new_m, first_bits = fact
        d = _int(day)
        label = period_label(d, "day")
        yield CounterKey.of("stage", label, stage=source), -1
        yield CounterKey.of("stage", label, stage=target), 1
        for index, (granularity, change) in enumerate(
            zip(GRANULARITIES, (new_d, new_w, new_m), strict=True)
        ):
            if change:
                group = "first_time" if _int(first_bits) & (1 << index) else "reactivated"
                period = period_label(d, granularity)
                yield CounterKey.of("new_customers", period, group=group), _int(change)
        was, now = source in CUSTOMER_STAGES, target in CUSTOMER_STAGES
        if was != now:
            yield CounterKey.of("customers", label), 1 if now else -1
    elif code == "o":
        _, day, amount, buyer, repeat, offset = fact
        d = _int(day)
        yield from _each_period("orders", d, 1)
        yield from _each_period("revenue", d, Decimal(str(amount)))
        yield from _bits("buyers", d, _int(buyer))
        yield from _bits("repeat_buyers", d, _int(repeat))
        if _int(offset) >= 0:
            yield _cohort_active(d, _int(offset))
    elif code == "c":
        yield CounterKey.of("cohort_size", ALL, cohort=month_label(_int(fact[1]))), 1
    elif code == "n":
        yield from _each_period("nps", _int(fact[1]), 1, score=fact[2])
    elif code == "q":
        _, day, csat, ces = fact
        if csat is not None:
            yield from _each_period("csat", _int(day), 1, score=csat)
        if ces is not None:
            yield from _each_period("ces", _int(day), 1, score=ces)
    elif code in _CAMPAIGN_CODES:
        yield from _campaign(fact)


_SEND_TIME_METRICS = {
    "js": "campaign_send_time_sends",
    "jst": "campaign_send_time_treated",
    "jsc": "campaign_send_time_conversions",
}
_CAMPAIGN_CODES = frozenset({"je", "jd", "jt", "jc", "jr", "e", "js", "jst", "jsc", "jw", "jn"})


def _campaign(fact: Fact) -> Iterator[tuple[CounterKey, Number]]:
    if fact[0] == "jn":
        _, day, campaign, window = fact
        period = period_label(_int(day), "day")
        yield (
            CounterKey.of("campaign_share_partitions", period, campaign=campaign, window=window),
            1,
        )
        return
    code, day, campaign, variant = fact[:4]
    period = period_label(_int(day), "day")
    arm = {"campaign": campaign, "variant": variant}
    if code == "je":
        yield CounterKey.of("campaign_entries", period, **arm), 1
        if _int(fact[4]) == 1:
            yield CounterKey.of("campaign_assignments", period, **arm), 1
    elif code == "jd":
        yield CounterKey.of("campaign_decisions", period, outcome=fact[4], **arm), 1
    elif code == "jt":
        yield CounterKey.of("campaign_treated", period, **arm), 1
    elif code == "jc":
        yield CounterKey.of("campaign_conversions", period, **arm), 1
    elif code == "jr":
        yield CounterKey.of("campaign_revenue", period, **arm), Decimal(str(fact[4]))
        yield CounterKey.of("campaign_revenue_squares", period, **arm), Decimal(str(fact[5]))
    elif code == "e":
        yield CounterKey.of("campaign_emails", period, state=fact[4], **arm), 1
    elif code in _SEND_TIME_METRICS:
        yield CounterKey.of(_SEND_TIME_METRICS[str(code)], period, send_time=fact[4], **arm), 1
    elif code == "jw":
        yield CounterKey.of("campaign_share", period, window=fact[4], **arm), _int(fact[5])


def _cohort_active(day: int, offset: int) -> tuple[CounterKey, Number]:
    month = month_index(day)
    return CounterKey.of("cohort_active", month_label(month), cohort=month_label(month - offset)), 1


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a counted fact holds {value!r} where a whole number belongs")
    return value


class Totals:
    """Totals by :class:`CounterKey`, with the keys changed since the last :meth:`take_dirty`."""

    def __init__(self, values: Mapping[CounterKey, Number] | None = None) -> None:
        self.values: dict[CounterKey, Number] = dict(values or {})
        self._dirty: set[CounterKey] = set()

    def add(self, key: CounterKey, value: Number) -> None:
        self.values[key] = self.values.get(key, 0) + value
        self._dirty.add(key)

    def add_facts(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            for key, value in expand(fact):
                self.add(key, value)

    def take_dirty(self) -> dict[CounterKey, Number]:
        """The current totals of the keys changed since the last call."""
        dirty = {key: self.values[key] for key in self._dirty}
        self._dirty.clear()
        return dirty

    def mark_dirty(self, keys: Iterable[CounterKey]) -> None:
        self._dirty.update(keys)

    def merged(self, other: Mapping[CounterKey, Number]) -> Totals:
        result = Totals(self.values)
        for key, value in other.items():
            result.values[key] = result.values.get(key, 0) + value
        return result

    def __len__(self) -> int:
        return len(self.values)
