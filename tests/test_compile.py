"""Compiled replay: exactly the eager engine's numbers, with no Values, and clear limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_checks import build, programs

import autodiff
import nn
from autodiff import Value


def rel_close(a: float, b: float, rel: float = 1e-12) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b)) or abs(a - b) < 1e-300


@settings(max_examples=150, deadline=None)
@given(programs, st.lists(st.floats(-2, 2), min_size=3, max_size=3), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_graphs_replay_exactly(program, trace_at, run_at):
    prog = autodiff.compile(lambda xs: build(program, xs), 3, example=trace_at)
    for xs in (trace_at, run_at):
        leaves = [Value(x, label=f"x{i}") for i, x in enumerate(xs)]
        eager = build(program, leaves)
        eager.backward()
        assert rel_close(prog(xs), eager.data)
        for got, want in zip(prog.backward(), [v.grad for v in leaves]):
            assert rel_close(got, want), (got, want)


def networks():
    yield nn.MLP(2, [3, 2], activation="tanh", seed=1), [0.3, -0.8], [0.5, 0.25]
    yield nn.MLP(2, [3, 2], activation="sigmoid", seed=2), [1.3, 0.4], [-0.5, 1.0]
    yield nn.MLP(2, [16, 16, 1], activation="relu", seed=3), [0.7, -0.1], [1.0]
    yield nn.MLP(2, [16, 16, 1], activation="tanh", seed=4), [-0.2, 0.9], [-1.0]


@pytest.mark.parametrize("model, x, t", list(networks()), ids=["2-3-2 tanh", "2-3-2 sigmoid", "2-16-16-1 relu", "2-16-16-1 tanh"])
def test_networks_replay_exactly_and_share_parameters(model, x, t):
    nin = len(x)
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:nin]), xs[nin:]), nin + len(t))
    eager = nn.mse_loss(model(x), t)
    eager.backward()
    want = [p.grad for p in model.parameters()]
    model.zero_grad()
    assert rel_close(prog(x + t), eager.data)
    prog.backward()
    for got, w in zip([p.grad for p in model.parameters()], want):
        assert rel_close(got, w)
    # parameters are read by reference: an SGD step changes the next replay
    opt = nn.SGD(model.parameters(), lr=0.1)
    opt.step()
    assert rel_close(prog(x + t), nn.mse_loss(model(x), t).data)


def test_outputs_list_and_seed_and_input_grads():
    a = Value(2.0, label="a")
    prog = autodiff.compile(lambda xs: [xs[0] * a, xs[0] + xs[1]], 2)
    assert prog([3.0, 4.0]) == [6.0, 7.0]
    assert prog.backward(seed=0.5) == [1.0, 0.0]  # from the first output only
    assert a.grad == 1.5


def test_batch_equals_summed_single_runs():
    model = nn.MLP(2, [4, 1], activation="tanh", seed=7)
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:2]), xs[2:]), 3)
    rows = [[0.1, 0.2, 1.0], [-0.5, 0.4, -1.0], [0.9, -0.3, 0.5]]
    for r in rows:
        prog(r)
        prog.backward(seed=1 / 3)
    single = [p.grad for p in model.parameters()]
    model.zero_grad()
    losses = prog.batch(rows, seed=1 / 3)
    assert losses == [prog(r) for r in rows]
    for got, want in zip([p.grad for p in model.parameters()], single):
        assert rel_close(got, want, 1e-12)


def test_compile_step_trains_like_the_eager_step():
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    Y = [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    eager, compiled = nn.MLP(2, [3, 2], seed=2), nn.MLP(2, [3, 2], seed=2)
    opt_e, opt_c = nn.SGD(eager.parameters(), lr=0.2), nn.SGD(compiled.parameters(), lr=0.2)
    step = nn.compile_step(compiled, nn.mse_loss, opt_c)
    for _ in range(30):
        opt_e.zero_grad()
        loss = sum((nn.mse_loss(eager(x), y) for x, y in zip(X, Y)), Value(0.0)) * (1 / len(X))
        loss.backward()
        opt_e.step()
        got = step(X, Y)
        assert rel_close(got, loss.data, 1e-9)
    for a, b in zip(eager.parameters(), compiled.parameters()):
        assert rel_close(a.data, b.data, 1e-9)


def test_anomaly_mode_in_the_program_names_op_and_label():
    prog = autodiff.compile(lambda xs: (xs[0] * 1e308).exp(), 1, example=[0.0])
    assert prog([0.0]) == 1.0
    with autodiff.detect_anomaly():
        with pytest.raises(FloatingPointError, match="op '\\*'.*x\\[0\\]"):
            prog([10.0])
    s = autodiff.compile(lambda xs: xs[0] ** 0.5, 1)
    s([0.0])
    assert math.isinf(s.backward()[0])  # IEEE outside anomaly mode, as eager
    with autodiff.detect_anomaly():
        s([0.0])
        with pytest.raises(FloatingPointError, match="sent inf to .x\\[0\\]."):
            s.backward()


def test_domain_errors_name_the_op_and_labels():
    prog = autodiff.compile(lambda xs: (xs[0] - 1).log(), 1, example=[3.0])
    with pytest.raises(ValueError, match="log: log of a non-positive number .*-0.5"):
        prog([0.5])
    div = autodiff.compile(lambda xs: xs[1] / xs[0], 2)
    with pytest.raises(ZeroDivisionError, match="'x\\[0\\]' = 0.0"):
        div([0.0, 1.0])


def test_clear_errors_for_wrong_shapes_and_misuse():
    prog = autodiff.compile(lambda xs: xs[0] * xs[1], 2)
    with pytest.raises(ValueError, match="traced with 2 inputs and cannot replay 3"):
        prog([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="traced with 2 inputs"):
        prog.batch([[1.0, 2.0], [1.0]])
    with pytest.raises(TypeError, match="list of 2 numbers"):
        prog(3.0)
    with pytest.raises(TypeError, match="real number"):
        prog([1.0, "2"])
    with pytest.raises(RuntimeError, match="before backward"):
        autodiff.compile(lambda xs: xs[0] * 2, 1).backward()
    with pytest.raises(TypeError, match="must return a Value"):
        autodiff.compile(lambda xs: 3.0, 1)
    with pytest.raises(ValueError, match="example has 1 numbers for 2 inputs"):
        autodiff.compile(lambda xs: xs[0], 2, example=[1.0])


def test_value_dependent_python_control_flow_is_frozen_at_trace_time():
    prog = autodiff.compile(lambda xs: xs[0] * 2 if xs[0].data > 0 else xs[0] * 3, 1, example=[1.0])
    assert prog([-1.0]) == -2.0  # the branch taken at trace time
    relu = autodiff.compile(lambda xs: xs[0].relu(), 1, example=[1.0])
    assert relu([-1.0]) == 0.0  # ops replay faithfully


def test_program_prints_like_a_jaxpr_and_draws():
    w = Value(0.5, label="w")
    prog = autodiff.compile(lambda xs: (xs[0] * w).tanh(), 1)
    text = str(prog)
    assert text.splitlines()[0] == "program(x[0]; params w):"
    assert "= x[0] * w" in text and "tanh(" in text and text.splitlines()[-1].startswith("  return")
    assert "def forward" in prog.source() and "def batch" in prog.source("batch")
    svg = prog.draw().svg()
    assert "x[0]" in svg and "tanh" in svg


def test_domain_checks_on_constant_exponents_are_decided_when_compiling():
    prog = autodiff.compile(lambda xs: xs[0] ** 2 + xs[0] ** 0.5 + xs[1] ** -1, 2)
    text = prog.source("forward") + prog.source("batch")
    assert "2.0 < 0" not in text and "is_integer(2.0)" not in text  # a square is never out of domain
    # the rest still checked (compared with float literals, which CPython specialises: "< 0.0")
    assert "is_integer(0.5)" not in text and "< 0.0:" in text and "== 0.0:" in text
    with pytest.raises(ValueError, match="non-integer power of a negative base"):
        prog([-1.0, 1.0])
    with pytest.raises(ZeroDivisionError, match="0 raised to a negative power"):
        prog.batch([[1.0, 2.0], [4.0, 0.0]])
    assert prog([4.0, 2.0]) == 16.0 + 2.0 + 0.5
