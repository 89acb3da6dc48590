"""The command line and the formula parser at their edges: what a user mistypes gets one pointed
line (exit 2), what the machine refuses names the file (exit 1), and a bug in the library keeps its
traceback instead of passing for a usage error. Printed results carry 6 significant digits."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import autodiff
from autodiff.expr import ExprError, build_expression, parse_expression
from autodiff.ops import RULES
from nn import demo
from nn.cli import main

EXE = shutil.which("autodiff", path=os.path.dirname(sys.executable)) or shutil.which("autodiff")


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert EXE, "the autodiff console script is not installed"
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)


def one_line(done: subprocess.CompletedProcess, status: int) -> str:
    """The one stderr line of a command that failed with ``status``, and no traceback."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def close6(printed: str, exact: float) -> bool:
    """``printed`` is ``exact`` to 6 significant digits (3 or 4 would be off by far more)."""
    return abs(float(printed) - exact) <= 5e-6 * abs(exact)


# -- the formula language: the usual slips get a pointed message ----------------------------------
@pytest.mark.parametrize(
    "text, words",
    [
        ("a^2", "^ is not a power in Python formulas: write a**2"),
        ("(a+b)^2", "write (a+b)**2"),
        ("e^a", "write exp(a)"),
        ("2a", "to multiply, write 2*a"),
        ("tanh(2.5a + b)", "to multiply, write 2.5*a"),
        ("a b", "to multiply, write a*b"),
        ("2(a+b)", "to multiply, write 2*(a+b)"),
        ("(a+b)(a-b)", "to multiply, write (a+b)*(a-b)"),
        ("ln(a)", "the natural logarithm is log(x)"),
        ("log10(a)", "log(x) / log(10)"),
        ("sqrt(a)", "write x**0.5"),
        ("max(a, 0)", "relu(x) is max(x, 0)"),
        ("abs(a)", "abs is not available; only these functions can be called: exp, log, tanh, sigmoid, relu"),
        ("sin(a)", "sin is not available; only these functions can be called: exp, log"),
        ("math.exp(a)", "write exp(...) without math. in front"),
        ("a²", "write a**2"),
        ("3×a", "write 3*a"),
        ("a = 2", "a formula has no ="),
        ("|a|", "no abs"),
        ("a // b", "the operator // (FloorDiv) is not allowed"),
    ],
)
def test_the_usual_slips_are_answered_with_what_to_write(text, words):
    with pytest.raises(ExprError) as info:
        parse_expression(text)
    message = str(info.value)
    assert words in message and "\n" not in message
    assert "BitXor" not in message and "invalid decimal literal" not in message


def test_a_missing_e_suggests_eulers_number():
    with pytest.raises(ExprError, match=r"no value for e: .*exp\(1\)"):
        build_expression("e**a", {"a": 1.0})


def test_every_function_of_the_rule_table_is_typeable_by_its_rows_method():
    calls = [rule for rule in RULES.values() if rule.call]
    assert autodiff.expr.FUNCTIONS == tuple(rule.call for rule in calls)
    for rule in calls:
        out, inputs = build_expression(f"{rule.call}(a)", {"a": 0.75})
        assert out.op == rule.name and out.parents == (inputs["a"],)
        # by hand, the value each function must have at 0.75
        want = {"exp": math.exp(0.75), "log": math.log(0.75), "tanh": math.tanh(0.75),
                "sigmoid": 1 / (1 + math.exp(-0.75)), "relu": 0.75}[rule.call]
        assert out.data == pytest.approx(want, rel=1e-15)


def test_a_new_row_with_a_call_becomes_typeable(monkeypatch):
    # a row the table does not have: "squash", built by the Value method its row names (tanh's)
    monkeypatch.setitem(RULES, "squash", autodiff.Rule("squash", ("a",), "tanh({a})", ("1.0 - {out} * {out}",),
                                                        "squash({a})", method="tanh", call="squash"))
    # the parser as a fresh process would import it, beside the one already loaded
    spec = importlib.util.spec_from_file_location("autodiff._expr_fresh", autodiff.expr.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    assert "squash" in fresh.FUNCTIONS
    out, _ = fresh.build_expression("squash(a) + 1", {"a": 0.5})
    assert out.data == math.tanh(0.5) + 1
    with pytest.raises(fresh.ExprError, match="squash"):
        fresh.parse_expression("nosuch(a)")


# -- the command line: user errors exit 2 in one line, bugs keep their traceback -------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["render", "--expr", "a^2", "--set", "a=1"], "^ is not a power in Python formulas: write a**2"),
        (["render", "--expr", "2a", "--set", "a=1"], "write 2*a"),
        (["render", "--expr", "", "--set", "a=1"], "the expression is empty"),
        (["render", "--expr", "   "], "the expression is empty"),
        (["trace", "--expr", "1/(a-1)", "--set", "a=1", "--wrt", "a"], "division by zero"),
    ],
)
def test_bad_formulas_exit_2_with_one_pointed_line(args, words):
    err = one_line(run(*args), 2)
    assert words in err and err.startswith(f"autodiff {args[0]}: error:")
    assert "--set goes with --expr" not in err and "BitXor" not in err


BOOM = """
import sys, autodiff, nn.cli
def broken(*args, **kwargs):
    raise {error}("a bug deep in the library")
autodiff.{name} = broken
sys.exit(nn.cli.main({argv!r}))
"""


@pytest.mark.parametrize("error", ["KeyError", "ValueError", "ZeroDivisionError"])
@pytest.mark.parametrize("name, argv", [("trace", ["trace", "W1[0][2]"]), ("draw", ["render", "--out", "g.svg"])])
def test_a_bug_in_the_library_keeps_its_traceback(tmp_path, error, name, argv):
    script = BOOM.format(error=error, name=name, argv=argv)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr and f"{error}: " in done.stderr and "a bug deep in the library" in done.stderr
    assert "error: " not in done.stderr.splitlines()[0]  # not dressed up as a usage error


def test_the_root_as_its_own_input_traces_to_one():
    done = run("trace", "--expr", "a", "--set", "a=1", "--wrt", "a")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # d a / d a = 1, by one path of no edges
    total = re.search(r"sum of the 1 path = (\S+)", done.stdout)
    assert total and float(total.group(1)) == 1.0
    assert "a.grad = 1 " in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["render", "--out", "{full}"],
        ["render", "--expr", "a*b", "--set", "a=1", "b=2", "--out", "{full}"],
        ["html", "--out", "{full}"],
        ["trace", "W1[0][2]", "--svg", "{full}"],
    ],
)
def test_a_full_disk_names_the_file(tmp_path, args):
    full = tmp_path / "out.svg"
    full.symlink_to("/dev/full")  # every write to it fails: ENOSPC, the error a full disk gives
    err = one_line(run(*[a.format(full=full) for a in args]), 1)
    assert f"cannot write {full}: No space left on device" in err and "None" not in err


def test_the_demo_names_the_file_the_full_disk_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "trace-W1-0-2.svg").symlink_to("/dev/full")
    err = one_line(run("demo", "--out", str(out)), 1)
    assert f"cannot write {out / 'trace-W1-0-2.svg'}: No space left on device" in err


def test_demo_without_torch_says_so_before_printing_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails, as where it is not installed
    assert main(["demo", "--torch", "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "pip install torch" in captured.err and "machines" not in captured.err
    assert not (tmp_path / "out").exists()


# -- printed results: 6 significant digits, checked against hand computations ----------------------
def by_hand(net: demo.DemoNetwork) -> tuple[list[list[float]], list[list[float]]]:
    """dloss/dW1 and dloss/dW2 of the tanh demo network, from its weights with plain floats:
    h = tanh(x W1 + b1), y = h W2 + b2, loss = mean((y - t)**2) over the 2 outputs."""
    W1 = [[w.data for w in row] for row in net.model.layers[0].weights]
    W2 = [[w.data for w in row] for row in net.model.layers[1].weights]
    b1 = [b.data for b in net.model.layers[0].biases]
    b2 = [b.data for b in net.model.layers[1].biases]
    x, t = net.x, net.target
    h = [math.tanh(sum(x[i] * W1[i][j] for i in range(2)) + b1[j]) for j in range(3)]
    y = [sum(h[j] * W2[j][k] for j in range(3)) + b2[k] for k in range(2)]
    dy = [2 * (y[k] - t[k]) / 2 for k in range(2)]
    dW2 = [[h[j] * dy[k] for k in range(2)] for j in range(3)]
    dz = [sum(W2[j][k] * dy[k] for k in range(2)) * (1 - h[j] ** 2) for j in range(3)]
    dW1 = [[x[i] * dz[j] for j in range(3)] for i in range(2)]
    return dW1, dW2


def test_trace_prints_a_weights_gradient_to_6_digits():
    net = demo.build()
    dW1, dW2 = by_hand(net)
    done = run("trace", "W1[0][2]")
    assert done.returncode == 0, done.stderr
    assert close6(re.search(r"W1\[0\]\[2\]\.grad = (\S+)", done.stdout).group(1), dW1[0][2])
    assert close6(re.search(r"sum of the 2 paths = (\S+)", done.stdout).group(1), dW1[0][2])
    report = demo.report(net)  # the demo's own trace of W1[0][2], and its matrices
    assert close6(re.search(r"W1\[0\]\[2\]\.grad = (\S+)", report).group(1), dW1[0][2])
    rows = report.split("dloss/dW_jk (3x2)", 1)[1].splitlines()[2:5]
    assert all(close6(p, e) for row, exact in zip(rows, dW2) for p, e in zip(row.split()[1:], exact))


def test_trace_of_a_formula_prints_6_digits():
    done = run("trace", "--expr", "tanh(a*b + c)", "--set", "a=2", "b=-3", "c=10", "--wrt", "a")
    assert done.returncode == 0, done.stderr
    exact = (1 - math.tanh(4.0) ** 2) * -3  # d tanh(ab + c)/da = (1 - tanh^2) b
    assert close6(re.search(r"a\.grad = (\S+)", done.stdout).group(1), exact)
