"""Rendering: computation graphs to DOT and SVG, laid out by Graphviz with no system install needed."""

from .draw import Graph, draw
from .engines import RENDERERS, RendererNotAvailable, RenderError, available, render

__all__ = ["Graph", "draw", "render", "available", "RENDERERS", "RenderError", "RendererNotAvailable"]
