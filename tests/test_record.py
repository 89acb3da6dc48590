"""The step record: JSON that round-trips every number, and refuses what is not a record."""

from __future__ import annotations

import json
import math

import pytest

import autodiff
from autodiff import StepRecord, Value


def test_nan_and_infinities_round_trip_as_numbers():
    x = Value(2.0, label="x")
    big = x * 1e308  # inf
    out = big * big
    rec = autodiff.record_steps(out)
    text = rec.to_json()
    assert "NaN" in text or "Infinity" in text
    json.loads(text)  # valid JSON: no bare NaN tokens
    back = StepRecord.from_json(text)
    assert back.steps == rec.steps and back.start == rec.start
    for a, b in zip(back.grads_after(len(back.steps)), rec.grads_after(len(rec.steps))):
        assert isinstance(a, float) and (a == b or (math.isnan(a) and math.isnan(b)))
    assert any(math.isinf(n["data"]) for n in back.nodes)


@pytest.mark.parametrize("text, says", [
    ("[]", "format"),
    ("{}", "format"),
    ("not json", "not an autodiff step record"),
    ('{"format": "autodiff-steps/2"}', "'nodes' must be a list"),
    ('{"format": "autodiff-steps/2", "nodes": [{"id": 0}], "steps": [], "start": [0]}', "lacks label"),
    ('{"format": "autodiff-steps/2", "nodes": [], "steps": [{"index": 0, "node": 5, "grad": 1, "contributions": []}],'
     ' "start": []}', "names a node that is not in it"),
    ('{"format": "autodiff-steps/2", "nodes": [], "steps": [], "start": ["x"]}', "must be a number"),
])
def test_what_is_not_a_record_is_refused_clearly(text, says):
    with pytest.raises(ValueError, match=says):
        StepRecord.from_json(text)


def test_grads_after_refuses_a_step_count_out_of_range():
    x = Value(2.0, label="x")
    rec = autodiff.record_steps(x * x)
    with pytest.raises(IndexError, match="between 0 and 2"):
        rec.grads_after(3)
    with pytest.raises(TypeError):
        rec.grads_after(1.5)


def test_a_record_names_nameless_nodes_by_their_formula():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    rec = autodiff.record_steps((a * b).tanh())
    assert [n["name"] for n in rec.nodes] == ["a", "b", "a * b", "tanh(a * b)"]


def test_a_hook_shows_in_the_record():
    x = Value(0.5, label="x")
    h = x * 4
    h.register_hook(lambda g: g * 10)
    rec = autodiff.record_steps(h * h)
    step = next(s for s in rec.steps if s.node is h)
    assert step.hook == 4.0 and step.grad == 40.0
    assert StepRecord.from_json(rec.to_json()).steps == rec.steps


def test_shown_steps_are_the_operations_and_each_leaf_is_completed_by_its_last_consumer():
    import nn

    model = nn.MLP(2, [3, 2], seed=3)
    loss = nn.mse_loss(model([0.2, -0.7]), [0.5, 1.0])
    rec = autodiff.record_steps(loss)
    order = autodiff.topological_order(loss)
    # oracle: one step per node with parents, in backward order
    walk = autodiff.backward_order(loss)
    assert [order[s.node_id] for s in rec.shown] == [v for v in walk if v.parents]
    # each leaf or constant is completed by the step of its consumer that backward visits last
    for leaf in (v for v in order if not v.parents):
        last = max(k for k, v in enumerate(walk) if any(p is leaf for p in v.parents))
        k = [order[s.node_id] for s in rec.shown].index(walk[last])
        assert [order[s.node_id] for s in rec.completes[k]].count(leaf) == 1
    assert sum(len(c) for c in rec.completes) == sum(1 for v in order if not v.parents)
    loss.backward()
    assert rec.grads_at(len(rec.shown)) == [v.grad for v in order]
    back = StepRecord.from_json(rec.to_json())
    assert back.shown == rec.shown and back.completes == rec.completes


def test_a_leaf_hook_shows_in_the_step_that_completes_the_leaf():
    w = Value(2.0, label="w")
    w.grad = 30.0
    w.register_hook(lambda g: 2 * g)
    out = w * 3
    rec = autodiff.record_steps(out)
    assert sorted(rec.nodes[s.node_id]["name"] for s in rec.completes[0]) == ["3", "w"]  # w and the constant
    (final,) = [s for s in rec.completes[0] if rec.nodes[s.node_id]["label"] == "w"]
    assert final.hook == 3.0 and final.grad == 36.0  # 30 + 2 * 3
    assert rec.grads_at(0)[final.node_id] == 30.0 and rec.grads_at(1)[final.node_id] == 36.0
    with pytest.raises(IndexError, match="between 0 and 1"):
        rec.grads_at(2)
