"""The ``autodiff`` command, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import autodiff
import nn
from nn import demo

EXE = shutil.which("autodiff", path=os.path.dirname(sys.executable)) or shutil.which("autodiff")


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert EXE, "the autodiff console script is not installed"
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)


def matrix(text: str, title: str) -> list[list[float]]:
    """The numbers of the matrix printed under ``title``."""
    lines = text.split(title, 1)[1].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.strip():
            break
        rows.append([float(v) for v in line.split()[1:]])
    return rows


def close(printed: list[list[float]], actual: list[list[float]]) -> bool:
    return all(abs(p - a) <= 1e-5 * max(abs(a), 1e-12) + 1e-12 for pr, ar in zip(printed, actual) for p, a in zip(pr, ar))


def test_version_and_help():
    assert run("--version").stdout.strip() == f"autodiff {autodiff.__version__}"
    for sub in ["demo", "trace", "render", "debug", "html", "explain", "check", "quiz", "mistakes"]:
        done = run(sub, "--help")
        assert done.returncode == 0 and "--seed" in done.stdout


@pytest.mark.parametrize("options", [[], ["--seed", "3", "--activation", "relu", "--x", "0.2", "1.5", "--target", "-1", "2"]])
def test_demo_prints_the_librarys_numbers_and_writes_its_files(tmp_path, options):
    done = run("demo", "--out", str(tmp_path / "out"), *options)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    seed = int(options[1]) if options else 0
    net = demo.build(seed=seed, activation=options[3] if options else "tanh",
                     x=[float(v) for v in options[5:7]] if options else (0.5, -1.0),
                     target=[float(v) for v in options[8:10]] if options else (1.0, 0.0))
    first, second = net.model.layers
    assert "W_ij = W1, input -> hidden (2x3)" in text and "dloss/dW_ij (2x3)" in text
    assert "W_jk = W2, hidden -> output (3x2)" in text and "dloss/dW_jk (3x2)" in text
    assert close(matrix(text, "dloss/dW_ij (2x3)"), first.weight_grads())
    assert close(matrix(text, "dloss/dW_jk (3x2)"), second.weight_grads())
    assert close(matrix(text, "W_jk = W2, hidden -> output (3x2)"), [[w.data for w in r] for r in second.weights])
    assert len(matrix(text, "dloss/dW_ij (2x3)")) == 2 and len(matrix(text, "dloss/dW_jk (3x2)")) == 3
    agreement = float(re.search(r"max \|difference\| = (\S+)", text).group(1))
    assert agreement <= 1e-12
    assert "dloss/dy[0] · dy[0]/dh1[2] · dh1[2]/dz1[2] · dz1[2]/dW1[0][2]" in text
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 15 and "graph.svg" in names and "backprop.html" in names and "trace-W2-2-1.svg" in names
    assert "explainer.html" in names
    for svg in out.glob("*.svg"):
        ET.parse(svg)
    assert "Wrote 15 files" in text and str(out / "trace-W1-0-2.svg") in text
    assert "<svg" in (out / "backprop.html").read_text()
    explainer = (out / "explainer.html").read_text()
    assert 'id="explainer-data"' in explainer and "svgPanZoom" in explainer  # its script and the bundled library


def test_demo_writes_to_autodiff_demo_by_default(tmp_path):
    assert run("demo", cwd=tmp_path).returncode == 0
    assert (tmp_path / "autodiff-demo" / "graph.svg").exists()


def test_trace_subcommand(tmp_path):
    done = run("trace", "W2[1][0]", "--svg", str(tmp_path / "t.svg"))
    assert done.returncode == 0, done.stderr
    net = demo.build()
    g = net.model.parameter("W2[1][0]").grad
    printed = re.search(r"W2\[1\]\[0\]\.grad = (\S+) \(equal\)", done.stdout).group(1)
    assert abs(float(printed) - g) <= 5e-6 * abs(g)  # 6 significant digits
    ET.parse(tmp_path / "t.svg")
    hidden = run("trace", "h1[1]")
    assert hidden.returncode == 0 and "dloss/dh1[1]" in hidden.stdout


def test_trace_of_a_formula():
    done = run("trace", "--expr", "tanh(a*b + c)", "--set", "a=2", "b=-3", "c=10", "--wrt", "a")
    assert done.returncode == 0, done.stderr
    t = 1 - __import__("math").tanh(4.0) ** 2
    printed = re.search(r"sum of the 1 path = (\S+)", done.stdout).group(1)
    assert abs(float(printed) - t * -3) <= 5e-6 * abs(t * 3) and "dout/da" in done.stdout


def test_render_network_and_formula(tmp_path):
    assert run("render", "--out", str(tmp_path / "g.svg")).returncode == 0
    root = ET.parse(tmp_path / "g.svg").getroot()
    assert "W1[0][2]" in "".join(root.itertext())
    done = run("render", "--expr", "tanh(a*b + c)", "--set", "a=2", "b=-3", "c=10", "--out", str(tmp_path / "e.png"))
    assert done.returncode == 0 and (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    assert run("render", "--collapse", "layer", "--out", str(tmp_path / "c.dot")).returncode == 0
    assert "box3d" in (tmp_path / "c.dot").read_text()


def test_debug_reads_piped_commands():
    done = run("debug", "W1[0][2]", stdin="next\nprint W1[0][2]\nquit\n")
    assert done.returncode == 0, done.stderr
    g = demo.build().model.parameter("W1[0][2]").grad
    assert "W1[0][2] = leaf, data" in done.stdout and f"grad {g:.6g}" in done.stdout
    assert run("debug", stdin="").returncode == 0  # end of input ends the session


def test_html_subcommand(tmp_path):
    done = run("html", "--out", str(tmp_path / "p.html"), "--expr", "a*a", "--set", "a=3")
    assert done.returncode == 0 and "<svg" in (tmp_path / "p.html").read_text()
    assert 'id="explainer-data"' not in (tmp_path / "p.html").read_text()  # a formula: its graph and the panel


def test_html_writes_the_explainer_for_the_network_and_the_plain_page_on_request(tmp_path):
    done = run("html", "--out", str(tmp_path / "e.html"))
    page = (tmp_path / "e.html").read_text()
    assert done.returncode == 0 and 'id="explainer-data"' in page and 'data-granularity="node"' in page
    done = run("html", "--steps", "layer", "--out", str(tmp_path / "l.html"))
    assert done.returncode == 0 and 'data-granularity="layer"' in (tmp_path / "l.html").read_text()
    done = run("html", "--plain", "--out", str(tmp_path / "p.html"))
    plain = (tmp_path / "p.html").read_text()
    assert done.returncode == 0 and "<svg" in plain and 'id="explainer-data"' not in plain
    done = run("html", "--expr", "a*a", "--set", "a=3", "--steps", "layer", "--out", str(tmp_path / "x.html"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--steps is for the network" in done.stderr
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["trace", "W9[0][0]"], "valid names: W1[0][0], W1[0][1]"),
        (["trace"], "say which gradient"),
        (["demo", "--x", "1"], "expected 2 arguments"),
        (["demo", "--x", "1", "nan"], "not a finite number"),
        (["demo", "--seed", "x"], "invalid int"),
        (["demo", "--activation", "gelu"], "invalid choice"),
        (["render", "--expr", "a.b", "--set", "a=1"], "attribute access is not allowed, at column 1: a.b"),
        (["render", "--expr", "__import__('os').system('true')"], "only these functions"),
        (["render", "--expr", "a*b", "--set", "a=1"], "no value for b"),
        (["render", "--set", "a=1"], "--set goes with --expr"),
        (["render", "--expr", "a", "--set", "a"], "expected NAME=NUMBER"),
        (["trace", "--expr", "a*b", "--set", "a=1", "b=2"], "--wrt"),
        (["trace", "--expr", "a*b", "--set", "a=1", "b=2", "--wrt", "z"], "not an input"),
        (["trace", "--expr", "log(a)", "--set", "a=-1", "--wrt", "a"], "log of a non-positive number"),
        (["debug", "nosuch"], "no value 'nosuch'"),
        (["frobnicate"], "invalid choice"),
        (["trace", "W1[0][0]", "--max-paths", "0"], "--max-paths"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, words):
    done = run(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    err = done.stderr.strip()
    assert words in err and "Traceback" not in err
    assert len(err.splitlines()) == 1 or err.splitlines()[0].startswith("usage:")
    assert err.splitlines()[-1].startswith("autodiff")


def test_unwritable_output_is_one_line_not_a_traceback(tmp_path):
    done = run("render", "--out", str(tmp_path / "missing" / "g.svg"))
    assert done.returncode == 1 and "cannot write" in done.stderr and "Traceback" not in done.stderr


def test_in_process_entry_point(capsys):
    from nn.cli import main

    assert main(["trace", "b2[1]"]) == 0
    assert "dloss/db2[1]" in capsys.readouterr().out
    assert nn.cli.main(["trace", "nope"]) == 2
