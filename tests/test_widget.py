"""The explainer as a notebook widget (nn.widget): its traits in Python, its static page for exported
notebooks, and the live widget in a real JupyterLab on localhost, driven by Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
import traitlets

import autodiff
import nn
from nn import reference

X, T = [0.5, -1.0], [1.0, 0.0]
# the rule of each step, as the textbook writes the 2-3-2 network's backprop
RULE_5 = "dW2 = outer(h1, delta2), db2 = delta2"
# the first scalar each step's rule writes (before any step, the first input)
FIRST_WRITTEN = ["x[0]", "z1[0]", "h1[0]", "y[0]", "y[0]", "W2[0][0]", "z1[0]", "W1[0][0]"]


def model() -> nn.MLP:
    return nn.MLP(2, [3, 2], seed=0)


def labels() -> list[str]:
    # graph node i is the i-th value in topological order (its id in the drawing is v{i})
    return [v.label for v in autodiff.topological_order(nn.mse_loss(model()(X), T))]


def fmt(x: float) -> str:
    text = f"{x:.6g}"
    return "0" if text == "-0" else text


# -- in Python ---------------------------------------------------------------------------------

def test_step_and_selected_are_traits_checked_with_messages_naming_the_value():
    w = nn.explainer_widget(model(), X, T)
    assert (w.step, w.selected) == (0, None)
    assert len(w.steps) == 8 and w.steps[5] == RULE_5
    seen = []
    w.observe(lambda change: seen.append((change["name"], change["new"])), names=["step", "selected"])
    w.step = 5
    w.selected = "W2[1][0]"
    assert seen == [("step", 5), ("selected", "W2[1][0]")]
    for bad in (8, -1, True):
        with pytest.raises(traitlets.TraitError, match=rf"step must be a whole number from 0 to 7, not {bad!r}"):
            w.step = bad
    with pytest.raises(traitlets.TraitError, match=r"selected must be None or the label .* not 'W3\[0\]\[0\]'"):
        w.selected = "W3[0][0]"
    assert (w.step, w.selected) == (5, "W2[1][0]")  # a refused value changes nothing
    w.selected = None
    assert w.selected is None
    assert repr(w) == "ExplainerWidget(MLP([2, 3, 2], activation='tanh', out_activation='linear'), step=5 of 7, selected=None)"


@pytest.mark.parametrize("args,error,words", [
    (("not a model", X, T), TypeError, "nn.MLP"),
    ((None, [1.0], T), TypeError, "nn.MLP"),
    (("model", [1.0], T), ValueError, "x must have 2 numbers"),
    (("model", X, T, "l1"), ValueError, "loss must be 'mse' or 'sse'"),
])
def test_bad_arguments_are_refused_before_anything_is_sent(args, error, words):
    args = tuple(model() if a == "model" else a for a in args)
    with pytest.raises(error, match=re.escape(words)):
        nn.explainer_widget(*args)


def test_the_output_carries_the_live_widget_and_the_static_page():
    m = model()
    w = nn.explainer_widget(m, X, T)
    data, _ = w._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id
    frame = data["text/html"]
    assert frame.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in frame
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert page == w.html and page.startswith("<!DOCTYPE html>")
    # the page and the widget show the same numbers: dW2[1][0] from the textbook rules
    want = fmt(reference.from_model(m, X, T).weight_grads[1][1][0])
    assert w._view["params"]["W2[1][0]"]["grad"] == want
    assert f'"grad":"{want}"' in page
    # the live widget gets the graph as data, its style scoped to the mounted root
    assert w._view["graph"].startswith("<svg") and ".autodiff-explainer" in w._css
    assert "export default" in w._esm and "<script" not in w._esm


def test_the_exported_page_opens_at_the_widgets_step_and_weight_and_a_label_stays_text():
    m = model()
    m.parameter("W2[1][0]").label = "W</script><img src=x onerror=alert(1)>"
    w = nn.explainer_widget(m, X, T)
    assert w._repr_mimebundle_()[0]["text/html"].count("<script>") == 0  # step 0, nothing selected: the page as is
    w.step, w.selected = 5, "W</script><img src=x onerror=alert(1)>"
    frame = w._repr_mimebundle_()[0]["text/html"]
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    tail = page[page.rindex("<script>"):]
    assert tail.count("</script>") == 1 and "<img" not in tail  # the label is inside a JSON string
    state = json.loads(re.search(r"\}\)\((\[.*\])\);</script>", tail).group(1))
    assert state == [5, "W</script><img src=x onerror=alert(1)>", "layer"]


def test_granularity_is_a_trait_too_and_steps_are_checked_against_its_count():
    w = nn.explainer_widget(model(), X, T)
    assert (w.granularity, w.count) == ("layer", 7)
    w.step = 5
    w.granularity = "node"
    assert w.step == 0  # another granularity starts again, as the page does
    view = w._view["nodeSteps"]
    assert w.count == len(view["forward"]) + len(view["backward"]) > 7
    # by node, step titles are the terminal debugger's: the last one is its last step
    debugger = autodiff.Debugger(nn.mse_loss(model()(X), T))
    assert w.steps[-1] == view["backward"][-1]["title"] and w.steps[-1].startswith(f"step {len(view['backward'])}:")
    assert len(view["backward"]) == len(debugger.record.shown)
    w.step = w.count
    with pytest.raises(traitlets.TraitError, match=rf"step must be a whole number from 0 to {w.count}, not {w.count + 1}"):
        w.step = w.count + 1
    with pytest.raises(traitlets.TraitError, match=r"granularity must be 'layer' or 'node', not 'neuron'"):
        w.granularity = "neuron"
    assert "granularity='node'" in repr(w)
    # the exported page opens by node too
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', w._repr_mimebundle_()[0]["text/html"]).group(1))
    state = json.loads(re.search(r"\}\)\((\[.*\])\);</script>", page[page.rindex("<script>"):]).group(1))
    assert state == [w.count, None, "node"]


def test_the_static_page_is_the_explainer_page_made_from_the_same_drawing():
    m = model()
    assert nn.explainer_widget(m, X, T).html == nn.explainer_html(m, X, T)


def test_the_model_grads_are_left_alone():
    m = model()
    for p in m.parameters():
        p.grad = 0.25
    nn.explainer_widget(m, X, T)
    assert {p.grad for p in m.parameters()} == {0.25}


def test_without_anywidget_import_nn_works_and_the_widget_says_what_to_install():
    code = ("import sys; sys.modules['anywidget'] = None\n"
            "import nn\n"
            "try:\n"
            "    nn.explainer_widget(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ('the explainer widget needs anywidget, which is not installed: '
                                  'pip install "autodiff-seethrough[notebook]"')
    assert "anywidget" not in subprocess.run(
        [sys.executable, "-c", "import sys, nn; print(sorted(m for m in sys.modules if 'widget' in m))"],
        check=False, capture_output=True, text=True, timeout=120).stdout  # not imported by `import nn`


# -- in JupyterLab, driven by Chromium -------------------------------------------------------------

CELLS = [
    "import nn\nw = nn.explainer_widget(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])\nw",
    "w.step = 5",
    "print(w.step, w.selected)",
    'w.selected = "W1[0][2]"',
    "w  # a second view of the same widget",
    "print(w.granularity, w.step, w.count)",
    'w.granularity, w.step = "layer", 2',
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on localhost: a free port, a token, its own temporary directories,
    nothing fetched from the network (no news, no update check, no extension manager)."""
    root = tmp_path_factory.mktemp("lab")
    for name in ("notebooks", "config", "data", "runtime", "settings", "workspaces"):
        (root / name).mkdir()
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, root / "notebooks" / "widget.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_DATA_DIR=str(root / "data"),
               JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    log = open(root / "lab.log", "w")  # noqa: SIM115 (open while the server runs, closed at the end)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root / 'notebooks'}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", f"--LabApp.user_settings_dir={root / 'settings'}",
         f"--LabApp.workspaces_dir={root / 'workspaces'}",
         # window.jupyterapp: the test runs cells with JupyterLab's own commands, as its menus do
         "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    deadline = started + 60
    try:
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (root / "lab.log").read_text()) from None
                time.sleep(0.2)
        print(f"JupyterLab server up in {time.monotonic() - started:.1f} s")
        yield {"base": base, "token": token, "root": root, "notebook": root / "notebooks" / "widget.ipynb"}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


class Notebook:
    """The notebook open in JupyterLab: run a cell (JupyterLab's notebook:run-cell, which resolves
    when the kernel has run it), read a cell's output, find the widget."""

    def __init__(self, page):
        self.page = page

    def run(self, index: int) -> None:
        ok = self.page.evaluate("""async (i) => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = i;
            return await window.jupyterapp.commands.execute('notebook:run-cell');
        }""", index)
        assert ok, f"cell {index} failed"
        self.idle()

    def idle(self) -> None:
        self.page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status === 'idle'")

    def output(self, index: int) -> str:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output").inner_text()

    def widget(self):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".autodiff-explainer")


def inside(inner: dict, outer: dict) -> bool:
    return (outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
            and outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"])


def current_node_in_view(w, label: str) -> bool:
    """The graph node ``label`` is inside the graph's pane, and the pane is inside the window once
    scrolled to (nothing around it cuts it off, as the notebook's old 640 px frame did)."""
    frame = w.locator(".ax-graph")
    frame.scroll_into_view_if_needed()
    node = w.locator(f".ax-graph g.node#v{labels().index(label)}")
    window = {"x": 0, "y": 0, **frame.page.viewport_size}
    return inside(node.bounding_box(), frame.bounding_box()) and inside(frame.bounding_box(), window)


def selected_everywhere(w, name: str) -> list[str]:
    edges = w.locator(".ax-network line.net-edge.selected").evaluate_all("es => es.map(e => e.dataset.param)")
    cells = w.locator(".ax-matrices td.selected").evaluate_all("es => es.map(e => e.dataset.param)")
    nodes = w.locator(".ax-graph g.node.selected").evaluate_all("es => es.map(e => e.id)")
    return [edges, cells, nodes]


def test_the_widget_in_jupyterlab_follows_python_and_python_reads_the_page(lab, browser, tmp_path):
    start = time.monotonic()
    m = model()
    ref = reference.from_model(m, X, T)
    names = labels()
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith((lab["base"], "blob:", "data:"))
            else problems.append(f"request: {r.url}"))
    page.goto(f"{lab['base']}/lab/tree/widget.ipynb?token={lab['token']}")
    page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel",
                           timeout=60_000)
    nb = Notebook(page)
    nb.idle()

    # the widget: three views of the 2-3-2 network
    nb.run(0)
    w = nb.widget()
    w.locator(".ax-graph g.node").first.wait_for()
    assert w.locator(".ax-counter").inner_text() == "step 0 of 7 (start)"
    edges = w.locator(".ax-network line.net-edge").evaluate_all("es => es.map(e => e.dataset.param)")
    assert sorted(edges) == sorted([f"W1[{i}][{j}]" for i in range(2) for j in range(3)]
                                   + [f"W2[{j}][{k}]" for j in range(3) for k in range(2)])
    cells = w.locator('.ax-matrices td[data-matrix="W1"]')
    assert cells.evaluate_all("es => es.map(e => e.textContent)") == [
        fmt(v.data) for row in m.layers[0].weights for v in row]
    assert w.locator(".ax-graph g.node[id^=v]").count() == len(names)
    # every step keeps the first number its rule writes in view (delta is dloss/dz), as the notebook's
    # old 640 px frame did not
    assert current_node_in_view(w, FIRST_WRITTEN[0])
    for k in range(1, 8):
        w.locator(".ax-next").click()
        assert w.locator(".ax-counter").inner_text().startswith(f"step {k} of 7")
        assert current_node_in_view(w, FIRST_WRITTEN[k]), k

    # Python moves the page
    nb.run(1)
    page.wait_for_function("() => document.querySelector('.autodiff-explainer .ax-counter').textContent"
                           ".startsWith('step 5 of 7')")
    assert w.locator(".ax-step-rule").inner_text() == RULE_5
    assert current_node_in_view(w, FIRST_WRITTEN[5])

    # the page moves Python: a click on dW2[1][0], the next button, then the left arrow key
    w.locator('.ax-matrices td[data-matrix="dW2"][data-param="W2[1][0]"]').click()
    assert selected_everywhere(w, "W2[1][0]") == [["W2[1][0]"], ["W2[1][0]", "W2[1][0]"],
                                                  [f"v{names.index('W2[1][0]')}"]]
    assert w.locator(".ax-sel-title").inner_text() == f"dloss/dW2[1][0] = {fmt(ref.weight_grads[1][1][0])}"
    w.locator(".ax-next").click()
    assert w.locator(".ax-counter").inner_text().startswith("step 6 of 7")
    assert current_node_in_view(w, FIRST_WRITTEN[6])
    nb.run(2)
    assert nb.output(2).strip() == "6 W2[1][0]"
    w.locator(".ax-step-rule").click()  # focus inside the widget: the arrow keys are its own there
    page.keyboard.press("ArrowLeft")
    assert w.locator(".ax-counter").inner_text().startswith("step 5 of 7")
    nb.run(2)
    assert nb.output(2).strip() == "5 W2[1][0]"

    # Python selects a weight: highlighted in all three views, with its gradient
    nb.run(3)
    page.wait_for_function("() => document.querySelector('.autodiff-explainer .ax-sel-title').textContent"
                           ".startsWith('dloss/dW1[0][2]')")
    assert selected_everywhere(w, "W1[0][2]") == [["W1[0][2]"], ["W1[0][2]", "W1[0][2]"],
                                                  [f"v{names.index('W1[0][2]')}"]]
    assert w.locator(".ax-sel-title").inner_text() == f"dloss/dW1[0][2] = {fmt(ref.weight_grads[0][0][2])}"

    # a second view of the same widget starts where the first is, and the two move together
    nb.run(4)
    second = page.locator(".jp-Notebook .jp-Cell").nth(4).locator(".autodiff-explainer")
    second.locator(".ax-graph g.node").first.wait_for()
    assert second.locator(".ax-counter").inner_text().startswith("step 5 of 7")
    assert selected_everywhere(second, "W1[0][2]") == selected_everywhere(w, "W1[0][2]")
    second.locator(".ax-prev").click()
    page.wait_for_function("() => document.querySelector('.autodiff-explainer .ax-counter').textContent"
                           ".startsWith('step 4 of 7')")
    second.locator(".ax-next").click()
    page.wait_for_function("() => document.querySelector('.autodiff-explainer .ax-counter').textContent"
                           ".startsWith('step 5 of 7')")
    # the page's menu switches to steps by node: Python reads the granularity and the step count the
    # page offers; Python switches back and both views follow
    w.locator(".ax-granularity").select_option("node")
    w.locator(".ax-next").click()
    nb.run(5)
    node_count = nn.explainer_widget(m, X, T)
    node_count.granularity = "node"
    assert nb.output(5).strip() == f"node 1 {node_count.count}"
    assert w.locator(".ax-counter").inner_text().startswith("forward: step 1 of")
    nb.run(6)
    for view in (w, second):
        page.wait_for_function("(e) => e.querySelector('.ax-counter').textContent.startsWith('step 2 of 7')",
                               arg=view.element_handle())
        assert view.locator(".ax-granularity").input_value() == "layer"
    assert problems == []  # no error in the page, nothing fetched from anywhere but the server

    # saved as JupyterLab saves it (no widget state), exported by nbconvert: the static page
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    lab_time = time.monotonic() - start
    saved = nbformat.read(lab["notebook"], as_version=4)
    assert "application/vnd.jupyter.widget-view+json" in saved.cells[0].outputs[0]["data"]
    out = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(tmp_path),
                          str(lab["notebook"])], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    exported = tmp_path / "widget.html"
    static = browser.new_page()
    fetched: list[str] = []  # by the explainer's frames: nothing, the page is offline
    static.on("request", lambda r: fetched.append(r.url) if r.frame.parent_frame is not None
              and not r.url.startswith("about:") else None)
    static.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "about:"))
                 else route.abort())  # the exported notebook's own CDN scripts: not needed here
    static.goto(exported.as_uri())
    first, second = [f for f in static.frames if f.parent_frame is not None]
    for frame in (first, second):
        frame.wait_for_selector(".autodiff-explainer .ax-graph g.node")
        assert frame.locator(".ax-network line.net-edge").count() == 12
    # each opens where its widget was when it was shown: at the start, then at step 5 on W1[0][2]
    assert first.locator(".ax-counter").inner_text().startswith("step 0 of 7")
    assert first.locator(".ax-graph g.node.selected").count() == 0
    assert second.locator(".ax-counter").inner_text().startswith("step 5 of 7")
    assert selected_everywhere(second, "W1[0][2]") == [["W1[0][2]"], ["W1[0][2]", "W1[0][2]"],
                                                       [f"v{names.index('W1[0][2]')}"]]
    first.locator('.ax-matrices td[data-matrix="dW2"][data-param="W2[1][0]"]').click()
    assert first.locator(".ax-sel-title").inner_text() == f"dloss/dW2[1][0] = {fmt(ref.weight_grads[1][1][0])}"
    # the frame is tall enough for the whole page: nothing is hidden below its edge
    assert first.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight")
    assert fetched == []
    static.close()
    page.close()
    print(f"JupyterLab part: {lab_time:.1f} s, with the export: {time.monotonic() - start:.1f} s")
