"""Tracing one gradient: every path from an input to the root, the chain rule written out.

``trace(loss, w).total`` is the sum, over every path from ``w`` to ``loss``, of the product of the
local derivatives on the path's edges: exactly what backprop computes into ``w.grad``. The total
and the number of paths come from dynamic programming over the subgraph between ``w`` and
``loss`` (the paths can be exponentially many); the paths themselves are listed lazily, each in
time proportional to its length, and ``paths[i]`` goes straight to the ``i``-th.

>>> from autodiff import Value
>>> a = Value(3.0, label="a")
>>> b = a * a
>>> b.label = "b"
>>> loss = b + a
>>> loss.label = "loss"
>>> t = trace(loss, a)
>>> t.total, len(t.paths)
(7.0, 3)
>>> [p.product for p in t.paths]
[3.0, 3.0, 1.0]
>>> t.paths[-1].product
1.0
>>> print(t.explain())
dloss/da = sum over 3 paths of the product of local derivatives
path 1: dloss/db · db/da = 1 · 3 = 3
path 2: dloss/db · db/da = 1 · 3 = 3
path 3: dloss/da = 1 = 1
sum of the 3 paths = 7
a.grad = 0 (call loss.backward() to fill it)
"""

from __future__ import annotations

import html
import math
import operator
import sys
from typing import Any, Iterator, Optional, Sequence

from . import fmt
from .graph import walk
from .value import Value

__all__ = ["trace", "Trace", "Path", "Paths"]


class Path:
    """One path from ``wrt`` to the root: ``nodes`` (wrt first), the ``locals`` of its edges, their ``product``.

    ``edges`` holds ``(parent, child, k)`` for each edge: ``child.parents[k] is parent``, which tells
    apart the two edges of ``a * a``. The path from a node to itself has no edges: ``start`` names
    that node, ``nodes`` is just it, and the product (of no factors) is 1.

    >>> from autodiff import Value
    >>> x = Value(2.0, label="x")
    >>> y = x * 3
    >>> p = Path([(x, y, 0)])
    >>> p.product, Path([], start=x).nodes == (x,)
    (3.0, True)
    """

    __slots__ = ("nodes", "locals", "edges", "product")

    def __init__(self, edges: Sequence[tuple[Value, Value, int]], start: Optional[Value] = None) -> None:
        self.edges = tuple(edges)
        if not self.edges:
            if start is None:
                raise ValueError("a path without edges needs its one node: Path([], start=node)")
            self.nodes: tuple[Value, ...] = (start,)
        else:
            self.nodes = (self.edges[0][0], *[child for _, child, _ in self.edges])
        # child._edges holds (parent, local, parent, local, ...): operand k's local is at 2k + 1
        self.locals = tuple([child._edges[2 * k + 1] for _, child, k in self.edges])
        self.product = math.prod(self.locals, start=1.0)  # left to right, as a loop of *= would

    def factors(self) -> list[tuple[str, float]]:
        """The chain rule by labelled nodes: ``("dy[0]/dh1[2]", value)``, root first; unlabelled
        nodes between two labelled ones fold into one factor (the product of their edges).
        The path from a node to itself has no factors (their product, 1, is its ``product``)."""
        out = []
        lower, value = self.nodes[0], 1.0
        for (_, child, _), local in zip(self.edges, self.locals):
            value *= local
            if child.label or child is self.nodes[-1]:
                out.append((fmt.derivative(fmt.name(child), fmt.name(lower)), value))
                lower, value = child, 1.0
        return out[::-1]

    def __repr__(self) -> str:
        names = " -> ".join(fmt.name(v) for v in self.nodes)
        return f"Path({names}, product={fmt.number(self.product)})"


class Paths:
    """The paths of a trace: ``len()`` counts them without listing them; iterating lists them
    lazily; ``paths[i]`` (``i`` negative counts from the end) goes straight to one of them."""

    def __init__(self, trace: "Trace") -> None:
        self._trace = trace

    def __len__(self) -> int:
        count = self._trace.count
        if count > sys.maxsize:
            raise OverflowError(f"{count} paths: more than len() can return; Trace.count holds the exact number")
        return count

    def __iter__(self) -> Iterator[Path]:
        return self._trace._walk()

    def __getitem__(self, i: int) -> Path:
        if isinstance(i, slice):
            raise TypeError(
                "paths cannot be sliced (there can be more than memory holds): index them one at a time, "
                "or take a run of them with itertools.islice(trace.paths, start, stop)"
            )
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"a path index is an integer, not {type(i).__name__}") from None
        count = self._trace.count
        if not -count <= i < count:
            raise IndexError(
                f"path index {i} is out of range: there {'is 1 path' if count == 1 else f'are {count} paths'} "
                f"(indexes 0 to {count - 1}, or -{count} to -1 from the end)"
            )
        return self._trace._path_at(i + count if i < 0 else i)


class Trace:
    """How ``root``'s gradient with respect to ``wrt`` is made; see :func:`trace`.

    ``total`` and ``count`` (the number of paths) are worked out when the trace is made, in time
    linear in the graph. ``paths`` come depth first from ``wrt``: at each node, its consumers in
    :func:`~autodiff.topological_order`, operand by operand (``a * a`` is two paths, operand 0's
    first). ``paths[i]`` is path ``i`` of that order.
    """

    def __init__(self, root: Value, wrt: Value) -> None:
        if not isinstance(root, Value) or not isinstance(wrt, Value):
            raise TypeError("trace(root, wrt) takes two Values")
        self.root, self.wrt = root, wrt
        order = list(walk(root))  # root first, every node after all of its consumers, with its edges
        here = next((i for i, (v, _) in enumerate(order) if v is wrt), None)
        if here is None:
            raise ValueError(f"{fmt.name(wrt)!r} is not in the graph of {fmt.name(root)!r}: its gradient is 0 by no path")
        # The nodes on some path are wrt's descendants: every node of the order is an ancestor of
        # the root, and wrt's descendants all come before wrt in it. One pass from wrt towards the
        # root finds them and numbers them, wrt 0 and the root last. Each node gets its edges to
        # its consumers, in the order paths are listed in (consumer by consumer from wrt's side,
        # operand by operand): consumers[j] is [edge, consumer's number, edge, ...] with each edge
        # (node, consumer, k). Its edges from parents on paths, in operand order, are parent[e]
        # and local[e] for e from start[i] to start[i + 1]. Lists indexed by number, flat where
        # they can be: a long chain makes no dict lookups while listed, and few objects for the
        # garbage collector to scan while traced.
        number = {id(wrt): 0}
        nodes: list[Value] = [wrt]
        consumers: list[list[Any]] = [[]]  # edges and numbers, alternating
        start, parent, local = [0], [], []  # type: list[int], list[int], list[float]
        for v, edges in reversed(order[:here]):
            mine = -1
            for k, (p, slope) in enumerate(edges):
                j = number.get(id(p))
                if j is not None:
                    if mine < 0:
                        mine = number[id(v)] = len(nodes)
                        nodes.append(v)
                        consumers.append([])
                        start.append(len(parent))
                    consumers[j] += ((p, v, k), mine)
                    parent.append(j)
                    local.append(slope)
        del number
        start.append(len(parent))
        # Reverse-mode DP in backprop's own order (numbers descending): the same sums, in the same
        # order, as backward(). count[i] is the number of paths from node i to the root.
        last = len(nodes) - 1
        grad = [0.0] * len(nodes)
        count = [0] * len(nodes)
        grad[last], count[last] = 1.0, 1
        for i in range(last, 0, -1):
            g, c = grad[i], count[i]
            for e in range(start[i], start[i + 1]):
                j = parent[e]
                grad[j] = grad[j] + local[e] * g
                count[j] += c
        self._nodes, self._consumers, self._count = nodes, consumers, count
        self.total: float = grad[0]
        self.count: int = count[0]

    @property
    def paths(self) -> Paths:
        """The paths from ``wrt`` to the root: ``len()`` counts them, iterating lists them lazily."""
        return Paths(self)  # made on demand: a Paths kept here would make a reference cycle

    def _walk(self) -> Iterator[Path]:
        """Every path, depth first from ``wrt``, each node's consumers in order.

        One list of edges is the current path: extended going down, shortened backing up, so a
        path costs its own length (a copy into its :class:`Path`), not a copy at every step.
        """
        consumers, last = self._consumers, len(self._consumers) - 1
        node = 0  # wrt
        edges: list[tuple[Value, Value, int]] = []
        above: list[int] = []  # above[j]: the number of edges[j]'s parent
        chosen: list[int] = []  # chosen[j]: where edges[j] is in that parent's consumers list
        while True:
            while node != last:  # down to the root by first consumers
                out = consumers[node]
                edges.append(out[0])
                above.append(node)
                chosen.append(0)
                node = out[1]
            yield Path(edges, start=self.wrt)
            while chosen:  # back up to the deepest node with a consumer left to try
                j = chosen.pop() + 2
                edges.pop()
                out = consumers[above[-1]]
                if j < len(out):
                    edges.append(out[j])
                    chosen.append(j)
                    node = out[j + 1]
                    break
                above.pop()
            else:
                return

    def _path_at(self, i: int) -> Path:
        """Path number ``i`` (0 <= i < count) in the order of :meth:`_walk`, without listing those before.

        At each node, the paths through its first consumer come first (as many as ``count`` says
        that consumer has), then those through the second, and so on: skip whole consumers until
        ``i`` falls inside one. Costs the path's length times the nodes' fan-out.
        """
        consumers, count, last = self._consumers, self._count, len(self._consumers) - 1
        node, edges = 0, []
        while node != last:
            out = consumers[node]
            j = 0
            while i >= count[out[j + 1]]:
                i -= count[out[j + 1]]
                j += 2
            edges.append(out[j])
            node = out[j + 1]
        return Path(edges, start=self.wrt)

    @property
    def edges(self) -> list[tuple[Value, Value]]:
        """Every (parent, child) edge on some path: the subgraph between ``wrt`` and the root."""
        return [(edge[0], edge[1]) for out in self._consumers for edge in out[0::2]]

    @property
    def nodes(self) -> list[Value]:
        """Every Value on some path, root first."""
        return self._nodes[::-1]

    def _title(self) -> str:
        return fmt.derivative(fmt.name(self.root), fmt.name(self.wrt))

    def explain(self, max_paths: int = 20) -> str:
        """The chain rule, one line per path (at most ``max_paths``), then the sum and ``wrt.grad``.

        Names are :func:`autodiff.fmt.name` (never a control character) and numbers
        :func:`autodiff.fmt.number` (6 significant digits).
        """
        if isinstance(max_paths, bool) or not isinstance(max_paths, int) or max_paths < 0:
            raise ValueError(f"max_paths must be a whole number, 0 or more, not {max_paths!r}")
        number, title = fmt.number, self._title()
        lines = [f"{title} = sum over {self.count} path{'s' if self.count != 1 else ''} of the product of local derivatives"]
        listed = 0.0
        for i, path in enumerate(self.paths):
            if i >= max_paths:
                break
            factors = path.factors()
            chain = " · ".join(name for name, _ in factors) or title
            values = " · ".join(number(value) for _, value in factors) or "1"
            lines.append(f"path {i + 1}: {chain} = {values} = {number(path.product)}")
            listed += path.product
        shown = min(self.count, max_paths)
        if self.count > max_paths:
            lines.append(f"... {self.count - max_paths} more paths not listed (their products add {number(self.total - listed)})")
            lines.append(f"sum of the {shown} listed paths = {number(listed)}; sum of all {self.count} = {number(self.total)}")
        else:
            lines.append(f"sum of the {self.count} path{'s' if self.count != 1 else ''} = {number(self.total)}")
        grad, wrt_name = self.wrt.grad, fmt.grouped(fmt.name(self.wrt))
        if grad == self.total:
            lines.append(f"{wrt_name}.grad = {number(grad)} (equal)")
        else:
            hint = (f"call {fmt.grouped(fmt.name(self.root))}.backward() to fill it" if grad == 0
                    else "it holds other contributions: gradients accumulate")
            lines.append(f"{wrt_name}.grad = {number(grad)} ({hint})")
        return "\n".join(lines)

    def draw(self, **options: object):  # type: ignore[no-untyped-def]
        """The root's graph with this trace's paths highlighted and local derivatives on the edges."""
        from .render import Scene

        options.setdefault("show_local", True)
        highlight = list(self.nodes) + self.edges
        return Scene([self.root], highlight=highlight, **options).draw()  # type: ignore[arg-type]

    def svg(self, **options: object) -> str:
        """SVG of :meth:`draw`."""
        return self.draw(**options).svg()

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        number, rows = fmt.number, []
        for i, path in enumerate(self.paths):
            if i >= 20:
                break
            chain = " · ".join(f"{html.escape(n)} = {number(v)}" for n, v in path.factors()) or html.escape(self._title()) + " = 1"
            rows.append(f"<tr><td>{i + 1}</td><td>{chain}</td><td>{number(path.product)}</td></tr>")
        more = f"<p>{self.count - 20} more paths not listed.</p>" if self.count > 20 else ""
        title = html.escape(f"{self._title()} = {number(self.total)}")
        return (
            f"<div class='autodiff-trace'><p><b>{title}</b> ({self.count} path{'s' if self.count != 1 else ''})</p>{self.svg()}"
            f"<table><tr><th>path</th><th>factors</th><th>product</th></tr>{''.join(rows)}</table>{more}</div>"
        )

    def __repr__(self) -> str:
        return f"<Trace {self._title()} = {fmt.number(self.total)} over {self.count} path{'s' if self.count != 1 else ''}>"


def trace(root: Value, wrt: Value) -> Trace:
    """Trace d root / d wrt: ``.total``, ``.paths``, ``.explain()``, ``.svg()``; see :class:`Trace`.

    >>> from autodiff import Value
    >>> x = Value(2.0, label="x")
    >>> t = trace(x, x)  # d x / d x = 1, by one path with no edges
    >>> t.total, t.count, t.paths[0].nodes == (x,)
    (1.0, 1, True)
    """
    return Trace(root, wrt)
