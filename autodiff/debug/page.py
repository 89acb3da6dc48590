"""The offline step-through page: one self-contained HTML file (inline SVG, script and style).

Next and previous buttons, a slider and the arrow keys move through the backward steps; each
step highlights its node and edges, writes every node's gradient at that moment into the graph,
and lists the numbers (grad, local derivatives, contributions, before and after). The page reads
the same :class:`~autodiff.debug.record.StepRecord` as the terminal debugger, embedded as JSON.
Nothing is loaded from the network, and labels only reach the page as text.

It writes what the other front ends write: nodes named by :func:`autodiff.fmt.name`, numbers in
the panel as :func:`autodiff.fmt.number` writes them (its ``num()`` is the same formatting in
JavaScript, tested against it in Chromium) and grads in the drawing as :func:`autodiff.fmt.short`.

>>> from autodiff import Value
>>> x = Value(2.0, label="x")
>>> y = (x * x).tanh()
>>> page = page_html(y, title="x squared")
>>> page.startswith("<!DOCTYPE html>") and "<svg" in page and "http" not in page.split("<svg")[0]
True
"""

from __future__ import annotations

import html
import json
from typing import Optional

from .. import fmt
from ..value import Value
from .record import StepRecord, record_forward, record_steps

__all__ = ["page_html", "Stepper", "stepper"]

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #0f172a; }
header { padding: 10px 16px; background: #f8fafc; border-bottom: 1px solid #e2e8f0; position: sticky; top: 0; }
header h1 { font-size: 16px; margin: 0 0 6px 0; }
button { font-size: 14px; padding: 3px 12px; }
#slider { width: 40%; vertical-align: middle; }
#counter { font-variant-numeric: tabular-nums; margin-left: 8px; }
main { display: flex; gap: 12px; padding: 8px 16px; }
#graph { flex: 3; overflow: auto; border: 1px solid #e2e8f0; }
#graph svg { max-width: 100%; height: auto; }
#panel { flex: 1; min-width: 260px; font-size: 13px; }
#panel table { border-collapse: collapse; width: 100%; }
#panel td, #panel th { border-bottom: 1px solid #e2e8f0; padding: 3px 4px; text-align: left; font-variant-numeric: tabular-nums; }
g.node.done path, g.node.done polygon { fill: DONE_FILL; stroke: DONE_STROKE; }
g.node.pending path, g.node.pending polygon { fill: PENDING_FILL; stroke: PENDING_STROKE; }
g.node.current path, g.node.current polygon, g.node.current ellipse { fill: CURRENT_FILL; stroke: CURRENT_STROKE; stroke-width: 3px; }
g.node.parent path, g.node.parent polygon { stroke: #dc2626; stroke-width: 2px; }
g.node.flagged path, g.node.flagged polygon { stroke: #ea580c; stroke-width: 3px; stroke-dasharray: 5 2; }
g.edge.flagged path { stroke: #ea580c; stroke-width: 2.5px; stroke-dasharray: 5 2; }
#diagnosis li { color: #9a3412; margin-bottom: 4px; }
g.edge.active path, g.edge.active polygon { stroke: #dc2626; stroke-width: 2.5px; }
g.edge.active polygon { fill: #dc2626; }
g.edge.active text { fill: #dc2626; font-weight: bold; }
"""


def _coloured(css: str) -> str:
    """``css`` with the stepping colours of the drawings (:data:`autodiff.fmt.STATUS_COLOURS`): one table."""
    for status, colours in fmt.STATUS_COLOURS.items():
        css = css.replace(f"{status.upper()}_FILL", colours["fill"]).replace(f"{status.upper()}_STROKE", colours["stroke"])
    return css


_STYLE = _coloured(_STYLE)

#: The page's number formatter in JavaScript, ``num(x, digits)``: :func:`autodiff.fmt.number`'s twin
#: (tested against it in Chromium), for every page that writes numbers. It reads ``view.digits``.
NUM_JS = """
  // A number of the record. JSON has no NaN or infinities: the record writes them as strings.
  var SPECIAL = {'NaN': NaN, 'nan': NaN, 'Infinity': Infinity, 'inf': Infinity, '-Infinity': -Infinity, '-inf': -Infinity};
  function value(x) { return typeof x === 'string' && SPECIAL.hasOwnProperty(x) ? SPECIAL[x] : Number(x); }
  // '9999' + 1 = '10000', on decimal digits
  function increment(digits) {
    var d = digits.split(''), i = d.length - 1;
    while (i >= 0 && d[i] === '9') { d[i] = '0'; i--; }
    if (i < 0) return '1' + d.join('');
    d[i] = String(Number(d[i]) + 1);
    return d.join('');
  }
  // x as autodiff.fmt.number writes it (Python's '%.6g'; `digits` significant digits, 6 unless
  // given): rounded half to even on x's exact value, no trailing zeros, 'nan', 'inf', '-inf'.
  function num(x, digits) {
    digits = digits || view.digits;
    x = value(x);
    if (x !== x) return 'nan';
    if (x === Infinity) return 'inf';
    if (x === -Infinity) return '-inf';
    if (x === 0) return '0';
    // 100 significant digits are exact for every double that is not a freak, so the rounding
    // is done here, the way Python does it (toPrecision rounds ties away from zero)
    var parts = Math.abs(x).toExponential(99).split('e');
    var all = parts[0].replace('.', ''), exp = parseInt(parts[1], 10);
    var kept = all.slice(0, digits), rest = all.slice(digits);
    var odd = Number(kept[digits - 1]) % 2 === 1;
    if (rest[0] > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || odd))) {
      kept = increment(kept);
      if (kept.length > digits) { kept = kept.slice(0, digits); exp += 1; }
    }
    kept = kept.replace(/0+$/, '');
    var sign = x < 0 ? '-' : '';
    if (exp < -4 || exp >= digits) {
      var e = Math.abs(exp);
      return sign + kept[0] + (kept.length > 1 ? '.' + kept.slice(1) : '') + 'e' + (exp < 0 ? '-' : '+') + (e < 10 ? '0' : '') + e;
    }
    if (exp < 0) return sign + '0.' + '0'.repeat(-exp - 1) + kept;
    if (kept.length <= exp + 1) return sign + kept + '0'.repeat(exp + 1 - kept.length);
    return sign + kept.slice(0, exp + 1) + '.' + kept.slice(exp + 1);
  }
"""

_SCRIPT = """
(function () {
  var record = JSON.parse(document.getElementById('steps').textContent);
  var view = JSON.parse(document.getElementById('view').textContent);
  var steps = record.steps, nodes = record.nodes, n = steps.length;
  var slider = document.getElementById('slider');
  var position = 0;
""" + NUM_JS + """  // What every front end calls node i (autodiff.fmt.name): the record's name, or the page's list.
  function name(i) { return nodes[i].name; }
  // Backward mode shows gradients; forward mode shows tangents (d node / d input), parents first.
  var forward = record.mode === 'forward', word = forward ? 'tangent' : 'grad';
  function grads(k) {
    var g = record.start.map(value);
    for (var s = 0; s < k; s++) {
      g[steps[s].node] = value(steps[s].grad);  // what a hook made of it; in forward mode, the tangent
      if (!forward) steps[s].contributions.forEach(function (c) { g[c.parent] = value(c.after); });
    }
    return g;
  }
  function cell(row, text) { var td = document.createElement('td'); td.textContent = text; row.appendChild(td); }
  function show(k) {
    position = Math.max(0, Math.min(n, k));
    slider.value = position;
    document.getElementById('counter').textContent = 'step ' + position + ' of ' + n;
    var g = grads(position), current = position > 0 ? steps[position - 1] : null;
    var done = {};
    for (var s = 0; s < position; s++) done[steps[s].node] = true;
    document.querySelectorAll('g.edge.active, g.node.parent, g.node.current').forEach(function (el) {
      el.classList.remove('active', 'parent', 'current');
    });
    nodes.forEach(function (nd, i) {
      var el = document.getElementById('v' + i);
      if (!el) return;
      el.classList.remove('done', 'current', 'pending');
      el.classList.add(current && current.node === i ? 'current' : done[i] ? 'done' : 'pending');
      // A box's lines are its label's, then data, then grad: the grad line is the last text.
      // (Finding it by its text would rewrite a label that starts with "grad ".)
      var texts = el.querySelectorAll('text');
      if (view.gradLine[i] && texts.length) texts[texts.length - 1].textContent = word + ' ' + num(g[i], view.short);
    });
    var title = document.getElementById('step-title'), body = document.getElementById('contributions');
    body.textContent = '';
    if (!current) {
      title.textContent = forward
        ? 'Before forward mode: ' + view.start + ' gets tangent 1; press next.'
        : 'Before backprop: the root ' + name(n ? steps[0].node : 0) + ' gets grad 1; press next.';
      document.getElementById('step-node').textContent = '';
      return;
    }
    var op = document.getElementById('o' + current.node);
    if (op) op.classList.add('current');
    var out = document.getElementById('r' + current.node);
    if (out) out.classList.add('active');
    var nd = nodes[current.node];
    title.textContent = 'Step ' + position + ': ' + name(current.node) + (nd.label && nd.op ? ' (' + nd.op + ')' : '');
    document.getElementById('step-node').textContent = word + ' ' + num(current.grad) + ', data ' + num(nodes[current.node].data);
    current.contributions.forEach(function (c) {
      var edge = document.getElementById('e' + current.node + '_' + c.k);
      if (edge) edge.classList.add('active');
      var parent = document.getElementById('v' + c.parent);
      if (parent) parent.classList.add('parent');
      var row = document.createElement('tr');
      row.className = 'contribution';
      cell(row, name(c.parent)); cell(row, num(c.local)); cell(row, num(c.amount));
      cell(row, num(c.before)); cell(row, num(c.after));
      body.appendChild(row);
    });
    if (!current.contributions.length) {
      var row = document.createElement('tr'); cell(row, 'a leaf: its grad is final'); body.appendChild(row);
    }
  }
  document.getElementById('next').addEventListener('click', function () { show(position + 1); });
  document.getElementById('prev').addEventListener('click', function () { show(position - 1); });
  slider.addEventListener('input', function () { show(parseInt(slider.value, 10)); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') { show(position + 1); e.preventDefault(); }
    if (e.key === 'ArrowLeft') { show(position - 1); e.preventDefault(); }
  });
  // The diagnosis (autodiff.diagnose), when the page was made with one: each finding's nodes and
  // the edge of the factor to blame are outlined, with the message as the node's tooltip.
  (view.findings || []).forEach(function (f) {
    var item = document.createElement('li');
    item.textContent = f.message;
    document.getElementById('diagnosis').appendChild(item);
    f.nodes.forEach(function (i) {
      var el = document.getElementById('v' + i);
      if (!el) return;
      el.classList.add('flagged');
      var tip = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      tip.textContent = f.message;
      el.appendChild(tip);
    });
    f.edges.forEach(function (e) {
      var edge = document.getElementById('e' + e[1] + '_' + e[2]);
      if (edge) edge.classList.add('flagged');
    });
  });
  if (forward) {
    var heads = document.querySelectorAll('#panel thead th');
    heads[0].textContent = 'from operand'; heads[2].textContent = 'local \u00d7 its tangent';
  }
  slider.max = n;
  show(0);
})();
"""


def _script_json(text: str) -> str:
    # Inside <script>, "</script>" or "<!--" in a label must not end the element: escape < > &.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _view(record: StepRecord, draw_options: dict[str, object], start: str = "",
          findings: Optional[list[dict[str, object]]] = None) -> str:
    """What the page needs beside the record (which names each node), as JSON: whether a node's box
    in the drawing ends in a grad line, and the digits of numbers in the panel
    (:data:`~autodiff.fmt.DIGITS`) and in the drawing (:data:`~autodiff.fmt.SHORT_DIGITS`)."""
    # draw writes a box's lines as label, data, grad; constants are a bare number, and collapsed
    # drawings have no box per node.
    grads_drawn = bool(draw_options.get("show_grad", True)) and not draw_options.get("collapse")
    return json.dumps({
        "gradLine": [grads_drawn and not v.is_constant for v in record.values],
        "digits": fmt.DIGITS,
        "short": fmt.SHORT_DIGITS,
        "start": start,  # forward mode: the input whose tangent is 1
        "findings": [{"message": f["message"], "nodes": f["nodes"], "edges": f["edges"]} for f in findings or []],
    }, separators=(",", ":"))


def page_html(root: Value, title: Optional[str] = None, renderer: Optional[str] = None,
              forward: Optional[Value] = None, diagnose: bool = False, **draw_options: object) -> str:
    """The step-through page for ``root.backward()`` as one HTML string (nothing changes ``.grad``).

    With ``forward`` (an input of ``root``'s graph) the page steps through forward mode instead:
    tangent 1 on that input, each step a node's tangent, parents first. With ``diagnose``, the
    findings of :func:`autodiff.diagnose` (vanishing, exploding, saturated, dead, non-finite) are
    listed in the panel and outlined in the graph: their nodes, and the edge of the factor to blame.
    """
    from ..render import Scene

    if forward is None:
        record = record_steps(root)
        heading_text = f"Backprop from {fmt.name(root)}, step by step"
    else:
        if not isinstance(forward, Value):
            raise TypeError(f"forward must be an input Value of the graph, not {type(forward).__name__}")
        record = record_forward(root, [forward], [1.0])
        heading_text = f"Forward mode from {fmt.name(forward)} to {fmt.name(root)}, step by step"
    start = {v: record.start[i] for i, v in enumerate(record.values)}
    scene = Scene([root], grads=start, renderer=renderer, **draw_options)  # type: ignore[arg-type]
    svg = scene.draw().svg()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inline
    heading = html.escape(fmt.printable(title) if title else heading_text)
    findings = None
    if diagnose:
        from ..diagnose import diagnose as find

        findings = find(root).data()["findings"]
    view = _view(record, draw_options, fmt.name(forward) if forward is not None else "", findings)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{heading}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{heading}</h1>
<button id="prev" type="button" title="previous step (left arrow)">&#9664; previous</button>
<button id="next" type="button" title="next step (right arrow)">next &#9654;</button>
<input id="slider" type="range" min="0" max="0" value="0" aria-label="step">
<span id="counter"></span>
</header>
<main>
<div id="graph">{svg}</div>
<div id="panel">
<h2 id="step-title" style="font-size:15px"></h2>
<p id="step-node"></p>
<table><thead><tr><th>to parent</th><th>local</th><th>local &#215; grad</th><th>before</th><th>after</th></tr></thead>
<tbody id="contributions"></tbody></table>
<p style="color:#64748b">Green: done; red: this step; grey: pending. Arrow keys move too.</p>
<ul id="diagnosis"></ul>
</div>
</main>
<script type="application/json" id="steps">{_script_json(record.to_json(separators=(",", ":")))}</script>
<script type="application/json" id="view">{_script_json(view)}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


class Stepper:
    """The step-through page for a notebook: ``_repr_html_`` embeds it in an isolated iframe."""

    def __init__(self, root: Value, height: int = 640, title: Optional[str] = None, renderer: Optional[str] = None,
                 forward: Optional[Value] = None, diagnose: bool = False) -> None:
        self.root = root
        self.height = height
        self.html = page_html(root, title=title, renderer=renderer, forward=forward, diagnose=diagnose)

    def save(self, path: str) -> str:
        """Write the page to ``path`` (UTF-8); returns ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return path

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
            f'style="width:100%;height:{self.height}px;border:1px solid #e2e8f0"></iframe>'
        )


def stepper(root: Value, height: int = 640, title: Optional[str] = None, renderer: Optional[str] = None,
            forward: Optional[Value] = None, diagnose: bool = False) -> Stepper:
    """A notebook object that shows the step-through page for ``root`` inline (no server needed);
    ``forward`` and ``diagnose`` as in :func:`page_html`."""
    return Stepper(root, height, title, renderer, forward, diagnose)
