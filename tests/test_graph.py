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
    handle = h.register_hook(lambda g: seen.append(g))  # as in PyTorch: the hook gets the gradient
    out.backward()
    assert seen == [2.0] and a.grad == 12.0
    handle.remove()
    a.grad = 0.0
    h.register_hook(lambda g: 0.5)
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


def test_intermediates_also_consumed_outside_the_roots_graph():
    a, b = Value(3.0, label="a"), Value(-2.0, label="b")
    early_side = (a * b).tanh()  # made before: consumes nothing of loss's graph
    h = a * b
    before = h + 100.0  # a consumer of h outside loss's graph, made before loss
    loss = (h * 2.0).exp() * 0.001
    after = h * h  # and one made after
    loss.backward()
    d = 0.001 * math.exp(2 * -6.0) * 2.0
    assert math.isclose(a.grad, d * -2.0) and math.isclose(b.grad, d * 3.0)
    assert math.isclose(h.grad, d)
    a.grad = b.grad = 0.0
    loss.backward()  # the cached order replays the same
    assert math.isclose(a.grad, d * -2.0) and math.isclose(h.grad, d)
    for v in (early_side, before, after):
        assert v.grad == 0.0


def test_a_stuck_chain_is_finished_in_the_right_order():
    x = Value(0.5, label="x")
    chain = [x]
    for i in range(50):
        chain.append((chain[-1] * 1.1).tanh())
    side = [c * 3 for c in chain[1::7]]  # every 7th link also feeds a side computation
    loss = chain[-1] + chain[25] * 2
    loss.backward()
    assert math.isclose(x.grad, autodiff.grad(loss, [x])[0], rel_tol=1e-12)
    for c in chain[1:]:
        assert math.isclose(c.grad, autodiff.grad(loss, [c])[0], rel_tol=1e-12)
    assert all(s.grad == 0.0 for s in side)


def test_name_scope_takes_several_names_at_once():
    with autodiff.name_scope("outer"):
        with autodiff.name_scope("layer 1", "neuron 0"):
            z = Value(1.0) * 2
        y = Value(1.0) + 1
    assert z.scope == ("outer", "layer 1", "neuron 0") and y.scope == ("outer",)
    with pytest.raises(ValueError, match="non-empty strs"):
        autodiff.name_scope("layer 1", "")


def _values_only_the_collector_frees(run) -> int:
    """How many Values ``run()`` leaves in reference cycles (freed only by the cyclic collector)."""
    import gc

    gc.collect()
    was = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # the collector keeps what it finds in gc.garbage
    try:
        run()
        gc.collect()
        return sum(isinstance(o, Value) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


def _walks():
    a = Value(0.5, label="a")

    def graph():
        return ((a * 3).tanh() + a) * a

    def program():
        prog = autodiff.compile(lambda xs: (xs[0] * a).tanh(), 1)
        prog([2.0])
        prog.backward()
        prog.batch([[1.0], [2.0]])

    return {
        "backward": lambda: graph().backward(),
        "backward twice": lambda: [r.backward() for r in [graph()] * 2],
        "topological_order": lambda: autodiff.topological_order(graph()),
        "grad": lambda: autodiff.grad(graph(), [a]),
        "backward_steps": lambda: list(autodiff.backward_steps(graph())),
        "trace": lambda: autodiff.trace(graph(), a).explain(),
        "compile": program,
    }


@pytest.mark.parametrize("walk", list(_walks()))
def test_a_graph_is_freed_by_reference_counting_after_every_walk(walk):
    # Orders are kept on the root and programs keep their traced graph: none of that may make a
    # reference cycle, or the graph would outlive its last use until the cyclic collector ran
    # (forever with it off).
    assert _values_only_the_collector_frees(_walks()[walk]) == 0


def test_a_neurons_nodes_carry_its_scope_inside_an_enclosing_one():
    import nn

    model = nn.MLP(2, [3, 1], activation="relu", seed=0)
    with autodiff.name_scope("model"):
        y = model([0.5, -1.0])[0]
    h12 = model.layers[0].neurons[2]([Value(0.5), Value(-1.0)])  # a neuron called alone, no scope open
    on_numbers = model.layers[0].neurons[1]([0.5, -1.0])  # numbers in: constants made in the scope
    for v in autodiff.topological_order(y):
        if not v.is_leaf:  # every node a neuron made: the products, the sum, the activation
            layer, neuron = (1, v.label[3]) if v.label[:2] in ("z1", "h1") else (2, "0")
            if not v.label:  # a product: named by the weight it reads
                w = next(p for p in v.parents if p.label.startswith("W"))
                layer, neuron = int(w.label[1]), w.label[-2]
            assert v.scope == ("model", f"layer {layer}", f"neuron {neuron}"), v
    for root, neuron in ((h12, "2"), (on_numbers, "1")):
        made = [v for v in autodiff.topological_order(root) if not v.is_leaf or v.is_constant]
        assert len(made) == (6 if root is on_numbers else 4)  # 2 products, the sum, relu (+ 2 constants)
        assert all(v.scope == ("layer 1", f"neuron {neuron}") for v in made)
