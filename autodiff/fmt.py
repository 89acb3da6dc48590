"""How every front end writes numbers and names nodes: text, terminal, SVG and HTML alike.

One module, so that the debugger, the trace, the page and the drawings show the same step the
same way. Results are written with :data:`DIGITS` significant digits (enough to check a hand
calculation), drawings with :data:`SHORT_DIGITS` (boxes are small). A node is named by its label;
a nameless node by its formula over its operands' names (``W1[0][2] * x[0]``), which is what
the drawing shows around its op node, so the name can always be found in the picture.

>>> number(-1.1796721), short(-1.1796721)
('-1.17967', '-1.18')
>>> printable("a\\x1b[2Jb")
'a\\\\x1b[2Jb'
>>> from autodiff import Value
>>> w, x = Value(0.5, label="w"), Value(2.0, label="x")
>>> name(w * x), name((w * x).tanh()), name(w * 3)
('w * x', 'tanh(w * x)', 'w * 3')
>>> derivative("loss", "a * b")
'dloss/d(a * b)'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ops import RULES

if TYPE_CHECKING:
    from .value import Value

__all__ = ["DIGITS", "SHORT_DIGITS", "STATUS_COLOURS", "number", "short", "printable", "name", "grouped",
           "derivative", "script_json", "MAX_NAME"]

#: Significant digits of a number read as a result (trace, debugger, page panel, repr).
DIGITS = 6
#: Significant digits of a number inside a drawing's boxes and on its edges.
SHORT_DIGITS = 4
#: The longest name made from a formula; longer ones end in an ellipsis.
MAX_NAME = 40

#: Fill and stroke of a node by its state during stepping: every front end draws the same colours.
STATUS_COLOURS = {
    "done": {"fill": "#bbf7d0", "stroke": "#15803d"},  # green-200 / green-700
    "current": {"fill": "#fecaca", "stroke": "#dc2626"},  # red-200 / red-600
    "pending": {"fill": "#f1f5f9", "stroke": "#94a3b8"},  # slate-100 / slate-400
}


def number(x: float) -> str:
    """``x`` as a result: :data:`DIGITS` significant digits (``nan``, ``inf`` and ``-inf`` as such)."""
    return _general(x, DIGITS)


def short(x: float) -> str:
    """``x`` inside a drawing: :data:`SHORT_DIGITS` significant digits."""
    return _general(x, SHORT_DIGITS)


def _general(x: float, digits: int) -> str:
    text = f"{x:.{digits}g}"
    return "0" if text == "-0" else text


def printable(text: str) -> str:
    """``text`` with every character that is not printable written as ``repr`` writes it.

    Control characters (ESC, BEL, NUL, newlines, ...) and lone surrogates can repaint a terminal,
    break XML or fail to encode; shown escaped, they are harmless and still readable.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def script_json(text: str) -> str:
    r"""JSON ``text`` made safe inside an HTML ``<script>`` element: ``<``, ``>`` and ``&`` written as
    JSON escapes, so that a label holding ``</script>`` or ``<!--`` cannot end the element; the
    JSON still parses to the same data.

    >>> script_json('{"label": "</script>"}')
    '{"label": "\\u003c/script\\u003e"}'
    """
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def grouped(name: str) -> str:
    """``name`` in parentheses when it is a formula (``a * b`` becomes ``(a * b)``), as it is in ``d(a * b)``."""
    return f"({name})" if any(c in name for c in " +-*/") else name


def derivative(top: str, bottom: str) -> str:
    """``dtop/dbottom`` for two names, formulas in parentheses: ``d(a * b)/da``."""
    return f"d{grouped(top)}/d{grouped(bottom)}"


def name(v: "Value", depth: int = 4) -> str:
    """What every front end calls ``v``: its label; a constant or nameless leaf by its number; a
    nameless op's result by its formula over its operands' names (``depth`` levels deep, then
    ``…``), at most :data:`MAX_NAME` characters. Never an id the user cannot see in a drawing."""
    if v.label:
        return printable(v.label)
    if not v.parents:
        return number(v.data)
    return _clip(_formula(v, depth)[0])


# How tightly each op's formula binds: an operand that binds looser is put in parentheses.
_BINDING = {"+": 0, "-": 0, "sum": 0, "*": 1, "/": 1, "neg": 2, "**": 3, "pow": 3}
_ATOM = 4  # labels, numbers and function calls


def _formula(v: "Value", depth: int) -> tuple[str, int]:
    if v.label:
        return printable(v.label), _ATOM
    if not v.parents:
        return number(v.data), _ATOM
    if depth <= 0:
        return "…", _ATOM
    binding = _BINDING.get(v.op, _ATOM)
    parts = []
    for k, p in enumerate(v.parents):
        text, inner = _formula(p, depth - 1)
        # a - (b - c), a / (b * c) and a ** (b ** c) need them even at equal binding
        tight = inner < binding or (inner == binding and (k > 0 or v.op in ("**", "pow")) and v.op not in ("+", "sum", "*"))
        parts.append(f"({text})" if tight and binding != _ATOM else text)
    return RULES[v.op].formula(parts, short(v.arg) if v.arg is not None else "k"), binding


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"
