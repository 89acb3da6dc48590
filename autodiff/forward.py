"""Forward mode: tangents pushed from the inputs towards the outputs along the same edges.

Every node stores the local derivative of its value with respect to each operand. Reverse mode
(backward) multiplies them from the root down; forward mode multiplies them from chosen inputs
up: give each input a tangent (a direction), and each node's tangent is the sum over its edges of
``local * tangent[parent]``. One walk in :func:`~autodiff.topological_order` gives the
directional derivative of every output at once.

So a Jacobian of m outputs by n inputs takes n forward passes (a column each) or m backward
passes (a row each): forward mode wins when there are few inputs, reverse mode when there are
few outputs (a loss: one).

>>> from autodiff import Value
>>> a, b = Value(2.0, label="a"), Value(3.0, label="b")
>>> f = a * b + a                         # df/da = b + 1 = 4, df/db = a = 2
>>> jvp(f, [a, b], [1.0, 0.0]), jvp(f, [a, b], [0.0, 1.0]), jvp(f, [a, b], [1.0, 1.0])
(4.0, 2.0, 6.0)
>>> J = jacobian([f, a * a], [a, b], mode="forward")
>>> J.matrix, J.passes
([[4.0, 2.0], [4.0, 0.0]], 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence, Union

from . import fmt
from .fast import through
from .graph import Contribution, Step, topological_order
from .value import Value, _real

__all__ = ["jvp", "forward_steps", "forward_order", "jacobian", "Jacobian"]


def _roots(roots: Union[Value, Sequence[Value]], what: str) -> list[Value]:
    found = [roots] if isinstance(roots, Value) else list(roots) if isinstance(roots, (list, tuple)) else None
    if not found or not all(isinstance(r, Value) for r in found):
        raise TypeError(f"{what} needs a Value or a non-empty list of Values as outputs")
    return found


def forward_order(roots: Sequence[Value]) -> list[Value]:
    """Every node the roots depend on, parents first (the union of their topological orders): the
    order forward mode visits nodes in, and the numbering of its steps' ``node_id``."""
    seen: set[int] = set()
    order = []
    for root in roots:
        for v in topological_order(root):
            if id(v) not in seen:
                seen.add(id(v))
                order.append(v)
    return order


def forward_steps(roots: Union[Value, Sequence[Value]], inputs: Sequence[Value],
                  tangents: Sequence[float]) -> Iterator[Step]:
    """Forward mode one node at a time: a :class:`~autodiff.Step` of kind ``"forward"`` for every
    node that is not an input, parents first, with its ``tangent`` and a contribution per edge.

    A forward step's contributions read: ``local`` times the operand's tangent (``before``) is
    ``amount``; ``after`` is the node's tangent once that edge is added. Nothing changes ``.grad``.
    """
    found = _roots(roots, "forward_steps")
    inputs = list(inputs)
    if len(tangents) != len(inputs):
        raise ValueError(f"{len(tangents)} tangents for {len(inputs)} inputs")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"input #{i} must be a Value, not {type(x).__name__}")
    order = forward_order(found)
    position = {id(v): i for i, v in enumerate(order)}
    tangent = [0.0] * len(order)
    for x, t in zip(inputs, tangents):
        if id(x) in position:
            tangent[position[id(x)]] += _real(t, "a tangent")
    given = {id(x) for x in inputs}
    index = 0
    for i, v in enumerate(order):
        if id(v) in given or not v._edges:
            continue
        total = 0.0
        contributions = []
        pairs = iter(v._edges)
        for k, (p, local) in enumerate(zip(pairs, pairs)):
            j = position[id(p)]
            amount = through(v, local, tangent[j])
            before = total
            total = amount if k == 0 else total + amount
            contributions.append(Contribution(p, j, k, local, amount, before, total))
        tangent[i] = total
        yield Step(index, v, i, total, contributions, kind="forward")
        index += 1


def jvp(roots: Union[Value, Sequence[Value]], inputs: Sequence[Value], tangents: Sequence[float]) -> Union[float, list[float]]:
    """The directional derivative of each root along ``tangents`` (one per input): one forward walk.

    Returns a float for one root, a list for a list of roots.
    """
    found = _roots(roots, "jvp")
    final = {id(s.node): s.grad for s in forward_steps(found, inputs, tangents)}
    for x, t in zip(inputs, tangents):  # an input's tangent is what it was given (added, if given twice)
        final[id(x)] = final.get(id(x), 0.0) + float(t)
    out = [final.get(id(r), 0.0) for r in found]
    return out[0] if isinstance(roots, Value) else out


@dataclass
class Jacobian:
    """``matrix[i][j]`` = d outputs[i] / d inputs[j], built in ``mode`` with ``passes`` walks."""

    matrix: list[list[float]]
    mode: str
    passes: int

    def __str__(self) -> str:
        rows = ["[" + ", ".join(fmt.number(x) for x in row) + "]" for row in self.matrix]
        return f"Jacobian ({self.mode} mode, {self.passes} passes):\n" + "\n".join(rows)


def jacobian(outputs: Union[Value, Sequence[Value]], inputs: Sequence[Value], mode: str = "reverse") -> Jacobian:
    """The Jacobian of ``outputs`` with respect to ``inputs``: a column per forward pass
    (``mode="forward"``, one :func:`jvp` per input) or a row per backward pass (``"reverse"``,
    one :func:`~autodiff.grad` per output)."""
    from .graph import grad

    found = _roots(outputs, "jacobian")
    inputs = list(inputs)
    if mode == "forward":
        columns = []
        for j in range(len(inputs)):
            direction = [1.0 if i == j else 0.0 for i in range(len(inputs))]
            column = jvp(found, inputs, direction)
            assert isinstance(column, list)
            columns.append(column)
        matrix = [[columns[j][i] for j in range(len(inputs))] for i in range(len(found))]
        return Jacobian(matrix, mode, len(inputs))
    if mode == "reverse":
        return Jacobian([grad(r, inputs) for r in found], mode, len(found))
    raise ValueError(f"mode must be 'forward' or 'reverse', not {mode!r}")
