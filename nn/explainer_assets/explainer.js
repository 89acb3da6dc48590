// The explainer page (nn/explainer.py): three views of one MLP, linked by the selected weight,
// and steps of one matrix rule each. Every number and name arrives pre-formatted in the JSON
// (autodiff.fmt.number, autodiff.fmt.name) and is put into the page as text, never as markup.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('explainer-data').textContent);
  var SVG = 'http://www.w3.org/2000/svg';
  var params = data.params, steps = data.steps, position = 0, timer = null, selected = null;
  // every element that shows parameter p (edges, cells, graph node), and every element of block b
  var byParam = {}, byBlock = {};
  function remember(table, key, el) { (table[key] = table[key] || []).push(el); }

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

  // -- (a) the network: columns of circles, inputs on the left, neurons in index order ----------
  function drawNetwork() {
    // sized to fit the column (330 px) and about 640 px of height; a big layer gets smaller circles
    // and no numbers under them (they would overlap)
    var sizes = data.sizes, tallest = Math.max.apply(null, sizes), left = 50, top = 40;
    var colGap = Math.min(125, (330 - 2 * left) / Math.max(1, sizes.length - 1));
    var rowGap = Math.min(78, 600 / Math.max(1, tallest - 1)), r = Math.min(24, rowGap * 0.42);
    var numbers = rowGap >= 60;
    var width = left * 2 + colGap * (sizes.length - 1), height = top + rowGap * (tallest - 1) + 60;
    var svg = svgEl('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, id: 'network-svg'});
    var names = ['x'].concat(data.layers.map(function (L) { return L.output; }));
    function pos(c, i) {
      var offset = (tallest - sizes[c]) * rowGap / 2;
      return [left + c * colGap, top + offset + i * rowGap];
    }
    var grads = [];
    Object.keys(params).forEach(function (k) { if (params[k].row !== null && params[k].gradValue !== null) grads.push(Math.abs(params[k].gradValue)); });
    var biggest = Math.max.apply(null, grads.concat([1e-300]));
    data.layers.forEach(function (L, l) {
      var W = data.matrices[L.W];
      W.params.forEach(function (row, i) {
        row.forEach(function (name, j) {
          var a = pos(l, i), b = pos(l + 1, j), p = params[name];
          var g = p.gradValue === null ? 0 : p.gradValue;
          var line = svgEl('line', {x1: a[0], y1: a[1], x2: b[0], y2: b[1], 'class': 'net-edge', 'data-param': name,
            stroke: g >= 0 ? '#2563eb' : '#dc2626', 'stroke-width': (1 + 9 * Math.abs(g) / biggest).toFixed(2)});
          var hit = svgEl('line', {x1: a[0], y1: a[1], x2: b[0], y2: b[1], 'class': 'net-hit', 'data-param': name});
          hit.appendChild(svgEl('title', {}, p.name + ' = ' + p.value + ', grad ' + p.grad));
          svg.appendChild(line); svg.appendChild(hit);
          remember(byParam, name, line);
          hit.addEventListener('click', function () { select(name); });
        });
      });
    });
    sizes.forEach(function (n, c) {
      var vec = data.vectors[names[c]];
      for (var i = 0; i < n; i++) {
        var p = pos(c, i), g = svgEl('g', {'class': 'neuron', 'data-block': names[c]});
        g.appendChild(svgEl('circle', {cx: p[0], cy: p[1], r: r}));
        g.appendChild(svgEl('text', {x: p[0], y: p[1] + 4, 'text-anchor': 'middle'}, vec.labels[i]));
        if (numbers) g.appendChild(svgEl('text', {x: p[0], y: p[1] + r + 15, 'text-anchor': 'middle'}, vec.values[i].t));
        else g.appendChild(svgEl('title', {}, vec.labels[i] + ' = ' + vec.values[i].t));
        svg.appendChild(g);
        remember(byBlock, names[c], g);
        // a neuron's z and delta live in the same circle
        if (c > 0) { remember(byBlock, data.layers[c - 1].z, g); remember(byBlock, data.layers[c - 1].delta, g); }
      }
    });
    document.getElementById('network').appendChild(svg);
  }

  // -- (b) the matrices: labelled heat-map grids -------------------------------------------------
  function grid(name, caption, rows, cols, values, paramNames) {
    var flat = [].concat.apply([], values), max = maxAbs(flat);
    // a layer's input is the layer below's output, shown again: one id per block, the first
    var id = document.getElementById('block-' + name) ? 'block-' + name + '-again' : 'block-' + name;
    var box = el('div', {'class': 'block', id: id, 'data-block': name});
    var table = el('table', {'class': 'grid'});
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
          td.addEventListener('click', function () { select(p); });
          if (name.charAt(0) === 'd') td.addEventListener('mouseenter', function () { hover(p); });
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
    var root = document.getElementById('matrices');
    data.layers.forEach(function (L) {
      var block = el('div', {'class': 'layer-block'});
      var rule = L.z + ' = ' + L.input + ' . ' + L.W + ' + ' + L.b + (L.z !== L.output ? ', ' + L.output + ' = ' + L.activation + '(' + L.z + ')' : '');
      block.appendChild(el('h3', {}, 'layer ' + L.index + ': ' + rule));
      var forward = el('div', {'class': 'row'});
      var W = data.matrices[L.W], dW = data.matrices['d' + L.W];
      var biasParams = data.vectors[L.b].labels;
      forward.appendChild(vectorGrid(L.input));
      forward.appendChild(grid(L.W, L.W + ' (' + L.nin + 'x' + L.nout + ')', W.rows, W.cols, W.values, W.params));
      forward.appendChild(vectorGrid(L.b, biasParams));
      if (L.z !== L.output) forward.appendChild(vectorGrid(L.z));
      forward.appendChild(vectorGrid(L.output));
      if (L.index === data.layers.length) forward.appendChild(vectorGrid('t'));
      var backward = el('div', {'class': 'row'});
      backward.appendChild(grid('d' + L.W, 'd' + L.W + ' = outer(' + L.input + ', ' + L.delta + ') (' + L.nin + 'x' + L.nout + ')',
                                dW.rows, dW.cols, dW.values, dW.params));
      backward.appendChild(vectorGrid('d' + L.b, biasParams));
      backward.appendChild(vectorGrid(L.delta));
      block.appendChild(forward);
      block.appendChild(backward);
      root.appendChild(block);
    });
  }

  // -- (c) the scalar graph: Graphviz's SVG, zoom and pan by svg-pan-zoom -------------------------
  var graphSvg = document.querySelector('#graph svg'), panZoom = null;
  function setUpGraph() {
    Object.keys(params).forEach(function (name) {
      var node = document.getElementById('v' + params[name].node);
      if (!node) return;
      node.classList.add('param');
      remember(byParam, name, node);
      node.addEventListener('click', function () { select(name); });
    });
    Object.keys(data.blocks).forEach(function (b) {
      data.blocks[b].forEach(function (i) { var n = document.getElementById('v' + i); if (n) remember(byBlock, b, n); });
    });
    graphSvg.removeAttribute('width');
    graphSvg.removeAttribute('height');
    panZoom = svgPanZoom(graphSvg, {controlIconsEnabled: true, fit: true, center: true, dblClickZoomEnabled: false,
                                    minZoom: 0.2, maxZoom: 500});
    readable();
  }
  // Zoom until all node text is at least 13 px on screen (the whole graph at once would be too small
  // to read); each step then pans to what it computes.
  function readable() {
    var smallest = Infinity;
    graphSvg.querySelectorAll('g.node text').forEach(function (t) {
      smallest = Math.min(smallest, parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a);
    });
    if (smallest > 0 && smallest < 13) panZoom.zoomBy(13 / smallest);
  }
  // Pan the graph so that node i sits in the middle of its frame (zoom unchanged). svg-pan-zoom
  // redraws on the next animation frame, so the drawing on screen may be a move behind: the node is
  // placed from its position inside the pan-zoom viewport and the library's own zoom, not the screen.
  function keepInView(i) {
    var node = document.getElementById('v' + i), viewport = graphSvg.querySelector('.svg-pan-zoom_viewport');
    if (!node || !panZoom || !viewport) return;
    var box = node.getBBox(), inViewport = viewport.getScreenCTM().inverse().multiply(node.getScreenCTM());
    var centre = graphSvg.createSVGPoint();
    centre.x = box.x + box.width / 2;
    centre.y = box.y + box.height / 2;
    centre = centre.matrixTransform(inViewport);
    var sizes = panZoom.getSizes(), zoom = sizes.realZoom;
    panZoom.pan({x: sizes.width / 2 - centre.x * zoom, y: sizes.height / 2 - centre.y * zoom});
  }

  // -- selection: one weight, highlighted everywhere, its gradient as the sum over paths ---------
  function select(name) {
    var p = params[name];
    if (!p) return;
    if (selected) (byParam[selected] || []).forEach(function (e) { e.classList.remove('selected'); });
    selected = name;
    (byParam[name] || []).forEach(function (e) { e.classList.add('selected'); });
    keepInView(p.node);
    factors(name);
    document.getElementById('sel-title').textContent = p.title + ' = ' + p.total;
    document.getElementById('sel-outer').textContent = p.outer;
    var body = document.getElementById('sel-paths');
    body.textContent = '';
    p.paths.forEach(function (path, k) {
      var tr = el('tr', {'class': 'path'});
      tr.appendChild(el('td', {}, String(k + 1)));
      tr.appendChild(el('td', {}, path.factors.map(function (f) { return f[0] + ' = ' + f[1]; }).join(' \u00b7 ')));
      tr.appendChild(el('td', {}, path.product));
      body.appendChild(tr);
    });
    var more = p.count > p.paths.length ? ' (' + (p.count - p.paths.length) + ' not listed)' : '';
    document.getElementById('sel-sum').textContent = 'sum over ' + p.count + (p.count === 1 ? ' path' : ' paths') + more + ' = ' + p.total;
    document.getElementById('sel-engine').textContent = 'backprop (the engine) gives ' + p.grad;
    window.explainerSelected = name;
  }
  // dW[i][j] = a[i] * delta[j] (db[j] = delta[j]): the factors' cells are marked wherever they are shown
  function factors(name) {
    document.querySelectorAll('td.factor').forEach(function (e) { e.classList.remove('factor'); });
    var p = params[name], L = data.layers[Number(p.matrix.slice(1)) - 1];
    var cells = [[L.delta, p.col]].concat(p.row === null ? [] : [[L.input, p.row]]);
    cells.forEach(function (c) {
      (byBlock[c[0]] || []).forEach(function (block) {
        if (!block.classList.contains('block')) return;
        block.querySelectorAll('td[data-row="' + c[1] + '"]').forEach(function (td) { td.classList.add('factor'); });
      });
    });
  }
  function hover(name) {
    document.getElementById('hover').textContent = params[name].outer;
    factors(name);
  }

  // -- steps: one matrix rule each, forward then backward ----------------------------------------
  function show(k) {
    position = Math.max(0, Math.min(steps.length - 1, k));
    var s = steps[position];
    document.getElementById('counter').textContent = 'step ' + position + ' of ' + (steps.length - 1) + ' (' + s.phase + ')';
    document.querySelectorAll('.reads, .writes, .pending').forEach(function (e) { e.classList.remove('reads', 'writes', 'pending'); });
    // what a later step writes is not known yet: its numbers are hidden
    for (var later = position + 1; later < steps.length; later++) {
      steps[later].writes.forEach(function (b) {
        (byBlock[b] || []).forEach(function (e) { if (e.classList.contains('block')) e.classList.add('pending'); });
      });
    }
    s.reads.forEach(function (b) { (byBlock[b] || []).forEach(function (e) { e.classList.add('reads'); }); });
    s.writes.forEach(function (b) { (byBlock[b] || []).forEach(function (e) { e.classList.remove('reads'); e.classList.add('writes'); }); });
    document.getElementById('step-title').textContent = position === 0 ? 'Before the forward pass:' : 'Step ' + position + ':';
    document.getElementById('step-rule').textContent = s.rule;
    document.getElementById('step-shapes').textContent = s.shapes ? 'shapes: ' + s.shapes : '';
    // the graph follows the step: the first node it writes (before any, the first input) comes into view
    var written = (s.writes.length ? data.blocks[s.writes[0]] : data.blocks.x) || [];
    if (written.length) keepInView(written[0]);
    var list = document.getElementById('step-lines');
    list.textContent = '';
    s.lines.forEach(function (line) { list.appendChild(el('li', {}, line)); });
  }
  function play() {
    var button = document.getElementById('play');
    if (timer) { clearInterval(timer); timer = null; button.textContent = '\u25b6 play'; return; }
    if (position >= steps.length - 1) show(0);
    button.textContent = '\u275a\u275a pause';
    timer = setInterval(function () {
      show(position + 1);
      if (position >= steps.length - 1) play();  // at the end: stop
    }, Number(document.getElementById('speed').value));
  }

  drawNetwork();
  drawMatrices();
  setUpGraph();
  document.getElementById('next').addEventListener('click', function () { show(position + 1); });
  document.getElementById('prev').addEventListener('click', function () { show(position - 1); });
  document.getElementById('play').addEventListener('click', play);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') { show(position + 1); e.preventDefault(); }
    if (e.key === 'ArrowLeft') { show(position - 1); e.preventDefault(); }
  });
  show(0);
  // for tests and for the console: which step, which weight, and the graph's pan-zoom
  window.explainer = {show: show, select: select, keepInView: keepInView, panZoom: panZoom,
                      position: function () { return position; }};
})();
