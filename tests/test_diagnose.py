"""autodiff.diagnose and autodiff.nan_origin: each verdict and each factor checked against hand-derived numbers."""

from __future__ import annotations

import math
import re

import pytest

import autodiff
import nn
from autodiff import Value
from autodiff.diagnose import (
    compact_names,
    diagnose,
    local_formula,
    nan_origin,
    record_origins,
)
from autodiff.ops import NAMESPACE, RULES


def labelled(v: Value, label: str) -> Value:
    v.label = label
    return v


def saturated_chain(w0: float = 4.0):
    """h = tanh(2 w): its slope 1 - tanh(2 w)^2, so dh/dw = 2 (1 - tanh(2 w)^2)."""
    w = Value(w0, label="w")
    z = labelled(w * 2.0, "z")
    h = labelled(z.tanh(), "h")
    return w, z, h


# -- vanishing, exploding ---------------------------------------------------------------------------------
def test_a_saturated_tanh_makes_the_gradient_vanish_and_is_named_with_its_value():
    w, z, h = saturated_chain(4.0)
    slope = 1 - math.tanh(8.0) ** 2  # by hand: 4.5e-7
    report = diagnose(h)
    vanishing = report.of_kind("vanishing")
    assert len(vanishing) == 1
    f = vanishing[0]
    assert f.names == ("w",)
    assert f.factor.child is h and f.factor.parent is z
    assert math.isclose(f.factor.local, slope, rel_tol=1e-12)
    assert f.factor.everywhere and f.factor.formula == "1 - h * h"
    assert math.isclose(f.value, 2 * slope, rel_tol=1e-12)
    assert f"dh/dz = 1 - h * h = {autodiff.fmt.number(slope)} on every path into w" in f.message
    saturated = report.of_kind("saturated")
    assert [s.names for s in saturated] == [("h",)]
    assert math.isclose(saturated[0].value, slope, rel_tol=1e-12)


def test_thresholds_are_settable_and_checked():
    w, z, h = saturated_chain(4.0)  # |dh/dw| = 9.0e-7
    assert diagnose(h, vanish=1e-7).of_kind("vanishing") == []
    assert diagnose(h, saturate=1e-7).of_kind("saturated") == []
    assert len(diagnose(h, vanish=1e-6).of_kind("vanishing")) == 1
    for bad, word in [(dict(vanish=0), "vanish"), (dict(explode=float("inf")), "explode"),
                      (dict(saturate="0.1"), "saturate"), (dict(vanish=True), "vanish"),
                      (dict(vanish=10.0, explode=5.0), "smaller than explode")]:
        with pytest.raises(ValueError, match=word):
            diagnose(h, **bad)
    with pytest.raises(TypeError, match="needs a Value"):
        diagnose([h])
    with pytest.raises(TypeError, match="item #1"):
        diagnose(h, wrt=[w, 3.0])


def test_the_factor_on_every_path_is_preferred_and_paths_are_counted():
    # w -> z -> h feeds loss = 3 h + h * h: three paths into w, all through dh/dz (saturated)
    w = Value(3.0, label="w")
    z = labelled(w * 1.5, "z")
    h = labelled(z.tanh(), "h")
    loss = labelled(h * 3.0 + h * h, "loss")
    slope = 1 - math.tanh(4.5) ** 2
    grad = (3 + 2 * math.tanh(4.5)) * slope * 1.5
    (f,) = diagnose(loss, wrt=[w], vanish=1e-2).of_kind("vanishing")
    assert math.isclose(f.value, grad, rel_tol=1e-12)
    assert (f.factor.child, f.factor.parent) == (h, z)
    assert (f.factor.paths, f.factor.of) == (3, 3)


def test_with_no_small_factor_on_every_path_the_narrowest_factor_of_the_widest_path_is_blamed():
    # loss = (w * 1e-4) * 2e-3 + (w * 3e-3) * 5e-4: two paths, no common edge. Their smallest factors
    # are 1e-4 and 5e-4: every path crosses a factor of 5e-4 or smaller, d(b * 0.0005)/db on the second
    w = Value(1.0, label="w")
    a = labelled(w * 1e-4, "a")
    b = labelled(w * 3e-3, "b")
    loss = labelled(a * 2e-3 + b * 5e-4, "loss")
    (f,) = diagnose(loss, wrt=[w]).of_kind("vanishing")
    assert f.value == pytest.approx(1e-4 * 2e-3 + 3e-3 * 5e-4)
    assert f.factor.parent is b and f.factor.local == 5e-4
    assert (f.factor.paths, f.factor.of) == (1, 2) and not f.factor.everywhere
    assert "every path into w crosses a factor this small or smaller (this one on 1 of the 2 paths" in f.message


def test_a_zero_on_every_path_but_on_no_single_edge_is_found():
    # two relus, both closed, on the only two paths from w: no edge is common, each path has a 0
    w = Value(1.0, label="w")
    z1, z2 = labelled(w * -2.0, "z1"), labelled(w * -3.0, "z2")
    loss = labelled(z1.relu() + z2.relu() + w * 0.0, "loss")  # a third path, through a 0 constant
    (f,) = diagnose(loss, wrt=[w]).of_kind("vanishing")
    assert f.value == 0.0 and f.factor.local == 0.0 and not f.factor.everywhere
    assert f.factor.of == 3


@pytest.mark.parametrize("seed", range(20))
def test_the_blamed_factor_bounds_every_path_on_random_graphs(seed):
    """Against every path listed by trace: the vanishing factor is the largest of the paths' smallest
    factors; the exploding one is the largest factor of the path with the largest product."""
    import random

    from autodiff.diagnose import blame

    rng = random.Random(seed)
    w = Value(rng.uniform(0.5, 1.5), label="w")
    nodes = [w, Value(rng.uniform(-2, 2), label="c")]
    nodes.append(labelled(w * nodes[1], "wc"))
    for n in range(12):
        a, b = rng.choice(nodes[-4:]), rng.choice(nodes)
        op = rng.choice(["*", "+", "tanh", "k"])
        made = a * b if op == "*" else a + b if op == "+" else (a * 3.0).tanh() if op == "tanh" else a * rng.uniform(-4, 4)
        nodes.append(labelled(made, f"n{n}"))
    root = Value.sum(nodes[2:])
    paths = list(autodiff.trace(root, w).paths)
    small = blame(root, w, "vanishing")
    assert max(min(abs(x) for x in p.locals) for p in paths) == abs(small.local)
    assert small.of == len(paths)
    assert small.paths == sum(any(e == (small.parent, small.child, small.k) for e in p.edges) for p in paths)
    big = blame(root, w, "exploding")
    top = max(abs(p.product) for p in paths)
    carrying = [p for p in paths if abs(p.product) >= top * (1 - 1e-9)]  # ties, and logs' rounding
    assert any(abs(big.local) == max(abs(x) for x in p.locals) for p in carrying) or top == 0


def test_paths_that_cancel_are_said_to_cancel():
    w, c = Value(2.0, label="w"), Value(5.0, label="c")
    loss = labelled(w * c - c * w, "loss")
    (f,) = diagnose(loss, wrt=[w]).of_kind("vanishing")
    assert f.value == 0.0 and "cancel" in f.message and "their sum 0" in f.message


def test_an_exploding_gradient_names_its_largest_factor():
    # y = w * 12 * 30 * 7, labelled; d y / d w = 2520 > 1000
    w = Value(0.1, label="w")
    a = labelled(w * 12.0, "a")
    b = labelled(a * 30.0, "b")
    y = labelled(b * 7.0, "y")
    (f,) = diagnose(y, wrt=[w]).of_kind("exploding")
    assert math.isclose(f.value, 2520.0)
    assert f.factor.child is b and f.factor.local == 30.0
    assert "db/da = 30" in f.message
    assert diagnose(y, wrt=[w], explode=3000.0).of_kind("exploding") == []


def test_a_dead_relu_is_reported_and_blamed_for_the_zero_gradient():
    w = Value(-2.0, label="w")
    z = labelled(w * 3.0, "z")
    h = labelled(z.relu(), "h")
    report = diagnose(h, wrt=[w])
    (dead,) = report.of_kind("dead")
    assert dead.value == -6.0 and dead.names == ("h",)
    (f,) = report.of_kind("vanishing")
    assert f.value == 0.0 and f.factor.child is h and f.factor.local == 0.0
    assert "dh/dz = 1 if z > 0 else 0 = 0 on every path into w" in f.message


def test_the_demo_network_saturated_by_hand_groups_each_unit_s_parameters():
    model = nn.MLP(2, [3, 2], seed=0)
    for row in model.layers[0].weights:
        row[2].data = 6.0  # z1[2] = 6 * (0.5 - 1.0) = -3 ... made larger by the bias
    model.layers[0].biases[2].data = -8.0
    x = [0.5, -1.0]
    loss = nn.mse_loss(model(x), [1.0, 0.0])
    ref = nn.reference.from_model(model, x, [1.0, 0.0])
    z12 = ref.pre_activations[0][2]  # -11, by the matrix rules
    assert z12 == pytest.approx(6 * 0.5 - 6 * 1.0 - 8.0)
    report = diagnose(loss, wrt=model.parameters())
    (f,) = [f for f in report.of_kind("vanishing") if "b1[2]" in f.names]
    assert f.names == ("W1[*][2]", "b1[2]")
    assert f.factor.child.label == "h1[2]" and f.factor.parent.label == "z1[2]"
    assert math.isclose(f.factor.local, 1 - math.tanh(z12) ** 2, rel_tol=1e-9)
    assert f.factor.everywhere and f.factor.of == 2  # one path through each output
    # the ids are positions in topological_order, for a view to mark
    order = autodiff.topological_order(loss)
    assert order[f.factor.child_id] is f.factor.child and order[f.factor.parent_id] is f.factor.parent
    assert {order[i].label for i in f.nodes} >= {"W1[0][2]", "W1[1][2]", "b1[2]", "h1[2]", "z1[2]"}
    assert [order[i].label for i in report.of_kind("saturated")[0].nodes] == ["h1[2]", "z1[2]"]
    assert report.marks()[f.factor.child_id] == ["vanishing", "saturated"]


def test_diagnose_leaves_every_grad_alone_and_anomaly_mode_does_not_make_it_raise():
    w, z, h = saturated_chain(4.0)
    w.grad = 7.0
    with autodiff.detect_anomaly():
        report = diagnose(h)
    assert w.grad == 7.0 and z.grad == 0.0 and h.grad == 0.0
    assert report.of_kind("vanishing")[0].value == pytest.approx(2 * (1 - math.tanh(8.0) ** 2))


def test_a_healthy_graph_has_nothing_to_report_and_says_so():
    net_loss = nn.mse_loss(nn.MLP(2, [3, 2], seed=0)([0.5, -1.0]), [1.0, 0.0])
    report = diagnose(net_loss)
    assert report.ok and str(report).endswith("nothing found")


def test_labels_reach_the_text_escaped():
    w = Value(4.0, label="w\x1b[2J")
    h = labelled((w * 2.0).tanh(), "h\n")
    text = str(diagnose(h))
    assert "\x1b" not in text and "\\x1b[2J" in text and "h\\n" in text


def test_a_parameter_outside_the_graph_has_no_path():
    w, z, h = saturated_chain(0.1)
    other = Value(1.0, label="other")
    (f,) = diagnose(h, wrt=[other]).of_kind("vanishing")
    assert f.value == 0.0 and "not in the graph" in f.message and f.factor is None


def test_data_is_plain():
    import json

    w, z, h = saturated_chain(4.0)
    data = json.loads(json.dumps(diagnose(h).data()))
    assert data["thresholds"] == {"vanish": 1e-5, "explode": 1e3, "saturate": 1e-2}
    kinds = [f["kind"] for f in data["findings"]]
    assert kinds == ["vanishing", "saturated"]
    order = autodiff.topological_order(h)
    ids = {id(v): i for i, v in enumerate(order)}
    assert data["findings"][0]["factor"]["edge"] == [ids[id(z)], ids[id(h)], 0]
    assert data["findings"][0]["nodes"] == [ids[id(w)], ids[id(h)], ids[id(z)]]


# -- the formula of a factor -----------------------------------------------------------------------------
def one_node_per_rule():
    a, b = Value(0.7, label="a"), Value(1.3, label="b")
    made = {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "neg": -a, "**": a ** 3.0, "pow": a ** b,
            "exp": a.exp(), "log": a.log(), "tanh": a.tanh(), "sigmoid": a.sigmoid(), "relu": a.relu(),
            "sum": Value.sum([a, b, a])}
    assert set(made) == set(RULES), "a new rule needs a row here"
    return made


@pytest.mark.parametrize("op", sorted(RULES))
def test_each_formula_evaluates_to_the_stored_local_derivative(op):
    node = labelled(one_node_per_rule()[op], "out")
    values = {"a": 0.7, "b": 1.3, "out": node.data}
    for k, local in enumerate(node.locals):
        text = local_formula(node, k)
        assert eval(text, dict(NAMESPACE), values) == pytest.approx(local, rel=1e-12), text


def test_formulas_read_as_written():
    a, b = Value(0.7, label="a"), Value(1.3, label="b")
    assert local_formula(labelled(a.tanh(), "h"), 0) == "1 - h * h"
    assert local_formula(a * b, 1) == "a"
    assert local_formula(labelled((a * b).sigmoid(), "s"), 0) == "s * (1 - s)"
    # a label holding "1.0" is never rewritten: only the rule's own numbers are
    assert local_formula(Value(2.0, label="w1.0") * b, 1) == "w1.0"
    with pytest.raises(ValueError, match="made by an op"):
        local_formula(a, 0)
    with pytest.raises(IndexError, match="operand #2"):
        local_formula(a * b, 2)


def test_compact_names_stars_only_whole_rows_and_columns():
    assert compact_names(["W1[0][2]", "W1[1][2]", "b1[2]"]) == ["W1[*][2]", "b1[2]"]
    universe = ["W1[0][2]", "W1[1][2]", "W1[2][2]"]
    assert compact_names(["W1[0][2]", "W1[1][2]"], universe) == ["W1[0][2]", "W1[1][2]"]
    assert compact_names(["W2[0][0]", "W2[0][1]", "x"]) == ["W2[0][*]", "x"]
    assert compact_names(["a[1]", "a[2]", "a[1]"]) == ["a[*]"]


# -- NaN and infinity: where they come from ----------------------------------------------------------------
def here() -> int:
    """The line that calls this, read from the test's own frame (an oracle the engine never sees)."""
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_the_first_non_finite_value_in_forward_order_is_reported_with_its_line():
    with record_origins():
        x = Value(1000.0, label="x")
        e = labelled(x.exp(), "e"); line = here()  # noqa: E702 (the line itself is the oracle)
        d = labelled(e - e, "d")  # inf - inf: nan, but not the first non-finite value
        loss = labelled(d * 2.0, "loss")
    assert math.isinf(e.data) and math.isnan(d.data)
    origin = nan_origin(loss).forward
    assert origin.node is e and origin.op == "exp" and origin.operands == (("x", 1000.0),)
    assert origin.created_at == f"{__file__}:{line}"
    assert origin.path == ("e", "d", "loss")
    assert autodiff.topological_order(loss)[origin.node_id] is e
    assert f"created at {__file__}:{line}" in origin.message and "e -> d -> loss" in origin.message


def test_a_nan_leaf_made_under_anomaly_mode_is_found_with_its_line():
    with autodiff.detect_anomaly():
        x = Value(float("nan"), label="x"); line = here()  # noqa: E702
        w = Value(2.0, label="w")
    loss = labelled(x * w, "loss")
    origin = nan_origin(loss).forward
    assert origin.node is x and origin.op == "" and origin.created_at == f"{__file__}:{line}"
    assert "is a leaf" in origin.message


def test_without_a_recorded_line_the_report_says_how_to_get_one():
    loss = labelled(Value(1e308, label="a") * 10.0, "loss")
    origin = nan_origin(loss).forward
    assert origin.node is loss and origin.created_at is None
    assert "record_origins" in origin.message


def test_a_gradient_made_infinite_by_a_local_derivative():
    with record_origins():
        x = Value(0.0, label="x")
        r = labelled(x ** 0.5, "r"); line = here()  # noqa: E702  d r/dx = 0.5 / sqrt(0) = inf
        loss = labelled(r * 3.0, "loss")
    report = nan_origin(loss)
    assert report.forward is None
    o = report.backward
    order = autodiff.topological_order(loss)
    assert o.node is r and o.local == math.inf and o.grad == 3.0 and o.value == math.inf
    assert o.edge == (order.index(x), order.index(r), 0)
    assert o.created_at == f"{__file__}:{line}"
    assert "its local derivative dr/dx = dpower(x, 0.5) = inf, times r's gradient 3" in o.message


def test_a_gradient_that_overflows_in_a_product():
    w = Value(1e-300, label="w")
    y = labelled(w * 1e300, "y")  # y = 1, but dy/dw = 1e300
    loss = labelled(y * 1e10, "loss")  # dloss/dy = 1e10: 1e300 * 1e10 overflows
    assert math.isfinite(loss.data)
    o = nan_origin(loss).backward
    assert o.node is y and o.local == 1e300 and o.grad == 1e10 and o.value == math.inf
    assert "local 1e+300 * grad 1e+10 = inf overflowed" in o.message


def test_a_gradient_that_overflows_when_added_up():
    a = Value(1e-300, label="a")
    b = labelled(a * 1.7e308, "b")
    c = labelled(a * 1.7e308, "c")
    loss = labelled(b + c, "loss")  # each path sends 1.7e308 to a: finite; their sum is not
    o = nan_origin(loss).backward
    assert o.value == math.inf and o.local == 1.7e308 and o.grad == 1.0
    assert "adding 1.7e+308 to the 1.7e+308 a already held overflowed to inf" in o.message


def test_nan_origin_leaves_grads_alone_and_does_not_raise_under_anomaly_mode():
    x = Value(0.0, label="x")
    loss = labelled((x ** 0.5) * 3.0, "loss")
    x.grad = 5.0
    with autodiff.detect_anomaly():
        report = nan_origin(loss)
    assert report.found and x.grad == 5.0 and loss.grad == 0.0


def test_a_finite_graph_has_no_origin():
    _, _, h = saturated_chain(0.3)
    report = nan_origin(h)
    assert not report.found and report.forward is None and report.backward is None
    assert str(report) == "every value and every gradient is finite"


def test_diagnose_reports_the_origins_first_and_marks_them():
    with record_origins():
        x = Value(1000.0, label="x")
        e = labelled(x.exp(), "e")
        loss = labelled((e - e) * 2.0, "loss")
    report = diagnose(loss)
    kinds = [f.kind for f in report.findings]
    assert kinds[:2] == ["non-finite", "non-finite gradient"]
    # the first gradient that matters: e's is 2 - 2 = 0, and x's is 0 * d(exp x)/dx = 0 * inf = nan
    backward = report.nan.backward
    assert backward.node is e and backward.local == math.inf and backward.grad == 0.0
    assert math.isnan(backward.value)
    order = autodiff.topological_order(loss)
    assert "non-finite" in report.marks()[order.index(e)]


def test_record_origins_puts_the_previous_profiler_back():
    import sys

    seen = []

    def mine(frame, event, arg):
        seen.append(event)

    sys.setprofile(mine)
    try:
        with pytest.raises(ZeroDivisionError):
            with record_origins():
                Value(1.0) / 0.0
        assert sys.getprofile() is mine and seen  # kept running inside, and restored after an error
    finally:
        sys.setprofile(None)


# -- nn.diagnose: networks built to fail ------------------------------------------------------------------
def batch_of(n: int = 8, seed: int = 1):
    import random

    rng = random.Random(seed)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(n)]
    Y = [[rng.uniform(-1, 1)] for _ in range(n)]
    return X, Y


def scaled(model, factor: float):
    for layer in model.layers:
        for row in layer.weights:
            for w in row:
                w.data *= factor
    return model


def reference_norms(model, X, Y, loss="mse"):
    """Each layer's gradient norm of the mean loss, by the matrix rules on plain floats."""
    n = len(X)
    norms = []
    results = [nn.reference.from_model(model, x, y, loss=loss) for x, y in zip(X, Y)]
    for k in range(len(model.layers)):
        total = 0.0
        rows = len(results[0].weight_grads[k])
        cols = len(results[0].bias_grads[k])
        for i in range(rows):
            for j in range(cols):
                total += (sum(r.weight_grads[k][i][j] for r in results) / n) ** 2
        for j in range(cols):
            total += (sum(r.bias_grads[k][j] for r in results) / n) ** 2
        norms.append(math.sqrt(total))
    return norms, results


def unit_of(label: str) -> tuple[int, int]:
    """``h5[2]`` -> (5, 2)."""
    import re

    match = re.fullmatch(r"[hz](\d+)\[(\d+)\]", label)
    assert match, label
    return int(match[1]), int(match[2])


def test_a_deep_tanh_network_with_large_weights_vanishes_through_its_saturated_units():
    X, Y = batch_of()
    model = scaled(nn.MLP(2, [4] * 6 + [1], seed=0), 40.0)
    report = nn.diagnose(model, X, Y)
    norms, results = reference_norms(model, X, Y)
    for stats, norm in zip(report.layers, norms):
        assert stats.grad_norm == pytest.approx(norm, rel=1e-9, abs=1e-300)
    # saturated fractions and mean slopes, from the matrix rules' activations
    for k, stats in enumerate(report.layers[:-1]):
        slopes = [1 - a * a for r in results for a in r.activations[k]]
        assert stats.saturated_fraction == sum(s < 0.01 for s in slopes) / len(slopes)
        assert stats.mean_slope == pytest.approx(sum(slopes) / len(slopes), rel=1e-9)
    assert report.samples == 8
    assert report.loss == pytest.approx(sum(r.loss for r in results) / 8, rel=1e-12)
    vanishing = {f.layer: f for f in report.of_kind("vanishing")}
    assert 1 in vanishing and report.layers[0].grad_norm < 1e-5
    first = vanishing[1]
    # the factor: a tanh slope, 1 - h^2 with h read from the matrix rules on the same sample
    layer, j = unit_of(first.factor.child.label)
    assert first.factor.formula == f"1 - h{layer}[{j}] * h{layer}[{j}]"
    a = results[first.sample].activations[layer - 1][j]
    assert first.factor.local == pytest.approx(1 - a * a, rel=1e-6) and first.factor.local < 0.01
    # and the claim: every path into the unit's bias crosses a factor that small or smaller
    loss = nn.mse_loss(model(X[first.sample]), Y[first.sample])
    bias = model.layers[0].biases[first.units[0]]
    smallest = [min(abs(x) for x in path.locals) for path in autodiff.trace(loss, bias).paths]
    assert max(smallest) == pytest.approx(abs(first.factor.local), rel=1e-12)
    assert "saturated" in first.message and "layer 3 100%" in first.message
    assert {f.layer for f in report.of_kind("saturated")} >= {3, 4, 5, 6}


def test_a_deep_linear_network_with_large_weights_explodes_and_a_weight_is_named():
    X, Y = batch_of()
    model = scaled(nn.MLP(2, [6] * 4 + [1], activation="linear", seed=0), 6.0)
    report = nn.diagnose(model, X, Y)
    norms, _ = reference_norms(model, X, Y)
    assert [s.grad_norm for s in report.layers] == pytest.approx(norms, rel=1e-9)
    exploding = {f.layer: f for f in report.of_kind("exploding")}
    assert 1 in exploding and norms[0] > 1000
    factor = exploding[1].factor
    # a weight of a later layer: d(W * h)/dh = W, above 1 in magnitude
    assert factor.formula.startswith("W") and factor.local == model.parameter(factor.formula).data
    assert abs(factor.local) > 1 and int(factor.formula[1]) > 1
    assert report.of_kind("vanishing") == [] and report.of_kind("dead") == []


def test_relus_with_a_large_negative_bias_die_and_take_the_gradient_with_them():
    X, Y = batch_of()
    model = nn.MLP(2, [4, 4, 1], activation="relu", seed=0)
    for b in model.layers[1].biases:
        b.data = -20.0
    report = nn.diagnose(model, X, Y)
    _, results = reference_norms(model, X, Y)
    # by the matrix rules, every z2[j] is <= 0 on every sample
    assert all(z <= 0 for r in results for z in r.pre_activations[1])
    assert report.layers[1].dead == (0, 1, 2, 3) and report.layers[1].dead_fraction == 1.0
    dead = report.of_kind("dead")
    assert [(f.layer, f.units) for f in dead] == [(2, (j,)) for j in range(4)]
    for f in dead:
        j = f.units[0]
        assert f.value == max(r.pre_activations[1][j] for r in results)
        assert f"bias b2[{j}] = -20" in f.message and f.factor.local == 0.0
    vanishing = {f.layer: f for f in report.of_kind("vanishing")}
    assert set(vanishing) == {1, 2}
    assert report.layers[0].grad_norm == 0.0 and report.layers[1].grad_norm == 0.0
    for f in vanishing.values():
        assert f.factor.local == 0.0 and re.fullmatch(r"1 if z2\[\d\] > 0 else 0", f.factor.formula)


def test_one_dead_unit_is_that_unit_only():
    X, Y = batch_of()
    model = nn.MLP(2, [4, 4, 1], activation="relu", seed=0)
    model.layers[0].biases[2].data = -20.0
    report = nn.diagnose(model, X, Y)
    assert report.layers[0].dead == (2,) and report.layers[0].dead_fraction == 0.25
    assert [(f.kind, f.layer, f.units) for f in report.findings] == [("dead", 1, (2,))]
    assert "W1[*][2], b1[2] get no gradient" in report.findings[0].message


def test_nn_diagnose_changes_nothing_and_a_healthy_network_is_fine():
    X, Y = batch_of()
    model = nn.MLP(2, [4, 1], seed=0)
    model.layers[0].biases[0].grad = 3.0
    before = [(p.data, p.grad) for p in model.parameters()]
    report = nn.diagnose(model, X, Y, loss="sse")
    assert [(p.data, p.grad) for p in model.parameters()] == before
    assert report.ok and "nothing found" in str(report)
    norms, _ = reference_norms(model, X, Y, loss="sse")
    assert [s.grad_norm for s in report.layers] == pytest.approx(norms, rel=1e-9)
    table = report.table().splitlines()
    assert table[0].split() == ["layer", "activation", "units", "|grad|", "dead", "saturated", "mean", "slope"]
    assert table[1].split()[:3] == ["1", "tanh", "4"]


def test_a_custom_loss_is_a_function():
    X, Y = batch_of(4)
    model = nn.MLP(2, [3, 1], seed=0)
    report = nn.diagnose(model, X, Y, loss=lambda ys, ts: ((ys[0] - ts[0]) ** 2) * 0.5)
    norms, _ = reference_norms(model, X, Y, loss="sse")
    assert [s.grad_norm for s in report.layers] == pytest.approx(norms, rel=1e-9)


def test_a_non_finite_value_is_traced_to_its_layer():
    X, Y = batch_of(3)
    model = nn.MLP(2, [3, 1], seed=0)
    model.layers[0].weights[0][1].data = 1e308
    X[1] = [10.0, 0.5]
    report = nn.diagnose(model, X, Y)
    (f,) = report.of_kind("non-finite")
    assert f.layer == 1 and f.sample == 1 and f.value == math.inf
    assert "W1[0][1] * x[0]" in f.message


@pytest.mark.parametrize("call, error, words", [
    (lambda m: nn.diagnose(m, [[0.0, 1.0]], [[1.0], [2.0]]), ValueError, "as many targets as inputs"),
    (lambda m: nn.diagnose(m, [[0.0, 1.0, 2.0]], [[1.0]]), ValueError, "sample #0: the model takes 2 inputs"),
    (lambda m: nn.diagnose(m, [[0.0, "a"]], [[1.0]]), TypeError, "sample #0: each input must be a number"),
    (lambda m: nn.diagnose(m, [[0.0, 1.0]], [[1.0]], loss="l1"), ValueError, "unknown loss 'l1'"),
    (lambda m: nn.diagnose(m, [[0.0, 1.0]], [[1.0]], vanish=-1), ValueError, "vanish"),
    (lambda m: nn.diagnose(m.layers[0], [[0.0, 1.0]], [[1.0]]), TypeError, "needs an nn.MLP"),
    (lambda m: nn.diagnose(m, [], []), ValueError, "at least one"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error, match=words):
        call(nn.MLP(2, [3, 1], seed=0))


def test_the_demo_s_diagnosis_text():
    from nn.demo import build
    from nn.diagnose import demo_diagnosis_text

    assert "nothing found" in demo_diagnosis_text(build(seed=0))
    net = build(seed=3, activation="relu")
    text = demo_diagnosis_text(net)
    ref = nn.reference.from_model(net.model, net.x, net.target)
    closed = [j for j, z in enumerate(ref.pre_activations[0]) if z <= 0]
    assert closed  # this seed closes some hidden relus on the demo's input
    for j in closed:
        assert f"h1[{j}] = relu(z1[{j}]) is dead" in text
    row = next(line for line in text.splitlines() if line.startswith("1 "))
    assert row.split()[4] == f"{len(closed)}/3"


# -- training history --------------------------------------------------------------------------------------
def moons_batch(n: int = 20):
    X, labels = nn.moons(n, seed=0)
    return X, [[y] for y in labels]


def test_a_recorded_step_matches_the_matrix_rules():
    from nn.diagnose import History

    X, Y = moons_batch()
    model = nn.MLP(2, [8, 8, 1], activation="relu", seed=0)
    for b in model.layers[1].biases[:3]:
        b.data = -30.0  # three units of layer 2 closed on every sample
    losses = [nn.mse_loss(model(x), y) for x, y in zip(X, Y)]
    total = Value.sum(losses) * (1.0 / len(losses))
    total.backward()
    step = History().record(model, X, total.data)
    norms, results = reference_norms(model, X, Y)
    assert step.grad_norms == pytest.approx(norms, rel=1e-9)
    assert step.loss == pytest.approx(sum(r.loss for r in results) / len(results), rel=1e-12)
    for k in range(2):
        closed = [all(r.pre_activations[k][j] <= 0 for r in results) for j in range(8)]
        assert step.dead[k] == sum(closed) / 8
    assert step.dead[1] >= 3 / 8 and step.dead[2] == 0.0  # the output layer is linear
    assert step.saturated == (0.0, 0.0, 0.0)


def test_saturated_fractions_are_counted_per_unit_and_sample():
    from nn.diagnose import History

    X, Y = moons_batch(10)
    model = scaled(nn.MLP(2, [5, 1], activation="sigmoid", seed=2), 12.0)
    step = History().record(model, X, 0.0)
    ref = [nn.reference.from_model(model, x, y) for x, y in zip(X, Y)]
    slopes = [a * (1 - a) for r in ref for a in r.activations[0]]
    assert step.saturated[0] == sum(s < 0.01 for s in slopes) / len(slopes) > 0
    assert step.grad_norms == (0.0, 0.0)  # no backward yet: every .grad is 0


def test_eager_and_compiled_training_record_the_same_history():
    from nn.diagnose import train

    X, Y = moons_batch()
    eager = train(nn.MLP(2, [8, 1], seed=0), X, Y, steps=8, lr=0.2)
    compiled = train(nn.MLP(2, [8, 1], seed=0), X, Y, steps=8, lr=0.2, compiled=True)
    assert compiled.series("loss") == pytest.approx(eager.series("loss"), rel=1e-9)
    for layer in (1, 2):
        assert compiled.series("grad_norm", layer) == pytest.approx(eager.series("grad_norm", layer), rel=1e-9)
        assert compiled.series("saturated", layer) == eager.series("saturated", layer)
    # the first record is the untrained model, by the matrix rules
    norms, _ = reference_norms(nn.MLP(2, [8, 1], seed=0), X, Y)
    assert [eager.steps[0].grad_norms[k] for k in range(2)] == pytest.approx(norms, rel=1e-9)
    assert eager.series("loss")[-1] < eager.series("loss")[0]


def test_a_learning_rate_too_large_kills_relus_and_the_history_shows_it():
    from nn.diagnose import train

    X, Y = moons_batch()
    model = nn.MLP(2, [8, 8, 1], activation="relu", seed=0)
    history = train(model, X, Y, steps=15, lr=1.0)
    dead = history.series("dead", 2)
    assert dead[0] < 0.5 and dead[-1] == 1.0  # every unit of layer 2 closed on every sample
    after = history.steps.index(next(s for s in history.steps if s.dead[1] == 1.0))
    # from then on nothing reaches layers 1 and 2: the picture of "my loss stopped falling"
    for layer in (1, 2):
        assert all(g == 0.0 for g in history.series("grad_norm", layer)[after:])
    assert all(g > 0.0 for g in history.series("grad_norm", 1)[:after - 1])


def test_the_hand_made_svg_draws_every_series():
    import xml.etree.ElementTree as ET

    from nn.diagnose import train

    X, Y = moons_batch(6)
    history = train(nn.MLP(2, [4, 4, 1], seed=0), X, Y, steps=5, lr=0.1)
    svg = history.svg(title="<my> run & \x1b[2J")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 1 + 2 * 3  # the loss, then each layer's norm and fraction
    assert all(len(line.get("points").split()) == 5 for line in lines)
    assert [line.find(f"{ns}title").text for line in lines] == ["loss"] + [f"layer {k}" for k in (1, 2, 3)] * 2
    title = root.find(f"{ns}text").text
    assert title == "<my> run & \\x1b[2J"  # escaped for XML, control characters shown, not sent
    # a falling loss is drawn falling: SVG y grows downwards
    ys = [float(p.split(",")[1]) for p in lines[0].get("points").split()]
    assert ys[-1] > ys[0]


def test_plot_uses_matplotlib_or_writes_the_svg(tmp_path, monkeypatch):
    import sys

    from nn.diagnose import History, train

    X, Y = moons_batch(6)
    history = train(nn.MLP(2, [4, 1], seed=0), X, Y, steps=4, lr=0.1)
    figure = history.plot(str(tmp_path / "h.png"))
    assert len(figure.axes) == 3 and (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    text = history.plot(str(tmp_path / "h.svg"))
    assert text.startswith("<svg") and (tmp_path / "h.svg").read_text(encoding="utf-8") == text
    with pytest.raises(ValueError, match="only SVG"):
        history.plot(str(tmp_path / "h.png"))
    with pytest.raises(ValueError, match="no steps"):
        History().plot()


def test_history_refuses_what_it_cannot_record():
    from nn.diagnose import History, train

    X, Y = moons_batch(4)
    with pytest.raises(ValueError, match="steps must be"):
        train(nn.MLP(2, [3, 1], seed=0), X, Y, steps=0)
    history = train(nn.MLP(2, [3, 1], seed=0), X, Y, steps=1)
    with pytest.raises(ValueError, match="records 2 layers"):
        history.record(nn.MLP(2, [3, 3, 1], seed=0), X, 0.0)
    with pytest.raises(TypeError, match="needs an nn.MLP"):
        History().record("model", X, 0.0)
    with pytest.raises(ValueError, match="unknown series"):
        history.series("accuracy")
    with pytest.raises(ValueError, match="needs a layer from 1 to 2"):
        history.series("dead", 3)
    with pytest.raises(ValueError, match="saturate"):
        History(saturate=0)
