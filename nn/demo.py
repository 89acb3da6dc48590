"""The demo network: the 2-3-2 MLP after one forward and backward pass, and what the demo shows.

>>> net = build(seed=0)
>>> [len(net.model.layers[0].weight_grads()), len(net.model.layers[0].weight_grads()[0])]
[2, 3]
>>> print(matrix_text("W_jk", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], ["h1[0]", "h1[1]", "h1[2]"], ["y[0]", "y[1]"]))
W_jk (3x2)
                  y[0]          y[1]
h1[0]                1             2
h1[1]                3             4
h1[2]                5             6
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import autodiff
from autodiff import Value, fmt

from . import reference
from .explainer import explainer_html
from .layers import MLP
from .losses import mse_loss

__all__ = ["DemoNetwork", "build", "matrix_text", "report", "write_files", "trace_file_name"]


@dataclass
class DemoNetwork:
    """The model, its inputs and targets, and the loss Value after ``backward()``."""

    model: MLP
    x: list[float]
    target: list[float]
    loss: Value
    activation: str
    seed: int


def build(
    seed: int = 0,
    activation: str = "tanh",
    x: Sequence[float] = (0.5, -1.0),
    target: Sequence[float] = (1.0, 0.0),
    backward: bool = True,
) -> DemoNetwork:
    """A 2-3-2 MLP (linear last layer), one forward pass on ``x``, MSE loss against ``target``, and
    (unless ``backward=False``, for stepping through it) one backward pass."""
    model = MLP(2, [3, 2], activation=activation, seed=seed)
    loss = mse_loss(model(list(x)), list(target))
    if backward:
        loss.backward()
    return DemoNetwork(model, [float(v) for v in x], [float(t) for t in target], loss, activation, seed)


def matrix_text(title: str, rows: Sequence[Sequence[float]], row_names: Sequence[str], col_names: Sequence[str]) -> str:
    """A labelled matrix, its shape in the title; numbers as results are written (:func:`autodiff.fmt.number`)."""
    lines = [f"{title} ({len(rows)}x{len(rows[0])})", " " * 8 + "".join(f"{c:>14}" for c in col_names)]
    for name, row in zip(row_names, rows):
        lines.append(f"{name:<8}" + "".join(f"{fmt.number(v):>14}" for v in row))
    return "\n".join(lines)


def trace_file_name(name: str) -> str:
    """``W1[0][2]`` -> ``trace-W1-0-2.svg``."""
    return "trace-" + name.replace("][", "-").replace("[", "-").replace("]", "") + ".svg"


def report(net: DemoNetwork, traced: str = "W1[0][2]") -> str:
    """The demo's printed text: both weight matrices and their gradients, the cross-check, one trace."""
    m = net.model
    first, second = m.layers
    xs = [f"x[{i}]" for i in range(2)]
    hs = [f"h1[{j}]" for j in range(3)]
    ys = [f"y[{k}]" for k in range(2)]
    data = lambda layer: [[w.data for w in row] for row in layer.weights]  # noqa: E731
    ref = reference.from_model(m, net.x, net.target, loss="mse")
    diffs = [
        abs(a - b)
        for ours, theirs in zip([first.weight_grads(), second.weight_grads()], ref.weight_grads)
        for row_a, row_b in zip(ours, theirs)
        for a, b in zip(row_a, row_b)
    ] + [abs(a - b) for layer, theirs in zip(m.layers, ref.bias_grads) for a, b in zip(layer.bias_grads(), theirs)]
    parts = [
        f"2-3-2 network: MLP(2, [3, 2], activation={net.activation!r}, seed={net.seed}), linear output layer",
        f"input x = {net.x}, target t = {net.target}, loss = mean squared error = {fmt.number(net.loss.data)}",
        "",
        "Weights are stored rows = source neuron, columns = destination neuron.",
        "",
        matrix_text("W_ij = W1, input -> hidden", data(first), xs, hs),
        "",
        matrix_text("dloss/dW_ij", first.weight_grads(), xs, hs),
        "",
        matrix_text("W_jk = W2, hidden -> output", data(second), hs, ys),
        "",
        matrix_text("dloss/dW_jk", second.weight_grads(), hs, ys),
        "",
        "Why these shapes: each weight is one scalar in the graph, so its gradient sits where the weight sits.",
        "dW_jk = outer(h, delta) with h the 3 hidden outputs and delta = dloss/dy (2): a 3x2 matrix;",
        f"the hidden layer receives W_jk . delta (3x2 times 2 = a 3-vector), times {net.activation}'(z1) gives",
        "delta_hidden, and dW_ij = outer(x, delta_hidden): a 2x3 matrix.",
        "",
        f"nn.reference (matrix rules on plain floats) agrees: max |difference| = {fmt.number(max(diffs))} "
        f"over {len(diffs)} weight and bias gradients",
        "",
        f"One entry traced, {traced}:",
        autodiff.trace(net.loss, m.parameter(traced)).explain(),
    ]
    return "\n".join(parts)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OSError while writing ``path`` names it (a full disk fails at the write, with no file name)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def write_files(net: DemoNetwork, out_dir: Path, renderer: str | None = None) -> list[Path]:
    """``graph.svg``, one ``trace-W1-0-2.svg`` per weight entry (12), ``backprop.html`` (the step-through
    page) and ``explainer.html`` (:func:`nn.explainer_html`: the network, the matrices and the graph, linked).
    A file that cannot be written raises the OSError, with that file's name."""
    with _naming(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    graph = autodiff.draw(net.loss, renderer=renderer)
    with _naming(out_dir / "graph.svg"):
        written = [graph.save(out_dir / "graph.svg", renderer)]
    for layer in net.model.layers:
        for row in layer.weights:
            for w in row:
                svg = autodiff.trace(net.loss, w).svg(renderer=renderer)
                path = out_dir / trace_file_name(w.label)
                with _naming(path):
                    path.write_text(svg, encoding="utf-8")
                written.append(path)
    page = out_dir / "backprop.html"
    fresh = build(net.seed, net.activation, net.x, net.target, backward=False)  # step through a first backward
    html = autodiff.page_html(fresh.loss, title="The 2-3-2 network: backprop step by step", renderer=renderer)
    with _naming(page):
        page.write_text(html, encoding="utf-8")
    written.append(page)
    page = out_dir / "explainer.html"
    html = explainer_html(net.model, net.x, net.target, title="The 2-3-2 network: backprop seen three ways",
                          renderer=renderer)
    with _naming(page):
        page.write_text(html, encoding="utf-8")
    written.append(page)
    return written
