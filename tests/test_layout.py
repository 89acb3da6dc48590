"""Layout: every drawing of a network has the same, network-shaped layout, and no text spills.

Oracles: positions are read from the SVG with xml.etree (a node's box is the bounding box of its
outline); which layer a node belongs to comes from the Value behind its documented id (``v{i}``,
``o{i}`` in topological order), not from the drawing; the width of a text is measured by Graphviz
itself on a node holding nothing but that text, and by Chromium on the drawing with the widest
numbers written in, as the step-through page writes them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff import Value, fmt
from autodiff.render import Scene, engines, render

SVG = "{http://www.w3.org/2000/svg}"
RENDERERS = [pytest.param(r, marks=pytest.mark.needs_system("dot")) if r == "system" else r for r in engines.RENDERERS]
HOT, DIM = "#dc2626", "#c0c4cc"  # the highlight's red and the dimmed grey (docs/rendering.md)


def network(hidden=(3, 2), activation="tanh"):
    model = nn.MLP(2, list(hidden), activation=activation, seed=0)
    loss = nn.mse_loss(model([0.5, -1.0]), [1.0, 0.0][: hidden[-1]])
    loss.backward()
    return model, loss


class Node:
    """A drawn node: its id, title (the DOT name), lines of text and outline box (x0, y0, x1, y1)."""

    def __init__(self, g: ET.Element) -> None:
        self.id = g.get("id", "")
        self.title = g.findtext(f"{SVG}title")
        self.lines = ["".join(t.itertext()).replace("\xa0", " ") for t in g.iter(f"{SVG}text")]
        self.fontsize = float(next(g.iter(f"{SVG}text")).get("font-size", "0")) if self.lines else 0.0
        points: list[float] = []
        for shape in g:
            if shape.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse"):
                if shape.tag == f"{SVG}ellipse":
                    cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
                    points += [cx - rx, cy - ry, cx + rx, cy + ry]
                else:
                    points += [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points") or shape.get("d"))]
                stroke, fill = shape.get("stroke"), shape.get("fill")
                self.stroke, self.fill = stroke, fill
        self.box = (min(points[0::2]), min(points[1::2]), max(points[0::2]), max(points[1::2])) if points else None

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2


def drawn(svg: str) -> dict[str, Node]:
    """Every node of an SVG drawing by its first line of text (the name it shows)."""
    root = ET.fromstring(svg)
    nodes = [Node(g) for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    return {n.lines[0]: n for n in nodes if n.lines}


def by_id(svg: str) -> dict[str, Node]:
    root = ET.fromstring(svg)
    return {n.id: n for n in (Node(g) for g in root.iter(f"{SVG}g") if g.get("class") == "node")}


def inline_svg(page: str) -> str:
    return page[page.index("<svg"): page.index("</svg>") + len("</svg>")]


def assert_stacked(nodes: dict[str, Node], names: list[str], rankdir: str = "LR") -> None:
    """``names`` top to bottom (left to right in a TB drawing), each in its own place."""
    axis = 1 if rankdir in ("LR", "RL") else 0
    where = [nodes[n].centre[axis] for n in names]
    assert all(a < b for a, b in zip(where, where[1:])), list(zip(names, where))


def assert_inputs_first(svg: str, root: Value, nin: int, rankdir: str = "LR") -> None:
    """Every x[i] ends before any node of layer 1 starts (left of it; above it in TB)."""
    order = autodiff.topological_order(root)
    axis = 0 if rankdir in ("LR", "RL") else 1
    nodes = by_id(svg)
    layer1 = [nodes[f"{kind}{i}"] for i, v in enumerate(order) if v.scope and v.scope[0] == "layer 1"
              for kind in "vo" if f"{kind}{i}" in nodes]
    assert len(layer1) > 6
    inputs = [nodes[f"v{order.index(v)}"] for v in order if v.label in {f"x[{i}]" for i in range(nin)}]
    assert len(inputs) == nin
    end = max(n.box[axis + 2] for n in inputs)
    assert all(n.box[axis] > end for n in layer1), (end, min(n.box[axis] for n in layer1))


def operands_in_order(svg: str, root: Value, rankdir: str = "LR") -> int:
    """Check that each op's operands that share a rank and its scope come in order, top to bottom
    (left to right in TB); returns how many ops were checked. (Graphviz orders nodes of different
    clusters as whole clusters: y[0] - t[0] may have t[0], outside layer 2, above y[0], inside.)"""
    order = autodiff.topological_order(root)
    nodes = by_id(svg)
    flow, across = (0, 1) if rankdir in ("LR", "RL") else (1, 0)
    checked = 0
    for v in order:
        if any(p.scope != v.scope for p in v.parents):
            continue
        drawn_parents = [nodes[f"v{order.index(p)}"] for p in v.parents if not p.is_constant]
        if len(drawn_parents) < 2 or len({round(n.centre[flow]) for n in drawn_parents}) > 1:
            continue
        where = [n.centre[across] for n in drawn_parents]
        assert where == sorted(where) and len(set(where)) == len(where), (fmt.name(v), where)
        checked += 1
    return checked


def hidden(n: int, layer: int = 1) -> list[str]:
    return [f"h{layer}[{j}]" for j in range(n)]


# -- neurons in index order, inputs on the left, in every drawing -----------------------------------

@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_2_3_2_neurons_come_in_index_order_in_every_drawing(renderer):
    model, loss = network()
    w = model.parameter("W1[0][2]")
    order = autodiff.topological_order(loss)
    drawings = {
        "plain": autodiff.draw(loss, renderer=renderer).svg(),
        "trace": autodiff.trace(loss, w).draw(renderer=renderer).svg(),
        "no clusters": autodiff.draw(loss, group=False, renderer=renderer).svg(),
        "stepped": Scene([loss], grads={loss: 1.0}, status={loss: "done", order[-2]: "current"},
                         renderer=renderer).draw().svg(),
        "page": inline_svg(autodiff.page_html(loss, renderer=renderer)),
    }
    for name, svg in drawings.items():
        nodes = drawn(svg)
        assert_stacked(nodes, hidden(3))
        assert_stacked(nodes, ["y[0]", "y[1]"])
        assert_inputs_first(svg, loss, 2)
        # the layers left to right: every hidden output before every output, the loss last
        assert max(nodes[h].box[2] for h in hidden(3)) < min(nodes[y].box[0] for y in ("y[0]", "y[1]"))
        assert nodes["loss"].box[0] == max(n.box[0] for n in nodes.values() if n.box), name
        # inside each neuron too: W1[0][j] * x[0] above W1[1][j] * x[1] above b1[j], and so on
        # (not promised with labels on the edges, as a trace has: they take ranks of their own)
        if name != "trace":
            assert operands_in_order(svg, loss) >= 5, name


@pytest.mark.parametrize("renderer", RENDERERS)
def test_top_to_bottom_drawings_put_neuron_j_left_of_neuron_j_plus_1(renderer):
    model, loss = network()
    plain = autodiff.draw(loss, rankdir="TB", renderer=renderer).svg()
    for svg in (plain, autodiff.trace(loss, model.parameter("W2[1][0]")).draw(rankdir="TB", renderer=renderer).svg()):
        nodes = drawn(svg)
        assert_stacked(nodes, hidden(3), "TB")
        assert_stacked(nodes, ["y[0]", "y[1]"], "TB")
        assert_inputs_first(svg, loss, 2, "TB")
    assert operands_in_order(plain, loss, "TB") >= 5


@pytest.mark.parametrize("renderer", RENDERERS)
def test_right_to_left_and_bottom_to_top_drawings_keep_the_order_too(renderer):
    _, loss = network()
    for rankdir in ("RL", "BT"):
        svg = autodiff.draw(loss, rankdir=rankdir, renderer=renderer).svg()
        nodes = drawn(svg)
        assert_stacked(nodes, hidden(3), rankdir)
        assert_stacked(nodes, ["y[0]", "y[1]"], rankdir)
        assert operands_in_order(svg, loss, rankdir) >= 5


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_2_16_16_1_network_keeps_two_digit_indices_in_order_collapsed_or_not(renderer):
    model, loss = network((16, 16, 1), activation="relu")
    whole = autodiff.draw(loss, renderer=renderer).svg()
    nodes = drawn(whole)
    assert_stacked(nodes, hidden(16, 1))
    assert_stacked(nodes, hidden(16, 2))
    assert_inputs_first(whole, loss, 2)
    for collapse in (True, "neuron"):
        nodes = drawn(autodiff.draw(loss, collapse=collapse, renderer=renderer).svg())
        for layer in (1, 2):
            assert_stacked(nodes, [f"layer {layer} / neuron {j}" for j in range(16)])
        end = max(nodes[f"x[{i}]"].box[2] for i in range(2))
        assert all(nodes[f"layer 1 / neuron {j}"].box[0] > end for j in range(16))
    # a collapsed trace and a collapsed step keep the order too
    w = model.parameter("W1[1][11]")
    for scene in (Scene([loss], collapse=True, highlight=[w], renderer=renderer),
                  Scene([loss], collapse=True, status={w: "current"}, renderer=renderer)):
        nodes = drawn(scene.draw().svg())
        assert_stacked(nodes, [f"layer 2 / neuron {j}" for j in range(16)])


def random_expression(seed: int) -> Value:
    """A plain graph (no scopes): a few leaves combined at random by + and *, every node labelled."""
    import random

    rng = random.Random(seed)
    pool = [Value(float(k), label=f"l{k}") for k in range(rng.randint(3, 6))]
    for k in range(rng.randint(2, 8)):
        a, b = rng.sample(pool, 2)
        pool.append(a * b if rng.random() < 0.5 else a + b)
        pool[-1].label = f"n{k}"
    return pool[-1]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_plain_graph_keeps_each_ops_operands_in_order(renderer):
    # Without scopes there is no network to shape; what a reader expects is the order the
    # expression was written in: a + b with a above b (in 23 of 84 such pairs, not so before).
    checked = 0
    for seed in range(30):
        y = random_expression(seed)
        nodes = drawn(autodiff.draw(y, renderer=renderer).svg())
        for v in autodiff.topological_order(y):
            if len(v.parents) == 2:
                first, second = (nodes[p.label] for p in v.parents)
                if first.centre[0] == second.centre[0]:  # on one rank: one above the other
                    assert first.centre[1] < second.centre[1], (seed, v.label)
                    checked += 1
    assert checked > 30


SCOPES = [(), ("layer 1",), ("layer 1", "neuron 0"), ("layer 1", "neuron 1"), ("layer 2", "neuron 0"),
          ("layer 2", "neuron 10"), ("layer 2",), ("a", "b", "c"), ("a", "b", "d")]


@pytest.mark.parametrize("renderer", RENDERERS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_any_scoped_graph_is_laid_out_without_a_graphviz_error(renderer, data):
    # The layout's constraints (ranks shared across clusters, chains, operand order, invisible
    # edges) on graphs that are not networks: scopes anywhere, feeding one another, leaves reused.
    import contextlib

    def scope(names):
        return autodiff.name_scope(*names) if names else contextlib.nullcontext()

    pool = []
    for k in range(data.draw(st.integers(2, 5))):
        with scope(data.draw(st.sampled_from(SCOPES))):
            pool.append(Value(float(k) - 1.5, label=f"l{k}"))
    for k in range(data.draw(st.integers(1, 12))):
        with scope(data.draw(st.sampled_from(SCOPES))):
            a, b = data.draw(st.sampled_from(pool)), data.draw(st.sampled_from(pool))
            pool.append(data.draw(st.sampled_from([a * b, a + b, (a * 2.0).tanh()])))
    y = pool[-1]
    order = autodiff.topological_order(y)
    rankdir = data.draw(st.sampled_from(["LR", "TB", "RL", "BT"]))
    for scene in (Scene([y], rankdir=rankdir, renderer=renderer),
                  Scene([y], group=False, highlight=[order[0]], show_local=True, renderer=renderer),
                  Scene([y], collapse=True, rankdir=rankdir, renderer=renderer),
                  Scene([y], collapse="layer", renderer=renderer)):
        nodes = by_id(scene.draw().svg())
        assert set(scene.node_ids()) - {f"v{i}" for i, v in enumerate(order) if v.is_constant} <= set(nodes)


# -- boxes are wide enough for the numbers a step writes into them ----------------------------------

def graphviz_width(text: str, fontsize: float, renderer: str) -> float:
    """Graphviz's own width of ``text`` in Helvetica at ``fontsize``: a box with no margin around it."""
    dot = f'digraph {{ n [shape=box margin=0 width=0 height=0 fontname=Helvetica fontsize={fontsize} label="{text}"] }}'
    (node,) = by_id(render(dot, renderer=renderer).decode()).values()
    return node.box[2] - node.box[0]


# fmt.short's long forms: the most characters, the widest characters (+ is wider than -)
EXTREMES = [-1.2345e100, -1.2345e-100, 1.2345e100, -0.00012345, -123456.7, -1 / 3, float("-inf"), float("nan")]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_every_box_is_wider_than_its_grad_line_with_the_widest_number(renderer):
    model, loss = network()
    zeros = {v: 0.0 for v in autodiff.topological_order(loss)}  # as the page starts: "grad 0" everywhere
    for scene in (Scene([loss], renderer=renderer), Scene([loss], grads=zeros, renderer=renderer)):
        nodes = [n for n in by_id(scene.draw().svg()).values() if n.lines and n.lines[-1].startswith("grad ")]
        assert len(nodes) > 40
        size = nodes[0].fontsize
        widest = max(graphviz_width(f"grad {fmt.short(x)}", size, renderer) for x in EXTREMES)
        for n in nodes:
            assert n.box[2] - n.box[0] >= widest, (n.lines, n.box[2] - n.box[0], widest)


def test_forward_mode_boxes_are_sized_for_their_own_word():
    x = Value(0.5, label="x")
    y = (x * 3).tanh()
    (box,) = [n for n in by_id(Scene([y], grad_word="tangent").draw().svg()).values() if n.lines[0] == "x"]
    assert box.lines[-1] == "tangent 0"
    assert box.box[2] - box.box[0] >= graphviz_width(f"tangent {fmt.short(-1.2345e100)}", box.fontsize, "pure")
    with pytest.raises(TypeError, match="grad_word must be a str"):
        Scene([y], grad_word=3)  # type: ignore[arg-type]


MEASURE = """
(widest) => {
  const out = [];
  for (const g of document.querySelectorAll('g.node')) {
    const texts = g.querySelectorAll('text');
    const shape = g.querySelector('path, polygon');
    if (!texts.length || !shape) continue;
    if (texts[texts.length - 1].textContent.startsWith('grad ')) texts[texts.length - 1].textContent = 'grad ' + widest;
    const box = shape.getBBox();
    for (const t of texts) {
      const b = t.getBBox();
      out.push({text: t.textContent, left: b.x - box.x, right: box.x + box.width - (b.x + b.width)});
    }
  }
  return out;
}
"""


@pytest.mark.needs_system("chromium")
def test_no_text_spills_out_of_its_box_in_chromium(browser):
    # The drawing as the page shows it, every grad line rewritten with fmt.short's widest number;
    # Chromium draws "Helvetica" with whatever font the machine has (DejaVu Sans on plain Linux).
    model, loss = network()
    with autodiff.name_scope("wide"):
        odd = Value(1.0, label="WWW mmm @@@ ___ JJJ 权重 \u00e9") * loss
    svg = autodiff.draw(odd).svg()
    page = browser.new_page()
    page.set_content(f"<!DOCTYPE html><html><body>{inline_svg(svg)}</body></html>")
    widest = max((fmt.short(x) for x in EXTREMES), key=len)
    measured = page.evaluate(MEASURE, widest)
    page.close()
    assert len(measured) > 100 and any(m["text"] == f"grad {widest}" for m in measured)
    spills = [m for m in measured if m["left"] < 0 or m["right"] < 0]
    assert not spills, spills[:5]


# -- collapsed drawings keep the trace's and the step's marks --------------------------------------

def group_colours(svg: str) -> tuple[dict[str, Node], dict[tuple[str, str], str]]:
    """Collapsed nodes by their first line, and each edge's stroke by the first lines of its ends."""
    root = ET.fromstring(svg)
    nodes = {n.title: n for n in (Node(g) for g in root.iter(f"{SVG}g") if g.get("class") == "node")}
    edges = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "edge":
            a, b = g.findtext(f"{SVG}title").split("->")
            edges[(nodes[a].lines[0], nodes[b].lines[0])] = g.find(f"{SVG}path").get("stroke")
    return {n.lines[0]: n for n in nodes.values()}, edges


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_collapsed_trace_marks_the_groups_and_edges_on_its_paths(renderer):
    model, loss = network()
    # d loss / d W1[0][2]: W1[0][2] -> neuron 2 of layer 1 -> both neurons of layer 2 -> the loss terms
    t = autodiff.trace(loss, model.parameter("W1[0][2]"))
    nodes, edges = group_colours(t.draw(collapse=True, renderer=renderer).svg())
    hot = {"layer 1 / neuron 2", "layer 2 / neuron 0", "layer 2 / neuron 1", "loss"}
    cold = {"layer 1 / neuron 0", "layer 1 / neuron 1", "x[0]", "x[1]", "t[0]", "t[1]"}
    assert {n for n in hot if nodes[n].stroke == HOT} == hot
    assert {n for n in cold if nodes[n].stroke == DIM} == cold
    assert edges[("layer 1 / neuron 2", "layer 2 / neuron 1")] == HOT
    assert edges[("layer 1 / neuron 0", "layer 2 / neuron 1")] == DIM
    assert edges[("x[0]", "layer 1 / neuron 2")] == DIM  # x[0] is not on a path from W1[0][2]
    by_layer, layer_edges = group_colours(t.draw(collapse="layer", renderer=renderer).svg())
    assert by_layer["layer 1"].stroke == HOT and by_layer["layer 2"].stroke == HOT
    assert layer_edges[("layer 1", "layer 2")] == HOT and by_layer["x[1]"].stroke == DIM


def test_a_collapsed_step_marks_the_group_of_the_current_node():
    model, loss = network()
    order = autodiff.topological_order(loss)
    w = model.parameter("W1[0][2]")
    # a moment of backprop: layer 2 and everything after it done, W1[0][2] current, the rest pending
    status = {v: "done" if not v.scope or v.scope[0] == "layer 2" else "pending" for v in order}
    status[w] = "current"
    h = next(v for v in order if v.label == "h1[2]")
    nodes, _ = group_colours(Scene([loss], collapse=True, status=status, grads={w: 0.5, h: 0.125}).draw().svg())
    # the group's output line shows the moment's grad, not h1[2].grad
    assert f"h1[2]  data {fmt.short(h.data)}  grad 0.125" in nodes["layer 1 / neuron 2"].lines
    assert h.grad != 0.125
    colours = {state: (c["fill"], c["stroke"]) for state, c in fmt.STATUS_COLOURS.items()}
    assert (nodes["layer 1 / neuron 2"].fill, nodes["layer 1 / neuron 2"].stroke) == colours["current"]
    assert (nodes["layer 1 / neuron 0"].fill, nodes["layer 1 / neuron 0"].stroke) == colours["pending"]
    assert (nodes["layer 2 / neuron 1"].fill, nodes["layer 2 / neuron 1"].stroke) == colours["done"]
    assert (nodes["loss"].fill, nodes["loss"].stroke) == colours["done"]


def test_node_ids_say_which_svg_node_shows_each_value():
    model, loss = network()
    order = autodiff.topological_order(loss)
    for collapse in (False, True, "layer"):
        scene = Scene([loss], collapse=collapse)
        ids = scene.node_ids()
        nodes = by_id(scene.draw().svg())
        assert len(ids) == len(order)
        for v, i in zip(order, ids):
            if v.is_constant:
                continue
            shown = nodes[i].lines[0]
            if not collapse or not v.scope:
                assert shown == fmt.name(v)
            else:  # the group of the value's neuron (or layer)
                assert shown == " / ".join(v.scope if collapse is True else v.scope[:1])
