"""The worker fixes glibc's mmap threshold, so a freed fetch buffer goes back to the system.

Each case runs in a fresh interpreter: the threshold is process-wide and glibc adjusts it
from the first large block freed, so only a process of its own shows the adjustment.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streams.cli.worker import MMAP_THRESHOLD_BYTES, fix_mmap_threshold

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")

#: Frees a 4 MiB block (mapped on its own, then unmapped), then allocates 1 MiB and prints
#: how many of its bytes glibc mapped on their own (0: it came from the heap, and stays
#: there once freed).
_PROBE = textwrap.dedent(
    """
    import ctypes, sys

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Mallinfo2
    if sys.argv[1] == "fixed":
        from streams.cli.worker import fix_mmap_threshold
        assert fix_mmap_threshold({}), "mallopt refused"
    freed = bytearray(4 * 2**20)
    del freed
    before = libc.mallinfo2().hblkhd
    kept = bytearray(2**20)
    print(libc.mallinfo2().hblkhd - before)
    """
)


def _mapped_bytes_of_a_1_mib_block(mode: str) -> int:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return int(completed.stdout)


def test_without_the_fix_glibc_serves_a_block_from_the_heap_after_a_larger_one_was_freed() -> None:
    assert _mapped_bytes_of_a_1_mib_block("default") == 0


def test_with_the_fix_a_block_over_the_threshold_is_mapped_on_its_own() -> None:
    assert _mapped_bytes_of_a_1_mib_block("fixed") >= 2**20
    assert MMAP_THRESHOLD_BYTES < 2**20


def test_an_operators_own_threshold_is_left_alone() -> None:
    assert fix_mmap_threshold({"MALLOC_MMAP_THRESHOLD_": "131072"}) is False
