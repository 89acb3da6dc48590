"""The base of every model: parameters by name, in a stable order, and ``zero_grad``.

>>> from autodiff import Value
>>> class Scale(Module):
...     def __init__(self):
...         self.k = Value(2.0, label="k")
...     def named_parameters(self):
...         return [("k", self.k)]
>>> m = Scale()
>>> m.parameter("k").data
2.0
>>> m.parameter("q")
Traceback (most recent call last):
...
KeyError: "no parameter 'q'; valid names: k"
"""

from __future__ import annotations

from autodiff import Value

__all__ = ["Module"]


class Module:
    """Something with parameters: subclasses define :meth:`named_parameters`."""

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(name, Value) pairs in a stable, documented order; a model without parameters has none."""
        return []

    def parameters(self) -> list[Value]:
        """The parameter Values, in the order of :meth:`named_parameters`."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0.0 (gradients accumulate across backward calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameter(self, name: str) -> Value:
        """The parameter called ``name`` (for example ``"W1[0][2]"``); KeyError lists the valid names."""
        for key, p in self.named_parameters():
            if key == name:
                return p
        valid = ", ".join(key for key, _ in self.named_parameters())
        raise KeyError(f"no parameter {name!r}; valid names: {valid}")
