"""The step-through page in a real browser (headless Chromium) and in a notebook."""

from __future__ import annotations

import html
import re

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


def open_page(browser, tmp_path, root, name="page.html"):
    path = tmp_path / name
    path.write_text(autodiff.page_html(root), encoding="utf-8")
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    return page, requests


def test_next_moves_the_highlight_and_numbers_as_the_record_says(browser, tmp_path):
    model = nn.MLP(2, [3, 2], seed=0)
    loss = nn.mse_loss(model([0.5, -1.0]), [1.0, 0.0])
    rec = autodiff.record_steps(loss)
    page, requests = open_page(browser, tmp_path, loss)
    assert page.inner_text("#counter") == f"step 0 of {len(rec)}"
    assert page.locator("g.node.current").count() == 0
    for k in range(1, 8):
        page.click("#next")
        step = rec.steps[k - 1]
        assert page.inner_text("#counter") == f"step {k} of {len(rec)}"
        current = page.locator("g.node.current[id^=v]")
        assert current.count() == 1 and current.get_attribute("id") == f"v{step.node_id}"
        rows = page.locator("#contributions tr.contribution")
        assert rows.count() == len(step.contributions)
        for r, c in enumerate(step.contributions):
            cells = rows.nth(r).locator("td").all_inner_texts()
            assert cells[1:] == [fmt(c.local), fmt(c.amount), fmt(c.before), fmt(c.after)]
            assert page.locator(f"#e{step.node_id}_{c.k}.active").count() == 1
        # the grads written into the graph are the record's state after k steps
        grads = rec.grads_after(k)
        for c in step.contributions:
            texts = page.locator(f"#v{c.parent_id} text").all_text_contents()
            if any(t.startswith("grad ") for t in texts):
                assert f"grad {short(grads[c.parent_id])}" in texts
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#counter") == f"step 6 of {len(rec)}"
    page.click("#prev")
    assert page.locator("g.node.current[id^=v]").get_attribute("id") == f"v{rec.steps[4].node_id}"
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#counter") == f"step 6 of {len(rec)}"
    page.locator("#slider").fill(str(len(rec)))
    assert page.inner_text("#counter") == f"step {len(rec)} of {len(rec)}"
    assert page.locator("g.node.done").count() == len(rec) - 1  # the last step is the current one
    assert page.locator("g.node.pending").count() == 0
    assert all(u.startswith("file://") for u in requests)  # nothing from the network


def test_hostile_labels_stay_text_in_the_page(browser, tmp_path):
    x = Value(2.0, label="</script><script>window.pwned=1</script>")
    y = x * Value(3.0, label="<img src=x onerror=window.pwned=2>")
    y.label = "&amp; y"
    page, _ = open_page(browser, tmp_path, y, "hostile.html")
    page.click("#next")
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("img").count() == 0
    assert "&amp; y" in page.inner_text("#step-title")
    cells = page.locator("#contributions td").all_inner_texts()
    assert "</script><script>window.pwned=1</script>" in cells


def test_notebook_stepper_embeds_the_page_in_an_isolated_iframe():
    x = Value(2.0, label="x")
    s = autodiff.stepper((x * x).tanh())
    frame = s._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in frame
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(srcdoc) == s.html
