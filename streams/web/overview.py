"""``/overview`` (and ``/`` redirecting to it): the worker at a glance, in a browser.

One server-rendered page, refreshing itself every :data:`REFRESH_SECONDS`: stream health
and delivery from this worker's own metrics registry (what ``/metrics`` exposes at the
same moment), then campaign results with their verdicts and retention by period from the
counters topic, read the way ``lifecycle report`` reads it (latest total per key, all
partitions summed) and rendered by :func:`lifecycle.measurement.render_html`, so the page
and ``lifecycle report --json`` show the same figures. ``?period=day|week|month`` picks
the retention period.

Read-only (GET only; the page has no form and no script), no external assets (inline CSS
and SVG, a policy that forbids loading anything), and no personal data: metrics carry no
customer id or address, and the report only aggregates. Every figure cell says where it
comes from: ``data-metric`` (a sample name, with ``data-labels`` ``k=v;...`` to match and
``data-agg`` ``sum`` or ``max`` over the matching samples, ``data-per`` a divisor sample
for means) or ``data-path`` (the report's JSON path), so a test can compare them.

The counters are read at most every :data:`COUNTERS_MAX_AGE_SECONDS`, one read at a time;
a read that fails keeps the last figures and says so on the page, and never fails the
page or the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any, Literal, cast

from lifecycle.measurement import (
    GRANULARITIES,
    CampaignInfo,
    CounterKey,
    Granularity,
    Number,
    build_report,
    figure,
    render_html,
)
from streams.campaign_loading import campaign_infos
from streams.counters import read_counters
from streams.worker import Worker

__all__ = ["COUNTERS_MAX_AGE_SECONDS", "REFRESH_SECONDS", "CountersCache", "register"]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10
COUNTERS_MAX_AGE_SECONDS = 5.0
#: A counters read that takes longer is abandoned (the page shows the last figures).
COUNTERS_READ_TIMEOUT_SECONDS = 20.0

Labels = Mapping[str, str]


@dataclass
class CountersCache:
    """The counters topic's current totals, read again once older than ``max_age``."""

    bootstrap_servers: str
    topic: str
    max_age: float = COUNTERS_MAX_AGE_SECONDS
    totals: dict[CounterKey, Number] = field(default_factory=dict)
    read_at: float | None = None
    error: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self) -> dict[CounterKey, Number]:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self.read_at is None or now - self.read_at >= self.max_age:
                try:
                    self.totals = await asyncio.wait_for(
                        read_counters(self.bootstrap_servers, self.topic),
                        COUNTERS_READ_TIMEOUT_SECONDS,
                    )
                    self.error = None
                except Exception as exc:  # the broker's trouble: show the last figures
                    self.error = f"the counters topic could not be read ({type(exc).__name__})"
                    log.warning("overview: %s", self.error)
                self.read_at = asyncio.get_running_loop().time()
            return self.totals


class Samples:
    """Every sample of a registry at one moment, by sample name."""

    def __init__(self, families: Iterable[Any]) -> None:
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for family in families:
            for sample in family.samples:
                self.by_name[sample.name].append((dict(sample.labels), float(sample.value)))

    def matching(self, name: str, labels: Labels) -> list[float]:
        return [
            value
            for have, value in self.by_name.get(name, [])
            if all(have.get(k) == v for k, v in labels.items())
        ]

    def total(self, name: str, labels: Labels | None = None) -> float:
        return sum(self.matching(name, labels or {}))

    def largest(self, name: str) -> float | None:
        return max(self.matching(name, {}), default=None)

    def label_values(self, name: str, *keys: str) -> list[tuple[str, ...]]:
        seen = {tuple(have.get(k, "") for k in keys) for have, _ in self.by_name.get(name, [])}
        return sorted(seen)


def _cell(
    value: float | None,
    name: str,
    labels: Labels | None = None,
    *,
    agg: str = "sum",
    per: str | None = None,
) -> str:
    kind: Literal["int", "num"] = "int" if per is None and agg == "sum" else "num"
    attrs = f'data-metric="{escape(name)}" data-agg="{agg}" data-kind="{kind}"'
    if labels:
        text = ";".join(f"{k}={v}" for k, v in labels.items())
        attrs += f' data-labels="{escape(text)}"'
    if per is not None:
        attrs += f' data-per="{escape(per)}"'
    return f"<td {attrs}>{escape(figure(value, kind))}</td>"


def _sum_cell(samples: Samples, name: str, labels: Labels | None = None) -> str:
    return _cell(samples.total(name, labels), name, labels)


def _mean_cell(samples: Samples, histogram: str) -> str:
    count = samples.total(f"{histogram}_count")
    mean = samples.total(f"{histogram}_sum") / count if count else None
    return _cell(mean, f"{histogram}_sum", per=f"{histogram}_count")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _label(text: str) -> str:
    return f'<td class="l">{escape(text)}</td>'


def _bar_chart(title: str, bars: Sequence[tuple[str, float]]) -> str:
    if not bars:
        return ""
    top = max(value for _, value in bars) or 1.0
    left, width = 190, 320
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{left + width + 70}" '
        f'height="{len(bars) * 22 + 6}">'
    ]
    for i, (name, value) in enumerate(bars):
        y = 3 + i * 22
        length = width * value / top
        parts.append(
            f'<text x="4" y="{y + 13}">{escape(name)}</text>'
            f'<rect x="{left}" y="{y}" width="{length:.1f}" height="16" fill="#5b7fc7"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 13}">{escape(figure(value, "int"))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _status(samples: Samples) -> str:
    def flag(name: str, good: str, bad: str) -> str:
        value = samples.total(name)
        word, css = (good, "ok") if value else (bad, "bad")
        return f'<span class="{css}" data-metric="{name}" data-state="{int(value)}">{word}</span>'

    return (
        f"<p>{flag('lifecycle_ready', 'ready', 'not ready')} · "
        f"{flag('lifecycle_healthy', 'healthy', 'unhealthy')}</p>"
    )


def stream_section(samples: Samples) -> str:
    ingested = "lifecycle_events_ingested_total"
    types = [t for (t,) in samples.label_values(ingested, "type")]
    rows = [[_label(t), _sum_cell(samples, ingested, {"type": t})] for t in types]
    rows.append([_label("all"), _sum_cell(samples, ingested)])
    dead = "lifecycle_events_dead_lettered_total"
    dead_rows = [
        [_label(reason), _sum_cell(samples, dead, {"reason": reason})]
        for (reason,) in samples.label_values(dead, "reason")
    ]
    dead_rows.append([_label("all"), _sum_cell(samples, dead)])
    lag = "lifecycle_consumer_lag_records"
    lag_rows = [
        [_label(topic), _sum_cell(samples, lag, {"topic": topic})]
        for (topic,) in samples.label_values(lag, "topic")
    ]
    delay = "lifecycle_tick_delay_seconds"
    held = "lifecycle_ticks_held_seconds"
    health_rows = [
        [_label("events processed"), _sum_cell(samples, "lifecycle_events_processed_total")],
        [_label("duplicates dropped"), _sum_cell(samples, "lifecycle_events_duplicate_total")],
        [_label("ticks handled"), _sum_cell(samples, "lifecycle_ticks_total")],
        [
            _label("tick delay, seconds (latest, worst partition)"),
            _cell(samples.largest(delay), delay, agg="max"),
        ],
        [
            _label("ticks held, seconds (waiting for the shop's records before them)"),
            _cell(samples.largest(held), held, agg="max"),
        ],
        [_label("consumer lag, records (all assigned partitions)"), _sum_cell(samples, lag)],
    ]
    return (
        "<h2>Stream health</h2>"
        + _status(samples)
        + _table(("", "value"), health_rows)
        + "<h3>Events in by type</h3>"
        + _table(("type", "events"), rows)
        + _bar_chart(
            "events in by type", [(t, samples.total(ingested, {"type": t})) for t in types]
        )
        + "<h3>Dead letters by reason</h3>"
        + _table(("reason", "records"), dead_rows)
        + "<h3>Consumer lag by topic</h3>"
        + (_table(("topic", "records"), lag_rows) if lag_rows else "<p>Not measured yet.</p>")
    )


def delivery_section(samples: Samples) -> str:
    backlog = "lifecycle_delivery_backlog_records"
    rows = [
        [
            _label("sent (accepted by the SMTP server)"),
            _sum_cell(samples, "lifecycle_emails_sent_total"),
        ],
        [
            _label("given up (dead-lettered)"),
            _sum_cell(samples, "lifecycle_emails_dead_lettered_total"),
        ],
        [_label("SMTP failures"), _sum_cell(samples, "lifecycle_email_failures_total")],
        [_label("retries scheduled"), _sum_cell(samples, "lifecycle_email_retries_total")],
        [_label("in doubt"), _sum_cell(samples, "lifecycle_emails_in_doubt_total")],
        [
            _label("expired (decided too long ago)"),
            _sum_cell(samples, "lifecycle_emails_expired_total"),
        ],
        [
            _label("expired as decided (never published)"),
            _sum_cell(samples, "lifecycle_emails_expired_at_decision_total"),
        ],
        [
            _label("skipped as already sent"),
            _sum_cell(samples, "lifecycle_emails_skipped_duplicate_total"),
        ],
        [_label("outbox backlog, records"), _sum_cell(samples, backlog, {"queue": "outbox"})],
        [_label("retry backlog, records"), _sum_cell(samples, backlog, {"queue": "retry"})],
        [
            _label("mean SMTP hand-over, seconds"),
            _mean_cell(samples, "lifecycle_smtp_send_seconds"),
        ],
        [
            _label("mean decision to SMTP accept, seconds"),
            _mean_cell(samples, "lifecycle_email_decision_to_accept_seconds"),
        ],
    ]
    sent = "lifecycle_emails_sent_total"
    arms = samples.label_values(sent, "campaign", "variant")
    sent_rows = [
        [_label(c), _label(v), _sum_cell(samples, sent, {"campaign": c, "variant": v})]
        for c, v in arms
    ]
    return (
        "<h2>Delivery</h2>"
        + _table(("", "value"), rows)
        + "<h3>Sent by campaign and variant</h3>"
        + (_table(("campaign", "variant", "sent"), sent_rows) if sent_rows else "<p>None yet.</p>")
        + _bar_chart(
            "emails sent by campaign and variant",
            [(f"{c} / {v}", samples.total(sent, {"campaign": c, "variant": v})) for c, v in arms],
        )
    )


def render_overview(
    samples: Samples,
    totals: Mapping[CounterKey, Number],
    infos: Sequence[CampaignInfo],
    *,
    period: Granularity,
    app_id: str,
    at: datetime,
    counters_error: str | None = None,
) -> str:
    note = (
        f'<p class="note">{escape(app_id)} at {escape(at.strftime("%Y-%m-%d %H:%M:%S"))} UTC;'
        f" this page reloads every {REFRESH_SECONDS} s. Stream health and delivery are this"
        " worker's own figures (as on /metrics); campaigns and retention are the whole"
        " group's, from the counters topic (as lifecycle report). Retention by "
        + " · ".join(f'<a href="?period={g}">{g}</a>' for g in GRANULARITIES)
        + ".</p>"
    )
    if counters_error is not None:
        note += f'<p class="bad">{escape(counters_error)}; showing the last figures read.</p>'
    lead = note + stream_section(samples) + delivery_section(samples)
    report = build_report(totals, infos, period)
    return render_html(
        report, title="Lifecycle worker overview", lead=lead, refresh_seconds=REFRESH_SECONDS
    )


def register(worker: Worker) -> None:
    app, settings = worker.app, worker.settings
    counters = CountersCache(settings.kafka_bootstrap_servers, settings.topics.counters)
    campaigns = worker.engine.campaigns
    infos = [] if campaigns is None else campaign_infos(campaigns)

    @app.page("/")
    async def home(web: Any, request: Any) -> Any:
        return web.html("", status=302, headers={"Location": "/overview"})

    @app.page("/overview")
    async def overview(web: Any, request: Any) -> Any:
        asked = request.query.get("period", "month")
        period = cast(Granularity, asked if asked in GRANULARITIES else "month")
        samples = Samples(worker.metrics.registry.collect())
        totals = await counters.current()
        page = render_overview(
            samples,
            totals,
            infos,
            period=period,
            app_id=settings.app_id,
            at=datetime.now(UTC),
            counters_error=counters.error,
        )
        return web.html(page, headers={"Cache-Control": "no-store"})
