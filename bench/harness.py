"""Shared timing helpers: wall times under one garbage-collector setting for both sides, medians, targets."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")

# CPU time of the calling thread, not wall time: the machines these run on are shared (other
# processes take the cores for seconds at a time, which wall time charges to whichever side was
# running). Everything measured here, the collector included, runs on the calling thread.
clock = time.thread_time


Side = tuple[Callable[..., object], "Callable[[], object] | None"]  # (fn, setup) for interleaved


def _timed_call(fn: Callable[..., object], setup: Callable[[], object] | None, gc_enabled: bool) -> float:
    """One call of ``fn`` (on a fresh ``setup()`` if given) from a clean heap; its thread CPU time."""
    # Collect before the setup too: micrograd's garbage from the previous call (held by cycles)
    # is then freed before the new graph is built, as ours is, so that both sides build into
    # memory the previous graph left, as a training loop does.
    gc.collect()
    arg = None
    if setup:
        was = gc.isenabled()
        gc.disable()  # untimed: a build has nothing for the collector to free, so skip its walks
        try:
            arg = setup()
        finally:
            (gc.enable if was else gc.disable)()
    gc.collect()  # what setup made leaves the young generation, as a graph that is used later has
    was = gc.isenabled()
    (gc.enable if gc_enabled else gc.disable)()
    try:
        start = clock()
        result = fn(arg) if setup else fn()
        elapsed = clock() - start
    finally:
        (gc.enable if was else gc.disable)()
    # Freed only now, untimed: whatever ``fn`` returns (a built graph) is torn down outside the
    # clock. Otherwise our nodes, freed by reference counting, would be charged their teardown
    # while micrograd's, kept alive by their closures' reference cycles, are freed later by the
    # collector (untimed with the collector off).
    del arg, result
    return elapsed


#: Timed calls a side, by collector setting. With it off a call takes 20-200 ms and calls of the
#: same work in one process differ by up to half (a DAG build: 28 to 48 ms, micrograd's 101 to 154),
#: so a median of 5 moved the DAG's ratio from 4.11x to 2.79x between two passes of one run; 15
#: keep it steadier. With the collector on a micrograd call takes a second: 5.
REPEAT = {True: 5, False: 15}


def interleaved(sides: Sequence[Side], repeat: int = 5, gc_enabled: bool = True, warmup: int = 2) -> list[list[float]]:
    """Times of ``repeat`` calls of each side, the sides taking turns call by call.

    Each side is ``(fn, setup)`` as in :func:`timings` (``setup`` None: ``fn()``). Turn by turn
    rather than all of one side then all of the other: the machines these run on change speed
    for a second or more at a time (a build here took 42 ms for eight calls in a row, then 63 ms
    for the next eight, and micrograd's 105 ms and then 155 ms), and a ratio of medians taken
    minutes apart would then measure the machine. Taking turns, both medians come from the same
    stretch of time. ``warmup`` rounds run first, untimed.
    """
    times: list[list[float]] = [[] for _ in sides]
    for i in range(warmup + repeat):
        for side, (fn, setup) in zip(times, sides):
            elapsed = _timed_call(fn, setup, gc_enabled)
            if i >= warmup:
                side.append(elapsed)
    return times


def timings(
    fn: Callable[..., object],
    repeat: int = 5,
    gc_enabled: bool = True,
    setup: Callable[[], object] | None = None,
    warmup: int = 2,
) -> list[float]:
    """Times of ``repeat`` calls, with the collector on or off during each call.

    With ``setup``, each call gets a fresh ``setup()`` result as its argument, made untimed.
    What ``fn`` returns is freed after the clock stops. ``warmup`` calls run first, untimed: the
    first calls in a process are slower (memory taken from the operating system, the interpreter
    specialising hot loops), on either side. The collector runs before each call: this measures
    one call from a clean heap, not a loop; ``bench_loop.py`` measures what a loop of steps costs
    with the collector left to itself. To compare two sides, use :func:`interleaved`.
    """
    return interleaved([(fn, setup)], repeat, gc_enabled, warmup)[0]


def warm_backward(V: Callable[[float], Any], calls: int = 10) -> None:
    """Call ``backward`` on ``calls`` small graphs made of ``V``s, so that it runs specialised when timed.

    CPython 3.11 rewrites a function into its specialising form (attribute reads for the slots of
    one class, and so on) on its 8th call, or sooner on an unconditional backward jump; a loop
    written ``while stack:`` ends in a conditional one. So a backward that runs once per graph
    runs unspecialised, about twice as slowly, for its first 7 calls in a process. A training
    loop is past that after 7 steps; a timing is taken past it too, on both sides.
    """
    for _ in range(calls):
        x, w, b = V(0.5), V(0.9), V(0.1)
        for _ in range(5):
            x = (x * w + b).relu()
        x.backward()  # type: ignore[attr-defined]


def best_time(
    fn: Callable[..., object],
    repeat: int = 5,
    gc_enabled: bool = True,
    setup: Callable[[], object] | None = None,
    warmup: int = 2,
) -> float:
    """Smallest of :func:`timings` (kept for the render benchmark; the others report medians)."""
    return min(timings(fn, repeat, gc_enabled, setup, warmup))


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def spread(xs: Sequence[float], scale: float = 1e3) -> str:
    """``min-max`` of ``xs`` (scaled, ms by default), to print beside a median."""
    return f"{min(xs) * scale:.1f}-{max(xs) * scale:.1f}"


class GcClock:
    """Time spent in the cyclic collector, read from ``gc.callbacks`` (start/stop of each collection).

    >>> clock = GcClock()
    >>> with clock:
    ...     _ = gc.collect()
    >>> clock.collections[2] >= 1 and clock.seconds >= 0
    True
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]  # by generation
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = clock()
        else:
            self.seconds += clock() - self._start
            self.collections[info["generation"]] += 1

    def reset(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]

    def __enter__(self) -> "GcClock":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


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
    """CPU model, core count and Python version: every benchmark prints it first."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} cores, Python {sys.version.split()[0]} "
            f"({platform.python_implementation()}), gc thresholds {gc.get_threshold()}")


def row(name: str, ours: float, theirs: float, unit: str = "ms", scale: float = 1e3) -> str:
    ratio = theirs / ours if ours else float("inf")
    return f"{name:<44} {ours * scale:>10.2f} {unit:<3} {theirs * scale:>10.2f} {unit:<3} {ratio:>7.2f}x"


def spread_row(name: str, ours: Sequence[float], theirs: Sequence[float], scale: float = 1e3) -> str:
    """One line: the medians of both sides in ms, their min-max, and the ratio of the medians."""
    mo, mt = median(ours), median(theirs)
    return (f"{name:<40} {mo * scale:>9.2f} ms ({spread(ours, scale):>13}) {mt * scale:>9.2f} ms "
            f"({spread(theirs, scale):>15}) {mt / mo:>7.2f}x")


SPREAD_HEADER = f"{'median (min-max)':<40} {'autodiff':>28} {'micrograd':>30} {'ratio':>8}"


def target(name: str, value: float, goal: float, at_most: bool = False) -> str:
    """A target line, the one format ``run_all.py`` reads: ``target: <name>: 3.21x >= 3x MET``.

    ``value`` is a ratio to micrograd (higher is better), or with ``at_most`` a fraction of it
    (memory: lower is better).
    """
    met = value <= goal if at_most else value >= goal
    return f"target: {name}: {value:.2f}x {'<=' if at_most else '>='} {goal:g}x {'MET' if met else 'MISSED'}"
