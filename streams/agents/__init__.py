"""The worker's agents and timers, each given what it uses through its constructor.

Ingest (one agent per shop topic: decode, validate, re-key by customer), the engine (state,
due index, outbox and counters per customer), delivery (outbox and retry records to SMTP),
the ticker (time as a record on every partition, held until the group has consumed the
shop's records before it), the consumer-lag gauge and the backfill progress.
:mod:`streams.app` creates them and registers their ``run`` (or timer) with Faust.
"""

from streams.agents.delivery import OutboxAgent, RetryAgent
from streams.agents.engine import EngineAgent
from streams.agents.ingest import IngestAgent
from streams.agents.lag import BackfillProgress, LagGauge
from streams.agents.source_offsets import GroupProgress
from streams.agents.ticker import ShopHold, Ticker, TickHold

__all__ = [
    # Stream agents
    "EngineAgent",
    "IngestAgent",
    "OutboxAgent",
    "RetryAgent",
    # Timers
    "BackfillProgress",
    "LagGauge",
    "Ticker",
    # The ticker's hold
    "GroupProgress",
    "ShopHold",
    "TickHold",
]
