"""Forward mode and gradients of gradients, against finite differences, hand-derived values and PyTorch."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff import RULES, Value
from nn import demo

torch = pytest.importorskip("torch")  # in the test extra; only this file needs it
torch.set_default_dtype(torch.float64)


# -- random graphs, built twice: with Values and with torch tensors ------------------------------
def recipe(seed: int, n_inputs: int = 3, n_ops: int = 12) -> list[tuple]:
    """Ops over earlier slots, chosen so that every value stays inside every op's domain."""
    rng = random.Random(seed)
    steps = []
    slots = n_inputs
    for _ in range(n_ops):
        pick = lambda: rng.randrange(slots)  # noqa: E731
        kind = rng.choice(["+", "-", "*", "/", "neg", "exp", "log", "tanh", "sigmoid", "relu", "**", "pow", "sum"])
        if kind in ("+", "-", "*"):
            steps.append((kind, pick(), pick()))
        elif kind == "/":
            steps.append((kind, pick(), pick()))  # divided by 1.5 + sigmoid(b): never 0
        elif kind == "**":
            steps.append((kind, pick(), rng.choice([2.0, 3.0, -1.0])))
        elif kind == "sum":
            steps.append((kind, tuple(pick() for _ in range(rng.randint(1, 4)))))
        else:
            steps.append((kind, pick()))
        slots += 1
    return steps


def build(steps, xs, lib):
    """Run a recipe on ``xs`` (Values when lib is None, tensors when lib is torch)."""
    s = list(xs)
    for step in steps:
        kind = step[0]
        if kind == "+":
            s.append(s[step[1]] + s[step[2]])
        elif kind == "-":
            s.append(s[step[1]] - s[step[2]])
        elif kind == "*":
            s.append(s[step[1]] * s[step[2]] * 0.5)
        elif kind == "/":
            b = s[step[2]]
            s.append(s[step[1]] / ((b.sigmoid() if lib is None else torch.sigmoid(b)) + 1.5))
        elif kind == "neg":
            s.append(-s[step[1]])
        elif kind == "exp":
            a = s[step[1]]
            s.append((a.tanh() if lib is None else torch.tanh(a)).exp() if lib is None else torch.exp(torch.tanh(a)))
        elif kind == "log":
            a = s[step[1]]
            s.append((a * a + 1.0).log() if lib is None else torch.log(a * a + 1.0))
        elif kind in ("tanh", "sigmoid", "relu"):
            a = s[step[1]]
            s.append(getattr(a, kind)() if lib is None else getattr(torch, kind)(a))
        elif kind == "**":
            a = s[step[1]]
            base = (a.tanh() + 2.0) if lib is None else torch.tanh(a) + 2.0
            s.append(base ** step[2])
        elif kind == "pow":
            a = s[step[1]]
            base = (a.sigmoid() + 0.5) if lib is None else torch.sigmoid(a) + 0.5
            s.append(base ** (a.tanh() if lib is None else torch.tanh(a)))
        elif kind == "sum":
            terms = [s[i] for i in step[1]]
            s.append(Value.sum(terms) if lib is None else sum(terms[1:], terms[0]))
    return s


def both(seed: int):
    rng = random.Random(seed + 1)
    data = [rng.uniform(-1.5, 1.5) for _ in range(3)]
    steps = recipe(seed)
    xs = [Value(d, label=f"x{i}") for i, d in enumerate(data)]
    ours = build(steps, xs, None)
    ts = [torch.tensor(d, requires_grad=True) for d in data]
    theirs = build(steps, ts, torch)
    return data, steps, xs, ours, ts, theirs


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# -- forward mode ------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_jvp_and_both_jacobians_agree_with_torch(seed):
    data, steps, xs, ours, ts, theirs = both(seed)
    outs = ours[-2:]

    def f(*args):
        s = build(steps, list(args), torch)
        return torch.stack([s[-2], s[-1]])

    direction = [0.3, -1.0, 2.0]
    _, expected = torch.func.jvp(f, tuple(torch.tensor(d) for d in data), tuple(torch.tensor(t) for t in direction))
    got = autodiff.jvp(outs, xs, direction)
    assert all(close(g, float(e)) for g, e in zip(got, expected))
    J_torch = torch.autograd.functional.jacobian(f, tuple(torch.tensor(d) for d in data))
    for mode in ("forward", "reverse"):
        J = autodiff.jacobian(outs, xs, mode=mode)
        assert J.passes == (3 if mode == "forward" else 2)
        for i in range(2):
            for j in range(3):
                assert close(J.matrix[i][j], float(J_torch[j][i]))


def test_forward_steps_show_each_tangent_in_forward_order():
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    p = a * b
    p.label = "p"
    f = p + a
    f.label = "f"
    steps = list(autodiff.forward_steps(f, [a, b], [1.0, 0.0]))
    assert [(s.kind, s.node.label, s.tangent) for s in steps] == [("forward", "p", 3.0), ("forward", "f", 4.0)]
    first = steps[0].contributions
    assert [(c.parent.label, c.local, c.amount) for c in first] == [("a", 3.0, 3.0), ("b", 2.0, 0.0)]


def test_forward_mode_refuses_bad_input():
    a = Value(1.0)
    with pytest.raises(ValueError, match="2 tangents for 1 inputs"):
        autodiff.jvp(a * a, [a], [1.0, 2.0])
    with pytest.raises(TypeError, match="input #0 must be a Value"):
        autodiff.jvp(a * a, [1.0], [1.0])
    with pytest.raises(ValueError, match="mode must be"):
        autodiff.jacobian(a * a, [a], mode="sideways")


# -- gradients of gradients ------------------------------------------------------------------------------
# second derivatives by hand, at the point given: rule -> (operands, [[d2/da2, d2/dadb], [d2/dbda, d2/db2]])
SECOND = {
    "+": ((1.5, -2.0), [[0.0, 0.0], [0.0, 0.0]]),
    "-": ((1.5, -2.0), [[0.0, 0.0], [0.0, 0.0]]),
    "*": ((1.5, -2.0), [[0.0, 1.0], [1.0, 0.0]]),
    "/": ((1.5, -2.0), [[0.0, -0.25], [-0.25, 2 * 1.5 / -8.0]]),  # d2(a/b)/dadb = -1/b^2, d2/db2 = 2a/b^3
    "neg": ((1.5,), [[0.0]]),
    "**": ((1.5,), [[6 * 1.5]]),  # a ** 3: 6a
    "pow": ((2.0, 3.0), [[3 * 2 * 2.0, 2.0 ** 2 * (1 + 3 * math.log(2.0))],
                         [2.0 ** 2 * (1 + 3 * math.log(2.0)), 8.0 * math.log(2.0) ** 2]]),
    "exp": ((0.5,), [[math.exp(0.5)]]),
    "log": ((0.5,), [[-1 / 0.25]]),
    "tanh": ((0.5,), [[-2 * math.tanh(0.5) / math.cosh(0.5) ** 2]]),
    "sigmoid": ((0.5,), [[(lambda s: s * (1 - s) * (1 - 2 * s))(1 / (1 + math.exp(-0.5)))]]),
    "relu": ((0.5,), [[0.0]]),
    "sum": ((1.5, -2.0), [[0.0, 0.0], [0.0, 0.0]]),
}


def apply_rule(name: str, xs: list[Value]) -> Value:
    rule = RULES[name]
    if rule.join is not None:
        return Value.sum(xs)
    if rule.constant:
        return xs[0] ** 3.0
    if name == "pow":
        return xs[0] ** xs[1]
    return getattr(Value, str(rule.method))(*xs)


def test_every_rule_has_hand_derived_second_derivatives():
    assert set(SECOND) == set(RULES), f"add a row to SECOND for: {sorted(set(RULES) - set(SECOND))}"


@pytest.mark.parametrize("name", sorted(SECOND))
def test_every_rule_differentiates_twice(name):
    operands, expected = SECOND[name]
    H = autodiff.hessian(lambda *xs: apply_rule(name, list(xs)), list(operands))
    for row, want in zip(H, expected):
        assert all(close(g, e, 1e-12) for g, e in zip(row, want)), (name, H, expected)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_hessians_and_double_backward_agree_with_torch(seed):
    data, steps, xs, ours, ts, theirs = both(seed)

    def f(*args):
        return build(steps, list(args), torch)[-1]

    H_torch = torch.autograd.functional.hessian(f, tuple(torch.tensor(d) for d in data))
    H = autodiff.hessian(lambda *a: build(steps, list(a), None)[-1], data)
    for i in range(3):
        for j in range(3):
            assert close(H[i][j], float(H_torch[i][j]))
    # double backward, as torch.autograd.grad(create_graph=True) then backward
    first = autodiff.grad(ours[-1], xs, create_graph=True)
    (g0,) = torch.autograd.grad(theirs[-1], ts[0], create_graph=True, allow_unused=True)
    if g0 is None or not g0.requires_grad:  # x0 unused, or its gradient a constant
        second = [None] * 3
    else:
        second = torch.autograd.grad(g0, ts, allow_unused=True)
    assert close(first[0].data, 0.0 if g0 is None else float(g0.detach()))
    assert all(close(a, 0.0 if b is None else float(b)) for a, b in zip(autodiff.grad(first[0], xs), second))


def test_hvp_equals_the_hessian_times_the_vector():
    f = lambda x, y, z: (x * y).tanh() * z + x ** 3  # noqa: E731
    point, v = [0.3, -1.2, 0.8], [1.0, -2.0, 0.5]
    H = autodiff.hessian(f, point)
    assert all(close(a, sum(h * vi for h, vi in zip(row, v))) for a, row in zip(autodiff.hvp(f, point, v), H))


def test_gradients_are_values_named_after_what_they_compute():
    x = Value(0.5, label="x")
    h = (x * 3).tanh()
    h.label = "h"
    loss = h * h
    loss.label = "loss"
    (dx,) = autodiff.grad(loss, [x], create_graph=True)
    assert isinstance(dx, Value) and dx.label == "dloss/dx" and dx.scope == ("gradient",)
    names = {v.label for v in autodiff.topological_order(dx)}
    assert "dloss/dh" in names
    assert close(dx.data, autodiff.grad(loss, [x])[0], 1e-15)
    autodiff.draw(dx)  # a graph like any other


def test_a_gradient_graph_compiles_and_replays():
    w = Value(0.7, label="w")
    prog = autodiff.compile(lambda xs: autodiff.grad((xs[0] * w).tanh() * xs[0], [xs[0]], create_graph=True)[0], 1)
    for x in (0.2, -1.3):
        xv = Value(x)
        expected = autodiff.grad((xv * w).tanh() * xv, [xv])[0]
        assert close(prog([x]), expected, 1e-12)


def test_newtons_method_with_create_graph_finds_the_minimum():
    x = Value(3.0, label="x")
    for _ in range(30):  # Newton on a quartic gains a third of the distance a step, then converges fast
        f = (x - 1.0) ** 4 + (x * 0.5).exp()
        (d1,) = autodiff.grad(f, [x], create_graph=True)
        (d2,) = autodiff.grad(d1, [x])
        x = Value(x.data - d1.data / d2, label="x")
    f = (x - 1.0) ** 4 + (x * 0.5).exp()
    assert abs(autodiff.grad(f, [x])[0]) < 1e-10


def test_the_2_3_2_networks_hessian_agrees_with_torch():
    net = demo.build(seed=0, backward=False)
    params = [p for _, p in net.model.named_parameters() if _.startswith("W")]
    first = autodiff.grad(net.loss, params, create_graph=True)
    H = [autodiff.grad(g, params) for g in first]
    model = nn.to_torch(net.model)
    assert isinstance(model, torch.nn.Sequential)  # Linear, Tanh, Linear: the layout read below
    x = torch.tensor([0.5, -1.0])
    t = torch.tensor([1.0, 0.0])

    def loss_of(w1, w2):
        h = torch.tanh(x @ w1.T + model[0].bias)
        y = h @ w2.T + model[2].bias
        return ((y - t) ** 2).mean()

    H_torch = torch.autograd.functional.hessian(loss_of, (model[0].weight.detach(), model[2].weight.detach()))
    # ours: W1[i][j] (in x out) then W2[j][k]; torch's weights are out x in
    order = [(0, j, i) for i in range(2) for j in range(3)] + [(1, k, j) for j in range(3) for k in range(2)]
    for a, (la, ra, ca) in enumerate(order):
        for b, (lb, rb, cb) in enumerate(order):
            assert close(H[a][b], float(H_torch[la][lb][ra][ca][rb][cb]), 1e-10)


@pytest.mark.parametrize("name", sorted(SECOND))
def test_gradgradcheck_passes_for_every_rule(name):
    operands, _ = SECOND[name]
    assert autodiff.gradgradcheck(lambda *xs: apply_rule(name, list(xs)), list(operands))


def test_gradgradcheck_catches_a_wrong_second_derivative(monkeypatch):
    from autodiff import higher

    real = higher.local_values
    # a tanh whose slope is built as 1 - out (wrong) instead of 1 - out**2: first derivatives are
    # not involved (they come from the stored floats), the second ones are
    def wrong(v):
        if v.op == "tanh":
            return [1.0 - v * 1.0 + (v.parents[0].tanh().data ** 2 - v.data) * 0.0 + (v.data - v.data ** 2)]
        return real(v)

    monkeypatch.setattr(higher, "local_values", wrong)
    with pytest.raises(AssertionError, match="double backward gives"):
        autodiff.gradgradcheck(lambda x: x.tanh(), [0.7])


def test_backward_with_create_graph_keeps_each_leafs_gradient_as_a_value():
    x, w = Value(0.5, label="x"), Value(-1.5, label="w")
    loss = (x * w).tanh() ** 2
    loss.backward(create_graph=True)
    assert x.grad_value is not None and close(x.grad_value.data, x.grad, 1e-15)
    (d2,) = autodiff.grad(x.grad_value, [x])  # differentiate the gradient again
    assert close(d2, autodiff.hessian(lambda a, b: (a * b).tanh() ** 2, [0.5, -1.5])[0][0], 1e-12)
    loss.backward(create_graph=True)  # accumulates, as grad does
    assert close(x.grad_value.data, 2 * autodiff.grad(loss, [x])[0], 1e-15) and close(x.grad, x.grad_value.data, 1e-15)
