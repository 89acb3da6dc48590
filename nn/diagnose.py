"""Diagnosing a network over a batch, layer by layer: gradient norms, dead and saturated units, and why.

:func:`nn.diagnose` runs the model on every sample of a batch, as the eager training step does, and
reports for each layer the norm of the mean loss's gradient over its weights and biases, its
dead units (a relu that is 0 on *every* sample: nothing ever flows back through it), its
saturated units (a tanh or sigmoid whose slope is below ``saturate`` on every sample) and the
fraction of (unit, sample) pairs that are saturated. A layer whose gradient norm is below
``vanish`` or above ``explode`` is explained by the factor of the chain rule to blame, found by
:func:`~autodiff.diagnose.blame` on the sample and unit that carry the most.

>>> import nn
>>> model = nn.MLP(2, [3, 1], activation="relu", seed=0)
>>> model.layers[0].biases[1].data = -10.0       # unit h1[1] can never open on these inputs
>>> report = diagnose(model, [[0.5, -1.0], [1.0, 0.5]], [[1.0], [0.0]])
>>> report.layers[0].dead
(1,)
>>> print(report.findings[0].message)  # doctest: +ELLIPSIS
h1[1] is dead on all 2 samples: z1[1] = ... <= 0 on each (its largest), bias b1[1] = -10, so dh1[1]/dz1[1] = 0 and W1[*][1], b1[1] get no gradient
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import autodiff
from autodiff import Value, fmt
from autodiff.diagnose import (
    EXPLODE,
    SATURATE,
    VANISH,
    Factor,
    blame,
    check_thresholds,
    compact_names,
)

from .layers import MLP
from .losses import mse_loss, sse_loss

__all__ = ["LayerStats", "LayerFinding", "NetworkDiagnosis", "diagnose", "LOSSES", "batch", "demo_diagnosis_text",
           "add_mistakes_command", "run_mistakes", "HistoryStep", "History", "train"]

Target = Union[float, Sequence[float]]
LossFn = Callable[[list[Value], list[Value]], Value]

#: The losses :func:`nn.diagnose` takes by name.
LOSSES: dict[str, LossFn] = {"mse": mse_loss, "sse": sse_loss}


@dataclass(frozen=True)
class LayerStats:
    """One layer over the batch (``layer`` counts from 1).

    ``grad_norm`` is the Euclidean norm of the mean loss's gradient over the layer's weights and
    biases (``weight_grad_norm`` and ``bias_grad_norm`` each part alone). ``dead`` are the relu
    units that are 0 on every sample, ``saturated`` the tanh and sigmoid units whose slope is below
    the threshold on every sample; ``saturated_fraction`` counts (unit, sample) pairs;
    ``mean_slope`` is the mean ``|activation'(z)|`` over units and samples (1 for a linear layer).
    """

    layer: int
    activation: str
    units: int
    grad_norm: float
    weight_grad_norm: float
    bias_grad_norm: float
    dead: tuple[int, ...]
    saturated: tuple[int, ...]
    saturated_fraction: float
    mean_slope: float

    @property
    def dead_fraction(self) -> float:
        """The fraction of the layer's units that are dead."""
        return len(self.dead) / self.units


@dataclass(frozen=True)
class LayerFinding:
    """What :func:`nn.diagnose` found about one layer: ``kind`` (``vanishing``, ``exploding``, ``dead``,
    ``saturated`` or ``non-finite``), the ``layer`` (from 1; None for the loss), the ``units`` it is
    about, a one-line ``message``, and the ``factor`` to blame, read on sample number ``sample``."""

    kind: str
    layer: Optional[int]
    units: tuple[int, ...]
    message: str
    factor: Optional[Factor] = None
    sample: Optional[int] = None
    value: Optional[float] = None

    def data(self) -> dict[str, Any]:
        """Plain data: kind, layer, units, message, the factor's name, formula and value."""
        factor = None if self.factor is None else {"name": self.factor.name, "formula": self.factor.formula,
                                                   "local": self.factor.local, "everywhere": self.factor.everywhere}
        return {"kind": self.kind, "layer": self.layer, "units": list(self.units), "message": self.message,
                "factor": factor, "sample": self.sample, "value": self.value}


@dataclass
class NetworkDiagnosis:
    """:func:`nn.diagnose`'s report: ``layers`` (one :class:`~nn.diagnose.LayerStats` each), ``findings``, the batch
    size and mean loss, and the thresholds used; ``str()`` is a table and the findings as text."""

    model: MLP
    layers: list[LayerStats]
    findings: list[LayerFinding]
    samples: int
    loss: float
    vanish: float = VANISH
    explode: float = EXPLODE
    saturate: float = SATURATE

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def of_kind(self, kind: str) -> list[LayerFinding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind == kind]

    def data(self) -> dict[str, Any]:
        """The whole report as plain data."""
        return {"samples": self.samples, "loss": self.loss,
                "thresholds": {"vanish": self.vanish, "explode": self.explode, "saturate": self.saturate},
                "layers": [dict(vars(s), dead=list(s.dead), saturated=list(s.saturated)) for s in self.layers],
                "findings": [f.data() for f in self.findings]}

    def table(self) -> str:
        """One row per layer: activation, units, gradient norm, dead units, saturated fraction, mean slope."""
        rows = [("layer", "activation", "units", "|grad|", "dead", "saturated", "mean slope")]
        for s in self.layers:
            rows.append((str(s.layer), s.activation, str(s.units), fmt.number(s.grad_norm),
                         f"{len(s.dead)}/{s.units}", f"{100 * s.saturated_fraction:.0f}%", fmt.number(s.mean_slope)))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)

    def __str__(self) -> str:
        head = (f"{self.model!r} on {self.samples} sample{'s' if self.samples != 1 else ''}, mean loss "
                f"{fmt.number(self.loss)} (vanish < {fmt.number(self.vanish)}, explode > {fmt.number(self.explode)}, "
                f"saturate < {fmt.number(self.saturate)})")
        found = [f"- {f.kind}{'' if f.layer is None else f', layer {f.layer}'}: {f.message}" for f in self.findings]
        return "\n".join([head, self.table(), *(found or ["nothing found"])])


# -- running the batch ---------------------------------------------------------------------------------------
@dataclass
class _Sample:
    """One sample's graph: its loss, and each layer's output nodes."""

    loss: Value
    outputs: list[list[Value]] = field(default_factory=list)
    grads: list[float] = field(default_factory=list)  # d loss / d parameter, in model.parameters() order


def _loss_fn(loss: Union[str, LossFn]) -> LossFn:
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}, or pass a function")
        return LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"loss must be a name ({', '.join(LOSSES)}) or a function, not {type(loss).__name__}")
    return loss


def batch(model: MLP, X: Sequence[Sequence[float]], Y: Sequence[Target]) -> list[tuple[list[float], list[float]]]:
    """The batch as (inputs, targets) pairs of floats, checked against the model's sizes."""
    if not isinstance(model, MLP):
        raise TypeError(f"needs an nn.MLP, not {type(model).__name__}")
    if isinstance(X, (int, float)) or isinstance(Y, (int, float)) or len(X) != len(Y) or not len(X):
        raise ValueError("a batch needs as many targets as inputs, and at least one of each")
    nout = model.sizes[-1]
    out = []
    for n, (x, y) in enumerate(zip(X, Y)):
        target = [y] if isinstance(y, (int, float)) else list(y)
        if isinstance(x, (int, float)) or len(x) != model.nin or len(target) != nout:
            got = "a single number" if isinstance(x, (int, float)) else f"{len(x)}"
            raise ValueError(f"sample #{n}: the model takes {model.nin} inputs and {nout} targets, "
                             f"got {got} inputs and {len(target)} targets")
        out.append(([_number(v, n, "input") for v in x], [_number(v, n, "target") for v in target]))
    return out


def _number(v: object, n: int, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"sample #{n}: each {what} must be a number, not {type(v).__name__}: {v!r}")
    return float(v)


def _forward(model: MLP, x: list[float], y: list[float], loss_fn: LossFn) -> _Sample:
    """The eager forward pass of one sample, keeping each layer's outputs."""
    h: list[Value] = [Value(v, label=f"x[{i}]") for i, v in enumerate(x)]
    sample = _Sample(loss=Value(0.0))
    for layer in model.layers:
        h = layer(h)
        sample.outputs.append(h)
    sample.loss = loss_fn(h, [Value(t, label=f"t[{k}]") for k, t in enumerate(y)])
    return sample


def _slope(out: Value) -> tuple[Value, float]:
    """A unit's pre-activation and slope: ``(z, dh/dz)``; a linear unit is its own z, slope 1."""
    if out.op in ("tanh", "sigmoid", "relu"):
        return out.parents[0], out.locals[0]
    return out, 1.0


# -- the diagnosis --------------------------------------------------------------------------------------------
def diagnose(model: MLP, X: Sequence[Sequence[float]], Y: Sequence[Target], loss: Union[str, LossFn] = "mse", *,
             vanish: float = VANISH, explode: float = EXPLODE, saturate: float = SATURATE) -> NetworkDiagnosis:
    """Each layer of ``model`` over the batch ``X``, ``Y``: gradient norms, dead and saturated units, causes.

    ``loss`` is ``"mse"``, ``"sse"`` or a function ``loss(outputs, targets) -> Value``; the
    gradient is that of the mean loss over the batch, as :func:`nn.compile_step` and an eager
    step take it. Nothing changes the model: no ``.grad`` and no weight is touched. Thresholds
    as in :func:`autodiff.diagnose`, applied to each layer's gradient norm.
    """
    vanish, explode, saturate = check_thresholds(vanish, explode, saturate)
    pairs = batch(model, X, Y)
    loss_fn = _loss_fn(loss)
    samples = [_forward(model, x, y, loss_fn) for x, y in pairs]
    n = len(samples)
    params = model.parameters()
    mean = [0.0] * len(params)
    for s in samples:
        s.grads = autodiff.grad(s.loss, params)
        for i, g in enumerate(s.grads):
            mean[i] += g / n
    grads = {id(p): g for p, g in zip(params, mean)}
    layers = [_layer_stats(layer, [s.outputs[n] for s in samples], grads, saturate)
              for n, layer in enumerate(model.layers)]
    findings = _non_finite(samples)
    if not findings:
        for k, (stats, layer) in enumerate(zip(layers, model.layers)):
            findings += _gradient_finding(stats, layer, samples, params, vanish, explode, layers[k:])
    for stats, layer in zip(layers, model.layers):
        findings += _unit_findings(stats, layer, samples, saturate)
    return NetworkDiagnosis(model, layers, findings, len(samples), sum(s.loss.data for s in samples) / len(samples),
                            vanish, explode, saturate)


def _norm(xs: Sequence[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in xs))


def _layer_stats(layer: Any, outputs: list[list[Value]], grads: dict[int, float], saturate: float) -> LayerStats:
    weights = [grads[id(w)] for row in layer.weights for w in row]
    biases = [grads[id(b)] for b in layer.biases]
    slopes = [[_slope(out)[1] for out in sample] for sample in outputs]  # [sample][unit]
    zs = [[_slope(out)[0].data for out in sample] for sample in outputs]
    units, n = layer.nout, len(outputs)
    dead: tuple[int, ...] = ()
    saturated: tuple[int, ...] = ()
    fraction = 0.0
    if layer.activation == "relu":
        dead = tuple(j for j in range(units) if all(z[j] <= 0 for z in zs))
    elif layer.activation in ("tanh", "sigmoid"):
        saturated = tuple(j for j in range(units) if all(abs(s[j]) < saturate for s in slopes))
        fraction = sum(abs(s[j]) < saturate for s in slopes for j in range(units)) / (units * n)
    mean_slope = math.fsum(abs(x) for s in slopes for x in s) / (units * n)
    return LayerStats(layer.layer, layer.activation, units, _norm(weights + biases), _norm(weights), _norm(biases),
                      dead, saturated, fraction, mean_slope)


def _non_finite(samples: list[_Sample]) -> list[LayerFinding]:
    """The first sample whose loss or gradients are not finite, and where its first NaN or infinity came from."""
    for n, s in enumerate(samples):
        origin = autodiff.nan_origin(s.loss)
        first = origin.forward or origin.backward
        if first is None:
            continue
        return [LayerFinding("non-finite", _layer_of(first.node), (), f"sample #{n}: {first.message}",
                             None, n, first.value)]
    return []


def _layer_of(v: Value) -> Optional[int]:
    """The layer a node was made in, read from its name scope (``("layer 2", "neuron 1")``)."""
    for part in v.scope or ():
        if part.startswith("layer ") and part[6:].isdigit():
            return int(part[6:])
    return None


def _gradient_finding(stats: LayerStats, layer: Any, samples: list[_Sample], params: list[Value], vanish: float,
                      explode: float, later: Sequence[LayerStats] = ()) -> list[LayerFinding]:
    """A vanishing or exploding layer, explained on the sample and unit whose bias gradient is largest.

    A unit's bias gradient is its delta, ``dloss/dz``: every path into the unit's weights runs
    through it. So the unit and sample that carry the most show the factor that bounds them all.
    ``params`` is the order of each sample's ``grads``; ``later`` are the stats of this layer and those after it, whose saturated and dead units a
    vanishing gradient crosses.
    """
    if stats.grad_norm < vanish:
        kind, limit, sign = "vanishing", vanish, "<"
    elif stats.grad_norm > explode:
        kind, limit, sign = "exploding", explode, ">"
    else:
        return []
    biases = layer.biases
    where = {id(p): i for i, p in enumerate(params)}
    # ties (every delta 0) go to a unit open on its sample: its own slope is then not the reason
    n, j = max(((n, j) for n in range(len(samples)) for j in range(len(biases))),
               key=lambda nj: (abs(samples[nj[0]].grads[where[id(biases[nj[1]])]]),
                               abs(_slope(samples[nj[0]].outputs[stats.layer - 1][nj[1]])[1])))
    loss = samples[n].loss
    factor = blame(loss, biases[j], kind, pass_over=_loss_part(loss, samples[n].outputs[-1]))
    own = ", ".join(compact_names([w.label for w in (row[j] for row in layer.weights)] + [biases[j].label],
                                  [w.label for row in layer.weights for w in row] + [b.label for b in biases]))
    message = f"gradient norm {fmt.number(stats.grad_norm)} {sign} {fmt.number(limit)}"
    if factor is not None:
        if factor.everywhere:
            why = f"{factor.text()} on every path into {own}"
        elif kind == "vanishing":
            why = (f"every path into {own} crosses a factor this small or smaller: {factor.text()} "
                   f"(this one on {factor.paths} of the {factor.of} paths)")
        else:
            why = (f"{factor.text()} on the path that carries the most into {own} "
                   f"(on {factor.paths} of the {factor.of} paths)")
        message += f"; on sample #{n}, whose unit {j} carries the most: {why}"
    crowded = [f"layer {s.layer} {100 * s.saturated_fraction:.0f}%" for s in later if s.saturated_fraction]
    dead = [f"layer {s.layer} {len(s.dead)}/{s.units}" for s in later if s.dead]
    if kind == "vanishing" and (crowded or dead):
        message += (f" (from here to the loss, saturated: {', '.join(crowded) or 'none'}; "
                    f"dead units: {', '.join(dead) or 'none'})")
    return [LayerFinding(kind, stats.layer, (j,), message, factor, n, stats.grad_norm)]


def _loss_part(loss: Value, outputs: list[Value]) -> list[Value]:
    """The nodes the loss function made from the outputs (every node downstream of an output)."""
    part = {id(y) for y in outputs}
    out = []
    for v in autodiff.topological_order(loss):
        if id(v) not in part and any(id(p) in part for p in v.parents):
            part.add(id(v))
            out.append(v)
    return out


def _unit_findings(stats: LayerStats, layer: Any, samples: list[_Sample], saturate: float) -> list[LayerFinding]:
    """Dead relus and units saturated on every sample."""
    out = []
    universe = [w.label for row in layer.weights for w in row] + [b.label for b in layer.biases]
    count = len(samples)
    for j in stats.dead:
        zs = [_slope(s.outputs[stats.layer - 1][j])[0] for s in samples]
        n = max(range(count), key=lambda m: zs[m].data)
        node = samples[n].outputs[stats.layer - 1][j]
        factor = blame(node, zs[n]) if node is not zs[n] else None
        own = compact_names([row[j].label for row in layer.weights] + [layer.biases[j].label], universe)
        bias = layer.biases[j]
        message = (f"{node.label} is dead on all {count} sample{'s' if count != 1 else ''}: {zs[n].label} = "
                   f"{fmt.number(zs[n].data)} <= 0 on each (its largest), bias {bias.label} = {fmt.number(bias.data)}, "
                   f"so {fmt.derivative(node.label, zs[n].label)} = 0 and {', '.join(own)} get no gradient")
        out.append(LayerFinding("dead", stats.layer, (j,), message, factor, n, zs[n].data))
    if stats.saturated:
        names, worst, where = [], 0.0, (0, 0)
        for j in stats.saturated:
            names.append(samples[0].outputs[stats.layer - 1][j].label)
            for n, s in enumerate(samples):
                slope = abs(_slope(s.outputs[stats.layer - 1][j])[1])
                if slope >= worst:
                    worst, where = slope, (n, j)
        n, j = where
        node = samples[n].outputs[stats.layer - 1][j]
        z = node.parents[0]
        factor = blame(node, z)
        message = (f"{', '.join(names)} saturated on every one of the {count} sample{'s' if count != 1 else ''}: "
                   f"the slope is at most {fmt.number(worst)} < {fmt.number(saturate)} "
                   f"({factor.text() if factor else ''} on sample #{n}), "
                   f"so every gradient through {'them' if len(names) > 1 else 'it'} is scaled by that")
        out.append(LayerFinding("saturated", stats.layer, stats.saturated, message, factor, n, worst))
    return out


# -- training history ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryStep:
    """One training step: its number, the mean loss, and per layer (index 0 = layer 1) the norm of
    the gradient over its weights and biases, the fraction of its units dead on the whole batch
    (relu only) and the fraction of (unit, sample) pairs saturated (tanh and sigmoid only)."""

    step: int
    loss: float
    grad_norms: tuple[float, ...]
    dead: tuple[float, ...]
    saturated: tuple[float, ...]


def _activate(activation: str, z: float) -> tuple[float, float]:
    """``(g(z), g'(z))`` on plain floats."""
    if activation == "tanh":
        h = math.tanh(z)
        return h, 1.0 - h * h
    if activation == "sigmoid":
        h = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return h, h * (1.0 - h)
    if activation == "relu":
        return (z, 1.0) if z > 0 else (0.0, 0.0)
    return z, 1.0


def _unit_fractions(model: MLP, X: Sequence[Sequence[float]], saturate: float) -> tuple[list[float], list[float]]:
    """Per layer, the fraction of dead units and of saturated (unit, sample) pairs, by a forward
    pass on plain floats with the weights as they are now (no Value is made)."""
    weights = [[[w.data for w in row] for row in layer.weights] for layer in model.layers]
    biases = [[b.data for b in layer.biases] for layer in model.layers]
    open_ = [[False] * layer.nout for layer in model.layers]  # opened on some sample
    flat = [0] * len(model.layers)
    for x in X:
        a = [float(v) for v in x]
        for n, layer in enumerate(model.layers):
            out = []
            for j in range(layer.nout):
                z = math.fsum([a[i] * weights[n][i][j] for i in range(len(a))] + [biases[n][j]])
                h, slope = _activate(layer.activation, z)
                open_[n][j] = open_[n][j] or z > 0
                flat[n] += abs(slope) < saturate
                out.append(h)
            a = out
    dead, saturated = [], []
    for n, layer in enumerate(model.layers):
        dead.append(open_[n].count(False) / layer.nout if layer.activation == "relu" else 0.0)
        squashing = layer.activation in ("tanh", "sigmoid")
        saturated.append(flat[n] / (layer.nout * len(X)) if squashing else 0.0)
    return dead, saturated


class History:
    """Per training step: the loss, each layer's gradient norm, and its dead and saturated fractions.

    Call :meth:`record` once per step, after ``backward()`` (the gradients in ``.grad``) and before
    the optimizer's step, in any training loop, eager or compiled (:func:`nn.compile_step` without
    an optimizer, then ``SGD.step()``); or let :func:`train` do it. Read it back as data
    (``steps``, :meth:`series`, :meth:`data`) or as a picture (:meth:`plot`, :meth:`svg`).

    >>> import nn
    >>> model = nn.MLP(2, [3, 1], seed=0)
    >>> history = train(model, [[0.0, 1.0], [1.0, 0.0]], [[1.0], [-1.0]], steps=20, lr=0.1)
    >>> len(history.steps), history.layers
    (20, 2)
    >>> history.series("loss")[-1] < history.series("loss")[0]
    True
    """

    def __init__(self, saturate: float = SATURATE) -> None:
        self.saturate = check_thresholds(VANISH, EXPLODE, saturate)[2]
        self.steps: list[HistoryStep] = []

    @property
    def layers(self) -> int:
        """How many layers each step records (0 before the first step)."""
        return len(self.steps[0].grad_norms) if self.steps else 0

    def record(self, model: MLP, X: Sequence[Sequence[float]], loss: float) -> HistoryStep:
        """Record one step of ``model`` on the batch inputs ``X`` with mean loss ``loss``: gradient norms
        from the parameters' ``.grad``, dead and saturated fractions from a forward pass over ``X``."""
        if not isinstance(model, MLP):
            raise TypeError(f"History.record needs an nn.MLP, not {type(model).__name__}")
        if isinstance(loss, bool) or not isinstance(loss, (int, float)):
            raise TypeError(f"loss must be a number (the step's mean loss), not {type(loss).__name__}")
        if self.steps and len(model.layers) != self.layers:
            raise ValueError(f"this history records {self.layers} layers; the model has {len(model.layers)}")
        norms = tuple(_norm([w.grad for row in layer.weights for w in row] + [b.grad for b in layer.biases])
                      for layer in model.layers)
        dead, saturated = _unit_fractions(model, X, self.saturate)
        step = HistoryStep(len(self.steps), float(loss), norms, tuple(dead), tuple(saturated))
        self.steps.append(step)
        return step

    _SERIES = ("loss", "grad_norm", "dead", "saturated")

    def series(self, name: str, layer: Optional[int] = None) -> list[float]:
        """One number per step: ``"loss"``, or for ``layer`` (from 1) ``"grad_norm"``, ``"dead"`` or ``"saturated"``."""
        if name not in self._SERIES:
            raise ValueError(f"unknown series {name!r}; choose one of: {', '.join(self._SERIES)}")
        if name == "loss":
            return [s.loss for s in self.steps]
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= max(self.layers, 1):
            raise ValueError(f"series {name!r} needs a layer from 1 to {self.layers}, not {layer!r}")
        field_ = {"grad_norm": "grad_norms", "dead": "dead", "saturated": "saturated"}[name]
        return [getattr(s, field_)[layer - 1] for s in self.steps]

    def data(self) -> dict[str, Any]:
        """Plain data: one dict per step."""
        return {"saturate": self.saturate,
                "steps": [{"step": s.step, "loss": s.loss, "grad_norms": list(s.grad_norms), "dead": list(s.dead),
                           "saturated": list(s.saturated)} for s in self.steps]}

    def svg(self, title: str = "training history", width: int = 640) -> str:
        """The history drawn by hand as SVG, no library needed: three panels over the steps, the loss,
        each layer's gradient norm (both on a log scale) and each layer's dead or saturated fraction."""
        return _history_svg(self, title, width)

    def plot(self, path: Optional[str] = None, title: str = "training history") -> Any:
        """The same three panels with matplotlib when it is installed: returns the Figure, saved to
        ``path`` if given. Without matplotlib, the hand-made :meth:`svg` is returned (and written to
        ``path``, which must then end in ``.svg``)."""
        if not self.steps:
            raise ValueError("nothing to plot: the history has no steps yet")
        try:
            import matplotlib

            matplotlib.use("Agg")  # files, never a window
            from matplotlib import pyplot
        except ImportError:
            if path is not None and not str(path).endswith(".svg"):
                raise ValueError(f"without matplotlib only SVG can be written, not {path!r}") from None
            text = self.svg(title)
            if path is not None:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            return text
        figure, (top, middle, bottom) = pyplot.subplots(3, 1, sharex=True, figsize=(7, 7))
        steps = [s.step for s in self.steps]
        top.plot(steps, self.series("loss"), color="black")
        top.set_yscale("log")
        top.set_ylabel("loss")
        top.set_title(title)
        for layer in range(1, self.layers + 1):
            norms = [max(x, _FLOOR) for x in self.series("grad_norm", layer)]
            middle.plot(steps, norms, label=f"layer {layer}")
            bottom.plot(steps, self._fraction(layer), label=f"layer {layer}")
        middle.set_yscale("log")
        middle.set_ylabel("|gradient|")
        middle.legend(fontsize="small")
        bottom.set_ylim(-0.05, 1.05)
        bottom.set_ylabel("dead / saturated")
        bottom.set_xlabel("step")
        figure.tight_layout()
        if path is not None:
            figure.savefig(path)
        pyplot.close(figure)
        return figure

    def _fraction(self, layer: int) -> list[float]:
        """The dead fraction of a relu layer, the saturated fraction of any other."""
        return [max(d, s) for d, s in zip(self.series("dead", layer), self.series("saturated", layer))]


#: The smallest gradient norm a log-scale plot shows (a norm of exactly 0 is drawn there).
_FLOOR = 1e-30

_COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563")


def _history_svg(history: History, title: str, width: int) -> str:
    """Three panels of polylines, written out: loss and gradient norms in log10, fractions in [0, 1]."""
    import html

    if not history.steps:
        raise ValueError("nothing to draw: the history has no steps yet")
    if isinstance(width, bool) or not isinstance(width, int) or width < 200:
        raise ValueError(f"width must be a whole number of pixels, 200 or more, not {width!r}")
    left, panel, gap, top = 70, 140, 40, 40
    right = width - 110  # room for the legend
    n = len(history.steps)
    x = [left + (right - left) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    layers = range(1, history.layers + 1)
    panels = [
        ("loss (log)", [("loss", "#111827", [math.log10(max(v, _FLOOR)) for v in history.series("loss")])]),
        ("|gradient| (log)", [(f"layer {k}", _COLOURS[(k - 1) % len(_COLOURS)],
                               [math.log10(max(v, _FLOOR)) for v in history.series("grad_norm", k)]) for k in layers]),
        ("dead / saturated", [(f"layer {k}", _COLOURS[(k - 1) % len(_COLOURS)], history._fraction(k)) for k in layers]),
    ]
    height = top + 3 * panel + 2 * gap + 40
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
           f"font-size='11'>",
           f"<text x='{left}' y='20' font-size='14'>{html.escape(fmt.printable(title))}</text>"]
    for p, (name, lines) in enumerate(panels):
        y0 = top + p * (panel + gap)
        values = [v for _, _, vs in lines for v in vs if math.isfinite(v)]
        low, high = (0.0, 1.0) if p == 2 else (min(values, default=0.0), max(values, default=1.0))
        if high - low < 1e-12:
            low, high = low - 0.5, high + 0.5
        out.append(f"<rect x='{left}' y='{y0}' width='{right - left}' height='{panel}' fill='none' stroke='#9ca3af'/>")
        out.append(f"<text x='{left}' y='{y0 - 6}'>{html.escape(name)}</text>")
        for value in (high, low):
            shown = fmt.short(10 ** value) if p < 2 else fmt.short(value)
            y = y0 + panel * (high - value) / (high - low)
            out.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{shown}</text>")
        for k, (label, colour, vs) in enumerate(lines):
            points = " ".join(f"{xi:.1f},{y0 + panel * (high - v) / (high - low):.1f}"
                              for xi, v in zip(x, vs) if math.isfinite(v))
            out.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{points}'>"
                       f"<title>{html.escape(label)}</title></polyline>")
            out.append(f"<text x='{right + 10}' y='{y0 + 14 + 14 * k}' fill='{colour}'>{html.escape(label)}</text>")
    base = top + 3 * panel + 2 * gap + 14
    out.append(f"<text x='{left}' y='{base}'>step {history.steps[0].step}</text>")
    out.append(f"<text x='{right}' y='{base}' text-anchor='end'>step {history.steps[-1].step}</text>")
    out.append("</svg>")
    return "\n".join(out)


def train(model: MLP, X: Sequence[Sequence[float]], Y: Sequence[Target], steps: int, lr: float = 0.1,
          loss: Union[str, LossFn] = "mse", *, compiled: bool = False, history: Optional[History] = None) -> History:
    """Train ``model`` by plain SGD on the whole batch for ``steps`` steps and record each in a :class:`History`.

    Each step: the mean loss over the batch, its gradient, :meth:`History.record`, then
    ``p.data -= lr * p.grad``. ``compiled=True`` runs the forward and backward passes through
    :func:`nn.compile_step` instead of building Values (the same numbers, faster). The model's
    weights change; its ``.grad`` hold the last step's gradient.
    """
    from .compiled import compile_step
    from .optim import SGD

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a whole number, 1 or more, not {steps!r}")
    pairs = batch(model, X, Y)
    loss_fn = _loss_fn(loss)
    optimizer = SGD(model.parameters(), lr=lr)
    history = history if history is not None else History()
    inputs = [x for x, _ in pairs]
    step = compile_step(model, loss_fn) if compiled else None  # no optimizer: recorded before the update
    for _ in range(steps):
        if step is not None:
            mean = step(inputs, [y for _, y in pairs])
        else:
            optimizer.zero_grad()
            losses = [_forward(model, x, y, loss_fn).loss for x, y in pairs]
            total = Value.sum(losses) * (1.0 / len(losses))
            total.backward()
            mean = total.data
        history.record(model, inputs, mean)
        optimizer.step()
    return history


# -- the command line: functions nn/cli.py wires in -------------------------------------------------------
def demo_diagnosis_text(net: Any) -> str:
    """What ``autodiff demo --diagnose`` prints for the demo network ``net`` (an ``nn.demo.DemoNetwork``):
    the diagnosis of its one graph over the model's parameters, then the layer table of its one sample."""
    single = autodiff.diagnose(net.loss, wrt=net.model.parameters())
    layers = diagnose(net.model, [net.x], [net.target])
    return "\n".join(["Diagnosis of the graph (vanishing and exploding gradients, saturated and dead units):",
                      str(single), "", "Layer by layer:", layers.table()])


def add_mistakes_command(subparsers: Any, parents: Sequence[Any] = ()) -> Any:
    """Add ``autodiff mistakes`` to the CLI's ``subparsers``: the beginner-mistake lab on the demo
    network or on a formula. ``parents`` are the CLI's network and formula option parsers
    (``--seed --activation --x --target``, ``--expr --set``); without them the subcommand adds
    its own ``--seed``, ``--activation``, ``--expr`` and ``--set``. Its handler is :func:`run_mistakes`.
    (Typed ``Any``: argparse's subparsers action has no public type.)"""
    p = subparsers.add_parser(
        "mistakes", parents=list(parents), help="what common wrong backprop implementations compute, beside the right answer",
        description="Run common wrong implementations of backprop (a recursive walk, the order not reversed, "
        "operands in a set, = instead of +=, backward twice, reading before backward) on the demo network or a "
        "formula, side by side with the right gradients, and say where and why each first goes wrong.")
    if not parents:
        p.add_argument("--seed", type=int, default=0, help="initialisation seed of the demo network (default 0)")
        p.add_argument("--activation", choices=["tanh", "relu", "sigmoid"], default="tanh", help="hidden activation")
        p.add_argument("--expr", metavar="TEXT", help='a formula instead of the network, for example "a*a + b"')
        p.add_argument("--set", nargs="+", type=_assignment, metavar="NAME=NUMBER", default=[],
                       help="the formula's input values: a=3 b=-1")
    p.add_argument("--rows", type=int, default=40, metavar="N", help="show at most N nodes in the table (default 40)")
    p.set_defaults(run=run_mistakes)
    return p


def _assignment(text: str) -> tuple[str, float]:
    name, sep, number = text.partition("=")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not sep or not name.isidentifier() or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER with a finite number, got {text!r}")
    return name, value


def run_mistakes(args: Any) -> int:
    """``autodiff mistakes``: print the lab's table and sentences; the exit status (2 and one line on stderr
    for a formula that cannot be computed, or a bad ``--rows``)."""
    from autodiff.expr import build_expression
    from autodiff.mistakes import lab

    from . import demo

    def fail(message: str) -> int:
        print(f"autodiff mistakes: error: {fmt.printable(message)}", file=sys.stderr)
        return 2

    if args.rows < 1:
        return fail("--rows must be at least 1")
    expr = getattr(args, "expr", None)
    given = list(getattr(args, "set", []) or [])
    if expr is None and given:
        return fail("--set goes with --expr")
    try:
        if expr is not None:
            if len(dict(given)) != len(given):
                return fail("a name is set twice in --set")
            root, _ = build_expression(expr, dict(given))
        else:
            root = demo.build(seed=args.seed, activation=args.activation, x=getattr(args, "x", (0.5, -1.0)),
                              target=getattr(args, "target", (1.0, 0.0)), backward=False).loss
    except (ValueError, ArithmeticError) as exc:  # ExprError is a ValueError: a formula it cannot read
        return fail(str(exc))
    print(lab(root).text(rows=args.rows))
    return 0
