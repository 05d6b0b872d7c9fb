"""Prometheus metrics of one worker, in a registry of its own (tests build several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["WorkerMetrics"]


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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
        self.decisions = Counter(
            "lifecycle_campaign_decisions",
            "Campaign decisions.",
            ["campaign", "outcome"],
            registry=r,
        )
        self.outbox_published = Counter(
            "lifecycle_outbox_published",
            "Messages written to the outbox.",
            ["campaign"],
            registry=r,
        )
        self.ticks = Counter("lifecycle_ticks", "Ticks handled.", registry=r)
        self.tick_state_reads = Counter(
            "lifecycle_tick_state_reads", "Customer states read to serve ticks.", registry=r
        )
        self.due_customers = Counter(
            "lifecycle_due_customers", "Customers woken by ticks.", registry=r
        )
        self.emails_sent = Counter(
            "lifecycle_emails_sent",
            "Emails accepted by the SMTP server.",
            ["campaign", "category"],
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
        self.consumer_lag = Gauge(
            "lifecycle_consumer_lag",
            "Records between the committed position and the end of each assigned partition.",
            ["topic", "partition"],
            registry=r,
        )

        self.backfill_behind = Gauge(
            "lifecycle_backfill_records_behind",
            "Records not yet committed on this worker's partitions of each source topic"
            " and of the customer-events topic.",
            ["topic"],
            registry=r,
        )
        self.backfill_eta = Gauge(
            "lifecycle_backfill_eta_seconds",
            "Estimated seconds until the source topics are caught up (0: caught up;"
            " -1: not falling).",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
