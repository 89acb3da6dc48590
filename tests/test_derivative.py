"""autodiff.derivative: the engine's derivative written as a formula, and a learner's checked factor by factor.

Oracles: central finite differences of the formula (computed with math, not the engine), and
derivatives worked out by hand.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autodiff
from autodiff.derivative import MAX_PATHS, check_derivative, derivative_formula
from autodiff.expr import ExprError, build_expression, input_names, parse_expression

MATH = {"tanh": math.tanh, "exp": math.exp, "log": math.log, "sigmoid": lambda v: 1 / (1 + math.exp(-v))}


def value(text: str, point: dict[str, float]) -> float:
    """``text`` evaluated by the engine at ``point`` (only the names it uses)."""
    root, _ = build_expression(text, {n: point[n] for n in input_names(parse_expression(text))})
    return root.data


def slope(f, point: dict[str, float], wrt: str, h: float = 1e-6) -> float:
    """Central finite difference of the plain-Python function ``f``."""
    up, down = dict(point), dict(point)
    up[wrt] += h
    down[wrt] -= h
    return (f(**up) - f(**down)) / (2 * h)


# -- derivative_formula ---------------------------------------------------------------------
@pytest.mark.parametrize("text, wrt, expected", [
    ("tanh(a*b + c)", "a", "(1 - tanh(a * b + c) ** 2) * b"),  # by hand: tanh' = 1 - tanh^2, d(ab)/da = b
    ("a*a + a", "a", "2 * a + 1"),
    ("a**3", "a", "3 * a ** 2"),
    ("a - b", "b", "-1"),
    ("a", "a", "1"),
    ("sigmoid(w*x + b)", "w", "sigmoid(w * x + b) * (1 - sigmoid(w * x + b)) * x"),
    ("2**a", "a", "2 ** a * log(2)"),
    ("exp(-a*a)", "a", "-2 * exp(-a ** 2) * a"),
    ("relu(a*b)", "a", "(1 if a * b > 0 else 0) * b"),
])
def test_the_formula_reads_as_worked_out_by_hand(text, wrt, expected):
    assert derivative_formula(text, wrt) == expected


@pytest.mark.parametrize("text, wrt, f", [
    ("tanh(a*b + c)", "a", lambda a, b, c: math.tanh(a * b + c)),
    ("log(x) / y", "y", lambda x, y: math.log(x) / y),
    ("(a + b) * (a - b)", "a", lambda a, b: (a + b) * (a - b)),
    ("tanh(tanh(a)) * a", "a", lambda a: math.tanh(math.tanh(a)) * a),
    ("a**0.5 + 1/a", "a", lambda a: a**0.5 + 1 / a),
    ("exp(a*b) / (1 + a*a)", "b", lambda a, b: math.exp(a * b) / (1 + a * a)),
])
def test_the_formula_equals_finite_differences(text, wrt, f):
    formula = derivative_formula(text, wrt)
    rng = random.Random(7)
    names = input_names(parse_expression(text))
    for _ in range(5):
        point = {n: rng.uniform(0.3, 1.5) for n in names}
        assert math.isclose(value(formula, point), slope(f, point, wrt), rel_tol=1e-6, abs_tol=1e-8), (formula, point)


LEAVES = st.sampled_from(["a", "b", "c", "0.5", "2"])


def formulas(depth: int = 3):
    """Random formulas over a, b, c without relu or a Value exponent (whose derivatives have an if)."""
    if depth == 0:
        return LEAVES
    sub = formulas(depth - 1)
    return st.one_of(
        LEAVES,
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["tanh", "sigmoid", "exp"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        sub.map(lambda s: f"({s})**2"),
        sub.map(lambda s: f"-{s}"),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas(), st.sampled_from(["a", "b", "c"]), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))
def test_the_formula_evaluates_to_the_engines_gradient(text, wrt, a, b, c):
    point = {"a": a, "b": b, "c": c}
    used = {n: point[n] for n in input_names(parse_expression(text))}
    root, inputs = build_expression(text, used)
    if wrt not in inputs or not math.isfinite(root.data):
        return
    engine = autodiff.grad(root, [inputs[wrt]])[0]
    formula = derivative_formula(text, wrt, at=used)
    got = value(formula, point)
    assert math.isclose(got, engine, rel_tol=1e-9, abs_tol=1e-9), (text, formula, got, engine)


def test_too_many_paths_are_refused():
    group = "(" + " + ".join(["a"] * 8) + ")"
    text = " + ".join([group] * 8 + ["a"])  # one path through each of the 65 a's
    with pytest.raises(ExprError, match=f"{MAX_PATHS + 1} paths; at most {MAX_PATHS}"):
        derivative_formula(text, "a")


def test_an_input_the_formula_does_not_have():
    with pytest.raises(ExprError, match="'z' is not an input of a \\* b; its inputs are: a, b"):
        derivative_formula("a * b", "z")


# -- check_derivative -----------------------------------------------------------------------
@pytest.mark.parametrize("text, wrt, mine", [
    ("tanh(a*b + c)", "a", "(1 - tanh(a*b + c)**2) * b"),
    ("tanh(a*b + c)", "a", "b * (1 - tanh(a*b + c)**2)"),
    ("tanh(a*b + c)", "a", "b / exp(a*b + c)**2 * (2 / (1 + exp(-2*(a*b + c))))**2"),  # another way to write it
    ("x * y + x", "x", "y + 1"),
    ("sigmoid(w*x)", "w", "sigmoid(w*x) * (1 - sigmoid(w*x)) * x"),
    ("log(a) * b", "a", "b / a"),
])
def test_a_right_derivative_is_right_at_every_point(text, wrt, mine):
    r = check_derivative(text, wrt=wrt, mine=mine)
    assert r.ok and len(r.points) == 5 and r.differing is None
    f = {"tanh(a*b + c)": lambda a, b, c: math.tanh(a * b + c), "x * y + x": lambda x, y: x * y + x,
         "sigmoid(w*x)": lambda w, x: MATH["sigmoid"](w * x), "log(a) * b": lambda a, b: math.log(a) * b}[text]
    for point, engine in zip(r.points, r.engine):
        assert math.isclose(engine, slope(f, point, wrt), rel_tol=1e-6, abs_tol=1e-8)
    assert "Right: equal at all 5 points." in str(r)


def test_the_factor_that_differs_is_named_from_the_trace():
    r = check_derivative("tanh(a*b + c)", wrt="a", mine="(1 - tanh(a*b + c)**2) * c")
    assert not r.ok and r.differing == "d(a * b)/da"
    text = str(r)
    assert "Yours has c" in text and "the chain rule has b" in text
    names = [f.name for f in r.paths[0]]
    assert names == ["dout/d(a * b + c)", "d(a * b + c)/d(a * b)", "d(a * b)/da"]  # the trace's, root first
    assert [f.formula for f in r.paths[0]] == ["1 - tanh(a * b + c) ** 2", "1", "b"]


@pytest.mark.parametrize("mine, differing, words", [
    ("(1 - tanh(a*b + c)) * b", "dout/d(a * b + c)", "Yours has 1 - tanh(a * b + c)"),
    ("1 - tanh(a*b + c)**2", "d(a * b)/da", "Missing factor: d(a * b)/da = b"),
    ("2 * (1 - tanh(a*b + c)**2) * b", "2", "Extra factor: 2"),
    ("tanh(a*b + c) * b", "dout/d(a * b + c)", "the chain rule has 1 - tanh(a * b + c) ** 2"),
])
def test_classic_slips_of_the_chain_rule(mine, differing, words):
    r = check_derivative("tanh(a*b + c)", wrt="a", mine=mine)
    assert not r.ok and r.differing == differing and words in str(r), str(r)


def test_a_missing_path_is_named():
    r = check_derivative("x * y + x", wrt="x", mine="y")
    assert r.differing == "path 2: dout/dx"
    assert "Path 2 (dout/dx) has no term of yours equal to it" in str(r)
    r = check_derivative("a * a", wrt="a", mine="a")  # the product rule: two paths, a and a
    assert not r.ok and "Missing: the path" in str(r)


def test_a_wrong_factor_on_one_of_several_paths():
    r = check_derivative("x * y + tanh(x)", wrt="x", mine="y + tanh(x)")
    assert r.differing == "dtanh(x)/dx" and "of path 2" in str(r)


def test_one_point_given_does_not_hide_the_factor_by_a_coincidence():
    # at a = 1, a and the factor 1 of d(a*b + c)/d(a*b) agree: more points tell them apart
    r = check_derivative("tanh(a*b + c)", wrt="a", mine="(1 - tanh(a*b + c)**2) * a", at={"a": 1, "b": 2, "c": 0})
    assert not r.ok and r.points == [{"a": 1, "b": 2, "c": 0}] and r.differing == "d(a * b)/da"
    assert "Yours has a (= 1) where the chain rule has b (= 2)" in str(r)
    assert all(len(f.values) == 1 for f in r.paths[0])


def test_a_constant_factor_is_said():
    r = check_derivative("a * b", wrt="a", mine="3 * b")
    assert "Yours is 3 times the engine's at every point" in str(r)


def test_given_points_are_used_and_undefined_values_said():
    r = check_derivative("a * b", wrt="a", mine="b", at={"a": 2, "b": -3})
    assert r.ok and r.points == [{"a": 2, "b": -3}] and r.engine == [-3.0]
    r = check_derivative("a * b", wrt="a", mine="log(b)", at=[{"a": 1, "b": -1}, {"a": 1, "b": 2}])
    assert not r.ok and r.yours[0] is None and "undefined" in str(r)


@pytest.mark.parametrize("text, wrt, mine, at, words", [
    ("a * b", "a", "z", None, "your derivative uses z, which is not an input"),
    ("a * b", "q", "b", None, "'q' is not an input"),
    ("a * b", "a", "b.__class__", None, "attribute access"),
    ("a * b", "a", "__import__('os')", None, "only these functions"),
    ("a * b", "a", "b", {"a": 1}, "no value for b"),
    ("a * b", "a", "b", [1, 2], "at must be a mapping"),
    ("log(a)", "a", "1/a", {"a": -1}, "log of a non-positive number"),
    ("log(-a*a - 1)", "a", "1", None, "found no point"),
])
def test_bad_input_is_one_clear_error(text, wrt, mine, at, words):
    with pytest.raises((ExprError, ValueError, ArithmeticError)) as info:
        check_derivative(text, wrt=wrt, mine=mine, at=at)
    assert words in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_as_mine_is_checked_or_refused(mine):
    try:
        r = check_derivative("tanh(a*b)", wrt="a", mine=mine, at={"a": 0.5, "b": -1.0})
    except ExprError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(str(r), str)
