"""Lifting: the matrix program inside a traced scalar graph, found from the graph and run with numpy.

A scalar engine records one layer of a network as hundreds of nodes: a product ``W1[i][j] * x[i]``
for every weight, a sum for every unit, an activation for every unit. :class:`LiftedProgram`
finds, from the graph alone (which nodes share operands, which op made them, which leaves they
reach; never from ``nn``'s labels or scopes), the groups of nodes that are one array operation,
and runs forward and backward as numpy float64 arrays:

* the weighted sums of a layer over the same inputs (a neuron's ``sum`` node, or a hand-built
  chain of ``+``): one matrix product ``z = x @ W + b``, ``W`` gathered from the weights' Values;
* the same op on every unit of a layer (``tanh``, ``relu``, ``y - t``, ``** 2``): one elementwise
  op, its slope read from the rule table (:data:`autodiff.ops.RULES`), as the scalar engine's is;
* a sum over the units (a loss adding its squared errors): one reduction;
* the same program repeated over samples: the rows of every array. The rows come from
  :meth:`~autodiff.compile.Program.batch`'s samples, or, for a graph traced over a whole batch,
  from the copies of one layer that share its weights; sums over samples (a weight's gradient,
  a batch loss) are the reductions and matrix products over those rows.

What fits none of these stays a scalar op: one column, still run over all the samples at once.
A graph with nothing to lift runs as the scalar :class:`~autodiff.compile.Program` does.

>>> import autodiff, nn
>>> model = nn.MLP(2, [3, 2], seed=0)
>>> def loss(xs):
...     for k, t in enumerate(xs[2:]):
...         t.label = f"t[{k}]"
...     return nn.sse_loss(model(xs[:2]), xs[2:])
>>> prog = autodiff.compile(loss, 4, lift=True)
>>> print(prog.equations(batch=100).split("backward")[0])
lifted program (batch of 100):
forward
  z1 = x @ W1 + b1
       (100x2) @ (2x3) + (3) = 100x3
  h1 = tanh(z1)
       100x3
  y = h1 @ W2 + b2
       (100x3) @ (3x2) + (2) = 100x2
  v1 = y - t
       100x2
  v2 = v1 ** 2
       100x2
  v3 = sum(v2, axis=1)
       100x1
  loss = v3 * 0.5
       100x1
<BLANKLINE>
"""

from __future__ import annotations

import ast
import re
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

try:
    import numpy as np
except ImportError as error:  # pragma: no cover - numpy is a dependency from Python 3.11 on
    raise ImportError("lifting (autodiff.compile(..., lift=True)) runs on numpy arrays: install numpy, or the "
                      "extra autodiff-seethrough[lift] (numpy is a dependency from Python 3.11 on)") from error

from . import fmt
from .compile import Program, _fold, _literal, _number, _send
from .ops import RULES, Rule
from .state import current as _switches
from .value import Value, _real

__all__ = ["LiftedProgram", "Equation", "JaxFunction"]

if TYPE_CHECKING:
    from .render import Graph

_compile = compile  # the builtin (this module has no compile of its own, but reads like compile.py)

#: A sum of at most this many terms is written as that many adds, left to right, as the eager
#: engine adds them (so the result is the same float); a longer one is one numpy reduction.
SMALL_SUM = 16

Grid = list[list[int]]  # rows x columns of slots (indexes into Program.slots)


class _Refer(Exception):
    """A lifted run met an operand outside an op's domain: the scalar program runs instead, to
    raise the engine's own error naming the op and the labels (or to compute it, if it does not)."""


# -- the rule table's text, run on arrays ---------------------------------------------------------
class _Vectorize(ast.NodeTransformer):
    """Rewrites a rule expression for arrays: ``a if c else b`` -> ``_where(c, a, b)``, ``not``,
    ``and``, ``or`` -> their elementwise functions. The text is the rule table's, never user input."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        test = node.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            # ``a if not c else b`` is ``b if c else a``: the same choice, one array op fewer (relu)
            node = ast.IfExp(test.operand, node.orelse, node.body)
        self.generic_visit(node)
        return ast.Call(ast.Name("_where", ast.Load()), [node.test, node.body, node.orelse], [])

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return ast.Call(ast.Name("_not", ast.Load()), [node.operand], [])
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        name = "_and" if isinstance(node.op, ast.And) else "_or"
        result = node.values[0]
        for value in node.values[1:]:
            result = ast.Call(ast.Name(name, ast.Load()), [result, value], [])
        return result


def _vector(text: str) -> str:
    """A rule expression (operands substituted) as numpy code over arrays."""
    tree = _Vectorize().visit(ast.parse(text, mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


def _sigmoid(a: Any) -> Any:
    # The scalar rule's two branches, elementwise: the same floats, and neither can overflow.
    positive = a >= 0
    e = np.exp(np.where(positive, -a, a))
    return np.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))


def _dpower(a: Any, k: Any) -> Any:
    # d(a**k)/da = k * a**(k-1); 0 where k is 0; inf where a is 0 and 0 < k < 1 (numpy's 0**-0.5).
    if isinstance(k, float):  # a ``**`` node's constant exponent: decided once, not per element
        if k == 2.0:
            return 2.0 * a  # a ** 1.0 is a, exactly
        return np.zeros_like(a) if k == 0 else k * np.power(a, k - 1.0)
    return np.where(np.equal(k, 0), 0.0, k * np.power(a, np.subtract(k, 1)))


def _is_integer(k: Any) -> Any:
    return np.isfinite(k) & np.equal(np.floor(k), k)


#: The names generated code may use: numpy's versions of the rule table's functions, and helpers.
_NAMESPACE: dict[str, Any] = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "power": np.power,
    "dpower": _dpower,
    "is_integer": _is_integer,
    "_where": np.where,
    "_not": np.logical_not,
    "_and": np.logical_and,
    "_or": np.logical_or,
    "_any": np.any,
    "_sum": np.add.reduce,
    "_empty": np.empty,
    "_zeros": np.zeros,
    "_full": np.full,
    "_concat": np.concatenate,
    "_broadcast": np.broadcast_to,
    "_add_at": np.add.at,
    "_Refer": _Refer,
    "float": float,
}


# -- the graph, as the lifter reads it -------------------------------------------------------------
class _Graph:
    """The traced graph: each op node's op and operands, with a chain of ``+`` (or ``sum``) folded
    into one ``sum`` where the inner sums feed nothing else (``w0*x0 + w1*x1 + b`` is a neuron's
    sum), which nodes depend on a sample's inputs (``batched``) and each node's depth (the longest
    path from a leaf: every edge goes deeper, so groups of equally deep nodes never form a cycle)."""

    def __init__(self, prog: Program) -> None:
        self.values = prog.slots
        n = len(self.values)
        inputs = {prog._slot[id(x)] for x in prog.inputs}
        self.outputs = [prog._slot[id(o)] for o in prog.outputs]
        self.kind = [
            "op" if v.parents else "input" if i in inputs else "const" if v.is_constant else "param"
            for i, v in enumerate(self.values)
        ]
        self.uses = [0] * n
        for ins in prog.instructions:
            for o in ins.operands:
                self.uses[o] += 1
        kept = set(self.outputs)
        self.op: dict[int, str] = {}
        self.arg: dict[int, Optional[float]] = {}
        self.operands: dict[int, list[int]] = {}
        self.folded: dict[int, list[int]] = {}  # a sum node -> the inner sums folded into it
        absorbed: set[int] = set()
        order = []
        for ins in prog.instructions:
            i = ins.out
            if ins.op in ("+", "sum"):
                terms: list[int] = []
                folded: list[int] = []
                for o in ins.operands:
                    if self.op.get(o) == "sum" and self.uses[o] == 1 and o not in kept:
                        # the inner sum's lists are taken over, not copied: a chain of n additions
                        # (Python's sum() over a batch) folds in O(n), not O(n^2)
                        inner, inner_folded = self.operands.pop(o), self.folded.pop(o, [])
                        if terms:
                            terms.extend(inner)
                        else:
                            terms = inner
                        if folded:
                            folded.extend(inner_folded)
                        else:
                            folded = inner_folded
                        folded.append(o)
                        absorbed.add(o)
                    else:
                        terms.append(o)
                self.op[i], self.arg[i], self.operands[i] = "sum", None, terms
                if folded:
                    self.folded[i] = folded
            else:
                self.op[i], self.arg[i], self.operands[i] = ins.op, ins.arg, list(ins.operands)
            order.append(i)
        self.order = [i for i in order if i not in absorbed]  # op nodes, parents first
        self.absorbed = absorbed
        self.batched = [k == "input" for k in self.kind]
        self.depth = [0] * n
        for i in self.order:
            operands = self.operands[i]
            self.batched[i] = any(self.batched[o] for o in operands)
            self.depth[i] = 1 + max(self.depth[o] for o in operands)
        self.users: dict[int, list[tuple[int, int]]] = {}
        for i in self.order:
            for k, o in enumerate(self.operands[i]):
                self.users.setdefault(o, []).append((i, k))

    def key(self, i: int) -> tuple[str, Any]:
        """What a leaf stands for: a constant by its number (each sample of a batch has its own
        Constant nodes of the same value), anything else by its slot."""
        return ("c", self.values[i].data) if self.kind[i] == "const" else ("n", i)


class _Unit:
    """A weighted sum: ``sum_i ws[i] * xs[i] (+ bias) (+ residuals)``, the ``xs`` per-sample values,
    the weights anything that is not (parameters, constants, values computed from them)."""

    __slots__ = ("node", "xs", "ws", "products", "bias", "residuals")

    def __init__(self, node: int, xs: list[int], ws: list[int], products: list[int], bias: Optional[int],
                 residuals: list[int]) -> None:
        self.node, self.xs, self.ws, self.products, self.bias, self.residuals = node, xs, ws, products, bias, residuals


def _units(g: _Graph) -> dict[int, _Unit]:
    """Every sum node with at least one product of a per-sample value and a weight, each product
    feeding only that sum, each per-sample value once: a unit of a (possibly hand-built) layer."""
    units = {}
    kept = set(g.outputs)
    for s in g.order:
        if g.op[s] != "sum" or not g.batched[s]:
            continue
        xs, ws, products, residuals = [], [], [], []
        bias: Optional[int] = None
        for t in g.operands[s]:
            if g.op.get(t) == "*" and g.uses[t] == 1 and t not in kept:
                a, b = g.operands[t]
                if g.batched[a] != g.batched[b]:
                    x, w = (a, b) if g.batched[a] else (b, a)
                    xs.append(x)
                    ws.append(w)
                    products.append(t)
                    continue
            if not g.batched[t] and bias is None:
                bias = t
                continue
            residuals.append(t)
        if xs and len(set(xs)) == len(xs):
            units[s] = _Unit(s, xs, ws, products, bias, residuals)
    return units


# -- the arrays of the lifted program ---------------------------------------------------------------
class _Array:
    """One array of the lifted program: a grid of the scalar nodes it computes (rows: copies over
    samples, columns: units). A batched array holds ``rows`` rows per sample of the call."""

    def __init__(self, index: int, kind: str, grid: Grid, batched: bool, op: Optional[str] = None,
                 arg: Optional[float] = None, operands: Sequence[Grid] = ()) -> None:
        self.index, self.kind, self.grid, self.batched = index, kind, grid, batched
        self.rows, self.cols = len(grid), len(grid[0])
        self.op, self.arg = op, arg
        self.grids: list[Optional[Grid]] = list(operands)  # affine: x, W, bias (or None), residuals...
        self.operands: list[Optional[_Operand]] = []
        self.name = ""
        self.replaced: list[int] = []  # the scalar nodes it stands for, beyond its own grid

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def shape_code(self) -> str:
        rows = ("B" if self.rows == 1 else f"B * {self.rows}") if self.batched else str(self.rows)
        return f"({rows}, {self.cols})"


class _Operand:
    """Where an op's operand comes from, and how it is read:

    ``same`` an array as it is; ``cols`` some of an array's columns, row for row; ``column`` one
    column of an array, broadcast over the op's columns; ``theta`` a block of parameters (read
    from the Values at each call); ``const`` numbers fixed at trace time; ``gather`` anything
    else, assembled piece by piece. A shared (not per-sample) operand whose rows are all alike is
    one row, broadcast over the samples; ``tile`` marks one whose rows differ, repeated per sample.
    """

    def __init__(self, grid: Grid, mode: str, batched: bool) -> None:
        self.grid, self.mode, self.batched = grid, mode, batched
        self.rows, self.cols = len(grid), len(grid[0])
        self.source: Optional[_Array] = None
        self.columns: list[int] = []
        self.segment = -1
        self.value: Union[float, np.ndarray, None] = None
        self.parts: list[tuple[Any, ...]] = []
        self.tile = False
        self.matrix = False  # a weight matrix: read as it is, never broadcast over samples
        self.name = ""  # its name in the printed equations
        self.alias = ""  # a parameter block it reads in another layout (``W1`` for ``W1.reshape(1, 6)``)


class Equation:
    """One line of a lifted program: ``name = formula``, the shapes it works on, and what it stands for.

    ``nodes`` are the scalar Values whose numbers it computes, as a grid (rows, then columns), for
    a forward equation; ``replaced`` adds the nodes it made unnecessary (a layer's products and
    partial sums). A backward equation's ``nodes`` are the Values whose gradients it holds.
    """

    def __init__(self, name: str, formula: str, shape: Callable[[Optional[int]], str],
                 nodes: list[list[Value]], replaced: list[Value]) -> None:
        self.name, self.formula, self._shape = name, formula, shape
        self.nodes, self.replaced = nodes, replaced

    def shapes(self, batch: Optional[int] = None) -> str:
        """The shapes, for a call on ``batch`` samples (``N`` when None): ``(100x2) @ (2x3) + (3) = 100x3``."""
        return self._shape(batch)

    def __str__(self) -> str:
        return f"{self.name} = {self.formula}"

    def __repr__(self) -> str:
        return f"<Equation {self}>"


def _dims(rows: int, batched: bool, batch: Optional[int]) -> str:
    if not batched:
        return str(rows)
    if batch is None:
        return "N" if rows == 1 else f"{rows}N"
    return str(batch * rows)


def _plain_shape(rows: int, cols: int, batched: bool) -> Callable[[Optional[int]], str]:
    """The shape of an elementwise result: ``100x3`` (``N`` rows per sample when the batch is not given)."""
    return lambda batch: f"{_dims(rows, batched, batch)}x{cols}"


def _affine_shape(rows: int, n_in: int, cols: int, bias: bool) -> Callable[[Optional[int]], str]:
    """The shapes of ``x @ W + b``: ``(100x2) @ (2x3) + (3) = 100x3``."""
    def shape(batch: Optional[int]) -> str:
        r = _dims(rows, True, batch)
        return f"({r}x{n_in}) @ ({n_in}x{cols})" + (f" + ({cols})" if bias else "") + f" = {r}x{cols}"
    return shape


def _base(label: str) -> str:
    """``W1[0][2]`` -> ``W1``: the name a whole grid of such labels shares."""
    match = re.fullmatch(r"(.+?)(\[[^\[\]]*\])+", label)
    return match.group(1) if match else label


def _unwrap(text: str) -> str:
    """``(a * b)`` -> ``a * b`` when the outer parentheses enclose the whole text."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for n, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and n < len(text) - 1:
            return text
    return text[1:-1]


def _compound(text: str) -> bool:
    """Whether ``text`` has an operator outside parentheses (``a @ b``, not ``sum(a, axis=0)``)."""
    depth = 0
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if depth == 0 and ch == " ":
            return True
    return False


def _identifier(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_]\w*", name) is not None


class _Lifter:
    """Finds the arrays of a traced graph and writes their numpy code and equations."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        g = self.g = _Graph(prog)
        self.arrays: list[_Array] = []
        self.home: dict[int, tuple[_Array, int, int]] = {}
        self.rows_of: dict[frozenset[int], tuple[_Array, int]] = {}
        self.units = _units(g)
        for u in self.units.values():
            g.absorbed.update(u.products)
        g.order = [i for i in g.order if i not in g.absorbed]
        # the per-sample inputs, one column each
        self._add("input", [[prog._slot[id(x)] for x in prog.inputs]], True)
        self._find()
        self.arrays.sort(key=lambda a: (a.kind != "input", g.depth[a.grid[0][0]] if a.kind != "input" else 0, a.index))
        self.segments: list[list[int]] = []  # blocks of parameter slots, read into one vector
        for a in self.arrays:
            self._resolve_operands(a)

    # -- finding the arrays --------------------------------------------------------------------
    def _add(self, kind: str, grid: Grid, batched: bool, op: Optional[str] = None, arg: Optional[float] = None,
             operands: Sequence[Grid] = ()) -> _Array:
        a = _Array(len(self.arrays), kind, grid, batched, op, arg, operands)
        self.arrays.append(a)
        for i, row in enumerate(grid):
            for j, e in enumerate(row):
                self.home[e] = (a, i, j)
            self.rows_of.setdefault(frozenset(row), (a, i))
        return a

    def _find(self) -> None:
        g = self.g
        layers: dict[tuple[Any, ...], list[_Unit]] = {}
        for s in g.order:
            u = self.units.get(s)
            if u is not None:
                key = (frozenset(u.xs), len(u.residuals), u.bias is None, g.depth[s])
                layers.setdefault(key, []).append(u)
        self._layer_of = {u.node: key for key, us in layers.items() for u in us}
        self._layers = layers
        stacks: dict[Any, list[tuple[Any, ...]]] = {}
        for key, us in layers.items():
            stacks.setdefault(self._stack_signature(us) or ("alone", key), []).append(key)
        self._stack_of = {key: sig for sig, keys in stacks.items() for key in keys}
        self._stacks = stacks
        for s in g.order:
            if s in self.home:
                continue
            if s in self.units:
                self._grow(self._layer(s))
        for s in g.order:  # a sum's terms made by the same op: one array, reduced by the sum
            if g.op[s] == "sum" and s not in self.units:
                self._seed(s)
        for s in g.order:  # what is left: one scalar op each
            if s in self.home:
                continue
            operands = g.operands[s]
            if g.op[s] == "sum" and len(operands) > SMALL_SUM:
                self._add("rowsum", [[s]], g.batched[s], "sum", None, [[operands]])
            else:
                self._add("map", [[s]], g.batched[s], g.op[s], g.arg[s], [[[o]] for o in operands])

    def _stack_signature(self, us: list[_Unit]) -> Optional[tuple[Any, ...]]:
        """What copies of one layer over several samples share: the same weights (and bias) in each
        unit. None if a unit's weights cannot be told apart (then the layer is not stacked)."""
        sigs = []
        for u in us:
            keys = [self.g.key(w) for w in u.ws]
            if len(set(keys)) != len(keys):
                return None
            sigs.append((frozenset(keys), None if u.bias is None else self.g.key(u.bias)))
        if len(set(sigs)) != len(sigs):
            return None
        u0 = us[0]
        return (frozenset(sigs), len(u0.residuals), u0.bias is None, self.g.depth[u0.node])

    def _layer(self, s: int) -> _Array:
        """The array of unit ``s``'s layer: its units as columns, and, as rows, the copies of the
        same layer over other samples (the same weights, other inputs)."""
        g = self.g
        keys = [k for k in self._stacks[self._stack_of[self._layer_of[s]]]
                if all(u.node not in self.home for u in self._layers[k])]
        if self._layer_of[s] not in keys:  # pragma: no cover - a unit's own layer is unplaced here
            keys = [self._layer_of[s]]
        layers = [self._layers[k] for k in keys]

        def place(us: list[_Unit]) -> tuple[int, int]:
            found = self.rows_of.get(frozenset(us[0].xs))
            return (found[0].index, found[1]) if found else (-1, us[0].node)

        layers.sort(key=place)
        ref = layers[0]
        found = self.rows_of.get(frozenset(ref[0].xs))
        xs = list(found[0].grid[found[1]]) if found else list(ref[0].xs)
        ws = [dict(zip(u.xs, u.ws)) for u in ref]
        wkeys = [[g.key(w[x]) for w in ws] for x in xs]  # wkeys[i][j]: unit j's weight on input i
        rows = [(ref, xs)]
        for layer in layers[1:]:
            aligned = self._align(layer, ref, wkeys)
            if aligned is not None:
                rows.append(aligned)
        grid = [[u.node for u in us] for us, _ in rows]
        x_grid = [row_xs for _, row_xs in rows]
        w_grid = [[w[x] for w in ws] for x in xs]
        operands: list[Optional[Grid]] = [x_grid, w_grid]
        operands.append(None if ref[0].bias is None else [[u.bias for u in us] for us, _ in rows])  # type: ignore[misc]
        for m in range(len(ref[0].residuals)):
            operands.append([[u.residuals[m] for u in us] for us, _ in rows])
        a = self._add("affine", grid, True, "sum", None, [])
        a.grids = operands
        a.replaced = [p for us, _ in rows for u in us for p in [*u.products, *g.folded.get(u.node, [])]]
        return a

    def _align(self, layer: list[_Unit], ref: list[_Unit], wkeys: list[list[Any]]) -> Optional[tuple[list[_Unit], list[int]]]:
        """``layer``'s units in ``ref``'s order and its inputs in the order of ``ref``'s weight rows,
        if each weight sits on the same input in every unit (else None)."""
        g = self.g
        by_sig = {}
        for u in layer:
            by_sig[(frozenset(g.key(w) for w in u.ws), None if u.bias is None else g.key(u.bias))] = u
        units = []
        for r in ref:
            sig = (frozenset(g.key(w) for w in r.ws), None if r.bias is None else g.key(r.bias))
            if sig not in by_sig:
                return None
            units.append(by_sig[sig])
        on = [{g.key(w): x for x, w in zip(u.xs, u.ws)} for u in units]
        xs = [on[0][row[0]] for row in wkeys]
        for j, mapping in enumerate(on):
            if any(mapping[row[j]] != x for row, x in zip(wkeys, xs)):
                return None
        return units, xs

    def _seed(self, s: int) -> None:
        """The terms of sum ``s`` that no array holds yet and that the same op made (at the same
        depth): one array of them (``sum(p * p for p in params)``: ``theta * theta``), and the
        same for their operands, down the graph; then what grows from it."""
        g = self.g
        groups: dict[tuple[Any, ...], list[int]] = {}
        for t in dict.fromkeys(g.operands[s]):  # each term once, in order
            if g.op.get(t) is not None and self._free(t):
                key = (g.op[t], g.arg[t], len(g.operands[t]), g.depth[t], g.batched[t])
                groups.setdefault(key, []).append(t)
        for terms in groups.values():
            if len(terms) > 1:
                seeded = self._pack(terms)
                if seeded.batched:
                    self._grow(seeded)

    def _pack(self, nodes: list[int]) -> _Array:
        """One array (a row) of ``nodes``, all made by the same op; its operands likewise when they can be."""
        g = self.g
        operands = [[[g.operands[v][n] for v in nodes]] for n in range(len(g.operands[nodes[0]]))]
        array = self._add("map", [nodes], g.batched[nodes[0]], g.op[nodes[0]], g.arg[nodes[0]], operands)
        for grid in operands:
            row = grid[0]
            if len(set(row)) == len(row) and all(g.op.get(v) is not None and self._free(v) for v in row):
                keys = {(g.op[v], g.arg[v], len(g.operands[v]), g.depth[v], g.batched[v]) for v in row}
                if len(keys) == 1:
                    self._pack(row)
        return array

    def _free(self, v: int) -> bool:
        return v not in self.home and v not in self.units and v not in self.g.absorbed

    def _grow(self, start: _Array) -> None:
        """From an array, the arrays its nodes' consumers make: the same op on every node (a map), or
        one sum per row adding the whole row (a reduction over the columns)."""
        g = self.g
        queue = [start]
        while queue:
            p = queue.pop(0)
            tried = set()
            for u, k in g.users.get(p.grid[0][0], []):
                if not self._free(u) or not g.batched[u]:
                    continue
                sig = (g.op[u], g.arg[u], len(g.operands[u]), k)
                if sig in tried:
                    continue
                tried.add(sig)
                grown = None
                if g.op[u] == "sum" and p.cols > 1:
                    grown = self._reduce(p, u)
                if grown is None:
                    grown = self._map(p, u, k)
                if grown is not None:
                    queue.append(grown)

    def _map(self, p: _Array, u: int, k: int) -> Optional[_Array]:
        g = self.g
        op, arg, arity, depth = g.op[u], g.arg[u], len(g.operands[u]), g.depth[u]
        taken: set[int] = set()
        grid: Grid = []
        for row in p.grid:
            out = []
            for e in row:
                found = next((v for v, kk in g.users.get(e, []) if kk == k and v not in taken and self._free(v)
                              and g.op[v] == op and g.arg[v] == arg and len(g.operands[v]) == arity
                              and g.depth[v] == depth), None)
                if found is None:
                    return None
                taken.add(found)
                out.append(found)
            grid.append(out)
        if op == "sum" and p.cols == 1 and arity > SMALL_SUM:
            return self._add("rowsum", grid, True, "sum", None, [[g.operands[v] for v in (row[0] for row in grid)]])
        operands = [[[g.operands[v][n] for v in row] for row in grid] for n in range(arity)]
        return self._add("map", grid, True, op, arg, operands)

    def _reduce(self, p: _Array, u: int) -> Optional[_Array]:
        g = self.g
        if not set(p.grid[0]) <= set(g.operands[u]):
            return None
        arity, depth = len(g.operands[u]), g.depth[u]
        sums = []
        for row in p.grid:
            want = set(row)
            found = next((v for v, _ in g.users.get(row[0], []) if self._free(v) and v not in sums and g.op[v] == "sum"
                          and len(g.operands[v]) == arity and g.depth[v] == depth and want <= set(g.operands[v])), None)
            if found is None:
                return None
            sums.append(found)
        grid = [[s] for s in sums]
        if arity > SMALL_SUM:
            return self._add("rowsum", grid, True, "sum", None, [[g.operands[s] for s in sums]])
        return self._add("map", grid, True, "sum", None, [[[g.operands[s][n]] for s in sums] for n in range(arity)])

    # -- operands ------------------------------------------------------------------------------
    def _resolve_operands(self, a: _Array) -> None:
        if a.kind == "input":
            return
        if a.kind == "affine":
            x, w, bias, *residuals = a.grids
            assert x is not None and w is not None
            a.operands = [self._operand(x, True, broadcast=False), self._operand(w, False, matrix=True),
                          None if bias is None else self._operand(bias, True)]
            a.operands += [self._operand(r, True) for r in residuals if r is not None]
        elif a.kind == "rowsum":
            a.operands = [self._operand(grid, a.batched, broadcast=False) for grid in a.grids if grid is not None]
        else:
            a.operands = [self._operand(grid, a.batched) for grid in a.grids if grid is not None]
            self._widen(a)

    @staticmethod
    def _widen(a: _Array) -> None:
        """Read ``a``'s repeated columns as they are when no operand has ``a``'s width: numpy
        broadcasts one column (``x[:, 2] * x[:, 2]``) to one column only, not to ``a``'s two
        (``x2 * x2`` twice, the terms of a sum packed into one array); ``x[:, [2, 2]]`` has both."""
        if a.cols > 1 and all(o is None or o.mode == "column" or (o.mode == "const" and isinstance(o.value, float))
                              for o in a.operands):
            for o in a.operands:
                if o is not None and o.mode == "column":
                    o.mode = "cols"

    def _operand(self, grid: Grid, consumer_batched: bool, matrix: bool = False, broadcast: bool = True) -> _Operand:
        g = self.g
        flat = [e for row in grid for e in row]
        batched = any(g.batched[e] for e in flat)
        if batched:
            homes = [self.home[e] if g.batched[e] else None for e in flat]
            sources = {id(h[0]) for h in homes if h is not None}
            if None not in homes and len(sources) == 1:
                src = homes[0][0]  # type: ignore[index]
                o = _Operand(grid, "same", True)
                o.source = src
                if grid == src.grid:
                    return o
                rows = [[self.home[e] for e in row] for row in grid]
                if len(grid) == src.rows and all(h[1] == i for i, row in enumerate(rows) for h in row):
                    columns = [h[2] for h in rows[0]]
                    if all([h[2] for h in row] == columns for row in rows):
                        o.columns = columns
                        o.mode = "column" if broadcast and len(columns) > 1 and len(set(columns)) == 1 else "cols"
                        return o
            o = _Operand(grid, "gather", True)
            self._parts(o, flat)
            return o
        # shared: parameters, constants and what is computed from them alone
        if not matrix and all([g.key(e) for e in row] == [g.key(e) for e in grid[0]] for row in grid):
            grid = [grid[0]]  # every row alike: one row, broadcast over the rows
            flat = grid[0]
        o = _Operand(grid, "gather", False)
        o.matrix = matrix
        o.tile = consumer_batched and not matrix and len(grid) > 1
        kinds = {g.kind[e] for e in flat}
        if kinds == {"op"} and self.home[flat[0]][0].grid == grid:
            o.mode, o.source = "same", self.home[flat[0]][0]  # a value computed once per call (a penalty)
        elif kinds == {"op"} and not consumer_batched and self._shared_columns(o, grid, broadcast):
            pass  # some columns of such a value, row for row (a penalty's short sum: sum(v1, axis=1))
        elif kinds == {"const"}:
            o.mode = "const"
            values = np.array([[g.values[e].data for e in row] for row in grid], dtype=float)
            o.value = float(values.flat[0]) if broadcast and not matrix and not o.tile and (values == values.flat[0]).all() else values
        elif kinds == {"param"}:
            o.mode = "theta"
            o.segment = len(self.segments)
            self.segments.append(flat)
        else:
            self._parts(o, flat)
        return o

    def _shared_columns(self, o: _Operand, grid: Grid, broadcast: bool) -> bool:
        """Make ``o`` read some columns of one shared array, row for row, if that is what ``grid`` is."""
        homes = [[self.home[e] for e in row] for row in grid]
        src = homes[0][0][0]
        if src.batched or src.rows != len(grid) or any(h[0] is not src or h[1] != i for i, row in enumerate(homes) for h in row):
            return False
        columns = [h[2] for h in homes[0]]
        if any([h[2] for h in row] != columns for row in homes):
            return False
        o.source, o.columns = src, columns
        o.mode = "column" if broadcast and len(columns) > 1 and len(set(columns)) == 1 else "cols"
        return True

    def _parts(self, o: _Operand, flat: list[int]) -> None:
        """The pieces of a gathered operand: (kind, positions, what), one per source."""
        g = self.g
        by_source: dict[Any, tuple[list[int], list[Any]]] = {}
        for pos, e in enumerate(flat):
            kind = g.kind[e]
            if kind == "const":
                key: Any = ("const",)
                what: Any = g.values[e].data
            elif kind == "param":
                key, what = ("theta",), e
            else:
                a, i, j = self.home[e]
                key, what = ("array", a.index), i * a.cols + j
            positions, items = by_source.setdefault(key, ([], []))
            positions.append(pos)
            items.append(what)
        for key, (positions, items) in by_source.items():
            if key[0] == "const":
                o.parts.append(("const", positions, np.array(items, dtype=float)))
            elif key[0] == "theta":
                o.parts.append(("theta", positions, len(self.segments)))
                self.segments.append(items)
            else:
                o.parts.append(("array", positions, (self.arrays_by_index(key[1]), items)))

    def arrays_by_index(self, index: int) -> _Array:
        return next(a for a in self.arrays if a.index == index)


# -- code and equations ------------------------------------------------------------------------------
class _Writer:
    """Writes the lifted program's numpy code (forward, backward, and both fused for a batch) and
    its equations, from the arrays the lifter found."""

    def __init__(self, lifter: _Lifter) -> None:
        self.lifter = lifter
        self.g = lifter.g
        self.arrays = lifter.arrays
        self.segments = lifter.segments
        self.constants: dict[str, Any] = {}
        self.offsets = []
        at = 0
        for seg in self.segments:
            self.offsets.append(at)
            at += len(seg)
        self.theta = [self.g.values[e] for seg in self.segments for e in seg]
        first = self.g.outputs[0]
        self.out_array, self.out_i, self.out_j = lifter.home[first]
        self._name_everything()
        self.forward_lines = self._forward()

    # -- names ---------------------------------------------------------------------------------
    def _label_name(self, grid: Grid) -> Optional[str]:
        labels = [self.g.values[e].label for row in grid for e in row]
        if not all(labels):
            return None
        bases = {_base(fmt.printable(label)) for label in labels}
        return bases.pop() if len(bases) == 1 else None

    def _name_everything(self) -> None:
        taken: dict[str, Any] = {}
        unnamed = 0

        def claim(name: Optional[str], what: Any) -> Optional[str]:
            if name is None or (name in taken and taken[name] != what):
                return None
            taken[name] = what
            return name

        named: dict[Any, str] = {}  # an operand read twice (p * p) is one name

        for a in self.arrays:
            what: Any = ("array", a.index)
            name = claim(self._label_name(a.grid), what)
            if name is None and a.kind == "input":
                name = claim("inputs", what)
            if name is None:
                unnamed += 1
                while f"v{unnamed}" in taken:
                    unnamed += 1
                name = claim(f"v{unnamed}", what)
            a.name = name or f"v{a.index}"
        params = 0
        blocks: dict[tuple[int, ...], str] = {}  # a named block of parameters, flattened -> its name
        for a in self.arrays:  # a layer's weights claim their label first: other reads are named after them
            for o in a.operands:
                if o is not None and o.mode == "theta" and o.matrix:
                    what = ("operand", o.mode, tuple(map(tuple, o.grid)))
                    name = claim(self._label_name(o.grid), what)
                    if name is not None:
                        named[what] = name
                        blocks.setdefault(tuple(e for row in o.grid for e in row), name)
                        blocks.setdefault(tuple(e for col in zip(*o.grid) for e in col), f"{name}.T")
        for a in self.arrays:
            for o in a.operands:
                if o is None:
                    continue
                what = ("operand", o.mode, tuple(map(tuple, o.grid)))
                if what in named:
                    o.name = named[what]
                    continue
                if o.mode == "same":
                    o.name = o.source.name  # type: ignore[union-attr]
                    continue
                if o.mode == "const":
                    o.name = fmt.number(o.value) if isinstance(o.value, float) else self._const_text(o.value)
                    continue
                name = claim(self._label_name(o.grid), what) if o.mode in ("cols", "theta", "gather") else None
                block = blocks.get(tuple(e for row in o.grid for e in row)) if o.mode == "theta" else None
                if name is None and block is not None:  # the same Values in another layout (a penalty's row)
                    o.alias = block.removesuffix(".T")
                    name = f"{block}.reshape({o.rows}, {o.cols})"
                if name is None and o.mode == "theta":
                    params += 1
                    name = claim(f"p{params}", what)
                if name is None and o.source is not None:
                    cols = o.columns
                    name = (f"{o.source.name}[:, {cols[0]}]" if o.mode == "column" else
                            f"{o.source.name}[:, {cols[0]}:{cols[-1] + 1}]" if cols == list(range(cols[0], cols[-1] + 1))
                            else f"{o.source.name}[:, {cols}]")
                reshaped = self.reshaped(o)
                if name is None and reshaped is not None:
                    name = f"{reshaped.name}.reshape(-1, {o.cols})"
                if name is None:
                    sources = [p[2][0].name if p[0] == "array" else p[0] for p in o.parts]
                    name = f"gather({', '.join(dict.fromkeys(sources))})"
                o.name = named[what] = name

    @staticmethod
    def reshaped(o: _Operand) -> Optional[_Array]:
        """The array ``A`` when the gathered operand ``o`` is all of ``A``'s numbers in their order
        (``A.reshape(-1, cols)``: the per-sample losses of a batch, as one row to be summed)."""
        if o.mode != "gather" or len(o.parts) != 1 or o.parts[0][0] != "array":
            return None
        kind, positions, (array, items) = o.parts[0]
        whole = list(range(array.size))
        if not o.batched or positions != whole or items != whole:
            return None
        return array  # type: ignore[no-any-return]

    @staticmethod
    def _const_text(value: Any) -> str:
        flat = np.asarray(value).ravel()
        shown = [fmt.number(v) for v in flat[:6]] + (["...", fmt.number(flat[-1])] if len(flat) > 7 else
                                                   [fmt.number(v) for v in flat[6:]])
        return "[" + ", ".join(shown) + "]"

    def grad_name(self, a: _Array) -> str:
        if a.kind == "affine":
            w = a.operands[1]
            m = re.fullmatch(r"W(\w*)", w.name) if w is not None else None
            if m is not None:
                return f"delta{m.group(1)}"
        return f"d{a.name}" if _identifier(a.name) else f"d({a.name})"

    @staticmethod
    def operand_grad_name(o: _Operand) -> str:
        return f"d{o.name}" if _identifier(o.name) else f"d({o.name})"

    # -- values of operands ---------------------------------------------------------------------
    def _index(self, items: list[int]) -> str:
        """An index into a row: a slice when the items run in steps of one, else a constant array."""
        if items == list(range(items[0], items[0] + len(items))):
            return f"{items[0]}:{items[0] + len(items)}"
        name = f"_i{len(self.constants)}"
        self.constants[name] = np.array(items, dtype=np.intp)
        return name

    def _index_arg(self, items: list[int]) -> str:
        """:meth:`_index` as a function argument (``slice(a, b)`` rather than ``a:b``)."""
        text = self._index(items)
        return f"slice({text.replace(':', ', ')})" if ":" in text else text

    def _constant(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def _rows(self, rows: int, batched: bool) -> str:
        if not batched:
            return str(rows)
        return "B" if rows == 1 else f"B * {rows}"

    def _operand_value(self, o: _Operand, lines: list[str], var: str) -> str:
        """Code reading operand ``o`` (written to ``var`` when it takes more than a name)."""
        if o.mode == "same":
            return f"a{o.source.index}"  # type: ignore[union-attr]
        if o.mode in ("cols", "column"):
            src = f"a{o.source.index}"  # type: ignore[union-attr]
            cols = o.columns
            text = f"{src}[:, {cols[0]}:{cols[0] + 1}]" if o.mode == "column" else f"{src}[:, {self._index(cols)}]"
        elif o.mode == "theta":
            a = self.offsets[o.segment]
            text = f"th[{a}:{a + o.rows * o.cols}].reshape({o.rows}, {o.cols})"
        elif o.mode == "const":
            if isinstance(o.value, float):
                return _literal(o.value)
            text = self._constant(o.value)
        else:
            width = o.rows * o.cols
            lines.append(f"{var} = _empty((B, {width}))" if o.batched else f"{var} = _empty({width})")
            for kind, positions, what in o.parts:
                pos = self._index(positions)
                target = f"{var}[:, {pos}]" if o.batched else f"{var}[{pos}]"
                if kind == "const":
                    src = self._constant(what)
                elif kind == "theta":
                    a = self.offsets[what]
                    src = f"th[{a}:{a + len(positions)}]"
                else:
                    arr, items = what
                    idx = self._index(items)
                    src = (f"a{arr.index}.reshape(B, {arr.size})[:, {idx}]" if arr.batched
                           else f"a{arr.index}.reshape({arr.size})[{idx}]")
                lines.append(f"{target} = {src}")
            text = f"{var}.reshape({self._rows(o.rows, o.batched)}, {o.cols})"
        if o.tile:
            text = f"_tile({text}, (B, 1))"
            self.constants["_tile"] = np.tile
        lines.append(f"{var} = {text}")
        return var

    # -- forward ----------------------------------------------------------------------------------
    def _forward(self) -> list[str]:
        lines: list[str] = []
        self.refs: dict[tuple[int, int], str] = {}  # (array, operand) -> the code naming its value
        self.saved: list[str] = []
        for a in self.arrays:
            out = f"a{a.index}"
            self.saved.append(out)
            if a.kind == "input":
                lines.append(f"{out} = X")
                continue
            refs = []
            for n, o in enumerate(a.operands):
                if o is None:
                    refs.append("")
                    continue
                ref = self._operand_value(o, lines, f"o{a.index}_{n}")
                if ref.startswith("o"):
                    self.saved.append(ref)
                refs.append(ref)
                self.refs[(a.index, n)] = ref
            if a.kind == "affine":
                terms = [f"{refs[0]} @ {refs[1]}"] + [r for r in refs[2:] if r]
                lines.append(f"{out} = {' + '.join(terms)}")
            elif a.kind == "rowsum":
                lines.append(f"{out} = _sum({refs[0]}, axis=1, keepdims=True)")
            else:
                rule = RULES[a.op]  # type: ignore[index]
                arg = _literal(a.arg) if a.arg is not None else "None"
                for condition, _, _ in rule.check_exprs(refs, arg):
                    folded = _fold(condition)
                    if folded is not None:
                        lines.append(f"if _any({_vector(folded)}): raise _Refer")
                if a.op == "*" and "1.0" in refs[:2] and a.batched:
                    lines.append(f"{out} = {refs[1] if refs[0] == '1.0' else refs[0]}")  # x * 1.0 is x, exactly
                else:
                    lines.append(f"{out} = {_vector(rule.value_expr(refs, arg, out))}")
                if not a.batched:
                    # a shared value computed from constants alone keeps its (1, 1) shape
                    lines.append(f"{out} = _broadcast({out}, ({a.rows}, {a.cols}))")
        return lines

    def outputs_code(self, kind: str) -> str:
        texts = []
        for o in self.g.outputs if kind == "forward" else self.g.outputs[:1]:
            a, i, j = self.lifter.home[o]
            texts.append(f"a{a.index}.reshape(B, {a.size})[:, {i * a.cols + j}]")
        return "(" + ", ".join(texts) + ",)"

    # -- backward ---------------------------------------------------------------------------------
    def needs(self, inputs: bool) -> tuple[set[int], set[int]]:
        """The arrays whose gradients backward computes: ancestors of the first output's array that
        depend on a parameter (or, with ``inputs``, on the inputs); and the arrays it reaches."""
        live: set[int] = set()
        for a in self.arrays:
            if a.kind == "input":
                if inputs:
                    live.add(a.index)
                continue
            for o in a.operands:
                if o is not None and self._operand_live(o, live):
                    live.add(a.index)
                    break
        ancestors = {self.out_array.index}
        for a in reversed(self.arrays):
            if a.index in ancestors:
                for o in a.operands:
                    if o is None:
                        continue
                    for src in self._sources(o):
                        ancestors.add(src.index)
        return live & ancestors, ancestors

    def _sources(self, o: _Operand) -> list[_Array]:
        if o.source is not None:
            return [o.source]
        return [p[2][0] for p in o.parts if p[0] == "array"]

    def _operand_live(self, o: _Operand, live: set[int]) -> bool:
        if o.mode == "theta" or any(p[0] == "theta" for p in o.parts):
            return True
        return any(s.index in live for s in self._sources(o))

    def backward_lines(self, inputs: bool) -> tuple[list[str], list["Equation"]]:
        needed, _ = self.needs(inputs)
        self._needed = needed
        lines: list[str] = []
        self._lines = lines
        self._temp = 0
        self._initialised: set[int] = set()
        self._owned = self._partial_targets(needed)
        self._grad_vars: dict[int, str] = {}
        self._segment_grads: dict[int, str] = {}
        self._equations: list[Equation] = []
        self._param_equations: dict[str, Equation] = {}  # a parameter block's gradient, by name
        self._shown: dict[int, list[tuple[str, str]]] = {}  # array -> (kind, display) of each contribution
        self._inline: dict[int, str] = {}
        out = self.out_array
        shape = out.shape_code()
        g = f"g{out.index}"
        if out.size == 1:
            lines.append(f"{g} = _full({shape}, seed)")
        else:
            lines.append(f"{g} = _zeros({shape})")
            lines.append(f"{g}.reshape(B, {out.size})[:, {self.out_i * out.cols + self.out_j}] = seed")
        self._initialised.add(out.index)
        self._shown[out.index] = [("full", "seed")]
        for a in reversed(self.arrays):
            if a.index not in needed or a.index not in self._initialised or a.kind == "input":
                continue
            self._show_gradient(a)
            self._backward_array(a, f"g{a.index}")
        zeros = []
        for k, seg in enumerate(self.segments):
            if k in self._segment_grads:
                zeros.append(f"{self._segment_grads[k]}.ravel()")
            else:
                zeros.append(self._constant(np.zeros(len(seg))))
        lines.append(f"gth = _concat([{', '.join(zeros)}])" if zeros else "gth = _zeros(0)")
        return lines, self._equations

    def _partial_targets(self, needed: set[int]) -> set[int]:
        """Arrays some of whose columns (or entries) receive a contribution: their gradient starts
        as zeros that contributions are added into; the others are plain sums of whole arrays."""
        owned = set()
        if self.out_array.size > 1:
            owned.add(self.out_array.index)
        for a in self.arrays:
            for o in a.operands:
                if o is not None and o.mode not in ("same", "theta", "const"):
                    owned.update(s.index for s in self._sources(o))
        return owned | {self.arrays[0].index}

    def _temp_var(self) -> str:
        self._temp += 1
        return f"c{self._temp}"

    def _accumulate(self, a: _Array, ct: str) -> None:
        """Add the whole-array contribution ``ct`` (shaped as ``a``) into ``a``'s gradient. A gradient
        that some contribution reaches only in part starts as zeros, added into in place; any other is
        a new array at each addition, so a name shared with another gradient is never written through."""
        g = f"g{a.index}"
        if a.index in self._owned:
            if a.index not in self._initialised:
                self._lines.append(f"{g} = _zeros({a.shape_code()})")
            self._lines.append(f"{g} += {ct}")
        elif a.index not in self._initialised:
            self._lines.append(f"{g} = {ct}")
        else:
            self._lines.append(f"{g} = {g} + {ct}")
        self._initialised.add(a.index)

    def _start_owned(self, a: _Array) -> str:
        g = f"g{a.index}"
        if a.index not in self._initialised:
            self._lines.append(f"{g} = _zeros({a.shape_code()})")
            self._initialised.add(a.index)
        return g

    def _route(self, o: _Operand, ct: str, consumer: _Array, shown: Optional[str]) -> None:
        """Send the contribution ``ct`` (shaped as the consumer's rows, or, for a matrix operand, as
        the matrix) back to where operand ``o`` came from; ``shown`` is how the equations write it
        (None: the caller shows it)."""
        lines = self._lines

        def show(array: _Array, kind: str, text: str) -> None:
            if shown is not None:
                self._shown.setdefault(array.index, []).append((kind, text))

        if o.mode == "const":
            return
        # shared operands read by a per-sample op: their gradient sums over the samples
        reduced = ct
        if consumer.batched and not o.batched and not o.matrix:
            if o.tile:
                reduced = f"_sum(({ct}).reshape(B, {o.rows}, {o.cols}), axis=0)"
            else:
                reduced = f"_sum({ct}, axis=0, keepdims=True)"
        if o.mode == "same":
            if o.source.index in self._needed:  # type: ignore[union-attr]
                self._accumulate(o.source, reduced)  # type: ignore[arg-type]
                show(o.source, "full", shown if reduced == ct else f"sum({shown}, axis=0)")  # type: ignore[arg-type]
            return
        if o.mode in ("cols", "column"):
            src = o.source
            assert src is not None
            if src.index not in self._needed:
                return
            g = self._start_owned(src)
            cols = o.columns
            if o.mode == "column":
                lines.append(f"{g}[:, {cols[0]}:{cols[0] + 1}] += _sum({ct}, axis=1, keepdims=True)")
                show(src, "part", f"[:, {cols[0]}] += sum({shown}, axis=1)")
            elif len(set(cols)) == len(cols):
                index = self._index(cols)
                lines.append(f"{g}[:, {index}] += {ct}")
                show(src, "part", f"[:, {index if ':' in index else cols}] += {shown}")
            else:
                lines.append(f"_add_at({g}, (slice(None), {self._index_arg(cols)}), {ct})")
                show(src, "part", f"[:, {cols}] += {shown}")
            return
        if o.mode == "theta":
            var = f"gs{o.segment}"
            lines.append(f"{var} = {reduced}")
            self._segment_grads[o.segment] = var
            return
        # gathered
        c = self._temp_var()
        if o.batched:
            lines.append(f"{c} = ({ct}).reshape(B, {o.rows * o.cols})")
        else:
            lines.append(f"{c} = ({reduced}).reshape({o.rows * o.cols})")
        for kind, positions, what in o.parts:
            pos = self._index(positions)
            piece = f"{c}[:, {pos}]" if o.batched else f"{c}[{pos}]"
            if kind == "const":
                continue
            if kind == "theta":
                var = f"gs{what}"
                lines.append(f"{var} = _sum({piece}, axis=0)" if o.batched else f"{var} = {piece}")
                self._segment_grads[what] = var
                continue
            arr: _Array = what[0]
            items = what[1]
            if arr.index not in self._needed:
                continue
            g = self._start_owned(arr)
            unique = len(set(items)) == len(items)
            idx = self._index(items) if unique else self._index_arg(items)
            if arr.batched:
                target = f"{g}.reshape(B, {arr.size})"
                if unique:
                    lines.append(f"{target}[:, {idx}] += {piece}")
                else:
                    lines.append(f"_add_at({target}, (slice(None), {idx}), {piece})")
            else:
                piece = f"_sum({piece}, axis=0)" if o.batched else piece
                if unique:
                    lines.append(f"{g}.reshape({arr.size})[{idx}] += {piece}")
                else:
                    lines.append(f"_add_at({g}.reshape({arr.size}), {idx}, {piece})")
            if self.reshaped(o) is arr:
                show(arr, "full", f"({shown}).reshape(-1, {arr.cols})")
            else:
                show(arr, "part", f" += scatter({shown})")

    # -- equations --------------------------------------------------------------------------------
    def _show_gradient(self, a: _Array) -> None:
        """The equation of ``a``'s gradient, or, for a value one elementwise op consumed, its
        expression kept to be written into that op's equation (``delta1 = (delta2 @ W2.T) * tanh'(z1)``)."""
        shown = self._shown.get(a.index, [])
        full = [text for kind, text in shown if kind == "full"]
        parts = [text for kind, text in shown if kind == "part"]
        name = self.grad_name(a)
        if a.kind == "map" and len(shown) == 1 and full and a is not self.out_array and self._one_live_operand(a):
            self._inline[a.index] = full[0]
            return
        formula = " + ".join(_unwrap(f) for f in full) if full else "0"
        lines = [formula] + [f"{name}{p}" for p in parts]
        batched = a.batched
        rows, cols = a.rows, a.cols
        self._equations.append(Equation(name, "\n    ".join(lines),
                                        lambda b: f"{_dims(rows, batched, b)}x{cols}",
                                        self._values(a.grid), []))

    def _one_live_operand(self, a: _Array) -> bool:
        return sum(1 for o in a.operands if o is not None and self._operand_live(o, self._needed)) == 1

    def _grad_text(self, a: _Array) -> str:
        inline = self._inline.get(a.index)
        if inline is None:
            return self.grad_name(a)
        inline = _unwrap(inline)
        return f"({inline})" if _compound(inline) else inline

    def _values(self, grid: Grid) -> list[list[Value]]:
        return [[self.g.values[e] for e in row] for row in grid]

    def _backward_array(self, a: _Array, g: str) -> None:
        gt = self._grad_text(a)
        rows = a.rows
        batched = a.batched
        if a.kind == "affine":
            x_o, w_o, b_o = a.operands[0], a.operands[1], a.operands[2]
            assert x_o is not None and w_o is not None
            x, w = self.refs[(a.index, 0)], self.refs[(a.index, 1)]
            n, k = w_o.rows, w_o.cols
            if self._operand_live(w_o, self._needed):
                ct = self._temp_var()
                self._lines.append(f"{ct} = {x}.T @ {g}")
                self._route(w_o, ct, a, f"{x_o.name}.T @ {gt}")
                self._equations.append(Equation(
                    self.operand_grad_name(w_o), f"{x_o.name}.T @ {gt}",
                    lambda b: f"({n}x{_dims(rows, batched, b)}) @ ({_dims(rows, batched, b)}x{k}) = {n}x{k}",
                    self._values(w_o.grid), []))
            if b_o is not None and self._operand_live(b_o, self._needed):
                self._route(b_o, g, a, gt)
                self._equations.append(Equation(
                    self.operand_grad_name(b_o), f"sum({gt}, axis=0)",
                    lambda b: f"({_dims(rows, batched, b)}x{k}) -> ({k})", self._values(b_o.grid), []))
            if self._operand_live(x_o, self._needed):
                self._route(x_o, f"{g} @ {w}.T", a, f"{gt} @ {w_o.name}.T")
            for r in a.operands[3:]:
                if r is not None and self._operand_live(r, self._needed):
                    self._route(r, g, a, gt)
            return
        if a.kind == "rowsum":
            o = a.operands[0]
            assert o is not None
            if self._operand_live(o, self._needed):
                self._route(o, f"_broadcast({g}, ({self._rows(o.rows, o.batched)}, {o.cols}))", a,
                            f"{gt} @ ones(1x{o.cols})")
            return
        rule = RULES[a.op]  # type: ignore[index]
        refs = [self.refs.get((a.index, n), "") for n in range(len(a.operands))]
        arg = _literal(a.arg) if a.arg is not None else "None"
        out = f"a{a.index}"
        locals_ = rule.local_exprs(refs, arg, out)
        names = dict(zip(rule.operands, refs), k=arg, out=out) if rule.join is None else {}
        summed = self._summed_columns(a)
        for n, o in enumerate(a.operands):
            if o is None or not self._operand_live(o, self._needed):
                continue
            ct = self._send(rule, n, locals_[n], g, names)
            if summed is not None:
                # sum(P, axis=1) written as adds of P's columns: shown as one matrix product
                self._route(o, ct, a, None)
                continue
            shown = self._send_text(rule, n, a, gt)
            if o.mode != "same" and not o.batched and a.batched:
                shown_grad = f"sum({shown}, axis=0)"
            else:
                shown_grad = shown
            if o.mode == "theta" or (o.mode == "gather" and not o.batched):
                name = self.operand_grad_name(o)
                earlier = self._param_equations.get(name)
                if earlier is not None:  # read again (p * p): one equation, its contributions added
                    earlier.formula = f"{earlier.formula} + {shown_grad}"
                else:
                    self._param_equations[name] = Equation(
                        name, shown_grad, _plain_shape(o.rows, o.cols, False), self._values(o.grid), [])
                    self._equations.append(self._param_equations[name])
            self._route(o, ct, a, shown)
        if summed is not None:
            self._shown.setdefault(summed.index, []).append(("full", f"{gt} @ ones(1x{summed.cols})"))

    def _summed_columns(self, a: _Array) -> Optional[_Array]:
        """The array ``P`` when ``a`` is ``sum(P, axis=1)``: a sum whose operands are P's columns in order."""
        if a.op != "sum" or a.kind != "map" or a.cols != 1:
            return None
        srcs = {id(o.source) for o in a.operands if o is not None}
        first = a.operands[0]
        if first is None or first.source is None or len(srcs) != 1:
            return None
        src = first.source
        if src.cols < 2 or src.rows != a.rows or len(a.operands) != src.cols:
            return None
        if all(o is not None and o.mode in ("cols", "column") and o.columns == [n] for n, o in enumerate(a.operands)):
            return src
        return None

    @staticmethod
    def _send(rule: Rule, k: int, local: str, g: str, names: dict[str, str]) -> str:
        """Code of what operand ``k`` receives: the scalar compiler's rule, over arrays (a closed relu
        sends 0.0, never 0.0 * inf)."""
        return _send(rule, k, local, g, names, gate=lambda condition, g: f"_where({condition}, {g}, 0.0)",
                     vector=_vector)

    def _send_text(self, rule: Rule, k: int, a: _Array, gt: str) -> str:
        """What operand ``k`` receives, for people: ``dv * 2 * v1``, ``delta2 @ W2.T``, ``dh * tanh'(z)``."""
        names = [o.name if o is not None else "" for o in a.operands]
        constant = rule.local_constants[0 if rule.join is not None else k]
        if constant == 1.0:
            return gt
        if constant == -1.0:
            return f"-{gt}"
        if constant is not None:
            return f"{gt} * {fmt.number(constant)}"
        if rule.call is None and rule.constant is None:
            local = rule.substitute(rule.local_text[k], dict(zip(rule.operands, names), k="k", out=a.name))
            number = _number(local)  # a slope that is a plain number only at this node (``x * 1.0``)
            if number is not None:
                return gt if number == 1.0 else f"-{gt}" if number == -1.0 else f"{gt} * {local}"
        if rule.call is not None:
            slope = f"{rule.call}'({names[0]})"
        elif rule.constant is not None and a.arg is not None:
            k_ = a.arg
            slope = f"{fmt.number(k_)} * {names[0]}" + ("" if k_ == 2 else f" ** {fmt.number(k_ - 1)}")
        else:
            slope = rule.substitute(rule.local_text[k], dict(zip(rule.operands, names), k="k", out=a.name))
        if not re.fullmatch(r"[\w.'\[\]():, ]*", slope) or " " in slope and not slope.endswith(")"):
            slope = f"({slope})"
        return f"{gt} * {slope}"

    def forward_equations(self) -> list[Equation]:
        eqs = []
        for a in self.arrays:
            if a.kind == "input":
                continue
            names = [o.name if o is not None else "" for o in a.operands]
            batched, rows, cols = a.batched, a.rows, a.cols
            if a.kind == "affine":
                x, w, b = a.operands[0], a.operands[1], a.operands[2]
                assert x is not None and w is not None
                formula = f"{names[0]} @ {names[1]}" + "".join(f" + {n}" for n in names[2:] if n)
                shape = _affine_shape(rows, w.rows, cols, b is not None)
            else:
                summed = self._summed_columns(a)
                if summed is not None:
                    formula = f"sum({summed.name}, axis=1)"
                elif a.kind == "rowsum":
                    formula = f"sum({names[0]}, axis=1)"
                else:
                    rule = RULES[a.op]  # type: ignore[index]
                    k = fmt.number(a.arg) if a.arg is not None else "k"
                    formula = rule.formula(names, k)
                shape = _plain_shape(rows, cols, batched)
            replaced = [self.g.values[e] for e in a.replaced]
            eqs.append(Equation(a.name, formula, shape, self._values(a.grid), replaced))
        return eqs


class LiftedProgram(Program):
    """A traced graph run as matrix operations: :func:`autodiff.compile` with ``lift=True``.

    The same calls as :class:`~autodiff.compile.Program`, the same numbers to rounding (1e-12
    relative): ``prog(xs)`` and ``prog.backward(seed)`` for one sample, ``prog.batch(rows, seed)``
    for a training step over many (rows may be a list of lists or a 2-D numpy array). Parameters
    are read from their Values' ``.data`` at each call and their gradients added into ``.grad``.
    Printing it shows the equations (:meth:`equations`); ``forward_equations`` and
    ``backward_equations`` hold them with the scalar nodes each one stands for.

    An operand outside an op's domain (``log`` of a negative), and anything under
    :func:`autodiff.detect_anomaly`, runs the scalar program instead, so the errors name the op
    and the labels exactly as the scalar program's do.

    >>> import autodiff
    >>> from autodiff import Value
    >>> w = [Value(0.5, label="w[0]"), Value(-1.5, label="w[1]")]
    >>> prog = autodiff.compile(lambda xs: (w[0] * xs[0] + w[1] * xs[1]).tanh(), 2, lift=True)
    >>> [str(eq) for eq in prog.forward_equations]
    ['v1 = x @ w', 'v2 = tanh(v1)']
    >>> [round(y, 6) for y in prog.batch([[1.0, 0.0], [0.0, 1.0]])]
    [0.462117, -0.905148]
    >>> round(w[0].grad, 6)      # d/dw[0] summed over the two rows: 1 - tanh(0.5)**2
    0.786448
    """

    def __init__(self, inputs: list[Value], outputs: list[Value], single: bool) -> None:
        super().__init__(inputs, outputs, single)
        self.lifted = False  #: True when some group of nodes became one array operation
        self.forward_equations: list[Equation] = []  #: the forward pass, one equation an array
        self.backward_equations: list[Equation] = []  #: the parameters' gradients, from the first output
        self._lifted_code: dict[str, Callable[..., Any]] = {}
        self._lifted_text: dict[str, str] = {}
        self._last: Optional[tuple[Any, ...]] = None
        self._scalar_last = False
        self._xs: Optional[list[float]] = None
        g_outputs = [self._slot[id(o)] for o in outputs]
        if not inputs or any(not o.parents for o in outputs):
            return  # an output that is an input or a parameter: nothing to run as arrays
        lifter = _Lifter(self)
        if any(not lifter.g.batched[o] for o in g_outputs):
            return  # an output that no input reaches is the same for every sample: kept scalar
        self.lifted = any(
            a.kind != "input" and (a.size > 1 or a.kind == "affine" and len(a.grids[0][0]) > 1 or a.kind == "rowsum")  # type: ignore[index]
            for a in lifter.arrays
        )
        if not self.lifted:
            return
        self._lifter = lifter
        self._writer = _Writer(lifter)
        self.forward_equations = self._writer.forward_equations()
        _, self.backward_equations = self._writer.backward_lines(inputs=not self._has_params())
        self._theta = self._writer.theta

    def _has_params(self) -> bool:
        return bool(self._writer.segments)

    # -- the generated code ---------------------------------------------------------------------
    def _lifted(self, kind: str) -> Callable[..., Any]:
        fn = self._lifted_code.get(kind)
        if fn is not None:
            return fn
        w = self._writer
        body = ["    " + line for line in w.forward_lines]
        state = ", ".join(w.saved) + ("," if len(w.saved) == 1 else "")
        if kind == "forward":
            lines = ["def forward(X, th, B):", *body, f"    return {w.outputs_code('forward')}, ({state})"]
        elif kind == "backward":
            back, _ = w.backward_lines(inputs=True)
            lines = ["def backward(S, th, B, seed):", f"    {state} = S", *["    " + line for line in back]]
            lines.append(f"    return gth, g{w.arrays[0].index}" if w.arrays[0].index in w._initialised
                         else "    return gth, _zeros((B, X_WIDTH))")
        else:
            back, _ = w.backward_lines(inputs=False)
            lines = ["def batch(X, th, B, seed):", *body, *["    " + line for line in back]]
            lines.append(f"    return {w.outputs_code('batch')}[0], gth")
        text = "\n".join(lines)
        scope: dict[str, Any] = dict(_NAMESPACE)
        scope.update(w.constants, X_WIDTH=len(self.inputs))
        exec(_compile(text, f"<autodiff lifted {kind}>", "exec"), scope)  # our own generated text, never user input
        self._lifted_text[kind] = text
        fn = scope[kind]
        self._lifted_code[kind] = fn
        return fn  # type: ignore[no-any-return]

    def source(self, kind: str = "forward") -> str:
        """The generated code: ``lifted forward``, ``lifted backward`` or ``lifted batch`` (numpy), or
        the scalar program's ``forward``, ``backward`` or ``batch`` (see :meth:`~autodiff.compile.Program.source`)."""
        if kind.startswith("lifted "):
            plain = kind[len("lifted "):]
            if plain not in ("forward", "backward", "batch"):
                raise ValueError(f"kind must be 'lifted forward', 'lifted backward' or 'lifted batch', not {kind!r}")
            if not self.lifted:
                raise ValueError("nothing in this graph was lifted: it runs as the scalar program (see source('batch'))")
            self._lifted(plain)
            return self._lifted_text[plain]
        return super().source(kind)

    def _params_vector(self) -> np.ndarray:
        theta = self._theta
        return np.fromiter([p.data for p in theta], dtype=float, count=len(theta))

    def _write_grads(self, gth: np.ndarray) -> None:
        for p, gp in zip(self._theta, gth.tolist()):
            p.grad += gp

    # -- running --------------------------------------------------------------------------------
    def __call__(self, xs: Sequence[float]) -> Union[float, list[float]]:
        """Forward on ``n_inputs`` numbers, as arrays of one row; returns the output (or the list of outputs)."""
        if not self.lifted or _switches().anomaly:
            self._scalar_last = True
            return super().__call__(xs)
        self._check_inputs(xs)
        values = [_real(x, f"input {i}") for i, x in enumerate(xs)]
        X = np.array([values], dtype=float)
        th = self._params_vector()
        try:
            with np.errstate(all="ignore"):
                outs, state = self._lifted("forward")(X, th, 1)
        except _Refer:
            self._scalar_last = True
            return super().__call__(values)
        self._scalar_last = False
        self._xs = values
        self._last = (state, th)
        results = [float(o[0]) for o in outs]
        return results[0] if self._single else results

    def backward(self, seed: float = 1.0) -> list[float]:
        """Backward from the (first) output of the last call: adds ``seed * d out/d p`` into each
        parameter's ``.grad`` and returns d out / d input for each input (times ``seed``)."""
        if self._scalar_last or not self.lifted:
            return super().backward(seed)
        if self._last is None:
            raise RuntimeError("call the program on inputs before backward()")
        if _switches().anomaly:  # checked backward: the scalar program, from the same inputs
            assert self._xs is not None
            super().__call__(self._xs)
            return super().backward(seed)
        state, th = self._last
        with np.errstate(all="ignore"):
            gth, gx = self._lifted("backward")(state, th, 1, float(seed))
        self._write_grads(gth)
        return [float(v) for v in gx[0]]

    def batch(self, rows: Sequence[Sequence[float]], seed: float = 1.0) -> list[float]:
        """Forward and backward on every row as arrays (one row a sample); returns the first output of each.

        The parameters are read once, and ``seed * d out/d p`` summed over the rows is added to
        each parameter's ``.grad``: one call is one training step's gradient.
        """
        if not self.lifted or _switches().anomaly:
            return super().batch(rows, seed)
        X = self._matrix(rows)
        B = X.shape[0]
        if B == 0:
            return []
        try:
            with np.errstate(all="ignore"):
                outs, gth = self._lifted("batch")(X, self._params_vector(), B, float(seed))
        except _Refer:
            return super().batch(rows, seed)
        self._write_grads(gth)
        return outs.tolist()  # type: ignore[no-any-return]

    def _matrix(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        """``rows`` as a float64 array of one row per sample, checked as the scalar program checks them."""
        n = len(self.inputs)
        if isinstance(rows, np.ndarray):
            if rows.ndim != 2 or rows.shape[1] != n:
                raise ValueError(f"rows must be an array of shape (samples, {n}), not {rows.shape}")
            if rows.dtype.kind not in "fiu":
                raise TypeError(f"rows must hold real numbers, not {rows.dtype}")
            return np.ascontiguousarray(rows, dtype=float)
        if not isinstance(rows, (list, tuple)):
            rows = list(rows)
        try:  # the common case, checked and converted in bulk: every row a list of n floats
            if set(map(len, rows)) == {n}:
                flat = list(chain.from_iterable(rows))
                if set(map(type, flat)) == {float}:
                    return np.fromiter(flat, dtype=float, count=len(flat)).reshape(len(rows), n)
        except TypeError:  # a row that is not a sequence: said below
            pass
        rows = self._rows(rows)
        try:
            X = np.array(rows, dtype=float)
        except (ValueError, TypeError):
            self._check_rows(rows)
            raise
        if X.ndim != 2 or X.shape[1] != n:
            if len(rows) == 0:
                return np.zeros((0, n))
            self._check_rows(rows)
        return X

    # -- carrying on elsewhere ------------------------------------------------------------------
    def to_torch(self) -> Any:
        """The lifted forward pass as a ``torch.nn.Module``, for a model that outgrows this engine.

        Its one parameter, ``theta``, holds each parameter Value's current ``.data`` once (in the
        order of ``module.values``), so weights a graph shares stay shared; calling it on a
        float64 tensor of rows (one sample a row, as :meth:`batch` takes them) returns a tensor with
        a column per output, computed by the same equations, and ``backward()`` is PyTorch's.
        ``module.write_back()`` copies ``theta`` into the Values. PyTorch is imported only here.

        >>> import autodiff, torch
        >>> from autodiff import Value
        >>> w = [Value(0.5, label="w[0]"), Value(-1.5, label="w[1]")]
        >>> prog = autodiff.compile(lambda xs: (w[0] * xs[0] + w[1] * xs[1]).tanh(), 2, lift=True)
        >>> module = prog.to_torch()
        >>> out = module(torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64))
        >>> [round(y, 6) for y in out[:, 0].tolist()]
        [0.462117, -0.905148]
        """
        if not self.lifted:
            raise ValueError("nothing in this graph was lifted: there are no equations to carry to PyTorch")
        return _torch_module(self)

    def to_jax(self) -> "JaxFunction":
        """The lifted forward pass as a pure JAX function, for a model that outgrows this engine.

        ``fn = prog.to_jax()``; ``fn(theta, rows)`` takes a float64 vector of parameters (in the
        order of ``fn.values``, each parameter Value once, so weights a graph shares stay shared;
        ``fn.theta`` holds their current ``.data``) and float64 rows (one sample a row, as
        :meth:`batch` takes them), and returns an array with a column per output, computed by the
        same equations. It is a function of its arguments alone, so ``jax.jit``, ``jax.grad`` and
        ``jax.value_and_grad`` apply to it, and its gradients are JAX's own.
        ``fn.write_back(theta)`` copies a parameter vector into the Values.

        It computes in float64, as this engine does, and JAX computes in float32 unless its 64-bit
        mode is on: ``to_jax`` and each call (or trace) refuse to run without it, and refuse arrays
        that are not float64. Turn it on at startup with
        ``jax.config.update("jax_enable_x64", True)`` (or ``JAX_ENABLE_X64=1``), or for a block
        with ``jax.enable_x64(True)``. An operand outside an op's domain (``log`` of a negative)
        raises a ValueError when the values are known; under ``jax.jit`` they are not known while
        the function is traced, and such an entry is what ``jax.numpy`` makes of it (nan or inf).
        JAX is imported only here.

        >>> import autodiff, jax
        >>> from autodiff import Value
        >>> w = [Value(0.5, label="w[0]"), Value(-1.5, label="w[1]")]
        >>> prog = autodiff.compile(lambda xs: (w[0] * xs[0] + w[1] * xs[1]).tanh(), 2, lift=True)
        >>> with jax.enable_x64(True):
        ...     fn = prog.to_jax()
        ...     rows = jax.numpy.array([[1.0, 0.0], [0.0, 1.0]])
        ...     out = jax.jit(fn)(fn.theta, rows)
        ...     grad = jax.grad(lambda theta: fn(theta, rows).sum())(fn.theta)
        >>> [round(y, 6) for y in out[:, 0].tolist()]
        [0.462117, -0.905148]
        >>> round(float(grad[0]), 6)      # d/dw[0] summed over the two rows: 1 - tanh(0.5)**2
        0.786448
        """
        if not self.lifted:
            raise ValueError("nothing in this graph was lifted: there are no equations to carry to JAX")
        return JaxFunction(self)

    # -- reading it -----------------------------------------------------------------------------
    def equations(self, batch: Optional[int] = None) -> str:
        """The program as matrix equations, each with its shapes written under it, for a call on
        ``batch`` samples (``N`` when None): forward, then the parameters' gradients."""
        if not self.lifted:
            return "nothing to lift: " + super().__str__()
        size = "N samples" if batch is None else f"batch of {batch}"
        lines = [f"lifted program ({size}):", "forward"]
        for eq in self.forward_equations:
            lines += [f"  {eq}", f"       {eq.shapes(batch)}"]
        lines.append("backward")
        for eq in self.backward_equations:
            lines += [f"  {eq}", f"       {eq.shapes(batch)}"]
        return "\n".join(lines)

    def draw(self, **options: Any) -> "Graph":
        """The lifted program drawn: a node per array, an op node per forward equation, each edge
        labelled with the shape of the array it carries (``100x2``, ``2x3``; ``N`` rows per sample
        when ``batch`` is not given, as :meth:`equations` writes them).

        Options: ``batch`` (the number of samples the shapes are written for), ``backward`` (also
        draw the backward equations, in a second cluster: a node per gradient array, its formula on
        its op node, fed by the arrays the formula names), ``rankdir`` and ``renderer`` (as
        :func:`autodiff.draw`'s). Inputs and parameters are drawn as leaves, once each, the arrays
        holding an output as roots. In the DOT and the SVG, the array of forward equation ``k``
        (in :attr:`forward_equations`) is node ``f{k}`` and its op node ``fo{k}``; backward
        equation ``k``'s are ``b{k}`` and ``bo{k}``. A program with nothing lifted draws its traced
        scalar graph (:meth:`~autodiff.compile.Program.draw`, which takes that drawing's options).

        >>> import autodiff
        >>> from autodiff import Value
        >>> w = [Value(0.5, label="w[0]"), Value(-1.5, label="w[1]")]
        >>> prog = autodiff.compile(lambda xs: (w[0] * xs[0] + w[1] * xs[1]).tanh(), 2, lift=True)
        >>> source = prog.draw(batch=100).source
        >>> 'label="100x2"' in source and 'label="2x1"' in source and 'label=tanh' in source
        True
        """
        if not self.lifted:
            return super().draw(**options)
        unknown = sorted(set(options) - {"batch", "backward", "rankdir", "renderer"})
        if unknown:
            raise TypeError(f"a lifted program's draw takes batch, backward, rankdir and renderer, not {', '.join(unknown)}")
        return _draw_lifted(self, **options)

    def __str__(self) -> str:
        return self.equations()

    def __repr__(self) -> str:
        arrays = len(self.forward_equations)
        return (f"<autodiff.LiftedProgram: {len(self.inputs)} inputs, {len(self.params)} params, "
                f"{len(self.instructions)} scalar instructions in {arrays} array equations>")


def _op_label(writer: _Writer, a: _Array) -> str:
    """What an array's op node says: ``@ +`` for a layer's affine map, else the rule's op."""
    if a.kind == "affine":
        return "@ +" if len(a.operands) > 2 and any(o is not None for o in a.operands[2:]) else "@"
    if a.kind == "rowsum" or writer._summed_columns(a) is not None:
        return "sum axis=1"
    return str(a.op) if a.arg is None else f"{a.op} {fmt.number(a.arg)}"


def _draw_lifted(prog: LiftedProgram, batch: Optional[int] = None, backward: bool = False, rankdir: str = "LR",
                 renderer: Optional[str] = None) -> "Graph":
    """:meth:`LiftedProgram.draw`: DOT built as :mod:`autodiff.render` builds it, labels through
    its ``label_text``, node styles its own (leaves, roots)."""
    import graphviz

    from .render import Graph
    from .render.draw import _CLUSTER, _LEAF, _PLAIN, _RANKDIRS, _ROOT
    from .render.escape import label_text

    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive int (the number of samples the shapes are for), not {batch!r}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, not {rankdir!r}")
    if not isinstance(backward, bool):
        raise TypeError(f"backward must be True or False, not {backward!r}")
    writer = prog._writer
    dot = graphviz.Digraph(
        "lifted",
        # newrank: rank the forward and backward clusters as one graph; dot's older ranking fails
        # ("trouble in init_rank") on some of these drawings, edges running between clusters both ways
        graph_attr={"rankdir": rankdir, "newrank": "true", "fontname": "Helvetica", "nodesep": "0.25",
                    "ranksep": "0.35"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"arrowsize": "0.6", "fontname": "Helvetica", "fontsize": "9"},
    )
    outputs = {id(prog._lifter.home[o][0]) for o in writer.g.outputs}
    step = {a.index: k for k, a in enumerate(a for a in writer.arrays if a.kind != "input")}  # its equation's number
    box = {"shape": "box", "style": "rounded,filled"}
    leaves: dict[str, str] = {}  # a leaf's name -> its node: an input or parameter read twice is one node
    carried: dict[str, tuple[str, str]] = {}  # a drawn name -> its node and the shape its edges carry

    def leaf(name: str) -> str:
        if name not in leaves:
            leaves[name] = f"l{len(leaves)}"
            dot.node(leaves[name], label=label_text(name), fillcolor=_LEAF, **box)
        return leaves[name]

    def shape(rows: int, cols: int, batched: bool, vector: bool = False) -> str:
        # a bias (one row added to every sample) is a vector, written ``(3)`` in the equations
        return str(cols) if vector else f"{_dims(rows, batched, batch)}x{cols}"

    def source_node(a: _Array) -> str:
        return leaf(a.name) if a.kind == "input" else f"f{step[a.index]}"

    equations = {eq.name: eq for eq in prog.forward_equations}
    with dot.subgraph(name="cluster_forward") as sub:
        sub.attr(label=label_text("forward"), style="rounded,dashed", color=_CLUSTER, fontcolor="#475569", fontsize="10")
        for a in writer.arrays:
            if a.kind == "input":
                continue
            fill = _ROOT if id(a) in outputs else _PLAIN
            sub.node(f"f{step[a.index]}", label=label_text(a.name), fillcolor=fill, **box,
                     **({"penwidth": "2"} if id(a) in outputs else {}))
            eq = equations.get(a.name)
            sub.node(f"fo{step[a.index]}", label=label_text(_op_label(writer, a)), shape="circle", width="0.3",
                     height="0.3", margin="0.02", fontsize="10", tooltip=label_text(str(eq) if eq else a.name))
            dot.edge(f"fo{step[a.index]}", f"f{step[a.index]}", label=label_text(shape(a.rows, a.cols, a.batched)))
            carried[a.name] = (f"f{step[a.index]}", shape(a.rows, a.cols, a.batched))
    for a in writer.arrays:
        if a.kind == "input":
            continue
        summed = writer._summed_columns(a)
        if summed is not None:  # sum(P, axis=1) over P's columns: one edge carrying all of P
            dot.edge(source_node(summed), f"fo{step[a.index]}", label=label_text(shape(summed.rows, summed.cols, summed.batched)))
            continue
        for n, o in enumerate(a.operands):
            if o is None:
                continue
            cols = 1 if o.mode == "column" else o.cols
            bias = a.kind == "affine" and n >= 2
            text = shape(o.rows, cols, o.batched, vector=bias and not o.batched and o.rows == 1)
            label = label_text(text)
            if o.mode == "const":
                node = f"fc{step[a.index]}_{n}"
                dot.node(node, label=label_text(o.name), shape="plaintext", fontcolor="#475569", fontsize="10")
                # a number an elementwise op broadcasts needs no shape; an added bias has one, as in the equations
                dot.edge(node, f"fo{step[a.index]}", **({} if isinstance(o.value, float) and not bias else {"label": label}))
            elif o.mode == "same":
                dot.edge(source_node(o.source), f"fo{step[a.index]}", label=label)  # type: ignore[arg-type]
            elif o.mode == "theta" or (o.source is not None and o.source.kind == "input"):
                # parameters (a block read again in another layout comes from its one leaf); the inputs' columns
                dot.edge(leaf(o.alias or o.name), f"fo{step[a.index]}", label=label)
                carried.setdefault(o.name, (leaf(o.alias or o.name), text))
            elif o.source is not None:  # some columns of an intermediate array
                dot.edge(f"f{step[o.source.index]}", f"fo{step[a.index]}", label=label)
            else:  # gathered from several places: a node of its own, fed by the arrays it reads
                arrays = [p[2][0] for p in o.parts if p[0] == "array"]
                node = leaf(o.name) if not arrays else f"fg{step[a.index]}_{n}"
                if arrays:
                    dot.node(node, label=label_text(o.name), shape="box", style="dashed")
                    for src in {id(s): s for s in arrays}.values():
                        dot.edge(source_node(src), node, label=label_text(shape(src.rows, src.cols, src.batched)))
                dot.edge(node, f"fo{step[a.index]}", label=label)
    if backward:
        _draw_backward(dot, prog, batch, carried)
    return Graph(dot.source, renderer)


def _mentioned(formula: str, names: list[str]) -> list[str]:
    """The ``names`` that ``formula`` mentions as whole names, in the order it does; the longest
    name wins where two overlap (``x[:, 0:2]`` rather than ``x``), so names need not be identifiers."""
    taken = [False] * len(formula)
    found: list[tuple[int, str]] = []
    for name in sorted(names, key=len, reverse=True):
        for match in re.finditer(rf"(?<![\w.]){re.escape(name)}(?!\w)", formula):
            span = range(match.start(), match.end())
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                found.append((match.start(), name))
    return list(dict.fromkeys(name for _, name in sorted(found)))


def _draw_backward(dot: Any, prog: LiftedProgram, batch: Optional[int], carried: dict[str, tuple[str, str]]) -> None:
    """The backward equations as a cluster: a node per gradient, an op node showing its formula.

    Every name in a lifted program is one array's (the names are claimed once), so the arrays an
    equation reads are the drawn names its formula mentions (``h1`` and ``delta2`` in ``h1.T @ delta2``).
    """
    from .render.draw import _CLUSTER, _PLAIN
    from .render.escape import label_text

    with dot.subgraph(name="cluster_backward") as sub:
        sub.attr(label=label_text("backward"), style="rounded,dashed", color=_CLUSTER, fontcolor="#475569", fontsize="10")
        for k, eq in enumerate(prog.backward_equations):
            # the result's shape: the last one the shapes state (``... = 3x2``, ``(100x2) -> (2)``)
            result = re.split(r" = | -> ", eq.shapes(batch))[-1].strip("()")
            sub.node(f"b{k}", label=label_text(eq.name), shape="box", style="rounded,filled", fillcolor=_PLAIN)
            sub.node(f"bo{k}", label=label_text(eq.formula.replace("\n    ", "\n")), shape="box",
                     style="dashed", fontsize="9", tooltip=label_text(str(eq)))
            for name in _mentioned(eq.formula, [n for n in carried if n != eq.name]):
                node, text = carried[name]
                dot.edge(node, f"bo{k}", label=label_text(text))
            dot.edge(f"bo{k}", f"b{k}", label=label_text(result))
            carried[eq.name] = (f"b{k}", result)


def _torch_module(prog: LiftedProgram) -> Any:
    """A ``torch.nn.Module`` running ``prog``'s forward equations: the generated forward code, with
    torch's functions where numpy's were (the rule table's text, as for numpy)."""
    import torch

    writer = prog._writer
    distinct = list({id(v): v for v in writer.theta}.values())
    position = {id(v): n for n, v in enumerate(distinct)}
    index = torch.tensor([position[id(v)] for v in writer.theta], dtype=torch.long)

    class DomainError(ValueError):
        def __init__(self) -> None:
            super().__init__("an operand outside an op's domain: run the lifted program on these rows "
                             "for the error that names the op and the labels")

    def sigmoid(a: Any) -> Any:
        positive = a >= 0
        e = torch.exp(torch.where(positive, -a, a))
        return torch.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))

    def where(c: Any, a: Any, b: Any) -> Any:
        return torch.where(torch.as_tensor(c), a, b)

    scope: dict[str, Any] = {
        "exp": torch.exp, "log": torch.log, "tanh": torch.tanh, "sigmoid": sigmoid, "power": torch.pow,
        "is_integer": lambda k: torch.isfinite(k) & (torch.floor(k) == k),
        "_where": where, "_not": torch.logical_not, "_and": torch.logical_and, "_or": torch.logical_or,
        "_any": lambda c: bool(torch.any(torch.as_tensor(c))), "_empty": lambda shape: torch.empty(shape, dtype=torch.float64),
        "_sum": lambda a, axis, keepdims=False: torch.sum(a, dim=axis, keepdim=keepdims),
        "_broadcast": torch.broadcast_to, "_tile": lambda a, reps: torch.tile(a, reps),
        "_Refer": DomainError, "float": float,
    }
    for name, value in writer.constants.items():
        if isinstance(value, np.ndarray):
            scope[name] = torch.as_tensor(value, dtype=torch.long if value.dtype.kind in "iu" else torch.float64)
    outputs = writer.outputs_code("forward")
    lines = ["def forward(X, th, B):", *["    " + line for line in writer.forward_lines],
             f"    return _stack(list({outputs}), dim=1)"]  # a column per output
    scope["_stack"] = torch.stack
    exec(_compile("\n".join(lines), "<autodiff lifted torch forward>", "exec"), scope)  # our own generated text
    forward = scope["forward"]

    class LiftedModule(torch.nn.Module):
        """A lifted program's forward equations in PyTorch; ``theta`` holds its parameters."""

        def __init__(self) -> None:
            super().__init__()
            self.values = distinct  #: the parameter Values, in the order of ``theta``
            self.theta = torch.nn.Parameter(torch.tensor([v.data for v in distinct], dtype=torch.float64))

        def forward(self, X: Any) -> Any:
            if X.dim() != 2 or X.shape[1] != len(prog.inputs):
                raise ValueError(f"rows must be a tensor of shape (samples, {len(prog.inputs)}), not {tuple(X.shape)}")
            return forward(X.to(torch.float64), self.theta[index], X.shape[0])

        def write_back(self) -> None:
            """Copy ``theta`` into the Values' ``.data``."""
            for v, x in zip(self.values, self.theta.detach().tolist()):
                v.data = x

    return LiftedModule()


def _import_jax() -> tuple[Any, Any]:
    """``jax`` and ``jax.numpy``, or an ImportError naming the package to install."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as error:
        raise ImportError("LiftedProgram.to_jax() needs JAX: install the package jax "
                          "(pip install 'jax[cpu]')") from error
    return jax, jnp


def _require_x64(jax: Any, what: str) -> None:
    """Refuse to run in JAX's default float32: this engine's numbers are float64."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            f"{what} computes in float64, as this engine does, and JAX computes in float32 unless its 64-bit "
            "mode is on: call jax.config.update('jax_enable_x64', True) at startup (or set JAX_ENABLE_X64=1), "
            "or run it inside `with jax.enable_x64(True):`")


class JaxFunction:
    """A lifted program's forward equations as a pure JAX function: ``fn(theta, rows)``, made by
    :meth:`LiftedProgram.to_jax`.

    ``values`` are the parameter Values in the order of a parameter vector, each once; ``theta``
    is their ``.data`` when the function was made (a float64 ``jax.Array``). Calling it returns a
    ``(samples, outputs)`` array; ``jax.jit``, ``jax.grad`` and ``jax.value_and_grad`` apply to it as
    to any function of arrays.
    """

    def __init__(self, prog: LiftedProgram) -> None:
        jax, jnp = _import_jax()
        _require_x64(jax, "to_jax()")
        self._jax, self._jnp = jax, jnp
        writer = prog._writer
        distinct = list({id(v): v for v in writer.theta}.values())
        position = {id(v): n for n, v in enumerate(distinct)}
        # each read of a parameter, as a position in theta: JAX's gradient sums a shared one's reads
        self._index = np.array([position[id(v)] for v in writer.theta], dtype=np.intp)
        self.values: list[Value] = distinct  #: the parameter Values, in the order of ``theta``
        self.theta = jnp.asarray([v.data for v in distinct], dtype=jnp.float64)  #: their ``.data``, as made
        self.n_inputs = len(prog.inputs)  #: the number of columns ``rows`` must have
        self._forward = _jax_forward(writer, jax, jnp)

    def __call__(self, theta: Any, rows: Any) -> Any:
        """The outputs for every row: a ``(samples, outputs)`` float64 array."""
        jax, jnp = self._jax, self._jnp
        _require_x64(jax, "the function to_jax() made")
        theta, rows = jnp.asarray(theta), jnp.asarray(rows)
        want = (len(self.values),)
        if theta.shape != want:
            raise ValueError(f"theta must be a vector of the {want[0]} parameters (shape {want}), not shape {theta.shape}")
        if rows.ndim != 2 or rows.shape[1] != self.n_inputs:
            raise ValueError(f"rows must be an array of shape (samples, {self.n_inputs}), not {rows.shape}")
        for name, array in (("theta", theta), ("rows", rows)):
            if array.dtype != jnp.float64:
                raise TypeError(f"{name} must be float64, as this engine computes, not {array.dtype}: "
                                f"make it with dtype=jax.numpy.float64")
        return self._forward(rows, theta[self._index], rows.shape[0])

    def write_back(self, theta: Any) -> None:
        """Copy the parameter vector ``theta`` (as ``fn.theta`` is laid out) into the Values' ``.data``."""
        values = np.asarray(theta, dtype=float)
        if values.shape != (len(self.values),):
            raise ValueError(f"theta must be a vector of the {len(self.values)} parameters, not shape {values.shape}")
        for v, x in zip(self.values, values.tolist()):
            v.data = x

    def __repr__(self) -> str:
        return f"<autodiff.lift.JaxFunction: {self.n_inputs} inputs, {len(self.values)} params>"


class _DomainError(ValueError):
    """An operand outside an op's domain, met by a JAX function whose values are known."""

    def __init__(self) -> None:
        super().__init__("an operand outside an op's domain: run the lifted program on these rows "
                         "for the error that names the op and the labels")


#: A line of generated forward code writing part of a gathered operand in place: ``o3_1[:, 0:2] = a1``.
_PART = re.compile(r"(o\d+_\d+)\[(.+?)\] = (.+)")


def _jax_forward(writer: _Writer, jax: Any, jnp: Any) -> Callable[..., Any]:
    """The generated forward code over ``jax.numpy``: the rule table's text as for numpy, each
    in-place write of a gathered operand written as JAX's functional ``.at[...].set(...)``."""

    def sigmoid(a: Any) -> Any:  # the scalar rule's two branches; neither overflows, nor does its gradient
        positive = a >= 0
        e = jnp.exp(jnp.where(positive, -a, a))
        return jnp.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))

    def any_(condition: Any) -> bool:
        try:
            return bool(jnp.any(condition))
        except jax.errors.ConcretizationTypeError:  # under jax.jit: no values while tracing
            return False

    scope: dict[str, Any] = {
        "exp": jnp.exp, "log": jnp.log, "tanh": jnp.tanh, "sigmoid": sigmoid, "power": jnp.power,
        "is_integer": lambda k: jnp.isfinite(k) & (jnp.floor(k) == k),
        "_where": jnp.where, "_not": jnp.logical_not, "_and": jnp.logical_and, "_or": jnp.logical_or,
        "_any": any_, "_empty": lambda shape: jnp.zeros(shape, dtype=jnp.float64),
        "_sum": jnp.sum, "_broadcast": jnp.broadcast_to, "_stack": jnp.stack,
        "_Refer": _DomainError, "float": float,
    }
    for name, value in writer.constants.items():
        if isinstance(value, np.ndarray):  # index arrays stay numpy (static under jit); numbers float64
            scope[name] = value if value.dtype.kind in "iu" else jnp.asarray(value, dtype=jnp.float64)
    scope["_tile"] = jnp.tile
    body = []
    for line in writer.forward_lines:
        part = _PART.fullmatch(line)
        body.append(f"{part[1]} = {part[1]}.at[{part[2]}].set({part[3]})" if part else line)
    outputs = writer.outputs_code("forward")
    lines = ["def forward(X, th, B):", *["    " + line for line in body],
             f"    return _stack(list({outputs}), axis=1)"]  # a column per output
    exec(_compile("\n".join(lines), "<autodiff lifted jax forward>", "exec"), scope)  # our own generated text
    return scope["forward"]  # type: ignore[no-any-return]
