"""Placeholder until the bgnbd branch lands (same API)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BgNbdParams", "p_alive", "p_alive_crossing_time"]


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


def p_alive(params: BgNbdParams, x: float, t_x: float, T: float) -> float:
    if x == 0:
        return 1.0
    ratio = params.a / (params.b + x - 1)
    return float(
        1.0 / (1.0 + ratio * ((params.alpha + T) / (params.alpha + t_x)) ** (params.r + x))
    )


def p_alive_crossing_time(
    params: BgNbdParams, x: float, t_x: float, threshold: float
) -> float | None:
    if x == 0:
        return None
    ratio = params.a / (params.b + x - 1)
    k = ((1 / threshold - 1) / ratio) ** (1 / (params.r + x))
    return float((params.alpha + t_x) * k - params.alpha)
