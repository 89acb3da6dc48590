"""The engine's switches, per thread: the active name scope and anomaly mode.

Each thread has its own, so nothing one thread does changes what another builds or raises: a
``name_scope`` in one thread never labels a node made in another, and ``detect_anomaly`` in one
thread never makes an op raise in another. Only :func:`autodiff.name_scope` and
:func:`autodiff.detect_anomaly` change them, through the functions here.

Making a node is the hot path of every forward pass, and reading a thread-local costs about
three times a plain global. So the op methods first read one plain global, ``_ACTIVE`` in their
own namespace: how many threads have a scope or anomaly mode on right now (kept current here,
see :func:`mirror`). Only when it is not 0 do they look at this thread's switches.

>>> switches().scope is None, switches().anomaly
(True, False)
"""

from __future__ import annotations

import threading
from typing import Any, Optional

__all__ = ["Switches", "switches", "set_scope", "set_anomaly", "mirror"]


class Switches(threading.local):
    """This thread's switches: ``scope`` (the enclosing name scopes, outermost first, or None) and
    ``anomaly`` (True inside :func:`autodiff.detect_anomaly`)."""

    scope: Optional[tuple[str, ...]] = None
    anomaly: bool = False


_SWITCHES = Switches()
_LOCK = threading.Lock()
_active = 0  # threads whose switches are not both off
_mirrors: list[dict[str, Any]] = []


def switches() -> Switches:
    """The calling thread's switches (read them; change them with :func:`set_scope` and :func:`set_anomaly`)."""
    return _SWITCHES


def mirror(namespace: dict[str, Any]) -> None:
    """Keep ``namespace["_ACTIVE"]`` equal to the number of threads with a switch on (for generated code)."""
    with _LOCK:
        namespace["_ACTIVE"] = _active
        _mirrors.append(namespace)


def _change(scope: Optional[tuple[str, ...]], anomaly: bool) -> None:
    global _active
    s = _SWITCHES
    was_on = s.scope is not None or s.anomaly
    s.scope, s.anomaly = scope, anomaly
    is_on = scope is not None or anomaly
    if was_on != is_on:
        with _LOCK:
            _active += 1 if is_on else -1
            for namespace in _mirrors:
                namespace["_ACTIVE"] = _active


def set_scope(scope: Optional[tuple[str, ...]]) -> Optional[tuple[str, ...]]:
    """Set this thread's scope; returns the previous one (to restore it)."""
    previous = _SWITCHES.scope
    _change(scope, _SWITCHES.anomaly)
    return previous


def set_anomaly(on: bool) -> bool:
    """Turn anomaly mode on or off for this thread; returns the previous setting."""
    previous = _SWITCHES.anomaly
    _change(_SWITCHES.scope, bool(on))
    return previous
