"""Value: construction, every op's value and local derivative, reflected forms, errors."""

from __future__ import annotations

import math

import pytest

import autodiff
from autodiff import Value


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# (name, function of Values, plain-float function, hand-derived local derivatives, inputs)
BINARY = [
    ("+", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: (1.0, 1.0)),
    ("-", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: (1.0, -1.0)),
    ("*", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: (b, a)),
    ("/", lambda a, b: a / b, lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2)),
    ("pow", lambda a, b: a**b, lambda a, b: a**b, lambda a, b: (b * a ** (b - 1), a**b * math.log(a))),
]
UNARY = [
    ("neg", lambda a: -a, lambda a: -a, lambda a: -1.0),
    ("exp", lambda a: a.exp(), math.exp, math.exp),
    ("log", lambda a: a.log(), math.log, lambda a: 1 / a),
    ("tanh", lambda a: a.tanh(), math.tanh, lambda a: 1 - math.tanh(a) ** 2),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: 1 / (1 + math.exp(-a)), lambda a: math.exp(-a) / (1 + math.exp(-a)) ** 2),
    ("relu", lambda a: a.relu(), lambda a: max(a, 0.0), lambda a: 1.0 if a > 0 else 0.0),
    ("**", lambda a: a**3, lambda a: a**3, lambda a: 3 * a**2),
]


@pytest.mark.parametrize("name, fn, plain, local", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("x, y", [(1.5, 2.25), (0.7, -1.3), (3.0, 0.5)])
def test_binary_value_and_local_derivatives(name, fn, plain, local, x, y):
    if name == "pow" and y < 0:
        y = -y
    a, b = Value(x, label="a"), Value(y, label="b")
    out = fn(a, b)
    assert out.op == name
    assert out.parents == (a, b)
    assert close(out.data, plain(x, y))
    for got, want in zip(out.locals, local(x, y)):
        assert close(got, want)
    out.backward()
    assert close(a.grad, local(x, y)[0]) and close(b.grad, local(x, y)[1])


@pytest.mark.parametrize("name, fn, plain, local", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("x", [0.3, 1.7, -0.8])
def test_unary_value_and_local_derivative(name, fn, plain, local, x):
    if name == "log":
        x = abs(x)
    a = Value(x, label="a")
    out = fn(a)
    assert out.op == name and out.parents == (a,)
    assert close(out.data, plain(x))
    assert close(out.locals[0], local(x))
    out.backward()
    assert close(a.grad, local(x))


@pytest.mark.parametrize(
    "expr, value, grad",
    [
        (lambda v: 2 * v, 6.0, 2.0),
        (lambda v: v * 2, 6.0, 2.0),
        (lambda v: 2 + v, 5.0, 1.0),
        (lambda v: 1 - v, -2.0, -1.0),
        (lambda v: v - 1, 2.0, 1.0),
        (lambda v: 12 / v, 4.0, -12 / 9),
        (lambda v: 2**v, 8.0, 8 * math.log(2)),
        (lambda v: v**2, 9.0, 6.0),
        (lambda v: v**0.5, math.sqrt(3), 0.5 / math.sqrt(3)),
        (lambda v: -v, -3.0, -1.0),
        (lambda v: +v, 3.0, 1.0),
    ],
)
def test_reflected_and_mixed_forms(expr, value, grad):
    v = Value(3.0, label="v")
    out = expr(v)
    assert close(out.data, value)
    out.backward()
    assert close(v.grad, grad)


def test_reflected_constant_is_a_constant_leaf():
    v = Value(3.0)
    out = 1 - v
    const, same = out.parents
    assert same is v and const.is_constant and const.is_leaf and const.data == 1.0
    assert not v.is_constant


def test_in_place_forms_build_new_nodes():
    v = Value(3.0, label="v")
    w = v
    w += 1
    w *= 2
    w -= 3
    w /= 5
    w **= 2
    assert w is not v and v.data == 3.0 and v.op == ""
    assert close(w.data, (((3 + 1) * 2 - 3) / 5) ** 2)
    w.backward()
    assert close(v.grad, 2 * 1.0 * 2 / 5)


def test_repeated_operands_keep_order_and_both_edges():
    a = Value(3.0, label="a")
    sq = a * a
    assert sq.parents == (a, a) and sq.locals == (3.0, 3.0)
    twice = a + a
    assert twice.parents == (a, a)
    sq.backward()
    assert a.grad == 6.0
    a.grad = 0.0
    twice.backward()
    assert a.grad == 2.0


def test_gradients_accumulate_into_leaves_only():
    a = Value(3.0, label="a")
    loss = a * a + a
    loss.backward()
    loss.backward()
    assert a.grad == 14.0  # leaves accumulate: 7 + 7
    assert loss.parents[0].grad == 1.0  # intermediates start afresh at each call


def test_a_million_node_chain_backprops_without_recursion():
    import sys

    limit = sys.getrecursionlimit()
    x = Value(1.0, label="x")
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
    assert len(autodiff.topological_order(y)) == 2_000_001  # each step adds the node and its constant
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize("bad", [True, "1.0", None, [1.0], 1j])
def test_data_must_be_a_real_number(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_label_must_be_a_str():
    with pytest.raises(TypeError, match="label"):
        Value(1.0, label=3)


@pytest.mark.parametrize("bad", ["2", None, True, [1]])
def test_bad_operands_raise_type_error(bad):
    v = Value(1.0)
    with pytest.raises(TypeError):
        v + bad
    with pytest.raises(TypeError):
        bad * v
    with pytest.raises(TypeError):
        v**bad


def test_writable_data_and_grad_and_repr():
    v = Value(0.5, label="h1[2]")
    t = v.tanh()
    t.label = "h"
    assert repr(t) == "Value(label='h', op='tanh', data=0.462117, grad=0)"  # tanh(0.5) = 0.46211716, 6 digits
    v.data = 2
    assert v.data == 2
    v.grad = -0.113
    assert repr(v) == "Value(label='h1[2]', op='', data=2, grad=-0.113)"


@pytest.mark.parametrize(
    "make, kind, words",
    [
        (lambda: Value(-2.0, label="p").log(), ValueError, ["log", "'p' = -2.0"]),
        (lambda: Value(0.0, label="p").log(), ValueError, ["log", "non-positive", "'p' = 0.0"]),
        (lambda: Value(-8.0, label="base") ** 0.5, ValueError, ["**", "negative base", "'base' = -8.0", "0.5"]),
        (lambda: Value(0.0, label="z") ** -1, ZeroDivisionError, ["**", "'z' = 0.0"]),
        (lambda: Value(1.0, label="n") / Value(0.0, label="d"), ZeroDivisionError, ["/", "'n' = 1.0", "'d' = 0.0"]),
        (lambda: 1 / Value(0.0, label="d"), ZeroDivisionError, ["/", "a constant = 1.0", "'d' = 0.0"]),
        (lambda: Value(-2.0, label="b") ** Value(0.5, label="e"), ValueError, ["pow", "'b' = -2.0", "'e' = 0.5"]),
        (lambda: Value(0.0, label="b") ** Value(-1.0, label="e"), ZeroDivisionError, ["pow", "'b' = 0.0"]),
    ],
)
def test_domain_errors_name_op_labels_and_values(make, kind, words):
    with pytest.raises(kind) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_negative_base_integer_power_is_fine():
    v = Value(-2.0)
    out = v**3
    out.backward()
    assert out.data == -8.0 and v.grad == 12.0


def test_outside_anomaly_mode_ieee_semantics_apply():
    big = Value(1e308)
    assert math.isinf((big * 10).data)
    assert math.isinf(Value(1000.0).exp().data)


def test_edges_are_read_only_and_labels_must_be_text():
    a, b = Value(2.0, label="a"), Value(5.0, label="b")
    y = a * b
    assert y.parents == (a, b) and y.locals == (5.0, 2.0)
    with pytest.raises(AttributeError):
        y.locals = (0.0, 0.0)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        y.parents = ()  # type: ignore[misc]
    with pytest.raises(TypeError, match="label must be a str, not int"):
        y.label = 3  # type: ignore[assignment]
    y.label = "y"
    assert (y.label, (a + 1).label, (a ** 2).arg, (a * 2).arg, y.scope) == ("y", "", 2.0, None, None)


def test_nodes_made_by_ops_are_values_and_a_graph_survives_pickling():
    import pickle

    from autodiff.value import OpResult

    a = Value(0.3, label="a")
    y = (a * 2 + a.exp()).tanh()
    assert isinstance(y, OpResult) and isinstance(y, Value) and not y.is_leaf
    two = y.parents[0].parents[0].parents[1]
    assert isinstance(two, OpResult) and two.is_constant and two.is_leaf and two.data == 2.0
    assert not (a.is_constant or y.is_constant or y.parents[0].is_constant)
    with pytest.raises(TypeError, match="takes no arguments"):
        OpResult(1.0)  # type: ignore[call-arg]
    copy = pickle.loads(pickle.dumps(y))
    y.backward()
    copy.backward()
    (a2,) = [v for v in autodiff.topological_order(copy) if v.label == "a"]
    assert a2.grad == a.grad and a2.data == a.data and a2 is not a


def test_a_node_is_one_object_for_the_cyclic_collector():
    import gc

    a, b = Value(2.0, label="a"), Value(5.0, label="b")
    for node in (a * b, a.relu(), a + 1):  # one and two operands: edges in the node's own slots
        held = gc.get_referents(node)
        assert not any(isinstance(x, (tuple, list)) for x in held), held
        assert a in held and node.parents[0] is a and len(node.parents) == len(node.locals)
    s = Value.sum([a, b, a])  # a sum of many keeps one flat tuple of edges
    assert s.parents == (a, b, a) and s.locals == (1.0, 1.0, 1.0)
