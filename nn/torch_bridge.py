"""A bridge to PyTorch: the same network in ``torch.nn``, and the same 12 gradients from its autograd.

PyTorch's ``nn.Linear`` stores its weight as (out x in), the transpose of this package's (in x
out) view: in PyTorch the 2-3-2 network's first weight gradient is 3x2 and the second 2x3. Both
hold the same numbers. ``torch`` is an optional extra and is imported only when a function here
is called.

>>> import nn
>>> model = nn.MLP(2, [3, 2], seed=0)
>>> report = compare_with_torch(model, [0.5, -1.0], [1.0, 0.0])
>>> [(layer.ours_shape, layer.torch_shape) for layer in report.layers]
[((2, 3), (3, 2)), ((3, 2), (2, 3))]
>>> max(layer.max_difference for layer in report.layers) < 1e-12
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import autodiff
from autodiff import fmt

from .layers import MLP

__all__ = ["to_torch", "from_torch", "compare_with_torch", "TorchComparison", "LayerComparison", "demo_comparison"]

_INSTALL = 'PyTorch is needed for this and is not installed: pip install torch, or pip install -e ".[torch]" in a checkout'
_TORCH_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid"}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(_INSTALL) from None
    return torch


def to_torch(model: MLP) -> Any:
    """A ``torch.nn.Sequential`` of ``Linear`` layers (float64) and activations with ``model``'s weights.

    Each ``Linear.weight`` is this model's ``weights`` transposed (PyTorch keeps out x in).
    """
    torch = _torch()
    modules = []
    for layer in model.layers:
        linear = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[w.data for w in column] for column in zip(*layer.weights)], dtype=torch.float64))
            linear.bias.copy_(torch.tensor([b.data for b in layer.biases], dtype=torch.float64))
        modules.append(linear)
        if layer.activation != "linear":
            modules.append(getattr(torch.nn, _TORCH_ACTIVATIONS[layer.activation])())
    return torch.nn.Sequential(*modules)


def from_torch(module: Any) -> MLP:
    """An :class:`~nn.MLP` with the weights of a ``torch.nn.Sequential`` of ``Linear`` layers and activations.

    Hidden layers must share one activation (``Tanh``, ``ReLU``, ``Sigmoid`` or none); the last
    layer may have its own.
    """
    torch = _torch()
    names = {cls: name for name, cls in _TORCH_ACTIVATIONS.items()}
    layers: list[tuple[Any, str]] = []
    for i, part in enumerate(module.children() if hasattr(module, "children") else module):
        if isinstance(part, torch.nn.Linear):
            layers.append((part, "linear"))
        elif type(part).__name__ in names and layers and layers[-1][1] == "linear":
            layers[-1] = (layers[-1][0], names[type(part).__name__])
        elif isinstance(part, torch.nn.Identity):
            continue
        else:
            raise ValueError(
                f"from_torch reads Linear layers each followed by at most one of Tanh, ReLU, Sigmoid; "
                f"part {i} is {type(part).__name__}"
            )
    if not layers:
        raise ValueError("from_torch found no Linear layer")
    hidden = {act for _, act in layers[:-1]}
    if len(hidden) > 1:
        raise ValueError(f"an MLP has one hidden activation; this module mixes {', '.join(sorted(hidden))}")
    for prev, nxt in zip(layers, layers[1:]):
        if prev[0].out_features != nxt[0].in_features:
            raise ValueError(f"layer sizes do not chain: {prev[0].out_features} outputs into {nxt[0].in_features} inputs")
    model = MLP(
        layers[0][0].in_features,
        [linear.out_features for linear, _ in layers],
        activation=hidden.pop() if hidden else "tanh",
        out_activation=layers[-1][1],
        seed=0,
    )
    for ours, (linear, _) in zip(model.layers, layers):
        weight = linear.weight.detach().to(torch.float64).tolist()  # out x in
        bias = linear.bias.detach().to(torch.float64).tolist() if linear.bias is not None else [0.0] * linear.out_features
        for i, row in enumerate(ours.weights):
            for j, w in enumerate(row):
                w.data = weight[j][i]
        for j, b in enumerate(ours.biases):
            b.data = bias[j]
    return model


@dataclass
class LayerComparison:
    """One layer's weight gradient: ours (in x out), PyTorch's (out x in), and how far apart."""

    name: str
    ours: list[list[float]]
    torch: list[list[float]]
    max_difference: float
    bias_max_difference: float

    @property
    def ours_shape(self) -> tuple[int, int]:
        """``(in, out)``: the shape of our gradient matrix, as our ``weights``."""
        return (len(self.ours), len(self.ours[0]))

    @property
    def torch_shape(self) -> tuple[int, int]:
        """``(out, in)``: the shape of PyTorch's, as ``Linear.weight``."""
        return (len(self.torch), len(self.torch[0]))


@dataclass
class TorchComparison:
    """What :func:`compare_with_torch` found: both outputs, both losses, and each layer's gradients."""

    outputs: list[float]
    torch_outputs: list[float]
    loss: float
    torch_loss: float
    layers: list[LayerComparison]

    def __str__(self) -> str:
        lines = [
            f"PyTorch (float64) on the same network: loss {self.torch_loss:.12g} (ours {self.loss:.12g}), "
            f"outputs differ by at most {fmt.number(max(abs(a - b) for a, b in zip(self.outputs, self.torch_outputs)))}",
        ]
        for layer in self.layers:
            r, c = layer.ours_shape
            lines.append(
                f"{layer.name}: ours dloss/d{layer.name} is {r}x{c} (in x out); the matching torch Linear's "
                f"weight.grad is {c}x{r} (out x in); largest difference after transposing: {fmt.number(layer.max_difference)} "
                f"(biases {fmt.number(layer.bias_max_difference)})"
            )
        lines.append(
            "They are transposes because torch.nn.Linear stores its weight as (out_features x in_features) "
            "and computes x @ W.T, while this package keeps rows = source neuron, columns = destination."
        )
        return "\n".join(lines)


def compare_with_torch(model: MLP, x: Sequence[float], target: Sequence[float], loss: str = "mse") -> TorchComparison:
    """Run ``model`` here and in PyTorch on one sample and compare every weight gradient.

    ``loss`` is ``"mse"`` (as :func:`nn.mse_loss`) or ``"sse"`` (as :func:`nn.sse_loss`). No
    ``.grad`` of ``model`` is touched: our side uses :func:`autodiff.grad`.
    """
    from .losses import mse_loss, sse_loss

    if loss not in ("mse", "sse"):
        raise ValueError(f"loss must be 'mse' or 'sse', not {loss!r}")
    torch = _torch()
    ours_out = model(list(x))
    ours_loss = (mse_loss if loss == "mse" else sse_loss)(ours_out, list(target))
    weights = [w for layer in model.layers for row in layer.weights for w in row]
    biases = [b for layer in model.layers for b in layer.biases]
    grads = autodiff.grad(ours_loss, weights + biases)
    by_value = {id(v): g for v, g in zip(weights + biases, grads)}

    net = to_torch(model)
    xt = torch.tensor([list(x)], dtype=torch.float64)
    tt = torch.tensor([list(target)], dtype=torch.float64)
    out = net(xt)
    t_loss = torch.nn.functional.mse_loss(out, tt) if loss == "mse" else 0.5 * ((out - tt) ** 2).sum()
    t_loss.backward()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = []
    for number, (layer, linear) in enumerate(zip(model.layers, linears), start=1):
        ours = [[by_value[id(w)] for w in row] for row in layer.weights]
        theirs = linear.weight.grad.tolist()
        diff = max(abs(ours[i][j] - theirs[j][i]) for i in range(layer.nin) for j in range(layer.nout))
        bias_diff = max(abs(by_value[id(b)] - g) for b, g in zip(layer.biases, linear.bias.grad.tolist()))
        layers.append(LayerComparison(f"W{number}", ours, theirs, diff, bias_diff))
    return TorchComparison(
        [v.data for v in ours_out], out.detach()[0].tolist(), ours_loss.data, float(t_loss.detach()), layers
    )


def demo_comparison(net: Any) -> str:
    """The text ``autodiff demo --torch`` prints for a ``nn.demo.DemoNetwork``."""
    report = compare_with_torch(net.model, net.x, net.target, loss="mse")
    lines = [str(report), ""]
    for layer in report.layers:
        r, c = layer.torch_shape
        lines.append(f"torch Linear for {layer.name}: weight.grad ({r}x{c}), rows = destination neuron:")
        lines += ["  " + "".join(f"{fmt.number(v):>14}" for v in row) for row in layer.torch]
    return "\n".join(lines)
