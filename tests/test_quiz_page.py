"""The quiz page (nn.quiz_html): the graph with the asked numbers hidden, answers checked in Chromium
with the Python quiz's tolerance and diagnosis."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import pytest

import autodiff
import nn
from autodiff import Value
from nn.quiz import quiz_from_graph

SVG = "{http://www.w3.org/2000/svg}"


def _svg(page_text: str) -> ET.Element:
    return ET.fromstring(page_text[page_text.index("<svg"):page_text.index("</svg>") + len("</svg>")])


def _data(page_text: str) -> dict:
    raw = re.search(r'<script type="application/json" id="quiz">(.*?)</script>', page_text, re.DOTALL).group(1)
    return json.loads(raw)


def _number(q: nn.quiz.Quiz, kind: str) -> int:
    return next(i for i, question in enumerate(q.questions, 1) if question.kind == kind)


def open_quiz(browser, tmp_path, quiz):
    path = tmp_path / "quiz.html"
    path.write_text(nn.quiz_html(quiz), encoding="utf-8")
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page, [u for u in requests if u != path.as_uri()], errors


def answer(page, number: int, text: str) -> tuple[str, str]:
    item = page.locator(f"#q{number}")
    item.locator("input").fill(text)
    item.locator("button").click()
    out = item.locator(".feedback")
    return out.text_content(), out.get_attribute("class")


# -- in Python: what the page is given ------------------------------------------------------------
def test_every_gradient_and_every_asked_local_is_hidden_in_the_drawing():
    q = nn.make_quiz(seed=1)
    root = _svg(nn.quiz_html(q))
    order = autodiff.topological_order(q.root)
    for i, v in enumerate(order):
        if v.is_constant:
            continue
        texts = [t.text for t in root.find(f".//{SVG}g[@id='v{i}']").iter(f"{SVG}text")]
        assert texts[-1] == "grad ?", (i, texts)
        assert not any(t.startswith("grad ") and t != "grad ?" for t in texts)
    local = q.questions[_number(q, "local") - 1]
    _, child, k = local.target
    edge = root.find(f".//{SVG}g[@id='e{order.index(child)}_{k}']")
    assert edge is not None and "asked" in edge.get("class") and edge.find(f"{SVG}text").text == "?"


@pytest.mark.parametrize("activation,seed", [("tanh", 1), ("relu", 2), ("sigmoid", 3)])
def test_each_precomputed_slip_is_the_python_quizs_diagnosis_of_that_number(activation, seed):
    q = nn.make_quiz(seed=seed, count=8, activation=activation)
    data = _data(nn.quiz_html(q))
    checked = 0
    for number, spec in enumerate(data["questions"], 1):
        if spec["kind"] == "matrix":
            want = q.questions[number - 1].answer
            size = len(want) * len(want[0])
            for i, row in enumerate(spec["entries"]):
                for j, entry in enumerate(row):
                    assert entry["answer"] == pytest.approx(want[i][j])
                    for value, (before, after) in entry["slips"]:
                        typed = [list(r) for r in want]
                        typed[i][j] = value
                        message = q.check(number, typed).message
                        assert message == (f"1 of {size} entries are wrong; the first, {entry['label']}: "
                                           + before + autodiff.fmt.number(value) + after)
                        checked += 1
            continue
        assert spec["answer"] == pytest.approx(q.questions[number - 1].answer)
        for value, (before, after) in spec["slips"]:
            feedback = q.check(number, value)
            assert not feedback.right
            assert before + autodiff.fmt.number(value) + after == feedback.message
            checked += 1
    assert checked >= 10


def test_a_hostile_label_reaches_the_page_as_text_only():
    a = Value(0.5, label="</script><script>alert(1)</script>")
    b = Value(2.0, label="b")
    loss = (a * b).tanh()
    loss.label = "loss"
    page = nn.quiz_html(quiz_from_graph(loss, seed=0, count=2, kinds=["grad"]))
    assert "<script>alert" not in page and page.count("<script") == 2
    assert _svg(page) is not None  # still well-formed XML


def test_bad_input_is_refused_by_name():
    with pytest.raises(TypeError, match="needs a Quiz"):
        nn.quiz_html("quiz")


# -- in Chromium --------------------------------------------------------------------------------
def test_right_answers_are_marked_right(browser, tmp_path):
    q = nn.make_quiz(seed=1)
    page, requests, errors = open_quiz(browser, tmp_path, q)
    # the local derivative of tanh, by hand from z1[0]'s value
    n = _number(q, "local")
    parent, child, _ = q.questions[n - 1].target
    assert child.op == "tanh"
    text, cls = answer(page, n, f"{1 - math.tanh(parent.data) ** 2:.4f}")
    assert cls == "feedback right" and text.startswith("Right: ")
    # dloss/dW1 from the textbook matrix rules (nn.reference), rounded as a learner would
    n = _number(q, "matrix")
    dW = nn.reference.from_model(q.model, q.x, q.target).weight_grads[q.questions[n - 1].target - 1]
    text, cls = answer(page, n, "; ".join(" ".join(f"{v:.4f}" for v in row) for row in dW))
    assert cls == "feedback right", text
    # its transpose is named as such
    text, cls = answer(page, n, "; ".join(" ".join(f"{v:.4f}" for v in col) for col in zip(*dW)))
    assert cls == "feedback wrong" and "transpose" in text
    assert requests == [] and errors == []


def test_one_path_alone_gets_that_paths_message(browser, tmp_path):
    q = nn.make_quiz(seed=1)
    n = next(i for i, qq in enumerate(q.questions, 1) if qq.kind == "grad" and autodiff.trace(q.root, qq.target).count > 1)
    t = autodiff.trace(q.root, q.questions[n - 1].target)
    alone = list(t.paths)[1].product
    typed = f"{alone:.5g}"
    page, requests, errors = open_quiz(browser, tmp_path, q)
    text, cls = answer(page, n, typed)
    assert cls == "feedback wrong"
    assert "that is path 2 alone" in text
    assert text == q.check(n, typed).message  # the Python quiz says the same
    assert requests == [] and errors == []


def test_an_unknown_slip_is_told_to_try_again_then_given_the_answer(browser, tmp_path):
    q = nn.make_quiz(seed=1)
    n = _number(q, "grad")
    right = q.questions[n - 1].answer
    page, requests, errors = open_quiz(browser, tmp_path, q)
    text, cls = answer(page, n, "123.25")
    assert cls == "feedback wrong" and "Try again" in text and autodiff.fmt.number(right) not in text
    text, cls = answer(page, n, "123.25")
    assert text == q.check(n, "123.25").message and autodiff.fmt.number(right) in text
    text, cls = answer(page, n, "seven")
    assert "a number" in text
    assert requests == [] and errors == []


def test_a_matrix_with_one_wrong_entry_gets_the_python_quizs_message(browser, tmp_path):
    q = nn.make_quiz(seed=1)
    n = _number(q, "matrix")
    layer = q.questions[n - 1].target
    dW = [list(row) for row in nn.reference.from_model(q.model, q.x, q.target).weight_grads[layer - 1]]
    # entry [1][2] as its first path alone: the slip the page must name, as the Python quiz does
    weight = q.model.parameter(f"W{layer}[1][2]")
    dW[1][2] = next(iter(autodiff.trace(q.root, weight).paths)).product
    typed = "; ".join(" ".join(f"{v:.6g}" for v in row) for row in dW)
    page, requests, errors = open_quiz(browser, tmp_path, q)
    text, cls = answer(page, n, typed)
    assert cls == "feedback wrong"
    assert text.startswith(f"1 of {len(dW) * len(dW[0])} entries are wrong; the first, W{layer}[1][2]: ")
    assert "path 1 alone" in text
    assert text == q.check(n, typed).message
    assert requests == [] and errors == []


# -- the command line ---------------------------------------------------------------------------
def test_autodiff_quiz_html_writes_the_page(tmp_path, capsys):
    from nn.cli import main

    out = tmp_path / "quiz.html"
    assert main(["quiz", "--seed", "1", "--count", "3", "--html", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == nn.quiz_html(nn.make_quiz(seed=1, count=3))
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert main(["quiz", "--count", "0", "--html", str(out)]) == 2
    assert "count must be a positive whole number" in capsys.readouterr().err
    assert main(["quiz", "--html", str(out), "--key"]) == 2
    assert "choose one" in capsys.readouterr().err
    assert main(["quiz", "--html", str(tmp_path / "no" / "such" / "dir.html")]) == 1
    assert "no" in capsys.readouterr().err
