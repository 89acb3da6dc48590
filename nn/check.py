"""Check a learner's backprop formula against the engine: where its shapes break, whether its
numbers are right, which classic mistake it makes, and the right formula with its shapes.

This project grew from one question: a learner derived, for a 2-3-2 network,
``dE/dW_ij = W_jk * g'(W_ij * x) * x * err`` and found that "the product gives 2x1 and it should
be 2x3". :func:`check_formula` answers such a question for any formula and any MLP. It evaluates
the formula over the network's named quantities (weights, biases, pre-activations, activations,
g', outputs, targets, the error at the output and the deltas of every layer), with numpy, and
reports, in this order:

1. the first step whose shapes do not fit, and the fix that fits (then the next, with the fix in);
2. the shape the formula yields against the gradient's shape under each storage convention:
   in x out, as this project stores ``W1`` (2x3), and out x in, as ``torch.nn.Linear`` does (3x2);
3. entry by entry, whether its numbers equal the engine's gradient (or its transpose);
4. when it is wrong: the classic mistake it makes, by name; the right formula with every factor's
   shape under it; and one entry worked through as its sum over paths (:func:`autodiff.trace`).

Two notations are read. In textbook notation vectors are columns (``x`` is 2x1), ``*`` and a
juxtaposition are the matrix product, ``⊙`` (or ``.*``, ``hadamard(a, b)``) is elementwise,
``^T`` a transpose and ``g'`` the activation's derivative. In numpy notation vectors are 1-D,
``@`` is the matrix product and ``*`` elementwise with broadcasting. The report says which
reading it used; a formula that could be either (``W2 * delta2``) is refused, with both readings
spelled out.

>>> from nn import demo
>>> net = demo.build(seed=0)
>>> report = check_formula(net.model, net.x, net.target, "x * ((W_jk * err) ⊙ g'(z1))^T", wrt="W_ij")
>>> report.ok, report.shape
(True, (2, 3))
>>> seed = check_formula(net.model, net.x, net.target, "W_jk * g'(W_ij * x) * x * err", wrt="W1")
>>> seed.ok, str(seed.misfits[0])
(False, 'W_ij (2x3) * x (2x1): inner sizes 3 and 2 differ; the fix that fits: W_ij^T * x (3x1)')
"""

from __future__ import annotations

import ast
import copy
import difflib
import math
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

try:
    import numpy as np
except ImportError:  # numpy is needed only here: the rest of nn works without it
    np = None  # type: ignore[assignment]

import autodiff
from autodiff import Value, fmt
from autodiff.expr import ExprError

from .demo import matrix_text
from .formula import (
    NUMPY,
    TEXTBOOK,
    Formula,
    FormulaError,
    derivative_of,
    parse_formula,
)
from .layers import MLP
from .losses import mse_loss, sse_loss

__all__ = [
    "check_formula",
    "FormulaReport",
    "Misfit",
    "Finding",
    "Entry",
    "IN_X_OUT",
    "OUT_X_IN",
    "add_check_command",
    "run_check",
]

#: Weights stored rows = source unit, columns = destination unit, as this project stores them.
IN_X_OUT = "in x out"
#: Weights stored rows = destination unit, columns = source unit, as ``torch.nn.Linear`` stores them.
OUT_X_IN = "out x in"
_CONVENTIONS = {"in x out": IN_X_OUT, "inxout": IN_X_OUT, "project": IN_X_OUT,
                "out x in": OUT_X_IN, "outxin": OUT_X_IN, "torch": OUT_X_IN}
_LOSSES = {"mse": mse_loss, "sse": sse_loss}
# Two numbers are equal when they agree to this relative tolerance (or both are tiny): the
# formula's numpy arithmetic and the engine's scalar arithmetic round differently.
_RTOL, _ATOL = 1e-7, 1e-10
_LETTERS = "ijklmnpq"
# Names of "the activation's derivative at the layer in question": g', f', σ', φ' and dg.
_GENERIC_G = ("_d_g", "_d_f", "_d_σ", "_d_sigma", "_d_φ", "_d_phi", "dg")  # the seed's layer indices: x_i, h_j, y_k, so W_ij is W1 and W_jk is W2
_MAX_ENTRIES = 24  # entries listed one by one in the report
_MAX_PATHS = 12  # paths listed in the worked entry
_MAX_SIDE = 6  # rows and columns of a gradient shown as a matrix


# -- what a report holds ----------------------------------------------------------------------
@dataclass(frozen=True)
class Misfit:
    """One step of the formula whose shapes do not fit: the step as written with its operands'
    shapes, why it does not fit, and the ``fix`` that fits (None when no transpose or swap does),
    with the ``shape`` the fixed step has and the ``mistake`` the fix corrects."""

    step: str
    reason: str
    fix: Optional[str]
    shape: Optional[str]
    mistake: str

    def __str__(self) -> str:
        if self.fix is None:
            return f"{self.step}: {self.reason}; no transpose or swap of the two makes them fit"
        return f"{self.step}: {self.reason}; the fix that fits: {self.fix} ({self.shape})"


@dataclass(frozen=True)
class Finding:
    """A classic mistake the formula makes, by name (``"missing g'"``, ``"missing transpose"``,
    ``"outer product in the wrong order"``, ``"forgotten bias"``, ``"forgotten bias gradient"``,
    ``"the delta of the wrong layer"``, ...), and what it is in this formula."""

    mistake: str
    detail: str

    def __str__(self) -> str:
        return f"{self.mistake}: {self.detail}"


@dataclass(frozen=True)
class Entry:
    """One entry of the gradient: its ``name`` (``W1[0][2]``), the formula's number (None when the
    shapes cannot be compared), the engine's, and whether they are equal."""

    name: str
    yours: Optional[float]
    engine: float
    equal: bool


@dataclass
class FormulaReport:
    """What :func:`check_formula` found; ``str(report)`` is the text for people, ``ok`` the verdict.

    ``misfits`` are the steps whose shapes do not fit (in the order they are met, each with its
    fix); ``shape`` is what the formula yields (with those fixes; None if it cannot be fixed);
    ``expected`` the gradient's shape under each storage convention; ``match`` is ``"equal"``,
    ``"transpose"`` (it equals the gradient's transpose), ``"different"`` or ``"incomparable"``
    (the shapes differ); ``entries`` compare the numbers one by one; ``findings`` name the classic
    mistakes; ``correct`` is the right formula with every factor's shape under it, and ``worked``
    one entry as its sum over paths.
    """

    formula: str
    wrt: str
    notation: str
    convention: str
    reading: str
    quantities: list[str]
    misfits: list[Misfit]
    shape: Optional[tuple[int, ...]]
    expected: dict[str, tuple[int, ...]]
    match: str
    entries: list[Entry]
    findings: list[Finding]
    correct: str
    worked: str
    ok: bool
    header: str = ""
    notes: list[str] = field(default_factory=list)
    gradient: str = ""  # the engine's gradient as a labelled matrix, in the report's layout

    @property
    def mistakes(self) -> list[str]:
        """The names of the classic mistakes found, in the order of :attr:`findings`."""
        return [f.mistake for f in self.findings]

    def __str__(self) -> str:
        lines = [self.header, self.reading]
        if self.quantities:
            lines.append("Quantities: " + "; ".join(self.quantities))
        lines.append("1. Shapes, step by step:")
        if self.misfits:
            for i, misfit in enumerate(self.misfits):
                lines.append(f"   {'then ' if i else ''}{misfit}" + (f" [{misfit.mistake}]" if misfit.fix else ""))
        else:
            lines.append("   every step fits.")
        lines += ["2. Shape: " + self._shapes_line(), "3. Values, entry by entry:"]
        lines += ["   " + line for line in self._values_text()]
        lines += [f"   note: {note}" for note in self.notes]
        if self.ok:
            lines.append(f"Right: the formula is dloss/d{self.wrt}, entry for entry.")
            return "\n".join(lines)
        lines.append("4. What went wrong:")
        lines += [f"   - {finding}" for finding in self.findings] or ["   - no classic mistake matches; compare with the right formula below."]
        lines += ["5. " + self.correct, "6. " + self.worked, "Wrong: see 4. and the right formula in 5."]
        return "\n".join(lines)

    def _shapes_line(self) -> str:
        expected = "; ".join(f"{_shape_text(s, self.notation)} stored {c}" + (
            " (as this project stores it)" if c == IN_X_OUT else " (as torch.nn.Linear stores it)")
            for c, s in self.expected.items())
        if len({s for s in self.expected.values()}) == 1:
            expected = f"{_shape_text(next(iter(self.expected.values())), self.notation)} under either storage convention"
        if self.shape is None:
            return f"the formula yields no shape (a step cannot be fixed); dloss/d{self.wrt} is {expected}."
        fixed = " with those fixes" if self.misfits else ""
        return f"the formula yields {_shape_text(self.shape, self.notation)}{fixed}; dloss/d{self.wrt} is {expected}."

    def _values_text(self) -> list[str]:
        if self.match == "incomparable" or not self.entries:
            out = [f"not comparable: the formula's shape is not the gradient's ({self.convention}) nor its transpose; "
                   "the engine's gradient is"]
            return out + ["  " + line for line in self.gradient.splitlines()]
        head = {"equal": "all equal to the engine's gradient",
                "transpose": "equal to the TRANSPOSE of the engine's gradient, entry for entry",
                "different": "they differ from the engine's gradient"}[self.match]
        out = [head + ":"]
        shown = self.entries
        if len(shown) > _MAX_ENTRIES:  # many: the different ones first, then as many equal ones as fit
            different = [e for e in shown if not e.equal]
            out[0] = f"{head}: {len(different)} of {len(shown)} entries differ; {_MAX_ENTRIES} of them:"
            shown = (different + [e for e in shown if e.equal])[:_MAX_ENTRIES]
        width = max(len(e.name) for e in shown)
        for e in shown:
            yours = "-" if e.yours is None else fmt.number(e.yours)
            out.append(f"  {e.name:<{width}}  yours {yours:>12}  engine {fmt.number(e.engine):>12}  {'equal' if e.equal else 'DIFFERENT'}")
        return out


# -- the network's quantities, from the engine ---------------------------------------------------
def _need_numpy() -> None:
    if np is None:
        raise ImportError("check_formula needs numpy: pip install numpy")


class _Net:
    """One forward and backward pass through ``model`` on ``x``, read off the engine's graph.

    Everything is kept in one layout, the canonical one: vectors are columns and ``W[li]`` is
    nin x nout (this project's storage); layers count from 1 (``W[0]`` is unused), ``h[0]`` is x.
    """

    def __init__(self, model: MLP, x: Sequence[float], target: Sequence[float], loss: str) -> None:
        self.model = model
        self.L = len(model.layers)
        self.sizes = model.sizes
        self.activations = ["linear"] + [layer.activation for layer in model.layers]
        xs = [Value(float(v), label=f"x[{i}]") for i, v in enumerate(x)]
        prev: list[Value] = xs
        self.z_nodes: list[list[Value]] = [xs]
        self.h_nodes: list[list[Value]] = [xs]
        for layer in model.layers:
            outs = layer(prev)
            self.h_nodes.append(outs)
            self.z_nodes.append(outs if layer.activation == "linear" else [o.parents[0] for o in outs])
            prev = outs
        self.loss = _LOSSES[loss](prev, [float(t) for t in target])
        self.loss_name = loss
        params = [[[w for w in row] for row in layer.weights] for layer in model.layers]
        biases = [layer.biases for layer in model.layers]
        nodes = [v for vs in self.z_nodes + self.h_nodes for v in vs]
        nodes += [w for m in params for row in m for w in row] + [b for bs in biases for b in bs]
        grads = dict(zip(map(id, nodes), autodiff.grad(self.loss, nodes)))

        def col(vs: Sequence[float]) -> Any:
            return np.array([float(v) for v in vs], dtype=float).reshape(-1, 1)

        self.x, self.t = col(x), col(target)
        self.h = [col([v.data for v in vs]) for vs in self.h_nodes]
        self.z = [col([v.data for v in vs]) for vs in self.z_nodes]
        self.gp = [col([1.0] * len(self.h_nodes[0]))] + [
            col([1.0 if act == "linear" else o.locals[0] for o in outs])
            for act, outs in zip(self.activations[1:], self.h_nodes[1:])
        ]
        self.delta = [col([grads[id(v)] for v in vs]) for vs in self.z_nodes]
        self.dh = [col([grads[id(v)] for v in vs]) for vs in self.h_nodes]
        self.y, self.err = self.h[-1], self.dh[-1]
        self.W = [np.zeros((0, 0))] + [np.array([[w.data for w in row] for row in m]) for m in params]
        self.b = [col([])] + [col([b.data for b in bs]) for bs in biases]
        self.dW = [np.zeros((0, 0))] + [np.array([[grads[id(w)] for w in row] for row in m]) for m in params]
        self.db = [col([])] + [col([grads[id(b)] for b in bs]) for bs in biases]
        self.params = params
        self.biases = biases

    def gprime_at(self, layer: int, v: Any) -> Any:
        """The derivative of layer ``layer``'s activation at ``v`` (elementwise)."""
        return _DERIVATIVES[self.activations[layer]](v)


def _sigmoid(v: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # = 1 / (1 + exp(-v)), without overflow


_ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "tanh": lambda v: np.tanh(v),
    "sigmoid": _sigmoid,
    "relu": lambda v: np.where(v > 0, v, 0.0),
    "linear": lambda v: v,
    "exp": lambda v: np.exp(v),
    "log": lambda v: np.log(v),
}
_DERIVATIVES: dict[str, Callable[[Any], Any]] = {
    "tanh": lambda v: 1.0 - np.tanh(v) ** 2,
    "sigmoid": lambda v: _sigmoid(v) * (1.0 - _sigmoid(v)),
    "relu": lambda v: np.where(v > 0, 1.0, 0.0),
    "linear": lambda v: np.ones_like(v),
}


# -- what the names of a formula mean -----------------------------------------------------------
@dataclass(frozen=True)
class _Quantity:
    key: str  # canonical: x, t, y, err, loss, W1, b1, z1, h1, delta1, g'1
    kind: str  # weight, vector, scalar
    layer: int
    meaning: str


def _aliases(net: _Net, layer: int) -> dict[str, _Quantity]:
    """Every name a formula may use, for a network of ``net``'s shape, ``layer`` the layer in question."""
    L, letters = net.L, _LETTERS
    out: dict[str, _Quantity] = {}

    def add(names: Sequence[str], q: _Quantity) -> None:
        for name in names:
            out.setdefault(name, q)

    def letter(li: int) -> Optional[str]:
        return letters[li] if li < len(letters) else None

    def lettered(stem: str, *ls: int) -> list[str]:
        ks = [letter(li) for li in ls]
        return [f"{stem}_{''.join(k for k in ks if k)}"] if all(ks) else []

    add(["x", "h0", "a0"] + lettered("x", 0), _Quantity("x", "vector", 0, "the input"))
    add(["t", "target"] + lettered("t", L), _Quantity("t", "vector", L, "the target"))
    add(["y", "yhat", "ŷ", "out", f"h{L}", f"a{L}"] + lettered("y", L), _Quantity("y", "vector", L, "the output"))
    add(["err", "error", "dy"], _Quantity("err", "vector", L, "dloss/dy, the error at the output"))
    add(["loss", "E"], _Quantity("loss", "scalar", L, "the loss"))
    for li in range(1, L + 1):
        where = "input -> hidden" if li == 1 and L > 1 else ("hidden -> output" if li == L and L > 1 else f"into layer {li}")
        names = [f"W{li}"] + lettered("W", li - 1, li)
        if letter(li) and letter(li - 1):
            names.append(f"W_{letter(li)}{letter(li - 1)}")
        add(names, _Quantity(f"W{li}", "weight", li, f"the weights {where}"))
        add([f"b{li}"] + lettered("b", li), _Quantity(f"b{li}", "vector", li, f"the biases of layer {li}"))
        add([f"z{li}"] + lettered("z", li), _Quantity(f"z{li}", "vector", li, f"the pre-activations of layer {li}"))
        if li < L:
            add([f"h{li}", f"a{li}"] + lettered("h", li) + lettered("a", li), _Quantity(f"h{li}", "vector", li, f"the activations of layer {li}"))
        add([f"delta{li}", f"δ{li}"] + lettered("delta", li) + lettered("δ", li),
            _Quantity(f"delta{li}", "vector", li, f"dloss/dz{li}"))
        act = net.activations[li]
        add([f"dg{li}", f"_d_g{li}"], _Quantity(f"g'{li}", "vector", li, f"{act}'(z{li})"))
    act = net.activations[layer]
    add(["dg", "_d_g", "_d_f", "_d_σ", "_d_sigma", "_d_φ", "_d_phi"], _Quantity(f"g'{layer}", "vector", layer, f"{act}'(z{layer})"))
    add(["delta", "δ"], _Quantity(f"delta{layer}", "vector", layer, f"dloss/dz{layer}"))
    return out


def _canonical(net: _Net, key: str) -> Any:
    """The canonical value of a quantity (columns; W in x out)."""
    if key in ("x", "t", "y", "err"):
        return {"x": net.x, "t": net.t, "y": net.y, "err": net.err}[key]
    if key == "loss":
        return np.array(net.loss.data)
    stem = key.rstrip("0123456789")
    li = int(key[len(stem):])
    return {"W": net.W, "b": net.b, "z": net.z, "h": net.h, "delta": net.delta, "g'": net.gp}[stem][li]


def _layout(value: Any, kind: str, reading: str, convention: str) -> Any:
    """A canonical value in the layout of a reading and a storage convention."""
    if kind == "weight":
        return value.T if convention == OUT_X_IN else value
    if kind == "vector" and reading == NUMPY:
        return value.reshape(-1)
    return value


def _shape_text(shape: Optional[tuple[int, ...]], reading: str = TEXTBOOK) -> str:
    if shape is None:
        return "no shape"
    if len(shape) == 0:
        return "a number"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "x".join(map(str, shape))


# -- evaluating a formula, step by step, repairing shapes -------------------------------------
class _Stop(Exception):
    """A step whose shapes no fix makes fit: the formula yields no value."""


@dataclass
class _Term:
    value: Any
    node: ast.AST
    gprime: bool = False  # a g' factor


@dataclass
class _Space:
    net: _Net
    reading: str
    convention: str
    layer: int
    names: dict[str, _Quantity]


class _Evaluator:
    """Evaluates a parsed formula in one reading; records each misfit and goes on with its fix."""

    def __init__(self, formula: Formula, space: _Space) -> None:
        self.formula, self.space = formula, space
        self.misfits: list[Misfit] = []
        self.notes: list[str] = []
        self.ambiguous: list[ast.AST] = []  # * between two arrays: the two readings differ there
        self.gprime_products: list[str] = []  # textbook products with a g' factor
        self.used: list[str] = []  # the names it reads, and the derivatives it calls
        self.called: list[str] = []  # the derivatives it calls: g'(v)

    def run(self) -> Optional[Any]:
        with np.errstate(all="ignore"):
            try:
                return self.eval(self.formula.tree).value
            except _Stop:
                return None

    # -- texts -------------------------------------------------------------------------------
    def text(self, node: ast.AST) -> str:
        return self.formula.part(node)

    def atom(self, node: ast.AST) -> str:
        text = self.text(node)
        simple = isinstance(node, (ast.Name, ast.Call, ast.Constant, ast.Attribute))
        return text if simple else f"({text})"

    def transposed(self, node: ast.AST) -> str:
        if isinstance(node, ast.Attribute):  # undo a transpose rather than add a second one
            return self.atom(node.value)
        return self.atom(node) + (".T" if self.space.reading == NUMPY else "^T")

    def shape(self, value: Any) -> str:
        return _shape_text(tuple(np.shape(value)), self.space.reading)

    # -- nodes -------------------------------------------------------------------------------
    def eval(self, node: ast.AST) -> _Term:
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, (int, float))  # the parser allows only numbers
            return _Term(np.array(float(node.value)), node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            term = self.eval(node.operand)
            return _Term(-term.value if isinstance(node.op, ast.USub) else term.value, node, term.gprime)
        if isinstance(node, ast.Attribute):  # .T
            term = self.eval(node.value)
            if self.space.reading == NUMPY and np.ndim(term.value) == 1:
                self.notes.append(f"{self.text(node)}: .T of a 1-D array changes nothing in numpy "
                                  "(for an outer product write np.outer(u, v))")
            return _Term(np.transpose(term.value), node, term.gprime)
        if isinstance(node, ast.Call):
            return self.call(node)
        assert isinstance(node, ast.BinOp)
        left, right = self.eval(node.left), self.eval(node.right)
        op = node.op
        if isinstance(op, ast.Pow):
            return _Term(left.value ** float(right.value), node)
        if isinstance(op, ast.Mult) and self.space.reading == TEXTBOOK:
            return self.product(left, right, node)
        if isinstance(op, ast.MatMult):
            return self.product(left, right, node) if self.space.reading == TEXTBOOK else self.matmul(left, right, node)
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Div: "/", ast.Mult: "*", ast.Mod: "⊙"}[type(op)]
        return self.elementwise(left, right, node, symbol)

    def name(self, node: ast.Name) -> _Term:
        name = node.id
        activation = derivative_of(name)
        if activation in ("tanh", "sigmoid", "relu"):
            raise FormulaError(f"{activation}' needs its argument: write {activation}'(z1)")
        quantity = self.space.names.get(name)
        if quantity is None:
            known = [n for n in self.space.names if not n.startswith("_")]
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            shown = f"{activation}'" if activation else name
            raise FormulaError(f"unknown name {shown!r}{hint}; the quantities are: {', '.join(_main_names(self.space.net))}")
        self.used.append(name)
        value = _layout(_canonical(self.space.net, quantity.key), quantity.kind, self.space.reading, self.space.convention)
        return _Term(value, node, gprime=quantity.key.startswith("g'"))

    def call(self, node: ast.Call) -> _Term:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        args = [self.eval(a) for a in node.args]
        net, layer = self.space.net, self.space.layer
        activation = derivative_of(name)
        if activation is not None:  # g'(v), g1'(v), tanh'(v)
            self.used.append(name)
            self.called.append(name)
            act = _layer_activation(net, activation, layer)
            return _Term(_DERIVATIVES[act](args[0].value), node, gprime=True)
        if name in ("tanh", "sigmoid", "relu", "exp", "log"):
            return _Term(_ACTIVATIONS[name](args[0].value), node)
        if name not in ("outer", "hadamard", "multiply", "diag", "dot", "matmul", "transpose"):  # g(v), g1(v)
            return _Term(_ACTIVATIONS[_layer_activation(net, name, layer)](args[0].value), node)
        if name == "transpose":
            return _Term(np.transpose(args[0].value), node, args[0].gprime)
        if name in ("hadamard", "multiply"):
            return self.elementwise(args[0], args[1], node, "⊙")
        if name in ("dot", "matmul"):
            return self.product(args[0], args[1], node) if self.space.reading == TEXTBOOK else self.matmul(args[0], args[1], node)
        if name == "diag":
            value = args[0].value
            if np.ndim(value) > 2 or (np.ndim(value) == 2 and min(np.shape(value)) != 1):
                self.misfit(f"diag({self.text(node.args[0])} ({self.shape(value)}))", "diag takes a vector", None, None, "")
            return _Term(np.diag(np.ravel(value)), node)  # diag(g') * v is the right way to use g' in a product
        u, v = args[0].value, args[1].value  # outer
        for arg, value in zip(node.args, (u, v)):
            if np.ndim(value) == 2 and min(np.shape(value)) != 1:
                self.misfit(f"outer(..., {self.text(arg)} ({self.shape(value)}), ...)", "outer takes two vectors", None, None, "")
        return _Term(np.outer(u, v), node)

    # -- steps that can misfit ----------------------------------------------------------------
    def misfit(self, step: str, reason: str, fix: Optional[str], value: Any, mistake: str) -> None:
        shape = None if fix is None else self.shape(value)
        self.misfits.append(Misfit(step, reason, fix, shape, mistake))
        if fix is None:
            raise _Stop

    def step_text(self, left: _Term, right: _Term, node: ast.AST, symbol: Optional[str] = None) -> str:
        start = self.formula.span(left.node)[1]
        end = self.formula.span(right.node)[0]
        between = self.formula.text[start:end] if symbol is None else symbol
        between = between.replace("(", "").replace(")", "").strip()  # the operator, without the operands' parentheses
        if isinstance(node, ast.Call):
            return f"{self.formula.part(node.func)}({self.text(left.node)} ({self.shape(left.value)}), {self.text(right.node)} ({self.shape(right.value)}))"
        return f"{self.atom(left.node)} ({self.shape(left.value)}) {between or '·'} {self.atom(right.node)} ({self.shape(right.value)})"

    def product(self, left: _Term, right: _Term, node: ast.AST) -> _Term:
        """The textbook product: a matrix product, or a scaling when one side is a number."""
        a, b = left.value, right.value
        if np.ndim(a) == 0 or np.ndim(b) == 0:
            return _Term(a * b, node, left.gprime or right.gprime)  # -g', 2 g': still a g' factor
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            self.ambiguous.append(node)
        if left.gprime or right.gprime:
            g = left if left.gprime else right
            self.gprime_products.append(f"{self.text(g.node)} is a factor of the matrix product {self.text(node)}")
        if a.shape[1] == b.shape[0]:
            return _Term(a @ b, node)
        if a.shape == (1, 1) or b.shape == (1, 1):
            return _Term(a * b, node)
        lt, rt = self.atom(left.node), self.atom(right.node)
        ltT, rtT = self.transposed(left.node), self.transposed(right.node)
        tries = [(f"{ltT} * {rt}", a.T, b), (f"{lt} * {rtT}", a, b.T), (f"{ltT} * {rtT}", a.T, b.T)]
        if a.shape[1] == 1 and b.shape[1] == 1:  # two columns: the outer product is the usual intent
            tries = [tries[1], tries[0]]
        tries.append((f"{rt} * {lt}", b, a))
        reason = f"inner sizes {a.shape[1]} and {b.shape[0]} differ"
        return self.repair(left, right, node, reason, tries, lambda p, q: p @ q,
                           lambda p, q: p.shape[1] == q.shape[0])

    def matmul(self, left: _Term, right: _Term, node: ast.AST) -> _Term:
        """numpy's ``@``: 1-D operands are vectors on the side they stand."""
        a, b = left.value, right.value
        if np.ndim(a) == 0 or np.ndim(b) == 0:
            fix = f"{self.atom(left.node)} * {self.atom(right.node)}"
            self.misfit(self.step_text(left, right, node), "@ needs two arrays, not a number", fix, a * b, "@ with a number")
            return _Term(a * b, node)

        def fits(p: Any, q: Any) -> bool:
            return bool(p.shape[-1] == q.shape[0])

        if left.gprime or right.gprime:
            g = left if left.gprime else right
            self.gprime_products.append(f"{self.text(g.node)} is a factor of the matrix product {self.text(node)}")
        if fits(a, b):
            return _Term(a @ b, node)
        lt, rt = self.atom(left.node), self.atom(right.node)
        reason = f"inner sizes {a.shape[-1]} and {b.shape[0]} differ"
        if np.ndim(a) == 1 and np.ndim(b) == 1:
            tries = [(f"np.outer({self.text(left.node)}, {self.text(right.node)})", a, b)]
            return self.repair(left, right, node, reason, tries, np.outer, lambda p, q: True, "@ of two vectors")
        ltT, rtT = self.transposed(left.node), self.transposed(right.node)
        tries = [(f"{ltT} @ {rt}", a.T, b), (f"{lt} @ {rtT}", a, b.T), (f"{ltT} @ {rtT}", a.T, b.T), (f"{rt} @ {lt}", b, a)]
        return self.repair(left, right, node, reason, tries, lambda p, q: p @ q, fits)

    def elementwise(self, left: _Term, right: _Term, node: ast.AST, symbol: str) -> _Term:
        """+, -, /, ⊙ (and numpy's *): equal shapes in textbook notation, broadcasting in numpy's."""
        a, b = left.value, right.value
        compute: Callable[[Any, Any], Any] = {
            "+": np.add, "-": np.subtract, "/": np.divide, "*": np.multiply, "⊙": np.multiply}[symbol]
        numpy = self.space.reading == NUMPY

        def fits(p: Any, q: Any) -> bool:
            if np.ndim(p) == 0 or np.ndim(q) == 0:
                return True
            if not numpy:
                return bool(np.shape(p) == np.shape(q))
            try:
                np.broadcast_shapes(np.shape(p), np.shape(q))
                return True
            except ValueError:
                return False

        if fits(a, b):
            return _Term(compute(a, b), node)
        if numpy:
            reason = f"shapes {self.shape(a)} and {self.shape(b)} do not broadcast"
        else:
            reason = f"{symbol} needs two of the same shape"
        lt, rt = self.atom(left.node), self.atom(right.node)
        shown = "*" if numpy and symbol == "⊙" else symbol
        if isinstance(node, ast.Call):
            shown = ""
        tries = [(f"{lt} {shown} {self.transposed(right.node)}", a, b.T), (f"{self.transposed(left.node)} {shown} {rt}", a.T, b)]
        if isinstance(node, ast.Call):
            func = self.formula.part(node.func)
            tries = [(f"{func}({lt}, {self.transposed(right.node)})", a, b.T), (f"{func}({self.transposed(left.node)}, {rt})", a.T, b)]
        if numpy and symbol in ("*", "⊙") and np.ndim(a) == 1 and np.ndim(b) == 1:  # two vectors: meant as an outer product?
            outer = f"np.outer({self.text(left.node)}, {self.text(right.node)})"
            return self.repair(left, right, node, reason, [(outer, a, b)], np.outer, lambda p, q: True, "missing outer product")
        return self.repair(left, right, node, reason, tries, compute, fits)

    def repair(self, left: _Term, right: _Term, node: ast.AST, reason: str,
               tries: list[tuple[str, Any, Any]], compute: Callable[[Any, Any], Any],
               fits: Callable[[Any, Any], bool], mistake: str = "") -> _Term:
        """Record the misfit with the first fix that fits, and go on with the fixed value."""
        step = self.step_text(left, right, node)
        for fix, p, q in tries:
            if fits(p, q):
                value = compute(p, q)
                kind = mistake or ("factors in the wrong order" if p is right.value else "missing transpose")
                self.misfit(step, reason, fix, value, kind)
                return _Term(value, node)
        self.misfit(step, reason, None, None, "")
        raise _Stop  # not reached: misfit raised it


def _layer_activation(net: _Net, name: str, layer: int) -> str:
    """The activation a function name means: tanh is tanh, g1 is layer 1's, g the layer in question's."""
    if name in ("tanh", "sigmoid", "relu"):
        return name
    if name.startswith("g") and name[1:].isdigit():
        li = int(name[1:])
        if not 1 <= li <= net.L:
            raise FormulaError(f"{name}: the network has layers 1 to {net.L}")
        return net.activations[li]
    return net.activations[layer]


def _main_names(net: _Net) -> list[str]:
    names = ["x", "t", "y", "err"]
    for li in range(1, net.L + 1):
        names += [f"W{li}", f"b{li}", f"z{li}"] + ([f"h{li}"] if li < net.L else []) + [f"delta{li}", f"g{li}'"]
    return names + ["g'", "W_ij", "W_jk"]


# -- what the gradient is, and the classic ways to get it wrong ---------------------------------
@dataclass(frozen=True)
class _Target:
    """The quantity a formula differentiates by: ``kind`` weight (W), bias (b), z, h, x or y."""

    name: str  # canonical, as the engine labels it: W1, b2, z1, h1, x, y
    kind: str
    layer: int


def _target(net: _Net, wrt: str) -> _Target:
    aliases = _aliases(net, 1)
    q = aliases.get(wrt)
    if q is None or q.key in ("t", "err", "loss") or q.key.startswith(("g'", "delta")):
        if q is not None and q.key.startswith("delta"):
            q = _Quantity(f"z{q.layer}", "vector", q.layer, "")
        else:
            choices = ", ".join(f"W{li}, b{li}" for li in range(1, net.L + 1))
            raise FormulaError(f"wrt {wrt!r} is not something the loss has a gradient by here; choose one of: "
                               f"{choices}, a pre-activation z1, an activation h1, x or y")
    key = q.key
    if key.startswith("W"):
        return _Target(key, "weight", q.layer)
    if key.startswith("b"):
        return _Target(key, "bias", q.layer)
    if key.startswith(("z", "h")):
        return _Target(key, key[0], q.layer)
    return _Target(key, key, 0 if key == "x" else net.L)


def _delta(net: _Net, li: int, skip: frozenset[int] = frozenset(), flip: frozenset[int] = frozenset(),
           unbiased: frozenset[int] = frozenset()) -> Any:
    """delta of layer ``li`` by the matrix rules, with slips: ``skip`` leaves out g' at those layers,
    ``flip`` uses the transpose of those layers' W, ``unbiased`` takes g' at z - b there."""
    d = net.err
    for m in range(net.L, li - 1, -1):
        if m < net.L:
            w = net.W[m + 1]
            d = (w.T if m + 1 in flip else w) @ d
        if m not in skip:
            d = d * (net.gprime_at(m, net.z[m] - net.b[m]) if m in unbiased else net.gp[m])
    return d


def _gradient(net: _Net, target: _Target, **slips: frozenset[int]) -> Any:
    """The canonical gradient by the matrix rules (with ``slips``, a classic mistake's version)."""
    li = target.layer
    if target.kind == "weight":
        return net.h[li - 1] @ _delta(net, li, **slips).T
    if target.kind in ("bias", "z"):
        return _delta(net, li, **slips)
    if target.kind == "y":
        return net.err
    w = net.W[li + 1]
    return (w.T if li + 1 in slips.get("flip", ()) else w) @ _delta(net, li + 1, **slips)


def _engine_gradient(net: _Net, target: _Target) -> Any:
    """The engine's gradient (from autodiff.grad over the graph), canonical layout."""
    li = target.layer
    if target.kind == "weight":
        return net.dW[li]
    if target.kind == "bias":
        return net.db[li]
    if target.kind == "z":
        return net.delta[li]
    if target.kind in ("h", "x"):
        return net.dh[li]
    return net.err


def _variants(net: _Net, target: _Target) -> list[tuple[str, str, Any]]:
    """The classic mistakes' versions of the gradient: (name, what it is, canonical value)."""
    li, L = target.layer, net.L
    first = li if target.kind in ("weight", "bias", "z") else li + 1
    nonlinear = [m for m in range(max(first, 1), L + 1) if net.activations[m] != "linear"]
    out: list[tuple[str, str, Any]] = []
    for m in nonlinear:
        what = f"the factor g{m}' = {net.activations[m]}'(z{m}) is left out"
        if target.kind == "z" and m == li:
            what += f": that is dloss/dh{li}, the gradient before it goes through the activation"
        out.append(("missing g'", what, _gradient(net, target, skip=frozenset([m]))))
    if len(nonlinear) > 1:
        out.append(("missing g'", "every factor g' is left out", _gradient(net, target, skip=frozenset(nonlinear))))
    for m in range(first + 1, L + 1):
        if net.W[m].shape[0] == net.W[m].shape[1]:
            out.append(("missing transpose", f"W{m} is used where its transpose belongs (W{m} is square, so the shapes fit)",
                        _gradient(net, target, flip=frozenset([m]))))
    for m in nonlinear:
        out.append(("forgotten bias", f"g{m}' is taken at W{m}^T {_input(m)} without + b{m}: "
                    f"the pre-activation is z{m} = W{m}^T {_input(m)} + b{m}", _gradient(net, target, unbiased=frozenset([m]))))
    if target.kind == "weight":
        for m in range(1, L + 1):
            if m != li:
                out.append(("the delta of the wrong layer", f"it is {_input(li)} times delta{m}, the delta of layer {m}; "
                            f"W{li} needs delta{li}", net.h[li - 1] @ net.delta[m].T))
                out.append(("the input of the wrong layer", f"it is {_input(m)} (the input of layer {m}) times delta{li}; "
                            f"W{li}'s input is {_input(li)}", net.h[m - 1] @ net.delta[li].T))
    if target.kind in ("bias", "z"):
        for m in range(1, L + 1):
            if m != li:
                out.append(("the delta of the wrong layer", f"it is delta{m}, the delta of layer {m}", net.delta[m]))
    if target.kind == "bias":
        out.append(("forgotten bias gradient", f"it is dloss/dW{li}, the weight gradient: a bias's input is the constant 1, "
                    f"so dloss/db{li} = delta{li} itself", net.h[li - 1] @ net.delta[li].T))
    if target.kind in ("h", "x"):
        out.append(("an extra g'", f"it is delta{li} = dloss/dz{li}: the factor g{li}' belongs to the layer below"
                    if li > 0 else "", net.delta[li] if li > 0 else net.dh[0]))
    return out


def _input(li: int) -> str:
    return "x" if li == 1 else f"h{li - 1}"


def _close(a: Any, b: Any) -> bool:
    return bool(np.shape(a) == np.shape(b) and np.all(np.isfinite(a)) and np.allclose(a, b, rtol=_RTOL, atol=_ATOL))


def _name_mistake(value: Any, correct: Any, variants: list[tuple[str, str, Any]], outer: bool, bias: bool = False) -> list[Finding]:
    """The classic mistakes whose version of the gradient equals ``value`` (canonical layouts)."""
    found: list[Finding] = []
    if value.shape == correct.T.shape and _close(value, correct.T) and not _close(value, correct):
        name = "outer product in the wrong order" if outer else "transposed"
        found.append(Finding(name, "the formula gives the transpose of the gradient: its layout under the other storage convention"))
        return found
    for name, what, variant in variants:
        if _close(variant, correct):
            continue  # a slip that makes no difference on this network: not a diagnosis
        if _close(value, variant):
            found.append(Finding(name, what))
        elif variant.ndim == 2 and variant.shape[0] > 1 and variant.shape[1] > 1 and _close(value, variant.T):
            found.append(Finding(name, what + "; and the result is transposed"))
    if found:
        return found
    if _close(value, -correct):
        found.append(Finding("sign", "the formula is minus the gradient (t - y where y - t belongs?): "
                             "that is the direction of descent, not the gradient"))
    elif _close(value, np.zeros_like(correct)):
        if bias:
            found.append(Finding("forgotten bias gradient", "the formula gives only zeros, but the bias does get a gradient: delta of its layer"))
        else:
            found.append(Finding("zero", "the formula gives only zeros"))
    elif np.shape(value) == np.shape(correct):
        nonzero = np.abs(correct) > _ATOL
        if nonzero.any() and np.allclose(value[~nonzero], 0.0, atol=_ATOL):
            ratios = value[nonzero] / correct[nonzero]
            if np.allclose(ratios, ratios.flat[0], rtol=1e-6):
                found.append(Finding("constant factor", f"the formula is {fmt.number(float(ratios.flat[0]))} times the gradient "
                                     "(a factor such as 2/n of the mean squared error?)"))
    return found


# -- the right formula, written out with its shapes -------------------------------------------
@dataclass(frozen=True)
class _F:
    """A formula for people: a leaf (``text`` and ``shape``) or ``op`` over ``args``."""

    op: str  # leaf, mul (matrix product), had (elementwise), T, outer
    text: str = ""
    shape: tuple[int, ...] = ()
    args: tuple["_F", ...] = ()


def _pieces(f: _F, reading: str, top: bool = True) -> list[tuple[str, Optional[tuple[int, ...]]]]:
    """The formula as pieces of text, each leaf with its shape (other pieces with None)."""
    if f.op == "leaf":
        return [(f.text, f.shape)]
    if f.op == "T":
        inner = _pieces(f.args[0], reading)
        if f.args[0].op != "leaf":
            inner = [("(", None)] + inner + [(")", None)]
        return inner + [(".T" if reading == NUMPY else "^T", None)]
    if f.op == "outer" and reading == NUMPY:
        return [("np.outer(", None)] + _pieces(f.args[0], reading) + [(", ", None)] + _pieces(f.args[1], reading) + [(")", None)]
    if f.op == "outer":
        return _pieces(_F("mul", args=(f.args[0], _F("T", args=(f.args[1],)))), reading, top)
    symbol = {("mul", TEXTBOOK): " * ", ("mul", NUMPY): " @ ", ("had", TEXTBOOK): " ⊙ ", ("had", NUMPY): " * "}[(f.op, reading)]
    out = _pieces(f.args[0], reading, False) + [(symbol, None)] + _pieces(f.args[1], reading, False)
    return out if top else [("(", None)] + out + [(")", None)]


def _with_shapes(lead: str, f: _F, reading: str) -> str:
    """Two lines: the formula, and each leaf's shape written under the leaf's first character.

    Where two shapes would touch, the formula is spaced out at its last space (``x, (W2`` becomes
    ``x,  (W2``), so that the shape stays under its own leaf."""
    top, under, previous = lead, "", 0
    for text, shape in _pieces(f, reading):
        if shape is not None:
            missing = len(under) + 1 - len(top)
            if under and missing > 0:
                at = top.rfind(" ") + 1
                at = at if at > previous else len(top)
                top = top[:at] + " " * missing + top[at:]
            previous = len(top)
            under = under.ljust(len(top)) + _shape_text(shape, reading)
        top += text
    return top + "\n" + under


def _flat(f: _F, reading: str) -> str:
    return "".join(text for text, _ in _pieces(f, reading))


def _shape_of(f: _F, reading: str, steps: list[str]) -> tuple[int, ...]:
    """The shape ``f`` yields; each product it makes is written into ``steps`` ("3x2 * 2x1 = 3x1")."""
    if f.op == "leaf":
        return f.shape
    shapes = [_shape_of(a, reading, steps) for a in f.args]
    if f.op == "T":
        return shapes[0][::-1]
    if f.op == "outer":
        out: tuple[int, ...] = (math.prod(shapes[0]), math.prod(shapes[1]))
        if reading == TEXTBOOK:
            steps.append(f"{_shape_text(shapes[0])} * {_shape_text(shapes[1][::-1])} = {_shape_text(out)}")
        else:
            steps.append(f"np.outer({_shape_text(shapes[0], reading)}, {_shape_text(shapes[1], reading)}) = {_shape_text(out)}")
        return out
    a, b = shapes
    if f.op == "had":
        out = a
    elif reading == NUMPY:
        out = tuple(np.broadcast_shapes(a[:-1], b[1:]) if len(a) > 1 and len(b) > 1 else (a[:-1] or b[1:]))
    else:
        out = (a[0], b[1])
    symbol = {("mul", TEXTBOOK): "*", ("mul", NUMPY): "@"}.get((f.op, reading), "⊙" if reading == TEXTBOOK else "*")
    steps.append(f"{_shape_text(a, reading)} {symbol} {_shape_text(b, reading)} = {_shape_text(out, reading)}")
    return out


class _Writer:
    """Writes the right formula in the learner's names and layout."""

    def __init__(self, net: _Net, reading: str, convention: str, seed_names: bool, generic_g: bool, layer: int) -> None:
        self.net, self.reading, self.convention = net, reading, convention
        self.seed_names, self.generic_g, self.layer = seed_names, generic_g, layer

    def leaf(self, key: str, kind: str, text: Optional[str] = None) -> _F:
        value = _layout(_canonical(self.net, key), kind, self.reading, self.convention)
        return _F("leaf", text or key, tuple(np.shape(value)))

    def weight(self, li: int) -> _F:
        name = f"W_{_LETTERS[li - 1]}{_LETTERS[li]}" if self.seed_names and li < len(_LETTERS) else f"W{li}"
        w = self.leaf(f"W{li}", "weight", name)
        return _F("T", args=(w,)) if self.convention == OUT_X_IN else w  # W^T delta under out x in

    def gprime(self, li: int) -> _F:
        if self.reading == NUMPY:
            text = "dg" if self.generic_g and li == self.layer else f"dg{li}"
        else:
            text = f"g'(z{li})" if self.generic_g and li == self.layer else f"g{li}'"
        return self.leaf(f"g'{li}", "vector", text)

    def input(self, li: int) -> _F:
        return self.leaf("x", "vector") if li == 1 else self.leaf(f"h{li - 1}", "vector")

    def delta(self, li: int, named: bool = False) -> _F:
        """delta of layer ``li`` written out from the output down, or (``named``) one layer of it
        over the delta above."""
        if named and li < self.net.L:
            d = self.leaf(f"delta{li + 1}", "vector")
        else:
            d = self.leaf("err", "vector")
        for m in range(self.net.L, li - 1, -1):
            if named and m > li:
                continue
            if m < self.net.L:
                d = _F("mul", args=(self.weight(m + 1), d))
            if self.net.activations[m] != "linear":
                d = _F("had", args=(d, self.gprime(m)))
        return d

    def gradient(self, target: _Target, named: bool = False) -> _F:
        """The whole formula; ``named``: its last step, over the delta of the layer."""
        li = target.layer
        if target.kind == "weight":
            d = self.leaf(f"delta{li}", "vector") if named else self.delta(li)
            pair = (self.input(li), d)
            return _F("outer", args=pair if self.convention == IN_X_OUT else pair[::-1])
        if target.kind in ("bias", "z"):
            return self.leaf(f"delta{li}", "vector") if named else self.delta(li)
        if target.kind == "y":
            return self.leaf("err", "vector")
        d = self.leaf(f"delta{li + 1}", "vector") if named else self.delta(li + 1)
        return _F("mul", args=(self.weight(li + 1), d))

    def steps(self, target: _Target, result: str) -> list[str]:
        """The right formula layer by layer, each step's shapes beside it."""
        rows = []
        last = target.layer if target.kind in ("weight", "bias", "z") else target.layer + 1
        for m in range(self.net.L, max(last, 1) - 1, -1):
            body = self.delta(m, named=True)
            arithmetic: list[str] = []
            shape = _shape_of(body, self.reading, arithmetic)
            note = "" if self.net.activations[m] != "linear" else f"   (layer {m} is linear: its g' is 1)"
            rows.append((f"delta{m} = {_flat(body, self.reading)}", "; ".join(arithmetic) or _shape_text(shape, self.reading), note))
        if target.kind not in ("bias", "z"):
            final = self.gradient(target, named=True)
            arithmetic = []
            _shape_of(final, self.reading, arithmetic)
            rows.append((f"{result} = {_flat(final, self.reading)}", "; ".join(arithmetic), ""))
        width = max(len(r[0]) for r in rows)
        return [f"{left:<{width}}   {right}{note}" for left, right, note in rows]


# -- the entry worked through -----------------------------------------------------------------
def _worked(net: _Net, target: _Target, index: tuple[int, ...]) -> str:
    """One entry of the gradient, by the matrix rule and as the engine's sum over paths."""
    li = target.layer
    n = fmt.number
    if target.kind == "weight":
        i, j = index
        node = net.params[li - 1][i][j]
        source = "x" if li == 1 else f"h{li - 1}"
        lines = [f"One entry worked through: dloss/d{node.label}, the weight from {source}[{i}] to "
                 f"{'h' + str(li) if li < net.L else 'y'}[{j}].",
                 f"   by the matrix rule: dloss/d{node.label} = {source}[{i}] · delta{li}[{j}] = "
                 f"{n(float(net.h[li - 1][i, 0]))} · {n(float(net.delta[li][j, 0]))} = {n(float(net.dW[li][i, j]))}"]
        unit = j
    else:
        unit = index[0]
        nodes = {"bias": net.biases[li - 1] if li else [], "z": net.z_nodes[li], "h": net.h_nodes[li],
                 "x": net.h_nodes[0], "y": net.h_nodes[net.L]}[target.kind]
        node = nodes[unit]
        lines = [f"One entry worked through: dloss/d{node.label}."]
    if target.kind in ("weight", "bias", "z") and li < net.L:
        terms = " + ".join(f"W{li + 1}[{unit}][{k}] · delta{li + 1}[{k}]" for k in range(net.sizes[li + 1]))
        lines.append(f"   where delta{li}[{unit}] = g{li}'[{unit}] · ({terms}): one term for each unit of layer {li + 1}, "
                     "and one path through each")
    t = autodiff.trace(net.loss, node)
    lines.append(f"   by the paths (autodiff.trace): {fmt.derivative('loss', node.label)} = sum over {t.count} "
                 f"path{'s' if t.count != 1 else ''} of the product of local derivatives")
    for k, path in enumerate(t.paths):
        if k >= _MAX_PATHS:
            lines.append(f"   ... {t.count - _MAX_PATHS} more paths")
            break
        factors = path.factors()
        lines.append(f"   path {k + 1}: {' · '.join(name for name, _ in factors)} = "
                     f"{' · '.join(n(v) for _, v in factors)} = {n(path.product)}")
    lines.append(f"   sum of the paths = {n(t.total)}")
    return "\n".join(lines)


# -- the check ----------------------------------------------------------------------------------
@dataclass
class _Attempt:
    """The formula evaluated in one reading and one storage convention."""

    reading: str
    convention: str
    evaluator: _Evaluator
    value: Any  # None when a step cannot be fixed
    expected: Any  # the engine's gradient in this layout
    match: str
    right: bool


def _attempt(formula: Formula, net: _Net, target: _Target, reading: str, convention: str) -> _Attempt:
    layer = max(target.layer, 1)
    space = _Space(net, reading, convention, layer, _aliases(net, layer))
    ev = _Evaluator(formula, space)
    value = ev.run()
    kind = "weight" if target.kind == "weight" else "vector"
    expected = _layout(_engine_gradient(net, target), kind, reading, convention)
    match = _compare(value, expected)
    return _Attempt(reading, convention, ev, value, expected, match, match == "equal" and not ev.misfits)


def _compare(value: Optional[Any], expected: Any) -> str:
    if value is None:
        return "incomparable"
    shape = np.shape(value)
    if shape == np.shape(expected):
        if _close(value, expected):
            return "equal"
        if np.ndim(expected) == 2 and shape[0] > 1 and _close(value, expected.T):
            return "transpose"
        return "different"
    if np.ndim(value) == 2 and np.ndim(expected) == 2 and shape == expected.T.shape:
        return "transpose" if _close(value, expected.T) else "different"
    return "incomparable"


def _to_canonical(value: Any, target: _Target, reading: str, convention: str) -> Optional[Any]:
    """The formula's value back in the canonical layout (columns, in x out), if its shape allows."""
    if value is None or np.ndim(value) == 0:
        return None
    v = np.asarray(value, dtype=float)
    if v.ndim == 1:
        v = v.reshape(-1, 1)
    if target.kind == "weight" and convention == OUT_X_IN:
        v = v.T
    return v


def check_formula(
    model: MLP,
    x: Sequence[float],
    target: Sequence[float],
    formula: str,
    wrt: str = "W1",
    convention: Optional[str] = None,
    notation: Optional[str] = None,
    loss: str = "mse",
) -> FormulaReport:
    """Check a learner's ``formula`` for the gradient of the loss by ``wrt`` on ``model`` at ``x``.

    ``wrt`` names a weight matrix (``W1``, or the seed's ``W_ij``), a bias vector (``b2``), a
    pre-activation (``z1``), an activation (``h1``), ``x`` or ``y``. ``convention`` is how the
    learner's weights are stored: ``"in x out"`` (this project: ``W1`` is nin x nout) or
    ``"out x in"`` (``torch.nn.Linear``); None tries both and says which it used (this project's,
    unless the formula is right, or only fits, the other way). ``notation`` is ``"textbook"`` or
    ``"numpy"``; None reads the formula's own marks and refuses a formula that could be either.
    ``loss`` is ``"mse"`` or ``"sse"`` (:func:`nn.mse_loss`, :func:`nn.sse_loss`). The model is not
    changed (no ``.grad`` is touched). Unreadable input raises :class:`~nn.formula.FormulaError`.

    >>> import nn
    >>> model = nn.MLP(2, [3, 2], seed=0)
    >>> r = check_formula(model, [0.5, -1.0], [1.0, 0.0], "delta1 * x^T", convention="in x out")
    >>> r.match, r.mistakes
    ('transpose', ['outer product in the wrong order'])
    """
    _need_numpy()
    if not isinstance(model, MLP):
        raise TypeError(f"check_formula needs an nn.MLP, not {type(model).__name__}")
    if loss not in _LOSSES:
        raise ValueError(f"loss must be 'mse' or 'sse', not {loss!r}")
    xs, ts = _numbers(x, "x", model.nin), _numbers(target, "target", model.sizes[-1])
    conventions = _conventions(convention)
    if notation not in (None, TEXTBOOK, NUMPY):
        raise ValueError(f"notation must be 'textbook', 'numpy' or None, not {notation!r}")
    parsed = parse_formula(formula)
    net = _Net(model, xs, ts, loss)
    goal = _target(net, wrt)
    if parsed.target is not None:
        named = _target(net, parsed.target)
        if named != goal:
            raise FormulaError(f"the formula's left side is d.../d{parsed.target} ({named.name}), but wrt is {wrt} "
                               f"({goal.name}): pass wrt={parsed.target!r}")
    marked = parsed.notation if notation is None else None  # marks of both: refused unless told which
    if notation is None and marked is None:
        reading, why = _choose_notation(parsed, net, goal, conventions)
    elif notation is None:
        reading, why = marked or TEXTBOOK, _marks_text(parsed)
    else:
        reading, why = notation, "as asked"
        if notation == NUMPY and "juxtaposition" in parsed.marks:
            raise FormulaError("two values side by side are a product in textbook notation only: in numpy notation write @ or *")
    attempts = [_attempt(parsed, net, goal, reading, c) for c in conventions]
    chosen = _choose(attempts)
    return _report(parsed, model, net, goal, chosen, attempts, why, xs, ts)


def _numbers(values: Sequence[float], what: str, size: int) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a list of {size} numbers, not {values!r}") from None
    if len(out) != size:
        raise ValueError(f"{what} must have {size} numbers (the network's {'inputs' if what == 'x' else 'outputs'}), not {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what} must be finite numbers, not {values!r}")
    return out


def _conventions(convention: Optional[str]) -> list[str]:
    if convention is None:
        return [IN_X_OUT, OUT_X_IN]
    key = convention.lower().replace("×", "x").strip() if isinstance(convention, str) else None
    if key not in _CONVENTIONS:
        raise ValueError(f"convention must be 'in x out' (this project's storage) or 'out x in' (torch.nn.Linear's), not {convention!r}")
    return [_CONVENTIONS[key]]


def _marks_text(parsed: Formula) -> str:
    marks = ", ".join("a juxtaposition" if m == "juxtaposition" else m for m in parsed.marks)
    return f"because of its {marks}"


def _gradient_text(net: _Net, goal: _Target, convention: str) -> str:
    """The engine's gradient as a labelled matrix (rows and columns named by their units)."""
    li = goal.layer
    grad = _engine_gradient(net, goal)
    if goal.kind == "weight":
        rows = [f"x[{i}]" if li == 1 else f"h{li - 1}[{i}]" for i in range(grad.shape[0])]
        cols = [f"h{li}[{j}]" if li < net.L else f"y[{j}]" for j in range(grad.shape[1])]
        if convention == OUT_X_IN:
            grad, rows, cols = grad.T, cols, rows
    else:
        rows = [_vector_label(net, goal, j) for j in range(grad.shape[0])]
        cols = [""]
    title = f"dloss/d{goal.name}"
    if grad.shape[0] > _MAX_SIDE or grad.shape[1] > _MAX_SIDE:  # a corner of a large one
        title += f" ({_shape_text(grad.shape)}), its top left corner"
        grad, rows, cols = grad[:_MAX_SIDE, :_MAX_SIDE], rows[:_MAX_SIDE], cols[:_MAX_SIDE]
    return matrix_text(title, grad.tolist(), rows, cols)


def _choose(attempts: list[_Attempt]) -> _Attempt:
    """The storage convention to report in: where the formula is right, else where it fits, else the first."""
    for test in (lambda a: a.right, lambda a: not a.evaluator.misfits and a.match != "incomparable"):
        for a in attempts:
            if test(a):
                return a
    return attempts[0]


def _choose_notation(parsed: Formula, net: _Net, goal: _Target, conventions: list[str]) -> tuple[str, str]:
    """A formula with no mark of either notation: the readings agree unless * joins two arrays."""
    textbook = [_attempt(parsed, net, goal, TEXTBOOK, c) for c in conventions]
    star = next((n for a in textbook for n in a.evaluator.ambiguous), None)
    if star is None:
        return TEXTBOOK, "the two notations read it alike: no * between two arrays"
    numpy = [_attempt(parsed, net, goal, NUMPY, c) for c in conventions]

    def outcome(attempts: list[_Attempt]) -> str:
        best = _choose(attempts)
        if best.right:
            return f"it is right ({_shape_text(np.shape(best.value), best.reading)})"
        if best.evaluator.misfits:
            return f"a step does not fit: {best.evaluator.misfits[0].step}"
        return f"it yields {_shape_text(np.shape(best.value), best.reading)}, not the gradient"

    part = parsed.part(star)
    raise FormulaError(
        f"ambiguous: in {part}, * joins two arrays; textbook notation reads it as the matrix product "
        f"(then {outcome(textbook)}), numpy notation as elementwise (then {outcome(numpy)}); "
        "say which with notation='textbook' or notation='numpy' (--notation), or write @ for the matrix product "
        "or ⊙ for elementwise"
    )


def _reading_text(reading: str, why: str, parsed: Formula, ev: _Evaluator, net: _Net, layer: int) -> str:
    if reading == TEXTBOOK:
        text = (f"Read as textbook notation ({why}): vectors are columns (x is {net.sizes[0]}x1), * and a juxtaposition "
                "are the matrix product (a number scales), ⊙ is elementwise, ^T a transpose")
    else:
        text = (f"Read as numpy notation ({why}): vectors are 1-D (x is ({net.sizes[0]},)), @ is the matrix product, "
                "* is elementwise with broadcasting, .T a transpose")
    if any(n in _GENERIC_G for n in ev.used) or any(n in ("delta", "δ") for n in ev.used):
        text += f"; g' is {net.activations[layer]}', the derivative of the activation at layer {layer}, the layer in question"
    return text + "."


def _quantity_lines(ev: _Evaluator, net: _Net, reading: str, convention: str) -> list[str]:
    """What each name the formula reads stands for, with its shape in this layout."""
    out: list[str] = []
    for name in dict.fromkeys(ev.used):
        shown = name[3:] + "'" if name.startswith("_d_") else name
        if name in ev.called:
            act = _layer_activation(net, name[3:], ev.space.layer)
            out.append(f"{shown}(...) = {act}'(...)")
            continue
        q = ev.space.names.get(name)
        if q is None:
            continue
        value = _layout(_canonical(net, q.key), q.kind, reading, convention)
        key = f"g{q.key[2:]}'" if q.key.startswith("g'") else q.key  # g'1 is written g1'
        label = shown if shown == key else f"{shown} = {key}"
        out.append(f"{label} ({_shape_text(tuple(np.shape(value)), reading)}, {q.meaning})")
    return out


def _entries(net: _Net, goal: _Target, attempt: _Attempt) -> tuple[list[Entry], Optional[tuple[int, ...]]]:
    """The gradient entry by entry against the formula's, and the first entry that differs."""
    expected = _engine_gradient(net, goal)
    mine = _to_canonical(attempt.value, goal, attempt.reading, attempt.convention)
    if mine is not None and attempt.match == "transpose" and goal.kind == "weight":
        mine = mine.T  # compare each entry with the entry it stands for
    elif mine is not None and attempt.match == "transpose":
        mine = mine.reshape(expected.shape)
    comparable = mine is not None and mine.shape == expected.shape and attempt.match != "incomparable"
    entries: list[Entry] = []
    first: Optional[tuple[int, ...]] = None
    for index in np.ndindex(*expected.shape):
        if goal.kind == "weight":
            name = net.params[goal.layer - 1][index[0]][index[1]].label
            if attempt.convention == OUT_X_IN:
                name = f"[{index[1]}][{index[0]}] = {name}"
        else:
            name = _vector_label(net, goal, index[0])
        engine = float(expected[index])
        yours = float(mine[index]) if comparable and mine is not None else None
        equal = yours is not None and _close(np.array(yours), np.array(engine))
        if not equal and first is None and yours is not None:
            first = index if goal.kind == "weight" else (index[0],)
        entries.append(Entry(name, yours, engine, equal))
    return (entries if comparable else []), first


def _numbers_text(values: Sequence[float]) -> str:
    return "[" + ", ".join(fmt.number(v) for v in values) + "]"


def _vector_label(net: _Net, goal: _Target, j: int) -> str:
    li = goal.layer
    return {"bias": f"b{li}[{j}]", "z": f"z{li}[{j}]" if net.activations[li] != "linear" else f"y[{j}]",
            "h": f"h{li}[{j}]", "x": f"x[{j}]", "y": f"y[{j}]"}[goal.kind]


def _structure(parsed: Formula, ev: _Evaluator, net: _Net, goal: _Target, space: dict[str, _Quantity], right: bool) -> list[Finding]:
    """Mistakes seen in the formula's form: g' in a matrix product; (when it is wrong) the
    product of one path's factors, multiplied as matrices, with no sum over the paths."""
    found = [Finding("g' multiplied as a matrix", f"{ev.gprime_products[0]}; g'(z) scales each unit's gradient, "
                     "so it multiplies elementwise (⊙, or diag(g') *)")] if ev.gprime_products else []
    leaves = _product_leaves(parsed.tree)
    if leaves is None or right:
        return found
    kinds = sorted(_leaf_kind(leaf, space) for leaf in leaves)
    li, L = goal.layer, net.L
    if goal.kind != "weight":
        return found
    path = [f"h{li - 1}" if li > 1 else "x"] + [f"W{m}" for m in range(li + 1, L + 1)]
    path += ["g'" for m in range(li, L + 1) if net.activations[m] != "linear"] + ["err"]
    paths = math.prod(net.sizes[li:L + 1]) // net.sizes[li]
    if kinds == sorted(path) and paths > 1:
        units = "jkmnpqrs"  # the unit a path passes through in layers li, li + 1, ...
        factors = [f"{_input(li)}[i]"]
        for m in range(li, L + 1):
            u = units[m - li] if m - li < len(units) else f"u{m}"
            if m > li:
                factors.append(f"W{m}[{units[m - li - 1]}][{u}]")
            if net.activations[m] != "linear":
                factors.append(f"g{m}'[{u}]")
        last = units[L - li] if L - li < len(units) else f"u{L}"
        factors.append(f"err[{last}]")
        found.append(Finding("one path", f"entry by entry, the formula is the product along ONE path from W{li}[i][j] to the "
                             f"loss, {' · '.join(factors)}; the gradient is the sum of that product over all {paths} "
                             f"paths (over {', '.join(units[1:L - li + 1])}), and the matrix product with W{li + 1} is what sums them"))
    return found


def _product_leaves(node: ast.AST) -> Optional[list[ast.AST]]:
    """The factors of a formula that is only products (and transposes) of names and g'(...) calls."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.MatMult)):
        left, right = _product_leaves(node.left), _product_leaves(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Attribute):
        return _product_leaves(node.value)
    if isinstance(node, ast.Name) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and derivative_of(node.func.id)):
        return [node]
    return None


def _leaf_kind(node: ast.AST, space: dict[str, _Quantity]) -> str:
    if isinstance(node, ast.Call) or (isinstance(node, ast.Name) and node.id.startswith("_d_")):
        return "g'"
    assert isinstance(node, ast.Name)
    q = space.get(node.id)
    if q is None:
        return node.id
    return "g'" if q.key.startswith("g'") else q.key.replace("h0", "x")


def _probe(model: MLP, xs: list[float], ts: list[float], loss: str) -> _Net:
    """The same network with other numbers: weights, nonzero biases, x and t drawn from a fixed seed.

    A formula can be right on one network by chance (biases that start at 0 hide a forgotten
    bias; a relu with every unit on hides a missing g'): it must be right here too."""
    rng = random.Random(1234)
    other = copy.deepcopy(model)
    for p in other.parameters():
        p.data = rng.uniform(-1.0, 1.0)
    x = [rng.uniform(-1.0, 1.0) for _ in xs]
    t = [rng.uniform(-1.0, 1.0) for _ in ts]
    return _Net(other, x, t, loss)


def _report(parsed: Formula, model: MLP, net: _Net, goal: _Target, chosen: _Attempt, attempts: list[_Attempt],
            why: str, xs: list[float], ts: list[float]) -> FormulaReport:
    ev, reading, convention = chosen.evaluator, chosen.reading, chosen.convention
    layer = max(goal.layer, 1)
    space = ev.space.names
    findings: list[Finding] = []
    if ev.misfits and ev.misfits[0].fix is not None:  # the later ones may only follow from the first
        misfit = ev.misfits[0]
        findings.append(Finding(misfit.mistake, f"{misfit.step} needs {misfit.fix}"))
    findings += _structure(parsed, ev, net, goal, space, chosen.right)
    correct = _engine_gradient(net, goal)
    mine = _to_canonical(chosen.value, goal, reading, convention)
    top = parsed.tree  # an outer product at the top: u * v^T, np.outer(u, v)
    outer = (isinstance(top, ast.BinOp) and isinstance(top.op, (ast.Mult, ast.MatMult))) or (
        isinstance(top, ast.Call) and isinstance(top.func, ast.Name) and top.func.id == "outer")
    bias = goal.kind == "bias"
    if mine is not None and not chosen.right:  # (with the fixes of the misfits, if any)
        findings += _name_mistake(mine, correct, _variants(net, goal), outer, bias)
    notes = list(dict.fromkeys(ev.notes))
    ok = chosen.right
    if ok:  # right here: right on another network too?
        probe = _probe(model, xs, ts, net.loss_name)
        again = _attempt(parsed, probe, goal, reading, convention)
        if not again.right:
            ok = False
            mine2 = _to_canonical(again.value, goal, reading, convention)
            named = _name_mistake(mine2, _engine_gradient(probe, goal), _variants(probe, goal), outer, bias) if mine2 is not None else []
            reason = ", ".join(f.mistake for f in named) or "a slip this network hides"
            findings.append(Finding("right by coincidence", f"the numbers agree on this network, but not on the same network "
                                    f"with other weights, nonzero biases and another x ({reason})"))
            findings += named
    seen: set[str] = set()
    findings = [f for f in findings if not (str(f) in seen or seen.add(str(f)))]  # type: ignore[func-returns-value]
    entries, first = _entries(net, goal, chosen)
    seed_names = any(n in parsed.body for n in ("W_ij", "W_jk", "W_{ij}", "W_{jk}"))
    generic = any(n in _GENERIC_G for n in ev.used)
    writer = _Writer(net, reading, convention, seed_names, generic, layer)
    right = writer.gradient(goal)
    wrt_shown = parsed.target or (goal.name if not seed_names or goal.kind != "weight" else f"W_{_LETTERS[goal.layer - 1]}{_LETTERS[goal.layer]}")
    result = f"dE/d{wrt_shown}"
    lines = [f"The right formula ({reading} notation, W stored {convention}), each factor's shape under it:",
             _with_shapes(f"   {result} = ", right, reading)]
    if goal.kind != "y":
        lines += ["   step by step:"] + ["     " + line for line in writer.steps(goal, result)]
    if any(f.mistake == "forgotten bias" for f in findings):
        lines.append(f"   where z{layer} = W{layer}^T * {_input(layer)} + b{layer}: g' is taken at the pre-activation, bias included")
    correct_text = "\n".join(lines)
    worked = _worked(net, goal, first or tuple(0 for _ in np.shape(correct)))
    expected = {c: tuple(np.shape(_layout(correct, "weight" if goal.kind == "weight" else "vector", reading, c)))
                for c in (IN_X_OUT, OUT_X_IN)}
    header = (f"Checking {parsed.text}\n  as dloss/d{goal.name} on MLP {net.sizes} "
              f"({', '.join(dict.fromkeys(net.activations[1:-1])) or 'no hidden layer'} hidden, "
              f"{net.activations[-1]} output), x = {_numbers_text(xs)}, target = {_numbers_text(ts)}, loss {net.loss_name}")
    reading_text = _reading_text(reading, why, parsed, ev, net, layer)
    storage = f"Storage: {convention}"
    if goal.kind == "weight" or any(q.kind == "weight" for n, q in space.items() if n in ev.used):
        w = _layout(net.W[layer], "weight", reading, convention)
        storage += f" (W{layer} is {_shape_text(w.shape)}: rows = {'inputs' if convention == IN_X_OUT else 'outputs'} of the layer)"
        storage += ", as this project stores weights" if convention == IN_X_OUT else ", as torch.nn.Linear stores weights"
        others = [a for a in attempts if a is not chosen]
        if others and chosen.right:
            storage += f"; stored {others[0].convention} the formula is {'right too' if others[0].right else 'not right'}"
        elif len(attempts) > 1:
            storage += "; the other storage convention does no better"
    reading_text += "\n" + storage + "."
    return FormulaReport(
        formula=parsed.text,
        wrt=goal.name,
        notation=reading,
        convention=convention,
        reading=reading_text,
        quantities=_quantity_lines(ev, net, reading, convention),
        misfits=list(ev.misfits),
        shape=None if chosen.value is None else tuple(np.shape(chosen.value)),
        expected=expected,
        match=chosen.match,
        entries=entries,
        findings=findings,
        correct=correct_text,
        worked=worked,
        ok=ok,
        header=header,
        notes=notes,
        gradient=_gradient_text(net, goal, convention),
    )


# -- the command line -------------------------------------------------------------------------
def add_check_command(subparsers: Any, parents: Sequence[Any] = ()) -> Any:
    """Add the ``check`` subcommand to ``subparsers`` (what ``argparse``'s ``add_subparsers()``
    returns) and return its parser. ``parents`` are parent parsers whose options it takes, such as
    nn/cli.py's network options (``--seed --activation --x --target``); an option none of them has
    is added here. Its handler is :func:`run_check`, set as ``run``."""
    p = subparsers.add_parser(
        "check", parents=list(parents), help="check your own backprop formula against the engine",
        description="Check a formula for a gradient, written as in a textbook or in numpy: where its shapes break, "
        "whether its numbers equal the engine's, which classic mistake it makes, and the right formula. With --expr, "
        "check a scalar derivative instead. Exits 0 when the formula is right, 1 when it is wrong, 2 on bad input.")
    p.add_argument("formula", nargs="?", metavar="FORMULA", help="for example \"x * ((W_jk * err) ⊙ g'(z1))^T\"")
    p.add_argument("--wrt", metavar="NAME", help="what the gradient is by: W1 (the default), b2, h1, W_jk...; with --expr, an input")
    p.add_argument("--convention", choices=[IN_X_OUT, OUT_X_IN], help="how weights are stored (default: try both, say which)")
    p.add_argument("--notation", choices=[TEXTBOOK, NUMPY], help="how to read * (default: from the formula's own marks)")
    p.add_argument("--loss", choices=sorted(_LOSSES), default="mse", help="the loss (default mse)")
    p.add_argument("--sizes", nargs="+", metavar="N", help="the MLP's layer sizes, inputs first (default 2 3 2)")
    have = {option for parent in parents for action in parent._actions for option in action.option_strings}
    mine = [("--seed", dict(type=int, default=0, help="initialisation seed (default 0)")),
            ("--activation", dict(choices=["tanh", "relu", "sigmoid"], default="tanh", help="hidden activation (default tanh)")),
            ("--x", dict(nargs="+", metavar="X", help="the input (default 0.5 -1)")),
            ("--target", dict(nargs="+", metavar="T", help="the target (default 1 0)")),
            ("--expr", dict(metavar="TEXT", help="a scalar formula instead of the network, for example \"tanh(a*b)\"")),
            ("--set", dict(nargs="+", metavar="NAME=NUMBER", default=[], help="with --expr: its inputs' values, a=1 b=2"))]
    for option, settings in mine:
        if option not in have:
            p.add_argument(option, **settings)  # type: ignore[arg-type]
    p.set_defaults(run=run_check)
    return p


def run_check(args: Any) -> int:
    """Run ``autodiff check`` on the parsed ``args`` (an ``argparse`` namespace): print the
    report, and return the exit status as ``diff`` and ``cmp`` do: 0 when the formula is right, 1
    when it is wrong (after the diagnosis), 2 on bad input (one line on stderr)."""
    try:
        formula = _formula_argument(args)
        if getattr(args, "expr", None) is not None:
            from autodiff.derivative import check_derivative

            if not args.wrt:
                raise FormulaError("with --expr, say which input to differentiate by: --wrt NAME")
            values = _assignments(args.set)
            result: Any = check_derivative(args.expr, wrt=args.wrt, mine=formula, at=values or None)
        else:
            if getattr(args, "set", None):
                raise FormulaError("--set goes with --expr")
            sizes = [int(n) for n in _numbers_of(args.sizes, "--sizes")] if args.sizes else [2, 3, 2]
            if len(sizes) < 2 or any(n < 1 for n in sizes):
                raise FormulaError(f"--sizes needs at least two positive whole numbers (inputs, then each layer), not {sizes}")
            x = _vector(args.x, [0.5, -1.0], sizes[0], "--x")
            t = _vector(args.target, [1.0, 0.0], sizes[-1], "--target")
            model = MLP(sizes[0], sizes[1:], activation=args.activation, seed=args.seed)
            result = check_formula(model, x, t, formula, wrt=args.wrt or "W1", convention=args.convention,
                                   notation=args.notation, loss=args.loss)
    except (ExprError, ValueError, ArithmeticError, TypeError, ImportError) as exc:
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        print(f"autodiff check: error: {fmt.printable(message)}", file=sys.stderr)
        return 2
    print(result)
    return 0 if result.ok else 1


def _formula_argument(args: Any) -> str:
    """The FORMULA argument. An option taking several values (``--set a=1 b=2 "FORMULA"``) swallows
    a formula written after it: take it back from the end of that option's values."""
    if args.formula is not None:
        return str(args.formula)
    for option in ("set", "x", "target", "sizes"):
        values = getattr(args, option, None)
        if isinstance(values, list) and values and isinstance(values[-1], str) and not _is_value(values[-1], option):
            return str(values.pop())
    raise FormulaError("give the formula to check, for example: autodiff check --wrt W1 \"x * delta1^T\"")


def _is_value(text: str, option: str) -> bool:
    if option == "set":
        name, sep, number = text.partition("=")
        text = number if sep and name.isidentifier() else "not a number"
    try:
        float(text)
        return True
    except ValueError:
        return False


def _numbers_of(values: Sequence[Any], option: str) -> list[float]:
    out = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise FormulaError(f"{option}: not a number: {v!r}") from None
        if not math.isfinite(number):
            raise FormulaError(f"{option}: not a finite number: {v!r}")
        out.append(number)
    return out


def _vector(given: Optional[Sequence[Any]], default: list[float], size: int, option: str) -> list[float]:
    values = default if given is None else _numbers_of(given, option)
    if len(values) != size:
        raise FormulaError(f"{option} needs {size} numbers for this network, not {len(values)}")
    return values


def _assignments(pairs: Sequence[Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for pair in pairs:
        if isinstance(pair, tuple):  # nn/cli.py's --set parses NAME=NUMBER itself
            name, number = pair
        else:
            name, sep, text = str(pair).partition("=")
            if not sep or not name.isidentifier():
                raise FormulaError(f"--set expects NAME=NUMBER, got {pair!r}")
            number = _numbers_of([text], f"--set {name}")[0]
        if name in values:
            raise FormulaError(f"--set gives {name} twice")
        values[name] = float(number)
    return values
