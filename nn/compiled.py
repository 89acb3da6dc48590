"""Training through a compiled program: the graph of one sample is traced once, then replayed.

>>> import nn
>>> model = nn.MLP(2, [4, 1], seed=0)
>>> step = compile_step(model, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1))
>>> X, Y = [[0.0, 1.0], [1.0, 0.0]], [[1.0], [-1.0]]
>>> first = step(X, Y)
>>> for _ in range(50):
...     last = step(X, Y)
>>> last < first / 10
True
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import autodiff
from autodiff import Value

from .layers import MLP
from .losses import mse_loss
from .optim import SGD

__all__ = ["CompiledStep", "compile_step"]

Target = Union[float, Sequence[float]]


class CompiledStep:
    """One training step over a batch, replayed from a program traced on one sample.

    Calling it with inputs ``X`` and targets ``Y`` zeroes the model's gradients, runs forward and
    backward on every sample (parameters read once, gradients summed in the compiled loop), leaves
    the gradient of the *mean* loss in each parameter's ``.grad``, takes the optimizer's step if
    there is one, and returns the mean loss. It computes the eager step
    ``mean(loss_fn(model(x), y) for x, y in batch).backward()`` without building a Value per op:
    each sample's numbers are the eager ones exactly; the samples' gradients are summed first to
    last, where the eager walk may add them in another order, so sums can differ in the last bit.
    """

    def __init__(
        self,
        model: MLP,
        loss_fn: Callable[[list[Value], list[Value]], Value] = mse_loss,
        optimizer: Optional[SGD] = None,
        lift: bool = False,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.nin, self.nout = model.nin, model.sizes[-1]
        self._params = model.parameters()
        nin = self.nin

        def traced(xs: list[Value]) -> Value:
            if lift:  # the lifted program's equations then call the targets t, as the maths does
                for k, t in enumerate(xs[nin:]):
                    t.label = f"t[{k}]"
            return loss_fn(model(xs[:nin]), xs[nin:])

        self.program = autodiff.compile(traced, nin + self.nout, lift=lift)

    def rows(self, X: Sequence[Sequence[float]], Y: Sequence[Target]) -> list[list[float]]:
        """Each sample's inputs and targets as one row of program inputs."""
        if len(X) != len(Y) or not X:
            raise ValueError(f"a batch needs as many targets as inputs (and at least one): {len(X)} inputs, {len(Y)} targets")
        out = []
        for x, y in zip(X, Y):
            target = [y] if isinstance(y, (int, float)) else list(y)
            if len(x) != self.nin or len(target) != self.nout:
                raise ValueError(f"each sample needs {self.nin} inputs and {self.nout} targets, got {len(x)} and {len(target)}")
            out.append(list(x) + target)
        return out

    def __call__(self, X: Sequence[Sequence[float]], Y: Sequence[Target]) -> float:
        rows = self.rows(X, Y)
        for p in self._params:  # model.zero_grad(), without rebuilding the parameter list
            p.grad = 0.0
        losses = self.program.batch(rows, seed=1.0 / len(rows))
        if self.optimizer is not None:
            self.optimizer.step()
        return sum(losses) / len(losses)


def compile_step(
    model: MLP,
    loss_fn: Callable[[list[Value], list[Value]], Value] = mse_loss,
    optimizer: Optional[SGD] = None,
    lift: bool = False,
) -> CompiledStep:
    """A :class:`CompiledStep` for ``model``: trace once, then ``step(X, Y)`` per training step.

    With ``lift=True`` the step runs as matrix operations on numpy arrays
    (:class:`~autodiff.lift.LiftedProgram`), the same numbers to rounding.
    """
    return CompiledStep(model, loss_fn, optimizer, lift)
