"""Shared helpers for the tests: a finite-difference oracle independent of the engine."""

from __future__ import annotations

from typing import Callable, Sequence


def numeric_grad(f: Callable[[Sequence[float]], float], xs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """Central finite differences of the plain-float function ``f`` at ``xs``."""
    out = []
    for i in range(len(xs)):
        up = list(xs)
        down = list(xs)
        up[i] += eps
        down[i] -= eps
        out.append((f(up) - f(down)) / (2 * eps))
    return out
