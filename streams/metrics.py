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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["DECISION_TO_ACCEPT_BUCKETS", "WorkerMetrics", "exported_names"]

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


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # -- stream health ----------------------------------------------------------
        self.events_ingested = Counter(
            "lifecycle_events_ingested",
            "Valid events re-keyed into the engine.",
            ["topic", "type"],
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "lifecycle_events_dead_lettered",
            "Records sent to the dead-letter topic.",
            ["topic", "reason"],
            registry=r,
        )
        self.events_processed = Counter(
            "lifecycle_events_processed", "Events applied by the engine.", ["type"], registry=r
        )
        self.events_duplicate = Counter(
            "lifecycle_events_duplicate", "Events dropped as already applied.", registry=r
        )
        self.signals = Counter("lifecycle_signals", "Signals emitted.", ["signal"], registry=r)
        self.stage_transitions = Counter(
            "lifecycle_stage_transitions",
            "Lifecycle stage changes.",
            ["from_stage", "to_stage"],
            registry=r,
        )
        self.ticks = Counter("lifecycle_ticks", "Ticks handled.", registry=r)
        self.tick_state_reads = Counter(
            "lifecycle_tick_state_reads", "Customer states read to serve ticks.", registry=r
        )
        self.due_customers = Counter(
            "lifecycle_due_customers", "Customers woken by ticks.", registry=r
        )
        self.tick_delay = Gauge(
            "lifecycle_tick_delay_seconds",
            "Seconds between a tick's time and the engine applying it, at the latest tick of"
            " each customer-events partition: how late due work (waits, quiet hours) runs.",
            ["partition"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "lifecycle_consumer_lag_records",
            "Records between the committed position and the end of each assigned partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.ready = Gauge(
            "lifecycle_ready",
            "1 while /ready is 200 (tables recovered, no rebalance running), else 0.",
            registry=r,
        )
        self.healthy = Gauge(
            "lifecycle_healthy",
            "1 while /health is 200 (no agent crashed or stalled), else 0.",
            registry=r,
        )
        # -- campaigns --------------------------------------------------------------
        self.decisions = Counter(
            "lifecycle_campaign_decisions",
            "Campaign decisions: send, or why not.",
            ["campaign", "variant", "outcome"],
            registry=r,
        )
        self.journeys = Counter(
            "lifecycle_campaign_journeys",
            "Journey moves: entered, exited, completed, converted (control arms too).",
            ["campaign", "variant", "action"],
            registry=r,
        )
        self.outbox_published = Counter(
            "lifecycle_outbox_published",
            "Messages written to the outbox.",
            ["campaign"],
            registry=r,
        )
        # -- delivery ---------------------------------------------------------------
        self.delivery_backlog = Gauge(
            "lifecycle_delivery_backlog_records",
            "Records not yet handled on this worker's partitions of the outbox"
            " (queue=outbox) and of the retry topic (queue=retry, retries waiting).",
            ["queue"],
            registry=r,
        )
        self.emails_sent = Counter(
            "lifecycle_emails_sent",
            "Emails accepted by the SMTP server.",
            ["campaign", "variant", "category"],
            registry=r,
        )
        self.emails_skipped_duplicate = Counter(
            "lifecycle_emails_skipped_duplicate",
            "Outbox records not sent because the ledger had them.",
            registry=r,
        )
        self.emails_expired = Counter(
            "lifecycle_emails_expired",
            "Emails not sent: decided longer ago than LIFECYCLE_MAX_SEND_DELAY_HOURS.",
            ["campaign"],
            registry=r,
        )
        self.emails_in_doubt = Counter(
            "lifecycle_emails_in_doubt",
            "Emails whose worker died (or lost the reply) after 'committing': check the mail"
            " server's log; action is what the category's setting did next.",
            ["category", "action"],
            registry=r,
        )
        self.email_failures = Counter(
            "lifecycle_email_failures", "SMTP failures.", ["kind"], registry=r
        )
        self.email_retries = Counter(
            "lifecycle_email_retries",
            "Further attempts scheduled on the retry topic (after a transient failure, or"
            " to resend an email in doubt).",
            registry=r,
        )
        self.emails_dead_lettered = Counter(
            "lifecycle_emails_dead_lettered", "Messages given up on.", ["reason"], registry=r
        )
        self.suppressed_addresses = Counter(
            "lifecycle_addresses_suppressed",
            "Addresses suppressed after a hard bounce.",
            registry=r,
        )
        self.unsubscribes = Counter(
            "lifecycle_unsubscribes", "One-click and confirmed unsubscribes.", registry=r
        )
        self.ledger_pruned = Counter(
            "lifecycle_ledger_pruned",
            "Delivery ledger entries deleted: past the maximum send delay plus a margin.",
            registry=r,
        )
        self.smtp_send_seconds = Histogram(
            "lifecycle_smtp_send_seconds",
            "Time to hand one message to the SMTP server.",
            registry=r,
        )
        self.decision_to_accept_seconds = Histogram(
            "lifecycle_email_decision_to_accept_seconds",
            "From the campaign decision (the outbox record's decided_at) to the SMTP server"
            " accepting the email: queueing, retries and sending together.",
            buckets=DECISION_TO_ACCEPT_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
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
