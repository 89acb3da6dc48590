"""Graph walks: the order backprop visits nodes in, and the chain rule applied along it.

Everything here is one idea. :func:`backward_order` lists the nodes root first, each once all of
its consumers are done; :func:`walk` pairs each node with its (parent, local derivative) edges in
that order; and :func:`steps` applies the chain rule along it, one :class:`Step` per node::

    grad[root] = 1
    for node, edges in walk(root):
        for parent, local in edges:
            grad[parent] += local * grad[node]

That loop is the reference: :func:`grad`, :func:`backward_steps`, the step record read by the
debugger, the page and the notebook, and :func:`backward` whenever a hook or anomaly mode is on,
all run it. Plain :func:`backward` runs :mod:`autodiff.fast`, the same arithmetic in the same
order, unrolled and measured (a property test holds the two equal bit for bit).

>>> from autodiff import Value
>>> a = Value(3.0, label="a")
>>> loss = a * a + a
>>> [v.label or v.op for v in topological_order(loss)]
['a', '*', '+']
>>> grad(loss, [a])
[7.0]
>>> a.grad  # grad() leaves .grad alone
0.0

Walks are thread-safe: one lock serialises them (the interpreter runs one thread's Python at a
time anyway), so two threads calling ``backward()`` on graphs that share nodes both get their
own correct gradients, added into shared leaves one pass after the other.
"""

from __future__ import annotations

import math
import threading
import weakref
from typing import Iterator, Literal, Optional, Sequence, Union, overload

from . import fast, fmt, state
from .value import HOOKED, Value, _get_extra, _real, _set_extra

__all__ = ["backward_order", "walk", "topological_order", "backward", "grad", "steps", "backward_steps",
           "Step", "Contribution"]

# Held around every walk that uses the counters on the nodes, and every backward.
_LOCK = threading.RLock()


def _check_root(root: object, what: str) -> Value:
    if not isinstance(root, Value):
        hint = " (for several roots, add them up first: Value.sum(roots))" if isinstance(root, (list, tuple)) else ""
        raise TypeError(f"{what} needs a Value, not {type(root).__name__}{hint}")
    return root


# -- the order -----------------------------------------------------------------------------------
def backward_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, in the order backprop visits it: root first, each node once
    all of its consumers are done; intermediate nodes in the order :func:`backward` releases
    them, then the leaves (which only receive). Returns a new list each time.

    A graph never changes once built, so the order is worked out once and kept on the root.
    """
    _check_root(root, "backward_order")
    rest = _get_extra(root, "order")
    if rest is None:
        with _LOCK:
            rest = _leaves_appended(root, _intermediate_part(root))
            _set_extra(root, "order", rest)
    return [root, *rest]


def _intermediate_part(root: Value) -> list[Value]:
    # Shared with backward(), whichever ran first, so that the order stays the same even if ops
    # made later also consume nodes of this graph.
    if not root._edges:
        return []
    known = _get_extra(root, "backward_order")
    if known is None:
        known = _keep(fast.intermediate_order(root))
        _set_extra(root, "backward_order", known)
    return known


def _leaves_appended(root: Value, known: list[Value]) -> list[Value]:
    seen: set[int] = set()
    leaves = []
    for v in (*reversed(known), root):  # deepest first, so topological_order lists leaves as first used
        for p in v._edges[0::2]:
            if not p._edges and id(p) not in seen:
                seen.add(id(p))
                leaves.append(p)
    return known + leaves[::-1]


def _keep(order: list[Value]) -> list[Value]:
    """``order`` (a root first) without the root, to be kept on the root; changes ``order``.

    A list held by the root that held the root itself would be a reference cycle: the whole graph
    would then outlive its last use until the cyclic garbage collector ran (never, with it off).
    The root is taken out in place: a copy would touch every node's reference count, twice.
    """
    del order[0]
    return order


def walk(root: Value) -> Iterator[tuple[Value, tuple[tuple[Value, float], ...]]]:
    """Each node in :func:`backward_order` with its edges, ``((parent, local), ...)`` in operand order.

    >>> from autodiff import Value
    >>> x = Value(2.0, label="x")
    >>> [(v.label or v.op, [(p.label, local) for p, local in edges]) for v, edges in walk(x * x)]
    [('*', [('x', 2.0), ('x', 2.0)]), ('x', [])]
    """
    for v in backward_order(root):
        pairs = iter(v._edges)
        yield v, tuple(zip(pairs, pairs))


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each after all of its parents; ``root`` is last.

    Iterative (no recursion limit): a chain of a million nodes is fine. Deterministic, and the
    reverse of :func:`backward_order`.
    """
    return backward_order(root)[::-1]


# -- the step record -------------------------------------------------------------------------------
class Contribution:
    """What one edge did in a step: ``parent``'s gradient went from ``before`` to ``after`` by ``amount``.

    ``amount == local * step.grad`` (except through a closed gate such as relu's, which sends 0);
    ``k`` is the operand position (``a * a`` has two edges to ``a``); ``parent_id`` numbers the
    parent as :func:`topological_order` does (``parent`` is None in a record read back from JSON).
    """

    __slots__ = ("parent", "parent_id", "k", "local", "amount", "before", "after")

    def __init__(self, parent: Optional[Value], parent_id: int, k: int, local: float, amount: float,
                 before: float, after: float) -> None:
        self.parent = parent
        self.parent_id = parent_id
        self.k = k
        self.local = local
        self.amount = amount
        self.before = before
        self.after = after

    def _numbers(self) -> tuple[object, ...]:
        return (self.parent_id, self.k, self.local, self.amount, self.before, self.after)

    def __eq__(self, other: object) -> bool:
        """Equal when every number and id is (the Values themselves are not compared: a record
        read back from JSON has none)."""
        return isinstance(other, Contribution) and _same(self._numbers(), other._numbers())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = fmt.name(self.parent) if self.parent is not None else f"node {self.parent_id}"
        return (f"Contribution({name}: {fmt.number(self.before)} + {fmt.number(self.local)} * grad "
                f"= {fmt.number(self.after)})")


class Step:
    """One node's turn in backprop: its final ``grad`` and what it pushed to each parent.

    ``index`` counts from 0 in the order backprop applies the steps; ``node_id`` numbers the node
    as :func:`topological_order` does (``node`` is None in a record read back from JSON). ``hook``
    is None, or the gradient the node's hooks were given when they replaced it with ``grad``.

    ``kind`` is ``"backward"``, or ``"forward"`` for a step of forward mode
    (:func:`autodiff.forward_steps`): there ``grad`` is the node's tangent, and each contribution
    is an operand's tangent (``before``... see :func:`~autodiff.forward_steps`) times ``local``.
    """

    __slots__ = ("index", "node", "node_id", "grad", "contributions", "hook", "kind")

    def __init__(self, index: int, node: Optional[Value], node_id: int, grad: float,
                 contributions: list[Contribution], hook: Optional[float] = None, kind: str = "backward") -> None:
        self.index = index
        self.node = node
        self.node_id = node_id
        self.grad = grad
        self.contributions = contributions
        self.hook = hook
        self.kind = kind

    @property
    def tangent(self) -> float:
        """A forward step's tangent (the same number as ``grad``)."""
        return self.grad

    def __eq__(self, other: object) -> bool:
        """Equal when every number, id and contribution is (the Values themselves are not compared)."""
        return (isinstance(other, Step) and self.kind == other.kind
                and _same((self.index, self.node_id, self.grad, self.hook),
                          (other.index, other.node_id, other.grad, other.hook))
                and self.contributions == other.contributions)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = fmt.name(self.node) if self.node is not None else f"node {self.node_id}"
        return f"Step({self.index}, {name!r}, grad={fmt.number(self.grad)}, {len(self.contributions)} contributions)"


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Equal field by field, nan equal to nan (a record of a nan gradient equals its copy)."""
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))


def _check_grad(v: Value, g: float) -> None:
    if math.isnan(g) or math.isinf(g):
        operands = ", ".join(f"{fmt.name(p)} = {p.data!r}" for p in v.parents)
        where = _get_extra(v, "origin")
        raise FloatingPointError(
            f"anomaly: gradient {g!r} at node {fmt.name(v)!r} (op {v.op or 'leaf'!r}, "
            f"data {v.data!r}{', operands ' + operands if operands else ''})"
            + (f"; created at {where}" if where else "")
        )


def _bad_edge(v: Value, p: Value, local: float, g: float, amount: float) -> FloatingPointError:
    where = _get_extra(v, "origin")
    return FloatingPointError(
        f"anomaly: backward through op {v.op!r} at node {fmt.name(v)!r} sent {amount!r} "
        f"(= local {local!r} * grad {g!r}) to {fmt.name(p)!r} = {p.data!r}"
        + (f"; created at {where}" if where else "")
    )


def steps(root: Value, *, leaves_hold: bool = True, apply: bool = False, record: bool = True) -> Iterator[Step]:
    """The chain rule from ``root``, one :class:`Step` per node in :func:`backward_order`: the reference walk.

    Gradients start as :func:`backward` starts them: the root at 1, intermediate nodes afresh,
    leaves from what they hold (``leaves_hold=False``: from 0, as :func:`grad` wants). A node's
    first contribution sets its gradient, later ones add to it. Hooks run once a node's gradient is
    complete and may replace it; anomaly mode checks every gradient and every edge's amount.
    Nothing changes ``.grad`` unless ``apply`` (then each step is written into the graph's
    ``.grad`` fields before it is yielded). ``record=False`` leaves ``contributions`` empty.
    """
    walked = list(walk(root))
    order = [v for v, _ in walked]
    last = len(order) - 1
    position = {id(v): i for i, v in enumerate(order)}
    leaf = [not v._edges for v in order]
    held = [v.grad if (is_leaf and leaves_hold) else 0.0 for v, is_leaf in zip(order, leaf)]
    grads = list(held)
    fresh = [not is_leaf for is_leaf in leaf]  # an intermediate node's first contribution sets it
    grads[0] = held[0] + 1.0 if leaf[0] else 1.0
    fresh[0] = False
    hooked = {position[id(h)] for h in list(HOOKED) if id(h) in position}
    incoming = {i: 0.0 for i in hooked if leaf[i]}  # what this pass brings each hooked leaf
    if 0 in incoming:
        incoming[0] = 1.0
    anomaly = state.current().anomaly
    if apply:
        for v, g in zip(order, grads):
            if v._edges:
                v.grad = 0.0
        root.grad = grads[0]
    for i, (v, edges) in enumerate(walked):
        g = grads[i]
        given = None
        if i in hooked:
            given = passed = incoming[i] if leaf[i] else g
            for fn in list(_get_extra(v, "hooks", ())):
                replaced = fn(passed)
                if replaced is not None:
                    passed = _real(replaced, "a hook's return value")
            g = grads[i] = held[i] + passed if leaf[i] else passed
            if apply:
                v.grad = g
        if anomaly:
            _check_grad(v, g)
        contributions = []
        for k, (p, local) in enumerate(edges):
            amount = fast.through(v, local, g)
            if anomaly and (math.isnan(amount) or math.isinf(amount)):
                raise _bad_edge(v, p, local, g, amount)
            j = position[id(p)]
            before = grads[j]
            after = grads[j] = amount if fresh[j] else before + amount
            fresh[j] = False
            if j in incoming:
                incoming[j] += amount
            if apply:
                p.grad = after
            if record:
                contributions.append(Contribution(p, last - j, k, local, amount, before, after))
        yield Step(i, v, last - i, g, contributions, given)


# -- the entry points --------------------------------------------------------------------------------
_HOOK_CHECKS: "weakref.WeakKeyDictionary[Value, tuple[frozenset[int], bool]]" = weakref.WeakKeyDictionary()


def _hooks_in(root: Value) -> bool:
    """Whether a node of ``root``'s graph has a hook; worked out once per root and set of hooked nodes."""
    hooked = frozenset(id(h) for h in list(HOOKED))
    if not hooked:
        return False
    known = _HOOK_CHECKS.get(root)
    if known is not None and known[0] == hooked:
        return known[1]
    found = any(id(v) in hooked for v in backward_order(root))
    _HOOK_CHECKS[root] = (hooked, found)
    return found


def backward(root: Value, create_graph: bool = False) -> None:
    """Set ``root.grad`` to 1 and push gradients to every ancestor, leaves accumulating.

    Intermediate nodes' gradients are recomputed from zero at each call; leaves (inputs,
    parameters) add to what they had, as in PyTorch with ``retain_graph=True``. The graph is
    always kept, so backward can run again. Nodes are visited in :func:`backward_order`.

    With ``create_graph=True``, each leaf also keeps its gradient as a Value in ``grad_value``
    (built by :func:`autodiff.higher.grad_graph`, accumulated like ``grad``), as PyTorch keeps
    a differentiable ``.grad`` after ``backward(create_graph=True)``.
    """
    _check_root(root, "backward")
    if create_graph:
        from .higher import grad_graph  # builds on this module

        leaves = [v for v in backward_order(root) if not v._edges]
        for leaf, g in zip(leaves, grad_graph(root, leaves)):
            held = leaf.grad_value
            leaf.grad_value = g if held is None else held + g
    with _LOCK:
        if (HOOKED and _hooks_in(root)) or state.current().anomaly:
            for _ in steps(root, apply=True, record=False):
                pass
            return
        if not root._edges:  # a leaf: d root / d root = 1, accumulated
            root.grad += 1.0
            return
        known: Optional[list[Value]] = _get_extra(root, "backward_order")
        if known is not None:
            fast.replay(root, known)
            return
        order, stuck = fast.first_backward(root)
        if stuck:
            order += fast.finish_backward(order, stuck, grads=True)
        _set_extra(root, "backward_order", _keep(order))


@overload
def grad(root: Value, inputs: Sequence[Value]) -> list[float]: ...
@overload
def grad(root: Value, inputs: Sequence[Value], create_graph: Literal[False]) -> list[float]: ...
@overload
def grad(root: Value, inputs: Sequence[Value], create_graph: Literal[True]) -> list[Value]: ...


def grad(root: Value, inputs: Sequence[Value], create_graph: bool = False) -> Union[list[float], list[Value]]:
    """d root / d x for each x in ``inputs``, as floats, without touching any ``.grad``.

    Like ``torch.autograd.grad``: a tool can ask for one gradient with no side effects. An input
    the root does not depend on gets 0. With ``create_graph=True`` the gradients are Values, built
    as a graph from the rule table's expressions (see :mod:`autodiff.higher`): they can be drawn,
    traced and differentiated again.
    """
    _check_root(root, "grad")
    if isinstance(inputs, Value) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"grad(root, inputs) takes a list of Values as inputs, not {type(inputs).__name__}")
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: input #{i} must be a Value, not {type(x).__name__}: {x!r}")
    if create_graph:
        from .higher import grad_graph  # builds on this module

        return grad_graph(root, inputs)
    final = {id(s.node): s.grad for s in steps(root, leaves_hold=False, record=False)}
    return [final.get(id(x), 0.0) for x in inputs]


def backward_steps(root: Value, record: bool = True) -> Iterator[Step]:
    """Backprop from ``root``, yielding one :class:`Step` per node in the order :func:`backward` applies them.

    Each step is applied to ``.grad`` before it is yielded, so running all of them leaves exactly
    the grads that ``root.backward()`` leaves. Hooks and anomaly mode behave as in :func:`backward`.

    >>> from autodiff import Value
    >>> x = Value(2.0, label="x")
    >>> y = (x * x).tanh()
    >>> y.label = "y"
    >>> [(fmt.name(s.node), len(s.contributions)) for s in backward_steps(y)]
    [('y', 1), ('x * x', 2), ('x', 0)]
    """
    _check_root(root, "backward_steps")
    return steps(root, apply=True, record=record)
