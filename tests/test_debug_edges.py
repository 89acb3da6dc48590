"""The debugger and the step-through page at their edges: bad counts, unwritable files, a real
terminal, fuzzed commands, hostile labels, nameless nodes, and the page's numbers in Chromium."""

from __future__ import annotations

import io
import json
import math
import os
import pty
import random
import re
import select
import subprocess
import sys
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autodiff
from autodiff import Value, fmt


def session(root, commands, watch=None):
    out = io.StringIO()
    autodiff.Debugger(root, watch=watch, stdin=io.StringIO("".join(c + "\n" for c in commands)), stdout=out).run()
    return out.getvalue()


def controls(text: str) -> list[str]:
    """The control characters and lone surrogates in ``text``, newlines apart."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cs")]


def small():
    x = Value(3.0, label="x[0]")
    w = Value(-0.5, label="w")
    y = (x * w).tanh()
    y.label = "y"
    return x, w, y


# -- 5. counts, files and a real terminal ---------------------------------------------------------
def test_back_refuses_counts_below_one_and_stops_at_the_start():
    x, w, y = small()
    slope = 1 - math.tanh(-1.5) ** 2  # dy/d(x * w), by hand
    out = session(y, ["step 2", "back -1000", "print x[0]", "back 0", "back x", "back 1000", "where", "print x[0]"])
    assert "back: back takes a positive count, not -1000" in out
    assert "back: back takes a positive count, not 0" in out
    assert "back: back takes a count of steps (a whole number), not 'x'" in out
    # after two steps x[0] holds its whole gradient, w * slope; back past the start is the start
    assert f"x[0] = leaf, data 3, grad {-0.5 * slope:.6g}" in out
    assert "2 of" not in out.split("back 1000")[-1] and "0 of 2 steps done, 2 pending" in out
    assert out.rstrip().endswith("(adb)") and out.count("x[0] = leaf") == 2
    assert "x[0] = leaf, data 3, grad 0" in out.splitlines()[-2]


def test_graph_to_an_unwritable_place_is_one_failed_command(tmp_path, monkeypatch):
    x, w, y = small()
    out = session(y, ["graph /no/such/dir/g.svg", "step", "print w"])
    assert "graph: cannot write /no/such/dir/g.svg: No such file or directory" in out
    assert "step 1: y (tanh) grad 1" in out and "w = leaf" in out  # the session went on

    from autodiff.render.draw import Graph

    for error in (autodiff.RenderError("dot failed:\nsyntax error in line 3"),
                  autodiff.RendererNotAvailable("renderer 'system' is not installed here")):
        def fail(self, *args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(Graph, "svg", fail)
        out = session(y, [f"graph {tmp_path / 'g.svg'}", "where"])
        reason = " ".join(str(error).split())
        assert f"graph: cannot write {tmp_path / 'g.svg'}: {reason}" in out
        assert "0 of 2 steps done" in out


SCRIPT = """
import autodiff
x = autodiff.Value(3.0, label="x")
y = x * x
y.label = "y"
autodiff.Debugger(y).run()
"""


def test_at_a_terminal_arrow_keys_edit_the_line_and_recall_history():
    main, child = pty.openpty()
    env = dict(os.environ, TERM="xterm")
    env.pop("INPUTRC", None)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=child, stdout=child, stderr=child, env=env, close_fds=True)
    os.close(child)
    seen = b""

    def read_until(marker: bytes, count: int, timeout: float = 30) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while seen.count(marker) < count:
            left = end - time.monotonic()
            assert left > 0, f"waited for {count} x {marker!r}; the terminal showed {seen!r}"
            if select.select([main], [], [], left)[0]:
                try:
                    seen += os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    break

    try:
        read_until(b"(adb) ", 1)
        os.write(main, b"print x\r")
        read_until(b"x = leaf", 1)
        os.write(main, b"\x1b[A\r")  # up: the last command again
        read_until(b"x = leaf", 2)
        os.write(main, b"prin x\x1b[D\x1b[Dt\r")  # left twice, then the missing letter
        read_until(b"x = leaf", 3)
        os.write(main, b"quit\r")
        proc.wait(timeout=30)
    finally:
        proc.kill()
        os.close(main)
    text = seen.decode("utf-8", "replace")
    assert "unknown command" not in text and text.count("x = leaf, data 3, grad 0") == 3


WORDS = ["step", "next", "continue", "break", "print", "where", "back", "graph", "help", "quit",
         "s", "n", "c", "b", "p", "w", "g", "h", "q", "pr", "bogus", ""]
WORD = st.one_of(st.sampled_from(WORDS), st.sampled_from(WORDS), st.text(max_size=6))
ARGUMENT = st.one_of(
    st.integers(-10**4, 10**4).map(str),
    st.sampled_from(["99999999999999999999", "1e3", "x[0]", "w", "y", "x[0] * w", "g.svg", "g.png", "g.dot", "g.txt",
                     "no-such-dir/g.svg", '"unclosed', "'", "a b c", "\x1b[A", "\x00", "\ud800"]),
    st.text(st.characters(blacklist_characters="/\\", blacklist_categories=("Cs",)), max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(WORD, st.lists(ARGUMENT, max_size=3)), max_size=6))
def test_no_command_line_ends_the_session_with_a_traceback(tmp_path, monkeypatch, lines):
    monkeypatch.chdir(tmp_path)  # graph FILE writes here
    x, w, y = small()
    out = io.StringIO()
    debugger = autodiff.Debugger(y, stdout=out)
    for word, args in lines:
        line = " ".join([word, *args])
        assert debugger.onecmd(line) in (True, False)
        assert 0 <= debugger.position <= len(debugger.record.steps)
    assert controls(out.getvalue()) == []


# -- 3 and 4. names, numbers and hostile labels in the terminal ---------------------------------
HOSTILE = "a\x1b[2J\x1b]0;owned\x07b\x00c\x0b\x0c\ud800"


def test_terminal_output_never_holds_a_control_character():
    x = Value(1.5, label=HOSTILE)
    y = (x * x).tanh()
    y.label = "out\x1b[31m"
    out = session(y, ["where", "step 3", "where", "print nosuch", "break", "next", "continue"], watch=x)
    assert controls(out) == []
    out.encode("utf-8")  # a lone surrogate would not encode
    assert "a\\x1b[2J\\x1b]0;owned\\x07b\\x00c\\x0b\\x0c\\ud800" in out and "out\\x1b[31m" in out


def test_nameless_nodes_are_named_by_their_formula_in_the_debugger():
    x, w = Value(3.0, label="x"), Value(-0.5, label="w")
    y = (x * w).tanh()  # no labels below the leaves
    out = session(y, ["step", "step", "print x * w", "print tanh(x * w)"])
    assert out.startswith("backprop from tanh(x * w): 2 steps")
    slope = 1 - math.tanh(-1.5) ** 2
    assert "step 1: tanh(x * w) grad 1" in out
    assert f"    -> x * w: local {slope:.6g} * grad 1 = {slope:.6g}; grad 0 -> {slope:.6g}" in out
    assert f"x * w = op, data -1.5, grad {slope:.6g}; op *, local derivatives: d/dx = -0.5, d/dw = 3" in out
    assert f"tanh(x * w) = root, data {math.tanh(-1.5):.6g}, grad 1; op tanh, local derivatives: d/d(x * w) = {slope:.6g}" in out
    assert "#" not in out


# -- 3, 6 and 7. the page, in Chromium -------------------------------------------------------------
# (the browser fixture is in conftest.py)


def python_g(x: float, digits: int) -> str:
    """Python's own '%.{digits}g' (the oracle): 'nan', 'inf', '-inf', and 0 for -0."""
    text = f"{x:.{digits}g}"
    return "0" if text == "-0" else text


def open_html(browser, tmp_path, text, name="page.html"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    return page


STEPS = re.compile(r'(<script type="application/json" id="steps">)(.*?)(</script>)', re.S)


def javascript_names(html_text: str) -> str:
    """The page with the record's non-finite numbers written "NaN", "Infinity", "-Infinity"."""
    names = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}

    def convert(obj):
        if isinstance(obj, float) and not math.isfinite(obj):
            return names[repr(obj)]
        if isinstance(obj, str) and obj in names:
            return names[obj]
        if isinstance(obj, dict):
            return {k: convert(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [convert(v) for v in obj]
        return obj

    def rewrite(m):
        data = convert(json.loads(m.group(2)))
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
        assert '"NaN"' in text and '"Infinity"' in text and '"-Infinity"' in text
        return m.group(1) + text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + m.group(3)

    return STEPS.sub(rewrite, html_text)


NUMBERS = [0.0, -0.0, 1.0, -1.179672, 1 / 3, -2 / 3 * 1e-5, 1e-4, 9.999995e-5, 0.0001234565, 123456.5, 1234565.0,
           2.0**-10, -(2.0**-20), 999999.5, 9999995.0, 1e21, -1.5e300, 5e-324, -2.5e-7, 0.1 + 0.2, 12345678.0,
           100000.0, 1000000.0, 0.5, 2.5, 1e16, 123456789012345678.0, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("encoding", ["as recorded", "NaN and Infinity as strings"])
def test_the_page_writes_numbers_as_fmt_number_does(browser, tmp_path, encoding):
    rng = random.Random(13)
    numbers = NUMBERS + [rng.choice([-1, 1]) * rng.random() * 10.0 ** rng.randint(-12, 12) for _ in range(20)]
    # the page must write what fmt writes; fmt itself is Python's '%g' with 6 and 4 digits
    assert [fmt.number(x) for x in numbers] == [python_g(x, 6) for x in numbers]
    assert [fmt.short(x) for x in numbers] == [python_g(x, 4) for x in numbers]
    leaves = [Value(1.0, label=f"x{i}") for i in range(len(numbers))]
    root = Value.sum([x * c for x, c in zip(leaves, numbers)])
    root.label = "root"
    rec = autodiff.record_steps(root)
    text = autodiff.page_html(root)
    if encoding != "as recorded":
        text = javascript_names(text)
    page = open_html(browser, tmp_path, text)
    checked = set()
    for k, step in enumerate(rec.shown, start=1):
        page.click("#next")
        rows = page.locator("#contributions tr.contribution")
        for r, c in enumerate(step.contributions):
            cells = rows.nth(r).locator("td").all_inner_texts()
            assert cells[1:] == [fmt.number(getattr(c, key)) for key in ("local", "amount", "before", "after")]
            checked.update(fmt.number(getattr(c, key)) for key in ("local", "amount", "before", "after"))
        node = rec.nodes[step.node_id]
        assert page.inner_text("#step-node") == f"grad {fmt.number(step.grad)}, data {fmt.number(node['data'])}"
    assert {fmt.number(x) for x in numbers} <= checked
    assert {"nan", "inf", "-inf", "0.000976562", "123456", "1.23456e+06", "1e+06", "1e+21"} <= checked  # ties to even
    # the grads written into the drawing are drawing text: 4 digits, as fmt.short
    for i, v in enumerate(rec.values):
        if v.label.startswith("x"):
            grad = numbers[int(v.label[1:])]
            assert page.locator(f"#v{i} text").all_text_contents()[-1] == f"grad {fmt.short(grad)}"


def test_a_label_that_starts_with_grad_stays_a_label(browser, tmp_path):
    x = Value(2.0, label="grad clip")
    h = (x * 3.0).tanh()
    h.label = "grad 0"  # looks exactly like a grad line
    y = h * x
    y.label = "y"
    rec = autodiff.record_steps(y)
    page = open_html(browser, tmp_path, autodiff.page_html(y))
    for k in range(len(rec.shown) + 1):
        grads = rec.grads_at(k)
        for i, v in enumerate(rec.values):
            if v.label:
                texts = page.locator(f"#v{i} text").all_text_contents()
                assert texts[0] == v.label and texts[1].startswith("data ")
                assert texts[-1] == f"grad {python_g(grads[i], 4)}"
        page.click("#next")


def test_without_grads_drawn_the_page_leaves_every_box_line_alone(browser, tmp_path):
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    y.label = "y"
    page = open_html(browser, tmp_path, autodiff.page_html(y, show_grad=False))
    for _ in range(3):
        page.click("#next")
    for label, data in (("x", x.data), ("y", y.data)):
        i = autodiff.topological_order(y).index(x if label == "x" else y)
        assert page.locator(f"#v{i} text").all_text_contents() == [label, f"data {python_g(data, 4)}"]


def test_the_page_names_nameless_nodes_by_their_formula(browser, tmp_path):
    x, w = Value(3.0, label="x"), Value(-0.5, label="w")
    y = (x * w).tanh()
    page = open_html(browser, tmp_path, autodiff.page_html(y))
    assert page.inner_text("h1") == "Backprop from tanh(x * w), step by step"
    assert page.inner_text("#step-title") == "Before backprop: the root tanh(x * w) gets grad 1; press next."
    page.click("#next")
    assert page.inner_text("#step-title") == "Step 1: tanh(x * w)"
    assert page.locator("#contributions td").all_inner_texts()[0] == "x * w"
    page.click("#next")
    names = [row[0] for row in (page.locator("#contributions tr").nth(r).locator("td").all_inner_texts() for r in range(2))]
    assert page.inner_text("#step-title") == "Step 2: x * w" and names == ["x", "w"]


def test_hostile_labels_reach_the_page_escaped(browser, tmp_path):
    x = Value(1.5, label=HOSTILE)
    y = x * 2.0
    text = autodiff.page_html(y)
    text.encode("utf-8")
    page = open_html(browser, tmp_path, text)
    shown = [page.inner_text("h1")]
    for _ in range(3):
        page.click("#next")
        shown += page.locator("#contributions td").all_text_contents() + [page.inner_text("#step-title")]
    assert all(controls(t) == [] for t in shown) and any(t.startswith("a\\x1b[2J") for t in shown)
