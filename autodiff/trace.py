"""Tracing one gradient: every path from an input to the root, the chain rule written out.

``trace(loss, w).total`` is the sum, over every path from ``w`` to ``loss``, of the product of the
local derivatives on the path's edges: exactly what backprop computes into ``w.grad``. The total
and the number of paths come from dynamic programming over the subgraph between ``w`` and
``loss`` (the paths can be exponentially many); the paths themselves are listed lazily.

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
from typing import Iterator, Sequence

from .graph import _release_order
from .value import Value

__all__ = ["trace", "Trace", "Path"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _name(v: Value, fallback: str) -> str:
    if v.label:
        return v.label
    if v.is_constant:
        return _fmt(v.data)
    return fallback


def _d(top: str, bottom: str) -> str:
    """``dtop/dbottom``, with a name that is a formula (``a * b``) in parentheses: ``d(a * b)/da``."""
    return f"d{_grouped(top)}/d{_grouped(bottom)}"


def _grouped(name: str) -> str:
    return f"({name})" if any(c in name for c in " +-*/()") else name


class Path:
    """One path from ``wrt`` to the root: ``nodes`` (wrt first), the ``locals`` of its edges, their ``product``.

    ``edges`` holds ``(parent, child, k)`` for each edge: ``child.parents[k] is parent``, which tells
    apart the two edges of ``a * a``.
    """

    __slots__ = ("nodes", "locals", "edges", "product")

    def __init__(self, edges: Sequence[tuple[Value, Value, int]]) -> None:
        self.edges = tuple(edges)
        self.nodes = tuple([edges[0][0]] + [child for _, child, _ in edges]) if edges else ()
        self.locals = tuple(child.locals[k] for _, child, k in edges)
        product = 1.0
        for local in self.locals:
            product *= local
        self.product = product

    def factors(self) -> list[tuple[str, float]]:
        """The chain rule by labelled nodes: ``("dy[0]/dh1[2]", value)``, root first; unlabelled
        nodes between two labelled ones fold into one factor (the product of their edges)."""
        out = []
        lower, value = self.nodes[0], 1.0
        for (_, child, _), local in zip(self.edges, self.locals):
            value *= local
            if child.label or child is self.nodes[-1]:
                out.append((_d(_name(child, "root"), _name(lower, "x")), value))
                lower, value = child, 1.0
        return out[::-1]

    def __repr__(self) -> str:
        names = " -> ".join(_name(v, v.op or "?") for v in self.nodes)
        return f"Path({names}, product={_fmt(self.product)})"


class Paths:
    """The paths of a trace: ``len()`` counts them without listing them; iterating lists them lazily."""

    def __init__(self, trace: "Trace") -> None:
        self._trace = trace

    def __len__(self) -> int:
        return self._trace.count

    def __iter__(self) -> Iterator[Path]:
        return self._trace._walk()

    def __getitem__(self, i: int) -> Path:
        if i < 0:
            i += len(self)
        for k, path in enumerate(self):
            if k == i:
                return path
        raise IndexError(f"path index {i} out of range ({len(self)} paths)")


class Trace:
    """How ``root``'s gradient with respect to ``wrt`` is made; see :func:`trace`."""

    def __init__(self, root: Value, wrt: Value) -> None:
        if not isinstance(root, Value) or not isinstance(wrt, Value):
            raise TypeError("trace(root, wrt) takes two Values")
        self.root, self.wrt = root, wrt
        order = _release_order(root)  # root first: every node after all of its consumers
        position = {id(v): i for i, v in enumerate(order)}
        if id(wrt) not in position:
            raise ValueError(f"{_name(wrt, 'wrt')!r} is not in the graph of {_name(root, 'the root')!r}: its gradient is 0 by no path")
        # Nodes between wrt and root: descendants of wrt (walking the order from wrt towards the root).
        inside = {id(wrt)}
        for v in reversed(order[: position[id(wrt)]]):
            if any(id(p) in inside for p in v.parents):
                inside.add(id(v))
        self._inside = inside
        # Consumers within the subgraph, for listing paths forward from wrt.
        consumers: dict[int, list[tuple[Value, int]]] = {}
        for v in reversed(order):
            if id(v) in inside:
                for k, p in enumerate(v.parents):
                    if id(p) in inside:
                        consumers.setdefault(id(p), []).append((v, k))
        self._consumers = consumers
        # Reverse-mode DP in backprop's own order: the same sums, in the same order, as backward().
        grad: dict[int, float] = {id(root): 1.0}
        count: dict[int, int] = {id(root): 1}
        for v in order:
            if id(v) not in inside:
                continue
            g, c = grad.get(id(v), 0.0), count.get(id(v), 0)
            for p, local in zip(v.parents, v.locals):
                if id(p) in inside:
                    grad[id(p)] = grad.get(id(p), 0.0) + local * g
                    count[id(p)] = count.get(id(p), 0) + c
        self.total: float = grad.get(id(wrt), 0.0)
        self.count: int = count.get(id(wrt), 0)

    @property
    def paths(self) -> Paths:
        """The paths from ``wrt`` to the root: ``len()`` counts them, iterating lists them lazily."""
        return Paths(self)  # made on demand: a Paths kept here would make a reference cycle

    def _walk(self) -> Iterator[Path]:
        root, consumers = self.root, self._consumers
        if self.wrt is root:
            yield Path([])
            return
        stack: list[tuple[Value, list[tuple[Value, Value, int]]]] = [(self.wrt, [])]
        while stack:
            node, edges = stack.pop()
            if node is root:
                yield Path(edges)
                continue
            for child, k in reversed(consumers.get(id(node), [])):
                stack.append((child, edges + [(node, child, k)]))

    @property
    def edges(self) -> list[tuple[Value, Value]]:
        """Every (parent, child) edge on some path: the subgraph between ``wrt`` and the root."""
        out: list[tuple[Value, Value]] = []
        for v in _release_order(self.root):
            if id(v) in self._inside:
                out.extend((p, v) for p in v.parents if id(p) in self._inside)
        return out

    @property
    def nodes(self) -> list[Value]:
        """Every Value on some path, root first."""
        return [v for v in _release_order(self.root) if id(v) in self._inside]

    def explain(self, max_paths: int = 20) -> str:
        """The chain rule, one line per path (at most ``max_paths``), then the sum and ``wrt.grad``."""
        root_name, wrt_name = _name(self.root, "root"), _name(self.wrt, "x")
        lines = [f"{_d(root_name, wrt_name)} = sum over {self.count} path{'s' if self.count != 1 else ''} of the product of local derivatives"]
        listed = 0.0
        for i, path in enumerate(self.paths):
            if i >= max_paths:
                break
            factors = path.factors()
            chain = " · ".join(name for name, _ in factors) or _d(root_name, wrt_name)
            values = " · ".join(_fmt(value) for _, value in factors) or "1"
            lines.append(f"path {i + 1}: {chain} = {values} = {_fmt(path.product)}")
            listed += path.product
        shown = min(self.count, max_paths)
        if self.count > max_paths:
            lines.append(f"... {self.count - max_paths} more paths not listed (their products add {_fmt(self.total - listed)})")
            lines.append(f"sum of the {shown} listed paths = {_fmt(listed)}; sum of all {self.count} = {_fmt(self.total)}")
        else:
            lines.append(f"sum of the {self.count} path{'s' if self.count != 1 else ''} = {_fmt(self.total)}")
        grad = self.wrt.grad
        if grad == self.total:
            lines.append(f"{wrt_name}.grad = {_fmt(grad)} (equal)")
        else:
            hint = f"call {root_name}.backward() to fill it" if grad == 0 else "it holds other contributions: gradients accumulate"
            lines.append(f"{wrt_name}.grad = {_fmt(grad)} ({hint})")
        return "\n".join(lines)

    def draw(self, **options: object):  # type: ignore[no-untyped-def]
        """The root's graph with this trace's paths highlighted and local derivatives on the edges."""
        from .render import draw

        options.setdefault("show_local", True)
        highlight = list(self.nodes) + self.edges
        return draw(self.root, highlight=highlight, **options)  # type: ignore[arg-type]

    def svg(self, **options: object) -> str:
        """SVG of :meth:`draw`."""
        return self.draw(**options).svg()

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        rows = []
        for i, path in enumerate(self.paths):
            if i >= 20:
                break
            chain = " · ".join(f"{html.escape(n)} = {_fmt(v)}" for n, v in path.factors())
            rows.append(f"<tr><td>{i + 1}</td><td>{chain}</td><td>{_fmt(path.product)}</td></tr>")
        more = f"<p>{self.count - 20} more paths not listed.</p>" if self.count > 20 else ""
        title = html.escape(f"{_d(_name(self.root, 'root'), _name(self.wrt, 'x'))} = {_fmt(self.total)}")
        return (
            f"<div class='autodiff-trace'><p><b>{title}</b> ({self.count} paths)</p>{self.svg()}"
            f"<table><tr><th>path</th><th>factors</th><th>product</th></tr>{''.join(rows)}</table>{more}</div>"
        )

    def __repr__(self) -> str:
        return f"<Trace {_d(_name(self.root, 'root'), _name(self.wrt, 'x'))} = {_fmt(self.total)} over {self.count} paths>"


def trace(root: Value, wrt: Value) -> Trace:
    """Trace d root / d wrt: ``.total``, ``.paths``, ``.explain()``, ``.svg()``; see :class:`Trace`."""
    return Trace(root, wrt)
