"""Checks on a compiled step program's flow, walking the reachable paths (folding
constant conditions): sends without a wait between them, waits with nothing sent
after them, and campaigns that never send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lifecycle.campaigns.conditions import fold
from lifecycle.campaigns.loading.steps import StepCompiler
from lifecycle.campaigns.located import Pos
from lifecycle.campaigns.model import (
    BranchStep,
    JumpStep,
    SendStep,
    Step,
    StopStep,
    WaitStep,
    WaitUntilStep,
)

__all__ = ["check_flow"]


def _successors(program: Sequence[Step], index: int) -> list[int]:
    step = program[index]
    if isinstance(step, StopStep):
        return []
    if isinstance(step, JumpStep):
        return [step.target]
    if isinstance(step, BranchStep):
        folded = fold(step.condition)
        constant = None if folded is None else folded.value
        if constant is True:
            return [index + 1]
        if constant is False:
            return [step.else_step]
        return [index + 1, step.else_step]
    return [index + 1]


def _reaches(program: Sequence[Step], start: int, stop_at: Callable[[Step], bool]) -> list[int]:
    """Indexes of steps matching ``stop_at`` reachable from ``start`` without passing one."""
    found: list[int] = []
    seen: set[int] = set()
    todo = [start]
    while todo:
        index = todo.pop()
        if index in seen or index >= len(program):
            continue
        seen.add(index)
        if stop_at(program[index]):
            found.append(index)
            continue
        todo.extend(_successors(program, index))
    return sorted(found)


def check_flow(compiler: StepCompiler, steps_pos: Pos) -> None:
    """Sends back to back, waits with nothing after them, and journeys that send nothing."""
    program, positions, reader = compiler.program, compiler.positions, compiler.reader

    def is_send(step: Step) -> bool:
        return isinstance(step, SendStep)

    def is_wait_or_send(step: Step) -> bool:
        return isinstance(step, SendStep | WaitStep | WaitUntilStep)

    if not any(isinstance(s, SendStep) for s in program):
        reader.err(steps_pos, "this campaign never sends anything; add a '- send: TEMPLATE' step")
        return
    reported: set[int] = set()
    for index, step in enumerate(program):
        if isinstance(step, SendStep):
            for following in _reaches(program, index + 1, is_wait_or_send):
                if is_send(program[following]) and following not in reported:
                    reported.add(following)
                    reader.err(
                        positions[following],
                        f"this send follows the send on line {step.line} with no wait between "
                        "them; a customer gets at most one message at a time, so add a wait "
                        "(e.g. '- wait: 1d') before it",
                    )
        elif isinstance(step, WaitStep | WaitUntilStep) and not _reaches(
            program, index + 1, is_send
        ):
            reader.err(
                positions[index],
                "nothing is sent after this wait, so it only delays the end of the "
                "journey; remove it (to keep customers from entering again, use "
                "reentry.after)",
            )
