"""Graph walks: topological order, backward, grad(), backward_steps, hooks."""

from __future__ import annotations

import math

import pytest

import autodiff
from autodiff import Value


def make_graph():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    f = Value(-2.0, label="f")
    loss = (d * f).tanh() + a
    loss.label = "loss"
    return a, b, c, f, loss


def test_topological_order_puts_parents_first():
    *_, loss = make_graph()
    order = autodiff.topological_order(loss)
    pos = {id(v): i for i, v in enumerate(order)}
    assert order[-1] is loss
    assert len(pos) == len(order)
    for v in order:
        for p in v.parents:
            assert pos[id(p)] < pos[id(v)]


def test_backward_visits_reverse_topological_order():
    *_, loss = make_graph()
    steps = [s.node for s in autodiff.backward_steps(loss)]
    assert steps == autodiff.topological_order(loss)[::-1]


def test_grad_has_no_side_effects_and_matches_backward():
    a, b, c, f, loss = make_graph()
    g = autodiff.grad(loss, [a, b, c, f])
    assert all(v.grad == 0.0 for v in (a, b, c, f, loss))
    loss.backward()
    assert g == [a.grad, b.grad, c.grad, f.grad]
    # hand-derived: loss = tanh(f*(a*b + c)) + a
    t = math.tanh(-2.0 * (2.0 * -3.0 + 10.0))
    assert math.isclose(a.grad, (1 - t * t) * -2.0 * -3.0 + 1.0)
    assert math.isclose(f.grad, (1 - t * t) * (2.0 * -3.0 + 10.0))


def test_backward_steps_reproduce_backward_exactly():
    a, b, c, f, loss = make_graph()
    loss.backward()
    expected = {id(v): v.grad for v in autodiff.topological_order(loss)}
    for v in autodiff.topological_order(loss):
        v.grad = 0.0
    steps = list(autodiff.backward_steps(loss))
    assert {id(v): v.grad for v in autodiff.topological_order(loss)} == expected
    for step in steps:
        for c in step.contributions:
            assert c.amount == c.local * step.grad
            assert c.after == c.before + c.amount


def test_first_and_repeated_backward_agree():
    a, b, c, f, loss = make_graph()
    loss.backward()
    first = [a.grad, b.grad, c.grad, f.grad]
    for v in (a, b, c, f):
        v.grad = 0.0
    loss.backward()
    assert [a.grad, b.grad, c.grad, f.grad] == first


def test_backward_of_a_subgraph_ignores_consumers_outside_it():
    a = Value(2.0, label="a")
    inner = a * 3
    outer = inner + a  # a consumer of `inner` outside `inner`'s own graph
    inner.backward()
    assert a.grad == 3.0
    a.grad = 0.0
    outer.backward()
    assert a.grad == 4.0


def test_hooks_see_final_grad_and_can_replace_it():
    a = Value(3.0, label="a")
    h = a * a
    out = h * 2
    seen = []
    handle = h.register_hook(lambda v: seen.append(v.grad))
    out.backward()
    assert seen == [2.0] and a.grad == 12.0
    handle.remove()
    a.grad = 0.0
    h.register_hook(lambda v: 0.5)
    out.backward()
    assert seen == [2.0] and a.grad == 3.0


def test_register_hook_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        Value(1.0).register_hook(3)


def test_name_scope_marks_nodes():
    with autodiff.name_scope("layer 1"):
        with autodiff.name_scope("neuron 0"):
            z = Value(1.0) * 2
        y = z + 1
    assert z.scope == ("layer 1", "neuron 0") and y.scope == ("layer 1",)
    assert (y * 2).scope is None
