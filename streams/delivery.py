"""Delivery agent (being built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["register"]


def register(worker: Worker) -> None:
    return None
