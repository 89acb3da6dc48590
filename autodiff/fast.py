"""The measured hot path: backward without hooks or anomaly mode, in as few bytecodes as it takes.

:func:`autodiff.graph.steps` is the readable walk: a loop over (parent, local) pairs in the
release order, one node at a time. This module computes exactly the same numbers, in exactly the
same order, faster; a property test holds the two equal bit for bit on random graphs. Read the
reference first; what is done here for speed:

- **No counting pass.** Every node counts its uses as the graph is built (``_uses``), so the first
  backward releases a node as soon as that many contributions have reached it: one walk instead
  of a topological sort followed by a pass. Its first contribution replaces what the node held
  (intermediate nodes start afresh); leaves add up and are never waited for.
- **Nodes used outside the root's graph** never receive all their uses; the walk notices (fewer
  nodes released than reached) and :func:`finish_backward` releases them by Kahn's algorithm with
  uses counted inside the region.
- **Replay.** A graph never changes once built, so the release order is kept on the root and a
  second backward is a plain loop over it (:func:`replay`).
- **Unrolled operands.** One- and two-operand nodes (most of them) keep their edges in slots
  (``_a``, ``_la``, ``_b``, ``_lb``), read directly; a ``sum``'s flat ``(parent, local, ...)``
  tuple (``_more``) is read as ``zip(pairs, pairs)`` over one iterator. A parent is a leaf when
  its ``op`` is empty (a leaf or a constant).

The counters live on the nodes, so a walk must not run on a graph another thread is walking:
:mod:`autodiff.graph` holds one lock around every walk.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

from .ops import RULES

if TYPE_CHECKING:
    from .value import Value

__all__ = ["GATES", "through", "first_backward", "replay", "intermediate_order", "finish_backward",
           "stuck_nodes", "clear_counters"]

#: Ops whose slope is a gate (relu): where it is closed (0), nothing flows back, even an infinite
#: gradient, whose product with 0 would be nan (PyTorch's relu masks the same way).
GATES = frozenset(rule.name for rule in RULES.values() if rule.gate)


def through(v: "Value", local: float, g: float) -> float:
    """What an edge of ``v`` with slope ``local`` sends back when ``v``'s gradient is ``g``: ``local * g``,
    except through a closed gate, which sends 0."""
    x = local * g
    if x != x and not local and v.op in GATES:
        return 0.0
    return x


def intermediate_order(root: "Value") -> list["Value"]:
    """The intermediate nodes (root first) in the order backprop releases them, without any grads.

    The same walk as :func:`first_backward`, with the same bookkeeping, on counters only: a node
    is released once all of its uses (``_uses``, counted as the graph was built) have been seen;
    what stays stuck (used outside this root's graph too) is finished by :func:`finish_backward`.
    """
    order: list[Value] = []
    stack = [root]
    reached = 0
    try:
        while True:  # not `while stack:`: see first_backward
            if not stack:
                break
            v = stack.pop()
            order.append(v)  # on leaving the stack, as first_backward notes it
            v._pending = 0
            for p in v._edges[0::2]:
                if p.op:
                    n = p._pending + 1
                    p._pending = n
                    if n == 1:
                        reached += 1
                    if n == p._uses:
                        stack.append(p)
    except BaseException:
        clear_counters(root)
        raise
    if reached != len(order) - 1:
        order += finish_backward(order, stuck_nodes(order), grads=False)
    return order




def first_backward(root: "Value") -> tuple[list["Value"], list["Value"]]:
    """The first backward from ``root``: one walk, no counting pass.

    Every node knows how many ops took it as an operand (``_uses``, counted as the graph was
    built), so an intermediate node is released as soon as that many contributions have reached
    it; its first contribution replaces whatever grad it held (intermediate nodes start afresh),
    leaves add up and are never waited for. Returns the nodes released, in order (root first), and
    the "stuck" ones: nodes that also feed ops outside this root's graph, so that not all their
    uses will come. Those are finished by :func:`finish_backward`.
    """
    root.grad = 1.0
    order: list[Value] = []
    note = order.append
    stack = [root]
    push = stack.append
    pop = stack.pop
    reached = 0  # intermediate nodes that received a first contribution
    try:
        # `while True` ends in an unconditional backward jump, which makes CPython 3.11 specialise
        # this loop in its first call; `while stack:` would wait for the 8th (26 ms against 80 ms on
        # the benchmark's chains in a fresh process: docs/performance.md).
        while True:
            if not stack:
                break
            v = pop()
            note(v)
            v._pending = 0  # released: its counter is done with
            g = v.grad
            a = v._a
            if a is None:  # a sum of many
                pairs = iter(v._more)
                for p, local in zip(pairs, pairs):
                    if p.op:
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
                continue
            b = v._b
            if b is not None:  # most ops: the generic loop above, unrolled for two operands
                la = v._la
                if a.op:
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
                lb = v._lb
                if b.op:
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
            else:  # unrolled for one operand
                la = v._la
                x = la * g
                if x != x and not la and v.op in GATES:  # a closed gate passes nothing, not even inf * 0
                    x = 0.0
                if a.op:
                    n = a._pending + 1
                    a._pending = n
                    if n == 1:
                        a.grad = x
                        reached += 1
                    else:
                        a.grad += x
                    if n == a._uses:
                        push(a)
                else:
                    a.grad += x
    except BaseException:
        clear_counters(root)
        raise
    return order, ([] if reached == len(order) - 1 else stuck_nodes(order))


def stuck_nodes(released: list["Value"]) -> list["Value"]:
    """The nodes a walk reached but never released (their counters are still running), each once;
    their counters are set back to 0."""
    stuck: list[Value] = []
    for v in released:
        for p in v._edges[0::2]:
            if p._pending and p.op:
                stuck.append(p)
                p._pending = 0
    return stuck


def clear_counters(root: "Value") -> None:
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


def finish_backward(done: list["Value"], stuck: list["Value"], grads: bool) -> list["Value"]:
    """Release what the first walk could not: the stuck nodes and their ancestors, in order.

    A stuck node has every contribution from the nodes already done; what it still waits for
    comes from consumers outside the root's graph (which never come) or from nodes of this same
    unfinished region. So the region is finished by Kahn's algorithm with consumers counted inside
    the region only. With ``grads``, gradients are pushed as the nodes are released.
    """
    finished = {id(v) for v in done}
    count: dict[int, int] = {}
    seen = {id(s) for s in stuck}
    fresh: set[int] = set()  # never reached by the first walk: the first contribution sets the grad
    stack = list(stuck)
    while stack:
        for p in stack.pop()._edges[0::2]:
            if p.op and id(p) not in finished:
                count[id(p)] = count.get(id(p), 0) + 1
                if id(p) not in seen:
                    seen.add(id(p))
                    fresh.add(id(p))
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
                if id(p) in fresh:
                    fresh.discard(id(p))
                    p.grad = through(v, local, g)
                else:
                    p.grad += through(v, local, g)
            if p.op:
                left = count[id(p)] - 1
                count[id(p)] = left
                if not left:
                    stack.append(p)
    return order


def replay(root: "Value", rest: list["Value"]) -> None:
    """Backward over a known order of the intermediate nodes (``root``, then ``rest``): reset, seed, push."""
    for v in rest:
        v.grad = 0.0
    root.grad = 1.0
    for v in chain((root,), rest):
        g = v.grad
        a = v._a
        if a is None:  # a sum of many
            pairs = iter(v._more)
            for p, local in zip(pairs, pairs):
                p.grad += local * g
            continue
        b = v._b
        if b is not None:
            a.grad += v._la * g
            b.grad += v._lb * g
        else:
            la = v._la
            x = la * g
            if x != x and not la and v.op in GATES:
                x = 0.0
            a.grad += x
