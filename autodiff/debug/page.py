"""The offline step-through page: one self-contained HTML file (inline SVG, script and style).

Next and previous buttons, a slider and the arrow keys move through the backward steps, numbered
as the terminal debugger numbers them (:attr:`StepRecord.shown <autodiff.debug.record.StepRecord.shown>`:
one per operation; a leaf's grad is shown final with the step that completes it); each step
highlights its node and edges, writes the gradients it changes into the graph, and lists the
numbers (grad, local derivatives, contributions, before and after). The graph zooms and pans
(svg-pan-zoom, bundled) and keeps the current node in view; a step rewrites only what it changes,
a big drawing is attached tile by tile as it comes into view, and a graph too big to draw value
by value opens collapsed by neuron, a box opening on a click. The page reads
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

import base64
import html
import json
import math
import re
import zlib
from typing import Any, Optional, Union

from .. import fmt
from ..value import Value
from . import assets
from .record import StepRecord, record_forward, record_steps

__all__ = ["page_html", "Stepper", "stepper"]

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #0f172a; height: 100vh; display: flex; flex-direction: column; }
header { padding: 10px 16px; background: #f8fafc; border-bottom: 1px solid #e2e8f0; }
header h1 { font-size: 16px; margin: 0 0 6px 0; }
button { font-size: 14px; padding: 3px 12px; }
#slider { width: 40%; vertical-align: middle; }
#counter { font-variant-numeric: tabular-nums; margin-left: 8px; }
main { display: flex; gap: 12px; padding: 8px 16px; flex: 1; min-height: 0; }
#graph { flex: 3; min-width: 0; border: 1px solid #e2e8f0; overflow: hidden; position: relative; }
#graph > svg { width: 100%; height: 100%; display: block; }
#panel { flex: 1; min-width: 260px; font-size: 13px; overflow: auto; }
#panel table { border-collapse: collapse; width: 100%; }
#panel td, #panel th { border-bottom: 1px solid #e2e8f0; padding: 3px 4px; text-align: left; font-variant-numeric: tabular-nums; }
#panel tr.final td { color: #166534; }
g.node[id^="v"] path, g.node[id^="v"] polygon, g.node[id^="v"] rect { fill: PENDING_FILL; stroke: PENDING_STROKE; }
g.node[id^="v"].done path, g.node[id^="v"].done polygon, g.node[id^="v"].done rect { fill: DONE_FILL; stroke: DONE_STROKE; }
g.node[id^="g"].done polygon { fill: DONE_FILL; stroke: DONE_STROKE; }
g.node.current[id] path, g.node.current[id] polygon, g.node.current[id] ellipse, g.node.current[id] rect { fill: CURRENT_FILL; stroke: CURRENT_STROKE; stroke-width: 3px; }
g.node.parent path, g.node.parent polygon, g.node.parent rect { stroke: #dc2626; stroke-width: 2px; }
g.node.open[id] polygon { stroke: #2563eb; stroke-width: 3px; }
g.node[id^="g"] { cursor: pointer; }
#detail { position: absolute; inset: 0; overflow: auto; background: #ffffff; }
#detail text { font-size: 12px; text-anchor: middle; }
#detail g.edge path { fill: none; stroke: #64748b; }
#detail-bar { position: sticky; top: 0; left: 0; background: #f8fafc; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; font-size: 13px; }
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
  var steps = record.steps, nodes = record.nodes;
  // The steps every front end shows (StepRecord.shown): operations and the root. A leaf or a
  // constant takes no step of its own: completes[k] are the leaves whose grad step k makes final.
  var shown = view.shown.map(function (i) { return steps[i]; });
  var completes = view.completes.map(function (list) { return list.map(function (i) { return steps[i]; }); });
  var n = shown.length;
  var slider = document.getElementById('slider'), graph = document.getElementById('graph');
  var svg = graph.querySelector('svg');
""" + NUM_JS + """  // What every front end calls node i (autodiff.fmt.name): the record's name.
  function name(i) { return nodes[i].name; }
  // Backward mode shows gradients; forward mode shows tangents (d node / d input), parents first.
  var forward = record.mode === 'forward', word = forward ? 'tangent' : 'grad';

  // -- the state at `position` (steps applied), kept up to date one step at a time ---------------
  // A move applies or undoes only the steps between the two positions, and the drawing is then
  // rewritten only where a number or a state changed: a step costs the same on any graph.
  var position = 0, grads = record.start.map(value), done = new Uint8Array(nodes.length);
  var touched = [], mark = new Uint8Array(nodes.length);
  function touch(i) { if (!mark[i]) { mark[i] = 1; touched.push(i); } }
  // a collapsed page: how many of each box's values are done (a box is done when all of them are)
  var groupDone = {}, groupSize = {};
  (view.groups || []).forEach(function (g) { groupSize[g] = (groupSize[g] || 0) + 1; groupDone[g] = 0; });
  function finish(i, state) {
    if (done[i] === state) return;
    done[i] = state;
    if (view.groups) groupDone[view.groups[i]] += state ? 1 : -1;
  }
  function set(i, g) { grads[i] = g; touch(i); }
  function apply(k) {
    var s = shown[k];
    set(s.node, value(s.grad));  // what a hook made of it; in forward mode, the tangent
    if (!forward) s.contributions.forEach(function (c) { set(c.parent, value(c.after)); });
    finish(s.node, 1);
    completes[k].forEach(function (leaf) { set(leaf.node, value(leaf.grad)); finish(leaf.node, 1); });
  }
  function undo(k) {
    var s = shown[k];
    completes[k].forEach(function (leaf) { finish(leaf.node, 0); touch(leaf.node); });
    if (!forward) {
      for (var j = s.contributions.length - 1; j >= 0; j--) set(s.contributions[j].parent, value(s.contributions[j].before));
      // before its step a node holds what its consumers brought: what a hook was given, if any
      set(s.node, value(s.hook !== null && s.hook !== undefined ? s.hook : s.grad));
    } else {
      set(s.node, value(record.start[s.node]));
    }
    finish(s.node, 0);
  }

  // -- the drawing: elements looked up once, when first needed -------------------------------------
  // (a big drawing comes in tiles, attached as they come into view: an element not there yet is
  // looked up again later, and a tile brings its elements up to date when it is attached)
  var found = {};
  function element(id) {
    return found[id] || (found[id] = document.getElementById(id));
  }
  var gradText = [];
  function gradLine(i) {
    // A box's lines are its label's, then data, then grad: the grad line is the last text.
    // (Finding it by its text would rewrite a label that starts with "grad ".)
    if (!gradText[i] && view.gradLine[i] && element('v' + i)) {
      var texts = element('v' + i).querySelectorAll('text');
      gradText[i] = texts.length ? texts[texts.length - 1] : null;
    }
    return gradText[i];
  }
  function paint(i) {  // node i's box as the state says
    var el = element('v' + i), line = gradLine(i);
    if (el) el.classList.toggle('done', done[i] === 1 && !(lastCurrent && lastCurrent.node === i));
    if (line) line.textContent = word + ' ' + num(grads[i], view.short);
  }
  var lit = [];  // the elements the current step highlights
  function light(el, cls) { if (el) { el.classList.add(cls); lit.push([el, cls]); } }

  // -- zoom and pan (svg-pan-zoom), and the current node kept in view --------------------------------
  var panZoom = null, top = svg && svg.querySelector('g.graph'), shift = {x: 0, y: 0};
  if (top && top.transform.baseVal.numberOfItems) {
    var m = top.transform.baseVal.consolidate().matrix;  // Graphviz's translate(4 H), scale 1
    shift = {x: m.e, y: m.f};
  }
  var tiles = Array.prototype.map.call(document.querySelectorAll('#tiles script'), function (el) {
    return {box: el.getAttribute('data-box').split(' ').map(Number), data: el.textContent, state: 0};
  });
  if (svg && typeof svgPanZoom === 'function') {
    svg.removeAttribute('width'); svg.removeAttribute('height');
    panZoom = svgPanZoom(svg, {controlIconsEnabled: true, fit: true, center: true, dblClickZoomEnabled: false,
                               minZoom: 0.02, maxZoom: 200, zoomScaleSensitivity: 0.3,
                               onPan: later, onZoom: later});
    // Zoom in until node text is at least 12 px on screen (a whole big graph at once is unreadable);
    // the steps then pan to what they compute.
    var onScreen = (view.fontSize || 14) * panZoom.getSizes().realZoom;
    if (onScreen < 12) panZoom.zoomBy(12 / onScreen);
  }
  // Where node i's centre sits in the pan-zoom viewport, and its half size (drawing units), from
  // the boxes the page was written with: no layout is read, and later steps place it from the
  // library's own pan and zoom (svg-pan-zoom redraws on the next animation frame).
  function centre(i) {
    var b = view.boxes['v' + i] || (groups ? view.boxes['g' + groups[i]] : null);
    return b ? {x: b[0] + shift.x, y: b[1] + shift.y, w: b[2], h: b[3]} : null;
  }
  // Attach the tiles in or near the frame (a quarter of a frame around it), nearest first, within a
  // few milliseconds a frame: the rest come on the next frames, so no frame waits for many tiles.
  var pending = false;
  function later() {
    if (!pending && tiles.length) { pending = true; requestAnimationFrame(function () { pending = false; reveal(); }); }
  }
  // A tile's SVG: base64 of its zlib bytes, inflated by the browser's own DecompressionStream.
  function inflate(data) {
    var bytes = Uint8Array.from(atob(data), function (c) { return c.charCodeAt(0); });
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'))).text();
  }
  var ready = [];  // [tile, svg text]: inflated, waiting for a frame with time to attach them
  var waiting = [], inflating = 0;  // tiles in view, still compressed
  function reveal() {
    if (!panZoom || !tiles.length) return;
    var sizes = panZoom.getSizes(), pan = panZoom.getPan(), zoom = sizes.realZoom;
    var x0 = (-pan.x - sizes.width / 4) / zoom - shift.x, x1 = (1.25 * sizes.width - pan.x) / zoom - shift.x;
    var y0 = (-pan.y - sizes.height / 4) / zoom - shift.y, y1 = (1.25 * sizes.height - pan.y) / zoom - shift.y;
    var mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    function distance(t) {
      var dx = Math.max(t.box[0] - mx, 0, mx - t.box[2]), dy = Math.max(t.box[1] - my, 0, my - t.box[3]);
      return dx * dx + dy * dy;
    }
    tiles.filter(function (t) {
      return t.state === 0 && t.box[2] >= x0 && t.box[0] <= x1 && t.box[3] >= y0 && t.box[1] <= y1;
    }).sort(function (a, b) { return distance(a) - distance(b); }).forEach(function (t) {
      t.state = 1;
      waiting.push(t);
    });
    // a few inflated at a time (hundreds at once would land in one long task)
    while (waiting.length && inflating < 4) {
      var next = waiting.shift();
      inflating++;
      inflate(next.data).then(function (t) {
        return function (text) { inflating--; ready.push([t, text]); later(); };
      }(next));
      next.data = null;  // inflated once
    }
    // the budget counts each tile's layout too (read at once: the frame would do it anyway)
    var start = performance.now(), added = [];
    while (ready.length && !(added.length && performance.now() - start > 4)) {
      var item = ready.shift();
      item[0].state = 2;
      // parsed as XML, so nothing in it runs; a <g>, not an <svg>, so it is not a viewport of its own
      var doc = new DOMParser().parseFromString('<svg xmlns="http://www.w3.org/2000/svg">' + item[1] + '</svg>', 'image/svg+xml');
      var g = document.createElementNS('http://www.w3.org/2000/svg', 'g');
      g.setAttribute('class', 'tile');
      var parsed = document.importNode(doc.documentElement, true);
      while (parsed.firstChild) g.appendChild(parsed.firstChild);
      top.appendChild(g);
      added.push(g);
      g.querySelectorAll('g.node[id^="v"]').forEach(function (el) { paint(parseInt(el.id.slice(1), 10)); });
      g.getBBox();
    }
    if (ready.length || waiting.length) later();
    if (added.length) { highlight(lastCurrent); flag(); }
  }

  function keepInView(i) {
    var c = centre(i);
    if (!c) return;
    var sizes = panZoom.getSizes(), pan = panZoom.getPan(), zoom = sizes.realZoom;
    var x = c.x * zoom + pan.x, y = c.y * zoom + pan.y, margin = 20;
    // the whole box when it fits, else its centre
    var w = Math.min(c.w * zoom + margin, sizes.width / 2), h = Math.min(c.h * zoom + margin, sizes.height / 2);
    if (x < w || y < h || x > sizes.width - w || y > sizes.height - h) {
      panZoom.pan({x: sizes.width / 2 - c.x * zoom, y: sizes.height / 2 - c.y * zoom});
    }
  }

  // -- a collapsed page: a click on a box opens its values, laid out here ---------------------------
  // Columns by depth inside the box (its values' parents from elsewhere in a column on the left),
  // rows in the order of the record; the boxes carry the ids of the full drawing (v3, e3_0), so
  // the steps light and number them as they would there.
  var groups = view.groups, opened = null, places = {};
  var SVG = 'http://www.w3.org/2000/svg', BOX_W = 190, BOX_H = 50, COL = 250, ROW = 62;
  function make(tag, attrs, parent) {
    var el = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (a) { el.setAttribute(a, attrs[a]); });
    if (parent) parent.appendChild(el);
    return el;
  }
  function expand(g) {
    var members = [], inside = {}, depth = {}, outside = [], seen = {};
    groups.forEach(function (h, i) { if (h === g) { members.push(i); inside[i] = true; } });
    members.forEach(function (i) {
      depth[i] = 0;
      nodes[i].parents.forEach(function (p) {
        if (inside[p]) depth[i] = Math.max(depth[i], depth[p] + 1);
        else if (!seen[p]) { seen[p] = true; outside.push(p); }
      });
    });
    var columns = [outside];
    members.forEach(function (i) { (columns[depth[i] + 1] = columns[depth[i] + 1] || []).push(i); });
    places = {};
    var tall = 0;
    columns.forEach(function (column, c) {
      (column || []).forEach(function (i, r) { places[i] = {x: 20 + c * COL, y: 50 + r * ROW}; tall = Math.max(tall, r + 1); });
    });
    var frame = document.getElementById('detail');
    frame.textContent = '';
    var bar = document.createElement('div');
    bar.id = 'detail-bar';
    var close = document.createElement('button');
    close.id = 'close-detail'; close.type = 'button'; close.textContent = 'back to the overview';
    close.addEventListener('click', function () { shut(); });
    bar.appendChild(close);
    bar.appendChild(document.createTextNode(' ' + members.length + ' values; on the left, the values they use from elsewhere'));
    frame.appendChild(bar);
    var svgEl = make('svg', {width: 40 + columns.length * COL, height: 60 + tall * ROW, id: 'detail-svg'}, frame);
    members.forEach(function (i) {
      nodes[i].parents.forEach(function (p, k) {
        var a = places[p], b = places[i], edge = make('g', {'class': 'edge', id: 'e' + i + '_' + k}, svgEl);
        var x0 = a.x + BOX_W, y0 = a.y + BOX_H / 2, x1 = b.x, y1 = b.y + BOX_H / 2, m = (x0 + x1) / 2;
        make('path', {d: 'M' + x0 + ',' + y0 + ' C' + m + ',' + y0 + ' ' + m + ',' + y1 + ' ' + x1 + ',' + y1}, edge);
      });
    });
    Object.keys(places).forEach(function (key) {
      var i = Number(key), at = places[i], nd = nodes[i];
      var box = make('g', {'class': 'node', id: 'v' + i}, svgEl);
      make('rect', {x: at.x, y: at.y, width: BOX_W, height: BOX_H, rx: 6}, box);
      var lines = [name(i) + (nd.label && nd.op ? ' (' + nd.op + ')' : ''), 'data ' + num(nd.data, view.short),
                   word + ' ' + num(grads[i], view.short)];
      lines.forEach(function (line, n) {
        make('text', {x: at.x + BOX_W / 2, y: at.y + 15 + n * 15}, box).textContent = line;
      });
    });
    frame.hidden = false;
    found = {}; gradText = [];  // the ids now name the opened boxes
    if (opened !== null && element('g' + opened)) element('g' + opened).classList.remove('open');
    opened = g;
    if (element('g' + g)) element('g' + g).classList.add('open');
    Object.keys(places).forEach(function (key) { paint(Number(key)); });
    highlight(lastCurrent);
    flag();
    if (lastCurrent) scrollTo(lastCurrent.node);
  }
  function shut() {
    var frame = document.getElementById('detail');
    frame.hidden = true; frame.textContent = '';
    if (opened !== null && element('g' + opened)) element('g' + opened).classList.remove('open');
    opened = null; places = {}; found = {}; gradText = [];
    highlight(lastCurrent);
  }
  // Scroll the opened box so that node i is in view, from where it was placed (no layout read).
  function scrollTo(i) {
    var at = places[i], frame = document.getElementById('detail');
    if (!at) return;
    var w = frame.clientWidth, h = frame.clientHeight;
    if (at.x < frame.scrollLeft || at.x + BOX_W > frame.scrollLeft + w) frame.scrollLeft = at.x + BOX_W / 2 - w / 2;
    if (at.y < frame.scrollTop + 40 || at.y + BOX_H > frame.scrollTop + h) frame.scrollTop = at.y + BOX_H / 2 - h / 2;
  }
  if (groups && svg) {
    svg.addEventListener('click', function (e) {
      var box = e.target.closest && e.target.closest('g.node');
      if (box && /^g[0-9]+$/.test(box.id)) expand(parseInt(box.id.slice(1), 10));
    });
  }

  // -- the panel -----------------------------------------------------------------------------------
  function cell(row, text) { var td = document.createElement('td'); td.textContent = text; row.appendChild(td); return td; }
  function panel(current, k) {
    var title = document.getElementById('step-title'), body = document.getElementById('contributions');
    body.textContent = '';
    if (!current) {
      title.textContent = forward
        ? 'Before forward mode: ' + view.start + ' gets tangent 1; press next.'
        : 'Before backprop: the root ' + name(n ? shown[0].node : nodes.length - 1) + ' gets grad 1; press next.';
      document.getElementById('step-node').textContent = '';
      return;
    }
    var nd = nodes[current.node];
    title.textContent = 'Step ' + k + ': ' + name(current.node) + (nd.label && nd.op ? ' (' + nd.op + ')' : '');
    var hooked = function (s) { return s.hook !== null && s.hook !== undefined ? ' (its hook was given ' + num(s.hook) + ')' : ''; };
    document.getElementById('step-node').textContent = word + ' ' + num(current.grad) + ', data ' + num(nd.data) + hooked(current);
    current.contributions.forEach(function (c) {
      var row = document.createElement('tr');
      row.className = 'contribution';
      cell(row, name(c.parent)); cell(row, num(c.local)); cell(row, num(c.amount));
      cell(row, num(c.before)); cell(row, num(c.after));
      body.appendChild(row);
    });
    completes[k - 1].forEach(function (leaf) {
      var row = document.createElement('tr');
      row.className = 'final';
      cell(row, name(leaf.node));
      cell(row, word + ' ' + num(leaf.grad) + ' is final' + hooked(leaf)).colSpan = 4;
      body.appendChild(row);
    });
  }

  // The current step's node, its op and edges, and its parents, highlighted (whatever is attached).
  var lastCurrent = null;
  function highlight(current) {
    lit.forEach(function (pair) { pair[0].classList.remove(pair[1]); });
    lit = [];
    if (!current) return;
    var box = element('v' + current.node);
    if (box) { box.classList.remove('done'); light(box, 'current'); }
    if (groups) {  // the boxes of a collapsed drawing that hold this node and its parents
      current.contributions.forEach(function (c) {
        if (groups[c.parent] !== groups[current.node]) light(element('g' + groups[c.parent]), 'parent');
      });
      light(element('g' + groups[current.node]), 'current');
    }
    light(element('o' + current.node), 'current');
    light(element('r' + current.node), 'active');
    current.contributions.forEach(function (c) {
      light(element('e' + current.node + '_' + c.k), 'active');
      light(element('v' + c.parent), 'parent');
    });
  }
  function show(k) {
    var target = Math.max(0, Math.min(n, isNaN(k) ? 0 : k));
    var current = target > 0 ? shown[target - 1] : null;
    var focus = current ? current.node : (forward ? view.startId : nodes.length - 1);
    while (position < target) apply(position++);
    while (position > target) undo(--position);
    slider.value = position;
    document.getElementById('counter').textContent = 'step ' + position + ' of ' + n;
    if (lastCurrent && lastCurrent !== current) touch(lastCurrent.node);  // done again, or pending
    lastCurrent = current;
    var boxes = {};
    touched.forEach(function (i) { mark[i] = 0; paint(i); if (groups) boxes[groups[i]] = true; });
    Object.keys(boxes).forEach(function (g) {  // the collapsed boxes whose values all are done
      var el = element('g' + g);
      if (el) el.classList.toggle('done', groupDone[g] === groupSize[g]);
    });
    touched = [];
    highlight(current);
    panel(current, position);
    if (panZoom && focus !== null && focus !== undefined) keepInView(focus);
    if (opened !== null && current) scrollTo(current.node);
    later();  // tiles that come into view: attached on the next frames, not in this one
  }
  if (panZoom) window.addEventListener('resize', function () { panZoom.resize(); later(); });
  // the page's own handle, for tests and for whoever embeds it
  window.autodiffSteps = {show: show, position: function () { return position; }, count: n, panZoom: panZoom,
                          open: function (g) { expand(g); }, close: function () { shut(); }};
  document.getElementById('next').addEventListener('click', function () { show(position + 1); });
  document.getElementById('prev').addEventListener('click', function () { show(position - 1); });
  slider.addEventListener('input', function () { show(parseInt(slider.value, 10)); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') { show(position + 1); e.preventDefault(); }
    if (e.key === 'ArrowLeft') { show(position - 1); e.preventDefault(); }
  });
  // The diagnosis (autodiff.diagnose), when the page was made with one: each finding's nodes and
  // the edge of the factor to blame are outlined, with the message as the node's tooltip (again
  // on the elements of each tile as it is attached).
  (view.findings || []).forEach(function (f) {
    var item = document.createElement('li');
    item.textContent = f.message;
    document.getElementById('diagnosis').appendChild(item);
  });
  var flagged = {};  // "finding/node" already outlined, with its message
  function flag() {
    (view.findings || []).forEach(function (f, n) {
      f.nodes.forEach(function (i) {
        var el = element('v' + i);
        if (!el || flagged[n + '/' + i] === el) return;
        flagged[n + '/' + i] = el;
        el.classList.add('flagged');
        var tip = document.createElementNS('http://www.w3.org/2000/svg', 'title');
        tip.textContent = f.message;
        el.appendChild(tip);
      });
      f.edges.forEach(function (e) {
        var edge = element('e' + e[1] + '_' + e[2]);
        if (edge) edge.classList.add('flagged');
      });
    });
  }
  flag();
  if (forward) {
    var heads = document.querySelectorAll('#panel thead th');
    heads[0].textContent = 'from operand'; heads[2].textContent = 'local \\u00d7 its tangent';
  }
  slider.max = n;
  show(0);
})();
"""


_BLOCK = re.compile(r'<g id="([^"]*)" class="(node|edge|cluster)">.*?</g>\n', re.DOTALL)
_PAIR = re.compile(r"(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")
_XY = re.compile(r'\b(?:x|cx)="(-?[\d.]+)" (?:y|cy)="(-?[\d.]+)"')

#: Drawings with more node and edge blocks than this are split into tiles that the page attaches
#: only when they come into view (a graph of thousands of values opens in well under a second).
TILE_ABOVE = 1500
#: A tile's side, in drawing units (points): about one screen at the page's reading zoom.
TILE_SIZE = 400.0


class _Drawing:
    """Graphviz's SVG made lighter for the browser, and where each value node sits in it.

    Comments and ``<title>`` tooltips (the drawing's own ids, ``v12``) are dropped. Graphviz writes
    every node and edge as a sibling in one group, and a change inside one of them makes the
    browser re-measure all its siblings (about 2 us each, on every step of a big graph), so the
    blocks go into groups: runs of about sqrt(count) consecutive blocks in a small drawing; in a
    big one (more than :data:`TILE_ABOVE` blocks), square tiles of :data:`TILE_SIZE`, kept as text
    in ``tiles`` (``(box, svg)``) for the page to attach as they come into view. ``boxes`` maps a
    value node's id (``v12``) to its centre and half size, ``[x, y, w, h]``. A drawing not made of
    such blocks is left whole.
    """

    def __init__(self, svg: str) -> None:
        svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)  # labels are escaped: no "-->" in them
        svg = re.sub(r"<title>[^<]*</title>\n?", "", svg)
        self.svg = svg
        sizes = [float(x) for x in re.findall(r'<text [^>]*font-size="([\d.]+)"', svg)]
        #: the smallest text size in the drawing (its units), for the page's reading zoom
        self.font_size = min(sizes) if sizes else None
        self.tiles: list[tuple[list[float], str]] = []
        self.boxes: dict[str, list[float]] = {}
        blocks = list(_BLOCK.finditer(svg))
        if not blocks or any(svg[a.end():b.start()].strip() for a, b in zip(blocks, blocks[1:])):
            return
        extents = [self._extent(m.group(0)) for m in blocks]
        for m, box in zip(blocks, extents):
            if m.group(2) == "node" and m.group(1)[:1] in ("v", "g") and box:  # a value, or a collapsed box
                self.boxes[m.group(1)] = [round((box[0] + box[2]) / 2, 2), round((box[1] + box[3]) / 2, 2),
                                          round((box[2] - box[0]) / 2, 2), round((box[3] - box[1]) / 2, 2)]
        head, tail = svg[:blocks[0].start()], svg[blocks[-1].end():]
        if len(blocks) <= TILE_ABOVE:
            run = math.isqrt(len(blocks) - 1) + 1
            groups = ["<g class=\"run\">\n" + "".join(m.group(0) for m in blocks[k:k + run]) + "</g>\n"
                      for k in range(0, len(blocks), run)]
            self.svg = head + "".join(groups) + tail
            return
        # clusters stay (a few outlines, drawn first, as Graphviz draws them); the rest go by tile
        kept: list[str] = []
        tiles: dict[tuple[object, ...], list[Any]] = {}
        for m, box in zip(blocks, extents):
            if m.group(2) == "cluster" or not box:
                kept.append(m.group(0))
                continue
            key: tuple[object, ...] = (int((box[0] + box[2]) / 2 // TILE_SIZE), int((box[1] + box[3]) / 2 // TILE_SIZE))
            if max(box[2] - box[0], box[3] - box[1]) > 2 * TILE_SIZE:  # a long edge: a tile of long ones
                key = (key[0], key[1], "long")  # so that the compact tiles stay compact
            tile = tiles.setdefault(key, [[math.inf, math.inf, -math.inf, -math.inf], []])
            tile[0] = [min(tile[0][0], box[0]), min(tile[0][1], box[1]), max(tile[0][2], box[2]), max(tile[0][3], box[3])]
            tile[1].append(m.group(0))
        self.svg = head + "".join(kept) + tail
        self.tiles = [([round(x, 2) for x in box], "".join(parts)) for box, parts in tiles.values()]

    @staticmethod
    def _extent(block: str) -> Optional[list[float]]:
        """The smallest box ``[x0, y0, x1, y1]`` around the points a block's shapes and texts name."""
        xs, ys = [], []
        for pattern in (_PAIR, _XY):
            for x, y in pattern.findall(block):
                xs.append(float(x))
                ys.append(float(y))
        return [min(xs), min(ys), max(xs), max(ys)] if xs else None

    def tile_elements(self) -> str:
        """The tiles as inert elements of the page: each tile's SVG zlib-compressed, in base64 (a
        quarter of the size: the page loads and parses less), until the page inflates and attaches it."""
        return "".join(f'<script type="text/x-svg-tile" data-box="{" ".join(map(str, box))}">'
                       f'{base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")}</script>\n'
                       for box, text in self.tiles)


def _view(record: StepRecord, draw_options: dict[str, object], start: str = "",
          findings: Optional[list[dict[str, object]]] = None, start_id: Optional[int] = None,
          boxes: Optional[dict[str, list[float]]] = None, font_size: Optional[float] = None,
          groups: Optional[list[int]] = None) -> str:
    """What the page needs beside the record (which names each node), as JSON: whether a node's box
    in the drawing ends in a grad line, and the digits of numbers in the panel
    (:data:`~autodiff.fmt.DIGITS`) and in the drawing (:data:`~autodiff.fmt.SHORT_DIGITS`)."""
    # draw writes a box's lines as label, data, grad; constants are a bare number, and collapsed
    # drawings have no box per node.
    # (a collapsed page draws the boxes of an opened group itself, each with a grad line)
    grads_drawn = bool(draw_options.get("show_grad", True)) or bool(draw_options.get("collapse"))
    position = {id(s): k for k, s in enumerate(record.steps)}
    return json.dumps({
        # the shown steps and the leaves each completes, as positions in record.steps
        "shown": [position[id(s)] for s in record.shown],
        "completes": [[position[id(s)] for s in c] for c in record.completes],
        "startId": start_id,
        "boxes": boxes or {},  # each value node's centre and half size in the drawing, by element id
        "fontSize": font_size,  # the smallest node text of the drawing, in drawing units
        "groups": groups,  # collapsed: node i is in the drawing's box "g{groups[i]}"
        "gradLine": [grads_drawn and not v.is_constant for v in record.values],
        "digits": fmt.DIGITS,
        "short": fmt.SHORT_DIGITS,
        "start": start,  # forward mode: the input whose tangent is 1
        "findings": [{"message": f["message"], "nodes": f["nodes"], "edges": f["edges"]} for f in findings or []],
    }, separators=(",", ":"))


def page_html(root: Value, title: Optional[str] = None, renderer: Optional[str] = None,
              forward: Optional[Value] = None, diagnose: bool = False,
              collapse: Union[bool, str, None] = None, **draw_options: object) -> str:
    """The step-through page for ``root.backward()`` as one HTML string (nothing changes ``.grad``).

    With ``forward`` (an input of ``root``'s graph) the page steps through forward mode instead:
    tangent 1 on that input, each step a node's tangent, parents first. With ``diagnose``, the
    findings of :func:`autodiff.diagnose` (vanishing, exploding, saturated, dead, non-finite) are
    listed in the panel and outlined in the graph: their nodes, and the edge of the factor to blame.

    ``collapse`` (``"neuron"`` or ``True``, ``"layer"``) draws one box per neuron or layer, as
    :func:`autodiff.draw` does: each step lights the box that holds its node (and its parents'),
    and a click on a box opens its values, laid out in the page, where the steps show their
    numbers. By default (None) a graph of more values than ``max_nodes`` (2000) that has
    scopes opens collapsed by neuron: it is drawn in seconds, where laying out every value of a
    graph of 20,000 takes minutes.
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
    if collapse is None:
        limit = draw_options.get("max_nodes", 2000)
        big = isinstance(limit, int) and len(record.values) > limit
        collapse = "neuron" if big and any(v.scope for v in record.values) else False
    draw_options["collapse"] = collapse
    scene = Scene([root], grads=start, renderer=renderer, **draw_options)  # type: ignore[arg-type]
    svg = scene.draw().svg()
    drawing = _Drawing(svg[svg.index("<svg"):])  # no XML prolog nor doctype: the SVG is inline
    heading = html.escape(fmt.printable(title) if title else heading_text)
    findings = None
    if diagnose:
        from ..diagnose import diagnose as find

        findings = find(root).data()["findings"]
    start_id = next((i for i, v in enumerate(record.values) if v is forward), None)
    # which box of the collapsed drawing shows each value (the drawing's own answer: "g3" -> 3)
    groups = [int(name[1:]) for name in scene.node_ids()] if collapse else None
    view = _view(record, draw_options, fmt.name(forward) if forward is not None else "", findings, start_id,
                 drawing.boxes, drawing.font_size, groups)
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
<div id="graph">{drawing.svg}<div id="detail" hidden></div></div>
<div id="tiles" hidden>{drawing.tile_elements()}</div>
<div id="panel">
<h2 id="step-title" style="font-size:15px"></h2>
<p id="step-node"></p>
<table><thead><tr><th>to parent</th><th>local</th><th>local &#215; grad</th><th>before</th><th>after</th></tr></thead>
<tbody id="contributions"></tbody></table>
<p style="color:#64748b">Green: done; red: this step; grey: pending. Arrow keys move too; the mouse
wheel zooms and dragging pans the graph. Leaves take no step: a step says which grads it makes final.</p>
<ul id="diagnosis"></ul>
</div>
</main>
<script type="application/json" id="steps">{fmt.script_json(record.to_json(separators=(",", ":")))}</script>
<script type="application/json" id="view">{fmt.script_json(view)}</script>
<script>{assets.read("svg-pan-zoom.min.js")}</script>
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
