"""Training-step benchmark: a 2-16-16-1 MLP on 100 points, this project vs micrograd.nn, one process.

One step = forward on every point, mean squared error, zero_grad, backward, SGD update.

    python bench/bench_nn.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import micrograd.nn as mgnn  # noqa: E402
from harness import best_time, machine, row  # noqa: E402

import nn  # noqa: E402
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
    print(f"workload: one training step of a 2-16-16-1 MLP on {POINTS} points\n")
    print(f"{'':<44} {'autodiff':>14} {'micrograd':>14} {'ratio':>8}")
    ratios = []
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        t_ours = best_time(lambda: step_ours(ours, X, Y), gc_enabled=gc_on)
        t_mg = best_time(lambda: step_micrograd(theirs, X, Y), gc_enabled=gc_on)
        print(row(f"training step ({tag})", t_ours, t_mg))
        ratios.append(t_mg / t_ours)
    print()
    worst = min(ratios)
    print(f"target training step >= 3x: {worst:.2f}x {'MET' if worst >= 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
