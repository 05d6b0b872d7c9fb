"""The demo's signal handling (:mod:`streams.dev.interrupts`) in a small program of its own:
a main task whose cleanup stops a child process, or overruns. Real signals, a real child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import processes

_MODULE = str(Path(__file__).resolve().parents[2] / "streams" / "dev" / "interrupts.py")

pytestmark = pytest.mark.skipif(not processes.HAS_PROC, reason="checks the child in /proc")

#: argv: the module's path, seconds the cleanup takes, the watchdog's bound. The module
#: needs only the standard library: loaded by its path, without the rest of streams.dev,
#: each program starts in a fraction of a second.
_PROGRAM = """
import asyncio, importlib.util, subprocess, sys
spec = importlib.util.spec_from_file_location("interrupts", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
Interrupts = module.Interrupts

async def main(interrupts, child):
    interrupts.watch(asyncio.current_task())
    interrupts.adopt(lambda: [child.pid] if child.returncode is None else [])
    print("ready", child.pid, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.sleep(float(sys.argv[2]))  # the parts stopping, or hanging
        child.terminate()
        child.wait()

interrupts = Interrupts(within=float(sys.argv[3]), message="stopping ...", name="program")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with interrupts.installed():
    try:
        asyncio.run(main(interrupts, child))
    except asyncio.CancelledError:
        sys.exit(interrupts.exit_code)
"""


class _Program:
    def __init__(self, cleanup_seconds: float, within: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM, _MODULE, str(cleanup_seconds), str(within)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().split()
        assert ready[0] == "ready", self.process.communicate(timeout=10)
        self.child = int(ready[1])
        self.lines: list[str] = []

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    def next_line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.lines.append(line)
        return line

    def finish(self) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, "".join(self.lines) + out, err

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not processes.gone(self.child):
            os.kill(self.child, signal.SIGKILL)


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_cancels_the_main_task_whose_cleanup_stops_the_child(
    number: signal.Signals, code: int
) -> None:
    program = _Program(cleanup_seconds=0, within=30)
    try:
        program.signal(number)
        returncode, out, err = program.finish()
    finally:
        program.close()
    assert returncode == code, err
    assert out.splitlines() == ["stopping ..."]
    assert "Traceback" not in err
    assert processes.gone(program.child)


def test_a_second_signal_kills_the_child_and_exits_at_once() -> None:
    program = _Program(cleanup_seconds=120, within=120)
    try:
        program.signal(signal.SIGINT)
        assert program.next_line() == "stopping ...\n"  # the first is being handled
        program.signal(signal.SIGINT)
        returncode, out, err = program.finish()
    finally:
        program.close()
    assert returncode == 130, err
    assert out.splitlines() == ["stopping ...", "program: stopped at once; 1 child process killed"]
    assert "Traceback" not in err
    assert processes.gone(program.child)


def test_a_cleanup_that_overruns_the_bound_is_cut_short() -> None:
    within = 1.0
    program = _Program(cleanup_seconds=120, within=within)
    try:
        program.signal(signal.SIGINT)
        started = time.monotonic()
        returncode, out, err = program.finish()
        took = time.monotonic() - started
    finally:
        program.close()
    assert returncode == 130, err
    assert out.splitlines() == [
        "stopping ...",
        "program: not stopped within 1 s, so killed; 1 child process killed",
    ]
    assert within <= took < 30  # the watchdog, not the cleanup's 120 s, ended it
    assert processes.gone(program.child)
