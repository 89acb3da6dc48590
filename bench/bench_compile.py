"""Compiled replay vs eager vs micrograd: training a 2-16-16-1 MLP on 100 moons-style points.

One step = forward on every point, mean squared error, zero_grad, backward, SGD update. Measured
side by side in one process: one step from a clean heap (median of 5), our eager and compiled
100-step training runs (which must end with the same weights), and the time to compile against
one eager step. The same steps in a loop, micrograd's included: ``bench_loop.py``.

    python bench/bench_compile.py
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: an engine copy there wins

import micrograd.nn as mgnn  # noqa: E402
from bench_nn import moons, step_micrograd, step_ours  # noqa: E402
from harness import (  # noqa: E402
    REPEAT,
    SPREAD_HEADER,
    clock,
    interleaved,
    machine,
    median,
    spread_row,
    target,
    warm_backward,
)
from micrograd.engine import Value as mgValue  # noqa: E402

import autodiff  # noqa: E402
import nn  # noqa: E402

STEPS = 100
LR = 0.05


def run(step, n: int, gc_enabled: bool) -> float:
    gc.collect()
    was = gc.isenabled()
    (gc.enable if gc_enabled else gc.disable)()
    try:
        start = clock()
        for _ in range(n):
            step()
        return clock() - start
    finally:
        (gc.enable if was else gc.disable)()


def accuracy(predict, X, Y) -> float:
    return sum((predict(x) > 0) == (y > 0) for x, y in zip(X, Y)) / len(X)


def main() -> None:
    print(f"machine: {machine()}")
    X, Y = moons()
    print(f"workload: 2-16-16-1 MLP (relu), {len(X)} points, mean squared error, SGD lr={LR}\n")

    eager = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    compiled_model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    theirs = mgnn.MLP(2, [16, 16, 1])

    start = time.perf_counter()
    step = nn.compile_step(compiled_model, nn.mse_loss, nn.SGD(compiled_model.parameters(), lr=LR))
    step.program.batch(step.rows(X[:1], Y[:1]), seed=0.0)  # generate and compile the batch code
    compiled_model.zero_grad()
    compile_time = time.perf_counter() - start
    rows_X, rows_Y = X, [[y] for y in Y]

    warm_backward(autodiff.Value)  # see harness.warm_backward
    warm_backward(mgValue)
    print(f"median of {REPEAT[True]} (collector on) or {REPEAT[False]} (off) steps, each from a clean heap (min-max)")
    print(SPREAD_HEADER)
    lines = []
    eager_step = {}
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        t_eager, t_compiled, t_mg = interleaved(
            [(lambda: step_ours(eager, X, Y, LR), None), (lambda: step(rows_X, rows_Y), None),
             (lambda: step_micrograd(theirs, X, Y, LR), None)], repeat=REPEAT[gc_on], gc_enabled=gc_on)
        print(spread_row(f"one step, eager ({tag})", t_eager, t_mg))
        print(spread_row(f"one step, compiled ({tag})", t_compiled, t_mg))
        lines.append(target(f"compiled step from a clean heap, {tag}", median(t_mg) / median(t_compiled), 50))
        eager_step[gc_on] = median(t_eager)
    print()

    # Full training runs from the same seed, collector on (micrograd's loop: bench_loop.py).
    eager = nn.MLP(2, [16, 16, 1], activation="relu", seed=1)
    compiled_model = nn.MLP(2, [16, 16, 1], activation="relu", seed=1)
    step = nn.compile_step(compiled_model, nn.mse_loss, nn.SGD(compiled_model.parameters(), lr=LR))
    r_eager = run(lambda: step_ours(eager, X, Y, LR), STEPS, True)
    r_compiled = run(lambda: step(rows_X, rows_Y), STEPS, True)
    print(f"{STEPS}-step training run (gc on): eager {r_eager:.2f} s, compiled {r_compiled:.2f} s, "
          f"{r_eager / r_compiled:.1f}x")
    same = all(a.data == b.data for a, b in zip(eager.parameters(), compiled_model.parameters()))
    close = max(abs(a.data - b.data) for a, b in zip(eager.parameters(), compiled_model.parameters()))
    print(f"eager and compiled runs end with the same weights: {same} (max difference {close:.3g})")
    print(f"accuracy after {STEPS} steps: eager {accuracy(lambda x: eager(x)[0].data, X, Y):.0%}, "
          f"compiled {accuracy(lambda x: compiled_model(x)[0].data, X, Y):.0%}")
    print(f"time to compile: {compile_time * 1e3:.1f} ms = {compile_time / eager_step[True]:.2f} eager steps "
          f"({'MET' if compile_time < 5 * eager_step[True] else 'MISSED'} target < 5)")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
