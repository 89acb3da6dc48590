"""Graph traversal: topological order, backward, side-effect-free gradients, and backprop as steps.

:func:`backward` is one loop over (parent, local derivative) pairs in reverse topological order.
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
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from . import value as _state

if TYPE_CHECKING:
    from .value import Value

__all__ = ["topological_order", "backward", "grad", "backward_steps", "Step", "Contribution"]


def _count_consumers(root: "Value", reset: bool) -> None:
    """Set each ancestor's ``_pending`` to its number of consumers under ``root``; with ``reset``,
    zero intermediate grads (leaves accumulate, as in PyTorch)."""
    stack = [root]
    push = stack.append
    pop = stack.pop
    if not reset:
        while stack:
            for p in pop().parents:
                n = p._pending
                p._pending = n + 1
                if not n:
                    push(p)
        return
    if root.parents:
        root.grad = 0.0
    while stack:
        for p in pop().parents:
            if p.parents:  # leaves are never waited for: they only accumulate
                n = p._pending
                p._pending = n + 1
                if not n:
                    push(p)
                    p.grad = 0.0


def _clear(root: "Value") -> None:
    """After an interrupted walk: every counter under ``root`` back to zero, so the next walk starts clean."""
    root._pending = 0
    stack = [root]
    seen = {id(root)}
    while stack:
        for p in stack.pop().parents:
            p._pending = 0
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)


def _release_order(root: "Value") -> list["Value"]:
    """Nodes in the order backprop visits them: each once all of its consumers are done.

    This is the one order behind :func:`topological_order` (its reverse), :func:`backward`
    and :func:`backward_steps`. A graph never changes once built (``parents`` are fixed at
    creation), so the order is computed once per root and kept on it.
    """
    order = getattr(root, "_order", None)
    if order is None:
        _count_consumers(root, reset=False)
        order = []
        note = order.append
        stack = [root]
        push = stack.append
        pop = stack.pop
        try:
            while stack:
                v = pop()
                note(v)
                for p in v.parents:
                    n = p._pending - 1
                    p._pending = n
                    if not n:
                        push(p)
        except BaseException:
            _clear(root)
            raise
        root._order = order
    return order


def _reset(order: list["Value"]) -> None:
    # Intermediate nodes start afresh at each backward; leaves accumulate, as in PyTorch.
    for v in order:
        if v.parents:
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
    if not root.parents:  # a leaf: d root / d root = 1, accumulated
        root.grad += 1.0
        return
    known: Optional[list[Value]] = getattr(root, "_backward_order", None)
    if known is not None:
        _replay(known)
        return
    # First backward from this root: find the order while pushing gradients (one fused walk),
    # releasing each intermediate parent once its last consumer has pushed into it. Leaves are
    # not waited for and not listed: they only accumulate.
    _count_consumers(root, reset=True)
    root.grad += 1.0
    order: list[Value] = []
    note = order.append
    stack = [root]
    push = stack.append
    pop = stack.pop
    try:
        while stack:
            v = pop()
            note(v)
            parents = v.parents
            g = v.grad
            if len(parents) == 2:
                a, b = parents
                la, lb = v.locals
                a.grad += la * g
                if a.parents:
                    n = a._pending - 1
                    a._pending = n
                    if not n:
                        push(a)
                b.grad += lb * g
                if b.parents:
                    n = b._pending - 1
                    b._pending = n
                    if not n:
                        push(b)
            elif len(parents) == 1:
                (a,) = parents
                a.grad += v.locals[0] * g
                if a.parents:
                    n = a._pending - 1
                    a._pending = n
                    if not n:
                        push(a)
            else:  # a sum of many terms
                for p, local in zip(parents, v.locals):
                    p.grad += local * g
                    if p.parents:
                        n = p._pending - 1
                        p._pending = n
                        if not n:
                            push(p)
    except BaseException:
        _clear(root)
        raise
    root._backward_order = order


def _replay(order: list["Value"]) -> None:
    """Backward over a known order of the intermediate nodes (root first): reset, seed, push."""
    for v in order:
        v.grad = 0.0
    order[0].grad += 1.0
    for v in order:
        parents = v.parents
        g = v.grad
        if len(parents) == 2:
            a, b = parents
            la, lb = v.locals
            a.grad += la * g
            b.grad += lb * g
        elif len(parents) == 1:
            parents[0].grad += v.locals[0] * g
        else:
            for p, local in zip(parents, v.locals):
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
        for p, local in zip(v.parents, v.locals):
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
        for p, local in zip(v.parents, v.locals):
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
