"""Why is this gradient tiny, huge or NaN: diagnostics that name the factor of the chain rule that did it.

A parameter's gradient is the sum, over every path from it to the root, of the product of the
local derivatives on the path's edges (see :func:`autodiff.trace`). So when a gradient vanishes
or explodes, some factor on those paths is to blame, and this module names it and gives its value
and its formula, read from the rule table::

    gradient of loss vanishes at W1[*][2], b1[2] (...): dh1[2]/dz1[2] = 1 - h1[2] * h1[2] = 0.0021 on every path into them

:func:`autodiff.diagnose` reports, as :class:`Finding` objects in a :class:`autodiff.Diagnosis`:

- ``vanishing`` / ``exploding``: a parameter whose ``|gradient|`` is below ``vanish`` / above
  ``explode``, with the factor that causes it (see :func:`blame`): for vanishing, the smallest
  factor of the widest path, so that every path into the parameter crosses a factor at least that
  small (an edge on *every* path preferred); for exploding, the largest factor of the path that
  carries the most; parameters with the same cause are reported together (``W1[*][2]`` is every
  ``W1[i][2]``);
- ``saturated``: a tanh or sigmoid whose local derivative is below ``saturate`` in magnitude;
- ``dead``: a relu whose input is ``<= 0`` (nothing flows back through it);
- ``non-finite`` / ``non-finite gradient``: where the first NaN or infinity appears (see
  :func:`autodiff.nan_origin`).

The thresholds (:data:`VANISH`, :data:`EXPLODE`, :data:`SATURATE`) are absolute, for a loss of
order 1; each is a keyword argument of :func:`autodiff.diagnose`.

>>> from autodiff import Value
>>> w = Value(4.0, label="w")
>>> z = w * 2.0
>>> z.label = "z"
>>> h = z.tanh()
>>> h.label = "h"
>>> report = diagnose(h)
>>> [f.kind for f in report.findings]
['vanishing', 'saturated']
>>> print(report.findings[0].message)
gradient of h vanishes at w (|dh/dw| = 9.00281e-07 < 1e-05): dh/dz = 1 - h * h = 4.50141e-07 on every path into w
>>> report.findings[0].factor.local == 1 - h.data ** 2
True

Nothing here changes a ``.grad``: gradients are recomputed by the reference walk
(:func:`autodiff.steps`) as :func:`autodiff.grad` does.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

from . import fmt, state
from .graph import steps, topological_order
from .ops import RULES
from .trace import trace
from .value import Value, _get_extra

__all__ = ["VANISH", "EXPLODE", "SATURATE", "KINDS", "Factor", "Finding", "Diagnosis", "diagnose",
           "Origin", "NanOrigin", "nan_origin", "record_origins", "local_formula", "compact_names", "check_thresholds", "blame"]

#: A parameter whose ``|gradient|`` is below this vanishes (nn.diagnose: a layer's gradient norm).
VANISH = 1e-5
#: A parameter whose ``|gradient|`` is above this explodes (nn.diagnose: a layer's gradient norm).
EXPLODE = 1e3
#: A tanh or sigmoid whose local derivative is below this in magnitude is saturated (tanh's is at
#: most 1, sigmoid's at most 0.25; 0.01 is reached at ``|z|`` about 3 for tanh and 4.6 for sigmoid).
SATURATE = 1e-2

#: Every kind of finding, in the order a report lists them.
KINDS = ("non-finite", "non-finite gradient", "vanishing", "exploding", "dead", "saturated")

_SQUASHING = ("tanh", "sigmoid")  # ops whose slope goes to 0 far from 0


# -- naming factors ---------------------------------------------------------------------------------
def _tidy(template: str) -> str:
    """``1.0 - {out}`` as people write it, ``1 - {out}`` (only the rule's own numbers, never a label)."""
    return re.sub(r"(?<![\w.{])(\d+)\.0(?![\d\w])", r"\1", template)


def local_formula(node: Value, k: int) -> str:
    """The formula of ``d node / d node.parents[k]``, from the node's rule, over the nodes' names.

    >>> from autodiff import Value
    >>> x = Value(0.5, label="x")
    >>> h = x.tanh()
    >>> h.label = "h"
    >>> local_formula(h, 0), local_formula(x * Value(2.0, label="w"), 0)
    ('1 - h * h', 'w')
    """
    if not isinstance(node, Value) or not node.parents:
        raise ValueError(f"local_formula needs a node made by an op, not {node!r}")
    if not 0 <= k < len(node.parents):
        raise IndexError(f"{fmt.name(node)} has {len(node.parents)} operands, not an operand #{k}")
    rule = RULES[node.op]
    names = {"out": fmt.grouped(fmt.name(node)), "k": fmt.number(node.arg) if node.arg is not None else "k"}
    if rule.join is None:
        names.update(zip(rule.operands, (fmt.grouped(fmt.name(p)) for p in node.parents)))
    return rule.substitute(_tidy(rule.local_text[0 if rule.join is not None else k]), names)


_INDEXED = re.compile(r"^(.*?)((?:\[-?\d+\])+)$")


def _parse(name: str) -> tuple[str, tuple[str, ...]]:
    match = _INDEXED.match(name)
    if match is None:
        return name, ()
    return match[1], tuple(re.findall(r"\[(-?\d+)\]", match[2]))


def compact_names(names: Sequence[str], universe: Sequence[str] = ()) -> list[str]:
    """``names`` with every full row or column of an indexed name written once, with ``*``.

    ``W1[0][2]`` and ``W1[1][2]`` become ``W1[*][2]`` when they are all the ``W1[i][2]`` of
    ``universe`` (the names the star could mean; ``names`` itself when empty), so that a star
    never stands for names that are not in the list.

    >>> compact_names(["W1[0][2]", "W1[1][2]", "b1[2]"])
    ['W1[*][2]', 'b1[2]']
    >>> compact_names(["W1[0][2]", "W1[1][2]"], ["W1[0][2]", "W1[1][2]", "W1[2][2]"])
    ['W1[0][2]', 'W1[1][2]']
    """
    chosen = list(dict.fromkeys(names))
    parsed = {n: _parse(n) for n in set(chosen) | set(universe or chosen)}
    taken: set[str] = set()
    out = []
    for name in chosen:
        if name in taken:
            continue
        prefix, index = parsed[name]
        for pos in range(len(index)):
            key = index[:pos] + index[pos + 1:]
            members = [n for n, (p, i) in parsed.items()
                       if p == prefix and len(i) == len(index) and i[:pos] + i[pos + 1:] == key]
            if len(members) > 1 and all(m in chosen and m not in taken for m in members):
                taken.update(members)
                out.append(prefix + "".join(f"[{'*' if j == pos else i}]" for j, i in enumerate(index)))
                break
        else:
            taken.add(name)
            out.append(name)
    return out


# -- the report ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Factor:
    """One factor of the chain rule: the local derivative of ``child`` with respect to its operand ``k``.

    ``paths`` of the ``of`` paths into the parameter it was found for cross this edge (``paths ==
    of``: on every path). ``child_id`` and ``parent_id`` number the nodes as
    :func:`autodiff.topological_order` does.
    """

    child: Value
    parent: Value
    k: int
    local: float
    child_id: int
    parent_id: int
    paths: int = 1
    of: int = 1

    @property
    def name(self) -> str:
        """``dh1[2]/dz1[2]``."""
        return fmt.derivative(fmt.name(self.child), fmt.name(self.parent))

    @property
    def formula(self) -> str:
        """The local derivative's formula over the nodes' names: ``1 - h1[2] * h1[2]``."""
        return local_formula(self.child, self.k)

    @property
    def everywhere(self) -> bool:
        """True when the edge lies on every path into the parameter."""
        return self.paths == self.of

    def text(self) -> str:
        """``dh1[2]/dz1[2] = 1 - h1[2] * h1[2] = 0.0021`` (the formula left out when it is just the number)."""
        formula, value = self.formula, fmt.number(self.local)
        return f"{self.name} = {value}" if formula == value else f"{self.name} = {formula} = {value}"

    def data(self) -> dict[str, Any]:
        """The factor as plain data (ids, names, numbers), for a page to mark."""
        return {"edge": [self.parent_id, self.child_id, self.k], "name": self.name, "formula": self.formula,
                "local": self.local, "paths": self.paths, "of": self.of}


@dataclass(frozen=True)
class Finding:
    """One thing the diagnosis found: its ``kind`` (one of :data:`KINDS`), a one-line ``message``,
    the ids of the ``nodes`` it is about (as in :func:`autodiff.topological_order`, the main node
    first), the ``edges`` it names as ``(parent_id, child_id, k)``, and the ``factor`` to blame.

    ``value`` is the number the verdict rests on: the largest ``|gradient|`` of a vanishing group,
    the smallest of an exploding one, a unit's local derivative, a relu's input, the non-finite value.
    """

    kind: str
    message: str
    nodes: tuple[int, ...] = ()
    edges: tuple[tuple[int, int, int], ...] = ()
    factor: Optional[Factor] = None
    value: Optional[float] = None
    names: tuple[str, ...] = ()

    def data(self) -> dict[str, Any]:
        """The finding as plain data, JSON-ready (``nan`` and infinities stay floats)."""
        return {"kind": self.kind, "message": self.message, "nodes": list(self.nodes),
                "edges": [list(e) for e in self.edges], "value": self.value, "names": list(self.names),
                "factor": self.factor.data() if self.factor is not None else None}


@dataclass
class Diagnosis:
    """What :func:`diagnose` found in ``root``'s graph; ``str()`` is the report as text."""

    root: Value
    findings: list[Finding]
    vanish: float = VANISH
    explode: float = EXPLODE
    saturate: float = SATURATE
    nan: Optional["NanOrigin"] = field(default=None, repr=False)
    #: How many findings of each kind the text shows (the rest are counted).
    shown: int = field(default=8, repr=False)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def of_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind (one of :data:`~autodiff.diagnose.KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; the kinds are: {', '.join(KINDS)}")
        return [f for f in self.findings if f.kind == kind]

    def marks(self) -> dict[int, list[str]]:
        """Node id -> the kinds of findings about it, for a view to mark (ids as in topological_order)."""
        out: dict[int, list[str]] = {}
        for f in self.findings:
            for i in f.nodes:
                if f.kind not in out.setdefault(i, []):
                    out[i].append(f.kind)
        return out

    def data(self) -> dict[str, Any]:
        """The whole report as plain data: thresholds and findings."""
        return {"root": fmt.name(self.root), "thresholds": {"vanish": self.vanish, "explode": self.explode,
                                                             "saturate": self.saturate},
                "findings": [f.data() for f in self.findings]}

    def __str__(self) -> str:
        head = (f"diagnosis of {fmt.name(self.root)} (vanish < {fmt.number(self.vanish)}, explode > "
                f"{fmt.number(self.explode)}, saturate < {fmt.number(self.saturate)}): ")
        if not self.findings:
            return head + "nothing found"
        counts = ", ".join(f"{sum(f.kind == k for f in self.findings)} {k}" for k in KINDS
                           if any(f.kind == k for f in self.findings))
        lines = [head + counts]
        for kind in KINDS:
            found = [f for f in self.findings if f.kind == kind]
            lines += [f"- {kind}: {f.message}" for f in found[:self.shown]]
            if len(found) > self.shown:
                lines.append(f"- ... {len(found) - self.shown} more {kind} findings (all of them: .of_kind({kind!r}))")
        return "\n".join(lines)


# -- thresholds ----------------------------------------------------------------------------------------
def _threshold(name: str, x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive finite number, not {x!r}")
    return float(x)


def check_thresholds(vanish: object, explode: object, saturate: object) -> tuple[float, float, float]:
    """The three thresholds as floats, or a ValueError naming the one that is wrong."""
    v, e, s = _threshold("vanish", vanish), _threshold("explode", explode), _threshold("saturate", saturate)
    if v >= e:
        raise ValueError(f"vanish ({v!r}) must be smaller than explode ({e!r})")
    return v, e, s


# -- the analysis --------------------------------------------------------------------------------------
class _Graph:
    """``root``'s graph numbered once: nodes in topological order, paths from each node to the root."""

    def __init__(self, root: Value) -> None:
        self.root = root
        self.order = topological_order(root)
        self.id = {id(v): i for i, v in enumerate(self.order)}
        # paths from each node to the root (Python ints: they can be exponentially many)
        self.to_root = [0] * len(self.order)
        self.to_root[-1] = 1
        for i in range(len(self.order) - 1, -1, -1):
            for p in self.order[i].parents:
                self.to_root[self.id[id(p)]] += self.to_root[i]
        token = state.enter(anomaly=False)  # a report, not an error: never raise on what it reports
        try:
            self.grad = [s.grad for s in steps(root, leaves_hold=False, record=False)][::-1]
        finally:
            state.leave(token)

    def factor(self, child: int, k: int, paths: int = 1, of: int = 1) -> Factor:
        v = self.order[child]
        p, local = v._edges[2 * k], v._edges[2 * k + 1]
        return Factor(v, p, k, local, child, self.id[id(p)], paths, of)

    def head(self, starts: Sequence[int]) -> set[tuple[int, int]]:
        """The edges ``(child, k)`` on every path from every node of ``starts`` to the root (the loss's
        own factors, say): they scale every one of those gradients alike."""
        count = dict.fromkeys(starts, 1)
        total = sum(self.to_root[i] for i in count)
        out = set()
        for i in range(min(count, default=len(self.order)), len(self.order)):
            for k, p in enumerate(self.order[i].parents):
                j = self.id[id(p)]
                if j in count:
                    count[i] = count.get(i, 0) + count[j]
                    if count[j] * self.to_root[i] == total:
                        out.add((i, k))
        return out

    def cause(self, start: int, kind: str, head: set[tuple[int, int]]) -> tuple[Optional[Factor], float, int]:
        """The factor to blame for ``kind`` at node ``start``, the largest ``|product|`` of a path, and
        how many factors of that path are larger than 1 in magnitude.

        One pass from ``start`` towards the root counts the paths from ``start`` to each node and
        keeps, for each node, two paths from ``start``: the one with the largest ``|product|`` (in
        logs, so a deep graph neither overflows nor underflows) and the widest one, whose smallest
        ``|factor|`` is the largest. An edge lies on every path when the paths into its parent times
        those out of its child are all the paths.

        Vanishing: the smallest factor of the widest path, so every path crosses a factor at least
        that small (an edge on every path preferred among equals); if it is not below 1, a path
        multiplies no factor below 1, and a small gradient means that the paths cancel. Exploding: the
        largest factor of the path carrying the most, leaving out the ``head`` edges (the loss's own
        slope, which grows with the error) unless no other factor is above 1.
        """
        order, ids = self.order, self.id
        count = {start: 1}
        best: dict[int, tuple[float, int, int]] = {start: (0.0, -1, -1)}  # log|product|, from, k
        wide: dict[int, tuple[float, int, int]] = {start: (math.inf, -1, -1)}  # smallest |factor|, from, k
        total = self.to_root[start]
        for i in range(start + 1, len(order)):
            pairs = iter(order[i]._edges)
            for k, (p, local) in enumerate(zip(pairs, pairs)):
                j = ids[id(p)]
                if j not in count:
                    continue
                count[i] = count.get(i, 0) + count[j]
                logged = _log_abs(local) + best[j][0]
                if i not in best or logged > best[i][0]:
                    best[i] = (logged, j, k)
                width = min(wide[j][0], abs(local) if local == local else math.inf)
                if i not in wide or width > wide[i][0]:
                    wide[i] = (width, j, k)
        last = len(order) - 1
        if last not in best or start == last:
            return None, 1.0, 0
        path = self._path(best, start)
        peak = math.exp(best[last][0]) if best[last][0] < 709 else math.inf
        size = [_magnitude(order[i]._edges[2 * k + 1]) for i, k, _ in path]
        above = sum(s > 1 for s in size)

        def share(edge: tuple[int, int, int]) -> Factor:
            child, k, parent = edge
            return self.factor(child, k, count[parent] * self.to_root[child], total)

        if kind == "vanishing":
            narrow = wide[last][0]
            edges = [e for e in self._path(wide, start) if _magnitude(order[e[0]]._edges[2 * e[1] + 1]) == narrow]
            everywhere = [e for e in edges if count[e[2]] * self.to_root[e[0]] == total]
            return share((everywhere or edges)[0]), peak, above
        else:
            own = [e for e in range(len(path)) if path[e][:2] not in head and size[e] > 1]
            pick = max(own or range(len(path)), key=lambda e: size[e] if size[e] != math.inf else 0.0)
        return share(path[pick]), peak, above

    @staticmethod
    def _path(back: dict[int, tuple[float, int, int]], start: int) -> list[tuple[int, int, int]]:
        """The edges ``(child, k, parent)`` of the path kept by ``back`` from ``start``, root end first."""
        out = []
        node = max(back)
        while node != start:
            _, j, k = back[node]
            out.append((node, k, j))
            node = j
        return out


def _magnitude(x: float) -> float:
    """``|x|``, a nan counted as infinitely large (it narrows nothing; the nan is reported apart)."""
    return abs(x) if x == x else math.inf


def _log_abs(x: float) -> float:
    if x != x:
        return -math.inf  # a nan factor carries nothing worth ranking (the nan is reported apart)
    return math.log(abs(x)) if x else -math.inf


def _finite(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))


def diagnose(root: Value, *, wrt: Optional[Sequence[Value]] = None, vanish: float = VANISH,
             explode: float = EXPLODE, saturate: float = SATURATE) -> Diagnosis:
    """Vanishing and exploding gradients, saturated and dead units, NaN and infinity origins in ``root``'s graph.

    ``wrt`` are the parameters whose gradients are judged (default: every leaf that is not a
    constant, inputs included). Thresholds: a ``|gradient|`` below ``vanish`` vanishes, above
    ``explode`` explodes; a tanh or sigmoid whose local derivative is below ``saturate`` is
    saturated. See the module's documentation for what each finding says; ``str(report)`` is the
    text and ``report.data()`` plain data.

    >>> from autodiff import Value
    >>> w = Value(-2.0, label="w")
    >>> h = (w * 3.0).relu()
    >>> h.label = "h"
    >>> print(diagnose(h, wrt=[w]))  # doctest: +NORMALIZE_WHITESPACE
    diagnosis of h (vanish < 1e-05, explode > 1000, saturate < 0.01): 1 vanishing, 1 dead
    - vanishing: gradient of h vanishes at w (|dh/dw| = 0 < 1e-05): dh/d(w * 3) = 1 if (w * 3) > 0 else 0 = 0
      on every path into w
    - dead: h = relu(w * 3) is dead: its input w * 3 = -6 <= 0, so dh/d(w * 3) = 0 and nothing flows back through it
    """
    if not isinstance(root, Value):
        raise TypeError(f"diagnose needs a Value, not {type(root).__name__}")
    vanish, explode, saturate = check_thresholds(vanish, explode, saturate)
    g = _Graph(root)
    params = _parameters(g, wrt)
    origin = nan_origin(root)
    findings = origin.findings()
    findings += _gradient_findings(g, params, vanish, explode)
    findings += _unit_findings(g, saturate)
    return Diagnosis(root, findings, vanish, explode, saturate, origin)


def blame(root: Value, wrt: Value, kind: str = "vanishing", *, pass_over: Sequence[Value] = ()) -> Optional[Factor]:
    """The factor of the chain rule to blame for ``d root / d wrt`` being small (``kind="vanishing"``)
    or large (``"exploding"``), as :func:`autodiff.diagnose` picks it; None when no path leads from
    ``wrt`` to ``root``. For ``"exploding"``, the edges into the nodes of ``pass_over`` (a loss's
    own nodes, whose slope grows with the error) are passed over unless no other factor is above 1.

    >>> from autodiff import Value
    >>> w = Value(0.1, label="w")
    >>> h = (w * 40.0).tanh()
    >>> h.label = "h"
    >>> blame(h, w).text()
    'dh/d(w * 40) = 1 - h * h = 0.00134095'
    """
    if kind not in ("vanishing", "exploding"):
        raise ValueError(f"kind must be 'vanishing' or 'exploding', not {kind!r}")
    if not isinstance(root, Value) or not isinstance(wrt, Value):
        raise TypeError("blame(root, wrt) takes two Values")
    g = _Graph(root)
    i = g.id.get(id(wrt))
    if i is None:
        return None
    skip = {g.id[id(v)] for v in pass_over if id(v) in g.id}
    head = {(c, k) for c in skip for k in range(len(g.order[c].parents))}
    return g.cause(i, kind, head)[0]


def _parameters(g: _Graph, wrt: Optional[Sequence[Value]]) -> list[Value]:
    if wrt is None:
        return [v for v in g.order if not v.parents and not v.is_constant and v is not g.root]
    if isinstance(wrt, Value) or not hasattr(wrt, "__iter__"):
        raise TypeError(f"wrt must be a list of Values, not {type(wrt).__name__}")
    params = list(wrt)
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"wrt: item #{i} must be a Value, not {type(p).__name__}: {p!r}")
    return params


def _gradient_findings(g: _Graph, params: list[Value], vanish: float, explode: float) -> list[Finding]:
    """Vanishing and exploding parameters, those with the same cause together."""
    judged = [(p, g.id.get(id(p))) for p in params]
    head = g.head([i for _, i in judged if i is not None])
    groups: dict[Any, list[tuple[Value, float, Optional[Factor], float, int]]] = {}
    for p, i in judged:
        grad = g.grad[i] if i is not None else 0.0
        if not _finite(grad):
            continue  # reported by the non-finite gradient finding
        kind = "vanishing" if abs(grad) < vanish else "exploding" if abs(grad) > explode else None
        if kind is None:
            continue
        factor, peak, above = g.cause(i, kind, head) if i is not None else (None, 0.0, 0)
        cancelled = kind == "vanishing" and factor is not None and abs(factor.local) >= 1
        # the same factor, or a factor with the same formula and value (the input h1[0] = 0 of every
        # W2[0][j]), on the same share of paths: one cause
        why = (factor.formula, repr(factor.local), factor.everywhere) if factor is not None else None
        key = (kind, why if not cancelled else None, cancelled)
        groups.setdefault(key, []).append((p, grad, factor, peak, above))
    universe = [fmt.name(p) for p in params]
    return [_gradient_finding(g, kind, cancelled, members, universe, vanish if kind == "vanishing" else explode)
            for (kind, _, cancelled), members in groups.items()]


def _gradient_finding(g: _Graph, kind: str, cancelled: bool, members: list[tuple[Value, float, Optional[Factor], float, int]],
                      universe: list[str], limit: float) -> Finding:
    """One finding for parameters whose gradient vanishes (or explodes) for the same reason."""
    root = fmt.name(g.root)
    names = compact_names([fmt.name(m[0]) for m in members], universe)
    vanishing = kind == "vanishing"
    # the member nearest the threshold stands for the group: "all of them are at most this"
    p, grad, factor, peak, above = (max if vanishing else min)(members, key=lambda m: abs(m[1]))
    bound = (" at most" if vanishing else " at least") if len(members) > 1 else ""
    head = (f"gradient of {root} {'vanishes' if vanishing else 'explodes'} at {', '.join(names)} "
            f"(|{fmt.derivative(root, fmt.name(p))}| = {fmt.number(abs(grad))}{bound} "
            f"{'<' if vanishing else '>'} {fmt.number(limit)})")
    into = "them" if len(members) > 1 else fmt.name(p)
    if factor is None:
        why = f"{fmt.name(p)} is not in the graph of {root}: no path carries a gradient to it"
    elif cancelled:
        why = (f"no factor is small: its {factor.of} paths cancel out (the largest |product| of a path is "
               f"{fmt.number(peak)}, their sum {fmt.number(grad)})")
    elif factor.everywhere:
        why = f"{factor.text()} on every path into {into}"
        if len({(m[2].child_id, m[2].k) for m in members if m[2] is not None}) > 1:
            why = f"{factor.text()}, and the same factor {factor.formula} on every path into each of the others"
    elif vanishing:
        why = (f"{factor.text()}: every path into {into} crosses a factor this small or smaller "
               f"(this one on {factor.paths} of the {factor.of} paths into {fmt.name(p)})")
    else:
        why = (f"{factor.text()} on the path that carries the most (product {fmt.number(peak)}, "
               f"{above} of its factors above 1), crossed by {factor.paths} of the {factor.of} paths into "
               f"{fmt.name(p)}")
    ids = tuple(g.id[id(m[0])] for m in members if id(m[0]) in g.id)
    factors = list(dict.fromkeys(m[2] for m in members if m[2] is not None and not cancelled))
    edges = tuple((f.parent_id, f.child_id, f.k) for f in factors)
    nodes = tuple(dict.fromkeys(ids + tuple(i for f in factors for i in (f.child_id, f.parent_id))))
    return Finding(kind, f"{head}: {why}", nodes, edges, factor, abs(grad), tuple(names))


def _unit_findings(g: _Graph, saturate: float) -> list[Finding]:
    """Saturated tanh and sigmoid units and closed (dead) relus, in forward order."""
    out = []
    for i, v in enumerate(g.order):
        if v.op not in _SQUASHING and v.op != "relu":
            continue
        z = v.parents[0]
        factor = g.factor(i, 0)
        unit = _unit(v)
        edges = ((factor.parent_id, i, 0),)
        if v.op == "relu" and z.data <= 0:
            message = (f"{unit} is dead: its input {fmt.name(z)} = {fmt.number(z.data)} <= 0, so "
                       f"{factor.name} = 0 and nothing flows back through it")
            out.append(Finding("dead", message, (i, factor.parent_id), edges, factor, z.data, (fmt.name(v),)))
        elif v.op in _SQUASHING and abs(factor.local) < saturate:
            message = (f"{unit} is saturated: its input {fmt.name(z)} = {fmt.number(z.data)}, so {factor.text()} "
                       f"< {fmt.number(saturate)}: every gradient through it is scaled by that")
            out.append(Finding("saturated", message, (i, factor.parent_id), edges, factor, factor.local,
                               (fmt.name(v),)))
    return out


def _unit(v: Value) -> str:
    """``h1[2] = tanh(z1[2])``, or just the formula for a nameless node."""
    formula = RULES[v.op].formula([fmt.name(p) for p in v.parents])
    return f"{fmt.name(v)} = {formula}" if v.label else formula


# -- NaN and infinity -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    """Where a non-finite number first appeared.

    ``stage`` is ``"forward"`` (a node's value) or ``"backward"`` (a gradient). ``node`` made it
    (``node_id`` as in :func:`autodiff.topological_order`) with ``op`` from ``operands`` (name,
    value); ``created_at`` is the ``file:line`` of user code that made the node when it was
    recorded (:func:`autodiff.detect_anomaly` or :func:`autodiff.record_origins`), else None; ``path`` the
    names from the node to the root. For the backward stage, ``edge`` is ``(parent_id, child_id,
    k)`` of the edge that first sent a non-finite amount, ``local`` its local derivative and
    ``grad`` the child's gradient.
    """

    stage: str
    node: Value
    node_id: int
    value: float
    op: str
    operands: tuple[tuple[str, float], ...]
    created_at: Optional[str]
    path: tuple[str, ...]
    message: str
    edge: Optional[tuple[int, int, int]] = None
    local: Optional[float] = None
    grad: Optional[float] = None

    def data(self) -> dict[str, Any]:
        """Plain data (ids, names, numbers) for a page to mark."""
        return {"stage": self.stage, "node": self.node_id, "value": self.value, "op": self.op,
                "operands": [list(o) for o in self.operands], "created_at": self.created_at,
                "path": list(self.path), "message": self.message,
                "edge": list(self.edge) if self.edge else None, "local": self.local, "grad": self.grad}


@dataclass(frozen=True)
class NanOrigin:
    """The first non-finite value in forward order (``forward``) and the first edge of backprop
    that sent a non-finite gradient (``backward``); either is None when there is none."""

    forward: Optional[Origin]
    backward: Optional[Origin]

    @property
    def found(self) -> bool:
        """True when some value or gradient is not finite."""
        return self.forward is not None or self.backward is not None

    def findings(self) -> list[Finding]:
        """The origins as :class:`Finding` objects (kinds ``non-finite`` and ``non-finite gradient``)."""
        out = []
        if self.forward is not None:
            o = self.forward
            out.append(Finding("non-finite", o.message, (o.node_id,), (), None, o.value, (fmt.name(o.node),)))
        if self.backward is not None:
            o = self.backward
            edges = (o.edge,) if o.edge else ()
            nodes = (o.node_id,) + ((o.edge[0],) if o.edge else ())
            out.append(Finding("non-finite gradient", o.message, nodes, edges, None, o.value, (fmt.name(o.node),)))
        return out

    def __str__(self) -> str:
        if not self.found:
            return "every value and every gradient is finite"
        return "\n".join(o.message for o in (self.forward, self.backward) if o is not None)


def _created_at(v: Value) -> Optional[str]:
    return _get_extra(v, "origin")  # type: ignore[no-any-return]


def _path_names(root: Value, v: Value) -> tuple[str, ...]:
    return tuple(fmt.name(n) for n in trace(root, v).paths[0].nodes)


def nan_origin(root: Value) -> NanOrigin:
    """Where the first NaN or infinity of ``root``'s graph comes from, forward and backward.

    Forward: the first node, in :func:`autodiff.topological_order`, whose value is not finite
    (its operands are all finite, or it is a leaf): the op and operands that made it, the line of
    user code that created it when it was recorded (build the graph inside :func:`record_origins`,
    which records every node's line and raises nothing, or :func:`autodiff.detect_anomaly`), and its
    path to the root. Backward: the reference walk (:func:`autodiff.steps`) run from the root,
    and the first edge whose local derivative, or its product with the gradient, or the sum it
    was added into, is not finite (edges into constants, whose gradients no one reads, are passed
    over). No ``.grad`` is touched; anomaly mode is off while it looks.

    >>> from autodiff import Value
    >>> x = Value(0.0, label="x")
    >>> r = (x ** 0.5) * 2.0
    >>> r.label = "r"
    >>> report = nan_origin(r)
    >>> report.forward is None, report.backward.local
    (True, inf)
    """
    if not isinstance(root, Value):
        raise TypeError(f"nan_origin needs a Value, not {type(root).__name__}")
    order = topological_order(root)
    return NanOrigin(_forward_origin(root, order), _backward_origin(root, order))


def _operands(v: Value) -> tuple[tuple[str, float], ...]:
    return tuple((fmt.name(p), p.data) for p in v.parents)


def _forward_origin(root: Value, order: list[Value]) -> Optional[Origin]:
    for i, v in enumerate(order):
        if _finite(v.data):
            continue
        where = _created_at(v)
        path = _path_names(root, v)
        if v.parents:
            made = RULES[v.op].formula([fmt.name(p) for p in v.parents],
                                       fmt.number(v.arg) if v.arg is not None else "k")
            values = ", ".join(f"{n} = {fmt.number(x)}" for n, x in _operands(v))
            what = f"{fmt.name(v) + ' = ' if v.label else ''}{made} = {fmt.number(v.data)}: op {v.op!r} made it from finite operands ({values})"
        else:
            what = f"{fmt.name(v)} = {fmt.number(v.data)} is a leaf: it was given this value"
        message = (f"first non-finite value in forward order: {what}; "
                   f"{'created at ' + where if where else 'creation line not recorded (build the graph inside autodiff.diagnose.record_origins())'}; "
                   f"path to {fmt.name(root)}: {' -> '.join(path)}")
        return Origin("forward", v, i, v.data, v.op, _operands(v), where, path, message)
    return None


def _backward_origin(root: Value, order: list[Value]) -> Optional[Origin]:
    last = len(order) - 1
    token = state.enter(anomaly=False)
    try:
        for s in steps(root, leaves_hold=False):
            if not _finite(s.grad):
                return None  # arrived from an edge already reported, or the walk was given it (a hook)
            for c in s.contributions:
                if (_finite(c.amount) and _finite(c.after)) or order[c.parent_id].is_constant:
                    continue  # a constant's gradient is never read: not where a NaN matters
                v, p = s.node, order[c.parent_id]
                assert v is not None
                if not _finite(c.local):
                    why = (f"its local derivative {fmt.derivative(fmt.name(v), fmt.name(p))} = "
                           f"{local_formula(v, c.k)} = {fmt.number(c.local)}, times {fmt.name(v)}'s gradient "
                           f"{fmt.number(s.grad)}")
                    if not _finite(v.data) or any(not _finite(x.data) for x in v.parents):
                        why += " (read from a non-finite value: see the forward origin)"
                elif not _finite(c.amount):
                    why = (f"local {fmt.number(c.local)} * grad {fmt.number(s.grad)} = {fmt.number(c.amount)} "
                           f"overflowed")
                else:
                    why = (f"adding {fmt.number(c.amount)} to the {fmt.number(c.before)} {fmt.name(p)} already held "
                           f"overflowed to {fmt.number(c.after)}")
                where = _created_at(v)
                path = _path_names(root, v)
                message = (f"first non-finite gradient in backprop: the edge {fmt.name(v)} -> {fmt.name(p)} "
                           f"(op {v.op!r}) sent {fmt.number(c.amount)} to {fmt.name(p)}: {why}; "
                           f"{'created at ' + where if where else 'creation line not recorded'}; "
                           f"path to {fmt.name(root)}: {' -> '.join(path)}")
                bad = c.amount if not _finite(c.amount) else c.after
                return Origin("backward", v, last - s.index, bad, v.op, _operands(v), where, path, message,
                              (c.parent_id, last - s.index, c.k), c.local, s.grad)
    finally:
        state.leave(token)
    return None


# -- recording where nodes are made ----------------------------------------------------------------------
@contextlib.contextmanager
def record_origins() -> Iterator[None]:
    """Inside this block, every node made records the ``file:line`` of the user code that made it
    (``node.origin``, as :func:`autodiff.detect_anomaly` records it), and nothing raises.

    Anomaly mode raises at the first NaN, so a graph holding one cannot be built under it; built
    here, it can, and :func:`nan_origin` then names the line that made the first one. Like anomaly
    mode it belongs to the thread (and context) that opens it, and it costs a look at the call
    stack per node: use it to debug, not to train.

    >>> from autodiff import Value
    >>> with record_origins():
    ...     x = Value(-1.0, label="x")
    ...     y = x ** 0.5
    Traceback (most recent call last):
    ...
    ValueError: **: non-integer power of a negative base ('x' = -1.0, exponent = 0.5)
    >>> with record_origins():
    ...     big = Value(1e308, label="big") * 10
    >>> big.data, big.origin.endswith(":2")
    (inf, True)
    """
    token = state.enter(origins=True)
    try:
        yield
    finally:
        state.leave(token)
