"""Compiled replay at its edges: long chains, wide sums, odd batch rows, closed gates, and rows of the
rule table spelled in other ways. Every number is checked against the eager engine."""

from __future__ import annotations

import ast
import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff
from autodiff import Value
from autodiff.compile import MAX_INLINE_DEPTH
from autodiff.ops import RULES


def rel_close(a: float, b: float, rel: float = 1e-12) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def nesting(source: str) -> int:
    """How deep the deepest expression of ``source`` nests, by Python's own parser."""

    def depth(node: ast.AST) -> int:
        inner = [depth(child) for child in ast.iter_child_nodes(node)]
        return (isinstance(node, ast.expr)) + max(inner, default=0)

    return max(depth(statement) for statement in ast.walk(ast.parse(source)) if isinstance(statement, ast.stmt)
               and not isinstance(statement, (ast.FunctionDef, ast.For)))


def chain(xs: list[Value], w: Value, repeats: int) -> Value:
    v = xs[0]
    for _ in range(repeats):
        v = v * 0.999 + w
    return v


@pytest.mark.parametrize("repeats", [1000])
def test_a_long_chain_of_single_use_values_runs_in_batch_as_eager(repeats):
    w = Value(0.5, label="w")
    prog = autodiff.compile(lambda xs: chain(xs, w, repeats), 1)
    rows = [[1.0], [-2.0], [0.25]]
    outs = prog.batch(rows, seed=0.5)  # Python refused the generated loop: "too many nested parentheses"
    batch_grad = w.grad
    w.grad = 0.0
    eager_grad = 0.0
    for row, out in zip(rows, outs):
        x = Value(row[0], label="x")
        eager = chain([x], w, repeats)
        assert rel_close(out, eager.data)
        eager.backward()
        eager_grad += 0.5 * w.grad  # batch adds seed * d out/d w, summed over the rows
        w.grad = 0.0
        assert rel_close(prog(row), eager.data)  # forward and backward alone agree too
        assert rel_close(prog.backward()[0], x.grad)
        w.grad = 0.0
    assert rel_close(batch_grad, eager_grad)
    # by hand: d out/d w = sum of 0.999**i for i < repeats, whatever the input
    assert rel_close(batch_grad, 0.5 * 3 * (1 - 0.999**repeats) / (1 - 0.999), 1e-9)


def test_generated_expressions_nest_no_deeper_for_a_longer_chain():
    w = Value(0.5, label="w")
    depths = {}
    for repeats in (20, 200, 2000):
        prog = autodiff.compile(lambda xs: chain(xs, w, repeats), 1)
        depths[repeats] = max(nesting(prog.source(kind)) for kind in ("forward", "backward", "batch"))
    assert depths[20] == depths[200] == depths[2000] <= 2 * MAX_INLINE_DEPTH + 4


def test_a_wide_sum_compiles_and_adds_left_to_right_as_eager():
    n = 5000  # one sum node of n operands: Python could not compile it as one expression
    terms = [0.1 * (k % 7) - 0.3 for k in range(n)]
    prog = autodiff.compile(lambda xs: Value.sum([xs[0] * t for t in terms] + [xs[1]]).tanh(), 2, example=[0.01, 0.5])
    x = [Value(0.01, label="a"), Value(0.5, label="b")]
    eager = Value.sum([x[0] * t for t in terms] + [x[1]]).tanh()
    eager.backward()
    assert prog([0.01, 0.5]) == eager.data
    assert prog.backward() == [x[0].grad, x[1].grad]
    assert prog.batch([[0.01, 0.5]]) == [eager.data]
    assert max(nesting(prog.source(kind)) for kind in ("forward", "backward", "batch")) < 100


def test_batch_refuses_bools_and_text_naming_row_and_column_as_a_single_call_does():
    prog = autodiff.compile(lambda xs: xs[0] * xs[1], 2)
    with pytest.raises(TypeError) as single:
        prog([1.0, True])
    with pytest.raises(TypeError) as batch:
        prog.batch([[1.0, 2.0], [1.0, True]])
    assert "row 1, column 1" in str(batch.value)
    said = "must be a real number (int or float), not bool: True"
    assert said in str(single.value) and said in str(batch.value)
    with pytest.raises(TypeError, match="row 0, column 0 must be a real number .* not str"):
        prog.batch([["1", 2.0]])
    with pytest.raises(TypeError, match="row 2: this program takes a list of 2 numbers, not float"):
        prog.batch([[1.0, 2.0], [3.0, 4.0], 5.0])
    with pytest.raises(ValueError, match="row 1: this program was traced with 2 inputs"):
        prog.batch([[1.0, 2.0], [1.0]])


def test_batch_computes_in_floats_whatever_numbers_the_rows_hold():
    prog = autodiff.compile(lambda xs: xs[0] * xs[1], 2)
    big = 2**53 + 1  # an int a float cannot hold: int arithmetic would give another product
    out = prog.batch([[big, 3], (2, 0.5)])
    assert out == [float(big) * 3.0, 1.0] and all(type(o) is float for o in out)
    assert out[0] == prog([big, 3])
    assert prog.batch(iter([[2.0, 3.0]])) == [6.0]  # any iterable of rows, read once


def relu_sqrt(xs: list[Value]) -> Value:
    # relu(x) ** 0.5 at x < 0: the square root's slope at 0 is infinite, and meets a closed gate
    return xs[0].relu() ** 0.5 + xs[0] * xs[1]


def test_a_closed_gate_sends_nothing_back_even_an_infinite_gradient():
    prog = autodiff.compile(relu_sqrt, 2)
    x = [Value(-1.0, label="a"), Value(3.0, label="b")]
    eager = relu_sqrt(x)
    eager.backward()
    # as in PyTorch, nothing flows back through the closed relu (0 * inf would be nan); by hand,
    # the other path, x[0] * x[1], sends x[1] = 3
    assert x[0].grad == 3.0 and prog([-1.0, 3.0]) == eager.data == 1.0 * -3.0
    assert prog.backward()[0] == 3.0
    assert "0.0) *" not in prog.source("backward") and "0.0 *" not in prog.source("batch")
    w = Value(-1.0, label="w")
    param = autodiff.compile(lambda xs: relu_sqrt([w, xs[0]]), 1)
    param.batch([[3.0], [3.0]])
    assert w.grad == 6.0


def respell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swap in rows of the rule table that compute the same numbers, written otherwise (the eager
    engine keeps the table's own): a compiler that reads the rows' fields cannot tell."""
    relu, plus, tanh = RULES["relu"], RULES["+"], RULES["tanh"]
    monkeypatch.setitem(RULES, "relu", dataclasses.replace(relu, local_text=("float({a} > 0)",)))
    monkeypatch.setitem(RULES, "+", dataclasses.replace(plus, local_text=("1", "1")))
    monkeypatch.setitem(RULES, "tanh", dataclasses.replace(tanh, value_text="tanh(({a}))"))


def same(a: float, b: float) -> bool:
    return rel_close(a, b) or (math.isnan(a) and math.isnan(b))


def test_rows_spelled_otherwise_compile_to_the_same_program(monkeypatch):
    w = Value(0.3, label="w")

    def fn(xs: list[Value]) -> Value:
        return ((xs[0] * w + xs[1]).relu() ** 0.5 + (xs[0] + w).tanh()).tanh()

    def statements(prog: autodiff.Program) -> list[int]:
        return [len(prog.source(kind).splitlines()) for kind in ("forward", "backward", "batch")]

    table = statements(autodiff.compile(fn, 2, example=[2.0, 1.0]))
    respell(monkeypatch)
    prog = autodiff.compile(fn, 2, example=[2.0, 1.0])
    # the gate, the constant slopes and the operand tanh reads once (inlined), all found by field
    assert statements(prog) == table
    assert "float(" not in prog.source("backward") and "(1) *" not in prog.source("backward")
    for xs in ([-1.0, 0.1], [2.0, 1.0], [0.5, -0.25]):
        leaves = [Value(x) for x in xs]
        eager = fn(leaves)
        eager.backward()
        want_w = w.grad
        w.grad = 0.0
        assert prog(xs) == eager.data
        got = prog.backward()
        assert same(got[0], leaves[0].grad) and same(got[1], leaves[1].grad) and same(w.grad, want_w)
        assert not math.isnan(got[0])  # a closed gate passed nothing, not 0 * inf
        w.grad = 0.0


def test_program_draws_its_outputs_with_draws_options():
    w = Value(0.5, label="w")
    prog = autodiff.compile(lambda xs: [(xs[0] * w).tanh(), xs[0] + xs[1]], 2)
    dot = prog.draw(rankdir="TB").source
    assert "rankdir=TB" in dot.replace(" ", "").replace('"', "")
    assert all(label in dot for label in ("x[0]", "x[1]", "w", "tanh"))
    with pytest.raises(TypeError):
        prog.draw(no_such_option=True)


# Random chains of single-use values: each step consumes the previous value once, so the batch
# loop inlines them as deep as it may. Every op of the table appears; values stay in range.
STEPS = {
    "mul": lambda v, w: v * 0.999,
    "add": lambda v, w: v + w,
    "sub": lambda v, w: w - v,
    "div": lambda v, w: v / 1.5,
    "neg": lambda v, w: -v,
    "tanh": lambda v, w: v.tanh(),
    "sigmoid": lambda v, w: v.sigmoid() - 0.5,
    "relu": lambda v, w: v.relu() + v * 0.5,
    "exp": lambda v, w: (v.tanh()).exp(),
    "log": lambda v, w: (v * v + 1).log(),
    "square": lambda v, w: v.tanh() ** 2,
    "pow": lambda v, w: (v.sigmoid() + 0.5) ** w,
    "sum": lambda v, w: Value.sum([v, w, v * 0.5]),
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=12), st.integers(1, 60),
       st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_random_chains_replay_in_batch_as_eager(steps, repeats, xs):
    w = Value(0.7, label="w")

    def fn(inputs: list[Value]) -> Value:
        v = inputs[0]
        for s in steps * repeats:
            v = STEPS[s](v, w)
        return v

    prog = autodiff.compile(fn, 1)
    outs = prog.batch([[x] for x in xs])
    got = w.grad
    w.grad = 0.0
    want = 0.0
    for x, out in zip(xs, outs):
        eager = fn([Value(x)])
        assert out == eager.data
        eager.backward()
        want += w.grad
        w.grad = 0.0
    assert rel_close(got, want, 1e-12) or abs(got - want) < 1e-300
