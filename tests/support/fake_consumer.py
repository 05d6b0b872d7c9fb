"""What lag, health and backfill progress read of a Faust consumer: its assignment and
each partition's high watermark."""

from __future__ import annotations

from faust.types import TP


class FakeConsumer:
    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = ends

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends.get(tp)
