"""The quiz as one offline page: the graph with the asked numbers hidden, and answers checked as typed.

:func:`quiz_html` writes a :class:`~nn.quiz.Quiz` as a self-contained HTML file (inline SVG,
script and style; nothing is loaded from the network). The graph is drawn by
:class:`autodiff.render.Scene` with each edge's local derivative on it; every gradient is hidden
(``grad ?``), and so is the local derivative of each edge a question asks about (``?``). The
learner types each answer in the page and the page says whether it is right, with the tolerance
of :meth:`Quiz.check <nn.quiz.Quiz.check>`.

The page is static, so Python works out beforehand what a wrong answer can mean: for each
question, the typical slips (a path taken alone, a path or a factor left out, the sign, the
value instead of its derivative) as values, each with the message :meth:`Quiz.check
<nn.quiz.Quiz.check>` gives for it. The page takes the first slip within the tolerance, in the
order the Python quiz tries them; an answer that matches none is told so, and after two such
tries the page gives the worked answer. A matrix answer is checked as numbers (its shape, the
transpose, then its first wrong entry as a gradient); a formula needs ``autodiff quiz``.
Numbers are written by the page's ``num()`` (:func:`autodiff.fmt.number` in JavaScript) and
every label reaches the page as text only.

>>> from nn.quiz import make_quiz
>>> page = quiz_html(make_quiz(seed=1, count=2))
>>> page.startswith("<!DOCTYPE html>") and "<svg" in page and "grad ?" in page
True
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import autodiff
from autodiff import Value, fmt
from autodiff.debug import page as _page

from .quiz import Question, Quiz, _grad_slip, _local_slip

__all__ = ["quiz_html"]

_NUM_JS = _page.NUM_JS  # the step-through page's num(), fmt.number's twin in JavaScript

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #0f172a; }
header { padding: 10px 16px; background: #f8fafc; border-bottom: 1px solid #e2e8f0; }
header h1 { font-size: 16px; margin: 0; }
main { display: flex; gap: 12px; padding: 8px 16px; }
#graph { flex: 3; overflow: auto; border: 1px solid #e2e8f0; max-height: 90vh; }
#questions { flex: 2; min-width: 320px; font-size: 14px; margin: 0; padding-left: 22px; }
#questions li { margin-bottom: 14px; }
#questions input { width: 70%; font-size: 14px; }
.feedback { white-space: pre-wrap; font-family: Menlo, Consolas, monospace; font-size: 12px; margin: 4px 0; }
.feedback.right { color: #166534; }
.feedback.wrong { color: #9a3412; }
g.node.asked path, g.node.asked polygon { stroke: #7c3aed; stroke-width: 2.5px; }
g.edge.asked path, g.edge.asked polygon { stroke: #7c3aed; stroke-width: 2px; }
"""

_SCRIPT = """
(function () {
  var view = JSON.parse(document.getElementById('quiz').textContent);
  var NUM_JS_HERE;
  function close(a, b) { return Math.abs(a - b) <= Math.max(view.rel * Math.max(Math.abs(a), Math.abs(b)), view.abs); }
  // A message for the learner's x: the text before and after where it names the number.
  function said(parts, x) { return parts[0] + num(x) + parts[1]; }
  // One number against its answer: right, the first known slip within the tolerance (in the order
  // the Python quiz tries them), else null (matches no known slip).
  function scalar(spec, x) {
    if (close(x, spec.answer)) return {right: true, message: 'Right: ' + num(spec.answer) + '.'};
    for (var i = 0; i < spec.slips.length; i++)
      if (close(x, spec.slips[i][0])) return {right: false, message: said(spec.slips[i][1], x)};
    return null;
  }
  function number(text) {
    var t = text.trim();
    if (!/^[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?$/.test(t)) return null;
    return Number(t);
  }
  function rows(text) {
    var out = [];
    var parts = text.split(';');
    for (var i = 0; i < parts.length; i++) {
      if (!parts[i].trim()) continue;
      var row = parts[i].replace(/,/g, ' ').trim().split(/\\s+/).map(number);
      if (row.some(function (v) { return v === null || !isFinite(v); })) return null;
      out.push(row);
    }
    return out.length ? out : null;
  }
  function matrix(q, text) {
    var got = rows(text), want = q.answer, m = want.length, n = want[0].length;
    if (!got) return {right: false, message: 'This page checks numbers, rows separated by ;, for example 0.13 -0.01; -0.31 0.03. ' +
      'A formula is checked by autodiff quiz or nn.check_formula.', unread: true};
    var gm = got.length, gn = got[0].length, i, j;
    if (got.some(function (r) { return r.length !== gn; }))
      return {right: false, message: 'the rows have different lengths: a matrix has as many numbers in every row'};
    var transposed = function () {
      for (i = 0; i < m; i++) for (j = 0; j < n; j++) if (!close(got[j][i], want[i][j])) return false;
      return true;
    };
    if (gm === n && gn === m && (m !== n)) return {right: false, message: transposed() ? q.messages.transpose : q.messages.swapped};
    if (gm !== m || gn !== n) return {right: false, message: q.messages.shape.replace('SHAPE', gm + 'x' + gn)};
    var wrong = [];
    for (i = 0; i < m; i++) for (j = 0; j < n; j++) if (!close(got[i][j], want[i][j])) wrong.push([i, j]);
    if (!wrong.length) return {right: true, message: q.messages.right};
    if (m === n && transposed()) return {right: false, message: q.messages.square};
    var first = q.entries[wrong[0][0]][wrong[0][1]], x = got[wrong[0][0]][wrong[0][1]];
    var verdict = scalar(first, x);
    var slip = verdict ? verdict.message : said(first.fallback, x);
    return {right: false, message: wrong.length + ' of ' + (m * n) + ' entries are wrong; the first, ' + first.label + ': ' + slip};
  }
  view.questions.forEach(function (q, k) {
    var item = document.getElementById('q' + (k + 1));
    var input = item.querySelector('input'), out = item.querySelector('.feedback');
    var misses = 0;
    function check() {
      var verdict;
      if (q.kind === 'matrix') verdict = matrix(q, input.value);
      else {
        var x = number(input.value);
        if (x === null || !isFinite(x)) verdict = {right: false, message: 'An answer is a number, such as -0.1729.', unread: true};
        else {
          verdict = scalar(q, x);
          if (!verdict) {
            misses += 1;
            verdict = {right: false, message: misses >= 2 ? said(q.fallback, x)
              : 'Not ' + num(x) + ': that is none of the usual slips (a path alone, a path or a factor left out, the sign). Try again.'};
          }
        }
      }
      out.textContent = verdict.message;
      out.className = 'feedback ' + (verdict.unread ? 'unread' : verdict.right ? 'right' : 'wrong');
    }
    item.querySelector('button').addEventListener('click', check);
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { check(); e.preventDefault(); } });
  });
})();
""".replace("  var NUM_JS_HERE;\n", _NUM_JS)


def _parts(message: str, value: float) -> list[str]:
    """``message`` split around where it names ``value`` ("Not 0.5: ..."), for the page to put the
    learner's own number there."""
    said = f"Not {fmt.number(value)}"
    at = message.index(said) + len("Not ")
    return [message[:at], message[at + len(fmt.number(value)):]]


def _grad_candidates(root: Value, node: Value) -> list[float]:
    """The slips :func:`nn.quiz._grad_slip` recognises, as values, in the order it tries them."""
    t = autodiff.trace(root, node)
    out: list[float] = []
    if t.count <= 200:
        for path in t.paths:
            if t.count > 1:
                out += [path.product, t.total - path.product]
            out += [t.total - path.product + path.product / f for _, f in path.factors() if f != 0 and f != 1.0]
    return out + [-t.total]


def _scalar_spec(quiz: Quiz, answer: float, candidates: list[float], slip: Any) -> dict[str, Any]:
    """A number's answer, its slips as (value, message parts) and the worked answer (``fallback``);
    ``slip(value)`` is the Python quiz's own diagnosis, so the page says what ``Quiz.check`` says."""
    def close(a: float, b: float) -> bool:
        return abs(a - b) <= max(quiz.rel * max(abs(a), abs(b)), quiz.abs_)

    # a value far from every candidate gets the worked answer, the message for "none of these"
    far = answer + 1000.0 + 10 * max([abs(c) for c in candidates] + [abs(answer)])
    fallback = _parts(slip(far), far)
    slips: list[list[Any]] = []
    for c in candidates:
        if close(c, answer) or any(close(c, s[0]) for s in slips):
            continue  # right after all, or already listed (the first one wins, as in Python)
        parts = _parts(slip(c), c)
        if parts[1] != fallback[1] or parts[0] != fallback[0]:
            slips.append([c, parts])
    return {"answer": answer, "slips": slips, "fallback": fallback}


def _question_spec(quiz: Quiz, number: int, q: Question) -> dict[str, Any]:
    """What the page needs to check the answer to question ``number`` (``q``), as JSON-ready data."""
    rel, abs_ = quiz.rel, quiz.abs_
    if q.kind == "local":
        parent, child, _ = q.target
        assert isinstance(q.answer, float)
        candidates = [child.data] + ([parent.data] if child.op == "*" else []) + [-q.answer]
        return {"kind": "local", **_scalar_spec(quiz, q.answer, candidates, lambda v: _local_slip(q, v, rel, abs_))}
    if q.kind == "grad":
        assert isinstance(q.answer, float)
        node = q.target
        return {"kind": "grad", **_scalar_spec(quiz, q.answer, _grad_candidates(quiz.root, node),
                                               lambda v: _grad_slip(quiz.root, node, v, rel, abs_))}
    assert isinstance(q.answer, list) and quiz.model is not None
    layer, want = q.target, q.answer
    m, n = len(want), len(want[0])
    entries = []
    for i in range(m):
        row = []
        for j in range(n):
            weight = quiz.model.parameter(f"W{layer}[{i}][{j}]")
            spec = _scalar_spec(quiz, want[i][j], _grad_candidates(quiz.root, weight),
                                lambda v, w=weight: _grad_slip(quiz.root, w, v, rel, abs_))
            row.append({"label": fmt.name(weight), **spec})
        entries.append(row)
    # the fixed messages of Quiz._check_matrix, got from it on matrices of each telling shape
    shape = f"{m}x{n}"
    messages = {
        "right": quiz.check(number, want).message,
        "transpose": quiz.check(number, [list(r) for r in zip(*want)]).message if m != n else "",
        "swapped": f"Your matrix is {n}x{m}; dloss/dW{layer} is {shape}, the shape of W{layer}.",
        "shape": f"Your matrix is SHAPE; dloss/dW{layer} is {shape}, the shape of W{layer}: one entry per weight.",
        "square": f"Your matrix is the transpose of dloss/dW{layer}: rows are the layer's inputs.",
    }
    return {"kind": "matrix", "answer": want, "entries": entries, "messages": messages}


def _hide(svg: str, root: Value, quiz: Quiz) -> str:
    """The SVG with every grad line written ``grad ?``, and the asked edges' local derivatives ``?``;
    the nodes and edges asked about get the class ``asked``."""
    order = autodiff.topological_order(root)
    index = {id(v): i for i, v in enumerate(order)}
    asked_nodes: set[int] = set()
    asked_edges: set[str] = set()
    for q in quiz.questions:
        if q.kind == "local":
            _, child, k = q.target
            asked_edges.add(f"e{index[id(child)]}_{k}")
        elif q.kind == "grad":
            asked_nodes.add(index[id(q.target)])
        elif quiz.model is not None:
            asked_nodes.update(index[id(w)] for row in quiz.model.layers[q.target - 1].weights for w in row)

    def node(match: re.Match[str]) -> str:
        i, body = int(match.group(1)), match.group(2)
        if order[i].is_constant:
            return match.group(0)
        # a box's lines are label, data, grad: the grad line is its last text (labels are escaped,
        # so no "<" inside one)
        body = re.sub(r"(.*<text[^>]*>)[^<]*(</text>)", r"\1grad ?\2", body, count=1, flags=re.DOTALL)
        cls = "node asked" if i in asked_nodes else "node"
        return f'<g id="v{i}" class="{cls}">{body}</g>'

    def edge(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        if name not in asked_edges:
            return match.group(0)
        body = re.sub(r"(<text[^>]*>)[^<]*(</text>)", r"\1?\2", body, count=1)
        return f'<g id="{name}" class="edge asked">{body}</g>'

    svg = re.sub(r'<g id="v(\d+)" class="node">(.*?)</g>', node, svg, flags=re.DOTALL)
    return re.sub(r'<g id="(e\d+_\d+)" class="edge">(.*?)</g>', edge, svg, flags=re.DOTALL)


def quiz_html(quiz: Quiz, title: str = "") -> str:
    """The quiz ``quiz`` as one offline HTML page (a string): the graph, with the gradients and the
    asked local derivatives hidden, and each question with an input checked in the page.

    >>> from nn.quiz import make_quiz
    >>> page = quiz_html(make_quiz(seed=0, count=1, kinds=["grad"]))
    >>> "What is dloss/d" in page and "http" not in page.split("<svg")[0]
    True
    """
    if not isinstance(quiz, Quiz):
        raise TypeError(f"quiz_html needs a Quiz (from nn.make_quiz or quiz_from_graph), not {type(quiz).__name__}")
    from autodiff.render import Scene

    svg = Scene([quiz.root], show_local=True).draw().svg()
    svg = _hide(svg[svg.index("<svg"):], quiz.root, quiz)
    view = json.dumps({"rel": quiz.rel, "abs": quiz.abs_, "digits": fmt.DIGITS,
                       "questions": [_question_spec(quiz, i, q) for i, q in enumerate(quiz.questions, 1)]}, separators=(",", ":"))
    heading = html.escape(fmt.printable(title or f"Quiz: {quiz.title or fmt.name(quiz.root)}"))
    items = "\n".join(
        f'<li id="q{i}"><p class="prompt">{html.escape(fmt.printable(q.prompt))}</p>'
        f'<input type="text" aria-label="answer {i}" autocomplete="off"> <button type="button">check</button>'
        f'<p class="feedback"></p></li>'
        for i, q in enumerate(quiz.questions, 1))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{heading}</title>
<style>{_STYLE}</style>
</head>
<body>
<header><h1>{heading}</h1>
<p style="margin:4px 0 0 0;color:#64748b">Each edge carries its local derivative; every gradient is hidden (grad ?), and so
is each local derivative a question asks for (?). Type an answer and press Enter or check.</p></header>
<main>
<div id="graph">{svg}</div>
<ol id="questions">
{items}
</ol>
</main>
<script type="application/json" id="quiz">{fmt.script_json(view)}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
