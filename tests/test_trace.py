"""trace(): paths, products and totals against backward, on the 2-3-2 network and deep graphs."""

from __future__ import annotations

import math

import pytest

import autodiff
import nn
from autodiff import Value

WEIGHTS = [f"W1[{i}][{j}]" for i in range(2) for j in range(3)] + [f"W2[{j}][{k}]" for j in range(3) for k in range(2)]


def fresh(seed: int, activation: str = "tanh"):
    model = nn.MLP(2, [3, 2], activation=activation, seed=seed)
    loss = nn.mse_loss(model([0.8, -0.4]), [0.25, -0.5])
    loss.backward()
    return model, loss


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", WEIGHTS)
def test_all_twelve_weight_entries(seed, name):
    model, loss = fresh(seed)
    w = model.parameter(name)
    t = autodiff.trace(loss, w)
    assert t.total == w.grad  # the same sums in the same order as backward
    paths = list(t.paths)
    assert len(paths) == len(t.paths) == t.count
    assert math.isclose(sum(p.product for p in paths), t.total, rel_tol=1e-12, abs_tol=1e-15)
    for p in paths:
        assert p.nodes[0] is w and p.nodes[-1] is loss
        assert len(p.locals) == len(p.nodes) - 1
        assert math.isclose(math.prod(p.locals), p.product, rel_tol=1e-15)
        for (parent, child, k), local in zip(p.edges, p.locals):
            assert child.parents[k] is parent and child.locals[k] == local
    if name.startswith("W1"):
        j = name[6]
        assert len(paths) == 2  # one through each output y[k]
        for p in paths:
            assert f"h1[{j}]" in [v.label for v in p.nodes]
            assert {f"h1[{m}]" for m in range(3)} & {v.label for v in p.nodes} == {f"h1[{j}]"}
    else:
        k = name[-2]
        assert len(paths) == 1 and f"y[{k}]" in [v.label for v in paths[0].nodes]


def test_explain_writes_the_chain_rule_with_values():
    model, loss = fresh(0)
    text = autodiff.trace(loss, model.parameter("W1[0][2]")).explain()
    assert "dloss/dy[0] · dy[0]/dh1[2] · dh1[2]/dz1[2] · dz1[2]/dW1[0][2]" in text
    assert "dloss/dy[1] · dy[1]/dh1[2] · dh1[2]/dz1[2] · dz1[2]/dW1[0][2]" in text
    assert "sum of the 2 paths" in text and "(equal)" in text
    g = model.parameter("W1[0][2]").grad
    assert f"{g:.4g}" in text


def test_factors_multiply_to_the_product():
    model, loss = fresh(1)
    for p in autodiff.trace(loss, model.parameter("W1[1][0]")).paths:
        assert math.isclose(math.prod(v for _, v in p.factors()), p.product, rel_tol=1e-12)
        # the hidden activation's local derivative is 1 - h^2 (tanh)
        h = next(v for v in p.nodes if v.label == "h1[0]")
        assert dict(p.factors())["dh1[0]/dz1[0]"] == pytest.approx(1 - h.data**2, rel=1e-12)


def test_exponentially_many_paths_are_counted_not_listed():
    x = Value(0.5, label="x")
    v = x
    for _ in range(60):
        v = (v * v + v).tanh()  # three routes through each layer, so 3**60 paths
    t = autodiff.trace(v, x)
    assert t.count == 3**60  # more than len() can return: count is the exact number
    short = (x * x + x).tanh()
    assert len(autodiff.trace(short, x).paths) == 3
    first = next(iter(t.paths))
    assert first.nodes[0] is x and first.nodes[-1] is v
    text = t.explain(max_paths=3)
    assert text.count("\npath ") == 3 and "more paths not listed" in text
    assert t.total == autodiff.grad(v, [x])[0]


def test_repeated_operands_are_two_paths():
    a = Value(3.0, label="a")
    t = autodiff.trace(a * a, a)
    assert t.count == 2 and [p.edges[0][2] for p in t.paths] == [0, 1] and t.total == 6.0


def test_wrt_outside_the_graph_and_bad_arguments():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    with pytest.raises(ValueError, match="'b' is not in the graph"):
        autodiff.trace(a * 2, b)
    with pytest.raises(TypeError):
        autodiff.trace(a, 2.0)


def test_trace_draws_its_paths_highlighted_and_shows_in_notebooks():
    model, loss = fresh(0)
    t = autodiff.trace(loss, model.parameter("W2[1][0]"))
    source = t.draw().source
    assert source.count("#dc2626") > 5 and "#c0c4cc" in source
    assert t.svg().startswith("<?xml")
    page = t._repr_html_()
    assert "<svg" in page and "dloss/dW2[1][0]" in page and "<table>" in page


def test_html_of_a_trace_escapes_labels():
    x = Value(1.0, label="<script>x</script>")
    y = x * 2
    y.label = "y&"
    assert "<script>x" not in autodiff.trace(y, x)._repr_html_()
