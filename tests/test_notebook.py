"""The notebook tour runs top to bottom in a real kernel, and shows what it promises; exported to
HTML by nbconvert, its explainer widget is the explainer page itself."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

import nn
from nn import reference

TOUR = Path(__file__).resolve().parent.parent / "docs" / "tour.ipynb"


def test_the_tour_is_stored_without_outputs():
    nb = json.loads(TOUR.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_the_tour_runs_and_shows_graph_matrices_trace_stepper_widget_and_plot(tmp_path):
    nb = nbformat.read(TOUR, as_version=4)
    # no widget state saved, as JupyterLab saves a notebook: its export shows the widget's static page
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [c.outputs for c in cells]
    for out in outputs:
        assert not [o for o in out if o.output_type == "error"], out

    def kinds(i):
        return {key for o in outputs[i] if "data" in o for key in o["data"]}

    def text(i):
        return "".join(o.get("text", "") for o in outputs[i] if o.output_type == "stream") + "".join(
            o["data"].get("text/plain", "") for o in outputs[i] if "data" in o
        )

    assert "Value(label='loss'" in text(0)
    assert "image/svg+xml" in kinds(1)
    svg = next(o["data"]["image/svg+xml"] for o in outputs[1] if "data" in o)
    assert "W1[0][2]" in svg and "layer 1" in svg
    printed = text(2)
    assert "dloss/dW_ij (2x3)" in printed and "dloss/dW_jk (3x2)" in printed
    difference = float(printed.rsplit("=", 1)[1])
    assert difference < 1e-12
    assert "text/html" in kinds(3) and "sum of the 2 paths" in text(3)
    html = next(o["data"]["text/html"] for o in outputs[3] if "data" in o)
    assert "<svg" in html and "dloss/dW1[0][2]" in html
    assert "text/html" in kinds(4)
    frame = next(o["data"]["text/html"] for o in outputs[4] if "data" in o)
    assert frame.startswith("<iframe srcdoc=")
    # the explainer widget, at step 5 with W2[1][0] selected, and the page an export shows instead
    assert {"application/vnd.jupyter.widget-view+json", "text/html"} <= kinds(5)
    assert "step=5 of 7, selected='W2[1][0]'" in text(5)
    frame = next(o["data"]["text/html"] for o in outputs[5] if "data" in o)
    page = unescape(re.search(r'<iframe srcdoc="([^"]*)"', frame).group(1))
    payload = json.loads(re.search(r'<script type="application/json" id="explainer-data">(.*?)</script>', page,
                                   re.S).group(1))
    # the numbers of the model as the tour built it: seed 0, before training
    ref = reference.from_model(nn.MLP(2, [3, 2], activation="tanh", seed=0), [0.5, -1.0], [1.0, 0.0])
    assert float(payload["params"]["W2[1][0]"]["grad"]) == float(f"{ref.weight_grads[1][1][0]:.6g}")
    assert page.endswith('})([5, "W2[1][0]", "layer"]);</script>\n</body>\n</html>\n')  # opens where the widget was
    exported, _ = HTMLExporter().from_notebook_node(nb)
    frames = [unescape(f) for f in re.findall(r'<iframe[^>]*\ssrcdoc="([^"]*)"', exported)]
    assert page in frames and "application/vnd.jupyter.widget-view+json" not in exported
    assert "image/png" in kinds(6)
    before, after = (float(v) for v in text(6).split("loss ")[1].split()[0::2][:2])
    assert after < before / 5
