"""How a drawing is laid out: which nodes Graphviz must keep in order, and how wide a box must be.

Graphviz places the nodes; this module only says what it must respect, so that every drawing of
one graph (plain, traced, stepped, collapsed) has the same network shape:

- :func:`inputs`: the unscoped leaves that feed scoped nodes (an ``nn`` model's ``x[i]``), kept on
  one rank, top to bottom in order.
- :func:`lead_ins`: a layer starts right of what feeds it. Graphviz puts a leaf (a weight) on the
  rank just before the node that uses it, the same rank as the input or previous layer's output it
  is multiplied with. A layer's weights go on one rank, and an invisible edge from each of those
  operands (``x[i]``, ``h1[j]``) to that rank moves them one rank right, so the inputs sit left of
  layer 1 and each layer left of the next instead of beside it. (An edge per weight, ``h1[j]`` to
  ``W2[j][k]``, does the same at half again the layout time of a 2-16-16-1 network.)
- :func:`stacks`: for each scope with several sub-scopes that do not feed one another (a layer's
  neurons), one node per sub-scope (its last: the neuron's output), in the natural order of the
  sub-scopes' names ("neuron 2" before "neuron 10"). They go on one rank joined by invisible
  edges, which Graphviz keeps pointing down (``rankdir=LR``) or right (``TB``): neuron ``j`` above
  neuron ``j + 1``. Graphviz keeps such an order only between nodes of one cluster, so each of
  these nodes is drawn in the enclosing cluster (the layer's), just outside its own (the
  neuron's), and the edge into it from its neuron orders the neurons' boxes too.
- :func:`box_width`: text in a box must not spill, whatever font the viewer draws "Helvetica" with
  and whatever number a step writes into it later. Widths are measured with the wider of Helvetica
  (Adobe's metrics, which Graphviz uses: Arial and Liberation Sans match them) and DejaVu Sans
  (what Linux browsers draw when no Helvetica-like font is installed), character by character.

>>> text_width("grad 0", 10) < text_width(f"grad {WIDEST_NUMBER}", 10)
True
>>> WIDEST_NUMBER
'-1.235e+100'
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from ..fmt import printable, short

__all__ = ["WIDEST_NUMBER", "text_width", "box_width", "natural", "inputs", "lead_ins", "stacks"]

# Advance widths of the printable ASCII characters (space to ~) in thousandths of an em: the larger
# of Helvetica's (Adobe's AFM) and DejaVu Sans's (its font file), so a box is wide enough in both.
_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,  # space to /
    636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 556,  # 0 to ?
    1015, 684, 686, 722, 770, 667, 611, 778, 752, 295, 500, 667, 557, 863, 748, 787,  # @ to O
    667, 787, 722, 667, 611, 732, 684, 989, 685, 667, 685, 390, 337, 390, 838, 556,  # P to _
    500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,  # ` to o
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,  # p to ~
)
# Any other character counts as a whole em: wide enough for CJK and most symbols.
_OTHER = 1000

#: fmt.short's widest result (its longest, with the widest characters): the number a box with a
#: grad line is sized for, since stepping rewrites that line with numbers the drawing never saw.
WIDEST_NUMBER = max((short(x) for x in (-1.2345e100, -1.2345e-100, -0.00012345, -123456.0, float("-inf"))),
                    key=lambda text: sum(_WIDTHS[ord(c) - 32] if " " <= c <= "~" else _OTHER for c in text))

# Air each side of a box's widest line, in points (Graphviz's own default is 0.11 inch; the widths here
# are already the wider of two fonts').
_MARGIN = 0.06 * 72


def text_width(text: str, fontsize: float) -> float:
    """Points ``text`` takes on one line at ``fontsize`` in the wider of Helvetica and DejaVu Sans.

    >>> text_width("0", 10)
    6.36
    """
    return sum(_WIDTHS[ord(c) - 32] if " " <= c <= "~" else _OTHER for c in text) * fontsize / 1000


def box_width(lines: Iterable[str], fontsize: float) -> str:
    """Graphviz ``width`` (inches, as text) of a box whose widest line is among ``lines``, margins included.

    >>> box_width(["x", "grad 0"], 10)  # (32.48 + 2 * 4.32) / 72 = 0.571..., rounded up
    '0.58'
    """
    # as label_text shows them: one line per newline, what is not printable written as repr does
    shown = [printable(piece) for line in lines for piece in re.split(r"\r?\n", line)]
    widest = max((text_width(line, fontsize) for line in shown), default=0.0)
    return f"{math.ceil((widest + 2 * _MARGIN) / 72 * 100) / 100:g}"  # rounded up: never narrower


def natural(text: str) -> list[Any]:
    """A sort key that orders runs of ASCII digits as numbers: "neuron 2" before "neuron 10".

    >>> sorted(["neuron 10", "neuron 2", "layer 1"], key=natural)
    ['layer 1', 'neuron 2', 'neuron 10']
    """
    # the odd places of the split are the runs of digits; str.isdigit would take "²", which int() refuses
    return [int(part) if k % 2 else part for k, part in enumerate(re.split(r"([0-9]+)", text))]


def inputs(scopes: Sequence[tuple[str, ...]], leaves: Sequence[bool], edges: Iterable[tuple[int, int]]) -> list[int]:
    """The units (numbered as ``scopes`` lists them) that are unscoped leaves feeding a scoped unit.

    ``leaves[u]`` says whether unit ``u`` is a leaf worth placing (not a constant); ``edges`` are
    ``(parent, child)`` pairs of units. In order of their numbers.

    >>> inputs([(), ("layer 1",), ()], [True, False, True], [(0, 1), (1, 2)])
    [0]
    """
    feeding = {a for a, b in edges if not scopes[a] and leaves[a] and scopes[b]}
    return sorted(feeding)


def lead_ins(scopes: Sequence[tuple[str, ...]], leaves: Sequence[bool],
             operands: Sequence[Sequence[int]]) -> list[tuple[list[int], list[int]]]:
    """Per top-level scope, ``(outer, own)``: the units from outside it (``outer``) that its units
    take as operands together with one of its own leaves (``own``: the weights they multiply).
    Each in order of first use; ``operands[u]`` lists unit ``u``'s operands.

    >>> scopes = [(), ("layer 1", "neuron 0"), ("layer 1", "neuron 0"), ("layer 1",)]
    >>> lead_ins(scopes, [True, True, False, False], [[], [], [1, 0], [2]])
    [([0], [1])]
    """
    found: dict[tuple[str, ...], tuple[dict[int, None], dict[int, None]]] = {}  # dicts: ordered sets
    for u, parents in enumerate(operands):
        top = scopes[u][:1]
        if not top:
            continue
        own = [w for w in parents if leaves[w] and scopes[w][:1] == top]
        outer = [a for a in parents if scopes[a][:1] != top]
        if own and outer:
            outer_set, own_set = found.setdefault(top, ({}, {}))
            outer_set.update(dict.fromkeys(outer))
            own_set.update(dict.fromkeys(own))
    return [(list(outer_set), list(own_set)) for outer_set, own_set in found.values()]


def stacks(scopes: Sequence[tuple[str, ...]], edges: Iterable[tuple[int, int]]) -> list[tuple[tuple[str, ...], list[int]]]:
    """Units to stack in order: per scope with several sub-scopes that do not feed one another, the
    scope and the last unit (highest number) of each sub-scope, sub-scopes in natural order of their names.

    Top-level scopes (layers) are never stacked: data flows from one to the next.

    >>> scopes = [("layer 1", "neuron 10"), ("layer 1", "neuron 2"), ("layer 1", "neuron 2"), ("layer 2", "neuron 0")]
    >>> stacks(scopes, [(0, 3), (2, 3)])
    [(('layer 1',), [2, 0])]
    """
    last: dict[tuple[str, ...], dict[str, int]] = {}
    for u, scope in enumerate(scopes):
        for depth in range(1, len(scope)):
            last.setdefault(scope[:depth], {})[scope[depth]] = u
    crossed: set[tuple[str, ...]] = set()  # scopes whose sub-scopes feed one another: no stack
    for a, b in edges:
        sa, sb = scopes[a], scopes[b]
        k = 0
        while k < min(len(sa), len(sb)) and sa[k] == sb[k]:
            k += 1
        if k >= 1 and len(sa) > k and len(sb) > k:
            crossed.add(sa[:k])
    return [(prefix, [children[c] for c in sorted(children, key=natural)])
            for prefix, children in last.items() if len(children) > 1 and prefix not in crossed]
