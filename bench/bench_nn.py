"""Training-step benchmark: a 2-16-16-1 MLP on 100 points, this project vs micrograd.nn, one process.

One step = forward on every point, mean squared error, zero_grad, backward, SGD update, timed
alone from a clean heap (the collector runs before each step, untimed); ``bench_loop.py`` times
the same step in a loop of consecutive steps, as a user runs it.

    python bench/bench_nn.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: an engine copy there wins

import micrograd.nn as mgnn  # noqa: E402
from harness import (  # noqa: E402
    REPEAT,
    SPREAD_HEADER,
    interleaved,
    machine,
    median,
    spread_row,
    target,
    warm_backward,
)
from micrograd.engine import Value as mgValue  # noqa: E402

import nn  # noqa: E402
from autodiff import Value  # noqa: E402
from nn import moons  # noqa: E402

POINTS = 100


def train_step(model, X, Y, lr=0.05, output=lambda out: out):
    """One step: forward on every point, mean squared error, zero_grad, backward, SGD update.

    ``output`` picks the Value from what the model returns (ours a list, micrograd's a Value).
    Returns the loss node, so that the step's graph is freed after the clock stops, on both sides
    (see ``harness.best_time``): with the collector off, micrograd's graph, held by its closures'
    reference cycles, would never be freed inside the clock while ours would.
    """
    outs = [output(model(x)) for x in X]
    loss = sum(((o - y) ** 2 for o, y in zip(outs, Y)), 0.0) * (1.0 / len(X))
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss


def step_ours(model, X, Y, lr=0.05):
    return train_step(model, X, Y, lr, output=lambda out: out[0])


def step_micrograd(model, X, Y, lr=0.05):
    return train_step(model, X, Y, lr)


def main() -> None:
    print(f"machine: {machine()}")
    X, Y = moons()
    ours = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    theirs = mgnn.MLP(2, [16, 16, 1])
    print(f"workload: one training step of a 2-16-16-1 MLP on {POINTS} points, median of {REPEAT[True]} (collector on) or {REPEAT[False]} (off)\n")
    print(SPREAD_HEADER)
    lines = []
    warm_backward(Value)  # see harness.warm_backward
    warm_backward(mgValue)
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        t_ours, t_mg = interleaved([(lambda: step_ours(ours, X, Y), None), (lambda: step_micrograd(theirs, X, Y), None)],
                                   repeat=REPEAT[gc_on], gc_enabled=gc_on)
        print(spread_row(f"training step ({tag})", t_ours, t_mg))
        lines.append(target(f"training step from a clean heap, {tag}", median(t_mg) / median(t_ours), 3))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
