"""Graph traversal: topological order, backward, side-effect-free gradients, and backprop as steps.

:func:`backward` is one loop over (parent, local derivative) pairs in reverse topological order.
A node's pairs are its ``_edges``, ``(parent, local, parent, local, ...)``; a leaf has none. The
walks read them as ``zip(pairs, pairs)`` over one iterator of the tuple, which takes them two at
a time without copying.
:func:`backward_steps` is the same walk, one node at a time, with every number it touches: it is
what hooks, anomaly mode, the tracer's step view, the debugger and the HTML page all run on.

>>> from autodiff import Value
>>> a = Value(3.0, label="a")
>>> loss = a * a + a
>>> [v.label or v.op for v in topological_order(loss)]
['a', '*', '+']
>>> grad(loss, [a])
[7.0]
>>> a.grad  # grad() leaves .grad alone
0.0
"""

from __future__ import annotations

import math
from itertools import chain
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from . import value as _state

if TYPE_CHECKING:
    from .value import Value

__all__ = ["topological_order", "backward", "grad", "backward_steps", "Step", "Contribution"]


def _intermediate_order(root: "Value") -> list["Value"]:
    """The intermediate nodes (root first) in the order backprop releases them, without any grads.

    The same walk as :func:`_first_backward`, with the same bookkeeping, on counters only: a node
    is released once all of its uses (``_uses``, counted as the graph was built) have been seen;
    what stays stuck (used outside this root's graph too) is finished by :func:`_finish_backward`.
    """
    order: list[Value] = []
    stack = [root]
    reached = 0
    try:
        while stack:
            v = stack.pop()
            order.append(v)  # on leaving the stack, as _first_backward notes it
            v._pending = 0
            for p in v._edges[0::2]:
                if p._edges:
                    n = p._pending + 1
                    p._pending = n
                    if n == 1:
                        reached += 1
                    if n == p._uses:
                        stack.append(p)
    except BaseException:
        _clear_counters(root)
        raise
    if reached != len(order) - 1:
        order += _finish_backward(order, _stuck(order), grads=False)
    return order


def _release_order(root: "Value") -> list["Value"]:
    """Every node in the order backprop visits it: each once all of its consumers are done.

    This is the one order behind :func:`topological_order` (its reverse), :func:`backward`,
    :func:`backward_steps`, :func:`grad`, the step record and ``trace``, so that they all add
    the same numbers in the same order. Intermediate nodes come first, in the order
    :func:`backward` releases them; leaves, which only receive, come last. A graph never changes
    once built (``parents`` are fixed at creation), so the order is kept on the root: what comes
    after the root, in ``root._order`` (see :func:`_keep`). Returns a new list each time.
    """
    rest = getattr(root, "_order", None)
    if rest is None:
        if not root._edges:
            rest = []
        else:
            # The intermediate part is shared with backward(), whichever ran first, so that the
            # order stays the same even if ops made later also consume nodes of this graph.
            known = getattr(root, "_backward_order", None)
            if known is None:
                known = root._backward_order = _keep(_intermediate_order(root))
            seen: set[int] = set()
            leaves = []
            for v in chain(reversed(known), (root,)):  # deepest first, so topological_order lists leaves as first used
                for p in v._edges[0::2]:
                    if not p._edges and id(p) not in seen:
                        seen.add(id(p))
                        leaves.append(p)
            rest = known + leaves[::-1]
        root._order = rest
    return [root, *rest]


def _keep(order: list["Value"]) -> list["Value"]:
    """``order`` (a root first) without the root, to be kept on the root; changes ``order``.

    A list held by the root that held the root itself would be a reference cycle: the whole graph
    would then outlive its last use until the cyclic garbage collector ran (never, with it off).
    The root is taken out in place: a copy would touch every node's reference count, twice, which
    on a large graph costs more than a tenth of the walk.
    """
    del order[0]
    return order


def _reset(order: list["Value"]) -> None:
    # Intermediate nodes start afresh at each backward; leaves accumulate, as in PyTorch.
    for v in order:
        if v._edges:
            v.grad = 0.0


def topological_order(root: "Value") -> list["Value"]:
    """Every node ``root`` depends on, each after all of its parents; ``root`` is last.

    Iterative (no recursion limit): a chain of a million nodes is fine. The order is
    deterministic, and :func:`backward` visits nodes in exactly its reverse.
    """
    return _release_order(root)[::-1]


def backward(root: "Value") -> None:
    """Set ``root.grad`` to 1 and push gradients to every ancestor, leaves accumulating.

    Intermediate nodes' gradients are recomputed from zero at each call; leaves (inputs,
    parameters) add to what they had, as in PyTorch with ``retain_graph=True``. The graph is
    always kept, so backward can run again. Nodes are visited in the reverse of
    :func:`topological_order`.
    """
    env = _state._ENV
    if env["_LIVE_HOOKS"] or env["_ANOMALY"]:
        for _ in backward_steps(root, record=False):
            pass
        return
    if not root._edges:  # a leaf: d root / d root = 1, accumulated
        root.grad += 1.0
        return
    known: Optional[list[Value]] = getattr(root, "_backward_order", None)
    if known is not None:
        _replay(root, known)
        return
    order, stuck = _first_backward(root)
    if stuck:
        order += _finish_backward(order, stuck, grads=True)
    root._backward_order = _keep(order)


def _first_backward(root: "Value") -> tuple[list["Value"], list["Value"]]:
    """The first backward from ``root``: one walk, no counting pass.

    Every node knows how many ops took it as an operand (``_uses``, counted as the graph was
    built), so an intermediate node is released as soon as that many contributions have reached
    it; its first contribution replaces whatever grad it held (intermediate nodes start afresh),
    leaves add up and are never waited for. Returns the nodes released, in order (root first), and
    the "stuck" ones: nodes that also feed ops outside this root's graph, so that not all their
    uses will come. Those are finished by :func:`_finish_backward`.
    """
    root.grad = 1.0
    order: list[Value] = []
    note = order.append
    stack = [root]
    push = stack.append
    pop = stack.pop
    reached = 0  # intermediate nodes that received a first contribution
    try:
        while stack:
            v = pop()
            note(v)
            v._pending = 0  # released: its counter is done with
            g = v.grad
            edges = v._edges
            if len(edges) == 4:  # most ops: the generic loop below, unrolled for two operands
                a, la, b, lb = edges
                if a._edges:
                    n = a._pending + 1
                    a._pending = n
                    if n == 1:
                        a.grad = la * g
                        reached += 1
                    else:
                        a.grad += la * g
                    if n == a._uses:
                        push(a)
                else:
                    a.grad += la * g
                if b._edges:
                    n = b._pending + 1
                    b._pending = n
                    if n == 1:
                        b.grad = lb * g
                        reached += 1
                    else:
                        b.grad += lb * g
                    if n == b._uses:
                        push(b)
                else:
                    b.grad += lb * g
            elif len(edges) == 2:  # unrolled for one operand
                a, la = edges
                if a._edges:
                    n = a._pending + 1
                    a._pending = n
                    if n == 1:
                        a.grad = la * g
                        reached += 1
                    else:
                        a.grad += la * g
                    if n == a._uses:
                        push(a)
                else:
                    a.grad += la * g
            else:  # a sum of many
                pairs = iter(edges)
                for p, local in zip(pairs, pairs):
                    if p._edges:
                        n = p._pending + 1
                        p._pending = n
                        if n == 1:
                            p.grad = local * g
                            reached += 1
                        else:
                            p.grad += local * g
                        if n == p._uses:
                            push(p)
                    else:
                        p.grad += local * g
    except BaseException:
        _clear_counters(root)
        raise
    return order, ([] if reached == len(order) - 1 else _stuck(order))


def _stuck(released: list["Value"]) -> list["Value"]:
    """The nodes a walk reached but never released (their counters are still running), each once;
    their counters are set back to 0."""
    stuck: list[Value] = []
    for v in released:
        for p in v._edges[0::2]:
            if p._pending and p._edges:
                stuck.append(p)
                p._pending = 0
    return stuck


def _clear_counters(root: "Value") -> None:
    """After an interrupted walk: every counter under ``root`` back to 0, so later walks start clean."""
    root._pending = 0
    seen = {id(root)}
    stack = [root]
    while stack:
        for p in stack.pop()._edges[0::2]:
            p._pending = 0
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)


def _finish_backward(done: list["Value"], stuck: list["Value"], grads: bool) -> list["Value"]:
    """Release what the first walk could not: the stuck nodes and their ancestors, in order.

    A stuck node has every contribution from the nodes already done; what it still waits for
    comes from consumers outside the root's graph (which never come) or from nodes of this same
    unfinished region. So the region is finished by Kahn's algorithm with consumers counted inside
    the region only. With ``grads``, gradients are pushed as the nodes are released.
    """
    finished = {id(v) for v in done}
    count: dict[int, int] = {}
    seen = {id(s) for s in stuck}
    stack = list(stuck)
    while stack:
        for p in stack.pop()._edges[0::2]:
            if p._edges and id(p) not in finished:
                count[id(p)] = count.get(id(p), 0) + 1
                if id(p) not in seen:
                    seen.add(id(p))
                    if grads:
                        p.grad = 0.0  # never reached by the first walk: starts afresh
                    stack.append(p)
    order: list[Value] = []
    stack = [s for s in stuck if not count.get(id(s))]
    while stack:
        v = stack.pop()
        order.append(v)
        g = v.grad
        edges = v._edges
        pairs = iter(edges)
        for p, local in zip(pairs, pairs):
            if grads:
                p.grad += local * g
            if p._edges:
                left = count[id(p)] - 1
                count[id(p)] = left
                if not left:
                    stack.append(p)
    return order


def _replay(root: "Value", rest: list["Value"]) -> None:
    """Backward over a known order of the intermediate nodes (``root``, then ``rest``): reset, seed, push."""
    for v in rest:
        v.grad = 0.0
    root.grad = 1.0
    for v in chain((root,), rest):
        edges = v._edges
        g = v.grad
        if len(edges) == 4:
            a, la, b, lb = edges
            a.grad += la * g
            b.grad += lb * g
        elif len(edges) == 2:
            a, la = edges
            a.grad += la * g
        else:
            pairs = iter(edges)
            for p, local in zip(pairs, pairs):
                p.grad += local * g


def grad(root: "Value", inputs: Sequence["Value"]) -> list[float]:
    """d root / d x for each x in ``inputs``, as floats, without touching any ``.grad``.

    Like ``torch.autograd.grad``: a tool can ask for one gradient with no side effects.
    """
    grads: dict[int, float] = {id(root): 1.0}
    get = grads.get
    anomaly = _state._ENV["_ANOMALY"]
    for v in _release_order(root):
        g = get(id(v), 0.0)
        if anomaly:
            _check_grad(v, g)
        edges = v._edges
        pairs = iter(edges)
        for p, local in zip(pairs, pairs):
            grads[id(p)] = get(id(p), 0.0) + local * g
    return [get(id(x), 0.0) for x in inputs]


class Contribution:
    """What one edge of a step did: ``parent.grad`` went from ``before`` to ``after`` by ``amount``.

    ``amount == local * step.grad``.
    """

    __slots__ = ("parent", "local", "amount", "before", "after")

    def __init__(self, parent: "Value", local: float, amount: float, before: float, after: float) -> None:
        self.parent = parent
        self.local = local
        self.amount = amount
        self.before = before
        self.after = after

    def __repr__(self) -> str:
        name = self.parent.label or self.parent.op or "const"
        return f"Contribution({name}: {self.before:.6g} + {self.local:.6g}*g = {self.after:.6g})"


class Step:
    """One node's turn in backprop: its final ``grad`` and what it pushed to each parent.

    ``index`` counts from 0 in the order :func:`backward` applies the steps.
    """

    __slots__ = ("index", "node", "grad", "contributions")

    def __init__(self, index: int, node: "Value", grad: float, contributions: list[Contribution]) -> None:
        self.index = index
        self.node = node
        self.grad = grad
        self.contributions = contributions

    def __repr__(self) -> str:
        name = self.node.label or self.node.op
        return f"Step({self.index}, {name!r}, grad={self.grad:.6g}, {len(self.contributions)} contributions)"


def _check_grad(v: "Value", g: float) -> None:
    if math.isnan(g) or math.isinf(g):
        operands = ", ".join(f"{p.label or 'unlabelled'} = {p.data!r}" for p in v.parents)
        where = getattr(v, "_origin", None)
        raise FloatingPointError(
            f"anomaly: gradient {g!r} at node {v.label or 'unlabelled'!r} (op {v.op or 'leaf'!r}, "
            f"data {v.data!r}{', operands ' + operands if operands else ''})"
            + (f"; created at {where}" if where else "")
        )


def backward_steps(root: "Value", record: bool = True) -> Iterator[Step]:
    """Backprop from ``root``, yielding one :class:`Step` per node in the order :func:`backward` applies them.

    Each step is applied before it is yielded, so running all of them leaves exactly the grads
    that ``root.backward()`` leaves. Hooks and anomaly mode behave as in :func:`backward`.

    >>> from autodiff import Value
    >>> x = Value(2.0, label="x")
    >>> y = (x * x).tanh()
    >>> y.label = "y"
    >>> [(s.node.label or s.node.op, len(s.contributions)) for s in backward_steps(y)]
    [('y', 1), ('*', 2), ('x', 0)]
    """
    anomaly = _state._ENV["_ANOMALY"]
    order = _release_order(root)
    _reset(order)
    root.grad += 1.0
    for index, v in enumerate(order):
        hooks = getattr(v, "_hooks", None)
        if hooks:
            for fn in list(hooks):
                replaced = fn(v)
                if replaced is not None:
                    v.grad = _state._real(replaced, "a hook's return value")
        g = v.grad
        if anomaly:
            _check_grad(v, g)
        contributions = []
        edges = v._edges
        pairs = iter(edges)
        for p, local in zip(pairs, pairs):
            amount = local * g
            before = p.grad
            p.grad = before + amount
            if anomaly and (math.isnan(amount) or math.isinf(amount)):
                raise FloatingPointError(
                    f"anomaly: backward through op {v.op!r} at node {v.label or 'unlabelled'!r} sent "
                    f"{amount!r} (= local {local!r} * grad {g!r}) to "
                    f"{p.label or 'an unlabelled node'} = {p.data!r}"
                    + (f"; created at {v._origin}" if hasattr(v, "_origin") else "")
                )
            if record:
                contributions.append(Contribution(p, local, amount, before, p.grad))
        yield Step(index, v, g, contributions)
