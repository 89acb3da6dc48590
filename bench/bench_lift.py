"""Lifted program vs eager vs compiled scalar vs PyTorch: one training step of a 2-16-16-1 MLP on 100 points.

One step = forward on every point, mean squared error, zero_grad, backward, SGD update (lr 0.05).
Sides, all in this process, from the same initial weights:

* eager: the step of bench_nn.py (a graph of Values per step);
* compiled: ``nn.compile_step(model, ...)`` (straight-line Python, one sample at a time);
* lifted: ``nn.compile_step(model, ..., lift=True)`` (numpy arrays), called as the others are,
  with lists of points;
* lifted, array rows: the lifted program's ``batch`` on one float64 array of rows, then the same
  zero_grad and SGD on the Values (what a user holding numpy data runs);
* PyTorch: float64 tensors, ``torch.set_num_threads(1)``, the same weights, ``X @ W + b``;
* jax.jit: the same step written in ``jax.numpy`` (``value_and_grad`` of the mean squared error,
  the SGD update inside the compiled function), float64, jit-compiled and warmed, each step's
  loss waited for with ``block_until_ready``;
* to_jax under jax.jit: the same, with the forward pass ``lifted.program.to_jax()`` wrote
  (where the function this engine hands to JAX stands against one written for JAX).

JAX runs here on one thread and synchronously (XLA's intra-op threads off, CPU async dispatch
off): as PyTorch does with one thread, so that the CPU time of this thread is all of its work
(with async dispatch on, half of a step's CPU time is spent on another thread, unseen by it).

The machine is shared (other processes run tests on its 2 cores), so every time is CPU time of
this thread, and each side is timed in blocks of steps, the sides taking turns in random order
block after block; the figure is the median over the blocks, printed with its spread. The cost of
lifting (tracing, finding the arrays, writing and compiling the code) is compared with an eager
step, both medians.

    python bench/bench_lift.py [--blocks 60]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: an engine copy there wins

import numpy as np  # noqa: E402
from bench_nn import step_ours  # noqa: E402
from harness import clock, machine, target  # noqa: E402

import nn  # noqa: E402

# JAX on one thread, as PyTorch is below: read when JAX starts its CPU backend, so set before that
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

LR = 0.05
SIZES = [16, 16, 1]


def torch_side(model: nn.MLP, X: list[list[float]], Y: list[float]):
    """A PyTorch step with ``model``'s weights: float64, one thread, batched."""
    import torch

    torch.set_num_threads(1)
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor([[y] for y in Y], dtype=torch.float64)
    params = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in row] for row in layer.weights], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([b.data for b in layer.biases], dtype=torch.float64, requires_grad=True)
        params += [W, b]
    opt = torch.optim.SGD(params, lr=LR)

    def step() -> float:
        opt.zero_grad()
        h = Xt
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = torch.relu(h)
        loss = ((h - Yt) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.item()

    return step, torch.__version__


def start_jax():
    """JAX in float64 (as every side computes), dispatching on this thread: the module and its version."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return jax


def jax_side(model: nn.MLP, X: list[list[float]], Y: list[float]):
    """A jax.jit step with ``model``'s weights: the step PyTorch's side takes, written for JAX."""
    jax = start_jax()
    jnp = jax.numpy
    Xj = jnp.asarray(X, dtype=jnp.float64)
    Yj = jnp.asarray([[y] for y in Y], dtype=jnp.float64)
    params = [(jnp.asarray([[w.data for w in row] for row in layer.weights], dtype=jnp.float64),
               jnp.asarray([b.data for b in layer.biases], dtype=jnp.float64)) for layer in model.layers]

    def loss(params):
        h = Xj
        for i, (W, b) in enumerate(params):
            h = h @ W + b
            if i + 1 < len(params):
                h = jax.nn.relu(h)
        return jnp.mean((h - Yj) ** 2)

    @jax.jit
    def update(params):
        value, grads = jax.value_and_grad(loss)(params)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads), value

    state = [params]

    def step() -> float:
        state[0], value = update(state[0])
        return float(value.block_until_ready())

    return step, jax.__version__


def to_jax_side(model: nn.MLP, X: list[list[float]], Y: list[float]):
    """A jax.jit step whose forward pass is the lifted program's ``to_jax()`` function."""
    jax = start_jax()
    jnp = jax.numpy
    program = nn.compile_step(model, nn.mse_loss, lift=True).program
    fn = program.to_jax()
    rows = jnp.asarray([list(x) + [y] for x, y in zip(X, Y)], dtype=jnp.float64)

    @jax.jit
    def update(theta):
        value, grad = jax.value_and_grad(lambda th: fn(th, rows)[:, 0].mean())(theta)
        return theta - LR * grad, value

    state = [fn.theta]

    def step() -> float:
        state[0], value = update(state[0])
        return float(value.block_until_ready())

    return step


def array_side(model: nn.MLP, X: list[list[float]], Y: list[float]):
    """The lifted program run on a float64 array of rows, with the Values' zero_grad and SGD around it."""
    step = nn.compile_step(model, nn.mse_loss, lift=True)
    rows = np.array([list(x) + [y] for x, y in zip(X, Y)])
    params = model.parameters()
    opt = nn.SGD(params, lr=LR)
    seed = 1.0 / len(rows)
    program = step.program

    def run() -> float:
        for p in params:
            p.grad = 0.0
        losses = program.batch(rows, seed)
        opt.step()
        return sum(losses) / len(losses)

    return run


def timed_blocks(sides: dict, blocks: int, per_block: dict) -> dict:
    """CPU seconds per step of each side: one figure per block of ``per_block[name]`` steps, the
    sides in a fresh random order every block (so that a busy moment of the machine falls on all)."""
    times: dict = {name: [] for name in sides}
    order = list(sides)
    rng = random.Random(0)
    for _ in range(blocks):
        rng.shuffle(order)
        for name in order:
            fn, n = sides[name], per_block[name]
            gc.collect()
            start = clock()
            for _ in range(n):
                fn()
            times[name].append((clock() - start) / n)
    return times


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=60, help="blocks of steps per side (default 60)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    X, Y = nn.moons(100, seed=0)
    T = [[y] for y in Y]
    print(f"workload: 2-16-16-1 MLP (relu), {len(X)} points, mean squared error, SGD lr={LR}, one step\n")

    models = {name: nn.MLP(2, SIZES, activation="relu", seed=0)
              for name in ("eager", "compiled", "lifted", "array", "torch", "jax", "to_jax")}
    compiled = nn.compile_step(models["compiled"], nn.mse_loss, nn.SGD(models["compiled"].parameters(), lr=LR))
    lifted = nn.compile_step(models["lifted"], nn.mse_loss, nn.SGD(models["lifted"].parameters(), lr=LR), lift=True)
    sides = {
        "eager": lambda: step_ours(models["eager"], X, Y, LR),
        "compiled": lambda: compiled(X, T),
        "lifted": lambda: lifted(X, T),
        "lifted, array rows": array_side(models["array"], X, Y),
    }
    try:
        torch_step, version = torch_side(models["torch"], X, Y)
        sides[f"PyTorch {version}, 1 thread"] = torch_step
    except ImportError:
        print("PyTorch is not installed: its side is left out")
    try:
        jax_step, version = jax_side(models["jax"], X, Y)
        sides[f"JAX {version}, jax.jit"] = jax_step
        sides["to_jax() under jax.jit"] = to_jax_side(models["to_jax"], X, Y)
    except ImportError:
        print("JAX is not installed: its sides are left out")

    # the same numbers: one step of each from the same weights
    first = {name: (fn() if name != "eager" else step_ours(models["eager"], X, Y, LR).data) for name, fn in sides.items()}
    spread = max(first.values()) - min(first.values())
    print(f"first step's loss, every side: {first['lifted']:.12g} (largest difference between sides {spread:.2g})\n")

    for name, fn in sides.items():  # warmed: jit-compiled, and past the interpreter's first calls
        if name != "eager":
            for _ in range(10):
                fn()
    per_block = {name: 1 if name in ("eager", "compiled") else 20 for name in sides}
    times = timed_blocks(sides, args.blocks, per_block)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"{'median CPU time per step over ' + str(args.blocks) + ' blocks (min-max)':<52} {'per step':>12}")
    for name, ts in times.items():
        print(f"  {name:<50} {med[name] * 1e6:>9.1f} us ({min(ts) * 1e6:.0f}-{max(ts) * 1e6:.0f})")
    print()
    base = med["lifted"]
    for name in med:
        if name != "lifted":
            print(f"  {name:<50} {med[name] / base:9.2f}x the lifted step's time")
    print()

    # the cost of lifting, against one eager step
    def lift_once() -> None:
        model = nn.MLP(2, SIZES, activation="relu", seed=0)
        step = nn.compile_step(model, nn.mse_loss, lift=True)
        step.program.batch(step.rows(X[:1], T[:1]), seed=0.0)  # writes and compiles the batch code

    lift_time = median_time(lift_once, 9)
    eager_time = median_time(lambda: step_ours(nn.MLP(2, SIZES, activation="relu", seed=0), X, Y, LR), 9)
    print(f"time to lift (trace, find the arrays, write and compile the code): {lift_time * 1e3:.1f} ms, "
          f"an eager step {eager_time * 1e3:.1f} ms: {lift_time / eager_time:.2f} eager steps\n")

    torch_name = next((name for name in med if name.startswith("PyTorch")), None)
    if torch_name is not None:
        print(target("lifted step vs PyTorch batched, 1 thread", med[torch_name] / base, 1))
        print(target("lifted step (array rows) vs PyTorch batched, 1 thread", med[torch_name] / med["lifted, array rows"], 1))
    jax_name = next((name for name in med if name.startswith("JAX")), None)
    if jax_name is not None:
        # within 3x of jax.jit: JAX's time at least a third of the lifted step's
        print(target("lifted step vs jax.jit step", med[jax_name] / base, 1 / 3))
        print(target("lifted step (array rows) vs jax.jit step", med[jax_name] / med["lifted, array rows"], 1 / 3))
        print(f"to_jax() under jax.jit: {med['to_jax() under jax.jit'] / med[jax_name]:.2f}x the time of the step "
              f"written for JAX, {base / med['to_jax() under jax.jit']:.2f}x faster than the lifted step")
    print(target("lifted step vs compiled scalar step", med["compiled"] / base, 1))
    print(target("cost of lifting, in eager steps", lift_time / eager_time, 10, at_most=True))


if __name__ == "__main__":
    main()
