"""The one walk: the fast backward equals the reference walk bit for bit; hooks, gates, copies, bad input."""

from __future__ import annotations

import copy
import gc
import inspect
import math
import pickle
import random
import struct
import traceback

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
from autodiff import Value
from autodiff import graph as graph_module


def bits(x: float) -> bytes:
    return struct.pack(">d", x)


def same_bits(a: float, b: float) -> bool:
    return bits(a) == bits(b) or (a != a and b != b)


def same_number(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def random_graph(seed: int) -> tuple[Value, list[Value]]:
    """A random graph over every kind of op, with shared nodes, repeated operands, constants and
    nodes that also feed ops outside the root's graph; leaves and intermediates hold stale grads."""
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-2, 2), label=f"x{i}") for i in range(rng.randint(1, 4))]
    for _ in range(rng.randint(1, 40)):
        pick = lambda: nodes[-rng.randint(1, min(len(nodes), 6))]  # noqa: E731 - recent nodes: many shared
        kind = rng.choice(["+", "-", "*", "/", "neg", "exp", "log", "tanh", "sigmoid", "relu", "**", "pow", "sum",
                           "const", "repeat", "any rule"])
        try:
            if kind == "any rule":  # every row with a method, so that a new op is walked too
                rule = rng.choice([r for r in autodiff.RULES.values() if r.method])
                method = getattr(Value, rule.method)
                if rule.constant:
                    v = method(pick(), rng.choice([2.0, 3.0, -1.0]))
                else:
                    v = method(*[pick() for _ in rule.operands])
            elif kind == "+":
                v = pick() + pick()
            elif kind == "-":
                v = pick() - pick()
            elif kind == "*":
                v = pick() * pick()
            elif kind == "/":
                v = pick() / pick()
            elif kind == "neg":
                v = -pick()
            elif kind == "exp":
                v = (pick() * 0.5).exp()
            elif kind == "log":
                v = (pick() * pick() + 1.5).log()
            elif kind == "tanh":
                v = pick().tanh()
            elif kind == "sigmoid":
                v = pick().sigmoid()
            elif kind == "relu":
                v = pick().relu()
            elif kind == "**":
                v = pick() ** rng.choice([2, 3, -1, 0.5, 0])
            elif kind == "pow":
                v = pick().sigmoid() ** pick()
            elif kind == "sum":
                v = Value.sum([pick() for _ in range(rng.randint(1, 5))] + [rng.uniform(-1, 1)])
            elif kind == "const":
                v = rng.uniform(-3, 3) * pick()
            else:
                a = pick()
                v = a * a
        except (ArithmeticError, ValueError):
            continue
        if math.isfinite(v.data) and abs(v.data) < 1e6:
            nodes.append(v)
    for v in nodes:
        v.grad = rng.choice([0.0, rng.uniform(-5, 5)])  # stale grads: leaves accumulate, the rest start afresh
    root = nodes[-rng.randint(1, min(len(nodes), 3))]
    return root, nodes


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fast_backward_equals_the_reference_walk_bit_for_bit(seed):
    root, nodes = random_graph(seed)
    held = {id(v): v.grad for v in nodes}  # constants, made inside ops, hold 0
    root.backward()  # first backward: the unrolled one-walk path in autodiff.fast (no order known yet)
    every = autodiff.backward_order(root) + nodes
    fast = {id(v): v.grad for v in every}
    for v in every:
        v.grad = held.get(id(v), 0.0)
    reference = {id(s.node): s.grad for s in autodiff.steps(root)}
    order = autodiff.backward_order(root)
    assert {id(v) for v in order} == set(reference)
    for v in order:
        assert same_bits(fast[id(v)], reference[id(v)]), (v, reference[id(v)])
    root.backward()  # bring the leaves to where the reference left them
    # a second backward replays the kept order: the same sums (a zero may lose its sign)
    again = {id(s.node): s.grad for s in autodiff.steps(root)}
    root.backward()
    for v in order:
        assert same_number(v.grad, again[id(v)])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_every_front_end_reads_the_same_steps(seed):
    root, nodes = random_graph(seed)
    leaves = [v for v in nodes if v.is_leaf]
    held = {id(v): v.grad for v in nodes}
    record = autodiff.record_steps(root)
    assert all(v.grad == held[id(v)] for v in nodes)  # recording changes nothing
    stepped = list(autodiff.backward_steps(root))
    assert stepped == record.steps
    final = record.grads_after(len(record.steps))
    for v, g in zip(record.values, final):
        assert same_number(v.grad, g)
    fresh = {id(s.node): s.grad for s in autodiff.steps(root, leaves_hold=False)}
    assert [same_number(g, fresh.get(id(x), 0.0)) for g, x in zip(autodiff.grad(root, leaves), leaves)] == [True] * len(leaves)


def test_walk_pairs_each_node_with_its_edges_in_backward_order():
    a = Value(2.0, label="a")
    b = a * a
    out = b.tanh() + a
    walked = list(autodiff.walk(out))
    assert [v for v, _ in walked] == autodiff.backward_order(out)
    for v, edges in walked:
        assert tuple(p for p, _ in edges) == v.parents and tuple(local for _, local in edges) == v.locals


# -- hooks --------------------------------------------------------------------------------------------
def test_a_leaf_hook_sees_what_this_pass_brings_not_the_accumulated_grad():
    # PyTorch: w.grad = 30; hook sees 3 (d(3w)/dw); w.grad ends at 33
    w = Value(2.0, label="w")
    w.grad = 30.0
    seen = []
    w.register_hook(seen.append)
    (w * 3).backward()
    assert seen == [3.0] and w.grad == 33.0


def test_a_leaf_hook_that_returns_a_number_replaces_what_this_pass_adds():
    w = Value(2.0, label="w")
    w.grad = 30.0
    w.register_hook(lambda g: 2 * g)
    (w * 3).backward()
    assert w.grad == 36.0  # 30 + 2 * 3


def test_an_intermediate_hook_replaces_the_gradient_that_flows_on():
    x = Value(0.5, label="x")
    h = x * 4
    h.register_hook(lambda g: g * 10)
    out = h * h  # d out/d h = 2h = 4; replaced by 40; d h/d x = 4
    out.backward()
    assert h.grad == 40.0 and x.grad == 160.0


def test_hooks_behave_the_same_whichever_front_end_drives_the_steps():
    def build():
        x = Value(0.5, label="x")
        h = (x * 4).tanh()
        h.label = "h"
        h.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: g + 1)
        return x, h, h * h + x

    x, h, out = build()
    out.backward()
    by_backward = (x.grad, h.grad)
    x, h, out = build()
    list(autodiff.backward_steps(out))
    by_steps = (x.grad, h.grad)
    x, h, out = build()
    record = autodiff.record_steps(out)
    final = record.grads_after(len(record.steps))
    by_record = tuple(final[record.values.index(v)] for v in (x, h))
    x, h, out = build()
    by_grad = tuple(autodiff.grad(out, [x, h]))
    assert by_backward == by_steps == by_record == by_grad
    t = math.tanh(2.0)
    assert by_backward[1] == 2 * t * 10 and by_backward[0] == 10 * 2 * t * (1 - t * t) * 4 + 1 + 1


def test_a_hook_elsewhere_leaves_backward_on_the_fast_path(monkeypatch):
    unrelated = Value(1.0, label="elsewhere")
    handle = unrelated.register_hook(lambda g: None)
    calls = []
    original = graph_module.steps
    monkeypatch.setattr(graph_module, "steps", lambda *a, **k: calls.append(1) or original(*a, **k))
    x = Value(0.5, label="x")
    (x * x).backward()
    assert calls == [] and x.grad == 1.0
    (unrelated * x).backward()  # this graph has the hooked node: the reference walk runs
    assert calls == [1]
    handle.remove()
    assert len(autodiff.value.HOOKED) == 0


def test_a_hooked_node_that_is_gone_takes_its_hook_with_it():
    v = Value(1.0)
    v.register_hook(lambda g: None)
    assert len(autodiff.value.HOOKED) == 1
    del v
    gc.collect()
    assert len(autodiff.value.HOOKED) == 0


# -- gates: relu like PyTorch ------------------------------------------------------------------------
def test_relu_of_nan_is_nan_and_anomaly_mode_sees_it():
    assert math.isnan(Value(math.nan).relu().data)
    with pytest.raises(FloatingPointError, match="relu"):
        with autodiff.detect_anomaly():
            Value(math.nan, label="bad").relu()


@pytest.mark.parametrize("x", [-1.0, 0.0])
def test_a_closed_relu_passes_no_gradient_even_an_infinite_one(x):
    # d sqrt(r)/dr at r = 0 is inf; relu's slope there is 0; PyTorch gives 0 for x, not nan
    v = Value(x, label="x")
    out = v.relu() ** 0.5
    out.backward()
    assert v.grad == 0.0
    assert autodiff.grad(out, [v]) == [0.0]
    assert [s.grad for s in autodiff.steps(out) if s.node is v] == [0.0]


def test_an_open_relu_passes_the_gradient_through():
    v = Value(4.0, label="x")
    out = v.relu() ** 0.5
    out.backward()
    assert v.grad == 0.25  # 0.5 * 4 ** -0.5


# -- copies ---------------------------------------------------------------------------------------------
def long_chain(n: int) -> tuple[Value, Value]:
    x = Value(0.5, label="x")
    v = x
    for _ in range(n):
        v = v * 0.9999 + x
    return x, v


def test_pickle_and_deepcopy_of_a_long_chain():
    x, v = long_chain(40_000)
    v.backward()
    for clone in (pickle.loads(pickle.dumps(v)), copy.deepcopy(v)):
        assert clone is not v and clone.data == v.data
        leaf = autodiff.topological_order(clone)[0]
        assert leaf.label == "x" and leaf is not x
        leaf.grad = 0.0
        clone.backward()
        assert leaf.grad == x.grad


def test_copies_keep_shared_nodes_shared():
    a = Value(3.0, label="a")
    b = a * a
    both = copy.deepcopy([b, a])
    assert both[0].parents[0] is both[0].parents[1] is both[1]
    clone = pickle.loads(pickle.dumps(b))
    assert clone.parents[0] is clone.parents[1]
    clone.backward()
    assert clone.parents[0].grad == 6.0


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [autodiff.backward, autodiff.backward_order, autodiff.topological_order,
                                  lambda r: autodiff.grad(r, [])])
def test_walks_refuse_what_is_not_a_value(call):
    v = Value(1.0)
    with pytest.raises(TypeError, match="needs a Value, not list.*Value.sum"):
        call([v])


def test_grad_refuses_inputs_that_are_not_values():
    v = Value(2.0) * 3
    with pytest.raises(TypeError, match=r"input #0 must be a Value, not float"):
        autodiff.grad(v, [3.0])
    with pytest.raises(TypeError, match="list of Values"):
        autodiff.grad(v, v)


# -- the generated methods can be read ---------------------------------------------------------------------
def test_generated_methods_have_source_and_tracebacks_show_it():
    source = inspect.getsource(Value.__truediv__)
    assert "def __truediv__(self, other):" in source and "division by zero" in source
    try:
        Value(1.0, label="a") / 0
    except ZeroDivisionError:
        text = traceback.format_exc()
    assert "<autodiff generated Value.__truediv__>" in text and "raise _domain_error('/'" in text


def test_every_rule_with_a_method_is_a_value_method():
    for rule in autodiff.RULES.values():
        if rule.method is not None:
            assert getattr(Value, rule.method).__doc__.endswith(f"(generated from RULES[{rule.name!r}]).")
