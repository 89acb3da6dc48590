"""The step record and the terminal debugger: side-effect free, equal to backward(), scriptable."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import pytest

import autodiff
import nn
from autodiff import Value


def network():
    model = nn.MLP(2, [3, 2], seed=5)
    loss = nn.mse_loss(model([0.3, 0.9]), [1.0, -1.0])
    return model, loss


def test_record_reproduces_backward_exactly_without_side_effects():
    model, loss = network()
    for p in model.parameters():
        p.grad = 0.25  # leaves accumulate: the record must start from what they hold
    rec = autodiff.record_steps(loss)
    assert all(p.grad == 0.25 for p in model.parameters())
    loss.backward()
    final = rec.grads_after(len(rec))
    for i, v in enumerate(rec.values):
        assert final[i] == v.grad
    assert [s.node_id for s in rec.steps] == [rec.values.index(s.node) for s in _steps(loss, model)]


def _steps(loss, model):
    for p in model.parameters():
        p.grad = 0.25
    return list(autodiff.backward_steps(loss))


def test_record_json_round_trip_and_escaping():
    x = Value(1.0, label='</script><b>"x"</b>')
    y = x.log()
    y.label = "y"
    rec = autodiff.record_steps(y)
    back = autodiff.StepRecord.from_json(rec.to_json())
    assert back.nodes == rec.nodes and back.steps == rec.steps and back.start == rec.start
    with pytest.raises(ValueError, match="step record"):
        autodiff.StepRecord.from_json('{"format": "other"}')


def session(root, commands, watch=None):
    out = io.StringIO()
    autodiff.Debugger(root, watch=watch, stdin=io.StringIO("".join(c + "\n" for c in commands)), stdout=out).run()
    return out.getvalue()


def test_a_scripted_session(tmp_path):
    model, loss = network()
    w = model.parameter("W1[0][2]")
    expected = autodiff.grad(loss, [w])[0]
    svg = tmp_path / "state.svg"
    out = session(
        loss,
        ["where", "step", "break h1[2]", "continue", "where", "print h1[2]", "next", "next", "print W1[0][2]",
         "back", f"graph {svg}", "bogus", "continue", "quit"],
        watch="W1[0][2]",
    )
    assert out.startswith("backprop from loss:") and "watching W1[0][2]" in out
    assert "next: step 1, node loss" in out
    assert "breakpoint: next: step" in out and "node h1[2] (tanh)" in out
    assert "h1[2] = op, data" in out and "local derivatives: d/dz1[2]" in out
    assert f"W1[0][2] = leaf, data {w.data:.6g}, grad" in out
    assert "unknown command 'bogus'" in out and "break LABEL" in out
    assert "backprop finished" in out
    assert w.grad == 0.0  # the debugger never touched a grad
    ET.parse(svg)
    # after two 'next's the watched weight has received both of its contributions
    grads_line = [line for line in out.splitlines() if line.startswith("(adb) W1[0][2] = leaf")][0]
    assert f"grad {expected:.6g}" in grads_line


def test_next_without_watch_steps_and_back_undoes():
    x = Value(2.0, label="x")
    y = (x * 3).tanh()
    y.label = "y"
    out = session(y, ["next", "print x", "step 5", "print x", "back 10", "print x", "back"])
    lines = out.splitlines()
    assert lines[2] == "(adb) step 1: y (tanh) grad 1" and "x = leaf, data 2, grad 0" in lines[4]
    assert any(f"x = leaf, data 2, grad {3 * (1 - y.data**2):.6g}" in line for line in lines)
    assert "x = leaf, data 2, grad 0" in lines[-3] and "nothing to undo" in lines[-2]


def test_bad_arguments_print_help_never_a_traceback():
    x = Value(2.0, label="x")
    out = session(x * x, ["print nosuch", "break", "step -1", "graph", "print", 'print "unclosed', "s", "z"])
    assert "no node labelled 'nosuch'; labels: x" in out
    assert "breakpoints: none" in out
    assert "step: step takes a positive count" in out
    assert "graph: graph needs a FILE" in out and "print: print needs a LABEL" in out
    assert "cannot read that line" in out
    assert "step 1:" in out  # 's' is a unique prefix of 'step'
    assert "unknown command 'z'" in out


def test_watch_errors():
    with pytest.raises(ValueError, match="no node labelled 'q'"):
        autodiff.Debugger(Value(1.0, label="x") * 2, watch="q")


def test_printing_a_formula_step_names_its_parts():
    from autodiff.expr import build_expression

    out, _ = build_expression("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
    text = session(out, ["print a * b + c", "print out"])
    assert "d/d(a * b) = 1, d/dc = 1" in text and "d/d(a * b + c) = " in text


def test_a_leaf_takes_no_step_and_a_breakpoint_on_it_stops_where_its_grad_is_completed():
    x = Value(3.0, label="x")
    w = Value(-0.5, label="w")
    y = (x * w).tanh()
    y.label = "y"
    out = session(y, ["break w", "continue", "where", "step", "quit"])
    assert out.startswith("backprop from y: 2 steps")  # tanh and *: x and w take none
    assert "breakpoint set before the step that completes the grad of w" in out
    assert "breakpoint: next: step 2, node x * w" in out
    slope = 1 - math.tanh(-1.5) ** 2
    assert f"    w: grad {3 * slope:.6g} is final" in out and f"    x: grad {-0.5 * slope:.6g} is final" in out
