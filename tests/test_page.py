"""The step-through page in a real browser (headless Chromium) and in a notebook."""

from __future__ import annotations

import html
import io
import math
import re
import statistics
import time

import pytest

import autodiff
import nn
from autodiff import Value


def fmt(x: float) -> str:
    # the panel writes numbers as Python's '%.6g' does (as autodiff.fmt.number), -0 as 0
    text = f"{x:.6g}"
    return "0" if text == "-0" else text


def short(x: float) -> str:
    # the graph's grad lines are drawing text: '%.4g' (as autodiff.fmt.short)
    text = f"{x:.4g}"
    return "0" if text == "-0" else text


def open_page(browser, tmp_path, root, name="page.html", **options):
    """The page of ``root`` in Chromium, with every request and console error it makes collected."""
    path = tmp_path / name
    path.write_text(autodiff.page_html(root, **options), encoding="utf-8")
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page, requests, errors


def network_232():
    model = nn.MLP(2, [3, 2], seed=0)
    return nn.mse_loss(model([0.5, -1.0]), [1.0, 0.0])


def backward_grads(root):
    """Every node's grad after the engine's own backward() (its fast path: an independent oracle)."""
    order = autodiff.topological_order(root)
    held = [v.grad for v in order]
    root.backward()
    grads = [v.grad for v in order]
    for v, g in zip(order, held):
        v.grad = g
    return grads


def test_next_moves_the_highlight_and_numbers_as_the_record_says(browser, tmp_path):
    loss = network_232()
    order = autodiff.topological_order(loss)
    # one step per operation: leaves and constants take none (22 of the 48 used to)
    operations = [i for i, v in enumerate(order) if v.parents]
    rec = autodiff.record_steps(loss)
    page, requests, errors = open_page(browser, tmp_path, loss)
    assert page.inner_text("#counter") == f"step 0 of {len(operations)}" and len(operations) == 26
    assert page.locator("g.node.current").count() == 0
    for k in range(1, 9):
        page.click("#next")
        step = rec.shown[k - 1]
        assert page.inner_text("#counter") == f"step {k} of {len(operations)}"
        current = page.locator("g.node.current[id^=v]")
        assert current.count() == 1 and current.get_attribute("id") == f"v{step.node_id}"
        assert order[step.node_id].parents  # an operation
        rows = page.locator("#contributions tr.contribution")
        assert rows.count() == len(step.contributions) == len(order[step.node_id].parents)
        for r, c in enumerate(step.contributions):
            cells = rows.nth(r).locator("td").all_inner_texts()
            assert cells[1:] == [fmt(c.local), fmt(c.amount), fmt(c.before), fmt(c.after)]
            assert page.locator(f"#e{step.node_id}_{c.k}.active").count() == 1
        # each parent's box shows what this step left it: its last contribution's "after"
        after = {c.parent_id: c.after for c in step.contributions}
        for parent, g in after.items():
            texts = page.locator(f"#v{parent} text").all_text_contents()
            if any(t.startswith("grad ") for t in texts):
                assert f"grad {short(g)}" in texts
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#counter") == f"step 7 of {len(rec.shown)}"
    page.click("#prev")
    assert page.locator("g.node.current[id^=v]").get_attribute("id") == f"v{rec.shown[5].node_id}"
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#counter") == f"step 7 of {len(rec.shown)}"
    page.locator("#slider").fill(str(len(rec.shown)))
    assert page.inner_text("#counter") == f"step {len(rec.shown)} of {len(rec.shown)}"
    # every node is done but the last step's, which is the current one
    assert page.locator("g.node.done[id^=v]").count() == len(order) - 1
    assert errors == [] and all(u.startswith("file://") for u in requests)  # nothing from the network


def test_a_leaf_gets_its_final_grad_with_the_step_that_completes_it(browser, tmp_path):
    loss = network_232()
    order = autodiff.topological_order(loss)
    final = backward_grads(loss)
    page, _, errors = open_page(browser, tmp_path, loss)
    w = order.index(next(v for v in order if v.label == "W2[1][0]"))
    consumers = [i for i, v in enumerate(order) if any(p is order[w] for p in v.parents)]
    seen_final = None
    for k in range(1, 27):
        page.click("#next")
        current = int(page.locator("g.node.current[id^=v]").get_attribute("id")[1:])
        finals = page.locator("#contributions tr.final td").all_inner_texts()
        if current in consumers:  # W2[1][0] has one consumer: the step of W2[1][0] * h1[1]
            assert finals[finals.index("W2[1][0]") + 1] == f"grad {fmt(final[w])} is final"
            assert page.locator(f"#v{w}.done").count() == 1
            seen_final = k
        elif seen_final is None:
            assert page.locator(f"#v{w}.done").count() == 0 and "W2[1][0]" not in finals
    assert seen_final is not None
    assert page.locator(f"#v{w} text").all_text_contents()[-1] == f"grad {short(final[w])}"
    # at the end every box shows backward()'s grad
    for i, v in enumerate(order):
        texts = page.locator(f"#v{i} text").all_text_contents()
        if v.label and not v.is_constant:
            assert texts[-1] == f"grad {short(final[i])}", v.label
    # and going back to the start gives every box the grad it started with
    page.locator("#slider").fill("0")
    assert page.locator("g.node.done").count() == 0
    for i, v in enumerate(order):
        if v.label and not v.is_constant and v is not loss:
            assert page.locator(f"#v{i} text").all_text_contents()[-1] == f"grad {short(v.grad)}", v.label
    assert errors == []


def terminal_steps(root):
    """``(number, name)`` of each step the terminal debugger shows (its own text, parsed)."""
    out = io.StringIO()
    autodiff.Debugger(root, stdin=io.StringIO("step 1000\n"), stdout=out).run()
    found = re.findall(r"^(?:\(adb\) )?step (\d+): (.*?) (?:grad|tangent) \S+", out.getvalue(), re.M)
    return [(int(k), name) for k, name in found]


def test_the_page_numbers_and_names_steps_as_the_terminal_does(browser, tmp_path):
    x, w = Value(3.0, label="x"), Value(-0.5)
    y = (x * w + 1.0).tanh() * x
    expected = terminal_steps(y)
    assert [k for k, _ in expected] == list(range(1, 5))  # *, +, tanh, *: four operations
    page, _, errors = open_page(browser, tmp_path, y)
    shown = []
    for _ in expected:
        page.click("#next")
        title = page.inner_text("#step-title")
        k, name = re.match(r"Step (\d+): (.*)", title).groups()
        shown.append((int(k), name))
    assert shown == expected and errors == []


def test_a_hooked_graph_ends_where_backward_ends_in_every_front_end(browser, tmp_path):
    def build():
        x = Value(0.5, label="x")
        h = (x * 4).tanh()
        h.label = "h"
        h.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: g + 1)
        out = h * h + x
        out.label = "out"
        return x, h, out

    x, h, out = build()
    out.backward()
    expected = {"x": x.grad, "h": h.grad}
    x, h, out = build()
    page, _, errors = open_page(browser, tmp_path, out)
    rec = autodiff.record_steps(out)
    k = next(k for k, s in enumerate(rec.shown, start=1) if s.node is h)
    page.locator("#slider").fill(str(k))
    t = math.tanh(2.0)
    assert page.inner_text("#step-node") == f"grad {fmt(20 * t)}, data {fmt(t)} (its hook was given {fmt(2 * t)})"
    page.locator("#slider").fill("100")
    finals = page.locator("#contributions tr.final td").all_inner_texts()
    assert finals[finals.index("x") + 1] == f"grad {fmt(expected['x'])} is final (its hook was given {fmt(expected['x'] - 1)})"
    order = autodiff.topological_order(out)
    for v in (x, h):
        assert page.locator(f"#v{order.index(v)} text").all_text_contents()[-1] == f"grad {short(expected[v.label])}"
    debugger_out = io.StringIO()
    autodiff.Debugger(out, stdin=io.StringIO("continue\nprint x\nprint h\n"), stdout=debugger_out).run()
    text = debugger_out.getvalue()
    assert f"x = leaf, data 0.5, grad {fmt(expected['x'])}" in text and f"grad {fmt(expected['h'])}" in text
    # stepping shows what each hook was given: h its grad 2h (made 10 times bigger), x what it brings
    stepped = io.StringIO()
    autodiff.Debugger(out, stdin=io.StringIO("step 100\n"), stdout=stepped).run()
    t = math.tanh(2.0)
    assert f"h (tanh) grad {fmt(20 * t)} (its hook was given {fmt(2 * t)})" in stepped.getvalue()
    assert f"    x: grad {fmt(expected['x'])} is final (its hook was given {fmt(expected['x'] - 1)})" in stepped.getvalue()
    assert x.grad == 0.0 and errors == []


def in_view(page, node_id):
    """Whether value node ``node_id``'s box is inside the graph's frame, as the screen shows it."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # pan is drawn
    box = page.locator(f"#v{node_id}").bounding_box()
    frame = page.locator("#graph").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return frame["x"] <= cx <= frame["x"] + frame["width"] and frame["y"] <= cy <= frame["y"] + frame["height"]


def test_zoom_and_pan_and_the_current_node_stays_in_view(browser, tmp_path):
    loss = network_232()
    rec = autodiff.record_steps(loss)
    page, requests, errors = open_page(browser, tmp_path, loss)
    html_text = autodiff.page_html(loss)
    assert "svg-pan-zoom v3.6.2" in html_text and "Redistribution and use in source and binary forms" in html_text
    # node text at least 12 px on a 1280x800 screen
    sizes = page.evaluate("""() => [...document.querySelectorAll('#graph g.node text')].map(t =>
        parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a)""")
    assert sizes and min(sizes) >= 11.9
    assert in_view(page, len(rec.nodes) - 1)  # the root, before the first step
    for k in range(len(rec.shown)):
        page.keyboard.press("ArrowRight")
        assert in_view(page, rec.shown[k].node_id), k
    for k in range(len(rec.shown) - 1, 0, -1):
        page.keyboard.press("ArrowLeft")
        assert in_view(page, rec.shown[k - 1].node_id), k
    # the mouse wheel zooms, the buttons too
    zoom = page.evaluate("window.autodiffSteps.panZoom.getZoom()")
    page.click("#svg-pan-zoom-zoom-in")
    assert page.evaluate("window.autodiffSteps.panZoom.getZoom()") > zoom
    page.mouse.move(400, 400)
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(100)
    assert page.evaluate("window.autodiffSteps.panZoom.getZoom()") < zoom * 1.3
    assert errors == [] and all(u.startswith("file://") for u in requests)


def test_hostile_labels_stay_text_in_the_page(browser, tmp_path):
    x = Value(2.0, label="</script><script>window.pwned=1</script>")
    y = x * Value(3.0, label="<img src=x onerror=window.pwned=2>")
    y.label = "&amp; y"
    page, _, errors = open_page(browser, tmp_path, y, "hostile.html")
    page.click("#next")
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("img").count() == 0
    assert "&amp; y" in page.inner_text("#step-title")
    cells = page.locator("#contributions td").all_inner_texts()
    assert "</script><script>window.pwned=1</script>" in cells
    assert errors == []


def test_notebook_stepper_embeds_the_page_in_an_isolated_iframe():
    x = Value(2.0, label="x")
    s = autodiff.stepper((x * x).tanh())
    frame = s._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in frame
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(srcdoc) == s.html


# -- speed: a step costs the same on any graph, and a big page opens fast ------------------------------
def batch_network(samples):
    """A 2-16-16-1 network on ``samples`` inputs, MSE loss: 3,338 values for 8 samples."""
    import random

    model = nn.MLP(2, [16, 16, 1], seed=0)
    rng = random.Random(1)
    xs = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(samples)]
    return nn.mse_loss([model(x)[0] for x in xs], [0.0] * samples)


@pytest.fixture(scope="module")
def big_page(tmp_path_factory):
    loss = batch_network(8)
    path = tmp_path_factory.mktemp("big") / "big.html"
    path.write_text(autodiff.page_html(loss, max_nodes=4000), encoding="utf-8")
    return path, loss


FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"

# Each move as a key press, timed with the style and layout it causes (read back at once), one
# move a frame as a person or the play button makes them: four forward, one back.
MOVES = """async (count) => {
  const times = [];
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  for (let i = 0; i < count; i++) {
    await frame();
    const start = performance.now();
    document.dispatchEvent(new KeyboardEvent('keydown', {key: i % 5 === 4 ? 'ArrowLeft' : 'ArrowRight'}));
    document.querySelector('#graph svg').getBoundingClientRect();
    const current = document.querySelector('g.node.current');
    if (current) current.getBoundingClientRect();
    times.push(performance.now() - start);
  }
  return times;
}"""


def test_a_step_takes_under_a_frame_and_the_page_opens_in_under_a_second_at_3338_values(browser, big_page):
    path, loss = big_page
    order = autodiff.topological_order(loss)
    assert len(order) == 3338
    rec = autodiff.record_steps(loss)
    opens = []
    for _ in range(3):
        page = browser.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        start = time.perf_counter()
        page.goto(path.as_uri())
        page.evaluate(FRAME)  # the first step shown and drawn
        opens.append(time.perf_counter() - start)
        assert page.inner_text("#counter") == f"step 0 of {len(rec.shown)}" and errors == []
        page.close()
    # generous for a loaded 2-core machine: the median of three (was 1.6-2.4 s)
    assert statistics.median(opens) < 1.0, opens
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(path.as_uri())
    times = page.evaluate(MOVES, 60)
    # the median move, with its style and layout, fits in a frame (was about 200 ms)
    assert statistics.median(times) < 16, sorted(times)
    k = 60 - 2 * (60 // 5)  # four forward, one back
    step = rec.shown[k - 1]
    page.evaluate(FRAME)
    assert page.inner_text("#counter") == f"step {k} of {len(rec.shown)}"
    assert page.locator("g.node.current[id^=v]").get_attribute("id") == f"v{step.node_id}"
    assert in_view(page, step.node_id)
    after = {c.parent_id: c.after for c in step.contributions}  # what this step left each parent
    for parent, g in after.items():  # those attached: a big drawing's far tiles come as they are seen
        texts = page.locator(f"#v{parent} text").all_text_contents()
        assert not texts or texts[-1] == f"grad {short(g)}"
    assert page.locator(f"#v{step.node_id} text").all_text_contents()[-1] == f"grad {short(step.grad)}"
    final = backward_grads(loss)
    page.locator("#slider").fill(str(len(rec.shown)))
    page.evaluate(FRAME)
    last = rec.shown[-1].node_id
    assert in_view(page, last)
    page.evaluate(FRAME)
    assert page.locator(f"#v{last} text").all_text_contents()[-1] == f"grad {short(final[last])}"


# -- big graphs: collapsed, a box opened on a click ------------------------------------------------
def lit_box_title(page, cls):
    """The first line of the collapsed drawing's box that has class ``cls`` (its scope, as drawn)."""
    return page.locator(f"#graph > svg g.node.{cls}[id^=g] text").first.text_content()


def test_a_big_network_opens_collapsed_and_a_neuron_opens_on_a_click(browser, tmp_path):
    loss = batch_network(8)  # 3,338 values: more than draw's max_nodes, so collapsed by neuron
    order = autodiff.topological_order(loss)
    rec = autodiff.record_steps(loss)
    page, requests, errors = open_page(browser, tmp_path, loss, "collapsed.html")
    assert page.locator("#graph > svg g.node[id^=v]").count() == 0  # no box per value
    scopes = {" / ".join(v.scope) for v in order if v.scope}
    titles = set(page.locator("#graph > svg g.node[id^=g] text").all_text_contents())
    assert scopes <= titles and len(scopes) == 33  # 16 + 16 + 1 neurons
    for k in range(1, 13):
        page.keyboard.press("ArrowRight")
        step = rec.shown[k - 1]
        node = order[step.node_id]
        if node.scope:  # the box of the current node's neuron is lit
            assert lit_box_title(page, "current") == " / ".join(node.scope)
    # a click on the lit box opens its values: its own, and on the left those it uses from elsewhere
    scope = node.scope
    page.locator("#graph > svg g.node.current[id^=g]").click()
    members = [i for i, v in enumerate(order) if v.scope == scope]
    position = {id(v): i for i, v in enumerate(order)}
    used = {position[id(p)] for v in order if v.scope == scope for p in v.parents if p.scope != scope}
    boxes = page.locator("#detail g.node[id^=v]")
    assert boxes.count() == len(members) + len(used)
    current = page.locator("#detail g.node.current")
    assert current.get_attribute("id") == f"v{step.node_id}"
    assert current.locator("text").all_text_contents()[-1] == f"grad {short(step.grad)}"
    # the next steps light and number the opened boxes
    for k in range(13, 16):
        page.keyboard.press("ArrowRight")
        step = rec.shown[k - 1]
        if order[step.node_id].scope == scope:
            assert page.locator("#detail g.node.current").get_attribute("id") == f"v{step.node_id}"
            for c in step.contributions:
                assert page.locator(f"#detail #e{step.node_id}_{c.k}.active").count() == 1
    page.click("#close-detail")
    assert page.locator("#detail").is_hidden() and page.locator("#detail g.node").count() == 0
    assert errors == [] and all(u.startswith("file://") for u in requests)


def test_a_page_of_20000_values_is_built_in_seconds(browser, tmp_path):
    loss = batch_network(52)
    assert len(autodiff.topological_order(loss)) == 19838
    start = time.perf_counter()
    text = autodiff.page_html(loss)
    built = time.perf_counter() - start
    assert built < 40, built  # was 108 s (every value laid out), and 35 MB
    assert len(text) < 20e6
    path = tmp_path / "big.html"
    path.write_text(text, encoding="utf-8")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    rec = autodiff.record_steps(loss)
    page.locator("#slider").fill(str(len(rec.shown)))
    assert page.inner_text("#counter") == f"step {len(rec.shown)} of {len(rec.shown)}" and errors == []


def test_in_a_notebook_frame_the_current_node_stays_in_view(browser, tmp_path):
    loss = batch_network(1)  # 713 values, in the notebook's 640 px frame
    rec = autodiff.record_steps(loss)
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body style='width:900px'>" + autodiff.stepper(loss)._repr_html_() + "</body></html>",
                    encoding="utf-8")
    page = browser.new_page()
    page.set_viewport_size({"width": 1000, "height": 800})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(host.as_uri())
    frame = page.frames[1]
    frame.wait_for_selector("#counter")
    frame_box = page.locator("iframe").bounding_box()
    for k in range(1, 31):
        frame.click("#next")
        frame.evaluate(FRAME)
        step = rec.shown[k - 1]
        box = frame.locator(f"#v{step.node_id}").bounding_box()
        graph = frame.locator("#graph").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for outer in (graph, frame_box):  # inside the graph's frame, and inside the notebook's
            assert outer["x"] <= cx <= outer["x"] + outer["width"] and outer["y"] <= cy <= outer["y"] + outer["height"], k
    assert errors == []


def test_collapsed_by_layer_a_click_opens_the_whole_layer(browser, tmp_path):
    loss = network_232()
    order = autodiff.topological_order(loss)
    rec = autodiff.record_steps(loss)
    page, _, errors = open_page(browser, tmp_path, loss, "layers.html", collapse="layer")
    titles = page.locator("#graph > svg g.node[id^=g] text").all_text_contents()
    assert "layer 1" in titles and "layer 2" in titles
    page.locator("#graph > svg g.node[id^=g]", has_text="layer 1").first.dispatch_event("click")  # maybe off-screen
    layer = [i for i, v in enumerate(order) if v.scope and v.scope[0] == "layer 1"]
    shown = {int(el.get_attribute("id")[1:]) for el in page.locator("#detail g.node[id^=v]").all()}
    position = {id(v): i for i, v in enumerate(order)}
    used = {position[id(p)] for i in layer for p in order[i].parents} - set(layer)
    assert shown == set(layer) | used and len(layer) == 6 + 3 + 6 + 3 + 3  # W1, b1, W1[i][j] * x[i], z1, h1
    page.locator("#slider").fill(str(len(rec.shown)))
    final = backward_grads(loss)
    for i in layer:  # every value of the layer ends with backward()'s grad
        assert page.locator(f"#detail #v{i} text").all_text_contents()[-1] == f"grad {short(final[i])}"
    assert errors == []


def test_a_collapsed_box_turns_done_when_all_its_values_are(browser, tmp_path):
    loss = network_232()
    order = autodiff.topological_order(loss)
    rec = autodiff.record_steps(loss)
    page, _, errors = open_page(browser, tmp_path, loss, "neurons.html", collapse="neuron")
    done = set()
    for k in range(1, len(rec.shown) + 1):
        page.keyboard.press("ArrowRight")
        step = rec.shown[k - 1]
        done |= {step.node_id} | {s.node_id for s in rec.completes[k - 1]}
        for scope in ({v.scope for v in order if v.scope}):
            members = {i for i, v in enumerate(order) if v.scope == scope}
            box = page.locator("#graph > svg g.node[id^=g]", has_text=" / ".join(scope))
            assert ("done" in (box.get_attribute("class") or "").split()) == (members <= done), (k, scope)
    page.locator("#slider").fill("0")
    assert page.locator("#graph > svg g.node.done").count() == 0 and errors == []
