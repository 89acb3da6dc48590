"""Drawing a computation graph: DOT built with the ``graphviz`` package, laid out by Graphviz.

Value nodes show label, data and grad; each op is a small node of its own between its operands
and its result. Leaves (inputs, parameters), constants and the root each look different. Nodes
made inside ``name_scope`` blocks (an ``nn`` layer and neuron) sit in nested clusters. A node with
no label is shown by the name every front end gives it (:func:`autodiff.fmt.name`): its formula,
or a leaf's number. Numbers are written by :func:`autodiff.fmt.short`.

Every drawing of a graph has the same layout (``autodiff.render.layout`` says what Graphviz is
made to keep): an ``nn`` model's inputs on the left, its layers left to right and the loss on the
right, neurons in index order, each op's operands in order; boxes as wide as the widest number a
step may write into them.

What a drawing shows is a :class:`Scene`: :func:`draw` makes one from the options a user sets;
the tracer, the debugger and the step-through page fill one in themselves (highlighted paths,
the gradients and state of a moment of backprop) and call :meth:`Scene.draw`.

>>> from autodiff import Value
>>> x, w = Value(2.0, label="x"), Value(-0.5, label="w")
>>> y = (x * w).tanh(); y.label = "y"
>>> g = draw(y, show_local=True)
>>> "tanh" in g.source and 'label="x\\\\ndata 2\\\\ngrad 0"' in g.source
True
>>> g.svg().startswith("<?xml")
True
>>> Scene([y], show_local=True).draw().source == g.source
True
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import graphviz

from ..fmt import STATUS_COLOURS, name, short
from ..graph import topological_order
from ..value import Value
from .engines import render
from .escape import label_text
from .layout import (
    WIDEST_NUMBER,
    box_width,
    inputs,
    lead_ins,
    natural,
    stacks,
    text_width,
)

__all__ = ["Graph", "Scene", "draw"]

# Colours (Tailwind's palette names in comments, for readers who want to restyle).
_LEAF = "#dbeafe"  # blue-100: inputs and parameters
_ROOT = "#fde68a"  # amber-200: the value backprop starts from
_PLAIN = "#ffffff"
_HOT = "#dc2626"  # red-600: highlighted
_DIM = "#c0c4cc"  # grey: everything else when something is highlighted
_CLUSTER = "#94a3b8"  # slate-400

_RANKDIRS = ("LR", "RL", "TB", "BT")
_COLLAPSE = (False, True, "neuron", "layer")

# Font sizes in points (1 pt = 1.33 px at the drawing's natural size). A page zooms until its
# smallest text is readable, so all node and cluster text has one size (the op circles' short
# labels cost little room at it); only the numbers on edges are smaller.
_FONT = 14  # every node's text and the cluster titles
_SMALL = _FONT
_EDGE = 12  # local derivatives on edges


class Graph:
    """A drawn graph: ``source`` (DOT), ``svg()``, ``png()``, ``save(path)``; shows itself inline in Jupyter.

    ``renderer`` picks the Graphviz engine and ``timeout`` its time limit in seconds (see
    :func:`~autodiff.render.render`); a failed or stopped render raises
    :class:`~autodiff.render.RenderError`.
    """

    def __init__(self, source: str, renderer: Optional[str] = None) -> None:
        self.source = source
        self.renderer = renderer
        self._svg: dict[Optional[str], str] = {}

    def svg(self, renderer: Optional[str] = None, *, timeout: Optional[float] = None) -> str:
        """The SVG text, laid out by Graphviz (see :func:`~autodiff.render.render`); kept for the next call."""
        renderer = renderer or self.renderer
        if renderer not in self._svg:
            self._svg[renderer] = render(self.source, "svg", renderer, timeout=timeout).decode("utf-8")
        return self._svg[renderer]

    def png(self, renderer: Optional[str] = None, *, timeout: Optional[float] = None) -> bytes:
        """PNG bytes (the ``pure`` and ``system`` renderers write PNG; ``wasm`` writes SVG only)."""
        return render(self.source, "png", renderer or self.renderer, timeout=timeout)

    def save(self, path: Union[str, os.PathLike], renderer: Optional[str] = None, *,
             timeout: Optional[float] = None) -> Path:
        """Write the graph to ``path``; the suffix picks the format: ``.svg``, ``.dot``/``.gv`` or ``.png``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            path.write_text(self.svg(renderer, timeout=timeout), encoding="utf-8")
        elif suffix in (".dot", ".gv"):
            path.write_text(self.source, encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(self.png(renderer, timeout=timeout))
        else:
            raise ValueError(f"cannot tell the format from {path.name!r}; use a .svg, .dot, .gv or .png name")
        return path

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        drawn = sum(1 for line in self.source.splitlines() if " -> " in line and "style=invis" not in line)
        return f"<autodiff.Graph: {drawn} edges; .svg(), .save(path), .source>"


@dataclasses.dataclass
class Scene:
    """What one drawing shows; :meth:`draw` draws it.

    ``roots``: the Values whose graphs are drawn (everything they depend on). ``highlight``:
    Values and ``(parent, child)`` pairs drawn emphasised in red, the rest dimmed. ``grads``:
    the gradient to show for some Values instead of their ``.grad`` (a moment of backprop).
    ``status``: ``"done"``, ``"current"`` or ``"pending"`` for some Values, drawn in the colours
    of :data:`autodiff.fmt.STATUS_COLOURS`. ``grad_word`` starts a box's last line (``"tangent"``
    for forward mode); every box with that line is wide enough for it followed by any number
    :func:`autodiff.fmt.short` writes, so a page that rewrites the line at each step never spills.
    The other fields are :func:`draw`'s options.

    A collapsed drawing keeps what the Scene marks: a group holding a highlighted Value is
    highlighted (and the edges between highlighted groups), a group holding the ``"current"``
    Value is current, one whose Values are all ``"done"`` is done, and its output lines show
    ``grads``. :meth:`node_ids` says which SVG node shows each Value.

    >>> from autodiff import Value
    >>> a = Value(3.0, label="a")
    >>> b = a * a
    >>> scene = Scene([b], grads={a: 6.0}, status={b: "done", a: "current"})
    >>> "grad 6" in scene.draw().source
    True
    """

    roots: Sequence[Value]
    highlight: Iterable[Union[Value, tuple[Value, Value]]] = ()
    grads: Optional[Mapping[Value, float]] = None
    status: Optional[Mapping[Value, str]] = None
    show_data: bool = True
    show_grad: bool = True
    show_local: bool = False
    group: bool = True
    rankdir: str = "LR"
    collapse: Union[bool, str] = False
    max_nodes: int = 2000
    renderer: Optional[str] = None
    grad_word: str = "grad"

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        """Bad fields raise here, each naming what was wrong; ``roots`` and ``highlight`` become tuples."""
        self.roots = _as_roots(self.roots)
        self.highlight = tuple(self.highlight)
        _split_highlight(self.highlight)
        if self.rankdir not in _RANKDIRS:
            raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, not {self.rankdir!r}")
        if not any(self.collapse is c or (isinstance(self.collapse, str) and self.collapse == c) for c in _COLLAPSE):
            raise ValueError(f"collapse must be False, True, 'neuron' or 'layer', not {self.collapse!r}")
        if isinstance(self.max_nodes, bool) or not isinstance(self.max_nodes, int) or self.max_nodes < 1:
            raise ValueError(f"max_nodes must be a positive int, not {self.max_nodes!r}")
        for s in (self.status or {}).values():
            if s not in STATUS_COLOURS:
                raise ValueError(f"status values must be one of {', '.join(STATUS_COLOURS)}, not {s!r}")
        if not isinstance(self.grad_word, str):
            raise TypeError(f"grad_word must be a str such as 'grad' or 'tangent', not {type(self.grad_word).__name__}")

    def draw(self) -> Graph:
        """The drawing: DOT text in a :class:`Graph`, rendered to SVG or PNG on demand."""
        self._check()  # fields may have changed since the Scene was made
        return _draw(self)

    def node_ids(self) -> list[str]:
        """The SVG id of the node that shows each Value, in :func:`~autodiff.topological_order` numbering
        (roots after one another): ``v{i}`` itself, or in a collapsed drawing its group's ``g{k}``
        (a page steps a collapsed drawing by marking the group of the step's node).

        >>> from autodiff import Value, name_scope
        >>> x = Value(2.0, label="x")
        >>> with name_scope("layer 1", "neuron 0"):
        ...     h = (Value(0.5, label="w") * x).tanh()
        >>> Scene([h]).node_ids()  # w, x, w * x, tanh(w * x)
        ['v0', 'v1', 'v2', 'v3']
        >>> Scene([h], collapse=True).node_ids()  # the unscoped x is a node of its own
        ['g0', 'g1', 'g0', 'g0']
        """
        self._check()
        nodes = _collect(self.roots)
        if not self.collapse:
            return [f"v{i}" for i in range(len(nodes))]
        names, _ = _groups(nodes, "layer" if self.collapse == "layer" else "neuron")
        return [names[id(v)] for v in nodes]


def draw(
    root: Union[Value, Sequence[Value], Scene],
    *,
    show_data: bool = True,
    show_grad: bool = True,
    show_local: bool = False,
    highlight: Iterable[Union[Value, tuple[Value, Value]]] = (),
    group: bool = True,
    rankdir: str = "LR",
    collapse: Union[bool, str] = False,
    max_nodes: int = 2000,
    renderer: Optional[str] = None,
) -> Graph:
    """Draw everything ``root`` (a Value or a non-empty list of them) depends on.

    ``show_data``/``show_grad`` write each value's data and grad in its box, ``show_local`` each
    edge's local derivative on it. ``highlight`` takes Values and ``(parent, child)`` pairs and
    draws them emphasised, the rest dimmed. ``group`` clusters nodes by their ``scope`` (layer,
    then neuron). ``rankdir`` is ``"LR"``, ``"RL"``, ``"TB"`` or ``"BT"``. ``collapse=True`` (or
    ``"neuron"``) draws one node per innermost scope, ``"layer"`` one per outermost, with the
    scalar edges between them counted. A graph of more than ``max_nodes`` Values is refused with a
    hint instead of drawn unreadably. ``renderer`` picks the Graphviz engine.

    ``draw(scene)`` draws a :class:`Scene` (the same as ``scene.draw()``); its options are the
    Scene's own. A moment of backprop (gradients and states to show) is drawn from a Scene too.
    ``draw(program)`` is ``program.draw(...)`` with the options given: a compiled
    :class:`~autodiff.compile.Program` draws the graph it traced, a lifted one its arrays with
    their shapes on the edges.

    In the SVG, value node ``i`` (in :func:`~autodiff.topological_order`, roots after one another)
    has ``id="v{i}"``, its op node ``id="o{i}"``, the edge from its parent number ``k``
    ``id="e{i}_{k}"`` and the edge from its op node ``id="r{i}"``.
    """
    options: dict[str, Any] = dict(show_data=show_data, show_grad=show_grad, show_local=show_local,
                                   highlight=highlight, group=group, rankdir=rankdir, collapse=collapse,
                                   max_nodes=max_nodes, renderer=renderer)
    defaults = {f.name: f.default for f in dataclasses.fields(Scene) if f.name in options}
    given = [k for k, v in options.items() if (tuple(v) if k == "highlight" else v) != defaults[k]]
    if isinstance(root, Scene):
        if given:
            raise TypeError(f"draw(scene) takes no options ({', '.join(given)} given): a Scene carries its own; "
                            f"change it with dataclasses.replace(scene, {given[0]}=...)")
        return root.draw()
    from ..compile import Program

    if isinstance(root, Program):  # it draws itself: the traced graph, or a lifted program's arrays
        return root.draw(**{k: options[k] for k in given})
    return Scene(_as_roots(root), **options).draw()


def _as_roots(root: object) -> tuple[Value, ...]:
    """``root`` as a tuple of Values, or a TypeError/ValueError that says what was given."""
    if isinstance(root, Value):
        return (root,)
    if isinstance(root, (str, bytes, Mapping)) or not isinstance(root, Iterable):
        raise TypeError(f"draw needs a Value, a non-empty list of Values or a Scene, not {type(root).__name__}")
    roots = tuple(root)
    if not roots:
        raise ValueError("draw needs at least one Value to draw, and the list of roots is empty")
    for k, r in enumerate(roots):
        if not isinstance(r, Value):
            raise TypeError(f"draw's roots must be Values; root {k} is a {type(r).__name__} ({r!r})")
    return roots


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


def _digraph(rankdir: str) -> graphviz.Digraph:
    return graphviz.Digraph(
        "autodiff",
        # newrank: the layout's rank constraints (inputs first, a layer's neurons on one rank) hold
        # nodes of different clusters, which only newrank allows
        graph_attr={"rankdir": rankdir, "newrank": "true", "remincross": "false", "fontname": "Helvetica", "nodesep": "0.2",
                    "ranksep": "0.25"},
        node_attr={"fontname": "Helvetica", "fontsize": str(_FONT)},
        edge_attr={"arrowsize": "0.7", "fontname": "Helvetica", "fontsize": str(_EDGE)},
    )


def _draw(scene: Scene) -> Graph:
    roots = list(scene.roots)
    nodes = _collect(roots)
    dot = _digraph(scene.rankdir)
    if scene.collapse:
        _draw_collapsed(dot, scene, nodes)
        return Graph(dot.source, scene.renderer)
    if len(nodes) > scene.max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} values, more than max_nodes={scene.max_nodes}: draw(..., collapse=True) "
            f"draws one node per neuron (collapse='layer': per layer), or raise max_nodes"
        )
    hot_nodes, hot_edges = _split_highlight(scene.highlight)
    index = {id(v): i for i, v in enumerate(nodes)}
    root_ids = {id(r) for r in roots}
    dim = bool(hot_nodes)

    # Which cluster each drawn node belongs to: a tree of scopes, filled in node order.
    tree: dict[str, Any] = {"children": {}, "nodes": []}

    def place(scope: Optional[tuple[str, ...]], statement: tuple[str, dict[str, str]]) -> None:
        branch = tree
        for title in (scope or ()) if scene.group else ():
            branch = branch["children"].setdefault(title, {"children": {}, "nodes": []})
        branch["nodes"].append(statement)

    shown_grads = {id(v): g for v, g in (scene.grads or {}).items()}
    states = {id(v): s for v, s in (scene.status or {}).items()}
    scopes = [v.scope or () for v in nodes]
    links = [(index[id(p)], i) for i, v in enumerate(nodes) for p in v.parents]
    stacked = stacks(scopes, links)
    outside = {u: prefix for prefix, units in stacked for u in units}  # a neuron's output, in its layer's cluster
    for v in nodes:
        i = index[id(v)]
        hot = id(v) in hot_nodes
        attrs = _value_style(v, id(v) in root_ids, scene.show_data, scene.show_grad, shown_grads.get(id(v)),
                             scene.grad_word)
        attrs["id"] = f"v{i}"
        _mark(attrs, hot, dim, states.get(id(v)))
        place(outside.get(i, v.scope), (f"v{i}", attrs))
        if v.parents:
            op_hot = hot and (
                any((id(p), id(v)) in hot_edges for p in v.parents) or any(id(p) in hot_nodes for p in v.parents)
            )
            op_attrs = {"id": f"o{i}", **_op_style(v)}
            if dim:
                op_attrs.update(color=_HOT if op_hot else _DIM, fontcolor=_HOT if op_hot else _DIM)
            place(v.scope, (f"o{i}", op_attrs))

    # A layer's neurons stay in order only by edges declared in the layer's own cluster, where a
    # left-right drawing turns such orders upside down (Graphviz 2.43 and 16.1 alike, in its
    # crossing minimisation, which flips a left-right drawing's orders for the root graph only):
    # chained backwards there. The same goes for an op's operands (ordering=in keeps them in the
    # order their edges are declared): declared backwards inside a cluster.
    flipped = scene.rankdir in ("LR", "RL")
    chains = {prefix: [f"v{u}" for u in (units[::-1] if flipped else units)]
              for prefix, units in stacked} if scene.group else {}
    _emit(dot, tree, [0], chains)
    for v in nodes:
        if not v.parents:
            continue
        i = index[id(v)]
        out_hot = dim and id(v) in hot_nodes
        dot.edge(f"o{i}", f"v{i}", id=f"r{i}", **({"color": _HOT, "penwidth": "2"} if out_hot else {"color": _DIM} if dim else {}))
        operands = list(enumerate(zip(v.parents, v.locals)))
        for k, (p, local) in operands[::-1] if flipped and scene.group and v.scope else operands:
            edge = {"id": f"e{i}_{k}"}
            if scene.show_local:
                edge["label"] = label_text(short(local))
            if dim:
                edge_hot = (id(p), id(v)) in hot_edges or (not hot_edges and id(p) in hot_nodes and id(v) in hot_nodes)
                edge.update({"color": _HOT, "penwidth": "2", "fontcolor": _HOT} if edge_hot else {"color": _DIM, "fontcolor": _DIM})
            dot.edge(f"v{index[id(p)]}", f"o{i}", **edge)
    leaves = [v.is_leaf and not v.is_constant for v in nodes]
    names = [f"v{i}" for i in range(len(nodes))]
    _arrange(dot, names, scopes, leaves, links, [] if scene.group else stacked)
    for outer, own in lead_ins(scopes, leaves, [[index[id(p)] for p in v.parents] for v in nodes]):
        _chain(dot, [names[w] for w in own], ordered=False)
        for a in outer:  # weight 0: they hold the rank, not the position
            dot.edge(names[a], names[own[0]], style="invis", weight="0")
    return Graph(dot.source, scene.renderer)


def _arrange(dot: graphviz.Digraph, names: Sequence[str], scopes: Sequence[tuple[str, ...]],
             leaves: Sequence[bool], edges: Sequence[tuple[int, int]],
             stacked: Sequence[tuple[tuple[str, ...], list[int]]]) -> None:
    """The network shape (see ``autodiff.render.layout``): the inputs on one rank, in order, and the
    ``stacked`` units (those not in clusters) on one rank each stack, in order, held by invisible
    edges that Graphviz keeps pointing down (``LR``, ``RL``) or right (``TB``, ``BT``)."""
    first = inputs(scopes, leaves, edges)
    if len(first) > 1:
        _chain(dot, [names[u] for u in first])
    for _, stack in stacked:
        _chain(dot, [names[u] for u in stack])


def _chain(dot: graphviz.Digraph, names: Sequence[str], ordered: bool = True) -> None:
    """``names`` on one rank, in this order if ``ordered`` (Graphviz keeps the order of edges
    between nodes of one rank)."""
    with dot.subgraph() as sub:
        sub.attr(rank="same")
        if ordered:
            for a, b in zip(names, names[1:]):
                sub.edge(a, b, style="invis")
        else:
            for n in names:
                sub.node(n)


def _mark(attrs: dict[str, str], hot: bool, dim: bool, state: Optional[str]) -> None:
    """A node's colours for its state during stepping and for a highlight (the rest dimmed)."""
    if state is not None:
        attrs.update(_status_style(state))
    if dim:
        attrs.update(color=_HOT, penwidth="2.2", fontcolor="#111111") if hot else attrs.update(color=_DIM, fontcolor=_DIM)
        if not hot:
            attrs["fillcolor"] = "#f8fafc"


def _status_style(state: str) -> dict[str, str]:
    colours = STATUS_COLOURS[state]
    style = {"fillcolor": colours["fill"], "color": colours["stroke"]}
    if state == "current":
        style["penwidth"] = "2.5"
    return style


def _op_style(v: Value) -> dict[str, str]:
    text = v.op if v.arg is None else f"{v.op} {short(v.arg)}"
    # a circle holds its text when its diameter is the text's diagonal (plus a little air)
    across = math.hypot(text_width(text, _SMALL) + 4, _SMALL * 1.2) / 72
    size = f"{max(0.3, math.ceil(across * 100) / 100):g}"
    return {"label": label_text(text), "shape": "circle", "width": size, "height": size, "margin": "0.02", "ordering": "in",
            "fontsize": str(_SMALL)}


def _value_style(
    v: Value, is_root: bool, show_data: bool, show_grad: bool, grad: Optional[float] = None, grad_word: str = "grad"
) -> dict[str, str]:
    if v.is_constant:
        return {"label": label_text(short(v.data)), "shape": "plaintext", "fontcolor": "#475569", "fontsize": str(_SMALL)}
    # The first line names the node as every front end does: its label, else its formula (an op's
    # result) or its number (a leaf, which then needs no data line).
    lines = [v.label if v.label else name(v)]
    if show_data and (v.label or v.parents):
        lines.append(f"data {short(v.data)}")
    widest = list(lines)
    if show_grad:
        lines.append(f"{grad_word} {short(v.grad if grad is None else grad)}")
        widest.append(f"{grad_word} {WIDEST_NUMBER}")  # what a later step may write there
    fill = _ROOT if is_root else _LEAF if v.is_leaf else _PLAIN
    style = {"label": label_text(*lines), "shape": "box", "style": "rounded,filled", "fillcolor": fill,
             "width": box_width(widest, _FONT)}
    if is_root:
        style["penwidth"] = "2"
    return style


def _emit(dot: graphviz.Digraph, branch: dict[str, Any], counter: list[int],
          chains: Mapping[tuple[str, ...], Sequence[str]], path: tuple[str, ...] = ()) -> None:
    """The nodes and clusters of ``branch`` (the scope ``path``), then the chain that orders its sub-scopes."""
    for node, attrs in branch["nodes"]:
        dot.node(node, **attrs)
    for title, child in sorted(branch["children"].items(), key=lambda item: natural(item[0])):
        counter[0] += 1
        with dot.subgraph(name=f"cluster_{counter[0]}") as sub:
            sub.attr(label=label_text(title), style="rounded,dashed", color=_CLUSTER, fontcolor="#475569",
                     fontsize=str(_SMALL))
            _emit(sub, child, counter, chains, path + (title,))
    if path in chains:
        _chain(dot, chains[path])


def _groups(nodes: Sequence[Value], level: str) -> tuple[dict[int, str], dict[str, tuple[tuple[str, ...], list[Value]]]]:
    """A collapsed drawing's nodes: each Value's group (``g{k}``, numbered in order of first member),
    and each group's scope (empty for an unscoped Value, which stays a node of its own) and members."""
    of: dict[int, str] = {}
    keys: dict[tuple[str, ...], str] = {}
    groups: dict[str, tuple[tuple[str, ...], list[Value]]] = {}
    for v in nodes:
        scope = tuple(v.scope[:1] if level == "layer" else v.scope) if v.scope else ()
        key = ("scope",) + scope if scope else ("value", str(id(v)))
        if key not in keys:
            keys[key] = f"g{len(keys)}"
            groups[keys[key]] = (scope, [])
        of[id(v)] = keys[key]
        groups[keys[key]][1].append(v)
    return of, groups


def _group_state(members: Sequence[Value], states: Mapping[int, str]) -> Optional[str]:
    """A group's state from its members' that have one: current if one is, done if all are, else pending."""
    given = [states[id(v)] for v in members if id(v) in states]
    if not given:
        return None
    if "current" in given:
        return "current"
    return "done" if all(s == "done" for s in given) else "pending"


def _draw_collapsed(dot: graphviz.Digraph, scene: Scene, nodes: list[Value]) -> None:
    """One node per scope group; unscoped Values stay single nodes; parallel edges counted; the
    Scene's highlight, states and grads shown on the groups that hold them."""
    of, groups = _groups(nodes, "layer" if scene.collapse == "layer" else "neuron")
    if len(groups) > scene.max_nodes:
        raise ValueError(f"even collapsed, the graph has {len(groups)} nodes, more than max_nodes={scene.max_nodes}")
    hot_nodes, hot_edges = _split_highlight(scene.highlight)
    dim = bool(hot_nodes)
    shown_grads = {id(v): g for v, g in (scene.grads or {}).items()}
    states = {id(v): s for v, s in (scene.status or {}).items()}
    root_ids = {id(r) for r in scene.roots}
    consumed_outside = set(root_ids)
    edges: Counter[tuple[str, str]] = Counter()
    hot_pairs: set[tuple[str, str]] = set()
    for v in nodes:
        for p in v.parents:
            a, b = of[id(p)], of[id(v)]
            if a != b:
                edges[(a, b)] += 1
                consumed_outside.add(id(p))
                if (id(p), id(v)) in hot_edges or (not hot_edges and id(p) in hot_nodes and id(v) in hot_nodes):
                    hot_pairs.add((a, b))
    for g, (scope, members) in groups.items():
        hot = any(id(v) in hot_nodes for v in members)
        if not scope:
            v = members[0]
            attrs = _value_style(v, id(v) in root_ids, scene.show_data, scene.show_grad, shown_grads.get(id(v)),
                                 scene.grad_word)
        else:
            outputs = [v for v in members if id(v) in consumed_outside and not v.is_leaf]
            lines = [" / ".join(scope), f"{len(members)} values"]
            for v in outputs[:4]:
                text = name(v)
                if scene.show_data:
                    text += f"  data {short(v.data)}"
                if scene.show_grad:
                    text += f"  {scene.grad_word} {short(shown_grads.get(id(v), v.grad))}"
                lines.append(text)
            if len(outputs) > 4:
                lines.append(f"... {len(outputs) - 4} more outputs")
            attrs = {"label": label_text(*lines), "shape": "box3d", "style": "filled", "fillcolor": "#eef2ff",
                     "width": box_width(lines, _FONT)}
        attrs["id"] = g
        _mark(attrs, hot, dim, _group_state(members, states))
        dot.node(g, **attrs)
    for (a, b), n in edges.items():
        edge = {"label": label_text(f"x{n}")} if n > 1 else {}
        if dim:
            edge.update({"color": _HOT, "penwidth": "2", "fontcolor": _HOT} if (a, b) in hot_pairs
                        else {"color": _DIM, "fontcolor": _DIM})
        dot.edge(a, b, **edge)
    names = list(groups)
    number = {g: u for u, g in enumerate(names)}
    scopes = [groups[g][0] for g in names]
    links = [(number[a], number[b]) for a, b in edges]
    _arrange(dot, names, scopes,
             [not groups[g][0] and groups[g][1][0].is_leaf and not groups[g][1][0].is_constant for g in names],
             links, stacks(scopes, links))
