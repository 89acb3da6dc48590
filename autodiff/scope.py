"""Name scopes: mark the nodes made inside a block, so drawings can group them.

>>> from autodiff import Value
>>> with name_scope("layer 1"), name_scope("neuron 0"):
...     z = Value(1.0) * 2
>>> z.scope
('layer 1', 'neuron 0')
>>> with name_scope("layer 1", "neuron 0"):  # the same two scopes, entered at once
...     (Value(1.0) * 2).scope
('layer 1', 'neuron 0')

Scopes belong to the thread (and context) that opens them: a node made in another thread at the
same time is not marked.
"""

from __future__ import annotations

import contextvars
from typing import Any, Optional

from . import state

__all__ = ["name_scope"]


class name_scope:
    """Every node made inside the block gets ``scope`` = the enclosing names, outermost first.

    ``name_scope(a, b)`` enters ``a`` and, inside it, ``b``. A class rather than a generator-based
    context manager: models enter a scope per neuron call, so entering and leaving must be cheap.
    """

    __slots__ = ("names", "_token")

    def __init__(self, name: str, *more: str) -> None:
        for n in (name, *more):
            if not isinstance(n, str) or not n:
                raise ValueError(f"name_scope needs non-empty strs, not {n!r}")
        self.names = (name, *more)
        self._token: Optional[contextvars.Token[Any]] = None

    def __enter__(self) -> tuple[str, ...]:
        current = (state.current().scope or ()) + self.names
        self._token = state.enter(scope=current)
        return current

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            token, self._token = self._token, None
            state.leave(token)
