"""Prometheus metrics of one worker, in a registry of its own (tests build several apps).

Conventions (Prometheus naming): counters are declared without the suffix and exposed as
``<name>_total``; a unit is part of the name (``_seconds``, ``_records``); every label
has a bounded set of values: topic and partition names, event types, campaign ids,
variants and categories from the campaign files, failure kinds and reasons from fixed
lists. No label ever carries a customer id, an address or a Message-ID.

:func:`exported_names` lists every sample name the registry can expose; the README's
metrics table, the Grafana dashboard and the alert rules are checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

__all__ = ["DECISION_TO_ACCEPT_BUCKETS", "MetricSpec", "WorkerMetrics", "exported_names"]

#: From a fresh decision sent at once (sub-second) to one waiting out quiet hours, retries
#: or a backlog (hours), up to the default maximum send delay (two days).
DECISION_TO_ACCEPT_BUCKETS = (
    0.1,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4 * 3600.0,
    12 * 3600.0,
    24 * 3600.0,
    48 * 3600.0,
)


@dataclass(frozen=True)
class MetricSpec:
    """One metric as exposed: ``name`` with ``_total`` for a counter, its type and labels."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: Every metric of :attr:`registry`, in declaration order (the README's table);
        #: not the process's own (``process_*``: resident memory, CPU seconds, open file
        #: descriptors; prometheus_client's, on Linux), which the registry exports too.
        self.specs: list[MetricSpec] = []
        ProcessCollector(registry=self.registry)
        # -- stream health ----------------------------------------------------------
        self.events_ingested = self._counter(
            "lifecycle_events_ingested", "Valid events re-keyed into the engine.", ["topic", "type"]
        )
        self.events_dead_lettered = self._counter(
            "lifecycle_events_dead_lettered",
            "Records sent to the dead-letter topic.",
            ["topic", "reason"],
        )
        self.events_processed = self._counter(
            "lifecycle_events_processed", "Events applied by the engine.", ["type"]
        )
        self.events_duplicate = self._counter(
            "lifecycle_events_duplicate", "Events dropped as already applied."
        )
        self.signals = self._counter("lifecycle_signals", "Signals emitted.", ["signal"])
        self.stage_transitions = self._counter(
            "lifecycle_stage_transitions", "Lifecycle stage changes.", ["from_stage", "to_stage"]
        )
        self.ticks = self._counter("lifecycle_ticks", "Ticks handled.")
        self.tick_state_reads = self._counter(
            "lifecycle_tick_state_reads", "Customer states read to serve ticks."
        )
        self.due_customers = self._counter("lifecycle_due_customers", "Customers woken by ticks.")
        self.tick_delay = self._gauge(
            "lifecycle_tick_delay_seconds",
            "Seconds between a tick's time and the engine applying it, at the latest tick of"
            " each customer-events partition: how late due work (waits, quiet hours) runs.",
            ["partition"],
        )
        self.ticks_held = self._gauge(
            "lifecycle_ticks_held_seconds",
            "On the leader, how long the oldest held tick has waited for the group to consume"
            " the shop's records written before it (0: none held).",
        )
        self.consumer_lag = self._gauge(
            "lifecycle_consumer_lag_records",
            "Records between the committed position and the end of each assigned partition.",
            ["topic", "partition"],
        )
        self.ready = self._gauge(
            "lifecycle_ready",
            "1 while /ready is 200 (tables recovered, no rebalance running), else 0.",
        )
        self.healthy = self._gauge(
            "lifecycle_healthy", "1 while /health is 200 (no agent crashed or stalled), else 0."
        )
        # -- campaigns --------------------------------------------------------------
        self.decisions = self._counter(
            "lifecycle_campaign_decisions",
            "Campaign decisions: send, or why not.",
            ["campaign", "variant", "outcome"],
        )
        self.journeys = self._counter(
            "lifecycle_campaign_journeys",
            "Journey moves: entered, exited, completed, converted (control arms too).",
            ["campaign", "variant", "action"],
        )
        self.outbox_published = self._counter(
            "lifecycle_outbox_published", "Messages written to the outbox.", ["campaign"]
        )
        # -- delivery ---------------------------------------------------------------
        self.delivery_backlog = self._gauge(
            "lifecycle_delivery_backlog_records",
            "Records not yet handled on this worker's partitions of the outbox"
            " (queue=outbox) and of the retry topic (queue=retry, retries waiting).",
            ["queue"],
        )
        self.emails_sent = self._counter(
            "lifecycle_emails_sent",
            "Emails accepted by the SMTP server.",
            ["campaign", "variant", "category"],
        )
        self.emails_skipped_duplicate = self._counter(
            "lifecycle_emails_skipped_duplicate",
            "Outbox records not sent because the ledger had them.",
        )
        self.emails_expired = self._counter(
            "lifecycle_emails_expired",
            "Outbox records not sent: decided longer ago than LIFECYCLE_MAX_SEND_DELAY_HOURS.",
            ["campaign"],
        )
        self.emails_expired_at_decision = self._counter(
            "lifecycle_emails_expired_at_decision",
            "Emails decided already longer ago than LIFECYCLE_MAX_SEND_DELAY_HOURS:"
            " counted expired by the engine, never rendered or published.",
            ["campaign"],
        )
        self.emails_in_doubt = self._counter(
            "lifecycle_emails_in_doubt",
            "Emails whose worker died (or lost the reply) after 'committing': check the mail"
            " server's log; action is what the category's setting did next.",
            ["category", "action"],
        )
        self.email_failures = self._counter("lifecycle_email_failures", "SMTP failures.", ["kind"])
        self.email_retries = self._counter(
            "lifecycle_email_retries",
            "Further attempts scheduled on the retry topic (after a transient failure, or"
            " to resend an email in doubt).",
        )
        self.emails_dead_lettered = self._counter(
            "lifecycle_emails_dead_lettered", "Messages given up on.", ["reason"]
        )
        self.suppressed_addresses = self._counter(
            "lifecycle_addresses_suppressed", "Addresses suppressed after a hard bounce."
        )
        self.unsubscribes = self._counter(
            "lifecycle_unsubscribes", "One-click and confirmed unsubscribes."
        )
        self.ledger_pruned = self._counter(
            "lifecycle_ledger_pruned",
            "Delivery ledger entries deleted: past the maximum send delay plus a margin.",
        )
        self.smtp_send_seconds = self._histogram(
            "lifecycle_smtp_send_seconds", "Time to hand one message to the SMTP server."
        )
        self.decision_to_accept_seconds = self._histogram(
            "lifecycle_email_decision_to_accept_seconds",
            "From the campaign decision (the outbox record's decided_at) to the SMTP server"
            " accepting the email: queueing, retries and sending together.",
            DECISION_TO_ACCEPT_BUCKETS,
        )

        self.backfill_behind = self._gauge(
            "lifecycle_backfill_records_behind",
            "Records not yet committed on this worker's partitions of each source topic"
            " and of the customer-events topic.",
            ["topic"],
        )
        self.backfill_eta = self._gauge(
            "lifecycle_backfill_eta_seconds",
            "Estimated seconds until the source topics are caught up (0: caught up;"
            " -1: not falling).",
        )

    def _counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        self.specs.append(MetricSpec(f"{name}_total", "counter", tuple(labels), help))
        return Counter(name, help, labels, registry=self.registry)

    def _gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        self.specs.append(MetricSpec(name, "gauge", tuple(labels), help))
        return Gauge(name, help, labels, registry=self.registry)

    def _histogram(
        self, name: str, help: str, buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS
    ) -> Histogram:
        self.specs.append(MetricSpec(name, "histogram", (), help))
        return Histogram(name, help, buckets=buckets, registry=self.registry)

    def render(self, names: Sequence[str] = ()) -> bytes:
        """The exposition of every sample, or of the samples named in ``names`` only
        (a poller that watches a few counters need not have all of them rendered)."""
        if names:
            return generate_latest(self.registry.restricted_registry(names))
        return generate_latest(self.registry)


def exported_names(registry: CollectorRegistry) -> dict[str, str]:
    """Every sample name ``registry`` can expose, with its family's type (``counter``,
    ``gauge``, ``histogram``): counters as ``_total`` and ``_created``, histograms as
    ``_bucket``, ``_sum``, ``_count`` and ``_created``, gauges as they are."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gauge": ("",),
    }
    names = {}
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names[family.name + suffix] = family.type
    return names
