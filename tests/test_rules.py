"""Every row of the rule table against an oracle of its own: hand-derived values and finite differences.

Adding an op to :data:`autodiff.RULES` means adding a row to ``ORACLE`` below: the test fails for a
rule without one. Each case gives the operands (and ``**``'s exponent), the value and each local
derivative, derived by hand or from a different formula than the table's.
"""

from __future__ import annotations

import math

import pytest

import autodiff
from autodiff import RULES, Value
from autodiff.expr import FUNCTIONS, build_expression


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# rule name -> list of (operands, exponent or None, value, locals)
ORACLE = {
    "+": [((1.5, -4.0), None, -2.5, (1.0, 1.0))],
    "-": [((1.5, -4.0), None, 5.5, (1.0, -1.0))],
    "*": [((1.5, -4.0), None, -6.0, (-4.0, 1.5))],
    "/": [((3.0, -4.0), None, -0.75, (-0.25, -3.0 / 16.0))],  # d(a/b)/db = -a/b^2
    "neg": [((2.5,), None, -2.5, (-1.0,))],
    "**": [((3.0,), 2.0, 9.0, (6.0,)), ((4.0,), 0.5, 2.0, (0.25,)), ((2.0,), -1.0, 0.5, (-0.25,)),
           ((-2.0,), 3.0, -8.0, (12.0,))],
    "pow": [((2.0, 3.0), None, 8.0, (12.0, 8.0 * math.log(2.0)))],  # b a^(b-1), a^b ln a
    "exp": [((1.0,), None, math.e, (math.e,))],
    "log": [((math.e,), None, 1.0, (1.0 / math.e,))],
    "tanh": [((0.5,), None, (math.e - 1.0) / (math.e + 1.0), (1.0 / math.cosh(0.5) ** 2,))],  # tanh x = (e^2x - 1)/(e^2x + 1)
    "sigmoid": [((0.0,), None, 0.5, (0.25,)), ((-2.0,), None, 1.0 / (1.0 + math.exp(2.0)),
                                               (math.exp(2.0) / (1.0 + math.exp(2.0)) ** 2,))],
    "relu": [((2.0,), None, 2.0, (1.0,)), ((-2.0,), None, 0.0, (0.0,))],
    "sum": [((1.5, 2.0, -0.5), None, 3.0, (1.0, 1.0, 1.0)), ((7.0,), None, 7.0, (1.0,))],
}


def test_every_rule_has_an_oracle_row():
    missing = sorted(set(RULES) - set(ORACLE))
    assert not missing, f"add a row to ORACLE in tests/test_rules.py for: {', '.join(missing)}"


def cases():
    return [(name, case) for name in RULES for case in ORACLE.get(name, [])]


def through_value(name: str, operands: tuple[float, ...], k: float | None) -> Value:
    """The op made the way a user makes it: through Value's methods and operators."""
    xs = [Value(x, label=f"x{i}") for i, x in enumerate(operands)]
    rule = RULES[name]
    if rule.join is not None:
        return Value.sum(xs)
    if rule.constant:
        return xs[0] ** k
    if name == "pow":
        return xs[0] ** xs[1]
    method = getattr(Value, str(rule.method))
    return method(*xs)


@pytest.mark.parametrize("name, case", cases())
def test_value_and_local_derivatives_match_the_hand_derived_ones(name, case):
    operands, k, value, locals_ = case
    rule = RULES[name]
    out, got = rule.apply(*operands, *([k] if rule.constant else []))
    assert math.isclose(out, value, rel_tol=1e-12, abs_tol=1e-15)
    assert all(math.isclose(g, e, rel_tol=1e-12, abs_tol=1e-15) for g, e in zip(got, locals_))
    node = through_value(name, operands, k)
    assert node.op == name and node.data == out and node.locals == tuple(got)


@pytest.mark.parametrize("name, case", cases())
def test_local_derivatives_match_finite_differences(name, case):
    operands, k, _, _ = case
    rule = RULES[name]
    eps = 1e-6
    for i in range(len(operands)):
        if name == "relu" and abs(operands[i]) < 1e-3:
            continue  # the kink
        up, down = list(operands), list(operands)
        up[i] += eps
        down[i] -= eps
        extra = [k] if rule.constant else []
        numeric = (rule.apply(*up, *extra)[0] - rule.apply(*down, *extra)[0]) / (2 * eps)
        assert math.isclose(rule.apply(*operands, *extra)[1][i], numeric, rel_tol=1e-5, abs_tol=1e-7)


def test_every_callable_rule_can_be_typed_in_a_formula():
    assert set(FUNCTIONS) == {r.call for r in RULES.values() if r.call}
    for name in FUNCTIONS:
        out, _ = build_expression(f"{name}(a)", {"a": 2.0})
        assert out.op == name and out.data == RULES[name].apply(2.0)[0]


def test_gates_are_one_operand_rules_whose_slope_is_zero_or_one():
    for rule in RULES.values():
        if rule.gate:
            assert rule.arity == 1
            for x in (-1.0, 2.0):
                assert rule.apply(x)[1][0] == (1.0 if x > 0 else 0.0)


def test_constant_slopes_are_read_off_the_rows():
    assert RULES["+"].local_constants == (1.0, 1.0) and RULES["-"].local_constants == (1.0, -1.0)
    assert RULES["*"].local_constants == (None, None)
    assert autodiff.RULES["tanh"].reads(0) == 1 and RULES["relu"].reads(0) == 2
