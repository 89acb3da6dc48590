"""Loss functions over lists of output Values and targets; the result is labelled ``loss``.

>>> from autodiff import Value
>>> y = [Value(1.0, label="y[0]"), Value(3.0, label="y[1]")]
>>> mse_loss(y, [0.0, 1.0]).data  # (1 + 4) / 2
2.5
>>> sse_loss(y, [0.0, 1.0]).data  # (1 + 4) / 2, the textbook 1/2 sum of squares
2.5
>>> sse_loss(y[:1], [0.0, 1.0])
Traceback (most recent call last):
...
ValueError: sse_loss: 1 outputs but 2 targets
"""

from __future__ import annotations

from typing import Sequence, Union

from autodiff import Value

__all__ = ["mse_loss", "sse_loss"]

Target = Union[Value, int, float]


def _squared_errors(name: str, outputs: Sequence[Value], targets: Sequence[Target]) -> Value:
    if isinstance(outputs, Value):
        outputs = [outputs]
    if isinstance(targets, (Value, int, float)):
        targets = [targets]
    if len(outputs) != len(targets) or not outputs:
        raise ValueError(f"{name}: {len(outputs)} outputs but {len(targets)} targets")
    total = None
    for k, (y, t) in enumerate(zip(outputs, targets)):
        if not isinstance(t, Value):
            t = Value(t, label=f"t[{k}]")
        square = (y - t) ** 2  # one edge per output, so a trace shows one path through each y[k]
        total = square if total is None else total + square
    assert total is not None
    return total


def mse_loss(outputs: Sequence[Value], targets: Sequence[Target]) -> Value:
    """Mean squared error: ``(1/n) * sum_k (y[k] - t[k])**2``, so ``dloss/dy[k] = 2 (y[k] - t[k]) / n``."""
    n = len(outputs) if not isinstance(outputs, Value) else 1
    loss = _squared_errors("mse_loss", outputs, targets) * (1.0 / n)
    loss.label = "loss"
    return loss


def sse_loss(outputs: Sequence[Value], targets: Sequence[Target]) -> Value:
    """Half the sum of squared errors, the textbook form: ``dloss/dy[k] = y[k] - t[k]``."""
    loss = _squared_errors("sse_loss", outputs, targets) * 0.5
    loss.label = "loss"
    return loss
