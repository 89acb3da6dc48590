"""Lifted programs: the matrix operations found in a traced scalar graph, checked against the eager engine.

The oracle for every number is the eager engine (Values, ``backward()``) on the same graph; for
structure, the Values the test itself built (which nodes a layer is made of), and the network's
sizes for the shapes. Lifted numbers come from numpy matrix products, which add in another order
than the eager engine: they are compared at 1e-12 relative, and a result that cancels to (nearly)
zero at 1e-12 of the graph's scale (every value here is of order 1).
"""

from __future__ import annotations

import math
import random
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_checks import build, programs

import autodiff
import nn
from autodiff import Value
from autodiff.lift import LiftedProgram


def close(a: float, b: float, rel: float = 1e-12, scale: float = 1.0) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b), scale)


def eager_step(model, X, T, loss_fn=nn.mse_loss):
    """The gradient of the mean loss over the batch, by the eager engine: what a lifted step must give."""
    model.zero_grad()
    losses = [loss_fn(model(x), t) for x, t in zip(X, T)]
    (Value.sum(losses) * (1.0 / len(X))).backward()
    return [v.data for v in losses], [p.grad for p in model.parameters()]


def lifted_step(model, X, T, loss_fn=nn.mse_loss):
    nin = model.nin
    prog = autodiff.compile(lambda xs: loss_fn(model(xs[:nin]), xs[nin:]), nin + len(T[0]), lift=True)
    model.zero_grad()
    outs = prog.batch([list(x) + list(t) for x, t in zip(X, T)], seed=1.0 / len(X))
    return prog, outs, [p.grad for p in model.parameters()]


NETWORKS = [
    ("2-3-2 tanh", [3, 2], "tanh"),
    ("2-3-2 sigmoid", [3, 2], "sigmoid"),
    ("2-16-16-1 relu", [16, 16, 1], "relu"),
    ("2-16-16-1 tanh", [16, 16, 1], "tanh"),
]


@pytest.mark.parametrize("sizes, activation", [n[1:] for n in NETWORKS], ids=[n[0] for n in NETWORKS])
def test_networks_lift_and_match_eager(sizes, activation):
    X, Y = nn.moons(100, seed=2)
    T = [[y] * sizes[-1] for y in Y]
    model = nn.MLP(2, sizes, activation=activation, seed=5)
    want_losses, want_grads = eager_step(model, X, T)
    prog, outs, grads = lifted_step(model, X, T)
    assert prog.lifted
    # one matrix product per layer, found from the graph
    products = [eq for eq in prog.forward_equations if "@" in eq.formula]
    assert len(products) == len(sizes)
    assert all(close(a, b) for a, b in zip(outs, want_losses))
    assert all(close(a, b) for a, b in zip(grads, want_grads)), max(abs(a - b) for a, b in zip(grads, want_grads))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.sampled_from(["tanh", "relu", "sigmoid", "linear"]),
       st.sampled_from(["mse", "sse"]), st.integers(1, 9), st.integers(0, 10**6))
def test_random_mlps_match_eager(hidden, activation, loss, batch, seed):
    rng = random.Random(seed)
    nin, nout = rng.randint(1, 4), rng.randint(1, 3)
    model = nn.MLP(nin, hidden + [nout], activation=activation, seed=seed)
    X = [[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(batch)]
    T = [[rng.uniform(-1, 1) for _ in range(nout)] for _ in range(batch)]
    loss_fn = nn.mse_loss if loss == "mse" else nn.sse_loss
    want_losses, want_grads = eager_step(model, X, T, loss_fn)
    prog, outs, grads = lifted_step(model, X, T, loss_fn)
    sizes = model.sizes
    assert prog.lifted == any(a * b > 1 for a, b in zip(sizes, sizes[1:]))  # a 1-1-1 network has no matrix
    assert all(close(a, b) for a, b in zip(outs, want_losses))
    assert all(close(a, b) for a, b in zip(grads, want_grads))


def test_one_sample_call_and_backward_give_the_eager_input_and_parameter_gradients():
    model = nn.MLP(2, [4, 3], activation="tanh", seed=8)
    x, t = [0.4, -1.3], [0.2, -0.5, 1.0]
    inputs = [Value(v) for v in x + t]
    eager = nn.mse_loss(model(inputs[:2]), inputs[2:])
    eager.backward()
    want = [p.grad for p in model.parameters()]
    model.zero_grad()
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:2]), xs[2:]), 5, lift=True)
    assert close(prog(x + t), eager.data)
    got_inputs = prog.backward(seed=1.0)
    assert all(close(a, v.grad) for a, v in zip(got_inputs, inputs))
    assert all(close(p.grad, w) for p, w in zip(model.parameters(), want))


def test_gradients_accumulate_into_grad_as_eager_does():
    model = nn.MLP(2, [3, 1], seed=1)
    X, T = [[0.5, 1.0], [-1.0, 0.25]], [[1.0], [0.0]]
    _, want = eager_step(model, X, T)
    for p in model.parameters():
        p.grad = 1.0
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:2]), xs[2:]), 3, lift=True)
    prog.batch([x + t for x, t in zip(X, T)], seed=0.5)
    assert all(close(p.grad, 1.0 + w) for p, w in zip(model.parameters(), want))


# -- structure comes from the graph, not from nn ---------------------------------------------------
def test_a_hand_built_layer_of_plus_chains_lifts_to_one_matrix_product():
    rng = random.Random(3)
    W = [[Value(rng.uniform(-1, 1)) for _ in range(4)] for _ in range(3)]  # no labels, no scopes
    b = [Value(rng.uniform(-1, 1)) for _ in range(4)]
    made: dict[str, list[Value]] = {"z": [], "products": []}

    def fn(xs):
        out = None
        for j in range(4):
            # products either way round, chained with +, bias last
            terms = [xs[0] * W[0][j], W[1][j] * xs[1], xs[2] * W[2][j]]
            made["products"] += terms
            z = terms[0] + terms[1] + terms[2] + b[j]
            made["z"].append(z)
            h = z.tanh()
            out = h * h if out is None else out + h * h
        return out

    prog = autodiff.compile(fn, 3, lift=True)
    affine = [eq for eq in prog.forward_equations if "@" in eq.formula]
    assert len(affine) == 1
    eq = affine[0]
    assert [v for row in eq.nodes for v in row] == made["z"]  # the four unit sums, in order
    assert {id(v) for v in made["products"]} <= {id(v) for v in eq.replaced}
    assert eq.shapes(10) == "(10x3) @ (3x4) + (4) = 10x4"
    # and the numbers: eager, one sample at a time
    rows = [[0.3, -0.7, 1.1], [-1.5, 0.2, 0.0], [0.9, 0.9, -0.4]]
    outs = prog.batch(rows, seed=1.0)
    grads = [p.grad for p in [*sum(W, []), *b]]
    for p in [*sum(W, []), *b]:
        p.grad = 0.0
    total = Value.sum([fn([Value(v) for v in r]) for r in rows])
    total.backward()
    assert all(close(a, p.grad) for a, p in zip(grads, [*sum(W, []), *b]))
    assert close(sum(outs), total.data)


def test_a_batch_traced_as_one_graph_lifts_with_the_samples_as_rows():
    model = nn.MLP(2, [3, 2], seed=0)
    X, Y = nn.moons(8, seed=1)
    n = len(X)

    def batch_loss(xs):
        losses = [nn.mse_loss(model(xs[4 * s:4 * s + 2]), xs[4 * s + 2:4 * s + 4]) for s in range(n)]
        return sum(losses) * (1.0 / n)

    prog = autodiff.compile(batch_loss, 4 * n, lift=True)
    first = next(eq for eq in prog.forward_equations if "@" in eq.formula)
    assert len(first.nodes) == n and len(first.nodes[0]) == 3  # a row per sample, a column per unit
    assert {v.label for row in first.nodes for v in row} == {"z1[0]", "z1[1]", "z1[2]"}
    assert first.shapes(1) == f"({n}x2) @ (2x3) + (3) = {n}x3"
    flat = [v for x, y in zip(X, Y) for v in (*x, y, -y)]
    got = prog(flat)
    prog.backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    eager = batch_loss([Value(v) for v in flat])
    eager.backward()
    assert close(got, eager.data)
    assert all(close(a, p.grad) for a, p in zip(grads, model.parameters()))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs, st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.lists(st.lists(st.floats(-2, 2), min_size=3, max_size=3), min_size=1, max_size=4))
def test_random_graphs_run_lifted_as_eager(program, trace_at, rows):
    # every op of the rule table, inputs only: whatever lifts (sums with constant weights, ...) and
    # whatever stays scalar must give the eager numbers, values and input gradients
    lifted_as_eager(program, trace_at, rows)


def lifted_as_eager(program, trace_at, rows):
    """The random ``program`` compiled with ``lift=True`` (traced at ``trace_at``), checked against the
    eager engine at ``trace_at`` and every row (value and input gradients) and over the batch."""
    prog = autodiff.compile(lambda xs: build(program, xs), 3, example=trace_at, lift=True)
    for xs in [trace_at, *rows]:
        leaves = [Value(x) for x in xs]
        eager = build(program, leaves)
        eager.backward()
        assert close(prog(xs), eager.data)
        assert all(close(a, v.grad) for a, v in zip(prog.backward(), leaves))
    for out, xs in zip(prog.batch(rows), rows):
        assert close(out, build(program, [Value(x) for x in xs]).data)
    return prog


def test_terms_of_a_sum_reading_one_input_column_keep_a_column_each():
    # x0 * x0 twice: the two terms are packed into one array whose operands both repeat column 0;
    # numpy broadcast them to one column, and reading the second term's column failed
    def fn(xs):
        return xs[0] * xs[0] + xs[0] * xs[0] + xs[1].tanh() + xs[1].tanh() + xs[2]

    prog = autodiff.compile(fn, 3, lift=True)
    assert prog.lifted
    for x0, x1, x2 in [(0.5, -1.25, 2.0), (-3.0, 0.25, 0.0)]:
        assert close(prog([x0, x1, x2]), 2 * x0 * x0 + 2 * math.tanh(x1) + x2)
        assert all(close(a, b) for a, b in zip(prog.backward(), [4 * x0, 2 * (1 - math.tanh(x1) ** 2), 1.0]))
    rows = [[0.5, -1.25, 2.0], [-3.0, 0.25, 0.0], [1.5, 2.0, -1.0]]
    assert all(close(out, 2 * a * a + 2 * math.tanh(b) + c) for out, (a, b, c) in zip(prog.batch(rows), rows))


def test_the_random_program_that_found_the_repeated_column_runs_as_eager():
    # the failing example hypothesis saved (a sum of log(x2 * x2 + 0.5) twice, packed into one array)
    program = [("u", "log_abs", 32), ("u", "log_abs", 29), ("u", "log_abs", 42), ("b", "+", 5, 9),
               ("u", "log_abs", 1), ("b", "+", 42, 21)]
    trace_at = [1.7299101493976012, -5.023393627083775e-203, 1.4884368322353927]
    rows = [[9.308631965431245e-138, 0.5563119686606153, -1.175494351e-38], [0.3, -0.7, 1.1]]
    assert lifted_as_eager(program, trace_at, rows).lifted


def layer_feeding(program, width: int, seed: int):
    """A tanh layer of ``width`` units over 3 inputs (random weights from ``seed``) feeding the random
    ``program``: its parameters (weights row by row, then biases), the function (the eager oracle) and
    its lifted program."""
    rng = random.Random(seed)
    W = [[Value(rng.uniform(-1, 1), label=f"W[{i}][{j}]") for j in range(width)] for i in range(3)]
    b = [Value(rng.uniform(-1, 1), label=f"b[{j}]") for j in range(width)]

    def fn(xs):
        h = [Value.sum([*(W[i][j] * xs[i] for i in range(3)), b[j]]).tanh() for j in range(width)]
        return build(program, (h * 3)[:3])

    return [p for row in W for p in row] + b, fn, autodiff.compile(fn, 3, lift=True)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs, st.integers(1, 4), st.integers(0, 10**6),
       st.lists(st.lists(st.floats(-2, 2), min_size=3, max_size=3), min_size=1, max_size=5))
def test_random_graphs_that_lift_in_part_match_eager(program, width, seed, rows):
    # a layer (lifted) feeding random scalar ops (mostly not): the parameters' gradients over a batch
    params, fn, prog = layer_feeding(program, width, seed)
    assert prog.lifted and any("@" in eq.formula for eq in prog.forward_equations)
    outs = prog.batch(rows, seed=0.5)
    got = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    losses = [fn([Value(x) for x in xs]) for xs in rows]
    (Value.sum(losses) * 0.5).backward()
    assert all(close(a, v.data) for a, v in zip(outs, losses))
    assert all(close(a, p.grad) for a, p in zip(got, params))


def test_values_computed_from_parameters_alone_are_computed_once_and_their_gradients_summed():
    model = nn.MLP(2, [4, 1], seed=3)
    params = model.parameters()

    def fn(xs):
        penalty = Value.sum([p * p for p in params]) * 0.01  # a weight penalty: the same for every sample
        scale = (params[0] * 2.0).tanh()  # one shared number scaling a per-sample loss
        return nn.mse_loss(model(xs[:2]), xs[2:]) * scale + penalty

    prog = autodiff.compile(fn, 3, lift=True)
    squares = next(eq for eq in prog.forward_equations if eq.nodes[0][0].op == "*" and len(eq.nodes[0]) == len(params))
    assert [v.parents[0] for v in squares.nodes[0]] == params  # the penalty's squares: one array
    rows = [[0.1, 0.2, 1.0], [-1.0, 0.5, 0.0], [0.3, 0.3, -1.0], [2.0, -2.0, 0.5]]
    outs = prog.batch(rows, seed=0.25)
    got = [p.grad for p in params]
    model.zero_grad()
    losses = [fn([Value(v) for v in r]) for r in rows]
    (Value.sum(losses) * 0.25).backward()
    assert all(close(a, v.data) for a, v in zip(outs, losses))
    assert all(close(a, p.grad) for a, p in zip(got, params))


@pytest.mark.parametrize("order", ["rows", "columns"])
def test_a_parameter_read_in_a_layer_and_a_penalty_keeps_its_one_name(order):
    # W1's Values, read by the layer (a 2x3 matrix) and by a penalty (a row of six): one name, W1, not
    # two groups (W1 and p1); the layer's gradient is still delta1, and the drawing has one W1 leaf
    model = nn.MLP(2, [3, 1], seed=3)
    W = model.layers[0].weights
    penalised = [w for row in W for w in row] if order == "rows" else [w for col in zip(*W) for w in col]

    def fn(xs):
        return nn.mse_loss(model(xs[:2]), xs[2:]) + Value.sum([w * w for w in penalised]) * 0.01

    prog = autodiff.compile(fn, 3, lift=True)
    read = "W1.reshape(1, 6)" if order == "rows" else "W1.T.reshape(1, 6)"  # numpy's order of a 2x3's entries
    forward = [str(eq) for eq in prog.forward_equations]
    assert "z1 = x[:, 0:2] @ W1 + b1" in forward
    assert f"v1 = {read} * {read}" in forward
    assert "v2 = sum(v1, axis=1)" in forward and "gather" not in str(prog)  # six terms added: one reduction
    backward = [str(eq) for eq in prog.backward_equations]
    assert "dW1 = x[:, 0:2].T @ delta1" in backward and "dv1 = dv2 @ ones(1x6)" in backward
    assert f"d({read}) = dv1 * {read} + dv1 * {read}" in backward  # w * w: both reads' contributions, one equation
    assert len({eq.name for eq in prog.backward_equations}) == len(backward)
    assert not re.search(r"\bp\d", str(prog))
    nodes, edges = drawn(prog.draw(batch=5))
    (leaf,) = [k for k, text in nodes.items() if text == "W1"]
    # the penalty's two reads are one edge pair (tail, head) to the product's op node: 1x6, the layer's 2x3
    assert sorted(label for (tail, _), label in edges.items() if tail == leaf) == ["1x6", "2x3"]
    # and the numbers: the penalty's gradient and the layer's add up in W1, as eager
    rows = [[0.1, 0.2, 1.0], [-1.0, 0.5, 0.0]]
    outs = prog.batch(rows)
    got = [p.grad for p in model.parameters()]
    model.zero_grad()
    losses = [fn([Value(v) for v in r]) for r in rows]
    Value.sum(losses).backward()
    assert all(close(a, v.data) for a, v in zip(outs, losses))
    assert all(close(a, p.grad) for a, p in zip(got, model.parameters()))


def test_a_long_chain_of_additions_folds_into_one_reduction():
    # Python's sum() over many terms is a chain of + nodes, each holding the one before
    w = [Value(0.001 * i) for i in range(3000)]
    prog = autodiff.compile(lambda xs: sum((xs[0] * p).tanh() for p in w), 1, lift=True)
    assert len(prog.forward_equations) == 3  # the products, their tanh, one sum
    assert len(prog.forward_equations[1].nodes[0]) == len(w)
    x = Value(0.7)
    eager = sum((x * p).tanh() for p in w)
    eager.backward()
    assert close(prog([0.7]), eager.data)
    assert close(prog.backward()[0], x.grad)


def test_a_graph_with_nothing_to_lift_runs_as_the_scalar_program():
    a = Value(2.0, label="a")
    prog = autodiff.compile(lambda xs: (xs[0] * a + xs[1]).exp(), 2, lift=True)
    plain = autodiff.compile(lambda xs: (xs[0] * a + xs[1]).exp(), 2)
    assert isinstance(prog, LiftedProgram) and not prog.lifted
    assert str(prog).startswith("nothing to lift")
    assert prog([0.5, 0.25]) == plain([0.5, 0.25])
    assert prog.backward() == plain.backward()
    assert prog.batch([[1.0, 2.0], [0.0, -1.0]]) == plain.batch([[1.0, 2.0], [0.0, -1.0]])


# -- errors name the op and the labels ----------------------------------------------------------------
def layer_then_log():
    # |y| < 2 (tanh units, weights below 1/sqrt(3)): log(y + x[0]) is defined for x[0] >= 2 only
    model = nn.MLP(2, [3, 1], activation="tanh", seed=4)
    return model, lambda xs: (model(xs)[0] + xs[0]).log()


def test_a_domain_error_names_the_op_and_label_as_the_scalar_program_does():
    model, fn = layer_then_log()
    lifted, plain = autodiff.compile(fn, 2, [3.0, 0.0], lift=True), autodiff.compile(fn, 2, [3.0, 0.0])
    assert lifted.lifted
    rows = [[3.0, 0.2], [-3.0, 0.1]]  # the second row is outside log's domain
    with pytest.raises(ValueError) as scalar:
        plain.batch(rows)
    model.zero_grad()
    with pytest.raises(ValueError) as got:
        lifted.batch(rows)
    assert str(got.value) == str(scalar.value)
    assert "log" in str(got.value) and "non-positive" in str(got.value)
    assert all(p.grad == 0.0 for p in model.parameters())  # nothing written before the error


def test_rows_inside_the_domain_are_not_refused():
    model, fn = layer_then_log()
    lifted = autodiff.compile(fn, 2, [3.0, 0.0], lift=True)
    rows = [[3.0, 0.2], [2.5, -0.1]]
    outs = lifted.batch(rows)
    assert all(close(o, fn([Value(v) for v in r]).data) for o, r in zip(outs, rows))


def test_anomaly_mode_names_the_op_and_label():
    w = [Value(300.0, label="w[0]"), Value(400.0, label="w[1]")]

    def fn(xs):
        z = w[0] * xs[0] + w[1] * xs[1]
        z.label = "z"
        growth = z.exp()
        growth.label = "growth"
        return growth

    prog = autodiff.compile(fn, 2, lift=True)
    assert prog.lifted
    assert math.isinf(prog.batch([[2.0, 2.0]])[0])  # outside anomaly mode: inf, as eager
    with autodiff.detect_anomaly():
        with pytest.raises(FloatingPointError) as info:
            prog.batch([[0.0, 0.0], [2.0, 2.0]])
    message = str(info.value)
    assert "'exp'" in message and "'growth'" in message


# -- the program as equations ----------------------------------------------------------------------
def test_the_2_3_2_network_prints_the_seeds_equations_with_shapes():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=0)
    step = nn.compile_step(model, nn.sse_loss, lift=True)
    text = step.program.equations(batch=100)
    lines = [line.strip() for line in text.splitlines()]
    nin, hidden, nout = model.sizes
    expected = [
        ("z1 = x @ W1 + b1", f"(100x{nin}) @ ({nin}x{hidden}) + ({hidden}) = 100x{hidden}"),
        ("h1 = tanh(z1)", f"100x{hidden}"),
        ("y = h1 @ W2 + b2", f"(100x{hidden}) @ ({hidden}x{nout}) + ({nout}) = 100x{nout}"),
        ("dW2 = h1.T @ delta2", f"({hidden}x100) @ (100x{nout}) = {hidden}x{nout}"),
        ("delta1 = (delta2 @ W2.T) * tanh'(z1)", f"100x{hidden}"),
        ("dW1 = x.T @ delta1", f"({nin}x100) @ (100x{hidden}) = {nin}x{hidden}"),
    ]
    for equation, shapes in expected:
        assert equation in lines, equation
        assert lines[lines.index(equation) + 1] == shapes
    # backward comes after forward, and the output layer's gradient before the hidden layer's
    assert lines.index("dW2 = h1.T @ delta2") < lines.index("delta1 = (delta2 @ W2.T) * tanh'(z1)")


def test_each_equation_maps_back_onto_the_scalar_nodes_it_replaced():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=0)
    step = nn.compile_step(model, nn.sse_loss, lift=True)
    prog = step.program
    forward = {eq.name: eq for eq in prog.forward_equations}
    z1 = forward["z1"]
    assert [[v.label for v in row] for row in z1.nodes] == [["z1[0]", "z1[1]", "z1[2]"]]
    products = [v for v in z1.replaced if v.op == "*"]
    weights = {id(w) for row in model.layers[0].weights for w in row}
    assert len(products) == 6 and all(any(id(p) in weights for p in v.parents) for v in products)
    backward = {eq.name: eq for eq in prog.backward_equations}
    assert [[id(v) for v in row] for row in backward["dW2"].nodes] == [[id(w) for w in row] for row in model.layers[1].weights]
    assert "N" in str(prog)  # without a batch size, shapes are written with N


def test_labels_reach_the_equations_printable():
    w = [Value(0.5, label="w\x1b[31m[0]"), Value(-1.0, label="w\x1b[31m[1]")]
    prog = autodiff.compile(lambda xs: (w[0] * xs[0] + w[1] * xs[1]).tanh(), 2, lift=True)
    assert "\x1b" not in str(prog)


# -- training through it ------------------------------------------------------------------------------
def test_compile_step_with_lift_trains_as_the_scalar_step():
    X, Y = nn.moons(50, seed=3)
    T = [[y] for y in Y]
    a = nn.MLP(2, [8, 8, 1], activation="relu", seed=6)
    b = nn.MLP(2, [8, 8, 1], activation="relu", seed=6)
    lifted = nn.compile_step(a, nn.mse_loss, nn.SGD(a.parameters(), lr=0.05), lift=True)
    plain = nn.compile_step(b, nn.mse_loss, nn.SGD(b.parameters(), lr=0.05))
    assert isinstance(lifted.program, LiftedProgram) and lifted.program.lifted
    for _ in range(20):
        assert close(lifted(X, T), plain(X, T), 1e-10)
    assert all(close(p.data, q.data, 1e-10) for p, q in zip(a.parameters(), b.parameters()))


# -- rows, as the scalar program takes them -------------------------------------------------------------
def small_program():
    model = nn.MLP(2, [3, 1], seed=2)
    return model, autodiff.compile(lambda xs: nn.mse_loss(model(xs[:2]), xs[2:]), 3, lift=True)


def test_rows_are_refused_as_the_scalar_program_refuses_them():
    _, prog = small_program()
    with pytest.raises(TypeError, match="row 1, column 2"):
        prog.batch([[0.0, 1.0, 1.0], [0.0, 1.0, True]])
    with pytest.raises(ValueError, match="row 0"):
        prog.batch([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"shape \(samples, 3\)"):
        prog.batch(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="real numbers"):
        prog.batch(np.array([["a", "b", "c"]]))


def test_numpy_rows_ints_and_empty_batches():
    model, prog = small_program()
    rows = [[0.5, -1.0, 1.0], [1.5, 0.5, 0.0]]
    from_lists = prog.batch(rows)
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    assert prog.batch(np.array(rows)) == from_lists
    assert [p.grad for p in model.parameters()] == grads
    model.zero_grad()
    assert prog.batch([[1, 2, 0]]) == prog.batch([[1.0, 2.0, 0.0]])  # ints computed as floats
    model.zero_grad()
    assert prog.batch([]) == [] and all(p.grad == 0.0 for p in model.parameters())


def test_the_generated_code_is_numpy_over_arrays():
    _, prog = small_program()
    source = prog.source("lifted batch")
    assert "@" in source and "def batch(X, th, B, seed):" in source
    with pytest.raises(ValueError, match="lifted forward"):
        prog.source("lifted everything")


# -- carried on in PyTorch --------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes, activation", [([3, 2], "tanh"), ([16, 16, 1], "relu"), ([4, 3], "sigmoid")])
def test_to_torch_computes_the_same_numbers_and_torch_backward_the_eager_gradients(sizes, activation):
    import torch  # the test extra installs it
    X, Y = nn.moons(20, seed=4)
    T = [[y] * sizes[-1] for y in Y]
    model = nn.MLP(2, sizes, activation=activation, seed=2)
    want_losses, want_grads = eager_step(model, X, T)
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:2]), xs[2:]), 2 + sizes[-1], lift=True)
    module = prog.to_torch()
    rows = torch.tensor([list(x) + t for x, t in zip(X, T)], dtype=torch.float64)
    out = module(rows)
    assert out.shape == (len(X), 1)
    assert all(close(a, b) for a, b in zip(out[:, 0].tolist(), want_losses))
    out[:, 0].mean().backward()
    grads = {id(v): g for v, g in zip(module.values, module.theta.grad.tolist())}
    assert all(close(grads[id(p)], w) for p, w in zip(model.parameters(), want_grads))


def test_to_torch_keeps_shared_parameters_shared_and_writes_back():
    import torch
    model = nn.MLP(2, [4, 1], seed=3)
    params = model.parameters()

    def fn(xs):  # every parameter read twice: in the layer and in the penalty
        return nn.mse_loss(model(xs[:2]), xs[2:]) + Value.sum([p * p for p in params]) * 0.01

    prog = autodiff.compile(fn, 3, lift=True)
    module = prog.to_torch()
    assert len(module.values) == len(params)
    rows = [[0.1, 0.2, 1.0], [-1.0, 0.5, 0.0]]
    module(torch.tensor(rows, dtype=torch.float64))[:, 0].sum().backward()
    losses = [fn([Value(v) for v in r]) for r in rows]
    Value.sum(losses).backward()
    grads = {id(v): g for v, g in zip(module.values, module.theta.grad.tolist())}
    assert all(close(grads[id(p)], p.grad) for p in params)
    with torch.no_grad():
        module.theta -= 0.1 * module.theta.grad
    module.write_back()
    assert all(close(p.data, t) for p, t in zip(module.values, module.theta.tolist()))
    with pytest.raises(ValueError, match=r"shape \(samples, 3\)"):
        module(torch.zeros(2, 2, dtype=torch.float64))


# -- the lifted program drawn ---------------------------------------------------------------------------
SVG = "{http://www.w3.org/2000/svg}"


def drawn(graph):
    """The SVG of ``graph`` read back with xml.etree: each node's id -> its text, and each edge's
    (tail id, head id) -> its label (the ids are Graphviz's node names, written in each <title>)."""
    root = ET.fromstring(graph.svg())
    nodes, edges = {}, {}
    for g in root.iter(f"{SVG}g"):
        title = g.findtext(f"{SVG}title")
        text = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        if g.get("class") == "node":
            nodes[title] = text
        elif g.get("class") == "edge":
            tail, head = title.split("->")
            edges[(tail, head)] = text
    return nodes, edges


def shapes_stated(equation, batch):
    """The shapes an equation's printed shape line states: ``(100x2) @ (2x3) + (3) = 100x3`` -> 100x2, 2x3, 3,
    100x3 (``Nx2`` when ``batch`` is None)."""
    return re.findall(r"[\dN]+x\d+|(?<=\()\d+(?=\))", equation.shapes(batch))


def test_the_lifted_2_3_2_draws_every_shape_its_equations_state_on_an_edge():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=0)
    prog = nn.compile_step(model, nn.sse_loss, lift=True).program
    nodes, edges = drawn(prog.draw(batch=100))
    labels = set(edges.values())
    stated = {s for eq in prog.forward_equations for s in shapes_stated(eq, 100)}
    assert stated and stated <= labels, stated - labels
    # each equation's result leaves its op node on an edge labelled with the result's shape
    by_text = {}
    for node, text in nodes.items():
        by_text.setdefault(text, []).append(node)
    for eq in prog.forward_equations:
        (array,) = by_text[eq.name]
        into = [label for (tail, head), label in edges.items() if head == array]
        assert into == [eq.shapes(100).split(" = ")[-1]], eq
    # without a batch size the rows are N, as the printed equations write them
    _, edges_n = drawn(prog.draw())
    stated_n = {s for eq in prog.forward_equations for s in shapes_stated(eq, None)}
    assert "Nx2" in stated_n and stated_n <= set(edges_n.values()), stated_n - set(edges_n.values())


def test_each_parameter_of_the_lifted_2_3_2_is_one_leaf_with_its_shape():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=0)
    prog = nn.compile_step(model, nn.sse_loss, lift=True).program
    nodes, edges = drawn(prog.draw(batch=10))
    texts = list(nodes.values())
    for n, layer in enumerate(model.layers, start=1):
        rows, cols = len(layer.weights), len(layer.weights[0])  # the model's own sizes: the oracle
        for name, shape in ((f"W{n}", f"{rows}x{cols}"), (f"b{n}", f"{cols}")):
            assert texts.count(name) == 1, name
            node = next(k for k, t in nodes.items() if t == name)
            assert [label for (tail, _), label in edges.items() if tail == node] == [shape], name
            assert not any(head == node for _, head in edges), name  # drawn like a leaf: nothing feeds it


def test_a_hostile_label_on_a_parameter_stays_text_in_the_lifted_drawing():
    hostile = 'w</text><script>alert("x")</script>&amp;\\n'
    w = [Value(0.5, label=hostile + "[0]"), Value(-1.5, label=hostile + "[1]")]
    prog = autodiff.compile(lambda xs: (w[0] * xs[0] + w[1] * xs[1]).tanh(), 2, lift=True)
    graph = prog.draw(batch=3, backward=True)
    nodes, edges = drawn(graph)  # parses: the label made no markup
    assert list(nodes.values()).count(hostile) == 1
    assert f"d({hostile})" in nodes.values()  # its gradient's name, in the backward cluster
    assert not list(ET.fromstring(graph.svg()).iter(f"{SVG}script"))
    assert {"3x2", "2x1", "3x1"} <= set(edges.values())


def test_lifted_draw_refuses_bad_options_and_a_program_with_nothing_lifted_draws_its_scalar_graph():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=0)
    prog = nn.compile_step(model, nn.sse_loss, lift=True).program
    with pytest.raises(TypeError, match="show_grad"):
        prog.draw(show_grad=False)
    for bad in (0, -1, 2.5, True, "100"):
        with pytest.raises(ValueError, match="batch must be a positive int"):
            prog.draw(batch=bad)
    with pytest.raises(ValueError, match="rankdir"):
        prog.draw(rankdir="up")
    a = Value(2.0, label="a")
    plain = autodiff.compile(lambda xs: (xs[0] * a + xs[1]).exp(), 2, lift=True)
    assert not plain.lifted
    nodes, _ = drawn(plain.draw(show_grad=False))
    assert any(text.startswith("a ") or text == "a" for text in nodes.values())
    assert "exp" in nodes.values()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs, st.integers(1, 4), st.integers(1, 50))
def test_random_graphs_lifted_in_part_draw_each_equation_once_with_its_shape(program, width, batch):
    W = [[Value(0.1 * (i - j), label=f"W[{i}][{j}]") for j in range(width)] for i in range(3)]
    b = [Value(0.2 * j, label=f"b[{j}]") for j in range(width)]

    def fn(xs):
        h = [Value.sum([*(W[i][j] * xs[i] for i in range(3)), b[j]]).tanh() for j in range(width)]
        return build(program, (h * 3)[:3])

    prog = autodiff.compile(fn, 3, lift=True)
    nodes, edges = drawn(prog.draw(batch=batch, backward=True))
    texts = list(nodes.values())
    assert texts.count("W") == 1 and texts.count("b") == 1
    fed = {head for _, head in edges}
    # the drawing's documented node names: f{k} for forward equation k, b{k} for backward equation k
    numbered = [*((f"f{k}", eq) for k, eq in enumerate(prog.forward_equations)),
                *((f"b{k}", eq) for k, eq in enumerate(prog.backward_equations))]
    for array, eq in numbered:
        assert nodes[array] == eq.name
        into = [(tail, label) for (tail, head), label in edges.items() if head == array]
        assert [label for _, label in into] == [re.split(r" = | -> ", eq.shapes(batch))[-1].strip("()")], eq
        assert into[0][0] in fed or eq.formula == "seed", eq  # its op node has operands drawn


def test_the_lifted_2_3_2_draws_backward_as_the_textbook_writes_it():
    model = nn.MLP(2, [3, 2], activation="tanh", seed=0)
    prog = nn.compile_step(model, nn.sse_loss, lift=True).program
    nodes, edges = drawn(prog.draw(batch=100, backward=True))
    node = {text: k for k, text in nodes.items()}
    names = [eq.name for eq in prog.forward_equations + prog.backward_equations] + ["x", "W1", "b1", "W2", "b2"]
    assert [list(nodes.values()).count(name) for name in names] == [1] * len(names)  # every name drawn once
    nin, hidden, nout = model.sizes

    def feeds(name):  # the op node computing ``name`` -> {operand's name: the shape on its edge}
        (op,) = [tail for tail, head in edges if head == node[name]]
        return op, {nodes[tail]: label for (tail, head), label in edges.items() if head == op}

    # the seed's answer, by hand: dW2 = h1.T @ delta2, delta1 = (delta2 @ W2.T) * tanh'(z1), dW1 = x.T @ delta1
    textbook = {
        "dW2": ({"h1": f"100x{hidden}", "delta2": f"100x{nout}"}, f"{hidden}x{nout}"),
        "db2": ({"delta2": f"100x{nout}"}, f"{nout}"),
        "delta1": ({"delta2": f"100x{nout}", "W2": f"{hidden}x{nout}", "z1": f"100x{hidden}"}, f"100x{hidden}"),
        "dW1": ({"x": f"100x{nin}", "delta1": f"100x{hidden}"}, f"{nin}x{hidden}"),
        "db1": ({"delta1": f"100x{hidden}"}, f"{hidden}"),
    }
    for name, (operands, result) in textbook.items():
        op, got = feeds(name)
        assert got == operands, name
        assert edges[(op, node[name])] == result, name
    # and every backward equation's result carries the shape its printed shapes end with
    for eq in prog.backward_equations:
        op, _ = feeds(eq.name)
        assert edges[(op, node[eq.name])] == re.split(r" = | -> ", eq.shapes(100))[-1].strip("()"), eq
    with pytest.raises(TypeError, match="backward must be True or False"):
        prog.draw(backward="yes")


# -- carried on in JAX ----------------------------------------------------------------------------------
# JAX computes in float32 unless its 64-bit mode is on: these tests turn it on for their own block
# only (jax.enable_x64, a context), so nothing else in the process runs with it. JAX compiles every op
# (without jit) or function (with it) for each new shape: the random tests run three rows each and
# few examples, to keep the suite's time.
# jax 0.10 needs Python 3.11: on 3.10 the test extra does not install it (pyproject.toml), so
# these skip there. CI runs 3.11 and fails on any skip.
needs_jax = pytest.mark.skipif(sys.version_info < (3, 11), reason="needs jax 0.10.2, which needs Python >= 3.11")


@pytest.fixture
def jax64():
    import jax  # the test extra installs it
    with jax.enable_x64(True):
        yield jax


def jax_loss_and_grads(jax, fn, rows, jit, seed=None):
    """The mean of the first output over the rows, and JAX's gradients of it with respect to the
    parameters and to the rows (jax.value_and_grad, jit-compiled or not)."""
    def mean(theta, X):
        return fn(theta, X)[:, 0].mean()

    run = jax.value_and_grad(mean, argnums=(0, 1))
    if jit:
        run = jax.jit(run)
    X = jax.numpy.asarray(rows, dtype=jax.numpy.float64)
    return run(fn.theta, X)


@needs_jax
@pytest.mark.parametrize("jit", [False, True], ids=["eager jax", "jax.jit"])
@pytest.mark.parametrize("sizes, activation", [n[1:] for n in NETWORKS], ids=[n[0] for n in NETWORKS])
def test_to_jax_computes_the_same_numbers_and_jax_grad_the_eager_gradients(jax64, sizes, activation, jit):
    X, Y = nn.moons(100 if sizes[0] == 16 else 20, seed=4)
    T = [[y] * sizes[-1] for y in Y]
    model = nn.MLP(2, sizes, activation=activation, seed=2)
    want_losses, want_grads = eager_step(model, X, T)
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:2]), xs[2:]), 2 + sizes[-1], lift=True)
    fn = prog.to_jax()
    rows = [list(x) + t for x, t in zip(X, T)]
    out = (jax64.jit(fn) if jit else fn)(fn.theta, jax64.numpy.asarray(rows))
    assert out.shape == (len(X), 1) and out.dtype == jax64.numpy.float64
    assert all(close(a, b) for a, b in zip(out[:, 0].tolist(), want_losses))
    loss, (dtheta, _) = jax_loss_and_grads(jax64, fn, rows, jit)
    assert close(float(loss), sum(want_losses) / len(X))
    grads = {id(v): g for v, g in zip(fn.values, dtheta.tolist())}
    assert len(grads) == len(want_grads)
    assert all(close(grads[id(p)], w) for p, w in zip(model.parameters(), want_grads))


@needs_jax
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.sampled_from(["tanh", "relu", "sigmoid", "linear"]),
       st.integers(1, 9), st.integers(0, 10**6), st.booleans())
def test_to_jax_on_random_mlps_gives_the_eager_losses_and_gradients(hidden, activation, batch, seed, jit):
    import jax
    rng = random.Random(seed)
    nin, nout = rng.randint(1, 4), rng.randint(1, 3)
    model = nn.MLP(nin, hidden + [nout], activation=activation, seed=seed)
    X = [[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(batch)]
    T = [[rng.uniform(-1, 1) for _ in range(nout)] for _ in range(batch)]
    want_losses, want_grads = eager_step(model, X, T)
    prog = autodiff.compile(lambda xs: nn.mse_loss(model(xs[:nin]), xs[nin:]), nin + nout, lift=True)
    if not prog.lifted:  # a 1-1-1 network: no matrix, nothing to carry
        with pytest.raises(ValueError, match="nothing in this graph was lifted"):
            prog.to_jax()
        return
    with jax.enable_x64(True):
        fn = prog.to_jax()
        rows = [x + t for x, t in zip(X, T)]
        out = (jax.jit(fn) if jit else fn)(fn.theta, jax.numpy.asarray(rows))
        loss, (dtheta, _) = jax_loss_and_grads(jax, fn, rows, jit)
    assert all(close(a, b) for a, b in zip(out[:, 0].tolist(), want_losses))
    assert close(float(loss), sum(want_losses) / batch)
    grads = {id(v): g for v, g in zip(fn.values, dtheta.tolist())}
    assert all(close(grads[id(p)], w) for p, w in zip(model.parameters(), want_grads))


@needs_jax
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs, st.integers(1, 4), st.integers(0, 10**6),
       st.lists(st.lists(st.floats(-2, 2), min_size=3, max_size=3), min_size=3, max_size=3), st.booleans())
def test_to_jax_on_random_graphs_that_lift_in_part_gives_the_eager_gradients(program, width, seed, rows, jit):
    # a layer (lifted) feeding random scalar ops of every rule (mostly not lifted): JAX differentiates
    # the whole forward code, the lifted arrays and the scalar columns alike
    import jax
    params, fn, prog = layer_feeding(program, width, seed)
    assert prog.lifted
    with jax.enable_x64(True):
        f = prog.to_jax()
        loss, (dtheta, drows) = jax_loss_and_grads(jax, f, rows, jit)
    leaves = [[Value(x) for x in xs] for xs in rows]
    losses = [fn(xs) for xs in leaves]
    (Value.sum(losses) * (1.0 / len(rows))).backward()
    assert close(float(loss), sum(v.data for v in losses) / len(rows))
    grads = {id(v): g for v, g in zip(f.values, dtheta.tolist())}
    assert set(grads) <= {id(p) for p in params}
    assert all(close(grads.get(id(p), 0.0), p.grad) for p in params)  # a weight the output never reads: 0
    assert all(close(a, v.grad) for row, got in zip(leaves, drows.tolist()) for a, v in zip(got, row))


@needs_jax
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs, st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.lists(st.lists(st.floats(-2, 2), min_size=3, max_size=3), min_size=3, max_size=3), st.booleans())
def test_to_jax_on_random_graphs_of_inputs_gives_the_eager_input_gradients(program, trace_at, rows, jit):
    # every op of the rule table, no parameters: what lifts (sums with constant weights, ...) is
    # carried to JAX with what stays scalar; a graph with nothing lifted is refused, as by to_torch
    import jax
    prog = autodiff.compile(lambda xs: build(program, xs), 3, example=trace_at, lift=True)
    if not prog.lifted:
        with pytest.raises(ValueError, match="nothing in this graph was lifted: there are no equations to carry to JAX"):
            prog.to_jax()
        return
    with jax.enable_x64(True):
        f = prog.to_jax()
        assert f.theta.shape == (0,)
        out = (jax.jit(f) if jit else f)(f.theta, jax.numpy.asarray(rows))
        _, (_, drows) = jax_loss_and_grads(jax, f, rows, jit)
    for xs, y, got in zip(rows, out[:, 0].tolist(), drows.tolist()):
        leaves = [Value(x) for x in xs]
        eager = build(program, leaves)
        eager.backward()
        assert close(y, eager.data)
        assert all(close(a * len(rows), v.grad) for a, v in zip(got, leaves))  # the mean's gradient, per row


@needs_jax
def test_to_jax_carries_a_batch_traced_as_one_graph_with_its_gathered_inputs(jax64):
    # the rows of such a program are gathered out of one long sample: JAX writes them functionally
    model = nn.MLP(2, [3, 2], seed=0)
    X, Y = nn.moons(8, seed=1)
    n = len(X)

    def batch_loss(xs):
        losses = [nn.mse_loss(model(xs[4 * s:4 * s + 2]), xs[4 * s + 2:4 * s + 4]) for s in range(n)]
        return sum(losses) * (1.0 / n)

    prog = autodiff.compile(batch_loss, 4 * n, lift=True)
    assert "gather(x)" in str(prog)
    flat = [v for x, y in zip(X, Y) for v in (*x, y, -y)]
    eager = batch_loss([Value(v) for v in flat])
    model.zero_grad()
    eager.backward()
    fn = prog.to_jax()
    for jit in (False, True):
        loss, (dtheta, _) = jax_loss_and_grads(jax64, fn, [flat], jit)
        assert close(float(loss), eager.data)
        grads = {id(v): g for v, g in zip(fn.values, dtheta.tolist())}
        assert all(close(grads[id(p)], p.grad) for p in model.parameters())


@needs_jax
def test_to_jax_keeps_shared_parameters_shared_and_writes_back(jax64):
    model = nn.MLP(2, [4, 1], seed=3)
    params = model.parameters()

    def fn(xs):  # every parameter read twice: in the layer and in the penalty
        return nn.mse_loss(model(xs[:2]), xs[2:]) + Value.sum([p * p for p in params]) * 0.01

    prog = autodiff.compile(fn, 3, lift=True)
    f = prog.to_jax()
    assert len(f.values) == len(params) and {id(v) for v in f.values} == {id(p) for p in params}
    rows = [[0.1, 0.2, 1.0], [-1.0, 0.5, 0.0]]
    dtheta = jax64.grad(lambda theta: f(theta, jax64.numpy.asarray(rows))[:, 0].sum())(f.theta)
    losses = [fn([Value(v) for v in r]) for r in rows]
    Value.sum(losses).backward()
    grads = {id(v): g for v, g in zip(f.values, dtheta.tolist())}
    assert all(close(grads[id(p)], p.grad) for p in params)
    stepped = f.theta - 0.1 * dtheta
    f.write_back(stepped)
    assert all(p.data == t for p, t in zip(f.values, stepped.tolist()))
    # the function reads theta, not the Values: the stepped vector gives the stepped model's loss
    stepped_losses = [fn([Value(v) for v in r]).data for r in rows]
    assert all(close(a, b) for a, b in zip(f(stepped, jax64.numpy.asarray(rows))[:, 0].tolist(), stepped_losses))
    with pytest.raises(ValueError, match=r"theta must be a vector of the 17 parameters"):
        f.write_back([1.0, 2.0])


@needs_jax
def test_to_jax_refuses_bad_input_clearly(jax64):
    jnp = jax64.numpy
    _, prog = small_program()
    fn = prog.to_jax()
    rows = jnp.zeros((4, 3))
    assert fn(fn.theta, rows).shape == (4, 1)
    with pytest.raises(ValueError, match=r"rows must be an array of shape \(samples, 3\), not \(4, 2\)"):
        fn(fn.theta, jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"rows must be an array of shape \(samples, 3\), not \(3,\)"):
        jax64.jit(fn)(fn.theta, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"theta must be a vector of the 13 parameters \(shape \(13,\)\), not shape \(12,\)"):
        fn(fn.theta[:12], rows)
    with pytest.raises(TypeError, match="rows must be float64, as this engine computes, not float32"):
        fn(fn.theta, rows.astype(jnp.float32))
    with pytest.raises(TypeError, match="theta must be float64, as this engine computes, not int64"):
        jax64.jit(fn)(jnp.zeros(13, dtype=jnp.int64), rows)
    a = Value(2.0, label="a")
    plain = autodiff.compile(lambda xs: (xs[0] * a + xs[1]).exp(), 2, lift=True)
    with pytest.raises(ValueError, match="nothing in this graph was lifted"):
        plain.to_jax()


@needs_jax
def test_to_jax_refuses_to_compute_in_float32(jax64):
    _, prog = small_program()
    fn = prog.to_jax()  # made with 64-bit mode on ...
    with jax64.enable_x64(False):
        with pytest.raises(RuntimeError, match=r"float32 unless its 64-bit mode is on: call jax.config.update\('jax_enable_x64', True\)"):
            prog.to_jax()
        # ... and called without it: refused before any number is made, jit-compiled or not
        with pytest.raises(RuntimeError, match="jax_enable_x64"):
            fn(fn.theta, [[0.0, 1.0, 1.0]])
        with pytest.raises(RuntimeError, match="jax_enable_x64"):
            jax64.jit(fn)(fn.theta, [[0.0, 1.0, 1.0]])


def test_to_jax_without_jax_names_the_package(monkeypatch):
    import sys
    _, prog = small_program()
    monkeypatch.setitem(sys.modules, "jax", None)  # what `import jax` meets when it is not installed
    with pytest.raises(ImportError, match=r"needs JAX: install the package jax"):
        prog.to_jax()


@needs_jax
def test_to_jax_domain_errors_raise_where_values_are_known_and_are_jax_numbers_under_jit(jax64):
    model, fn = layer_then_log()
    prog = autodiff.compile(fn, 2, [3.0, 0.0], lift=True)
    f = prog.to_jax()
    rows = jax64.numpy.asarray([[3.0, 0.2], [-3.0, 0.1]])  # the second row is outside log's domain
    with pytest.raises(ValueError, match="outside an op's domain"):
        f(f.theta, rows)
    with pytest.raises(ValueError, match="outside an op's domain"):
        jax64.grad(lambda theta: f(theta, rows).sum())(f.theta)
    out = jax64.jit(f)(f.theta, rows)[:, 0].tolist()  # traced without values: what jax.numpy makes
    assert close(out[0], fn([Value(3.0), Value(0.2)]).data)
    assert math.isnan(out[1])
