"""Child processes through /proc (Linux): the children of a process, and whether one ended."""

from __future__ import annotations

from pathlib import Path

__all__ = ["HAS_PROC", "children", "gone"]

HAS_PROC = Path("/proc/self/stat").exists()


def _after_name(stat: str) -> list[str]:
    # "pid (name) state ppid ...": the name may hold spaces and parentheses.
    return stat.rpartition(")")[2].split()


def children(pid: int) -> dict[int, str]:
    """The running children of ``pid``: their pid to their command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _after_name(stat.read_text())
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(stat.parent.name)] = command.replace(b"\0", b" ").decode(errors="replace")
    return found


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody reaped yet."""
    try:
        return _after_name(Path(f"/proc/{pid}/stat").read_text())[0] == "Z"
    except OSError:
        return True
