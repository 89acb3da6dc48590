"""The explainer: one offline page with an MLP's network, its matrices and its scalar graph, linked.

:func:`explainer_html` runs the model forward on one input, takes the loss against a target and
works out every gradient (with :func:`autodiff.grad`, so no ``.grad`` changes). The page shows it
three ways side by side:

- the network: neurons as circles in columns, inputs on the left, each weight an edge whose
  colour (sign) and width (size) show its gradient;
- the matrices: each layer's ``W`` (rows = source neuron, as ``nn`` stores them) and ``b``, the
  vectors ``x``, ``z``, ``h``, ``y``, and the gradients ``dW``, ``db`` and ``delta = dloss/dz`` as
  labelled heat maps; hovering ``dW2[j][k]`` shows it is ``h1[j] * delta2[k]``;
- the scalar computation graph (:class:`autodiff.render.Scene`, value node ``i`` has the id
  ``v{i}`` in :func:`autodiff.topological_order` numbering), with zoom and pan (svg-pan-zoom,
  bundled).

Selecting a weight or bias in any view highlights it in all three and lists its gradient as the
sum over paths (:func:`autodiff.trace`), every factor with its number. The steps go forward, then
backward, one matrix rule at a time (``z1 = x . W1 + b1``, ..., ``dW1 = outer(x, delta1)``),
highlighting what each rule reads and writes. Numbers are :func:`autodiff.fmt.number`, names
:func:`autodiff.fmt.name`; all of it reaches the page as JSON and is put there as text.

>>> import nn
>>> page = explainer_html(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])
>>> page.startswith("<!DOCTYPE html>") and "autodiffExplainer.mount(" in page
True
>>> view = explainer_view(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])
>>> 'id="v0"' in view["graph"]  # the scalar graph, drawn by Graphviz
True
"""

from __future__ import annotations

import copy
import html
import json
import math
from importlib import resources
from typing import Any, Optional, Sequence

import autodiff
from autodiff import Value, fmt
from autodiff.debug.record import record_forward, record_steps
from autodiff.ops import RULES

from .layers import MLP
from .losses import mse_loss, sse_loss

__all__ = ["GRANULARITIES", "explainer_html", "explainer_data", "explainer_view", "node_steps", "explainer_module", "explainer_css", "MAX_PATHS"]

#: At most this many paths are listed per weight (the sum is always over all of them).
MAX_PATHS = 20

_LOSSES = {"mse": mse_loss, "sse": sse_loss}
_LOSS_RULES = {"mse": "dloss/dy = 2 (y - t) / n", "sse": "dloss/dy = y - t"}
# g'(z) written out, for the rule delta = ... * g'(z)
_SLOPES = {"tanh": "1 - tanh(z)^2", "sigmoid": "s(z) (1 - s(z))", "relu": "1 if z > 0 else 0", "linear": "1"}


def _num(x: float) -> dict[str, Any]:
    """A number for the page: its text (:func:`autodiff.fmt.number`) and, when finite, its value (for colours)."""
    return {"t": fmt.number(x), "v": x if math.isfinite(x) else None}


def _shape(rows: int, cols: Optional[int] = None) -> str:
    return f"({rows})" if cols is None else f"({rows}x{cols})"


def _check(model: object, x: object, target: object, loss: object) -> None:
    if not isinstance(model, MLP):
        raise TypeError(f"explainer_html takes an nn.MLP, not {type(model).__name__}")
    if loss not in _LOSSES:
        raise ValueError(f"loss must be 'mse' or 'sse', not {loss!r}")
    for what, seq, n in (("x", x, model.nin), ("target", target, model.sizes[-1])):
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
            raise TypeError(f"{what} must be a list of {n} numbers, not {type(seq).__name__}")
        if len(seq) != n:
            raise ValueError(f"{what} must have {n} numbers for this {model!r}, not {len(seq)}")
        for i, v in enumerate(seq):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{what}[{i}] must be a finite number, not {v!r}")


def explainer_data(model: MLP, x: Sequence[float], target: Sequence[float], loss: str = "mse") -> dict[str, Any]:
    """Everything the explainer page shows, as plain data (what the page embeds as JSON), and the loss Value.

    Returns a dict with ``sizes``, ``vectors`` and ``matrices`` (each with ``labels``/``rows``/
    ``cols`` and ``values``, numbers as ``{"t": text, "v": value}``), ``params`` (per weight and
    bias: its graph node, gradient, paths with their factors, and the outer-product reading),
    ``layers``, ``steps`` and, under ``"root"``, the loss :class:`~autodiff.Value` (not JSON).
    ``model``'s ``.grad`` fields are left as they are.

    >>> import nn
    >>> d = explainer_data(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])
    >>> d["matrices"]["dW2"]["rows"], d["matrices"]["dW2"]["cols"]
    (['h1[0]', 'h1[1]', 'h1[2]'], ['y[0]', 'y[1]'])
    >>> [s["rule"] for s in d["steps"]][1:4]
    ['z1 = x . W1 + b1', 'h1 = tanh(z1)', 'y = h1 . W2 + b2']
    """
    _check(model, x, target, loss)
    # A copy with zeroed grads: the by-node steps replay backward (leaves accumulate into .grad),
    # and the page shows this one pass, whatever the model's own .grad fields hold.
    model = copy.deepcopy(model)
    model.zero_grad()
    xs = [Value(float(v), label=f"x[{i}]") for i, v in enumerate(x)]
    # Layer by layer, as MLP.__call__ does, keeping each layer's z (pre-activation) and output.
    acts: list[list[Value]] = [xs]
    zs: list[list[Value]] = []
    for layer in model.layers:
        out = layer(acts[-1])
        zs.append(out if layer.activation == "linear" else [v.parents[0] for v in out])
        acts.append(out)
    root = _LOSSES[loss](acts[-1], [float(t) for t in target])
    order = autodiff.topological_order(root)
    grads = dict(zip(map(id, order), autodiff.grad(root, order)))
    node = {id(v): i for i, v in enumerate(order)}

    names = ["x"] + [("y" if n == len(model.layers) else f"h{n}") for n in range(1, len(model.layers) + 1)]
    vectors: dict[str, Any] = {}
    matrices: dict[str, Any] = {}
    params: dict[str, Any] = {}
    blocks: dict[str, list[int]] = {}  # block name -> the graph nodes it shows

    def vector(name: str, labels: list[str], values: list[float], nodes: list[Value]) -> None:
        vectors[name] = {"labels": labels, "values": [_num(v) for v in values]}
        blocks[name] = [node[id(v)] for v in nodes if id(v) in node]

    vector("x", [fmt.name(v) for v in xs], [v.data for v in xs], xs)
    vector("t", [f"t[{k}]" for k in range(len(target))], [float(t) for t in target], [])
    layers = []
    for n, layer in enumerate(model.layers, start=1):
        a_in, a_out, z = acts[n - 1], acts[n], zs[n - 1]
        lin = layer.activation == "linear"
        zname, dname = (names[n] if lin else f"z{n}"), f"delta{n}"
        if not lin:
            vector(zname, [fmt.name(v) for v in z], [v.data for v in z], z)
        vector(names[n], [fmt.name(v) for v in a_out], [v.data for v in a_out], a_out)
        vector(dname, [f"{dname}[{j}]" for j in range(layer.nout)], [grads[id(v)] for v in z], z)
        rows, cols = [fmt.name(v) for v in a_in], [fmt.name(v) for v in a_out]
        W = layer.weights
        matrices[f"W{n}"] = {"rows": rows, "cols": cols, "values": [[_num(w.data) for w in r] for r in W],
                             "params": [[w.label for w in r] for r in W]}
        matrices[f"dW{n}"] = {"rows": rows, "cols": cols, "values": [[_num(grads[id(w)]) for w in r] for r in W],
                              "params": [[w.label for w in r] for r in W]}
        blocks[f"W{n}"] = blocks[f"dW{n}"] = [node[id(w)] for r in W for w in r]
        bs = layer.biases
        vector(f"b{n}", [fmt.name(b) for b in bs], [b.data for b in bs], bs)
        vector(f"db{n}", [f"d{fmt.name(b)}" for b in bs], [grads[id(b)] for b in bs], bs)
        for i, r in enumerate(W):
            for j, w in enumerate(r):
                params[w.label] = _param(root, w, grads[id(w)], node, f"W{n}", i, j,
                                         (fmt.name(a_in[i]), a_in[i].data), (f"{dname}[{j}]", grads[id(z[j])]))
        for j, b in enumerate(bs):
            params[b.label] = _param(root, b, grads[id(b)], node, f"b{n}", None, j,
                                     None, (f"{dname}[{j}]", grads[id(z[j])]))
        num = fmt.number
        # each z written out: z1[j] = x[0]·W1[0][j] + x[1]·W1[1][j] + b1[j], then with the numbers
        z_lines = [f"{fmt.name(z[j])} = " + " + ".join(f"{fmt.name(a)}\u00b7{W[i][j].label}" for i, a in enumerate(a_in))
                   + f" + {bs[j].label} = " + " + ".join(f"{num(a.data)}\u00b7{num(W[i][j].data)}" for i, a in enumerate(a_in))
                   + f" + {num(bs[j].data)} = {num(z[j].data)}" for j in range(layer.nout)]
        # the delta one layer down: (W . delta)[i] times the activation's slope there, which is the
        # engine's local derivative dh/dz of that edge (1 below a linear layer)
        back_lines = []
        if n > 1:
            below = model.layers[n - 2]
            for i, a in enumerate(a_in):
                back = sum(W[i][k].data * grads[id(z[k])] for k in range(layer.nout))
                slope = a.locals[0] if below.activation != "linear" else 1.0
                back_lines.append(
                    f"delta{n - 1}[{i}] = ("
                    + " + ".join(f"{W[i][k].label}\u00b7{dname}[{k}]" for k in range(layer.nout))
                    + f") \u00d7 {below.activation}'({fmt.name(zs[n - 2][i])}) = ("
                    + " + ".join(f"{num(W[i][k].data)}\u00b7{num(grads[id(z[k])])}" for k in range(layer.nout))
                    + f") \u00d7 {num(slope)} = {num(back)} \u00d7 {num(slope)} = {num(grads[id(zs[n - 2][i])])}")
        layers.append({"index": n, "activation": layer.activation, "input": names[n - 1], "z": zname,
                       "output": names[n], "delta": dname, "W": f"W{n}", "b": f"b{n}",
                       "nin": layer.nin, "nout": layer.nout, "zLines": z_lines, "backLines": back_lines})
    return {
        "sizes": model.sizes,
        "loss": {"kind": loss, "value": _num(root.data), "node": node[id(root)]},
        "vectors": vectors,
        "matrices": matrices,
        "params": params,
        "layers": layers,
        "blocks": blocks,
        "steps": _steps(layers, vectors, matrices, loss),
        "nodeSteps": node_steps(root),
        "root": root,
    }


def _param(root: Value, p: Value, grad: float, ids: dict[int, int], matrix: str, i: Optional[int], j: int,
           source: Optional[tuple[str, float]], delta: tuple[str, float]) -> dict[str, Any]:
    """One weight or bias: the sum over paths with every factor, the graph nodes and edges of those
    paths (``pathNodes``, ``pathEdges`` as the graph's ids ``e{child}_{k}``), and the outer-product reading."""
    t = autodiff.trace(root, p)
    paths = []
    on_path: set[int] = set()
    edges: set[str] = set()
    for k, path in enumerate(t.paths):
        if k >= MAX_PATHS:
            break
        paths.append({"factors": [[n, fmt.number(v)] for n, v in path.factors()], "product": fmt.number(path.product)})
        on_path.update(ids[id(v)] for v in path.nodes)
        edges.update(f"e{ids[id(child)]}_{e}" for _, child, e in path.edges)
    node = ids[id(p)]
    if source is None:  # a bias: db[j] = delta[j]
        outer = f"d{fmt.name(p)} = {delta[0]} = {fmt.number(delta[1])}"
    else:
        outer = (f"d{fmt.name(p)} = {source[0]} \u00d7 {delta[0]} = {fmt.number(source[1])} \u00d7 "
                 f"{fmt.number(delta[1])} = {fmt.number(source[1] * delta[1])}")
    return {"name": fmt.name(p), "node": node, "matrix": matrix, "row": i, "col": j, "value": fmt.number(p.data),
            "grad": fmt.number(grad), "gradValue": grad if math.isfinite(grad) else None,
            "total": fmt.number(t.total), "count": t.count, "paths": paths,
            "title": fmt.derivative("loss", fmt.name(p)), "outer": outer,
            "pathNodes": sorted(on_path), "pathEdges": sorted(edges)}


def _steps(layers: list[dict[str, Any]], vectors: dict[str, Any], matrices: dict[str, Any],
           loss: str) -> list[dict[str, Any]]:
    """The layer-level steps: one matrix rule each, forward then backward, with what each reads and writes."""
    steps: list[dict[str, Any]] = [{"phase": "start", "rule": "given: x, the weights and biases, the target t",
                                    "shapes": "", "reads": [], "writes": [], "lines": []}]
    for L in layers:
        n_in, n_out, n = L["nin"], L["nout"], L["index"]
        z, a = L["z"], L["output"]
        steps.append({"phase": "forward", "rule": f"{z} = {L['input']} . W{n} + b{n}",
                      "shapes": f"{_shape(n_in)} . {_shape(n_in, n_out)} + {_shape(n_out)} = {_shape(n_out)}",
                      "reads": [L["input"], f"W{n}", f"b{n}"], "writes": [z], "lines": L["zLines"]})
        if z != a:
            steps.append({"phase": "forward", "rule": f"{a} = {L['activation']}({z})",
                          "shapes": f"{_shape(n_out)} elementwise = {_shape(n_out)}", "reads": [z], "writes": [a],
                          "lines": [f"{lab} = {t['t']}" for lab, t in zip(vectors[a]["labels"], vectors[a]["values"])]})
    last = layers[-1]
    rule = _LOSS_RULES[loss]
    if last["z"] != last["output"]:
        rule += f", times {last['activation']}'({last['z']}) = {_SLOPES[last['activation']]}"
    dl = vectors[last["delta"]]
    steps.append({"phase": "backward", "rule": f"{last['delta']} = dloss/d{last['z']}: {rule}",
                  "shapes": f"{_shape(last['nout'])}", "reads": [last["output"], "t", last["z"]], "writes": [last["delta"]],
                  "lines": [f"{lab} = {t['t']}" for lab, t in zip(dl["labels"], dl["values"])]})
    for L in reversed(layers):
        n, n_in, n_out = L["index"], L["nin"], L["nout"]
        dW = matrices[f"dW{n}"]
        steps.append({"phase": "backward", "rule": f"dW{n} = outer({L['input']}, {L['delta']}), db{n} = {L['delta']}",
                      "shapes": f"{_shape(n_in)} outer {_shape(n_out)} = {_shape(n_in, n_out)}",
                      "reads": [L["input"], L["delta"]], "writes": [f"dW{n}", f"db{n}"],
                      "lines": [f"row {r}: {r} \u00d7 {L['delta']} = [{', '.join(v['t'] for v in row)}]"
                                for r, row in zip(dW["rows"], dW["values"])]})
        if n > 1:
            below = layers[n - 2]
            steps.append({"phase": "backward",
                          "rule": f"{below['delta']} = (W{n} . {L['delta']}) * {below['activation']}'({below['z']})",
                          "shapes": f"{_shape(n_in, n_out)} . {_shape(n_out)} = {_shape(n_in)}, "
                                    f"times {_shape(n_in)} elementwise = {_shape(n_in)}",
                          "reads": [f"W{n}", L["delta"], below["z"]], "writes": [below["delta"]],
                          "lines": L["backLines"]})
    return steps


def _operand(text: str) -> str:
    # a negative number inside a formula goes in parentheses: 0.5 * (-1)
    return f"({text})" if text.startswith("-") else text


def node_steps(root: Value) -> dict[str, list[dict[str, Any]]]:
    """The explainer's steps "by node": the forward pass (each operation's value, parents first)
    and then backprop, one node a step, read from the step records
    (:func:`~autodiff.debug.record_forward` with no inputs, and
    :func:`~autodiff.debug.record_steps`) and numbered from 1 as the terminal debugger
    numbers them: the records' ``shown`` steps, so leaves and constants take no step (the step
    that completes a leaf says that its gradient is final).

    Each forward step has ``node`` (its id in :func:`autodiff.topological_order` numbering, the
    graph's ``v{id}``), ``parents``, ``number``, ``title`` and ``lines``; each backward step has
    ``node``, ``parents`` (those its contributions reach), ``edges`` (their positions ``k``),
    ``number``, ``title``, ``lines`` and ``grads``: ``[node, text before or None, text after]``
    for every gradient it changes (:func:`autodiff.fmt.short`, as the graph writes them).

    >>> from autodiff import Value
    >>> x = Value(3.0, label="x")
    >>> y = x * x
    >>> y.label = "y"
    >>> s = node_steps(y)
    >>> [f["title"] for f in s["forward"]], s["forward"][0]["lines"]
    (['forward step 1: y'], ['y = x * x = 3 * 3 = 9'])
    >>> s["backward"][0]["title"], s["backward"][0]["grads"]
    ('step 1: y (*) grad 1', [[1, None, '1'], [0, None, '6']])
    """
    forward, backward = record_forward(root, [], []), record_steps(root)
    nodes = backward.nodes
    out: dict[str, list[dict[str, Any]]] = {"forward": [], "backward": []}
    for k, step in enumerate(forward.shown, start=1):
        node = nodes[step.node_id]
        parents = node["parents"]
        v = backward.values[step.node_id]
        arg = fmt.short(v.arg) if v.arg is not None else "k"
        rule = RULES[node["op"]]
        # an operand of an infix op goes in parentheses when it is a formula or a negative
        # number (a * (b + c), 0.5 * (-1)); inside tanh(...) or a sum it needs none
        infix = rule.call is None
        names = rule.formula([fmt.grouped(nodes[p]["name"]) if infix and rule.join is None else nodes[p]["name"]
                              for p in parents], arg)
        numbers = rule.formula([_operand(fmt.number(nodes[p]["data"])) if infix else fmt.number(nodes[p]["data"])
                                for p in parents], arg)
        line = f"{node['name']} = {names} = {numbers} = {fmt.number(node['data'])}"
        if not node["label"]:  # a nameless node's name is its formula already
            line = f"{node['name']} = {numbers} = {fmt.number(node['data'])}"
        out["forward"].append({"node": step.node_id, "parents": parents, "number": k,
                               "title": f"forward step {k}: {node['name']}", "lines": [line]})
    grads = list(backward.start)
    reached: set[int] = set()  # nodes whose gradient the page shows: none before the first step
    for k, (step, finals) in enumerate(zip(backward.shown, backward.completes), start=1):
        node = nodes[step.node_id]
        op = f" ({node['op']})" if node["op"] and node["label"] else ""
        lines: list[str] = []
        targets: list[int] = []  # the nodes its contributions reach
        edges: list[int] = []
        changed: dict[int, tuple[bool, float]] = {}  # node -> (grad known before?, grad before)
        for s in [step, *finals]:
            changed.setdefault(s.node_id, (s.node_id in reached, grads[s.node_id]))
            grads[s.node_id] = s.grad
            for c in s.contributions:
                name = nodes[c.parent_id]["name"]
                lines.append(f"-> {name}: local {fmt.number(c.local)} * grad {fmt.number(s.grad)} = "
                             f"{fmt.number(c.amount)}; grad {fmt.number(c.before)} -> {fmt.number(c.after)}")
                changed.setdefault(c.parent_id, (c.parent_id in reached, grads[c.parent_id]))
                grads[c.parent_id] = c.after
                targets.append(c.parent_id)
                edges.append(c.k)
            if s is not step:
                lines.append(f"{nodes[s.node_id]['name']}: grad {fmt.number(s.grad)} is final")
        reached.update(changed)
        out["backward"].append({
            "node": step.node_id, "parents": targets, "edges": edges, "number": k,
            "title": f"step {k}: {node['name']}{op} grad {fmt.number(step.grad)}", "lines": lines,
            "grads": [[i, fmt.short(before) if known else None, fmt.short(grads[i])]
                      for i, (known, before) in changed.items()]})
    return out


def _asset(name: str) -> str:
    return resources.files("nn").joinpath("explainer_assets", name).read_text(encoding="utf-8")


def _svg_pan_zoom() -> str:
    # the one bundled copy, shared with the step-through page (licence notice at its top)
    from autodiff.debug import assets

    return assets.read("svg-pan-zoom.min.js")


def explainer_view(model: MLP, x: Sequence[float], target: Sequence[float], loss: str = "mse",
                   renderer: Optional[str] = None) -> dict[str, Any]:
    """What the front end's ``mount(root, data)`` takes: :func:`explainer_data` (without the loss
    Value) plus ``graph``, the scalar graph's SVG text (Graphviz, labels escaped by the renderer).

    It is plain JSON data, so a notebook widget can send it as it is.

    >>> import json, nn
    >>> view = explainer_view(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])
    >>> view["graph"].startswith("<svg") and 'id="v0"' in view["graph"]
    True
    >>> json.loads(json.dumps(view))["sizes"]
    [2, 3, 2]
    """
    from autodiff.render import Scene

    data = explainer_data(model, x, target, loss)
    root = data.pop("root")
    order = autodiff.topological_order(root)
    grads = dict(zip(order, autodiff.grad(root, order)))
    svg = Scene([root], grads=grads, renderer=renderer).draw().svg()
    data["graph"] = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG goes inline
    return data


def explainer_module() -> str:
    """The front end as one ES module (for an anywidget ``_esm``): svg-pan-zoom, then explainer.js,
    then ``export const mount = autodiffExplainer.mount;``. See the API comment at the top of
    ``nn/explainer_assets/explainer.js``; :func:`explainer_css` is its style.

    >>> explainer_module().rstrip().endswith("export const mount = autodiffExplainer.mount;")
    True
    """
    return (_svg_pan_zoom() + "\n" + _asset("explainer.js")
            + "\nexport const mount = autodiffExplainer.mount;\n")


def explainer_css() -> str:
    """The front end's style sheet, every rule scoped to ``.autodiff-explainer`` (the mounted root).

    >>> ".autodiff-explainer" in explainer_css()
    True
    """
    return _asset("explainer.css")


#: The step granularities: one matrix rule a step, or one node of the graph (as the terminal steps).
GRANULARITIES = ("layer", "node")


def explainer_html(model: MLP, x: Sequence[float], target: Sequence[float], loss: str = "mse",
                   title: Optional[str] = None, renderer: Optional[str] = None, granularity: str = "layer") -> str:
    """The explainer page for ``model`` on input ``x`` against ``target``, as one offline HTML string.

    ``loss`` is ``"mse"`` (:func:`nn.mse_loss`) or ``"sse"`` (:func:`nn.sse_loss`); ``renderer``
    picks the Graphviz engine of the scalar graph; ``granularity`` the steps the page opens with,
    ``"layer"`` (by neuron and layer: a matrix rule a step) or ``"node"`` (by node: the forward
    pass, then backprop as the terminal debugger steps it). The model's ``.grad`` fields are not touched.
    Everything (script, style, the zoom library) is inside the file: it opens offline. The page
    mounts the front end (:func:`explainer_module`'s ``mount``) on :func:`explainer_view`'s data.

    >>> import nn
    >>> page = explainer_html(nn.MLP(1, [1], seed=0), [2.0], [1.0], title="<one> & neuron")
    >>> "<title>&lt;one&gt; &amp; neuron</title>" in page
    True
    """
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str, not {type(title).__name__}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be 'layer' or 'node', not {granularity!r}")
    data = explainer_view(model, x, target, loss, renderer)
    return _page(data, title if title else f"Backprop through {model!r}, seen three ways", granularity)


def _page(data: dict[str, Any], title: str, granularity: str = "layer") -> str:
    """The standalone page around :func:`explainer_view`'s ``data`` (made once: a widget reuses it)."""
    heading = html.escape(fmt.printable(title))
    payload = fmt.script_json(json.dumps(data, separators=(",", ":"), allow_nan=False))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{heading}</title>
<style>body {{ margin: 0; }}</style>
<style>{_asset("explainer.css")}</style>
</head>
<body>
<div id="explainer" data-title="{heading}" data-granularity="{granularity}"></div>
<script type="application/json" id="explainer-data">{payload}</script>
<script>{_svg_pan_zoom()}</script>
<script>{_asset("explainer.js")}</script>
<script>
// the standalone page: keys work anywhere in it, the graph fills the window; `explainer` is the
// handle (for the console)
var explainer = autodiffExplainer.mount(document.getElementById('explainer'),
  JSON.parse(document.getElementById('explainer-data').textContent),
  {{keys: 'document', fitWindow: true, title: document.getElementById('explainer').dataset.title,
    granularity: document.getElementById('explainer').dataset.granularity}});
</script>
</body>
</html>
"""
