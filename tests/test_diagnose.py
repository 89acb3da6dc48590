"""autodiff.diagnose and autodiff.nan_origin: each verdict and each factor checked against hand-derived numbers."""

from __future__ import annotations

import math

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


def test_with_no_small_factor_on_every_path_the_path_carrying_the_most_is_read():
    # loss = (w * 1e-4) * 2e-3 + (w * 3e-3) * 1e-4: two paths, no common edge; products 2e-7 and 3e-7
    w = Value(1.0, label="w")
    a = labelled(w * 1e-4, "a")
    b = labelled(w * 3e-3, "b")
    loss = labelled(a * 2e-3 + b * 1e-4, "loss")
    (f,) = diagnose(loss, wrt=[w]).of_kind("vanishing")
    # the larger path is w -> b -> loss (3e-3 * 1e-4); its smallest factor is d(b * 1e-4)/db = 1e-4
    assert f.factor.parent is b and f.factor.local == 1e-4
    assert (f.factor.paths, f.factor.of) == (1, 2) and not f.factor.everywhere
    assert "1 of the 2 paths" in f.message and "product 3e-07" in f.message


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
    assert "its local derivative dr/dx = dpower(x, 0.5) = inf" in o.message


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
