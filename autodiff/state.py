"""The engine's switches, per thread and per context: the active name scope and anomaly mode.

They live in a :class:`contextvars.ContextVar`, so each thread (and each asyncio task) has its
own: a ``name_scope`` in one thread never labels a node made in another, and ``detect_anomaly``
in one thread never makes an op raise in another. Only :func:`autodiff.name_scope` and
:func:`autodiff.detect_anomaly` change them, through :func:`enter` and :func:`leave`.

Making a node is the hot path of every forward pass, and reading a context variable costs a
call. So the op methods first read one plain global, ``_ACTIVE`` in their own namespace: whether
any switch block is open right now in the whole process (kept current here, see :func:`mirror`).
Only when one is do they read this context's switches.

>>> current()
Switches(scope=None, anomaly=False, origins=False)
>>> token = enter(scope=("layer 1",))
>>> current().scope
('layer 1',)
>>> leave(token)
>>> current().scope is None
True
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any, NamedTuple, Optional

__all__ = ["Switches", "current", "enter", "leave", "mirror"]


class Switches(NamedTuple):
    """One context's switches: ``scope`` (the enclosing name scopes, outermost first, or None),
    ``anomaly`` (True inside :func:`autodiff.detect_anomaly`) and ``origins`` (True inside
    :func:`autodiff.record_origins`: nodes record where they were made, and nothing raises)."""

    scope: Optional[tuple[str, ...]] = None
    anomaly: bool = False
    origins: bool = False


_OFF = Switches()
#: This context's switches; None while every switch is off (what the hot path tests).
SWITCHES: contextvars.ContextVar[Optional[Switches]] = contextvars.ContextVar("autodiff_switches", default=None)
_LOCK = threading.Lock()
_open = 0  # switch blocks open in the whole process, in every thread
_mirrors: list[dict[str, Any]] = []


def current() -> Switches:
    """This context's switches."""
    return SWITCHES.get() or _OFF


def mirror(namespace: dict[str, Any]) -> None:
    """Keep ``namespace["_ACTIVE"]`` true while a switch block is open anywhere (for generated code).

    A bool, not the count: ``if _ACTIVE:`` on True or False is decided by CPython's jump itself,
    on an int it calls the int's truth test.
    """
    with _LOCK:
        namespace["_ACTIVE"] = _open > 0
        _mirrors.append(namespace)


def _count(change: int) -> None:
    global _open
    with _LOCK:
        _open += change
        for namespace in _mirrors:
            namespace["_ACTIVE"] = _open > 0


_UNCHANGED: Any = object()


def enter(scope: Any = _UNCHANGED, anomaly: Any = _UNCHANGED, origins: Any = _UNCHANGED) -> contextvars.Token[Optional[Switches]]:
    """Open a switch block in this context: set ``scope``, ``anomaly`` and/or ``origins``, keep the rest.

    Returns the token that :func:`leave` takes to restore what was there before.
    """
    now = current()
    new = Switches(now.scope if scope is _UNCHANGED else scope,
                   now.anomaly if anomaly is _UNCHANGED else bool(anomaly),
                   now.origins if origins is _UNCHANGED else bool(origins))
    token = SWITCHES.set(None if new == _OFF else new)
    _count(+1)
    return token


def leave(token: contextvars.Token[Optional[Switches]]) -> None:
    """Close the switch block that :func:`enter` opened (blocks close in reverse order)."""
    SWITCHES.reset(token)
    _count(-1)
