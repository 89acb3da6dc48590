// The explainer (nn/explainer.py): three views of one MLP (the network, its matrices, its scalar
// graph), linked by the selected weight, and steps through the forward then the backward pass.
// Every number and name arrives pre-formatted in the data (autodiff.fmt.number, autodiff.fmt.name)
// and is put into the page as text, never as markup.
//
// API: this file defines one global, `autodiffExplainer`, with
//
//   var handle = autodiffExplainer.mount(rootElement, data, options)
//
//   rootElement  any element: the explainer is built inside it (it gets the class
//                "autodiff-explainer"; every style is scoped to that class) and finds its parts by
//                class inside it, never by a document-wide id, so several can share one page.
//   data         nn.explainer.explainer_view(model, x, target): explainer_data's dict plus
//                `graph`, the scalar graph's SVG text (plain JSON).
//   options      all optional:
//                  onStep(position, handle)  called whenever the step changes (buttons, keys, play,
//                                            handle.step): position 0 is "before the first step";
//                  onSelect(name, handle)    called whenever the selected weight or bias changes;
//                  onGranularity(name, handle)  called when the granularity changes;
//                  granularities: ['layer']  the granularities offered (default both); with one,
//                                            the menu is hidden (for a host whose step number
//                                            means one of them);
//                  granularity: 'layer'      the steps to start with: 'layer' (by neuron and layer,
//                                            one matrix rule a step, the default) or 'node' (by
//                                            node: the forward pass, then backprop numbered as
//                                            the terminal debugger numbers it);
//                  keys: 'document'          keys (arrows: a step, space: play, Home, End)
//                                            anywhere in the document (the standalone page);
//                                            otherwise (the default, for a widget) only while
//                                            focus is inside the root, which is made focusable;
//                  title                     a heading, written (as text) at the top of the controls;
//                  fitWindow: true           the graph takes the rest of the window's height (the
//                                            standalone page), else the stylesheet's 420 px;
//                  svgPanZoom                the svg-pan-zoom function (default: the global one).
//
//   handle.step(n)       go to step n (clamped to 0..handle.count()), returns the position;
//   handle.step()        the position now;
//   handle.granularity(name)  switch to 'layer' or 'node' (back to step 0); () gives it;
//   handle.select(name)  select a weight or bias by its label ("W2[1][0]", "b1[2]"), null to clear;
//   handle.selected()    the selected label, or null;
//   handle.count()       the number of steps (of the current granularity);
//   handle.play()        start or stop playing;
//   handle.keepInView(i) pan the graph so that value node i (topological numbering) is in view;
//   handle.panZoom       the graph's svg-pan-zoom instance;
//   handle.destroy()     stop, remove every listener and empty the root.
//
// In an anywidget ESM module: nn.explainer.explainer_module() is svg-pan-zoom, this file and
// `export const mount = autodiffExplainer.mount;` (style: nn.explainer.explainer_css()), so
// `render({model, el})` can call `var h = mount(el, model.get('data'), {onStep: ...})` and
// `return () => h.destroy();`. The standalone page (nn.explainer.explainer_html) mounts it on
// its own embedded data with {keys: 'document'}.
var autodiffExplainer = (function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // A diverging heat-map colour: blue for positive, red for negative, stronger as |v| nears max.
  function heat(v, max) {
    if (v === null || !max) return 'transparent';
    var a = Math.min(1, Math.abs(v) / max) * 0.6;
    return v >= 0 ? 'rgba(37, 99, 235, ' + a.toFixed(3) + ')' : 'rgba(220, 38, 38, ' + a.toFixed(3) + ')';
  }
  function maxAbs(values) {
    return values.reduce(function (m, n) { return n.v === null ? m : Math.max(m, Math.abs(n.v)); }, 0);
  }
  function remember(table, key, e) { (table[key] = table[key] || []).push(e); }
  // One class held by a set of elements: set() moves it to a new set touching only the elements
  // that change (a class change costs the browser a style update of that element and below, so
  // a step updates what it changes, not the whole page).
  function Marks(name) { this.name = name; this.on = new Set(); }
  Marks.prototype.set = function (elements) {
    var name = this.name, next = new Set(elements), before = this.on;
    before.forEach(function (e) { if (!next.has(e)) e.classList.remove(name); });
    next.forEach(function (e) { if (!before.has(e)) e.classList.add(name); });
    this.on = next;
  };

  // The skeleton: controls, the four panes. Parts are found by class inside the root.
  function skeleton(root, title) {
    root.classList.add('autodiff-explainer');
    root.textContent = '';
    var bar = el('div', {'class': 'ax-bar'});
    if (title) bar.appendChild(el('h1', {'class': 'ax-title'}, title));
    bar.appendChild(el('button', {type: 'button', 'class': 'ax-prev', title: 'previous step (left arrow)'}, '\u25c0 previous'));
    bar.appendChild(el('button', {type: 'button', 'class': 'ax-play', title: 'play the steps'}, '\u25b6 play'));
    bar.appendChild(el('button', {type: 'button', 'class': 'ax-next', title: 'next step (right arrow)'}, 'next \u25b6'));
    var speed = el('label', {}, 'speed ');
    var select = el('select', {'class': 'ax-speed'});
    [['2000', 'slow'], ['1000', 'normal'], ['400', 'fast']].forEach(function (o) {
      var option = el('option', {value: o[0]}, o[1]);
      if (o[0] === '1000') option.selected = true;
      select.appendChild(option);
    });
    speed.appendChild(select);
    bar.appendChild(speed);
    var by = el('label', {}, ' steps ');
    var choice = el('select', {'class': 'ax-granularity', title: 'one step: a matrix rule, or one node of the graph'});
    choice.appendChild(el('option', {value: 'layer'}, 'by neuron and layer'));
    choice.appendChild(el('option', {value: 'node'}, 'by node'));
    by.appendChild(choice);
    bar.appendChild(by);
    bar.appendChild(el('span', {'class': 'ax-counter'}));
    var step = el('div', {'class': 'ax-step'});
    step.appendChild(el('b', {'class': 'ax-step-title'}));
    step.appendChild(el('span', {'class': 'ax-step-rule ax-rule'}));
    step.appendChild(el('span', {'class': 'ax-step-shapes ax-shapes'}));
    bar.appendChild(step);
    root.appendChild(bar);

    var main = el('div', {'class': 'ax-main'});
    var net = el('section', {'class': 'ax-network-view'});
    net.appendChild(el('h2', {}, 'The network'));
    net.appendChild(el('div', {'class': 'ax-network'}));
    net.appendChild(el('p', {'class': 'ax-hint'}, 'Edge colour: sign of the weight\u2019s gradient (blue +, red \u2212); width: its size. Click an edge.'));
    var mat = el('section', {'class': 'ax-matrices-view'});
    mat.appendChild(el('h2', {}, 'The matrices'));
    mat.appendChild(el('div', {'class': 'ax-matrices'}));
    var panel = el('aside', {'class': 'ax-panel'});
    panel.appendChild(el('h2', {}, 'This step\u2019s numbers'));
    panel.appendChild(el('ul', {'class': 'ax-step-lines'}));
    panel.appendChild(el('p', {'class': 'ax-hover ax-rule'}));
    panel.appendChild(el('h2', {'class': 'ax-sel-title'}, 'Click a weight: an edge, a matrix cell or a W node of the graph'));
    panel.appendChild(el('p', {'class': 'ax-sel-outer ax-rule'}));
    var table = el('table'), head = el('tr');
    ['path', 'factors', 'product'].forEach(function (h) { head.appendChild(el('th', {}, h)); });
    var thead = el('thead');
    thead.appendChild(head);
    table.appendChild(thead);
    table.appendChild(el('tbody', {'class': 'ax-sel-paths'}));
    panel.appendChild(table);
    panel.appendChild(el('p', {'class': 'ax-sel-sum ax-rule'}));
    panel.appendChild(el('p', {'class': 'ax-sel-engine'}));
    var graph = el('section', {'class': 'ax-graph-view'});
    var h2 = el('h2', {}, 'The scalar graph ');
    h2.appendChild(el('span', {'class': 'ax-hint'}, '(wheel or buttons to zoom, drag to pan)'));
    graph.appendChild(h2);
    graph.appendChild(el('div', {'class': 'ax-graph'}));
    [net, mat, panel, graph].forEach(function (s) { main.appendChild(s); });
    root.appendChild(main);
  }

  function mount(root, data, options) {
    options = options || {};
    if (!root || root.nodeType !== 1) throw new TypeError('autodiffExplainer.mount needs an element to mount into');
    if (!data || !data.params || !data.steps) throw new TypeError('autodiffExplainer.mount needs the data of nn.explainer.explainer_view');
    skeleton(root, options.title);
    function part(name) { return root.querySelector('.ax-' + name); }
    var params = data.params, steps = data.steps, position = 0, timer = null, selected = null;
    var listeners = [];  // [target, type, handler]: removed by destroy()
    function listen(target, type, handler) { target.addEventListener(type, handler); listeners.push([target, type, handler]); }
    // every element that shows parameter p (edges, cells, graph node), and every element of block b
    // graphShape: a graph node's box or circle, which the step marks colour (marking the shape, not
    // its group, leaves the label texts' style alone: hundreds of nodes a step stay cheap)
    var byParam = {}, byBlock = {}, graphNode = {}, graphShape = {}, graphEdge = {}, neurons = {}, neuronNumbers = {};
    var marks = {selected: new Marks('selected'), factor: new Marks('factor'), path: new Marks('onpath'), reads: new Marks('reads'),
                 writes: new Marks('writes'), pending: new Marks('pending')};
    var handle;

    // -- (a) the network: columns of circles, inputs on the left, neurons in index order --------
    function drawNetwork() {
      // sized to fit the column (330 px) and about 640 px of height; a big layer gets smaller
      // circles and no numbers under them (they would overlap)
      var sizes = data.sizes, tallest = Math.max.apply(null, sizes), left = 50, top = 40;
      var colGap = Math.min(125, (330 - 2 * left) / Math.max(1, sizes.length - 1));
      var rowGap = Math.min(78, 600 / Math.max(1, tallest - 1)), r = Math.min(24, rowGap * 0.42);
      var numbers = rowGap >= 60;
      var width = left * 2 + colGap * (sizes.length - 1), height = top + rowGap * (tallest - 1) + 60;
      var svg = svgEl('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height});
      var names = ['x'].concat(data.layers.map(function (L) { return L.output; }));
      function pos(c, i) {
        var offset = (tallest - sizes[c]) * rowGap / 2;
        return [left + c * colGap, top + offset + i * rowGap];
      }
      var grads = [];
      Object.keys(params).forEach(function (k) { if (params[k].row !== null && params[k].gradValue !== null) grads.push(Math.abs(params[k].gradValue)); });
      var biggest = Math.max.apply(null, grads.concat([1e-300]));
      data.layers.forEach(function (L, l) {
        data.matrices[L.W].params.forEach(function (row, i) {
          row.forEach(function (name, j) {
            var a = pos(l, i), b = pos(l + 1, j), p = params[name];
            var g = p.gradValue === null ? 0 : p.gradValue;
            var line = svgEl('line', {x1: a[0], y1: a[1], x2: b[0], y2: b[1], 'class': 'net-edge', 'data-param': name,
              stroke: g >= 0 ? '#2563eb' : '#dc2626', 'stroke-width': (1 + 9 * Math.abs(g) / biggest).toFixed(2)});
            var hit = svgEl('line', {x1: a[0], y1: a[1], x2: b[0], y2: b[1], 'class': 'net-hit', 'data-param': name});
            hit.appendChild(svgEl('title', {}, p.name + ' = ' + p.value + ', grad ' + p.grad));
            svg.appendChild(line);
            svg.appendChild(hit);
            remember(byParam, name, line);
            listen(hit, 'click', function () { select(name); });
          });
        });
      });
      sizes.forEach(function (n, c) {
        var vec = data.vectors[names[c]];
        for (var i = 0; i < n; i++) {
          var p = pos(c, i), g = svgEl('g', {'class': 'neuron', 'data-block': names[c]});
          g.appendChild(svgEl('circle', {cx: p[0], cy: p[1], r: r}));
          g.appendChild(svgEl('text', {x: p[0], y: p[1] + 4, 'text-anchor': 'middle'}, vec.labels[i]));
          if (numbers) {
            var number = svgEl('text', {x: p[0], y: p[1] + r + 15, 'text-anchor': 'middle'}, vec.values[i].t);
            g.appendChild(number);
            remember(neuronNumbers, names[c], number);
          }
          else g.appendChild(svgEl('title', {}, vec.labels[i] + ' = ' + vec.values[i].t));
          svg.appendChild(g);
          remember(byBlock, names[c], g);
          remember(neurons, names[c], g);
          // a neuron's z and delta live in the same circle
          if (c > 0) {
            [data.layers[c - 1].z, data.layers[c - 1].delta].forEach(function (b) {
              if (b === names[c]) return;  // a linear layer's z is its output
              remember(byBlock, b, g);
              remember(neurons, b, g);
            });
          }
        }
      });
      part('network').appendChild(svg);
    }

    // -- (b) the matrices: labelled heat-map grids -----------------------------------------------
    var shown = {};  // blocks already drawn: a layer's input is the layer below's output, shown again
    function grid(name, caption, rows, cols, values, paramNames) {
      var flat = [].concat.apply([], values), max = maxAbs(flat);
      var box = el('div', {'class': 'ax-block' + (shown[name] ? ' again' : ''), 'data-block': name});
      shown[name] = true;
      var table = el('table', {'class': 'ax-grid'});
      table.appendChild(el('caption', {}, caption));
      var head = el('tr');
      head.appendChild(el('th'));
      cols.forEach(function (c) { head.appendChild(el('th', {}, c)); });
      table.appendChild(head);
      values.forEach(function (row, i) {
        var tr = el('tr');
        tr.appendChild(el('th', {}, rows[i]));
        row.forEach(function (n, j) {
          var td = el('td', {'data-row': i, 'data-col': j}, n.t);
          td.style.background = heat(n.v, max);
          var p = paramNames && paramNames[i][j];
          if (p) {
            td.className = 'param';
            td.setAttribute('data-param', p);
            td.setAttribute('data-matrix', name);
            remember(byParam, p, td);
            listen(td, 'click', function () { select(p); });
            if (name.charAt(0) === 'd') listen(td, 'mouseenter', function () { hover(p); });
          }
          tr.appendChild(td);
        });
        table.appendChild(tr);
      });
      box.appendChild(table);
      remember(byBlock, name, box);
      return box;
    }
    function vectorGrid(name, paramNames) {
      var v = data.vectors[name];
      return grid(name, name + ' (' + v.values.length + ')', v.labels, [''], v.values.map(function (n) { return [n]; }),
                  paramNames && paramNames.map(function (p) { return [p]; }));
    }
    function drawMatrices() {
      var box = part('matrices');
      data.layers.forEach(function (L) {
        var block = el('div', {'class': 'ax-layer'});
        var rule = L.z + ' = ' + L.input + ' . ' + L.W + ' + ' + L.b + (L.z !== L.output ? ', ' + L.output + ' = ' + L.activation + '(' + L.z + ')' : '');
        block.appendChild(el('h3', {}, 'layer ' + L.index + ': ' + rule));
        var forward = el('div', {'class': 'ax-row'});
        var W = data.matrices[L.W], dW = data.matrices['d' + L.W];
        var biasParams = data.vectors[L.b].labels;
        forward.appendChild(vectorGrid(L.input));
        forward.appendChild(grid(L.W, L.W + ' (' + L.nin + 'x' + L.nout + ')', W.rows, W.cols, W.values, W.params));
        forward.appendChild(vectorGrid(L.b, biasParams));
        if (L.z !== L.output) forward.appendChild(vectorGrid(L.z));
        forward.appendChild(vectorGrid(L.output));
        if (L.index === data.layers.length) forward.appendChild(vectorGrid('t'));
        var backward = el('div', {'class': 'ax-row'});
        backward.appendChild(grid('d' + L.W, 'd' + L.W + ' = outer(' + L.input + ', ' + L.delta + ') (' + L.nin + 'x' + L.nout + ')',
                                  dW.rows, dW.cols, dW.values, dW.params));
        backward.appendChild(vectorGrid('d' + L.b, biasParams));
        backward.appendChild(vectorGrid(L.delta));
        block.appendChild(forward);
        block.appendChild(backward);
        box.appendChild(block);
      });
    }

    // -- (c) the scalar graph: Graphviz's SVG, zoom and pan by svg-pan-zoom ---------------------
    var frame = part('graph'), graphSvg = null, panZoom = null;
    function drawGraph() {
      // parsed as XML, so nothing in it runs; node ids (v3, o3, e3_0) are looked up here, inside it
      var doc = new DOMParser().parseFromString(data.graph || '<svg xmlns="' + SVG + '"/>', 'image/svg+xml');
      graphSvg = document.importNode(doc.documentElement, true);
      frame.appendChild(graphSvg);
      graphSvg.querySelectorAll('g.node').forEach(function (g) {
        graphNode[g.id] = g;
        graphShape[g.id] = g.querySelector('path, polygon, ellipse') || g;
      });
      graphSvg.querySelectorAll('g.edge').forEach(function (g) { graphEdge[g.id] = g; });
      Object.keys(params).forEach(function (name) {
        var node = graphNode['v' + params[name].node];
        if (!node) return;
        node.classList.add('param');
        remember(byParam, name, node);
        listen(node, 'click', function () { select(name); });
      });
      Object.keys(data.blocks).forEach(function (b) {
        data.blocks[b].forEach(function (i) { if (graphShape['v' + i]) remember(byBlock, b, graphShape['v' + i]); });
      });
      graphSvg.removeAttribute('width');
      graphSvg.removeAttribute('height');
    }
    function startPanZoom() {
      var make = options.svgPanZoom || (typeof svgPanZoom === 'function' ? svgPanZoom : window.svgPanZoom);
      panZoom = make(graphSvg, {controlIconsEnabled: true, fit: true, center: true, dblClickZoomEnabled: false,
                                minZoom: 0.2, maxZoom: 500});
      handle.panZoom = panZoom;
      readable();
    }
    // Zoom until all node text is at least 13 px on screen (the whole graph at once would be too
    // small to read); each step then pans to what it computes.
    // Graphviz draws every node in one group (its transform a translation), so one reading of that
    // group's scale serves all texts: no layout read per text (thousands on a big graph).
    function readable() {
      var smallest = Infinity, group = graphSvg.querySelector('g.graph');
      if (!group) return;
      graphSvg.querySelectorAll('g.node text').forEach(function (t) {
        smallest = Math.min(smallest, parseFloat(t.getAttribute('font-size')));
      });
      smallest *= group.getScreenCTM().a;
      if (smallest > 0 && smallest < 13) panZoom.zoomBy(13 / smallest);
    }
    // Where value node i sits inside the pan-zoom viewport (its box's corners): the drawing never
    // changes, so this is measured once per node, and later steps read no layout to pan.
    var boxes = {};
    function boxOf(i) {
      if (boxes[i]) return boxes[i];
      var node = graphNode['v' + i], viewport = graphSvg.querySelector('.svg-pan-zoom_viewport');
      if (!node || !viewport) return null;
      var box = node.getBBox(), m = viewport.getScreenCTM().inverse().multiply(node.getScreenCTM());
      var a = graphSvg.createSVGPoint(), b = graphSvg.createSVGPoint();
      a.x = box.x; a.y = box.y; b.x = box.x + box.width; b.y = box.y + box.height;
      a = a.matrixTransform(m); b = b.matrixTransform(m);
      boxes[i] = {x0: Math.min(a.x, b.x), y0: Math.min(a.y, b.y), x1: Math.max(a.x, b.x), y1: Math.max(a.y, b.y)};
      return boxes[i];
    }
    // Keep value node i in view: when any part of it is outside the frame (less a margin), pan so
    // that it sits in the middle (zoom unchanged). Placed from svg-pan-zoom's own pan and zoom, not
    // the screen: the library redraws on the next animation frame, so the screen may be a move behind.
    function keepInView(i) {
      if (!panZoom) return;
      var box = boxOf(i);
      if (!box) return;
      var sizes = panZoom.getSizes(), zoom = sizes.realZoom, pan = panZoom.getPan(), margin = 16;
      var inside = box.x0 * zoom + pan.x >= margin && box.x1 * zoom + pan.x <= sizes.width - margin &&
                   box.y0 * zoom + pan.y >= margin && box.y1 * zoom + pan.y <= sizes.height - margin;
      if (inside) return;
      panZoom.pan({x: sizes.width / 2 - (box.x0 + box.x1) / 2 * zoom, y: sizes.height / 2 - (box.y0 + box.y1) / 2 * zoom});
    }

    // -- selection: one weight, highlighted everywhere, its gradient as the sum over paths -------
    function select(name) {
      if (name === null || name === undefined) {
        if (selected === null) return;
        selected = null;
        marks.selected.set([]);
        marks.factor.set([]);
        marks.path.set([]);
      } else {
        var p = params[name];
        if (!p || name === selected) return;
        selected = name;
        marks.selected.set(byParam[name] || []);
        // in the graph, every path from the weight to the loss: where its gradient comes from
        marks.path.set(p.pathNodes.map(function (i) { return graphShape['v' + i]; })
          .concat(p.pathNodes.map(function (i) { return graphShape['o' + i]; }))
          .concat(p.pathEdges.map(function (id) { return graphEdge[id]; }).concat(p.pathNodes.map(function (i) { return graphEdge['r' + i]; })))
          .filter(function (e) { return e; }));
        keepInView(p.node);
        factors(name);
        part('sel-title').textContent = p.title + ' = ' + p.total;
        part('sel-outer').textContent = p.outer;
        var body = part('sel-paths');
        body.textContent = '';
        p.paths.forEach(function (path, k) {
          var tr = el('tr', {'class': 'path'});
          tr.appendChild(el('td', {}, String(k + 1)));
          tr.appendChild(el('td', {}, path.factors.map(function (f) { return f[0] + ' = ' + f[1]; }).join(' \u00b7 ')));
          tr.appendChild(el('td', {}, path.product));
          body.appendChild(tr);
        });
        var more = p.count > p.paths.length ? ' (' + (p.count - p.paths.length) + ' not listed)' : '';
        part('sel-sum').textContent = 'sum over ' + p.count + (p.count === 1 ? ' path' : ' paths') + more + ' = ' + p.total;
        part('sel-engine').textContent = 'backprop (the engine) gives ' + p.grad;
      }
      if (options.onSelect) options.onSelect(selected, handle);
    }
    // dW[i][j] = a[i] * delta[j] (db[j] = delta[j]): the factors' cells are marked wherever shown,
    // and in the network the two neurons they belong to
    function factors(name) {
      var p = params[name], L = data.layers[Number(p.matrix.slice(1)) - 1], cells = [];
      [[L.delta, p.col]].concat(p.row === null ? [] : [[L.input, p.row]]).forEach(function (c) {
        (byBlock[c[0]] || []).forEach(function (block) {
          if (!block.classList.contains('ax-block')) return;
          block.querySelectorAll('td[data-row="' + c[1] + '"]').forEach(function (td) { cells.push(td); });
        });
        if (neurons[c[0]] && neurons[c[0]][c[1]]) cells.push(neurons[c[0]][c[1]]);
      });
      marks.factor.set(cells);
    }
    function hover(name) {
      part('hover').textContent = params[name].outer;
      factors(name);
    }

    // -- steps by neuron and layer: one matrix rule each, forward then backward -----------------
    function blocks(names, keep) {
      var out = [];
      names.forEach(function (b) { (byBlock[b] || []).forEach(function (e) { if (!keep || keep(e)) out.push(e); }); });
      return out;
    }
    function isBlock(e) { return e.classList.contains('ax-block'); }
    var byLayer = {
      count: function () { return steps.length - 1; },
      enter: function () {},
      leave: function () { ['pending', 'reads', 'writes'].forEach(function (m) { marks[m].set([]); }); },
      show: function (from, to) {
        var s = steps[to];
        part('counter').textContent = 'step ' + to + ' of ' + (steps.length - 1) + ' (' + s.phase + ')';
        // what a later step writes is not known yet: its numbers are hidden
        var later = [];
        for (var j = to + 1; j < steps.length; j++) later = later.concat(steps[j].writes);
        marks.pending.set(blocks(later, isBlock));
        var writes = blocks(s.writes);
        marks.reads.set(blocks(s.reads, function (e) { return writes.indexOf(e) < 0; }));
        marks.writes.set(writes);
        part('step-title').textContent = to === 0 ? 'Before the forward pass:' : 'Step ' + to + ':';
        part('step-rule').textContent = s.rule;
        part('step-shapes').textContent = s.shapes ? 'shapes: ' + s.shapes : '';
        lines(s.lines);
        // the graph follows the step: the first node it writes (before any, the first input) comes into view
        var written = (s.writes.length ? data.blocks[s.writes[0]] : data.blocks.x) || [];
        return written.length ? written[0] : null;
      }
    };
    function lines(texts) {
      var list = part('step-lines');
      list.textContent = '';
      texts.forEach(function (line) { list.appendChild(el('li', {}, line)); });
    }

    // -- steps by node: the forward pass (values appear), then backprop as the terminal debugger
    // numbers it (data.nodeSteps, from autodiff's step records). Each step touches only the nodes,
    // cells and texts it changes.
    var fwd = (data.nodeSteps || {forward: []}).forward, bwd = (data.nodeSteps || {backward: []}).backward;
    var dataText = {}, gradText = {}, finalGrad = {}, nodeCells = {}, nodeNeuron = {};
    function graphTexts() {
      // a value box's lines: its label's, then "data ...", then "grad ..." (the last two)
      Object.keys(graphNode).forEach(function (id) {
        if (id.charAt(0) !== 'v') return;
        var texts = graphNode[id].querySelectorAll('text'), n = texts.length, i = id.slice(1);
        if (n >= 2 && texts[n - 1].textContent.indexOf('grad ') === 0) {
          gradText[i] = texts[n - 1];
          finalGrad[i] = texts[n - 1].textContent;
          if (n >= 3 && texts[n - 2].textContent.indexOf('data ') === 0) dataText[i] = texts[n - 2];
        }
      });
      // the cells and the neuron that show node i, in the order data.blocks lists them
      Object.keys(data.blocks).forEach(function (b) {
        (byBlock[b] || []).forEach(function (box) {
          if (!isBlock(box)) return;
          var cells = box.querySelectorAll('td');
          data.blocks[b].forEach(function (i, k) {
            if (cells[k]) remember(nodeCells, i, {cell: cells[k], gradient: b.charAt(0) === 'd'});
          });
        });
        (neurons[b] || []).forEach(function (g, k) { nodeNeuron[data.blocks[b][k]] = g; });
        (neuronNumbers[b] || []).forEach(function (t, k) { remember(nodeCells, data.blocks[b][k], {cell: t, gradient: false}); });
      });
    }
    function known(e, yes) { if (e) e.classList.toggle('ax-unknown', !yes); }
    // node i's value (or gradient) shown or hidden wherever it is written: graph, cells, neuron
    function valueKnown(i, yes) {
      known(dataText[i], yes);
      (nodeCells[i] || []).forEach(function (c) { if (!c.gradient) known(c.cell, yes); });
    }
    function gradientKnown(i, yes) {
      (nodeCells[i] || []).forEach(function (c) { if (c.gradient) known(c.cell, yes); });
    }
    function setGrad(i, text) {
      var t = gradText[i];
      if (t && text !== null) t.textContent = 'grad ' + text;
      known(t, text !== null);
      gradientKnown(i, text !== null);
    }
    // what shows node i: its graph boxes (value and op), its cells (of values or of gradients), its neuron
    function shows(ids, gradient) {
      var out = [];
      ids.forEach(function (i) {
        ['v', 'o'].forEach(function (p) { if (graphShape[p + i]) out.push(graphShape[p + i]); });
        (nodeCells[i] || []).forEach(function (c) { if (c.gradient === gradient && c.cell.tagName === 'TD') out.push(c.cell); });
        if (nodeNeuron[i]) out.push(nodeNeuron[i]);
      });
      return out;
    }
    var nodeMarks = {current: new Marks('current'), reads: new Marks('reads'), writes: new Marks('writes'),
                     active: new Marks('active')};
    var byNode = {
      count: function () { return fwd.length + bwd.length; },
      enter: function () {
        fwd.forEach(function (f) { valueKnown(f.node, false); });
        Object.keys(gradText).forEach(function (i) { known(gradText[i], false); });
        Object.keys(nodeCells).forEach(function (i) { gradientKnown(i, false); });
      },
      leave: function () {
        Object.keys(nodeMarks).forEach(function (m) { nodeMarks[m].set([]); });
        fwd.forEach(function (f) { valueKnown(f.node, true); });
        Object.keys(gradText).forEach(function (i) { gradText[i].textContent = finalGrad[i]; known(gradText[i], true); });
        Object.keys(nodeCells).forEach(function (i) { gradientKnown(i, true); });
      },
      show: function (from, to) {
        var F = fwd.length, j;
        // values: forward step j makes node fwd[j].node's value appear
        for (j = Math.min(from, F); j < Math.min(to, F); j++) valueKnown(fwd[j].node, true);
        for (j = Math.min(from, F) - 1; j >= Math.min(to, F); j--) valueKnown(fwd[j].node, false);
        // gradients: backward step j sets each gradient it changes (undone: what it was before)
        var b0 = Math.max(0, from - F), b1 = Math.max(0, to - F);
        for (j = b0; j < b1; j++) bwd[j].grads.forEach(function (g) { setGrad(g[0], g[2]); });
        for (j = b0 - 1; j >= b1; j--) bwd[j].grads.forEach(function (g) { setGrad(g[0], g[1]); });
        var s = to === 0 ? null : to <= F ? fwd[to - 1] : bwd[to - F - 1], backward = to > F;
        part('counter').textContent = to === 0 ? 'before the forward pass (' + this.count() + ' steps by node)'
          : (backward ? 'backward: step ' + s.number + ' of ' + bwd.length : 'forward: step ' + s.number + ' of ' + F);
        part('step-title').textContent = s ? s.title : 'Before the forward pass: only the inputs, weights and biases are known.';
        part('step-rule').textContent = s && !backward ? s.lines[0] : '';
        part('step-shapes').textContent = '';
        lines(s ? s.lines : []);
        nodeMarks.current.set(s ? shows([s.node], backward) : []);
        nodeMarks[backward ? 'writes' : 'reads'].set(s ? shows(s.parents, backward) : []);
        nodeMarks[backward ? 'reads' : 'writes'].set([]);
        var edges = [];
        if (s && backward) s.edges.forEach(function (k) { var e = graphEdge['e' + s.node + '_' + k]; if (e) edges.push(e); });
        nodeMarks.active.set(edges);
        return s ? s.node : (data.blocks.x || [null])[0];
      }
    };

    // the granularities offered (options.granularities, default both): a host that keeps its own
    // step number in one of them (a widget validating it) offers just that one
    var modes = {};
    (options.granularities || ['layer', 'node']).forEach(function (g) {
      if (g === 'layer') modes.layer = byLayer;
      if (g === 'node') modes.node = byNode;
    });
    if (!modes.layer && !modes.node) modes.layer = byLayer;
    var granularity = modes[options.granularity] ? options.granularity : modes.layer ? 'layer' : 'node';
    part('granularity').querySelectorAll('option').forEach(function (o) { if (!modes[o.value]) o.remove(); });
    if (Object.keys(modes).length < 2) part('granularity').parentNode.style.display = 'none';
    function show(k) {
      var before = position, mode = modes[granularity];
      position = Math.max(0, Math.min(mode.count(), k));
      var node = mode.show(before, position);
      if (node !== null && node !== undefined) keepInView(node);
      if (position !== before && options.onStep) options.onStep(position, handle);
      return position;
    }
    function setGranularity(name) {
      if (!modes[name] || name === granularity) return granularity;
      setPlaying(false);
      var before = position;
      modes[granularity].show(position, 0);  // back to the start, so texts are as drawn
      modes[granularity].leave();
      granularity = name;
      part('granularity').value = name;
      position = 0;
      modes[name].enter();
      var node = modes[name].show(0, 0);
      if (node !== null && node !== undefined) keepInView(node);
      if (options.onGranularity) options.onGranularity(name, handle);
      if (before !== 0 && options.onStep) options.onStep(0, handle);
      return name;
    }
    function setPlaying(on) {
      var button = part('play');
      if (timer) { clearInterval(timer); timer = null; }
      button.textContent = on ? '\u275a\u275a pause' : '\u25b6 play';
      if (!on) return;
      if (position >= modes[granularity].count()) show(0);
      timer = setInterval(function () {
        show(position + 1);
        if (position >= modes[granularity].count()) setPlaying(false);  // at the end: stop
      }, Number(part('speed').value));
    }
    function onKey(e) {
      var tag = e.target && e.target.tagName;
      if (tag === 'SELECT' || tag === 'INPUT' || tag === 'TEXTAREA') return;  // their own arrow keys
      if (e.key === 'ArrowRight') { show(position + 1); e.preventDefault(); }
      if (e.key === 'ArrowLeft') { show(position - 1); e.preventDefault(); }
      if (e.key === ' ') { setPlaying(!timer); e.preventDefault(); }
      if (e.key === 'Home') { show(0); e.preventDefault(); }
      if (e.key === 'End') { show(modes[granularity].count()); e.preventDefault(); }
    }

    handle = {
      step: function (n) { return n === undefined ? position : show(Number(n)); },
      select: function (name) { select(name); return selected; },
      selected: function () { return selected; },
      count: function () { return modes[granularity].count(); },
      granularity: function (name) { return name === undefined ? granularity : setGranularity(name); },
      play: function () { setPlaying(!timer); },
      keepInView: keepInView,
      panZoom: null,
      destroy: function () {
        setPlaying(false);
        listeners.forEach(function (l) { l[0].removeEventListener(l[1], l[2]); });
        listeners = [];
        if (sizeWatch) sizeWatch.disconnect();
        if (fitWatch) fitWatch.disconnect();
        if (panZoom) panZoom.destroy();
        root.textContent = '';
        root.classList.remove('autodiff-explainer');
        root.removeAttribute('tabindex');
      }
    };

    drawNetwork();
    drawMatrices();
    drawGraph();
    listen(part('next'), 'click', function () { show(position + 1); });
    listen(part('prev'), 'click', function () { show(position - 1); });
    listen(part('play'), 'click', function () { setPlaying(!timer); });
    listen(part('speed'), 'change', function () { if (timer) setPlaying(true); });
    listen(part('granularity'), 'change', function () { setGranularity(part('granularity').value); });
    graphTexts();
    part('granularity').value = granularity;
    modes[granularity].enter();
    if (options.keys === 'document') {
      listen(document, 'keydown', onKey);
    } else {
      if (!root.hasAttribute('tabindex')) root.setAttribute('tabindex', '0');
      listen(root, 'keydown', onKey);
    }
    // The standalone page gives the graph the rest of the window, so that all three views are on
    // one screen (at least 260 px of graph); a widget keeps the stylesheet's height.
    function fitWindow() {
      var top = frame.getBoundingClientRect().top + window.pageYOffset;
      var height = Math.max(260, Math.floor(window.innerHeight - top - 10));
      if (frame.style.height === height + 'px') return;
      frame.style.height = height + 'px';
      if (panZoom) { panZoom.resize(); }
    }
    var fitWatch = null;
    if (options.fitWindow) {
      fitWindow();
      listen(window, 'resize', fitWindow);
      // what sits above the graph can change height after a step or a click (a step's text
      // wrapping onto a second line): fit again then, or the page overflows the window by a line
      if (typeof ResizeObserver !== 'undefined') {
        fitWatch = new ResizeObserver(fitWindow);
        fitWatch.observe(root);
      }
    }
    // svg-pan-zoom fits the drawing to its frame: a root not laid out yet (a widget's element
    // before it is attached, a hidden tab) gets it once the frame has a size
    var sizeWatch = null;
    if (frame.clientWidth > 0 || typeof ResizeObserver === 'undefined') {
      startPanZoom();
    } else {
      sizeWatch = new ResizeObserver(function () {
        if (frame.clientWidth === 0 || panZoom) return;
        sizeWatch.disconnect();
        sizeWatch = null;
        startPanZoom();
        show(position);
      });
      sizeWatch.observe(frame);
    }
    show(0);
    return handle;
  }

  return {mount: mount};
})();
