"""Rendering: computation graphs to DOT and SVG, laid out by Graphviz with no system install needed.

:func:`draw` draws a graph from the options a user sets; a :class:`Scene` says everything one
drawing shows (for the tracer, the debugger and the page); :func:`render` turns DOT text into SVG
or PNG with the first Graphviz engine installed, under a time limit.
"""

from .draw import Graph, Scene, draw
from .engines import (
    DEFAULT_TIMEOUT,
    RENDERERS,
    RendererNotAvailable,
    RenderError,
    available,
    render,
    time_limit,
)

__all__ = ["Graph", "Scene", "draw", "render", "available", "RENDERERS", "DEFAULT_TIMEOUT", "time_limit",
           "RenderError", "RendererNotAvailable"]
