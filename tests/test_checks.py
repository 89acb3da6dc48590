"""gradcheck against finite differences, anomaly mode, and random expression graphs (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
from autodiff import Value


def test_gradcheck_passes_on_a_correct_function():
    assert autodiff.gradcheck(lambda x, y: (x * y).sigmoid() / (1 + y.exp()) + x.log(), [1.3, -0.4])


def test_gradcheck_names_the_worst_input_with_both_numbers():
    def wrong(x, y):
        out = x * y
        out._edges = (x, out.locals[0], y, out.locals[1] * 2)  # corrupt d/dy (edges are read-only in the API)
        return out

    with pytest.raises(AssertionError) as info:
        autodiff.gradcheck(wrong, [Value(2.0, label="x"), Value(3.0, label="y")])
    message = str(info.value)
    assert "'y'" in message and "4.0" in message and "2.0" in message


def test_gradcheck_restores_data_and_leaves_grads():
    x = Value(0.7, label="x")
    autodiff.gradcheck(lambda v: v.tanh(), [x])
    assert x.data == 0.7 and x.grad == 0.0


def test_anomaly_forward_names_op_label_operands_and_origin():
    with autodiff.detect_anomaly():
        big = Value(1e308, label="big")
        with pytest.raises(FloatingPointError) as info:
            big * Value(10.0, label="ten")
    message = str(info.value)
    assert "'*'" in message and "'big' = 1e+308" in message and "'ten' = 10.0" in message
    assert "test_checks.py:" in message


def test_anomaly_backward_catches_an_infinite_gradient():
    with autodiff.detect_anomaly():
        x = Value(0.0, label="x")
        s = x**0.5  # finite value, infinite slope at 0
        s.label = "s"
        with pytest.raises(FloatingPointError, match="'s'"):
            s.backward()


def test_outside_anomaly_mode_nothing_raises():
    s = Value(0.0) ** 0.5
    s.backward()
    assert math.isinf(s.parents[0].grad)


def test_anomaly_mode_nests_and_restores():
    with autodiff.detect_anomaly():
        with autodiff.detect_anomaly():
            pass
        with pytest.raises(FloatingPointError):
            Value(1e308) * 10
    Value(1e308) * 10  # no error outside


# Random expression graphs over every op, checked by finite differences through gradcheck.
UNARY = ["tanh", "sigmoid", "exp_small", "log_abs", "relu_shift", "neg", "square", "cube_root_pos"]
BINARY = ["+", "-", "*", "/", "pow_pos"]


def apply_unary(name, v):
    if name == "tanh":
        return v.tanh()
    if name == "sigmoid":
        return v.sigmoid()
    if name == "exp_small":
        return (v.tanh()).exp()  # bounded, so no overflow
    if name == "log_abs":
        return (v * v + 0.5).log()
    if name == "relu_shift":
        return (v + 0.1234567).relu() + 0.1 * v  # kink away from sample points with high probability
    if name == "neg":
        return -v
    if name == "square":
        return v**2
    return (v * v + 1.0) ** (1 / 3)


def apply_binary(name, a, b):
    if name == "+":
        return a + b
    if name == "-":
        return a - b
    if name == "*":
        return a * b
    if name == "/":
        return a / (b * b + 1.0)
    return (a * a + 0.5) ** b.tanh()


programs = st.lists(
    st.one_of(
        st.tuples(st.just("u"), st.sampled_from(UNARY), st.integers(0, 50)),
        st.tuples(st.just("b"), st.sampled_from(BINARY), st.integers(0, 50), st.integers(0, 50)),
        st.tuples(st.just("c"), st.sampled_from(["radd", "rsub", "rmul", "rdiv", "rpow"]), st.integers(0, 50)),
    ),
    min_size=1,
    max_size=12,
)


def build(program, leaves):
    nodes = list(leaves)
    for instr in program:
        if instr[0] == "u":
            nodes.append(apply_unary(instr[1], nodes[instr[2] % len(nodes)]))
        elif instr[0] == "b":
            nodes.append(apply_binary(instr[1], nodes[instr[2] % len(nodes)], nodes[instr[3] % len(nodes)]))
        else:
            v = nodes[instr[2] % len(nodes)].tanh()
            nodes.append({"radd": 2 + v, "rsub": 1 - v, "rmul": 3 * v, "rdiv": 2 / (v + 2), "rpow": 2**v}[instr[1]])
    out = nodes[-1]
    for n in nodes[len(leaves):-1]:
        out = out + 0.01 * n.tanh()  # every intermediate reaches the root: more paths, more sharing
    return out


@settings(max_examples=150, deadline=None)
@given(programs, st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_graphs_agree_with_finite_differences(program, xs):
    assert autodiff.gradcheck(lambda a, b, c: build(program, [a, b, c]), xs, eps=1e-6, atol=1e-4, rtol=1e-3)


@settings(max_examples=100, deadline=None)
@given(programs, st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_graphs_backward_equals_grad_and_steps(program, xs):
    leaves = [Value(x, label=f"x{i}") for i, x in enumerate(xs)]
    root = build(program, leaves)
    side_effect_free = autodiff.grad(root, leaves)
    root.backward()
    assert [v.grad for v in leaves] == side_effect_free
    for v in leaves:
        v.grad = 0.0
    for _ in autodiff.backward_steps(root):
        pass
    assert [v.grad for v in leaves] == side_effect_free


@settings(max_examples=150, deadline=None)
@given(programs, st.lists(st.floats(-2, 2), min_size=3, max_size=3), st.lists(st.integers(0, 60), max_size=6))
def test_backward_with_side_consumers_equals_grad(program, xs, side_picks):
    """Nodes that also feed computations outside the root's graph still get exactly their gradients."""
    leaves = [Value(x, label=f"x{i}") for i, x in enumerate(xs)]
    root = build(program, leaves)
    nodes = autodiff.topological_order(root)
    sides = [nodes[k % len(nodes)].tanh() * 2 for k in side_picks]  # consumers outside root's graph
    want = autodiff.grad(root, leaves + nodes)
    root.backward()
    got = [v.grad for v in leaves + nodes]
    assert got == want  # one release order behind both: the same sums in the same order
    for v in nodes:
        if v.is_leaf:
            v.grad = 0.0  # leaves (and constants) accumulate: start them again
    for _ in autodiff.backward_steps(root):
        pass
    assert [v.grad for v in leaves + nodes] == want
    assert all(s.grad == 0.0 for s in sides)
