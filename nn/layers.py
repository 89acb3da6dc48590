"""Neuron, Layer and MLP, composed from scalar Values, with readable labels on every node.

Orientation, used everywhere in this package: rows are source neurons, columns destination
neurons. ``layer.weights[i][j]`` is the Value connecting input ``i`` to neuron ``j``, so for
``MLP(2, [3, 2])`` the first layer's weights are 2 x 3 (W_ij) and the second's 3 x 2 (W_jk).

Labels follow the maths, layers numbered from 1: weights ``W1[i][j]``, biases ``b1[j]``,
pre-activations ``z1[j]``, activations ``h1[j]``; the last layer's outputs are ``y[k]``. Every
node a neuron makes carries ``scope == ("layer L", "neuron J")``, which drawings use to group it.

>>> model = MLP(2, [3, 2], seed=1)
>>> [v.label for v in model([1.0, 2.0])]
['y[0]', 'y[1]']
>>> model.layers[0].weights[0][2].label, model.layers[1].biases[1].label
('W1[0][2]', 'b2[1]')
"""

from __future__ import annotations

import math
import random
from operator import mul
from typing import Callable, Optional, Sequence, Union

from autodiff import Value, name_scope
from autodiff.value import _mark_scope

from .module import Module

__all__ = ["Neuron", "Layer", "MLP", "ACTIVATIONS"]

Input = Union[Value, int, float]

#: The activations a layer can use, by name; ``linear`` leaves the pre-activation as it is.
ACTIVATIONS: dict[str, Optional[Callable[[Value], Value]]] = {
    "tanh": Value.tanh,
    "relu": Value.relu,
    "sigmoid": Value.sigmoid,
    "linear": None,
}


def _check_activation(name: str, what: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown {what} {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return name


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a positive int, not {n!r}")
    return n


class Neuron(Module):
    """One unit: ``act(sum_i w[i] * x[i] + b)``, with ``w[i]`` labelled ``W{layer}[i][{index}]``.

    ``layer`` and ``index`` only name things (layers count from 1, neurons from 0); ``output_label``
    is the label of the value the neuron returns (``h1[j]`` in a hidden layer, ``y[k]`` at the end).
    """

    def __init__(
        self,
        nin: int,
        activation: str = "tanh",
        *,
        layer: int = 1,
        index: int = 0,
        output_label: Optional[str] = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        _check_size(nin, "nin")
        self.activation = _check_activation(activation, "activation")
        self.layer, self.index = layer, index
        self.output_label = output_label if output_label is not None else f"h{layer}[{index}]"
        self._z_label = f"z{layer}[{index}]"
        self._scopes = (f"layer {layer}", f"neuron {index}")
        rng = rng or random.Random()
        bound = 1.0 / math.sqrt(nin)  # keeps tanh and sigmoid units out of saturation at the start
        with name_scope(*self._scopes):
            self.w = [Value(rng.uniform(-bound, bound), label=f"W{layer}[{i}][{index}]") for i in range(nin)]
            self.b = Value(0.0, label=f"b{layer}[{index}]")

    @property
    def nin(self) -> int:
        """How many inputs the neuron takes (one weight each)."""
        return len(self.w)

    def __call__(self, x: Sequence[Input]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"neuron {self.output_label} takes {len(self.w)} inputs, got {len(x)}")
        return self._call(x, all(isinstance(xi, Value) for xi in x))

    def _call(self, x: Sequence[Input], values: bool) -> Value:
        """The neuron on ``x`` (of the right length); ``values``: every input is a Value."""
        if not values:
            with name_scope(*self._scopes):  # a number input becomes a constant, made in the scope
                return self._fire(x)[-1]
        # The nodes this neuron makes are its products, its sum and its activation: marked with
        # its scope once made. A name_scope block per call would cost more than the ops inside
        # it: every op stamps its node while one is open (docs/performance.md).
        made = self._fire(x)
        _mark_scope(made, self._scopes)
        return made[-1]

    def _fire(self, x: Sequence[Input]) -> list[Value]:
        """The nodes of ``act(w . x + b)``, labelled: the products, the sum, then the activation."""
        # one node for the whole weighted sum: z = w[0]*x[0] + w[1]*x[1] + ... + b
        # (map(mul, ...) makes the same product nodes as a loop of wi * xi, 10% sooner)
        made = [*map(mul, self.w, x)]
        z = Value.sum([*made, self.b])
        made.append(z)
        act = ACTIVATIONS[self.activation]
        if act is None:
            z.label = self.output_label
            return made
        z.label = self._z_label
        out = act(z)
        out.label = self.output_label
        made.append(out)
        return made

    def named_parameters(self) -> list[tuple[str, Value]]:
        """The weights in input order, then the bias."""
        return [(w.label, w) for w in self.w] + [(self.b.label, self.b)]

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, {self.activation!r}, output {self.output_label!r})"


class Layer(Module):
    """``nout`` neurons over the same ``nin`` inputs; ``weights`` is the nin x nout matrix of Values."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "tanh",
        *,
        layer: int = 1,
        output: bool = False,
        rng: Optional[random.Random] = None,
    ) -> None:
        _check_size(nin, "nin")
        _check_size(nout, "nout")
        rng = rng or random.Random()
        self.layer = layer
        self.activation = _check_activation(activation, "activation")
        self.neurons = [
            Neuron(nin, activation, layer=layer, index=j, output_label=f"y[{j}]" if output else None, rng=rng)
            for j in range(nout)
        ]

    @property
    def nin(self) -> int:
        """How many inputs the layer takes: the rows of :attr:`weights`."""
        return self.neurons[0].nin

    @property
    def nout(self) -> int:
        """How many neurons, so how many outputs: the columns of :attr:`weights`."""
        return len(self.neurons)

    @property
    def weights(self) -> list[list[Value]]:
        """nin x nout: ``weights[i][j]`` connects input ``i`` to neuron ``j`` (the Values themselves)."""
        return [[n.w[i] for n in self.neurons] for i in range(self.nin)]

    @property
    def biases(self) -> list[Value]:
        """``biases[j]`` is neuron ``j``'s bias."""
        return [n.b for n in self.neurons]

    def weight_grads(self) -> list[list[float]]:
        """The weights' ``grad`` as plain floats, nin x nout like :attr:`weights`."""
        return [[w.grad for w in row] for row in self.weights]

    def bias_grads(self) -> list[float]:
        """The biases' ``grad`` as plain floats."""
        return [b.grad for b in self.biases]

    def __call__(self, x: Sequence[Input]) -> list[Value]:
        if len(x) != self.nin:
            return [n(x) for n in self.neurons]  # the first neuron says what is wrong
        values = all(isinstance(xi, Value) for xi in x)  # asked once for the layer, not per neuron
        return [n._call(x, values) for n in self.neurons]

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Weights row by row (``W[0][0], W[0][1], ...``), then biases."""
        return [(w.label, w) for row in self.weights for w in row] + [(b.label, b) for b in self.biases]

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, {self.activation!r})"


class MLP(Module):
    """A dense network: ``MLP(2, [3, 2])`` has 2 inputs, a hidden layer of 3 and 2 outputs.

    Hidden layers use ``activation``; the last layer uses ``out_activation`` (linear unless told
    otherwise). ``seed`` makes the initialisation reproducible through a local ``random.Random``;
    the global random state is never touched. Calling the model on a list of numbers or Values
    returns a list of Values, one per output.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "tanh",
        seed: Optional[int] = None,
        *,
        out_activation: str = "linear",
    ) -> None:
        _check_size(nin, "nin")
        if isinstance(nouts, int) or not list(nouts):
            raise ValueError(f"nouts must be a non-empty list of layer sizes, not {nouts!r}")
        _check_activation(activation, "activation")
        _check_activation(out_activation, "out_activation")
        rng = random.Random(seed)
        sizes = [nin] + [_check_size(n, "each layer size") for n in nouts]
        last = len(nouts) - 1
        self.layers = [
            Layer(
                sizes[i],
                sizes[i + 1],
                out_activation if i == last else activation,
                layer=i + 1,
                output=i == last,
                rng=rng,
            )
            for i in range(len(nouts))
        ]

    @property
    def nin(self) -> int:
        """How many inputs the network takes: the first of :attr:`sizes`."""
        return self.layers[0].nin

    @property
    def sizes(self) -> list[int]:
        """Layer widths from the inputs on, for example ``[2, 3, 2]``."""
        return [self.nin] + [layer.nout for layer in self.layers]

    def __call__(self, x: Sequence[Input]) -> list[Value]:
        if isinstance(x, (Value, int, float)) or len(x) != self.nin:
            got = "a single value" if isinstance(x, (Value, int, float)) else f"{len(x)}"
            raise ValueError(f"this MLP takes a list of {self.nin} inputs, got {got}")
        h: list[Value] = [xi if isinstance(xi, Value) else Value(xi, label=f"x[{i}]") for i, xi in enumerate(x)]
        for layer in self.layers:
            h = layer(h)
        return h

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Layer by layer: each layer's weights row by row, then its biases."""
        return [pair for layer in self.layers for pair in layer.named_parameters()]

    def __repr__(self) -> str:
        acts = {layer.activation for layer in self.layers[:-1]}
        hidden = acts.pop() if len(acts) == 1 else "mixed"
        return f"MLP({self.sizes}, activation={hidden!r}, out_activation={self.layers[-1].activation!r})"
