"""Shared timing helpers: best-of-N wall time under one garbage-collector setting for both sides."""

from __future__ import annotations

import gc
import platform
import sys
import time
import tracemalloc
from typing import Callable, TypeVar

T = TypeVar("T")


def best_time(
    fn: Callable[..., object],
    repeat: int = 5,
    gc_enabled: bool = True,
    setup: Callable[[], object] | None = None,
    warmup: int = 2,
) -> float:
    """Smallest wall time of ``repeat`` calls, with the collector on or off during each call.

    With ``setup``, each call gets a fresh ``setup()`` result as its argument, made untimed.
    What ``fn`` returns is freed after the clock stops. ``warmup`` calls run first, untimed: the
    first calls in a process are slower (memory taken from the operating system, the interpreter
    specialising hot loops), on either side.
    """
    best = float("inf")
    for i in range(warmup + repeat):
        # Collect before the setup too: micrograd's garbage from the previous call (held by
        # cycles) is then freed before the new graph is built, as ours is, so that both sides
        # build into memory the previous graph left, as a training loop does.
        gc.collect()
        arg = setup() if setup else None
        gc.collect()
        was = gc.isenabled()
        (gc.enable if gc_enabled else gc.disable)()
        try:
            start = time.perf_counter()
            result = fn(arg) if setup else fn()
            elapsed = time.perf_counter() - start
            if i >= warmup:
                best = min(best, elapsed)
        finally:
            (gc.enable if was else gc.disable)()
        # Freed only now, untimed: whatever ``fn`` returns (a built graph) is torn down outside
        # the clock. Otherwise our nodes, freed by reference counting, would be charged their
        # teardown while micrograd's, kept alive by their closures' reference cycles, are freed
        # later by the collector (untimed with the collector off).
        del arg, result
    return best


def traced_bytes(build: Callable[[], T]) -> tuple[T, int]:
    """What ``build()`` returns and the bytes it left allocated (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return result, after - before


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]} ({platform.python_implementation()})"


def row(name: str, ours: float, theirs: float, unit: str = "ms", scale: float = 1e3) -> str:
    ratio = theirs / ours if ours else float("inf")
    return f"{name:<44} {ours * scale:>10.2f} {unit:<3} {theirs * scale:>10.2f} {unit:<3} {ratio:>7.2f}x"
