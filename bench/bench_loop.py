"""A plain training loop as a user writes it, timed in blocks of consecutive steps, collector left on.

One step of a 2-16-16-1 MLP (relu) on 100 points: forward on every point, mean squared error,
zero_grad, backward, SGD update, and the loss kept in a variable until the next step replaces
it (so the previous step's graph is alive while the next one is built, as in any loop that
prints or logs its loss). Nothing is collected between the steps of a block: the collector runs
when its own thresholds say so, and ``gc.callbacks`` time each collection, so each block reports
its time per step and the share of it spent in the cyclic collector.

Sides: this project eager, this project through ``nn.compile_step``, and micrograd; with the
collector on, then off (with it off, micrograd's blocks end with one collection, inside the
clock, and ours do not: see :func:`blocks`; the ratio without micrograd's collection is printed
too). ``--torch`` imports torch first, as a notebook that also uses
PyTorch does: its modules make the heap that every full collection walks several times larger.

    python bench/bench_loop.py
    python bench/bench_loop.py --torch
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: an engine copy there wins

WITH_TORCH = "--torch" in sys.argv
if WITH_TORCH:
    import torch  # noqa: F401  (only its objects on the heap matter)

import micrograd.nn as mgnn  # noqa: E402
from bench_nn import step_micrograd, step_ours  # noqa: E402
from harness import GcClock, clock, machine, median, target  # noqa: E402

import nn  # noqa: E402
from nn import moons  # noqa: E402

LR = 0.05
# (steps per block, timed blocks, untimed warm-up steps before them) by side and collector
# setting. micrograd takes 1 to 4 s a step in a loop with the collector on (its graphs pile up
# between full collections), hence its short blocks there.
PLAN = {
    ("autodiff eager", True): (20, 3, 10), ("autodiff compiled", True): (20, 3, 10), ("micrograd", True): (2, 3, 1),
    ("autodiff eager", False): (20, 3, 10), ("autodiff compiled", False): (20, 3, 10), ("micrograd", False): (6, 3, 1),
}
COLLECTS = {"autodiff eager": False, "autodiff compiled": False, "micrograd": True}  # with the collector off


def blocks(step, steps: int, count: int, warm: int, gc_on: bool, collects: bool) -> list[tuple[float, float, list[int]]]:
    """``count`` timed blocks of ``steps`` consecutive steps, after ``warm`` untimed steps.

    Each block gives (seconds per step, share of the time in the collector, collections per
    generation in the block). With the collector off and ``collects``, the block ends with one
    collection inside the clock: a loop that runs micrograd with the collector off must collect
    now and then, or its graphs (held by their reference cycles) are never freed. Ours are freed
    by reference counting inside the steps, so a loop of ours with the collector off never has
    to collect, and does not here.
    """
    gc.collect()
    was = gc.isenabled()
    (gc.enable if gc_on else gc.disable)()
    results = []
    loss = None
    try:
        with GcClock() as collector:
            for _ in range(warm):
                loss = step()
            for _ in range(count):
                collector.reset()
                start = clock()
                for _ in range(steps):
                    loss = step()
                if collects and not gc_on:
                    gc.collect()
                elapsed = clock() - start
                results.append((elapsed / steps, collector.seconds / elapsed, list(collector.collections)))
    finally:
        (gc.enable if was else gc.disable)()
    del loss
    gc.collect()
    return results


def main() -> None:
    print(f"machine: {machine()}")
    X, Y = moons()
    eager = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    compiled_model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    compiled = nn.compile_step(compiled_model, nn.mse_loss, nn.SGD(compiled_model.parameters(), lr=LR))
    rows_Y = [[y] for y in Y]
    theirs = mgnn.MLP(2, [16, 16, 1])
    steps = {
        "autodiff eager": lambda: step_ours(eager, X, Y, LR),
        "autodiff compiled": lambda: compiled(X, rows_Y),
        "micrograd": lambda: step_micrograd(theirs, X, Y, LR),
    }
    heap = "torch imported" if WITH_TORCH else "no torch"
    print(f"workload: 2-16-16-1 MLP (relu), {len(X)} points, MSE, SGD lr={LR}; {heap}, "
          f"{len(gc.get_objects())} objects tracked by the collector before the loops")
    print("ms per step: median of the blocks (min-max); gc: share of the block's time in the collector;")
    print("collections per step by generation (0/1/2), median block\n")
    print(f"{'side':<20} {'collector':<10} {'steps':>9} {'ms per step':>24} {'gc share':>16} {'collections/step':>20}")
    per_step: dict[tuple[str, bool], float] = {}
    gc_share: dict[tuple[str, bool], float] = {}
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        for name, step in steps.items():
            n, count, warm = PLAN[name, gc_on]
            got = blocks(step, n, count, warm, gc_on, COLLECTS[name])
            times = [t for t, _, _ in got]
            shares = [s for _, s, _ in got]
            mid = sorted(got)[len(got) // 2][2]
            per_step[name, gc_on] = median(times)
            gc_share[name, gc_on] = median(shares)
            print(f"{name:<20} {tag:<10} {f'{count}x{n}':>9} {median(times) * 1e3:>9.2f} "
                  f"({min(times) * 1e3:.1f}-{max(times) * 1e3:.1f}) {median(shares):>7.0%} "
                  f"({min(shares):.0%}-{max(shares):.0%}) {'/'.join(f'{c / n:.1f}' for c in mid):>20}")
    print()
    off = per_step["micrograd", False] * (1 - gc_share["micrograd", False])
    print(f"with the collector off, micrograd's steps without its block-end collection: {off * 1e3:.1f} ms, "
          f"{off / per_step['autodiff eager', False]:.2f}x ours (no target: its graphs would never be freed)\n")
    for gc_on in (True, False):
        tag = f"{'gc on' if gc_on else 'gc off'}, {heap}"
        mg = per_step["micrograd", gc_on]
        print(target(f"training step in a loop, {tag}", mg / per_step["autodiff eager", gc_on], 3))
        if gc_on:
            print(f"share of an eager step in the collector, {tag}: {gc_share['autodiff eager', True]:.0%}")
        print(target(f"compiled step in a loop, {tag}", mg / per_step["autodiff compiled", gc_on], 50))


if __name__ == "__main__":
    main()
