"""Detectors driven by time: milestones, stage moves and decline, each with its own due time.

Nothing here scans customers: after every change the engine asks :func:`next_detector_due`
when a detector next needs this customer, and the due index wakes the customer then.
"""

from lifecycle.detection.detectors import (
    Timer,
    detector_timers,
    fire_due_detectors,
    next_detector_due,
)

__all__ = [
    "Timer",
    "detector_timers",
    "fire_due_detectors",
    "next_detector_due",
]
