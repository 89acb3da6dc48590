"""Compiled replay vs eager vs micrograd: training a 2-16-16-1 MLP on 100 moons-style points.

One step = forward on every point, mean squared error, zero_grad, backward, SGD update. Measured
side by side in one process: one step (best of 20) and a full 100-step training run, and the time
to compile against one eager step.

    python bench/bench_compile.py
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import micrograd.nn as mgnn  # noqa: E402
from bench_nn import moons, step_micrograd, step_ours  # noqa: E402
from harness import best_time, machine, row  # noqa: E402

import nn  # noqa: E402

STEPS = 100
REPEAT = 20  # best of 20 for every side
LR = 0.05


def run(step, n: int, gc_enabled: bool) -> float:
    gc.collect()
    was = gc.isenabled()
    (gc.enable if gc_enabled else gc.disable)()
    try:
        start = time.perf_counter()
        for _ in range(n):
            step()
        return time.perf_counter() - start
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

    print(f"{'':<40} {'autodiff':>14} {'micrograd':>14} {'ratio':>8}")
    results = {}
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        t_eager = best_time(lambda: step_ours(eager, X, Y, LR), repeat=REPEAT, gc_enabled=gc_on)
        t_compiled = best_time(lambda: step(rows_X, rows_Y), repeat=REPEAT, gc_enabled=gc_on)
        t_mg = best_time(lambda: step_micrograd(theirs, X, Y, LR), repeat=REPEAT, gc_enabled=gc_on)
        print(row(f"one step, eager ({tag})", t_eager, t_mg))
        print(row(f"one step, compiled ({tag})", t_compiled, t_mg))
        results[tag] = (t_mg / t_eager, t_mg / t_compiled, t_eager)
    print()

    # Full training runs, from the same seed for our two; micrograd from its own initialisation.
    eager = nn.MLP(2, [16, 16, 1], activation="relu", seed=1)
    compiled_model = nn.MLP(2, [16, 16, 1], activation="relu", seed=1)
    step = nn.compile_step(compiled_model, nn.mse_loss, nn.SGD(compiled_model.parameters(), lr=LR))
    theirs = mgnn.MLP(2, [16, 16, 1])
    r_eager = run(lambda: step_ours(eager, X, Y, LR), STEPS, True)
    r_compiled = run(lambda: step(rows_X, rows_Y), STEPS, True)
    r_mg = run(lambda: step_micrograd(theirs, X, Y, LR), STEPS, True)
    print(row(f"{STEPS}-step training run, eager (gc on)", r_eager, r_mg, unit="s", scale=1))
    print(row(f"{STEPS}-step training run, compiled (gc on)", r_compiled, r_mg, unit="s", scale=1))
    same = all(a.data == b.data for a, b in zip(eager.parameters(), compiled_model.parameters()))
    close = max(abs(a.data - b.data) for a, b in zip(eager.parameters(), compiled_model.parameters()))
    print(f"eager and compiled runs end with the same weights: {same} (max difference {close:.3g})")
    print(f"accuracy after {STEPS} steps: eager {accuracy(lambda x: eager(x)[0].data, X, Y):.0%}, "
          f"compiled {accuracy(lambda x: compiled_model(x)[0].data, X, Y):.0%}")
    print()
    on, off = results["gc on"], results["gc off"]
    print(f"time to compile: {compile_time * 1e3:.1f} ms = {compile_time / on[2]:.2f} eager steps "
          f"({'MET' if compile_time < 5 * on[2] else 'MISSED'} target < 5)")
    print(f"target compiled >= 50x micrograd: gc on {on[1]:.1f}x {'MET' if on[1] >= 50 else 'MISSED'}, "
          f"gc off {off[1]:.1f}x {'MET' if off[1] >= 50 else 'MISSED'}")
    print(f"target eager >= 3x micrograd:     gc on {on[0]:.1f}x {'MET' if on[0] >= 3 else 'MISSED'}, "
          f"gc off {off[0]:.1f}x {'MET' if off[0] >= 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
