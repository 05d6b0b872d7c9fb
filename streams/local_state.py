"""The worker's on-disk tables after an unclean stop: discarded and rebuilt from changelogs.

Faust's RocksDB store writes a table value to disk when the table is set, and the value's
changelog record to the broker a moment later; the offset it resumes recovery from is the
last *acknowledged* changelog record. A worker killed between the two (SIGKILL, OOM, power)
leaves a value on disk that no changelog holds, and the next start keeps it: the event
behind it is delivered again, looks like a duplicate against the value on disk and writes
nothing, so the changelog (what a rebalance or a new machine recovers, and the journal the
counters read, :mod:`streams.counters.store`) never gets it.

So the worker marks its table directory while it runs (:func:`running`) and removes the
mark only when it stops cleanly (exit status 0, after Faust has flushed the producer and
closed the stores). A start that finds the mark discards the on-disk tables
(:func:`discard_if_unclean`) and Faust rebuilds them from the changelogs: a slower start
after a crash (a full recovery, as on a new machine), never a divergent one. The memory
store keeps nothing on disk and always recovers from the changelogs.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MARK", "discard_if_unclean", "running"]

log = logging.getLogger(__name__)

#: The file that says a worker is (or was, if it died) running on this table directory.
MARK = ".lifecycle-running"


def discard_if_unclean(tabledir: Path) -> bool:
    """Remove the on-disk tables under ``tabledir`` if the last worker did not stop
    cleanly; True if it did not."""
    mark = tabledir / MARK
    if not mark.exists():
        return False
    discarded = [entry for entry in tabledir.iterdir() if entry.name != MARK]
    for entry in discarded:
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    log.warning(
        "the last worker on %s did not stop cleanly: %d local table store(s) discarded, "
        "rebuilding them from their changelogs",
        tabledir,
        len(discarded),
    )
    return True


@contextmanager
def running(tabledir: Path) -> Iterator[None]:
    """Mark ``tabledir`` for the duration of the block; the mark stays unless the block
    ends normally or with ``SystemExit`` of status 0."""
    tabledir.mkdir(parents=True, exist_ok=True)
    mark = tabledir / MARK
    mark.touch()
    try:
        yield
    except SystemExit as stop:
        if stop.code in (0, None):
            mark.unlink(missing_ok=True)
        raise
    else:
        mark.unlink(missing_ok=True)
