"""Drawing a computation graph: DOT built with the ``graphviz`` package, laid out by Graphviz.

Value nodes show label, data and grad; each op is a small node of its own between its operands
and its result. Leaves (inputs, parameters), constants and the root each look different. Nodes
made inside ``name_scope`` blocks (an ``nn`` layer and neuron) sit in nested clusters.

>>> from autodiff import Value
>>> x, w = Value(2.0, label="x"), Value(-0.5, label="w")
>>> y = (x * w).tanh(); y.label = "y"
>>> g = draw(y, show_local=True)
>>> "tanh" in g.source and 'label="x\\\\ndata 2\\\\ngrad 0"' in g.source
True
>>> g.svg().startswith("<?xml")
True
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import graphviz

from ..graph import topological_order
from ..value import Value
from .engines import render
from .escape import label_text

__all__ = ["Graph", "draw"]

# Colours (Tailwind's palette names in comments, for readers who want to restyle).
_LEAF = "#dbeafe"  # blue-100: inputs and parameters
_ROOT = "#fde68a"  # amber-200: the value backprop starts from
_PLAIN = "#ffffff"
_HOT = "#dc2626"  # red-600: highlighted
_DIM = "#c0c4cc"  # grey: everything else when something is highlighted
_CLUSTER = "#94a3b8"  # slate-400


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class Graph:
    """A drawn graph: ``source`` (DOT), ``svg()``, ``save(path)``; shows itself inline in Jupyter."""

    def __init__(self, source: str, renderer: Optional[str] = None) -> None:
        self.source = source
        self.renderer = renderer
        self._svg: dict[Optional[str], str] = {}

    def svg(self, renderer: Optional[str] = None) -> str:
        """The SVG text, laid out by Graphviz (see :mod:`autodiff.render.engines`)."""
        renderer = renderer or self.renderer
        if renderer not in self._svg:
            self._svg[renderer] = render(self.source, "svg", renderer).decode("utf-8")
        return self._svg[renderer]

    def png(self, renderer: Optional[str] = None) -> bytes:
        """PNG bytes (the ``pure`` and ``system`` renderers write PNG; ``wasm`` writes SVG only)."""
        return render(self.source, "png", renderer or self.renderer)

    def save(self, path: Union[str, os.PathLike], renderer: Optional[str] = None) -> Path:
        """Write the graph to ``path``; the suffix picks the format: ``.svg``, ``.dot``/``.gv`` or ``.png``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            path.write_text(self.svg(renderer), encoding="utf-8")
        elif suffix in (".dot", ".gv"):
            path.write_text(self.source, encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(self.png(renderer))
        else:
            raise ValueError(f"cannot tell the format from {path.name!r}; use a .svg, .dot, .gv or .png name")
        return path

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        return f"<autodiff.Graph: {self.source.count(' -> ')} edges; .svg(), .save(path), .source>"


def _collect(roots: Sequence[Value]) -> list[Value]:
    seen: set[int] = set()
    nodes = []
    for root in roots:
        for v in topological_order(root):
            if id(v) not in seen:
                seen.add(id(v))
                nodes.append(v)
    return nodes


def _split_highlight(highlight: Iterable[Any]) -> tuple[set[int], set[tuple[int, int]]]:
    nodes: set[int] = set()
    edges: set[tuple[int, int]] = set()
    for item in highlight:
        if isinstance(item, Value):
            nodes.add(id(item))
        elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(v, Value) for v in item):
            parent, child = item
            edges.add((id(parent), id(child)))
            nodes.update((id(parent), id(child)))
        else:
            raise TypeError(f"highlight takes Values and (parent, child) pairs of Values, not {item!r}")
    return nodes, edges


def draw(
    root: Union[Value, Sequence[Value]],
    *,
    show_data: bool = True,
    show_grad: bool = True,
    show_local: bool = False,
    highlight: Iterable[Any] = (),
    group: bool = True,
    rankdir: str = "LR",
    collapse: Union[bool, str] = False,
    max_nodes: int = 2000,
    renderer: Optional[str] = None,
    grads: Optional[Mapping[Value, float]] = None,
    status: Optional[Mapping[Value, str]] = None,
) -> Graph:
    """Draw everything ``root`` (a Value, a list of them, or a compiled Program) depends on.

    ``show_local`` writes each edge's local derivative on it. ``highlight`` takes Values and
    ``(parent, child)`` pairs and draws them emphasised, the rest dimmed. ``group`` clusters nodes
    by their ``scope`` (layer, then neuron). ``collapse=True`` (or ``"neuron"``) draws one node per
    innermost scope, ``"layer"`` one per outermost, with the scalar edges between them counted.
    A graph of more than ``max_nodes`` Values is refused with a hint instead of drawn unreadably.

    Drawing a moment of backprop (the debugger does): ``grads`` maps Values to the gradient to
    show instead of ``.grad``, and ``status`` maps Values to ``"done"``, ``"current"`` or
    ``"pending"``, drawn in green, red and grey. In the SVG, value node ``i`` (in
    :func:`~autodiff.topological_order`) has ``id="v{i}"``, its op node ``id="o{i}"``, the edge from
    its parent number ``k`` ``id="e{i}_{k}"`` and the edge from its op node ``id="r{i}"``.
    """
    if not isinstance(root, Value) and hasattr(root, "instructions"):  # a compiled Program: its traced graph
        root = list(getattr(root, "outputs"))
    roots = [root] if isinstance(root, Value) else list(root)
    if not roots or not all(isinstance(r, Value) for r in roots):
        raise TypeError("draw needs a Value or a non-empty list of Values")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, not {rankdir!r}")
    if collapse not in (False, True, "neuron", "layer"):
        raise ValueError(f"collapse must be False, True, 'neuron' or 'layer', not {collapse!r}")
    nodes = _collect(roots)
    hot_nodes, hot_edges = _split_highlight(highlight)
    dot = graphviz.Digraph(
        "autodiff",
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "nodesep": "0.25", "ranksep": "0.35"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"arrowsize": "0.6", "fontname": "Helvetica"},
    )
    if collapse:
        _draw_collapsed(dot, nodes, roots, "layer" if collapse == "layer" else "neuron", show_data, show_grad, max_nodes)
        return Graph(dot.source, renderer)
    if len(nodes) > max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} values, more than max_nodes={max_nodes}: draw(..., collapse=True) "
            f"draws one node per neuron (collapse='layer': per layer), or raise max_nodes"
        )
    index = {id(v): i for i, v in enumerate(nodes)}
    root_ids = {id(r) for r in roots}
    dim = bool(hot_nodes)

    # Which cluster each drawn node belongs to: a tree of scopes, filled in node order.
    tree: dict[str, Any] = {"children": {}, "nodes": []}

    def place(scope: Optional[tuple[str, ...]], statement: tuple[str, dict[str, str]]) -> None:
        branch = tree
        for name in (scope or ()) if group else ():
            branch = branch["children"].setdefault(name, {"children": {}, "nodes": []})
        branch["nodes"].append(statement)

    shown_grads = {id(v): g for v, g in (grads or {}).items()}
    states = {id(v): s for v, s in (status or {}).items()}
    for s in states.values():
        if s not in _STATUS:
            raise ValueError(f"status values must be one of {', '.join(_STATUS)}, not {s!r}")
    for v in nodes:
        i = index[id(v)]
        hot = id(v) in hot_nodes
        attrs: dict[str, str] = _value_style(v, id(v) in root_ids, show_data, show_grad, shown_grads.get(id(v)))
        attrs["id"] = f"v{i}"
        if id(v) in states:
            attrs.update(_STATUS[states[id(v)]])
        if dim:
            attrs.update(color=_HOT, penwidth="2.2", fontcolor="#111111") if hot else attrs.update(color=_DIM, fontcolor=_DIM)
            if not hot:
                attrs["fillcolor"] = "#f8fafc"
        place(v.scope, (f"v{i}", attrs))
        if v.parents:
            op_hot = hot and (
                any((id(p), id(v)) in hot_edges for p in v.parents) or any(id(p) in hot_nodes for p in v.parents)
            )
            op_attrs = {"id": f"o{i}", "label": label_text(v.op if v.arg is None else f"{v.op} {_fmt(v.arg)}"), "shape": "circle",
                        "width": "0.3", "height": "0.3", "margin": "0.02", "fontsize": "10"}
            if dim:
                op_attrs.update(color=_HOT if op_hot else _DIM, fontcolor=_HOT if op_hot else _DIM)
            place(v.scope, (f"o{i}", op_attrs))

    _emit(dot, tree, [0])
    for v in nodes:
        if not v.parents:
            continue
        i = index[id(v)]
        out_hot = dim and id(v) in hot_nodes
        dot.edge(f"o{i}", f"v{i}", id=f"r{i}", **({"color": _HOT, "penwidth": "2"} if out_hot else {"color": _DIM} if dim else {}))
        for k, (p, local) in enumerate(zip(v.parents, v.locals)):
            attrs = {"id": f"e{i}_{k}"}
            if show_local:
                attrs["label"] = label_text(_fmt(local))
                attrs["fontsize"] = "9"
            if dim:
                edge_hot = (id(p), id(v)) in hot_edges or (not hot_edges and id(p) in hot_nodes and id(v) in hot_nodes)
                attrs.update({"color": _HOT, "penwidth": "2", "fontcolor": _HOT} if edge_hot else {"color": _DIM, "fontcolor": _DIM})
            dot.edge(f"v{index[id(p)]}", f"o{i}", **attrs)
    return Graph(dot.source, renderer)


_STATUS = {
    "done": {"fillcolor": "#bbf7d0", "color": "#15803d"},  # green-200 / green-700
    "current": {"fillcolor": "#fecaca", "color": _HOT, "penwidth": "2.5"},  # red-200
    "pending": {"fillcolor": "#f1f5f9", "color": "#94a3b8", "fontcolor": "#64748b"},  # slate
}


def _value_style(
    v: Value, is_root: bool, show_data: bool, show_grad: bool, grad: Optional[float] = None
) -> dict[str, str]:
    if v.is_constant:
        return {"label": label_text(_fmt(v.data)), "shape": "plaintext", "fontcolor": "#475569", "fontsize": "10"}
    lines = [v.label] if v.label else []
    if show_data:
        lines.append(f"data {_fmt(v.data)}")
    if show_grad:
        lines.append(f"grad {_fmt(v.grad if grad is None else grad)}")
    fill = _ROOT if is_root else _LEAF if v.is_leaf else _PLAIN
    style = {"label": label_text(*lines) if lines else label_text(v.op), "shape": "box", "style": "rounded,filled",
             "fillcolor": fill}
    if is_root:
        style["penwidth"] = "2"
    return style


def _natural(text: str) -> list[Any]:
    # "neuron 2" before "neuron 10"
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _emit(dot: graphviz.Digraph, branch: dict[str, Any], counter: list[int]) -> None:
    for name, attrs in branch["nodes"]:
        dot.node(name, **attrs)
    for title, child in sorted(branch["children"].items(), key=lambda item: _natural(item[0])):
        counter[0] += 1
        with dot.subgraph(name=f"cluster_{counter[0]}") as sub:
            sub.attr(label=label_text(title), style="rounded,dashed", color=_CLUSTER, fontcolor="#475569", fontsize="10")
            _emit(sub, child, counter)


def _draw_collapsed(
    dot: graphviz.Digraph,
    nodes: list[Value],
    roots: list[Value],
    level: str,
    show_data: bool,
    show_grad: bool,
    max_nodes: int,
) -> None:
    """One node per scope group; unscoped Values stay single nodes; parallel edges counted."""

    def key(v: Value) -> tuple[str, ...]:
        if not v.scope:
            return ("value", str(id(v)))
        return ("scope",) + (v.scope[:1] if level == "layer" else v.scope)

    keys: dict[tuple[str, ...], list[Value]] = {}
    for v in nodes:
        keys.setdefault(key(v), []).append(v)
    if len(keys) > max_nodes:
        raise ValueError(f"even collapsed, the graph has {len(keys)} nodes, more than max_nodes={max_nodes}")
    names = {k: f"g{i}" for i, k in enumerate(keys)}
    consumed_outside: set[int] = {id(r) for r in roots}
    edges: Counter[tuple[str, str]] = Counter()
    for v in nodes:
        for p in v.parents:
            kp, kv = key(p), key(v)
            if kp != kv:
                edges[(names[kp], names[kv])] += 1
                consumed_outside.add(id(p))
    root_ids = {id(r) for r in roots}
    for k, members in keys.items():
        if k[0] == "value":
            v = members[0]
            dot.node(names[k], **_value_style(v, id(v) in root_ids, show_data, show_grad))
            continue
        title = " / ".join(k[1:])
        outputs = [v for v in members if id(v) in consumed_outside and not v.is_leaf]
        lines = [title, f"{len(members)} values"]
        for v in outputs[:4]:
            text = v.label or v.op
            if show_data:
                text += f"  data {_fmt(v.data)}"
            if show_grad:
                text += f"  grad {_fmt(v.grad)}"
            lines.append(text)
        if len(outputs) > 4:
            lines.append(f"... {len(outputs) - 4} more outputs")
        dot.node(names[k], label=label_text(*lines), shape="box3d", style="filled", fillcolor="#eef2ff")
    for (a, b), n in edges.items():
        dot.edge(a, b, **({"label": label_text(f"x{n}"), "fontsize": "9"} if n > 1 else {}))
