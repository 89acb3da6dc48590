"""Backprop in matrix form on plain floats: the textbook layer rules, independent of ``Value``.

For each layer ``l`` (inputs ``a[l-1]``, weights ``W[l]`` of shape nin x nout, rows = source):

- forward: ``z[l] = a[l-1] . W[l] + b[l]`` and ``a[l] = g(z[l])``;
- at the output: ``delta[L] = dloss/dy * g'(z[L])`` (elementwise);
- weight gradient: ``dW[l] = outer(a[l-1], delta[l])``, nin x nout, the shape of ``W[l]``: row
  ``i`` is the incoming gradient ``delta[l]`` scaled by the input ``a[l-1][i]``;
- bias gradient: ``db[l] = delta[l]``;
- one layer down: ``delta[l-1] = (W[l] . delta[l]) * g'(z[l-1])``, a vector as long as ``a[l-1]``.

For the 2-3-2 network, ``dW[2]`` is the 3 x 2 outer product of the hidden outputs and the output
delta, and ``dW[1]`` the 2 x 3 outer product of the inputs and the hidden delta.

>>> r = backprop([[[1.0], [2.0]]], [[0.5]], ["linear"], x=[3.0, -1.0], target=[0.0], loss="sse")
>>> r.outputs, r.weight_grads[0]  # y = 3*1 - 1*2 + 0.5 = 1.5; dloss/dy = y - t = 1.5
([1.5], [[4.5], [-1.5]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .layers import MLP

__all__ = ["Result", "backprop", "from_model", "outer", "matvec"]

Matrix = list[list[float]]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# activation: (g(z), g'(z) written with the activation a = g(z) and z)
_G = {
    "tanh": (math.tanh, lambda a, z: 1.0 - a * a),
    "sigmoid": (_sigmoid, lambda a, z: a * (1.0 - a)),
    "relu": (lambda z: z if z > 0 else 0.0, lambda a, z: 1.0 if z > 0 else 0.0),
    "linear": (lambda z: z, lambda a, z: 1.0),
}


def outer(u: Sequence[float], v: Sequence[float]) -> Matrix:
    """``u`` (m) outer ``v`` (n): the m x n matrix with entries ``u[i] * v[j]``."""
    return [[ui * vj for vj in v] for ui in u]


def matvec(W: Matrix, v: Sequence[float]) -> list[float]:
    """``W`` (m x n) times ``v`` (n): an m-vector."""
    return [sum(wij * vj for wij, vj in zip(row, v)) for row in W]


@dataclass
class Result:
    """Everything the matrix form computes for one sample, layer by layer (index 0 = layer 1)."""

    outputs: list[float]
    loss: float
    pre_activations: list[list[float]]
    activations: list[list[float]]
    deltas: list[list[float]]
    weight_grads: list[Matrix]
    bias_grads: list[list[float]]


def backprop(
    weights: Sequence[Matrix],
    biases: Sequence[Sequence[float]],
    activations: Sequence[str],
    x: Sequence[float],
    target: Sequence[float],
    loss: str = "mse",
) -> Result:
    """Forward and backward through a dense MLP given as float matrices (nin x nout each).

    ``loss`` is ``"mse"`` (mean of squared errors) or ``"sse"`` (half their sum), as in
    :func:`nn.mse_loss` and :func:`nn.sse_loss`.
    """
    if loss not in ("mse", "sse"):
        raise ValueError(f"loss must be 'mse' or 'sse', not {loss!r}")
    if not (len(weights) == len(biases) == len(activations)):
        raise ValueError("weights, biases and activations need one entry per layer")
    a = [float(v) for v in x]
    inputs, zs, acts = [], [], []
    for W, b, g in zip(weights, biases, activations):
        if len(W) != len(a):
            raise ValueError(f"a layer with {len(W)} weight rows got {len(a)} inputs")
        forward, _ = _G[g]
        z = []
        for j in range(len(b)):
            total = 0.0
            for i in range(len(a)):
                total += W[i][j] * a[i]
            z.append(total + b[j])
        inputs.append(a)
        zs.append(z)
        a = [forward(zj) for zj in z]
        acts.append(a)
    y = a
    if len(target) != len(y):
        raise ValueError(f"{len(y)} outputs but {len(target)} targets")
    n = len(y)
    if loss == "mse":
        value = sum((yk - tk) ** 2 for yk, tk in zip(y, target)) / n
        dy = [2.0 * (yk - tk) / n for yk, tk in zip(y, target)]
    else:
        value = 0.5 * sum((yk - tk) ** 2 for yk, tk in zip(y, target))
        dy = [yk - tk for yk, tk in zip(y, target)]
    L = len(weights)
    deltas: list[list[float]] = [[] for _ in range(L)]
    dW: list[Matrix] = [[] for _ in range(L)]
    upstream = dy
    for layer in range(L - 1, -1, -1):
        _, slope = _G[activations[layer]]
        delta = [u * slope(al, zl) for u, al, zl in zip(upstream, acts[layer], zs[layer])]
        deltas[layer] = delta
        dW[layer] = outer(inputs[layer], delta)
        upstream = matvec([list(row) for row in weights[layer]], delta)
    return Result(y, value, zs, acts, deltas, dW, [list(d) for d in deltas])


def from_model(model: "MLP", x: Sequence[float], target: Sequence[float], loss: str = "mse") -> Result:
    """:func:`backprop` on a model's current weights, read as floats (``.data``); the model is not touched."""
    weights = [[[w.data for w in row] for row in layer.weights] for layer in model.layers]
    biases = [[b.data for b in layer.biases] for layer in model.layers]
    return backprop(weights, biases, [layer.activation for layer in model.layers], x, target, loss)
