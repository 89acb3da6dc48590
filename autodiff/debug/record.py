"""The step record: one backward pass as data, read by every front end.

:func:`record_steps` runs the reference walk (:func:`autodiff.graph.steps`) from ``root`` without
touching any ``.grad``: the same :class:`~autodiff.Step` objects that
:func:`~autodiff.backward_steps` yields, in the same order, with the same numbers, hooks run the
same way. The terminal debugger, the HTML page and the notebook stepper all read this one record
(the page as its JSON), so they can never disagree.

>>> from autodiff import Value
>>> x = Value(2.0, label="x")
>>> y = x * x
>>> y.label = "y"
>>> rec = record_steps(y)
>>> [n["label"] for n in rec.nodes], [s.node_id for s in rec.steps]
(['x', 'y'], [1, 0])
>>> c = rec.steps[0].contributions[0]
>>> c.parent_id, c.k, c.local, c.amount, c.before, c.after
(0, 0, 2.0, 2.0, 0.0, 2.0)
>>> rec.grads_after(len(rec.steps))[0]  # both edges of x * x
4.0

Front ends show :attr:`StepRecord.shown`: the steps of operations (and the root), numbered from 1.
A leaf or constant takes no step of its own: its gradient is final once the step that brings its
last contribution is applied, and that step lists it in :attr:`StepRecord.completes`.

>>> [rec.nodes[s.node_id]["name"] for s in rec.shown], [[rec.nodes[f.node_id]["name"] for f in c] for c in rec.completes]
(['y'], [['x']])
>>> rec.grads_at(1)[0]
4.0
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional, Sequence, Union

from .. import fmt
from ..forward import forward_order, forward_steps
from ..graph import Contribution, Step, backward_order, steps
from ..value import Value

__all__ = ["StepRecord", "record_steps", "record_forward", "FORMAT"]

#: The ``format`` field of a record's JSON.
FORMAT = "autodiff-steps/2"

_NODE_KEYS = ("id", "label", "name", "op", "data", "kind", "parents", "locals", "scope")
_STEP_KEYS = ("index", "node", "grad", "contributions")
_CONTRIBUTION_KEYS = ("parent", "k", "local", "amount", "before", "after")


class StepRecord:
    """One backward pass: ``nodes`` (described as plain data), ``steps`` and the ``start`` gradients.

    Nodes are numbered as :func:`~autodiff.topological_order` lists them (``id``); each is a dict
    with ``id``, ``label``, ``name`` (what every front end calls it, see :func:`autodiff.fmt.name`),
    ``op``, ``data``, ``kind`` (``leaf``, ``constant``, ``op`` or ``root``), ``parents`` (ids),
    ``locals`` and ``scope``. ``steps`` are :class:`~autodiff.Step` objects in backprop order.
    ``start`` is every node's gradient before the first step; ``values`` the Values themselves,
    by id (empty in a record read back from JSON).
    """

    def __init__(self, nodes: list[dict[str, Any]], steps: list[Step], start: list[float],
                 values: Optional[list[Value]] = None, mode: str = "backward") -> None:
        if mode not in ("backward", "forward"):
            raise ValueError(f"mode must be 'backward' or 'forward', not {mode!r}")
        self.nodes = nodes
        self.steps = steps
        self.start = start
        self.values = values or []
        #: ``"backward"`` (gradients, root first) or ``"forward"`` (tangents, inputs first; see
        #: :func:`record_forward`): what the steps compute.
        self.mode = mode
        #: The steps every front end shows (terminal, page, notebook), in order: the steps of
        #: operations and the root's. Step number ``k`` (from 1) in any of them is ``shown[k - 1]``.
        self.shown: list[Step] = []
        #: ``completes[k]``: the steps of the leaves and constants whose gradient is final once
        #: ``shown[k]`` is applied (it brought their last contribution); each such Step holds the
        #: final gradient (what a hook made of it) and ``hook``.
        self.completes: list[list[Step]] = []
        last: dict[int, int] = {}  # node id -> the shown step that last contributed to it
        for step in steps:
            own = step.index == 0 or step.kind == "forward" or bool(nodes[step.node_id]["parents"])
            if own or step.node_id not in last:
                self.shown.append(step)
                self.completes.append([])
                for c in step.contributions:
                    last[c.parent_id] = len(self.shown) - 1
            else:
                self.completes[last[step.node_id]].append(step)

    def grads_after(self, k: int) -> list[float]:
        """Every node's gradient once the first ``k`` steps are applied (``k`` from 0 to ``len(steps)``)."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k must be an int, not {type(k).__name__}")
        if not 0 <= k <= len(self.steps):
            raise IndexError(f"k must be between 0 and {len(self.steps)}, not {k}")
        grads = list(self.start)
        for step in self.steps[:k]:
            grads[step.node_id] = step.grad  # what a hook made of it; in forward mode, its tangent
            if step.kind == "backward":
                for c in step.contributions:
                    grads[c.parent_id] = c.after
        return grads

    def grads_at(self, k: int) -> list[float]:
        """Every node's gradient once the first ``k`` :attr:`shown` steps are applied (``k`` from 0 to
        ``len(shown)``): with the leaves they complete, so ``grads_at(len(shown))`` is the end of the pass."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k must be an int, not {type(k).__name__}")
        if not 0 <= k <= len(self.shown):
            raise IndexError(f"k must be between 0 and {len(self.shown)}, not {k}")
        grads = list(self.start)
        for step, finals in zip(self.shown[:k], self.completes):
            for s in [step, *finals]:
                grads[s.node_id] = s.grad
                if s.kind == "backward":
                    for c in s.contributions:
                        grads[c.parent_id] = c.after
        return grads

    def find(self, label: str) -> list[int]:
        """Ids of the nodes labelled ``label``."""
        return [n["id"] for n in self.nodes if n["label"] == label]

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (what :meth:`to_json` writes)."""
        return {
            "format": FORMAT,
            "mode": self.mode,
            "nodes": self.nodes,
            "steps": [
                {"index": s.index, "node": s.node_id, "grad": s.grad, "hook": s.hook, "kind": s.kind,
                 "contributions": [{"parent": c.parent_id, "k": c.k, "local": c.local, "amount": c.amount,
                                    "before": c.before, "after": c.after} for c in s.contributions]}
                for s in self.steps
            ],
            "start": self.start,
        }

    def to_json(self, **kwargs: Any) -> str:
        """The record as JSON text. JSON has no nan or infinities: they are written as the strings
        ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (JavaScript's ``Number()`` reads them back)."""
        data = self.to_dict()
        try:  # most records hold finite numbers only: no need to walk them first
            return json.dumps(data, allow_nan=False, **kwargs)
        except ValueError:
            return json.dumps(_encode(data), allow_nan=False, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "StepRecord":
        """A record read back from :meth:`to_json`'s text (without the Values); ValueError if it is not one."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an autodiff step record: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not an autodiff step record (a JSON object with format {FORMAT!r})")
        try:
            nodes = [_fields(n, _NODE_KEYS, "node") for n in _items(data, "nodes")]
            start = [_number(g, "start") for g in _items(data, "start")]
            records = []
            for s in _items(data, "steps"):
                _fields(s, _STEP_KEYS, "step")
                contributions = [
                    Contribution(None, int(c["parent"]), int(c["k"]), _number(c["local"], "local"),
                                 _number(c["amount"], "amount"), _number(c["before"], "before"),
                                 _number(c["after"], "after"))
                    for c in (_fields(c, _CONTRIBUTION_KEYS, "contribution") for c in _items(s, "contributions"))
                ]
                hook = s.get("hook")
                kind = s.get("kind", "backward")
                if kind not in ("backward", "forward"):
                    raise ValueError(f"a step's kind must be 'backward' or 'forward', not {kind!r}")
                records.append(Step(int(s["index"]), None, int(s["node"]), _number(s["grad"], "grad"), contributions,
                                    None if hook is None else _number(hook, "hook"), kind))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an autodiff step record: {exc}") from None
        for n in nodes:
            n["data"] = _number(n["data"], "data")
            n["locals"] = [_number(x, "locals") for x in n["locals"]]
        if len(start) != len(nodes):
            raise ValueError(f"not an autodiff step record: {len(start)} start gradients for {len(nodes)} nodes")
        ids = range(len(nodes))
        for s in records:
            if s.node_id not in ids or any(c.parent_id not in ids for c in s.contributions):
                raise ValueError(f"not an autodiff step record: step {s.index} names a node that is not in it")
        return cls(nodes, records, start, mode=str(data.get("mode", "backward")))

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"<StepRecord: {len(self.nodes)} nodes, {len(self.steps)} {self.mode} steps>"


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    return obj


def _number(x: Any, what: str) -> float:
    if isinstance(x, str) and x in _SPECIAL:
        return _SPECIAL[x]
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{what} must be a number, not {x!r}")
    return float(x)


def _items(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list")
    return value


def _fields(item: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"each {what} must be an object")
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"a {what} lacks {', '.join(missing)}")
    return item


def record_steps(root: Value) -> StepRecord:
    """Backprop from ``root`` as a :class:`StepRecord`; no ``.grad`` is changed (hooks run, as in backward)."""
    if not isinstance(root, Value):
        raise TypeError(f"record_steps needs a Value, not {type(root).__name__}")
    topo = backward_order(root)[::-1]
    # As backward(): leaves keep what they hold (they accumulate), intermediates start afresh.
    start = [v.grad if v.is_leaf else 0.0 for v in topo]
    start[-1] = root.grad + 1.0 if root.is_leaf else 1.0
    return StepRecord(_describe(topo, [root]), list(steps(root)), start, topo)


def record_forward(roots: Union[Value, Sequence[Value]], inputs: Sequence[Value], tangents: Sequence[float]) -> StepRecord:
    """Forward mode from ``inputs`` along ``tangents`` as a :class:`StepRecord` (``mode == "forward"``):
    one step per node that is not an input, parents first, each giving the node's tangent.

    >>> from autodiff import Value
    >>> x = Value(2.0, label="x")
    >>> y = x * x
    >>> y.label = "y"
    >>> rec = record_forward(y, [x], [1.0])
    >>> rec.mode, [(rec.nodes[s.node_id]["name"], s.tangent) for s in rec.steps]
    ('forward', [('y', 4.0)])
    """
    found = [roots] if isinstance(roots, Value) else list(roots)
    topo = forward_order(found)
    position = {id(v): i for i, v in enumerate(topo)}
    start = [0.0] * len(topo)
    for x, t in zip(inputs, tangents):
        if isinstance(x, Value) and id(x) in position:
            start[position[id(x)]] += float(t)
    record = list(forward_steps(found, inputs, tangents))
    return StepRecord(_describe(topo, found), record, start, topo, mode="forward")


def _describe(topo: list[Value], roots: list[Value]) -> list[dict[str, Any]]:
    """Each node as plain data, numbered by its position in ``topo``."""
    ids = {id(v): i for i, v in enumerate(topo)}
    tops = {id(r) for r in roots}
    return [
        {
            "id": i,
            "label": v.label,
            "name": fmt.name(v),
            "op": v.op,
            "data": v.data,
            "kind": "root" if id(v) in tops else "constant" if v.is_constant else "leaf" if v.is_leaf else "op",
            "parents": [ids[id(p)] for p in v.parents],
            "locals": list(v.locals),
            "scope": list(v.scope or ()),
        }
        for i, v in enumerate(topo)
    ]
