"""The step record: one backward pass as plain data, read by every front end.

:func:`record_steps` replays backprop from ``root`` on plain numbers, in exactly the order and
with exactly the arithmetic of :func:`autodiff.backward`, without touching any ``.grad``. The
terminal debugger, the HTML page and the notebook stepper all read this one record (the page as
its JSON), so they can never disagree.

>>> from autodiff import Value
>>> x = Value(2.0, label="x")
>>> y = x * x
>>> y.label = "y"
>>> rec = record_steps(y)
>>> [n["label"] for n in rec.nodes], [s["node"] for s in rec.steps]
(['x', 'y'], [1, 0])
>>> rec.steps[0]["contributions"][0]
{'parent': 0, 'k': 0, 'local': 2.0, 'amount': 2.0, 'before': 0.0, 'after': 2.0}
>>> rec.grads_after(len(rec.steps))[0]  # both edges of x * x
4.0
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ..graph import _release_order
from ..value import Value

__all__ = ["StepRecord", "record_steps"]


class StepRecord:
    """``nodes`` (id = position in topological order), ``steps`` in backprop order, ``start`` grads.

    Each node: ``id``, ``label``, ``op``, ``data``, ``kind`` (``leaf``, ``constant``, ``op`` or
    ``root``), ``parents`` (ids), ``locals``, ``scope``. Each step: ``index``, ``node`` (id),
    ``grad`` (final), ``contributions``: ``parent`` (id), ``k`` (operand position), ``local``,
    ``amount`` (= local * grad), ``before`` and ``after`` (the parent's grad).
    """

    def __init__(self, nodes: list[dict[str, Any]], steps: list[dict[str, Any]], start: list[float],
                 values: Optional[list[Value]] = None) -> None:
        self.nodes = nodes
        self.steps = steps
        self.start = start
        self.values = values or []  # the Values themselves, by id (not serialised)

    def grads_after(self, k: int) -> list[float]:
        """Every node's gradient once the first ``k`` steps are applied (``k`` from 0 to ``len(steps)``)."""
        if not 0 <= k <= len(self.steps):
            raise IndexError(f"k must be between 0 and {len(self.steps)}, not {k}")
        grads = list(self.start)
        for step in self.steps[:k]:
            for c in step["contributions"]:
                grads[c["parent"]] = c["after"]
        return grads

    def find(self, label: str) -> list[int]:
        """Ids of the nodes labelled ``label``."""
        return [n["id"] for n in self.nodes if n["label"] == label]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "autodiff-steps/1", "nodes": self.nodes, "steps": self.steps, "start": self.start}

    def to_json(self, **kwargs: Any) -> str:
        """The record as JSON text (numbers as JSON numbers; NaN and infinities as strings)."""
        return json.dumps(_finite(self.to_dict()), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "StepRecord":
        data = json.loads(text)
        if data.get("format") != "autodiff-steps/1":
            raise ValueError("not an autodiff step record (format autodiff-steps/1)")
        return cls(data["nodes"], data["steps"], [float(g) for g in data["start"]])

    def __len__(self) -> int:
        return len(self.steps)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def record_steps(root: Value) -> StepRecord:
    """Backprop from ``root`` as a :class:`StepRecord`; no ``.grad`` is changed, no hook runs."""
    if not isinstance(root, Value):
        raise TypeError(f"record_steps needs a Value, not {type(root).__name__}")
    order = _release_order(root)  # the order backward() applies steps in
    topo = order[::-1]
    ids = {id(v): i for i, v in enumerate(topo)}
    nodes = [
        {
            "id": i,
            "label": v.label,
            "op": v.op,
            "data": v.data,
            "kind": "root" if v is root else "constant" if v.is_constant else "leaf" if v.is_leaf else "op",
            "parents": [ids[id(p)] for p in v.parents],
            "locals": list(v.locals),
            "scope": list(v.scope or ()),
        }
        for i, v in enumerate(topo)
    ]
    # As backward(): leaves keep what they hold (they accumulate), intermediates start at 0.
    grads = [v.grad if v.is_leaf else 0.0 for v in topo]
    grads[ids[id(root)]] += 1.0
    start = list(grads)
    steps = []
    for index, v in enumerate(order):
        i = ids[id(v)]
        g = grads[i]
        contributions = []
        for k, (p, local) in enumerate(zip(v.parents, v.locals)):
            j = ids[id(p)]
            amount = local * g
            before = grads[j]
            grads[j] = before + amount
            contributions.append({"parent": j, "k": k, "local": local, "amount": amount, "before": before, "after": grads[j]})
        steps.append({"index": index, "node": i, "grad": g, "contributions": contributions})
    return StepRecord(nodes, steps, start, topo)
