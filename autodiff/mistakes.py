"""The beginner-mistake lab: what common wrong implementations of backprop compute on your graph.

Each mistake is a small engine of its own, written out below over the graph's edges (each node's
``(parent, local derivative)`` pairs), exactly as the wrong code would do it. :func:`lab` runs
them all on one graph, side by side with the right answer (:func:`autodiff.steps`, the engine's
reference walk), and names, for each, the first node where it differs, in the order backprop
visits nodes, with one sentence on why.

- ``recursive``: each node pushes its gradient into its operands and recurses into each at once,
  before the operand's other consumers have pushed theirs (a depth-first walk, not a topological
  order); a node used twice then pushes on a gradient that is not complete yet, and again later.
- ``forward order``: the topological order walked the wrong way, parents first: a node pushes
  before its consumers have given it any gradient.
- ``set of operands``: the operands kept in a set, so ``a * a`` keeps one edge instead of two.
- ``assign``: ``p.grad = local * grad`` instead of ``+=``: the last consumer overwrites the others.
- ``twice``: ``backward()`` twice without zeroing: leaves keep their gradient, so it doubles.
- ``before backward``: gradients read (or drawn) before ``backward()``: every one is still 0.

>>> from autodiff import Value
>>> a = Value(3.0, label="a")
>>> b = a * a
>>> b.label = "b"
>>> report = lab(b)
>>> report.result("set of operands").grads[report.id(a)], report.right[report.id(a)]
(3.0, 6.0)
>>> print(report.result("set of operands").first.sentence)
b = a * a uses a twice; a set of operands keeps one edge to it, so one contribution (3) is lost: a gets 3 instead of 6
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import fmt, state
from .graph import backward_order, steps, topological_order
from .ops import RULES
from .value import Value

__all__ = ["Run", "Difference", "Mistake", "MistakeResult", "MistakeLab", "MISTAKES", "lab", "recursive",
           "forward_order", "set_of_operands", "assign", "twice", "before_backward", "MAX_PUSHES"]

#: The recursive engine pushes once per path, which grows exponentially with depth: it stops here.
MAX_PUSHES = 100_000


@dataclass
class Run:
    """What one engine computed: ``grads[i]`` for the node numbered ``i`` in
    :func:`autodiff.topological_order`, and every push it made, in order, as ``(child, parent,
    amount)`` ids and numbers. ``stopped`` is True when it gave up (see :data:`MAX_PUSHES`)."""

    grads: list[float]
    pushes: list[tuple[int, int, float]] = field(default_factory=list)
    stopped: bool = False


class _Graph:
    """The graph numbered as :func:`autodiff.topological_order` numbers it, with each node's edges."""

    def __init__(self, root: Value) -> None:
        self.root = root
        self.order = topological_order(root)
        self.id = {id(v): i for i, v in enumerate(self.order)}
        self.root_id = len(self.order) - 1
        # consumers[i]: (child, k) for every edge out of node i, in forward order
        self.consumers: list[list[tuple[int, int]]] = [[] for _ in self.order]
        for c, v in enumerate(self.order):
            for k, p in enumerate(v.parents):
                self.consumers[self.id[id(p)]].append((c, k))

    def edges(self, i: int) -> list[tuple[int, float]]:
        """Node ``i``'s ``(parent id, local derivative)`` pairs, in operand order."""
        pairs = iter(self.order[i]._edges)
        return [(self.id[id(p)], local) for p, local in zip(pairs, pairs)]

    def backward(self) -> list[int]:
        """Ids in the order backprop visits them (root first)."""
        return [self.id[id(v)] for v in backward_order(self.root)]

    def start(self) -> list[float]:
        """Every gradient 0 but the root's, 1: where every engine starts."""
        grads = [0.0] * len(self.order)
        grads[self.root_id] = 1.0
        return grads


# -- the engines: each one a mistake, written out ---------------------------------------------------------
def recursive(root: Value) -> Run:
    """Depth first, pushing before the operand is complete. The wrong code::

        def backward(node):
            for parent, local in node.edges:
                parent.grad += local * node.grad
                backward(parent)          # at once, before parent's other consumers pushed

    Written with a stack instead of Python's recursion (same order, no recursion limit), and
    stopped after :data:`MAX_PUSHES` pushes: it pushes once per path, and paths multiply.
    """
    g = _Graph(root)
    grads, run = g.start(), Run([])
    stack = [(g.root_id, iter(g.edges(g.root_id)))]
    while stack:
        child, edges = stack[-1]
        edge = next(edges, None)
        if edge is None:
            stack.pop()
            continue
        parent, local = edge
        amount = local * grads[child]
        grads[parent] += amount
        run.pushes.append((child, parent, amount))
        if len(run.pushes) >= MAX_PUSHES:
            run.stopped = True
            break
        stack.append((parent, iter(g.edges(parent))))
    run.grads = grads
    return run


def forward_order(root: Value) -> Run:
    """The topological order, not reversed: parents first. The wrong code::

        for node in topological_order(root):      # should be reversed(...)
            for parent, local in node.edges:
                parent.grad += local * node.grad

    Every node but the root pushes while its gradient is still 0.
    """
    g = _Graph(root)
    grads, run = g.start(), Run([])
    for child in range(len(g.order)):
        for parent, local in g.edges(child):
            amount = local * grads[child]
            grads[parent] += amount
            run.pushes.append((child, parent, amount))
    run.grads = grads
    return run


def set_of_operands(root: Value) -> Run:
    """The right order, but each node's operands kept in a set. The wrong code::

        node.parents = set(operands)               # a * a: {a}, one edge
        for parent in node.parents:
            parent.grad += local(node, parent) * node.grad

    A node that uses one operand twice sends it one contribution instead of two.
    """
    g = _Graph(root)
    grads, run = g.start(), Run([])
    for child in g.backward():
        seen = set()
        for parent, local in g.edges(child):
            if parent in seen:
                continue  # the set holds it once
            seen.add(parent)
            amount = local * grads[child]
            grads[parent] += amount
            run.pushes.append((child, parent, amount))
    run.grads = grads
    return run


def assign(root: Value) -> Run:
    """The right order, ``=`` instead of ``+=``. The wrong code::

        for node in reversed(topological_order(root)):
            for parent, local in node.edges:
                parent.grad = local * node.grad     # overwrites what other consumers sent

    A node used more than once keeps only the last contribution.
    """
    g = _Graph(root)
    grads, run = g.start(), Run([])
    for child in g.backward():
        for parent, local in g.edges(child):
            amount = local * grads[child]
            grads[parent] = amount
            run.pushes.append((child, parent, amount))
    run.grads = grads
    return run


def twice(root: Value) -> Run:
    """The right walk, run twice without zeroing in between: ``loss.backward(); loss.backward()``.

    As in this engine and PyTorch, each pass starts intermediate nodes afresh and leaves from what
    they hold, so every leaf (every parameter) ends with twice its gradient.
    """
    g = _Graph(root)
    grads, run = [0.0] * len(g.order), Run([])
    leaf = [not v._edges for v in g.order]
    for _ in range(2):
        for i in range(len(grads)):
            if not leaf[i]:
                grads[i] = 0.0  # intermediate nodes start afresh at each call
        grads[g.root_id] += 1.0  # d root / d root, added to what a leaf root holds
        for child in g.backward():
            for parent, local in g.edges(child):
                amount = local * grads[child]
                grads[parent] += amount
                run.pushes.append((child, parent, amount))
    run.grads = grads
    return run


def before_backward(root: Value) -> Run:
    """Gradients read, or the graph drawn, before ``backward()``: a fresh graph holds 0 in every ``.grad``."""
    return Run([0.0] * len(topological_order(root)))


# -- the lab --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mistake:
    """One common mistake: its ``name``, the ``engine`` that makes it, and ``what`` it is, in a line."""

    name: str
    engine: Callable[[Value], Run]
    what: str


#: Every mistake the lab runs, in the order it shows them.
MISTAKES: tuple[Mistake, ...] = (
    Mistake("recursive", recursive, "depth-first recursion: a node pushes before all its consumers have pushed to it"),
    Mistake("forward order", forward_order, "the topological order not reversed: parents before their consumers"),
    Mistake("set of operands", set_of_operands, "operands kept in a set: a * a keeps one edge of two"),
    Mistake("assign", assign, "parent.grad = ... instead of +=: the last consumer overwrites the others"),
    Mistake("twice", twice, "backward() twice without zero_grad(): leaves keep and add"),
    Mistake("before backward", before_backward, "gradients read or drawn before backward(): all still 0"),
)


@dataclass(frozen=True)
class Difference:
    """The first node (in backprop's order) where a mistake's gradient differs from the right one."""

    node: Value
    node_id: int
    wrong: float
    right: float
    sentence: str


@dataclass
class MistakeResult:
    """One mistake on one graph: its :class:`Run`'s gradients and the first :class:`Difference` (None: none)."""

    mistake: Mistake
    run: Run
    first: Optional[Difference]

    @property
    def grads(self) -> list[float]:
        """The wrong gradients, by node id (as in :func:`autodiff.topological_order`)."""
        return self.run.grads


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@dataclass
class MistakeLab:
    """:func:`lab`'s report: the right gradients and each mistake's, by node id; ``str()`` is the
    side-by-side table with the first difference of each explained."""

    root: Value
    order: list[Value]
    right: list[float]
    results: list[MistakeResult]

    def id(self, v: Value) -> int:
        """``v``'s number in :func:`autodiff.topological_order` (the index into the gradient lists)."""
        for i, w in enumerate(self.order):
            if w is v:
                return i
        raise ValueError(f"{fmt.name(v)!r} is not in the graph of {fmt.name(self.root)!r}")

    def result(self, name: str) -> MistakeResult:
        """The result of the mistake called ``name`` (one of those in :data:`MISTAKES`)."""
        for r in self.results:
            if r.mistake.name == name:
                return r
        raise KeyError(f"no mistake {name!r}; the mistakes are: {', '.join(m.name for m in MISTAKES)}")

    def data(self) -> dict[str, Any]:
        """Plain data: nodes (id, name), right gradients, and each mistake's gradients and first difference."""
        return {"nodes": [{"id": i, "name": fmt.name(v)} for i, v in enumerate(self.order)], "right": self.right,
                "mistakes": [{"name": r.mistake.name, "what": r.mistake.what, "grads": r.grads,
                              "stopped": r.run.stopped,
                              "first": None if r.first is None else {"node": r.first.node_id, "wrong": r.first.wrong,
                                                                      "right": r.first.right,
                                                                      "sentence": r.first.sentence}}
                             for r in self.results]}

    def _rows(self, limit: int) -> list[int]:
        ids = [self.id(v) for v in backward_order(self.root)]
        return ids[:limit]

    def table(self, limit: int = 40) -> str:
        """Nodes in backprop's order (at most ``limit``), the right gradient, each mistake's; a
        differing number is marked ``*``, the first difference of a column ``<``."""
        heads = ["node", "right"] + [r.mistake.name for r in self.results]
        firsts = [r.first.node_id if r.first else None for r in self.results]
        rows = [heads]
        for i in self._rows(limit):
            cells = [fmt.name(self.order[i]), fmt.number(self.right[i])]
            for r, first in zip(self.results, firsts):
                mark = "<" if i == first else "*" if not _same(r.grads[i], self.right[i]) else ""
                cells.append(fmt.number(r.grads[i]) + mark)
            rows.append(cells)
        widths = [max(len(row[c]) for row in rows) for c in range(len(heads))]
        lines = ["  ".join(cell.rjust(w) if c else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths)))
                 for row in rows]
        if len(self.order) > limit:
            lines.append(f"... {len(self.order) - limit} more nodes")
        return "\n".join(lines)

    def text(self, rows: int = 40) -> str:
        """The report: the table (at most ``rows`` nodes), then each mistake's first difference and why."""
        lines = [f"What common wrong implementations of backprop compute for {fmt.name(self.root)} "
                 f"(* differs from the right answer, < first difference in backprop's order):", self.table(rows), ""]
        for r in self.results:
            if r.first is None:
                lines.append(f"- {r.mistake.name} ({r.mistake.what}): the same as the right answer on this graph"
                             f"{_SAME.get(r.mistake.name, '')}")
            else:
                lines.append(f"- {r.mistake.name} ({r.mistake.what}): {r.first.sentence}")
            if r.run.stopped:
                lines.append(f"  (stopped after {MAX_PUSHES} pushes: it pushes once per path)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        heads = "".join(f"<th>{html.escape(h)}</th>" for h in ["node", "right"] + [r.mistake.name for r in self.results])
        body = []
        for i in self._rows(40):
            cells = [f"<td>{html.escape(fmt.name(self.order[i]))}</td>", f"<td>{fmt.number(self.right[i])}</td>"]
            for r in self.results:
                first = r.first is not None and r.first.node_id == i
                wrong = not _same(r.grads[i], self.right[i])
                style = " style='background:#fecaca;font-weight:bold'" if first else " style='background:#fee2e2'" if wrong else ""
                cells.append(f"<td{style}>{fmt.number(r.grads[i])}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        notes = "".join(f"<li><b>{html.escape(r.mistake.name)}</b>: "
                        f"{html.escape(r.first.sentence if r.first else 'the same as the right answer on this graph')}</li>"
                        for r in self.results)
        return (f"<div class='autodiff-mistakes'><table><tr>{heads}</tr>{''.join(body)}</table>"
                f"<ul>{notes}</ul></div>")


def lab(root: Value) -> MistakeLab:
    """Run every mistake of :data:`MISTAKES` on ``root``'s graph beside the right answer.

    Nothing in the graph changes: the engines work on lists of numbers, not on ``.grad``. The right
    answer is :func:`autodiff.steps` from the root with leaves starting at 0 (what one
    ``backward()`` on a fresh graph gives).
    """
    if not isinstance(root, Value):
        raise TypeError(f"lab needs a Value, not {type(root).__name__}")
    g = _Graph(root)
    token = state.enter(anomaly=False)  # a lab shows wrong numbers, it does not stop at them
    try:
        right = [s.grad for s in steps(root, leaves_hold=False, record=False)][::-1]
    finally:
        state.leave(token)
    results = []
    for mistake in MISTAKES:
        run = mistake.engine(root)
        results.append(MistakeResult(mistake, run, _first(g, mistake.name, run, right)))
    return MistakeLab(root, g.order, right, results)


# -- why each one differs ----------------------------------------------------------------------------------
def _first(g: _Graph, name: str, run: Run, right: list[float]) -> Optional[Difference]:
    for i in g.backward():
        if g.order[i].is_constant:
            continue  # the 2 of x * 2 has a gradient too, but no one reads it
        if not _same(run.grads[i], right[i]):
            wrong = run.grads[i]
            why = _WHY[name](g, i, run, right)
            sentence = f"{why}: {fmt.name(g.order[i])} gets {fmt.number(wrong)} instead of {fmt.number(right[i])}"
            return Difference(g.order[i], i, wrong, right[i], sentence)
    return None


def _consumers(g: _Graph, i: int) -> list[tuple[int, int]]:
    """``(child, k)`` for every edge out of node ``i``, in forward order."""
    return g.consumers[i]


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _why_recursive(g: _Graph, i: int, run: Run, right: list[float]) -> str:
    # The culprit: a user of i that the recursion visited more than once. It is visited right
    # after each push into it, with the gradient it had so far, and each visit pushes to i again.
    for c, _ in _consumers(g, i):
        arrivals = [amount for _, parent, amount in run.pushes if parent == c]
        if len(arrivals) < 2:
            continue
        so_far, total = [], 0.0
        for amount in arrivals:
            total += amount
            so_far.append(total)
        slope = sum(local for p, local in g.edges(c) if p == i)
        v = g.order[c]
        return (f"{fmt.name(v)} is used {_times(len(arrivals))}, and the recursion made it push to "
                f"{fmt.name(g.order[i])} each time one of its uses had pushed to it, with the gradient it had so far "
                f"({', then '.join(fmt.number(x) for x in so_far)}: sending "
                f"{', then '.join(fmt.number(slope * x) for x in so_far)}), instead of once with its complete "
                f"gradient {fmt.number(right[c])} (sending {fmt.number(slope * right[c])})")
    return "a node above it pushed its gradient on before all of its own uses had added theirs"


def _why_forward(g: _Graph, i: int, run: Run, right: list[float]) -> str:
    consumers = _consumers(g, i)
    if consumers:
        c = g.order[consumers[0][0]]
        return (f"walking parents first, {fmt.name(c)} pushed to {fmt.name(g.order[i])} before its own consumers had "
                f"given it any gradient")
    return "walking parents first, each node pushes before it has received its gradient"


def _why_set(g: _Graph, i: int, run: Run, right: list[float]) -> str:
    for c, _ in _consumers(g, i):
        edges = g.edges(c)
        uses = sum(p == i for p, _ in edges)
        if uses > 1:
            v = g.order[c]
            lost = sum(local for p, local in [e for e in edges if e[0] == i][1:]) * right[c]
            made = RULES[v.op].formula([fmt.name(p) for p in v.parents])
            return (f"{fmt.name(v) + ' = ' if v.label else ''}{made} uses {fmt.name(g.order[i])} {_times(uses)}; "
                    f"a set of operands keeps one edge to it, so "
                    f"{'one contribution' if uses == 2 else f'{uses - 1} contributions'} ({fmt.number(lost)}) "
                    f"{'is' if uses == 2 else 'are'} lost")
    return "an operand used twice by a node it feeds lost an edge, and everything below it lost that share"


def _why_assign(g: _Graph, i: int, run: Run, right: list[float]) -> str:
    consumers = _consumers(g, i)
    if len(consumers) > 1:
        last = [amount for c, p, amount in run.pushes if p == i][-1]
        return (f"{fmt.name(g.order[i])} is used {_times(len(consumers))}; each '=' overwrote what the one "
                f"before had sent, so only the last ({fmt.number(last)}) is left")
    return "a node above it kept only its last contribution, and passed that on"


def _why_twice(g: _Graph, i: int, run: Run, right: list[float]) -> str:
    if not g.order[i]._edges:
        return (f"{fmt.name(g.order[i])} is a leaf: leaves keep their gradient between backward() calls (they "
                f"accumulate), so the second call added {fmt.number(right[i])} again; call zero_grad() in between")
    return "the second backward() started from gradients the first left behind"


def _why_before(g: _Graph, i: int, run: Run, right: list[float]) -> str:
    return (f"before {fmt.name(g.root)}.backward() every .grad still holds its initial 0 (a drawing made then shows "
            f"grad 0 everywhere)")


# Why a mistake can give the right answer on a graph
_SAME = {
    "recursive": " (no node here that has operands is used more than once)",
    "set of operands": " (no node here uses the same operand twice)",
    "assign": " (no node here is used more than once)",
}

_WHY: dict[str, Callable[[_Graph, int, Run, list[float]], str]] = {
    "recursive": _why_recursive,
    "forward order": _why_forward,
    "set of operands": _why_set,
    "assign": _why_assign,
    "twice": _why_twice,
    "before backward": _why_before,
}
