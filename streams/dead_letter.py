"""The dead-letter topic: what we could not use, byte for byte, with the reason in headers.

The record value is the original value (or outbox record) unchanged and the key is the
original key, so a fixed record can be re-produced as it was. Headers say why and where
it came from:

``lifecycle.reason``            human-readable reason (never includes payload data)
``lifecycle.reason-kind``       a fixed word for counting (e.g. not_json, smtp_permanent)
``lifecycle.source-topic``      topic the record was read from
``lifecycle.source-partition``  its partition
``lifecycle.source-offset``     its offset
``lifecycle.stage``             ingest, engine or delivery
``lifecycle.value-dropped``     only when the original value was too large for the broker
                                to take again: the dead letter then carries no value

Publishing waits for the broker's acknowledgement and keeps trying while the broker
fails (:func:`streams.acknowledged.send_acknowledged`): the agent does not move past a
record whose dead letter is not on the broker, so no record is skipped uncounted.
"""

from __future__ import annotations

from faust.types import Message, TopicT

from streams.acknowledged import RecordRefusedError, send_acknowledged

__all__ = ["DeadLetters", "dead_letter_headers"]


def dead_letter_headers(
    *, reason: str, kind: str, stage: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    return [
        ("lifecycle.reason", reason.encode()),
        ("lifecycle.reason-kind", kind.encode()),
        ("lifecycle.stage", stage.encode()),
        ("lifecycle.source-topic", topic.encode()),
        ("lifecycle.source-partition", str(partition).encode()),
        ("lifecycle.source-offset", str(offset).encode()),
    ]


class DeadLetters:
    def __init__(self, topic: TopicT) -> None:
        self.topic = topic

    async def publish_record(
        self,
        source: Message,
        *,
        reason: str,
        kind: str,
        stage: str,
        key: bytes | None = None,
        value: bytes | None = None,
    ) -> None:
        """Dead-letter the record ``source`` (its own key and bytes unless others are given)."""
        await self.publish(
            key=source.key if key is None else key,
            value=source.value if value is None else value,
            reason=reason,
            kind=kind,
            stage=stage,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
        )

    async def publish(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        kind: str,
        stage: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        """Publish and wait for the broker's ack, trying again while the broker fails: a
        dead letter must not be lost."""
        headers = dead_letter_headers(
            reason=reason, kind=kind, stage=stage, topic=topic, partition=partition, offset=offset
        )
        what = f"dead letter of {topic}[{partition}]@{offset}"
        try:
            await send_acknowledged(
                self.topic, what=what, key=key, value=value or b"", headers=headers
            )
        except RecordRefusedError:
            # Too large to take again (a rendered email past the broker's limit): the
            # reason and the source position still tell the operator where to look.
            dropped = [*headers, ("lifecycle.value-dropped", b"too large for the broker")]
            await send_acknowledged(self.topic, what=what, key=key, value=b"", headers=dropped)
