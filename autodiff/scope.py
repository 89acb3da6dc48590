"""Name scopes: mark the nodes made inside a block, so drawings can group them.

>>> from autodiff import Value
>>> with name_scope("layer 1"), name_scope("neuron 0"):
...     z = Value(1.0) * 2
>>> z.scope
('layer 1', 'neuron 0')
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from . import value as _state

__all__ = ["name_scope"]


@contextlib.contextmanager
def name_scope(name: str) -> Iterator[tuple[str, ...]]:
    """Every node made inside the block gets ``scope`` = the enclosing names, outermost first."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name_scope needs a non-empty str, not {name!r}")
    env = _state._ENV
    previous = env["_SCOPE"]
    current = (previous or ()) + (name,)
    env["_SCOPE"] = current
    try:
        yield current
    finally:
        env["_SCOPE"] = previous
