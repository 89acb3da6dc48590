r"""Turning user text (labels are user data) into DOT label text that Graphviz shows as written.

A DOT label is an *escString*: a backslash starts an escape (``\n``, ``\l``, ``\N``, ...), and
Graphviz decodes HTML entities such as ``&lt;`` in it. :func:`label_text` doubles backslashes and
writes ``&`` as ``&amp;``, then joins lines with DOT's own ``\n``; the result is marked so that the
``graphviz`` package never reads a label in ``<...>`` as an HTML-like label. Quotes are escaped by
the ``graphviz`` package when it quotes the attribute. Graphviz escapes ``<``, ``>`` and ``&`` when
it writes SVG, so no label can become markup.

>>> print(label_text("a\\b", "x < y & z"))
a\\b\nx < y &amp; z
>>> print(label_text("two\nlines"))
two\nlines
"""

from __future__ import annotations

import graphviz

__all__ = ["label_text"]


def _line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("&", "&amp;").replace("\r", "")


def label_text(*lines: str) -> str:
    """One DOT label showing each of ``lines`` (and any newline inside them) on its own line."""
    parts = [_line(piece) for line in lines for piece in str(line).split("\n")]
    return graphviz.nohtml("\\n".join(parts))
