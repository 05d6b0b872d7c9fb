"""Waiting for a figure a worker publishes on its own timer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["settled"]

T = TypeVar("T")


async def settled(read: Callable[[], Awaitable[T]], expected: T, within: float = 60) -> T:
    """What ``read()`` returns once it equals ``expected``, or at the deadline (the caller
    asserts, so a failure shows the last value)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = await read()
        if got == expected or loop.time() > deadline:
            return got
        await asyncio.sleep(0.5)  # polling the broker: the worker flushes on its own timer
