"""One format: numbers with enough digits to check by hand, names the user can find, nothing unprintable."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from autodiff import Value, fmt


def test_results_keep_six_significant_digits_and_drawings_four():
    assert fmt.number(-1.179672) == "-1.17967"
    assert fmt.number(1234567.0) == "1.23457e+06"
    assert fmt.number(2.0) == "2" and fmt.number(-0.0) == "0"
    assert fmt.short(-1.179672) == "-1.18"
    assert [fmt.number(x) for x in (math.nan, math.inf, -math.inf)] == ["nan", "inf", "-inf"]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_result_reads_back_within_its_digits(x):
    back = float(fmt.number(x))
    assert math.isclose(back, x, rel_tol=5e-6, abs_tol=0.0)


@given(st.text())
def test_printable_leaves_no_control_character_and_always_encodes(text):
    shown = fmt.printable(text)
    assert shown.isprintable()
    shown.encode("utf-8")  # a lone surrogate would raise here
    if text.isprintable():
        assert shown == text


def test_printable_shows_escapes_as_repr_does():
    assert fmt.printable("a\x1b[2Jb\x07\x00\ud800") == "a\\x1b[2Jb\\x07\\x00\\ud800"
    assert fmt.printable("two\nlines") == "two\\nlines"


def test_a_nameless_node_is_named_by_its_formula():
    w, x, b = Value(0.5, label="W1[0][2]"), Value(2.0, label="x[0]"), Value(0.1, label="b")
    assert fmt.name(w * x) == "W1[0][2] * x[0]"
    assert fmt.name((w * x + b).tanh()) == "tanh(W1[0][2] * x[0] + b)"
    assert fmt.name((w + b) * x) == "(W1[0][2] + b) * x[0]"
    assert fmt.name(w - (x - b)) == "W1[0][2] - (x[0] - b)"
    assert fmt.name((w * x) ** 2) == "(W1[0][2] * x[0]) ** 2"
    assert fmt.name(-(w + b)) == "-(W1[0][2] + b)"
    assert fmt.name(Value.sum([w * x, b])) == "W1[0][2] * x[0] + b"
    assert fmt.name(Value(3.0)) == "3" and fmt.name(w) == "W1[0][2]"


def test_long_and_deep_formulas_are_cut_visibly():
    v = Value(1.0, label="a_long_input_name")
    for _ in range(6):
        v = (v * 2).exp()
    assert fmt.name(v) == "exp(exp(… * 2) * 2)"  # four levels deep, then an ellipsis
    terms = [Value(1.0, label=f"input_{i}") for i in range(8)]
    name = fmt.name(Value.sum(terms))
    assert len(name) == fmt.MAX_NAME and name.startswith("input_0 + input_1") and name.endswith("…")


def test_a_label_with_control_characters_is_named_printably():
    v = Value(1.0, label="evil\x1b]0;title\x07")
    assert fmt.name(v) == "evil\\x1b]0;title\\x07" and fmt.name(v * v).isprintable()


def test_derivative_groups_formulas():
    assert fmt.derivative("loss", "a * b") == "dloss/d(a * b)"
    assert fmt.derivative("y[0]", "h1[2]") == "dy[0]/dh1[2]"
