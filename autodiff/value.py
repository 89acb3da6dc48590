"""The scalar node of the graph: its number, its gradient, and how it was made.

A node keeps its operands (``parents``, in operand order) and the local derivative of its value
with respect to each of them (``locals``), computed once from :data:`autodiff.ops.RULES` when the
node is made. Both live in one flat tuple of edges, ``(parent, local, parent, local, ...)``:
backprop is one loop over those pairs, and any tool can ask any edge for its local derivative.

>>> a = Value(3.0, label="a")
>>> b = a * a + a
>>> b.backward()
>>> a.grad
7.0
>>> b.parents[0].locals
(3.0, 3.0)
"""

from __future__ import annotations

import numbers
import os
import sys
from typing import Any, Callable, Iterable, Optional, Union, cast

from .ops import NAMESPACE, RULES, Rule

__all__ = ["Value", "RemovableHandle"]

Number = Union[int, float]
Operand = Union["Value", int, float]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_GENERATED = "<autodiff generated"  # the file name of code made from the rule table


def _real(x: object, what: str) -> float:
    """``x`` as a float if it is a real number (not a bool), else a TypeError naming its type."""
    if type(x) is float or type(x) is int:
        return float(x)
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what} must be a real number (int or float), not {type(x).__name__}: {x!r}")
    return float(x)


def _describe(v: "Value") -> str:
    name = repr(v.label) if v.label else ("a constant" if v.is_constant else "an unlabelled node")
    return f"{name} = {v.data!r}"


def _domain_error(op: str, operands: tuple["Value", ...], kind: type, message: str, k: Any = None) -> Exception:
    parts = ", ".join(_describe(v) for v in operands)
    if k is not None:
        parts += f", exponent = {k!r}"
    return kind(f"{op}: {message} ({parts})")


def _user_frame() -> str:
    """File and line of the innermost caller outside this package (anomaly mode's 'created at')."""
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_GENERATED)
        or os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR
    ):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _check_forward(v: "Value") -> None:
    d = v.data
    if d != d or d in (float("inf"), float("-inf")):
        operands = ", ".join(_describe(p) for p in v.parents)
        if v.arg is not None:
            operands += f", exponent = {v.arg!r}"
        raise FloatingPointError(
            f"anomaly: op {v.op!r} produced {d!r} from ({operands}); created at {v._origin}"
        )


# The namespace the generated op methods run in. It also holds the process-wide switches they
# read on the hot path as plain globals; only autodiff.detect_anomaly, autodiff.name_scope and
# hook registration change them.
_ENV: dict[str, Any] = dict(NAMESPACE)
_ENV.update(_SCOPE=None, _ANOMALY=False, _LIVE_HOOKS=0)


def _generate(rule: Rule, method: str) -> Callable[..., "Value"]:
    """The Value method for ``rule``: coerce the operand, check the domain, make the node.

    Written out from the rule's text so that the hot path has no call per op beyond the method
    itself; ``autodiff.ops.RULES`` stays the one place each derivative is written.
    """
    binary = rule.arity == 2
    names = ["a", "b"] if binary else ["a"]
    params = "self, other" if (binary or rule.constant) else "self"
    lines = [f"def generated({params}):"]
    if binary:
        lines += [
            "    if not isinstance(other, Value):",
            "        other = _constant(other)",
            "        if other is None:",
            "            return NotImplemented",
            "    a = self.data",
            "    b = other.data",
        ]
        uses = ["    self._uses += 1", "    other._uses += 1"]
        operands = "(self, other)"
    else:
        lines.append("    a = self.data")
        uses = ["    self._uses += 1"]
        operands = "(self,)"
        if rule.constant:
            lines.append("    k = other")
    for condition, kind, message in rule.check_exprs(names, "k"):
        lines.append(f"    if {condition}:")
        extra = ", k" if rule.constant else ""
        lines.append(f"        raise _domain_error({rule.name!r}, {operands}, {kind.__name__}, {message!r}{extra})")
    edges = ", ".join(f"{operand}, ({local})" for operand, local in zip(["self", "other"], rule.local_exprs(names, "k", "out")))
    lines += [
        f"    out = {rule.value_expr(names, 'k', 'out')}",
        "    v = OpResult()",
        "    v.data = out",
        "    v.grad = 0.0",
        f"    v.op = {rule.name!r}",
        f"    v._edges = ({edges},)",
        *(["    v._arg = k"] if rule.constant else []),
        "    v._pending = 0",
        "    v._uses = 0",
        "    if _SCOPE is not None:",
        "        v._scope = _SCOPE",
        "    if _ANOMALY:",
        "        v._origin = _user_frame()",
        "        _check_forward(v)",
        *uses,  # once the node stands: a refused op leaves its operands' counts alone
        "    return v",
    ]
    code = compile("\n".join(lines), f"{_GENERATED} {method}>", "exec")
    exec(code, _ENV)  # our own table text, never user input
    fn = _ENV.pop("generated")
    fn.__name__, fn.__qualname__ = method, f"Value.{method}"
    fn.__doc__ = f"The {rule.name!r} op: {rule.formula(['self', 'other'][: rule.arity])} (generated from RULES[{rule.name!r}])."
    return fn  # type: ignore[no-any-return]


class RemovableHandle:
    """Returned by :meth:`Value.register_hook`; ``remove()`` takes the hook off again."""

    __slots__ = ("_value", "_fn")

    def __init__(self, value: "Value", fn: Callable[["Value"], Any]) -> None:
        self._value = value
        self._fn = fn

    def remove(self) -> None:
        hooks = getattr(self._value, "_hooks", None)
        if hooks and self._fn in hooks:
            hooks.remove(self._fn)
            _ENV["_LIVE_HOOKS"] -= 1


class Value:
    """A scalar in the graph: ``data``, ``grad``, and the op, operands and local derivatives that made it.

    >>> x = Value(2.0, label="x")
    >>> y = (x * 3 + 1).tanh()
    >>> y.op, y.parents[0].op
    ('tanh', '+')
    >>> y.backward()
    >>> round(x.grad, 6) == round(3 * (1 - y.data ** 2), 6)
    True
    """

    # Every node stores its number, gradient, op, edges (operands and local derivatives,
    # interleaved) and the two counters backward runs on; the fields after those only when set.
    __slots__ = ("data", "grad", "op", "_edges", "_pending", "_uses",
                 "_label", "_arg", "_scope", "_hooks", "_origin", "_order", "_backward_order")

    data: float
    grad: float
    op: str
    _edges: tuple[Any, ...]  # (parent, local, parent, local, ...)
    _pending: int
    _uses: int
    _label: str
    _arg: float
    _scope: tuple[str, ...]
    _hooks: list[Callable[["Value"], Optional[float]]]
    _origin: str
    _order: list["Value"]
    _backward_order: list["Value"]

    def __init__(self, data: Number, label: str = "") -> None:
        self.data = _real(data, "Value data")
        self.grad = 0.0
        if label != "":  # "" is the default an unset label reads as; the setter checks the rest
            self.label = label
        self.op = ""
        self._edges = ()
        self._pending = 0  # a counter that walks use; 0 between walks
        self._uses = 0  # how many ops have taken this node as an operand (counted as they are made)
        scope = _ENV["_SCOPE"]
        if scope is not None:
            self._scope = scope
        if _ENV["_ANOMALY"]:
            self._origin = _user_frame()

    # -- the edges ------------------------------------------------------------------------------
    @property
    def parents(self) -> tuple["Value", ...]:
        """The operands, in operand order (a repeated operand appears twice); ``()`` for a leaf."""
        return self._edges[0::2]  # type: ignore[no-any-return]

    @property
    def locals(self) -> tuple[float, ...]:
        """d self / d parent for each of :attr:`parents`, aligned with them, computed when the node was made."""
        return self._edges[1::2]  # type: ignore[no-any-return]

    # -- fields most nodes leave unset ---------------------------------------------------------
    # Stored only when given: making a node is the hot path of every forward pass, and most
    # nodes have no label, no scope and no exponent. (A class-wide __getattr__ would give the
    # same defaults, but it stops CPython from specialising every attribute read of a Value.)
    @property
    def label(self) -> str:
        """The node's name in drawings, traces and messages (``""``: unnamed); writable."""
        return getattr(self, "_label", "")

    @label.setter
    def label(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"Value label must be a str, not {type(text).__name__}")
        self._label = text

    @property
    def scope(self) -> Optional[tuple[str, ...]]:
        """The :func:`autodiff.name_scope` names active when the node was made, outermost first (or None)."""
        return getattr(self, "_scope", None)

    @property
    def arg(self) -> Optional[float]:
        """The exponent of a ``**`` node (kept on the node, not an operand); None for every other op."""
        return getattr(self, "_arg", None)

    # -- what kind of node ---------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        """True for a node no op made: an input, a parameter or a constant."""
        return not self._edges

    @property
    def is_constant(self) -> bool:
        """True for a plain number that appeared in an expression (``x * 2``'s ``2``)."""
        return False

    @property
    def origin(self) -> str:
        """Where user code created this node (recorded only inside :func:`autodiff.detect_anomaly`)."""
        return getattr(self, "_origin", "<not recorded: create the node inside autodiff.detect_anomaly()>")

    # -- arithmetic: generated from the rule table (see _generate) --------------------------
    __add__ = _generate(RULES["+"], "__add__")
    __sub__ = _generate(RULES["-"], "__sub__")
    __mul__ = _generate(RULES["*"], "__mul__")
    __truediv__ = _generate(RULES["/"], "__truediv__")
    __neg__ = _generate(RULES["neg"], "__neg__")
    _pow_value = _generate(RULES["pow"], "_pow_value")
    _pow_number = _generate(RULES["**"], "_pow_number")
    exp = _generate(RULES["exp"], "exp")
    log = _generate(RULES["log"], "log")
    tanh = _generate(RULES["tanh"], "tanh")
    sigmoid = _generate(RULES["sigmoid"], "sigmoid")
    relu = _generate(RULES["relu"], "relu")

    def __radd__(self, other: Number) -> "Value":
        c = _constant(other)
        return NotImplemented if c is None else c.__add__(self)

    def __rsub__(self, other: Number) -> "Value":
        c = _constant(other)
        return NotImplemented if c is None else c.__sub__(self)

    def __rmul__(self, other: Number) -> "Value":
        c = _constant(other)
        return NotImplemented if c is None else c.__mul__(self)

    def __rtruediv__(self, other: Number) -> "Value":
        c = _constant(other)
        return NotImplemented if c is None else c.__truediv__(self)

    def __pow__(self, other: Operand) -> "Value":
        """``self ** other``: a number exponent is kept on the node (op ``**``), a Value one is an operand (op ``pow``)."""
        if isinstance(other, Value):
            return self._pow_value(other)
        try:
            k = _real(other, "exponent")
        except TypeError:
            return NotImplemented
        return self._pow_number(k)

    def __rpow__(self, other: Number) -> "Value":
        c = _constant(other)
        return NotImplemented if c is None else c._pow_value(self)

    @staticmethod
    def sum(terms: Iterable[Operand]) -> "Value":
        """All ``terms`` added left to right in one node (op ``sum``); each edge's local derivative is 1.

        A neuron's weighted sum is one node instead of a chain of ``+``: half the nodes, and
        drawings and traces that read like the formula. Plain numbers become constants.

        >>> a, b = Value(1.5, label="a"), Value(2.0, label="b")
        >>> s = Value.sum([a, b, 0.5])
        >>> s.op, s.data, s.locals
        ('sum', 4.0, (1.0, 1.0, 1.0))
        """
        given = list(terms)
        if not given:
            raise ValueError("Value.sum needs at least one term")
        for t in given:
            if not isinstance(t, Value):
                given = [_sum_term(i, t) for i, t in enumerate(given)]
                break
        parents = cast("list[Value]", given)  # every term is a Value by now
        out, local = _RULE_SUM.apply(*[p.data for p in parents])
        v = OpResult()
        v.data, v.grad, v.op = out, 0.0, "sum"
        edges: list[Any] = [None] * (2 * len(parents))
        edges[0::2], edges[1::2] = parents, local  # (parent, local, parent, local, ...)
        v._edges = tuple(edges)
        v._pending, v._uses = 0, 0
        if _ENV["_SCOPE"] is not None:
            v._scope = _ENV["_SCOPE"]
        if _ENV["_ANOMALY"]:
            v._origin = _user_frame()
            _check_forward(v)
        for p in parents:
            p._uses += 1
        return v

    def __pos__(self) -> "Value":
        return self

    def __float__(self) -> float:
        return self.data

    # -- gradients -----------------------------------------------------------------------------
    def backward(self) -> None:
        """d self / d node into every ancestor's ``grad``: see :func:`autodiff.backward`."""
        _graph_backward(self)

    def register_hook(self, fn: Callable[["Value"], Optional[float]]) -> RemovableHandle:
        """Call ``fn(self)`` once this node's gradient is final during backward (or stepping).

        If ``fn`` returns a number, it replaces the gradient before it flows on, as in PyTorch.
        """
        if not callable(fn):
            raise TypeError(f"register_hook needs a callable, not {type(fn).__name__}")
        hooks = getattr(self, "_hooks", None)
        if hooks is None:
            hooks = self._hooks = []
        hooks.append(fn)
        _ENV["_LIVE_HOOKS"] += 1
        return RemovableHandle(self, fn)

    def __repr__(self) -> str:
        return f"Value(label={self.label!r}, op={self.op!r}, data={_fmt(self.data)}, grad={_fmt(self.grad)})"


# The two kinds of node the library makes itself. Each is a Value whose fields are filled in by the
# code that makes it, so it skips Value.__init__ and its checks: with object's own __init__, CPython
# makes one without running any Python code, about 20 ns sooner, on the hot path of every op.


class OpResult(Value):
    """A node an op made (``op`` is not empty): what ``a * b``, ``v.tanh()`` or ``Value.sum`` return.

    Only the ops make these; check what a node is with ``isinstance(v, Value)`` and ``v.is_leaf``.
    """

    __slots__ = ()
    __init__ = object.__init__  # type: ignore[assignment]


class Constant(Value):
    """A plain number that took part in an op; drawn as a constant, never a parameter."""

    __slots__ = ()
    __init__ = object.__init__  # type: ignore[assignment]

    @property
    def is_constant(self) -> bool:
        return True


_RULE_SUM = RULES["sum"]


def _constant(x: object) -> Optional[Value]:
    """A leaf for the plain number ``x``; None when ``x`` is not a real number (so the op says NotImplemented)."""
    try:
        data = _real(x, "operand")
    except TypeError:
        return None
    c = Constant()
    c.data = data
    c.grad = 0.0
    c.op = ""
    c._edges = ()
    c._pending = 0
    c._uses = 0
    if _ENV["_SCOPE"] is not None:
        c._scope = _ENV["_SCOPE"]
    if _ENV["_ANOMALY"]:
        c._origin = _user_frame()
    return c


def _sum_term(i: int, t: object) -> Value:
    """Term ``i`` of :meth:`Value.sum` as a Value: numbers become constants, anything else is an error."""
    if isinstance(t, Value):
        return t
    c = _constant(t)
    if c is None:
        raise TypeError(f"Value.sum: term #{i} must be a Value or a real number, not {type(t).__name__}")
    return c


# Names the generated methods look up when they run.
_ENV.update(Value=Value, OpResult=OpResult, _constant=_constant, _domain_error=_domain_error,
            _user_frame=_user_frame, _check_forward=_check_forward, ZeroDivisionError=ZeroDivisionError,
            ValueError=ValueError)


def _fmt(x: float) -> str:
    if x != 0 and (abs(x) < 1e-4 or abs(x) >= 1e6):
        return f"{x:.4e}"
    return f"{x:.4f}"


# graph.py reads this module's switches; importing it last keeps the cycle harmless.
from .graph import backward as _graph_backward  # noqa: E402
