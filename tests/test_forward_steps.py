"""Forward mode as steps: in the record, the terminal debugger and the page (in Chromium)."""

from __future__ import annotations

import io
import math

import autodiff
from autodiff import StepRecord, Value, fmt
from autodiff.debug import record_forward


def small_graph():
    x, w = Value(3.0, label="x"), Value(0.5, label="w")
    p = x * w
    y = p.tanh() + x
    y.label = "y"
    return x, w, p, y


def test_the_forward_record_gives_every_tangent_in_order():
    x, w, p, y = small_graph()
    rec = record_forward(y, [x], [1.0])
    assert rec.mode == "forward" and [s.kind for s in rec.steps] == ["forward"] * 3
    order = autodiff.topological_order(y)
    assert [rec.values[s.node_id] for s in rec.steps] == [v for v in order if v.parents]
    final = rec.grads_after(len(rec.steps))
    t = math.tanh(1.5)
    assert final[rec.values.index(p)] == 0.5  # d(x w)/dx = w
    assert math.isclose(final[rec.values.index(y)], 0.5 * (1 - t * t) + 1.0, rel_tol=1e-15)
    assert final[rec.values.index(y)] == autodiff.jvp(y, [x], [1.0])
    back = StepRecord.from_json(rec.to_json())
    assert back.mode == "forward" and back.steps == rec.steps


def test_the_debugger_steps_through_forward_mode():
    x, w, p, y = small_graph()
    out = io.StringIO()
    autodiff.Debugger(y, forward="x", watch="y", stdin=io.StringIO("next\nprint y\nquit\n"), stdout=out).run()
    text = out.getvalue()
    t = math.tanh(1.5)
    assert text.startswith("forward mode from x (tangent 1): 3 steps")
    assert f"step 3: y (+) tangent {fmt.number(0.5 * (1 - t * t) + 1.0)}" in text
    assert f"<- x: local 1 * tangent 1 = 1; tangent {fmt.number(0.5 * (1 - t * t))} -> {fmt.number(0.5 * (1 - t * t) + 1.0)}" in text
    assert "tangent" in text.splitlines()[-2] and "grad" not in text


def test_the_page_steps_through_forward_mode(browser, tmp_path):
    x, w, p, y = small_graph()
    rec = record_forward(y, [x], [1.0])
    path = tmp_path / "forward.html"
    path.write_text(autodiff.page_html(y, forward=x), encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    assert "Before forward mode: x gets tangent 1" in page.inner_text("#step-title")
    assert page.locator("#panel thead th").first.inner_text() == "from operand"
    for k, step in enumerate(rec.steps, start=1):
        page.click("#next")
        assert page.inner_text("#step-node").startswith(f"tangent {fmt.number(step.tangent)}")
        rows = page.locator("#contributions tr.contribution")
        assert rows.count() == len(step.contributions)
        texts = page.locator(f"#v{step.node_id} text").all_text_contents()
        assert texts[-1] == f"tangent {fmt.short(step.tangent)}"
    page.close()


def test_forward_page_refuses_what_is_not_a_value():
    x, w, p, y = small_graph()
    try:
        autodiff.page_html(y, forward="x")
    except TypeError as exc:
        assert "input Value" in str(exc)
    else:
        raise AssertionError("a label is not an input Value")


def test_the_cli_debugs_and_writes_pages_in_forward_mode(tmp_path, capsys, monkeypatch):
    from nn.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("step\nquit\n"))
    assert main(["debug", "--expr", "tanh(a*b)", "--set", "a=1", "b=2", "--forward", "a"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("forward mode from a (tangent 1): 2 steps")
    assert "step 1: a * b (*) tangent 2" in out  # d(ab)/da = b
    page = tmp_path / "f.html"
    assert main(["html", "--expr", "tanh(a*b)", "--set", "a=1", "b=2", "--forward", "b", "--out", str(page)]) == 0
    assert "Forward mode from b to out" in page.read_text(encoding="utf-8")
    assert main(["debug", "--forward", "nope"]) == 2
    assert "no input 'nope'" in capsys.readouterr().err


def test_the_page_steps_in_the_drawings_colours():
    from autodiff.debug.page import _STYLE

    for colours in fmt.STATUS_COLOURS.values():
        assert colours["fill"] in _STYLE and colours["stroke"] in _STYLE
    assert "_FILL" not in _STYLE and "_STROKE" not in _STYLE


def test_the_page_marks_what_the_diagnosis_found(browser, tmp_path):
    x, w = Value(3.0, label="x"), Value(10.0, label="w")
    h = (x * w).tanh()  # saturated: tanh(30)
    h.label = "h"
    loss = h * 2
    loss.label = "loss"
    found = autodiff.diagnose(loss)
    saturated = found.of_kind("saturated")[0]
    path = tmp_path / "diagnosed.html"
    path.write_text(autodiff.page_html(loss, diagnose=True), encoding="utf-8")
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    listed = page.locator("#diagnosis li").all_inner_texts()
    assert listed == [f.message for f in found.findings]
    order = autodiff.topological_order(loss)
    node = order.index(h)
    assert node in saturated.nodes
    assert "flagged" in page.locator(f"#v{node}").get_attribute("class")
    assert saturated.message in page.locator(f"#v{node} > title").all_text_contents()
    parent, child, k = saturated.edges[0]
    assert "flagged" in page.locator(f"#e{child}_{k}").get_attribute("class")
    assert page.locator("g.flagged").count() >= 2 and not errors
    page.close()
    assert '"findings":[]' in autodiff.page_html(loss)  # without diagnose=True, nothing is marked


def test_the_two_modes_side_by_side_with_their_cost():
    import nn
    from autodiff.debug import mode_costs, modes_html

    model = nn.MLP(2, [3, 2], seed=0)
    x = [Value(0.5, label="x[0]"), Value(-1.0, label="x[1]")]
    y = model(x)
    weights = [p for name, p in model.named_parameters() if name.startswith("W")]
    cost = mode_costs(y, weights)
    edges = sum(len(v.parents) for v in autodiff.forward.forward_order(y))
    assert cost["forward"] == {"passes": 12, "multiply_adds": 12 * edges}
    assert cost["reverse"] == {"passes": 2, "multiply_adds": 2 * edges}
    page = modes_html(y, weights)
    assert "reverse mode needs fewer passes" in page
    J = autodiff.jacobian(y, weights, mode="reverse").matrix
    for row in J:
        for value in row:
            assert f"<td>{fmt.number(value)}</td>" in page  # every entry of the Jacobian is on the page
    assert page.count("pass ") >= 14  # 12 forward passes and 2 reverse ones, each listed
    evil = Value(1.0, label="<b>x</b>")
    assert "<b>x</b>" not in modes_html(evil * 2, [evil]) and "&lt;b&gt;x&lt;/b&gt;" in modes_html(evil * 2, [evil])


def test_the_notebook_stepper_steps_forward_mode_too():
    x, w, p, y = small_graph()
    shown = autodiff.stepper(y, forward=x)._repr_html_()
    assert shown.startswith("<iframe") and "Forward mode from x to y" in shown
