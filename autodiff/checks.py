"""Checking gradients: finite-difference :func:`gradcheck` and :func:`detect_anomaly`.

>>> from autodiff import Value
>>> gradcheck(lambda x, y: (x * y).tanh() + y.exp(), [0.5, -1.25])
True
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence, Union

from . import state
from .graph import grad
from .value import Value

__all__ = ["gradcheck", "gradgradcheck", "detect_anomaly"]


def _call(fn: Callable[..., Value], inputs: Sequence[Union[Value, float]], what: str) -> tuple[list[Value], Value]:
    """The inputs as leaves (numbers become fresh leaves ``x0``, ``x1``, ...) and ``fn`` of them."""
    leaves = [x if isinstance(x, Value) else Value(x, label=f"x{i}") for i, x in enumerate(inputs)]
    if not leaves:
        raise ValueError(f"{what} needs at least one input")
    root = fn(*leaves)
    if not isinstance(root, Value):
        raise TypeError(f"{what}: fn must return a Value, not {type(root).__name__}")
    return leaves, root


def gradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Union[Value, float]],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> bool:
    """Compare backprop's gradients of ``fn(*inputs)`` with central finite differences.

    ``inputs`` holds numbers (each becomes a fresh leaf ``x0``, ``x1``, ...) or Values (used as
    they are: their ``.data`` is nudged in place and restored, so ``fn`` may also reach them
    through a closure, as a model's parameters). Returns True, or raises AssertionError naming
    the input whose gradients disagree most, with both numbers. No ``.grad`` is touched.
    """
    leaves, root = _call(fn, inputs, "gradcheck")
    analytic = grad(root, leaves)
    worst = None
    for i, (leaf, g) in enumerate(zip(leaves, analytic)):
        original = leaf.data
        try:
            leaf.data = original + eps
            up = fn(*leaves).data
            leaf.data = original - eps
            down = fn(*leaves).data
        finally:
            leaf.data = original
        numeric = (up - down) / (2 * eps)
        excess = abs(g - numeric) - (atol + rtol * abs(numeric))
        if not excess <= 0 and (worst is None or not excess <= worst[0]):
            worst = (excess, i, leaf, g, numeric)
    if worst is not None:
        _, i, leaf, g, numeric = worst
        name = repr(leaf.label) if leaf.label else f"#{i}"
        raise AssertionError(
            f"gradcheck: input {name} (data {leaf.data!r}): backprop gives {g!r}, "
            f"finite differences give {numeric!r} (atol={atol}, rtol={rtol}, eps={eps})"
        )
    return True


def gradgradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Union[Value, float]],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> bool:
    """Compare second derivatives (the gradient's own graph, differentiated again) with central
    finite differences of the gradient.

    Row ``i`` of the Hessian by double backward (``grad(grad(f, create_graph=True)[i])``) against
    ``(grad(f)(x + eps e_j) - grad(f)(x - eps e_j)) / 2 eps``. Returns True, or raises
    AssertionError naming the pair of inputs that disagree most, with both numbers.

    >>> gradgradcheck(lambda x, y: (x * y).tanh() + x ** 3, [0.5, -1.25])
    True
    """
    leaves, root = _call(fn, inputs, "gradgradcheck")
    analytic = [grad(g, leaves) for g in grad(root, leaves, create_graph=True)]
    worst = None
    for j, leaf in enumerate(leaves):
        original = leaf.data
        try:
            leaf.data = original + eps
            up = grad(fn(*leaves), leaves)
            leaf.data = original - eps
            down = grad(fn(*leaves), leaves)
        finally:
            leaf.data = original
        for i in range(len(leaves)):
            numeric = (up[i] - down[i]) / (2 * eps)
            excess = abs(analytic[i][j] - numeric) - (atol + rtol * abs(numeric))
            if not excess <= 0 and (worst is None or not excess <= worst[0]):
                worst = (excess, i, j, analytic[i][j], numeric)
    if worst is not None:
        _, i, j, g, numeric = worst
        names = [repr(v.label) if v.label else f"#{k}" for k, v in enumerate(leaves)]
        raise AssertionError(
            f"gradgradcheck: d2/d{names[i]}d{names[j]}: double backward gives {g!r}, "
            f"finite differences of the gradient give {numeric!r} (atol={atol}, rtol={rtol}, eps={eps})"
        )
    return True


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside this block, a NaN or infinite result or gradient raises FloatingPointError.

    The error names the op, the node's label and its operands, and where user code created
    the node (file and line), which every node made inside the block records. Outside it,
    IEEE semantics apply as for Python floats. Blocks nest, and belong to the thread (and
    context) that opens them: other threads are not affected.

    >>> from autodiff import Value
    >>> with detect_anomaly():
    ...     Value(1e308, label="big") * 10
    Traceback (most recent call last):
    ...
    FloatingPointError: anomaly: op '*' produced inf from ('big' = 1e+308, a constant = 10.0); created at ...
    """
    token = state.enter(anomaly=True)
    try:
        yield
    finally:
        state.leave(token)
