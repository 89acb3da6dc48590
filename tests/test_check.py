"""nn.check_formula: a learner's backprop formula checked for shapes, numbers and classic mistakes.

The oracle for every number is nn.reference (the textbook matrix rules on plain floats, written
independently of the engine), and, for the shapes, the hand-derived shapes of the 2-3-2 network
(W1 is 2x3 as this project stores it, 3x2 as torch.nn.Linear does).
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autodiff
import nn
from autodiff.expr import build_expression
from nn import demo
from nn.check import IN_X_OUT, OUT_X_IN, add_check_command, check_formula, run_check
from nn.formula import FormulaError, parse_formula
from nn.quiz import add_quiz_command, make_quiz, quiz_from_graph, run_quiz

SEED = "W_jk * g'(W_ij * x) * x * err"


@pytest.fixture(scope="module")
def net():
    return demo.build(seed=0)


def check(net, formula, **options):
    return check_formula(net.model, net.x, net.target, formula, **options)


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# -- the seed question ------------------------------------------------------------------------
def test_the_seed_formula_breaks_at_its_first_product_with_the_fix_that_fits(net):
    r = check(net, SEED, wrt="W1")
    first = r.misfits[0]
    assert first.step == "W_ij (2x3) * x (2x1)"
    assert first.reason == "inner sizes 3 and 2 differ"
    assert (first.fix, first.shape, first.mistake) == ("W_ij^T * x", "3x1", "missing transpose")
    # with each step fixed in turn it yields a 2x1, "but it should be 2x3" (or 3x2 stored out x in)
    assert r.shape == (2, 1)
    assert r.expected == {IN_X_OUT: (2, 3), OUT_X_IN: (3, 2)}
    assert r.match == "incomparable" and not r.ok
    assert r.notation == "textbook" and r.convention == IN_X_OUT
    assert r.mistakes == ["missing transpose", "g' multiplied as a matrix", "one path"]


def test_the_seed_report_reads_in_the_promised_order(net):
    text = str(check(net, SEED, wrt="W1"))
    parts = ["Read as textbook notation", "1. Shapes", "W_ij (2x3) * x (2x1): inner sizes 3 and 2 differ; the fix "
             "that fits: W_ij^T * x (3x1)", "2. Shape", "2x3 stored in x out", "3x2 stored out x in", "3. Values",
             "4. What went wrong", "The right formula", "One entry worked through", "Wrong"]
    where = [text.index(p) for p in parts]
    assert where == sorted(where), parts
    assert "g' is tanh'" in text  # the reading of the seed's g' is said


def test_the_right_formula_is_written_with_each_factors_shape_under_it(net):
    r = check(net, SEED, wrt="W1")
    lines = r.correct.splitlines()
    formula, shapes = lines[1], lines[2]
    assert formula.strip() == "dE/dW_ij = x * ((W_jk * err) ⊙ g'(z1))^T"  # in the learner's names
    for factor, shape in [("x ", "2x1"), ("W_jk", "3x2"), ("err", "2x1"), ("g'(z1)", "3x1")]:
        column = formula.index(factor, formula.index("="))
        assert shapes[column:column + 3] == shape, (factor, shape)
    # and it is right: checked again, it passes
    assert check(net, formula.split("=", 1)[1], wrt="W1").ok


def test_one_entry_is_worked_through_as_its_sum_over_paths(net):
    r = check(net, SEED, wrt="W1")
    ref = nn.reference.from_model(net.model, net.x, net.target)
    lines = r.worked.splitlines()
    assert "dloss/dW1[0][0]" in lines[0]
    paths = [line for line in lines if line.strip().startswith("path ")]
    assert len(paths) == 2  # one path through each output
    products = [float(line.rsplit("=", 1)[1]) for line in paths]
    total = float(lines[-1].rsplit("=", 1)[1])
    assert close(sum(products), ref.weight_grads[0][0][0], 1e-5)
    assert close(total, ref.weight_grads[0][0][0], 1e-5)


# -- right formulas, both storage conventions, both notations --------------------------------------
RIGHT = [
    ("x * delta1^T", "W1", IN_X_OUT, None),
    ("x * ((W2 * err) ⊙ g1')^T", "W1", IN_X_OUT, None),
    ("x * ((W_jk * err) ⊙ g'(z1))^T", "W_ij", None, None),
    ("x ((W2 err) ⊙ g1')ᵀ", "W1", None, None),
    ("x * ((W2 * err) .* dg1)^T", "W1", None, None),
    ("x * hadamard(W2 * err, g1')^T", "W1", None, None),
    ("x * (diag(g1') * W2 * err)^T", "W1", None, None),
    ("outer(x, (W2 * err) ⊙ tanh'(z1))", "W1", None, "textbook"),
    ("delta1 * x^T", "W1", OUT_X_IN, None),
    ("((W2^T * err) ⊙ g1') * x^T", "W1", OUT_X_IN, None),
    ("np.outer(x, (W2 @ err) * dg1)", "W1", IN_X_OUT, None),
    ("np.outer((W2.T @ err) * (1 - h1**2), x)", "W1", OUT_X_IN, None),
    ("h1 * err^T", "W2", IN_X_OUT, None),
    ("err * h1^T", "W2", OUT_X_IN, None),
    ("np.outer(h1, y - t)", "W_jk", IN_X_OUT, None),
    ("err", "b2", None, None),
    ("(W2 * err) ⊙ g1'", "b1", None, None),
    ("(W2 err) ⊙ (1 - h1^2)", "z1", None, None),
    ("W2 * delta2", "h1", IN_X_OUT, "textbook"),
    ("W2^T @ delta2", "h1", OUT_X_IN, "numpy"),
    ("W1 * delta1", "x", IN_X_OUT, "textbook"),
    ("2 * (y - t) / 2", "y", None, None),
]


@pytest.mark.parametrize("formula, wrt, convention, notation", RIGHT)
def test_right_formulas_pass_under_their_convention(net, formula, wrt, convention, notation):
    r = check(net, formula, wrt=wrt, convention=convention, notation=notation)
    assert r.ok and r.match == "equal" and not r.misfits and not r.findings, str(r)
    if convention is not None:
        assert r.convention == convention
    assert "Right:" in str(r)


@pytest.mark.parametrize("formula, wrt, convention, notation", [f for f in RIGHT if f[1] in ("W1", "W2", "W_ij", "W_jk")])
def test_every_entry_equals_the_matrix_rules(net, formula, wrt, convention, notation):
    r = check(net, formula, wrt=wrt, convention=convention, notation=notation)
    layer = 0 if wrt in ("W1", "W_ij") else 1
    want = nn.reference.from_model(net.model, net.x, net.target).weight_grads[layer]
    got = {e.name: (e.yours, e.engine) for e in r.entries}
    assert len(got) == len(want) * len(want[0])
    for i, row in enumerate(want):
        for j, value in enumerate(row):
            name = f"W{layer + 1}[{i}][{j}]"
            key = name if r.convention == IN_X_OUT else f"[{j}][{i}] = {name}"
            yours, engine = got[key]
            assert close(yours, value) and close(engine, value), (name, yours, engine, value)


def test_the_storage_convention_is_chosen_and_said(net):
    r = check(net, "delta1 * x^T")  # right stored out x in, the transpose stored in x out
    assert r.ok and r.convention == OUT_X_IN and r.shape == (3, 2)
    assert "Storage: out x in (W1 is 3x2" in str(r) and "torch.nn.Linear" in str(r)
    r = check(net, "delta1 * x^T", convention="in x out")
    assert not r.ok and r.match == "transpose"
    ref = nn.reference.from_model(net.model, net.x, net.target).weight_grads[0]
    for e in r.entries:  # compared with the entry each stands for
        i, j = int(e.name[3]), int(e.name[6])
        assert close(e.yours, ref[i][j]) and e.equal


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("sizes", [[2, 3, 2], [2, 3, 4, 2], [3, 2, 2, 1]])
@pytest.mark.parametrize("convention", [IN_X_OUT, OUT_X_IN])
@pytest.mark.parametrize("notation", ["textbook", "numpy"])
def test_the_right_formula_it_writes_is_right(activation, sizes, convention, notation):
    model = nn.MLP(sizes[0], sizes[1:], activation=activation, seed=3)
    x = [0.7, -0.4, 0.2][: sizes[0]]
    t = [0.3, -0.8][: sizes[-1]]
    ref = nn.reference.from_model(model, x, t)
    wrts = [f"W{li}" for li in range(1, len(sizes))] + [f"b{li}" for li in range(1, len(sizes))] + ["h1", "x", "z1"]
    for wrt in wrts:
        wrong = check_formula(model, x, t, "x", wrt=wrt, convention=convention, notation=notation)
        assert not wrong.ok
        written = wrong.correct.splitlines()[1].split("=", 1)[1]
        again = check_formula(model, x, t, written, wrt=wrt, convention=convention, notation=notation)
        assert again.ok, (wrt, written, str(again))
        if wrt.startswith("W"):  # each entry against the matrix rules, by the weight it stands for
            got = {e.name.split("= ")[-1]: e.yours for e in again.entries}
            want = ref.weight_grads[int(wrt[1:]) - 1]
            assert len(got) == len(want) * len(want[0])
            assert all(close(got[f"{wrt}[{i}][{j}]"], v) for i, row in enumerate(want) for j, v in enumerate(row))
        if wrt.startswith("b"):
            want_b = ref.bias_grads[int(wrt[1:]) - 1]
            assert all(close(e.yours, b) for e, b in zip(again.entries, want_b))


# -- the classic mistakes, each by name ------------------------------------------------------------
MISTAKES = [
    ("x * (W2 * err)^T", "W1", {}, "missing g'"),
    ("x delta1", "W1", {}, "missing transpose"),
    ("((W2 * err) ⊙ g1') * x^T", "W1", {"convention": "out x in"}, "missing transpose"),
    ("delta1 * x^T", "W1", {"convention": "in x out"}, "outer product in the wrong order"),
    ("np.outer(delta1, x)", "W1", {"convention": "in x out"}, "outer product in the wrong order"),
    ("x * delta1^T", "b1", {}, "forgotten bias gradient"),
    ("0 * delta1", "b1", {}, "forgotten bias gradient"),
    ("x * delta2^T", "W1", {}, "the delta of the wrong layer"),
    ("h1 * delta1^T", "W2", {}, "the delta of the wrong layer"),
    ("delta2", "b1", {"notation": "textbook"}, "the delta of the wrong layer"),
    ("x * err^T", "W2", {}, "the input of the wrong layer"),
    ("-x * delta1^T", "W1", {}, "sign"),
    ("x * (2 * delta1)^T", "W1", {}, "constant factor"),
    ("(W2 * err) ⊙ g1'", "h1", {}, "an extra g'"),
    (SEED, "W1", {}, "one path"),
    (SEED, "W1", {}, "g' multiplied as a matrix"),
]


@pytest.mark.parametrize("formula, wrt, options, mistake", MISTAKES)
def test_each_classic_mistake_is_named(net, formula, wrt, options, mistake):
    r = check(net, formula, wrt=wrt, **options)
    assert not r.ok
    assert mistake in r.mistakes, str(r)
    assert f"- {mistake}:" in str(r)


def test_a_forgotten_bias_hidden_by_zero_biases_is_found_on_a_second_network(net):
    formula = "x * ((W2 * err) ⊙ g'(W1^T * x))^T"  # g' at W1^T x: z1 without + b1
    assert all(b.data == 0 for layer in net.model.layers for b in layer.biases)  # why it agrees here
    r = check(net, formula)
    assert r.match == "equal" and not r.ok
    assert r.mistakes[:2] == ["right by coincidence", "forgotten bias"]
    biased = copy.deepcopy(net.model)
    for k, b in enumerate(biased.layers[0].biases):
        b.data = 0.3 * (k + 1)
    r = check_formula(biased, net.x, net.target, formula)
    assert r.match == "different" and "forgotten bias" in r.mistakes
    assert check_formula(biased, net.x, net.target, "x * ((W2 * err) ⊙ g'(W1^T * x + b1))^T").ok


def test_a_missing_g_prime_hidden_by_relu_units_all_on_is_found(net):
    model = nn.MLP(2, [3, 2], activation="relu", seed=0)
    for row in model.layers[0].weights:
        for w in row:
            w.data = abs(w.data)
    x = [0.5, 1.0]  # every z1 > 0: relu' is 1 everywhere, so leaving it out changes nothing here
    r = check_formula(model, x, [1.0, 0.0], "x * (W2 * err)^T")
    assert r.match == "equal" and not r.ok
    assert "right by coincidence" in r.mistakes and "missing g'" in r.mistakes


# -- notations ------------------------------------------------------------------------------
def test_an_ambiguous_formula_is_refused_with_both_readings(net):
    with pytest.raises(FormulaError) as info:
        check(net, "W2 * delta2", wrt="h1")
    message = str(info.value)
    assert "ambiguous" in message and "\n" not in message
    assert "matrix product (then it is right (3x1))" in message
    assert "elementwise (then it yields 3x2, not the gradient)" in message
    assert check(net, "W2 * delta2", wrt="h1", notation="textbook").ok
    r = check(net, "W2 * delta2", wrt="h1", notation="numpy")  # broadcasting: each row times delta2
    assert not r.ok and r.shape == (3, 2)


def test_a_formula_the_notations_read_alike_is_not_ambiguous(net):
    r = check(net, "2 * (y - t) / 2", wrt="y")
    assert r.ok and "read it alike" in r.reading


def test_mixed_notations_are_refused(net):
    with pytest.raises(FormulaError, match="mixes notations: .* is textbook notation and @ is numpy's"):
        check(net, "x @ delta1^T")


def test_numpy_notation_explains_its_own_pitfalls(net):
    r = check(net, "x.T @ delta1", notation="numpy")
    assert r.misfits[0].fix == "np.outer(x.T, delta1)"
    assert any(".T of a 1-D array changes nothing" in note for note in r.notes)
    r = check(net, "x @ delta1")
    assert r.misfits[0].mistake == "@ of two vectors" and r.match == "equal" and not r.ok


def test_a_juxtaposition_is_refused_in_numpy_notation(net):
    with pytest.raises(FormulaError, match="side by side"):
        check(net, "x delta1", notation="numpy")


def test_the_left_side_must_name_the_gradient_asked_for(net):
    assert check(net, "dE/dW_ij = x * delta1^T", wrt="W1").ok
    assert check(net, "∂E/∂W_{ij} = x * delta1^T", wrt="W1").ok
    with pytest.raises(FormulaError, match="pass wrt='W_jk'"):
        check(net, "dE/dW_jk = x * delta1^T", wrt="W1")


def test_check_formula_touches_nothing(net):
    model = nn.MLP(2, [3, 2], seed=5)
    before = [(p.data, p.grad) for p in model.parameters()]
    check_formula(model, [0.1, 0.2], [0.0, 1.0], SEED)
    assert [(p.data, p.grad) for p in model.parameters()] == before


def test_the_loss_changes_err(net):
    # sse: dloss/dy = y - t; mse over 2 outputs: 2 (y - t) / 2, the same; over 3 outputs they differ
    model = nn.MLP(2, [3, 3], seed=1)
    x, t = [0.5, -1.0], [1.0, 0.0, 0.5]
    assert check_formula(model, x, t, "y - t", wrt="y", loss="sse").ok
    r = check_formula(model, x, t, "y - t", wrt="y", loss="mse")
    assert not r.ok and r.mistakes == ["constant factor"] and "1.5 times" in str(r)


@pytest.mark.parametrize("args, words", [
    (dict(x=[1.0]), "x must have 2 numbers"),
    (dict(x=[1.0, math.nan]), "finite"),
    (dict(target="ab"), "target must be a list"),
    (dict(wrt="t"), "choose one of: W1, b1, W2, b2"),
    (dict(wrt="W3"), "choose one of"),
    (dict(convention="rows"), "convention must be"),
    (dict(notation="latex"), "notation must be"),
    (dict(loss="l1"), "loss must be"),
])
def test_bad_arguments_say_what_was_wrong(net, args, words):
    options = dict(x=net.x, target=net.target, formula="x * delta1^T")
    options.update(args)
    with pytest.raises(ValueError, match=words):
        check_formula(net.model, **options)


@pytest.mark.parametrize("formula, words", [
    ("x * foo", "unknown name 'foo'"),
    ("x * delta7", "unknown name"),
    ("tanh'", "needs its argument"),
    ("x * delta1^T + g5'(z1)", "layers 1 to 2"),
    ("outer(W1, x)", "outer takes two vectors"),
])
def test_bad_formulas_say_what_was_wrong(net, formula, words):
    try:
        r = check(net, formula)
    except FormulaError as exc:
        assert words in str(exc) and "\n" not in str(exc)
    else:  # a step that no fix makes fit is reported, not raised
        assert words in str(r) and r.shape is None and not r.ok


# -- hostile input --------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "x.__class__", "exec('1')", "x[0]", "lambda: x", "x if y else t",
    "open('/etc/passwd')", "np.load('f')", "x; y", "x\ny", "'" * 5, "ᵀ", "x" * 2000, "(" * 100 + "x" + ")" * 100,
    "-" * 500 + "x", "x ** 10**10", "x ** (1e999)", "1e400 * x", "x @@ y", "x ^ y", "%", "\x1b[2Jx", "g'''(z1)",
])
def test_hostile_formulas_are_refused_in_one_line(net, text):
    with pytest.raises(FormulaError) as info:
        check(net, text)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


ALPHABET = st.sampled_from(list("xWbhzyt12_ijk'^T⊙.*@+-/()[], ") + ["delta1", "g'", "err", "np.", "outer(", "ᵀ", " "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.lists(ALPHABET, max_size=25).map("".join)))
def test_any_text_gives_a_report_or_one_formula_error(text):
    model = nn.MLP(2, [3, 2], seed=0)
    start = time.perf_counter()
    try:
        r = check_formula(model, [0.5, -1.0], [1.0, 0.0], text)
    except FormulaError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(str(r), str) and r.ok in (True, False)
    assert time.perf_counter() - start < 5


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_the_parser_refuses_or_maps_back_to_the_text(text):
    try:
        f = parse_formula(text)
    except FormulaError:
        return
    for node in ast.walk(f.tree):  # every part of the tree maps back to the learner's own text
        if hasattr(node, "col_offset"):
            start, end = f.span(node)
            assert 0 <= start <= end <= len(f.text)


# -- the command line's handler ---------------------------------------------------------------
def parser(parents=()):
    p = argparse.ArgumentParser(prog="autodiff")
    add_check_command(p.add_subparsers(dest="command"), parents)
    return p


def run(argv, capsys, parents=()):
    args = parser(parents).parse_args(["check", *argv])
    status = run_check(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_exits_like_diff(capsys):
    status, out, err = run(["--wrt", "W1", SEED], capsys)
    assert status == 1 and "W_ij (2x3) * x (2x1): inner sizes 3 and 2 differ" in out and err == ""
    status, out, err = run(["--wrt", "W1", "x * ((W_jk * err) ⊙ g'(z1))^T"], capsys)
    assert status == 0 and "Right:" in out
    status, out, err = run(["x * foo"], capsys)
    assert status == 2 and out == "" and err.startswith("autodiff check: error: unknown name 'foo'")
    assert err.count("\n") == 1


def test_the_command_builds_any_mlp(capsys):
    status, out, _ = run(["--sizes", "3", "4", "2", "--x", "1", "2", "3", "--activation", "relu", "x * delta1^T"], capsys)
    assert status == 0 and "MLP [3, 4, 2] (relu hidden" in out
    status, _, err = run(["--sizes", "3", "4", "2", "x * delta1^T"], capsys)  # the default x has 2 numbers
    assert status == 2 and "--x needs 3 numbers" in err
    status, _, err = run(["--convention", "out x in", "--notation", "numpy", "--loss", "sse", "np.outer(delta1, x)"], capsys)
    assert status == 0


def test_the_command_takes_the_network_options_of_a_parent_parser(capsys):
    network = argparse.ArgumentParser(add_help=False)
    network.add_argument("--seed", type=int, default=0)
    network.add_argument("--activation", default="tanh")
    network.add_argument("--x", nargs=2, type=float, default=[0.5, -1.0])
    network.add_argument("--target", nargs=2, type=float, default=[1.0, 0.0])
    status, out, _ = run(["--seed", "4", "--x", "1", "-2", "x * delta1^T"], capsys, parents=[network])
    assert status == 0 and "x = [1, -2]" in out


def test_the_command_checks_a_scalar_derivative(capsys):
    argv = ["--expr", "tanh(a*b)", "--wrt", "a", "--set", "a=1", "b=2", "(1 - tanh(a*b)**2) * b"]  # as in the issue
    status, out, err = run(argv, capsys)
    assert status == 0 and "at a=1, b=2: engine 0.141302, yours 0.141302  equal" in out and err == ""
    assert math.isclose(0.141302, (1 - math.tanh(2) ** 2) * 2, rel_tol=1e-5)  # by hand
    status, out, _ = run(argv[:-1] + ["(1 - tanh(a*b)**2) * a"], capsys)
    assert status == 1 and "The factor that differs: d(a * b)/da" in out
    status, _, err = run(["--expr", "tanh(a*b)", "(1 - tanh(a*b)**2) * b"], capsys)
    assert status == 2 and "--wrt NAME" in err
    status, _, err = run(["--expr", "tanh(a*b)", "--wrt", "a", "--set", "a=1", "c=2", "b"], capsys)
    assert status == 2 and err.count("\n") == 1


def test_the_command_takes_values_parsed_by_a_parent_parser(capsys):
    formula = argparse.ArgumentParser(add_help=False)
    formula.add_argument("--expr")
    formula.add_argument("--set", nargs="+", type=lambda t: (t.split("=")[0], float(t.split("=")[1])), default=[])
    status, out, _ = run(["(1 - tanh(a*b)**2) * b", "--expr", "tanh(a*b)", "--wrt", "a", "--set", "a=1", "b=2"],
                         capsys, parents=[formula])
    assert status == 0 and "equal" in out


def test_a_deeper_network_names_the_layer_whose_g_prime_is_missing():
    model = nn.MLP(3, [4, 5, 2], seed=2)
    x, t = [0.3, -0.6, 0.9], [0.5, -0.5]
    assert check_formula(model, x, t, "x * ((W2 * ((W3 * err) ⊙ g2')) ⊙ g1')^T").ok
    r = check_formula(model, x, t, "x * ((W2 * (W3 * err)) ⊙ g1')^T")
    assert r.mistakes == ["missing g'"] and "g2' = tanh'(z2) is left out" in str(r)
    r = check_formula(model, x, t, "x * ((W3 * err) ⊙ g1')^T")  # a layer skipped: W3 * err is 5x1, g1' is 4x1
    assert r.misfits[0].step == "(W3 * err) (5x1) ⊙ g1' (4x1)" and r.misfits[0].fix is None and r.shape is None


def test_a_large_gradient_is_shown_in_part():
    model = nn.MLP(10, [40, 10], seed=0)
    x, t = [0.1 * i for i in range(10)], [0.0] * 10
    r = check_formula(model, x, t, "x * (W2 * err)^T")  # missing g': every column scaled wrong
    text = str(r)
    differ = sum(not e.equal for e in r.entries)
    assert len(r.entries) == 400 and f"{differ} of 400 entries differ; 24 of them:" in text
    assert sum("DIFFERENT" in line for line in text.splitlines()) == 24
    r = check_formula(model, x, t, "W2 * err", wrt="W1", notation="textbook")  # 40x1: not comparable
    assert "dloss/dW1 (10x40), its top left corner (6x6)" in str(r)


# -- the quiz ---------------------------------------------------------------------------------
def test_the_same_seed_prints_the_same_worksheet_and_key():
    a, b, c = make_quiz(seed=3), make_quiz(seed=3), make_quiz(seed=4)
    assert a.worksheet() == b.worksheet() and a.answer_key() == b.answer_key()
    assert a.worksheet() != c.worksheet()
    assert [q.kind for q in a.questions] == ["local", "grad", "matrix", "local", "grad", "matrix"]
    assert len(a.worksheet().splitlines()) == 1 + 6 and a.answer_key().count("\n") > 12


def test_the_answer_key_holds_the_matrix_rules_numbers():
    for seed in range(4):
        q = make_quiz(seed=seed, count=9)
        ref = nn.reference.from_model(q.model, q.x, q.target)
        for question in q.questions:
            if question.kind == "matrix":
                want = ref.weight_grads[question.target - 1]
                assert all(close(a, b) for ra, rb in zip(question.answer, want) for a, b in zip(ra, rb))
            elif question.kind == "grad" and question.target.label.startswith(("W", "b")):
                label = question.target.label
                layer = int(label[1]) - 1
                index = [int(n) for n in label[3:-1].split("][")]
                want = ref.weight_grads[layer][index[0]][index[1]] if label[0] == "W" else ref.bias_grads[layer][index[0]]
                assert close(question.answer, want)


def test_the_local_derivatives_asked_equal_finite_differences():
    plain = {"*": lambda a, b: a * b, "-": lambda a, b: a - b, "tanh": math.tanh, "/": lambda a, b: a / b}
    checked = 0
    for seed in range(6):
        for question in make_quiz(seed=seed, count=8, kinds=["local"]).questions:
            parent, child, k = question.target
            if child.op == "**":
                f = lambda *v, c=child: v[0] ** c.arg  # noqa: E731
            else:
                f = plain[child.op]
            values = [p.data for p in child.parents]
            up, down = list(values), list(values)
            up[k] += 1e-6
            down[k] -= 1e-6
            assert math.isclose(question.answer, (f(*up) - f(*down)) / 2e-6, rel_tol=1e-5, abs_tol=1e-8)
            checked += 1
    assert checked >= 40


def test_right_answers_pass_within_the_tolerance():
    q = make_quiz(seed=0, count=6)
    for i, question in enumerate(q.questions, 1):
        if question.kind == "matrix":
            text = "; ".join(" ".join(f"{v:.4g}" for v in row) for row in question.answer)  # rounded, as by hand
        else:
            text = f"{question.answer:.4g}"
        assert q.check(i, text).right, (question.prompt, text)
    assert not q.check(2, q.questions[1].answer * 1.05).right


def grad_question(q, count_paths):
    for i, question in enumerate(q.questions, 1):
        if question.kind == "grad":
            t = autodiff.trace(q.root, question.target)
            if t.count == count_paths:
                return i, question, t
    raise AssertionError("no such question")


def test_a_wrong_gradient_is_answered_with_the_path_and_the_factor():
    q = make_quiz(seed=0, count=30, kinds=["grad"])
    i, question, t = grad_question(q, 2)
    paths = list(t.paths)
    feedback = q.check(i, paths[0].product)  # one path only
    assert not feedback.right and "that is path 1 alone" in str(feedback) and "SUM over its 2 paths" in str(feedback)
    name, factor = next((n, v) for n, v in paths[1].factors() if abs(v - 1) > 0.05 and abs(v) > 0.05)
    feedback = q.check(i, t.total - paths[1].product + paths[1].product / factor)  # one factor left out
    assert f"on path 2, the factor {name}" in str(feedback) and "is left out" in str(feedback)
    assert "the sign is wrong" in str(q.check(i, -t.total))


def test_a_wrong_local_derivative_names_the_slip():
    q = make_quiz(seed=0, count=40, kinds=["local"])
    tanh = next(i for i, qu in enumerate(q.questions, 1) if qu.target[1].op == "tanh")
    child = q.questions[tanh - 1].target[1]
    assert "That is " + child.label + " itself" in str(q.check(tanh, child.data))
    mul = next(i for i, qu in enumerate(q.questions, 1) if qu.target[1].op == "*")
    parent = q.questions[mul - 1].target[0]
    feedback = q.check(mul, parent.data)
    assert "the OTHER factor" in str(feedback) and not feedback.right


def test_a_matrix_answer_is_checked_entry_by_entry_and_by_its_layout():
    q = make_quiz(seed=0, count=2, kinds=["matrix"])
    i = next(n for n, qu in enumerate(q.questions, 1) if qu.target == 2)
    want = q.questions[i - 1].answer
    transposed = "; ".join(" ".join(str(want[r][c]) for r in range(3)) for c in range(2))
    assert "is the transpose of dloss/dW2 (3x2)" in str(q.check(i, transposed))
    off = [row[:] for row in want]
    off[1][0] += 0.3
    feedback = q.check(i, off)
    assert not feedback.right and "1 of 6 entries are wrong; the first, W2[1][0]" in str(feedback)
    assert q.check(i, "h1 * err^T").right  # a formula is checked by check_formula
    feedback = q.check(i, "err * h1^T")
    assert not feedback.right and "outer product in the wrong order" in str(feedback)
    assert "your matrix is 2x2" in str(q.check(i, "1 2; 3 4")).lower()


def test_any_graph_becomes_a_quiz():
    root, inputs = build_expression("tanh(a*b + c)", {"a": 2.0, "b": -3.0, "c": 10.0})
    q = quiz_from_graph(root, seed=0, count=4)  # no model: local derivatives and gradients only
    assert {qu.kind for qu in q.questions} <= {"local", "grad"} and len(q.questions) == 4
    for i, question in enumerate(q.questions, 1):
        assert q.check(i, question.answer).right
    grads = dict(zip(["a", "b", "c"], autodiff.grad(root, list(inputs.values()))))
    for question in q.questions:
        if question.kind == "grad" and question.target.label in grads:
            assert question.answer == grads[question.target.label]


@pytest.mark.parametrize("call, words", [
    (lambda: make_quiz(count=0), "count must be a positive whole number"),
    (lambda: make_quiz(kinds=["essay"]), "kinds are chosen from local, grad, matrix"),
    (lambda: make_quiz().check(7, "1"), "there are questions 1 to 6"),
    (lambda: make_quiz().check(1, "one half"), "an answer is a number"),
    (lambda: make_quiz(count=3).check(3, "1 2; 3"), "rows have different lengths"),
])
def test_bad_quiz_input_says_what_was_wrong(call, words):
    try:
        result = call()
    except ValueError as exc:
        assert words in str(exc)
    else:
        assert words in str(result)


def quiz_args(argv):
    p = argparse.ArgumentParser(prog="autodiff")
    add_quiz_command(p.add_subparsers(dest="command"))
    return p.parse_args(["quiz", *argv])


def test_the_quiz_command_asks_and_checks(capsys):
    q = make_quiz(seed=2, count=3)
    answers = [f"{qu.answer:.5g}" if qu.kind != "matrix" else "; ".join(" ".join(map(str, r)) for r in qu.answer)
               for qu in q.questions]
    out = io.StringIO()
    status = run_quiz(quiz_args(["--seed", "2", "--count", "3"]), stdin=io.StringIO("\n".join(answers) + "\n"), stdout=out)
    assert status == 0 and "3 of 3 right." in out.getvalue() and q.questions[0].prompt in out.getvalue()
    out = io.StringIO()
    status = run_quiz(quiz_args(["--seed", "2", "--count", "3"]), stdin=io.StringIO("0\nabc\n"), stdout=out)
    assert status == 1 and "counted as wrong" in out.getvalue() and "0 of 3 right." in out.getvalue()
    out = io.StringIO()
    assert run_quiz(quiz_args(["--seed", "2", "--count", "3", "--worksheet", "--key"]), stdout=out) == 0
    assert out.getvalue().startswith(q.worksheet()) and q.answer_key() in out.getvalue()
    assert run_quiz(quiz_args(["--count", "0"])) == 2
    assert "count must be" in capsys.readouterr().err
