"""Plain stochastic gradient descent, with PyTorch's names.

>>> from autodiff import Value
>>> w = Value(1.0, label="w")
>>> opt = SGD([w], lr=0.1)
>>> (w * w).backward()
>>> opt.step(); w.data
0.8
>>> opt.zero_grad(); w.grad
0.0
"""

from __future__ import annotations

import math
from typing import Iterable

from autodiff import Value

__all__ = ["SGD"]


class SGD:
    """``p.data -= lr * p.grad`` for every parameter at :meth:`step`."""

    def __init__(self, params: Iterable[Value], lr: float = 0.01) -> None:
        self.params = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"SGD: parameter #{i} is a {type(p).__name__}, not a Value")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"SGD: lr must be a positive finite number, not {lr!r}")
        self.lr = float(lr)

    def step(self) -> None:
        """Move every parameter against its gradient."""
        lr = self.lr
        for p in self.params:
            p.data -= lr * p.grad

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0.0."""
        for p in self.params:
            p.grad = 0.0
