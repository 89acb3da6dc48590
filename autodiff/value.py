"""The scalar node of the graph: its number, its gradient, and how it was made.

A node keeps its operands (``parents``, in operand order) and the local derivative of its value
with respect to each of them (``locals``), computed once from :data:`autodiff.ops.RULES` when the
node is made. A node with one or two operands keeps them and their local derivatives in four
slots (``_a``, ``_la``, ``_b``, ``_lb``); a ``sum`` keeps one flat tuple ``(parent, local, parent,
local, ...)`` (``_more``). So a node is one object the cyclic collector tracks, not two (see
docs/performance.md); ``_edges`` gives every node's edges as that flat tuple, for the cold paths.
Any tool can ask any edge for its local derivative.

>>> a = Value(3.0, label="a")
>>> b = a * a + a
>>> b.backward()
>>> a.grad
7.0
>>> b.parents[0].locals
(3.0, 3.0)

The op methods (``__mul__``, ``tanh``, ...) are written out from the rule table, one per row
that names a ``method``, by :func:`_node_source`, the one place that says how a node is made.
Their source is registered with :mod:`linecache`, so ``inspect.getsource(Value.__mul__)`` and
tracebacks through an op show the code that ran.
"""

from __future__ import annotations

import linecache
import numbers
import os
import re
import sys
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union, cast

from . import fmt, state
from .ops import NAMESPACE, RULES, Rule

__all__ = ["Value", "RemovableHandle", "op_source"]

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
    if v.label:
        name = repr(v.label)
    elif v.is_leaf:
        name = "a constant" if v.is_constant else "a nameless input"
    else:
        name = repr(fmt.name(v))
    return f"{name} = {v.data!r}"


def _domain_error(op: str, operands: tuple["Value", ...], kind: type, message: str, k: Any = None) -> Exception:
    parts = ", ".join(_describe(v) for v in operands)
    if k is not None:
        parts += f", exponent = {k!r}"
    return kind(f"{op}: {message} ({parts})")


def _get_extra(v: "Value", name: str, default: Any = None) -> Any:
    """The field ``name`` of the few that a node keeps in its ``_extra`` dict, or ``default`` if unset."""
    extra = getattr(v, "_extra", None)
    return default if extra is None else extra.get(name, default)


def _set_extra(v: "Value", name: str, value: Any) -> None:
    """Set the field ``name`` in ``v``'s ``_extra`` dict (made with the first field set)."""
    extra = getattr(v, "_extra", None)
    if extra is None:
        v._extra = {name: value}
    else:
        extra[name] = value


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
            f"anomaly: op {v.op!r} produced {d!r} from ({operands}); created at {_get_extra(v, 'origin')}"
        )


def _stamp(v: "Value", switches: state.Switches) -> None:
    """What the switches add to a new node: its name scope, its origin (under anomaly mode or
    record_origins), and under anomaly mode a check of its value."""
    if switches.scope is not None:
        v._scope = switches.scope
    if switches.anomaly or switches.origins:
        _set_extra(v, "origin", _user_frame())
        if switches.anomaly and v._edges:
            _check_forward(v)


def _mark_scope(nodes: Iterable["Value"], names: tuple[str, ...]) -> None:
    """Give ``nodes`` the scope that ``name_scope(*names)`` around their ops would have given them.

    For code that makes a few nodes per scope many times over (``nn``'s neurons): entering and
    leaving a name scope costs more than the ops inside it, and while one is open every op stamps
    its node (a training step of a 2-16-16-1 network: forward 50 ms with a scope per neuron, 31 ms
    marked afterwards). Inside an enclosing scope the names are added to it, as nesting would.
    """
    outer = state.current().scope
    scope = names if outer is None else outer + names
    for v in nodes:
        v._scope = scope


_INT_COMPARED = re.compile(r"((?:[<>]=?|[=!]=) )(\d{1,15})(?![\w.])")


def _float_compares(text: str) -> str:
    """Generated code with each small integer literal that a comparison reads written as a float.

    ``x <= 0`` and ``x <= 0.0`` are the same test on a float ``x``, but CPython 3.11 specialises a
    comparison only when both sides are floats (or both ints): the rule table's ``relu`` reads
    ``{a} if not {a} <= 0 else 0.0``, and with an int 0 every relu ran the generic comparison.
    Only comparison operators followed by a literal of at most 15 digits (exact as a float) are
    touched. For expressions from the rule table, never for text with string literals in it.
    """
    return _INT_COMPARED.sub(r"\1\2.0", text)


# -- the one node builder ------------------------------------------------------------------------
# Every node the library makes is made by code written here: the op methods, Value.sum's node and
# the constants an op takes in. (Value.__init__ makes the leaves a user asks for, the same way.)
# The code is text, compiled once at import: no call per op beyond the method itself.

_NAMESPACE: dict[str, Any] = dict(NAMESPACE)  # the globals of the generated code
state.mirror(_NAMESPACE)  # _ACTIVE: open name_scope/detect_anomaly blocks anywhere in the process


def _make_node(v: str, data: str, op: str, edges: list[str], arg: Optional[str] = None, indent: str = "    ") -> list[str]:
    """The statements that make a node in variable ``v``: its number ``data``, its op, ``edges`` (the
    statements that store its operands and local derivatives, written for ``v``), the counters, and
    what open switch blocks add."""
    lines = [f"{v} = OpResult()",
             f"{v}.data = {data}",
             f"{v}.grad = 0.0",
             f"{v}.op = {op!r}",
             *edges,
             *([f"{v}._extra = {{'arg': {arg}}}"] if arg else []),
             f"{v}._pending = 0",
             f"{v}._uses = 0",
             "if _ACTIVE:",
             "    switches = _SWITCHES.get()",
             "    if switches is not None:",
             f"        _stamp({v}, switches)"]
    return [indent + line for line in lines]


_LEAF_EDGES = ["_a = None", "_more = ()"]  # a leaf's (and a constant's) edges: none


def _node_source(name: str, params: str, prologue: list[str], op: str, edges: list[str], arg: Optional[str],
                 uses: list[str], data: str = "out") -> str:
    """A function ``name(params)`` that runs ``prologue`` and returns the new node ``v``, whose number
    is ``data`` (an expression, or ``out`` set by the prologue); ``edges`` are the statements that
    store its operands and local derivatives on it."""
    lines = [f"def {name}({params}):", *prologue,
             *_make_node("v", data, op, edges, arg),
             *uses,  # once the node stands: a refused op leaves its operands' counts alone
             "    return v"]
    return "\n".join(lines) + "\n"


def op_source(rule: Rule) -> str:
    """The source of the Value method for ``rule``: coerce the operand, check the domain, make the node."""
    binary = rule.arity == 2
    names = ["a", "b"] if binary else ["a"]
    prologue = []
    if binary:
        # A float operand (``x * 0.7``) becomes its constant right here, other numbers through
        # _constant: a call less for the common case (a random DAG's construction: 296M -> 288M
        # instructions).
        prologue += [
            "    if not isinstance(other, Value):",
            "        if type(other) is float:",
            *_make_node("c", "other", "", [f"c.{edge}" for edge in _LEAF_EDGES], indent="            "),
            "            other = c",
            "        else:",
            "            other = _constant(other)",
            "            if other is None:",
            "                return NotImplemented",
            "    a = self.data",
            "    b = other.data",
        ]
    else:
        prologue.append("    a = self.data")
        if rule.constant:
            prologue.append("    k = other")
    for condition, kind, message in rule.check_exprs(names, "k"):
        extra = ", k" if rule.constant else ""
        operands = "(self, other)" if binary else "(self,)"
        prologue.append(f"    if {_float_compares(condition)}:")
        prologue.append(f"        raise _domain_error({rule.name!r}, {operands}, {kind.__name__}, {message!r}{extra})")
    value = _float_compares(rule.value_expr(names, "k", "out"))
    locals_ = [_float_compares(text) for text in rule.local_exprs(names, "k", "out")]
    data = "out"
    if any(re.search(r"\bout\b", text) for text in locals_):
        prologue.append(f"    out = {value}")  # the local derivatives read it (exp, tanh, sigmoid)
    else:
        data = value  # straight into the node: a local variable less for * + - relu
    # Operands in slots, not a tuple: one object per node for the cyclic collector to track.
    edges = ["v._a = self", f"v._la = {locals_[0]}"]
    edges += ["v._b = other", f"v._lb = {locals_[1]}"] if binary else ["v._b = None"]
    uses = ["    self._uses += 1", *(["    other._uses += 1"] if binary else [])]
    params = "self, other" if (binary or rule.constant) else "self"
    return _node_source(str(rule.method), params, prologue, rule.name, edges, "k" if rule.constant else None, uses,
                        data)


def _join_source(rule: Rule) -> str:
    """The node of an n-ary rule (``sum``) over a list of Values, its operands added left to right."""
    prologue = [
        "    out = parents[0].data",
        "    for p in parents[1:]:",
        "        out = out + p.data",
        "    edges = [None] * (2 * len(parents))",
        "    edges[0::2] = parents",
        f"    edges[1::2] = ({rule.local_text[0]},) * len(parents)",
    ]
    uses = ["    for p in parents:", "        p._uses += 1"]
    return _node_source(f"_{rule.name}_node", "parents", prologue, rule.name,
                        ["v._a = None", "v._more = tuple(edges)"], None, uses)


def _constant_source() -> str:
    """A leaf for a plain number in an expression (``x * 2``'s 2), or None if it is not a real number."""
    prologue = [
        "    if type(x) is float:",
        "        out = x",
        "    elif type(x) is int:",
        "        out = float(x)",
        "    else:",
        "        try:",
        "            out = _real(x, 'operand')",
        "        except TypeError:",
        "            return None",
    ]
    return _node_source("_constant", "x", prologue, "", [f"v.{edge}" for edge in _LEAF_EDGES], None, [])


def _define(source: str, where: str) -> Callable[..., Any]:
    """Compile generated ``source`` as a file of its own, registered so that its lines can be shown."""
    filename = f"{_GENERATED} {where}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)  # mtime None: never checked against a disk
    scope: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), _NAMESPACE, scope)  # our own table text, never user input
    return next(iter(scope.values()))  # type: ignore[no-any-return]


class RemovableHandle:
    """Returned by :meth:`Value.register_hook`; ``remove()`` takes the hook off again."""

    __slots__ = ("_value", "_fn")

    def __init__(self, value: "Value", fn: Callable[[float], Optional[float]]) -> None:
        self._value = weakref.ref(value)
        self._fn = fn

    def remove(self) -> None:
        """Take the hook off (again: nothing)."""
        value = self._value()
        hooks = None if value is None else _get_extra(value, "hooks")
        if value is not None and hooks and self._fn in hooks:
            hooks.remove(self._fn)
            if not hooks:
                HOOKED.discard(value)


#: Every node with a hook on it. Weak: a node that is gone takes its hooks with it. Walks test
#: whether their graph holds one of these before anything else, so hooks cost nothing elsewhere.
HOOKED: "weakref.WeakSet[Value]" = weakref.WeakSet()


class Value:
    """A scalar in the graph: ``data``, ``grad``, and the op, operands and local derivatives that made it.

    ``Value(data, label="")``: ``data`` must be an int or float (bool and anything else raise
    TypeError naming the type). Operators, with a Value or a number on either side:
    ``+ - * / **``, unary ``-`` and ``+``; in-place forms build new nodes. A number exponent is
    kept on the node (op ``**``); a Value exponent is an operand (op ``pow``, base >= 0). Methods:
    :meth:`exp`, :meth:`log`, :meth:`tanh`, :meth:`sigmoid`, :meth:`relu`, :meth:`sum` (many
    terms in one node), :meth:`backward`, :meth:`register_hook`. Out-of-domain operands raise
    ValueError or ZeroDivisionError naming the op and the operands' labels and values.

    The nodes ops make, and the constants they make of numbers they take in, are ``OpResult``
    instances (``autodiff.value``): Values made by the library only.

    >>> Value(-1.0, label="p").log()
    Traceback (most recent call last):
    ...
    ValueError: log: log of a non-positive number ('p' = -1.0)
    >>> x = Value(2.0, label="x")
    >>> y = (x * 3 + 1).tanh()
    >>> y.op, y.parents[0].op
    ('tanh', '+')
    >>> y.backward()
    >>> round(x.grad, 6) == round(3 * (1 - y.data ** 2), 6)
    True
    """

    # Every node stores its number, gradient, op, edges and the two counters backward runs on;
    # the fields after those only when set. Edges: a one- or two-operand node keeps its operands
    # in _a and _b (None: none) and their local derivatives in _la and _lb; a leaf or a constant
    # has _a None and _more (); an n-ary node (sum) has _a None and _more (parent, local, ...).
    # The fields few nodes have (a ** node's exponent, hooks, anomaly origins, kept orders, a
    # gradient kept as a Value) share one dict, _extra, made when the first is set
    # (_get_extra/_set_extra): with a slot each, every node was 40 bytes bigger (184 B against
    # 144 B), and the cyclic collector visits every slot of every node it examines (19 then, 13 now).
    __slots__ = {
        "data": "The node's number (a float; writable: gradcheck nudges leaves in place).",
        "grad": "d root / d this node after backward (a float; starts at 0.0; leaves accumulate).",
        "op": "The op that made the node, a key of :data:`autodiff.ops.RULES` (``\"\"`` for a leaf).",
        "_a": None, "_la": None, "_b": None, "_lb": None, "_more": None, "_pending": None, "_uses": None, "_label": None, "_scope": None,
        "_extra": None, "__weakref__": None,
    }

    data: float
    grad: float
    op: str
    _a: Optional["Value"]
    _la: float
    _b: Optional["Value"]
    _lb: float
    _more: tuple[Any, ...]  # (parent, local, parent, local, ...)
    _pending: int
    _uses: int
    _label: str
    _scope: tuple[str, ...]
    _extra: dict[str, Any]  # "arg", "hooks", "origin", "order", "backward_order", "grad_value"

    def __init__(self, data: Number, label: str = "") -> None:
        self.data = _real(data, "Value data")
        self.grad = 0.0
        if label != "":  # "" is the default an unset label reads as; the setter checks the rest
            self.label = label
        self.op = ""
        self._a = None
        self._more = ()
        self._pending = 0  # a counter that walks use; 0 between walks
        self._uses = 0  # how many ops have taken this node as an operand (counted as they are made)
        switches = state.SWITCHES.get()
        if switches is not None:
            _stamp(self, switches)

    # -- the edges ------------------------------------------------------------------------------
    @property
    def _edges(self) -> tuple[Any, ...]:
        """Every edge as one flat tuple ``(parent, local, parent, local, ...)`` (``()`` for a leaf).

        Built from the slots on each read: for the cold paths (drawings, traces, copies). The
        walks in :mod:`autodiff.fast` read the slots themselves.
        """
        a = self._a
        if a is None:
            return self._more
        b = self._b
        if b is None:
            return (a, self._la)
        return (a, self._la, b, self._lb)

    @_edges.setter
    def _edges(self, edges: tuple[Any, ...]) -> None:
        # Not for users (parents and locals are read-only): _rebuild, and tests that corrupt a node.
        if len(edges) == 4:
            self._a, self._la, self._b, self._lb = edges
        elif len(edges) == 2:
            self._a, self._la = edges
            self._b = None
        else:
            self._a = None
            self._more = tuple(edges)

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
        return _get_extra(self, "arg")  # type: ignore[no-any-return]

    # -- what kind of node ---------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        """True for a node no op made: an input, a parameter or a constant."""
        return self._a is None and not self._more

    @property
    def is_constant(self) -> bool:
        """True for a plain number that appeared in an expression (``x * 2``'s ``2``)."""
        return False

    @property
    def origin(self) -> str:
        """Where user code created this node (recorded only inside :func:`autodiff.detect_anomaly`)."""
        return _get_extra(self, "origin", "<not recorded: create the node inside autodiff.detect_anomaly()>")  # type: ignore[no-any-return]

    # -- arithmetic: generated from the rule table below the class ------------------------------
    if TYPE_CHECKING:  # what the generated methods take and return, for type checkers and readers
        def __add__(self, other: Operand) -> "Value": ...
        def __sub__(self, other: Operand) -> "Value": ...
        def __mul__(self, other: Operand) -> "Value": ...
        def __truediv__(self, other: Operand) -> "Value": ...
        def __neg__(self) -> "Value": ...
        def _pow_number(self, k: float) -> "Value": ...
        def _pow_value(self, other: "Value") -> "Value": ...
        def exp(self) -> "Value": ...
        def log(self) -> "Value": ...
        def tanh(self) -> "Value": ...
        def sigmoid(self) -> "Value": ...
        def relu(self) -> "Value": ...

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
        if not _NODE_TYPES.issuperset(map(type, given)):  # one pass in C, not a Python loop per term
            given = [_sum_term(i, t) for i, t in enumerate(given)]  # numbers, or Values of a subclass
        return _sum_node(cast("list[Value]", given))  # every term is a Value by now

    def __pos__(self) -> "Value":
        return self

    def __float__(self) -> float:
        return self.data

    # -- gradients -----------------------------------------------------------------------------
    def backward(self, create_graph: bool = False) -> None:
        """d self / d node into every ancestor's ``grad``: see :func:`autodiff.backward`."""
        from .graph import backward

        backward(self, create_graph=create_graph)

    @property
    def grad_value(self) -> Optional["Value"]:
        """This leaf's gradient as a Value (a graph that can be differentiated again), kept by
        ``backward(create_graph=True)`` and accumulated as ``grad`` is; None until then."""
        return _get_extra(self, "grad_value")  # type: ignore[no-any-return]

    @grad_value.setter
    def grad_value(self, g: Optional["Value"]) -> None:
        if g is not None and not isinstance(g, Value):
            raise TypeError(f"grad_value must be a Value or None, not {type(g).__name__}")
        _set_extra(self, "grad_value", g)

    def register_hook(self, fn: Callable[[float], Optional[float]]) -> RemovableHandle:
        """Call ``fn(grad)`` during backward (and stepping) once this node's gradient is complete.

        As in PyTorch: ``grad`` is this pass's gradient of the node (for a leaf, what this pass
        brings, before it is added to ``.grad``); if ``fn`` returns a number, that number is used
        instead, for the node and for everything it flows on to.

        >>> w = Value(2.0, label="w")
        >>> w.grad = 30.0                     # from an earlier backward
        >>> seen = []
        >>> handle = w.register_hook(lambda g: seen.append(g))
        >>> (w * 3).backward()
        >>> seen, w.grad
        ([3.0], 33.0)
        >>> handle.remove()
        """
        if not callable(fn):
            raise TypeError(f"register_hook needs a callable, not {type(fn).__name__}")
        hooks = _get_extra(self, "hooks")
        if hooks is None:
            hooks = []
            _set_extra(self, "hooks", hooks)
        hooks.append(fn)
        HOOKED.add(self)
        return RemovableHandle(self, fn)

    # -- copying -------------------------------------------------------------------------------
    # A graph is copied as one table of nodes, built and rebuilt by loops: pickle's and deepcopy's
    # own recursion would overflow on a long chain. Hooks and anomaly origins are not copied.
    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (_table(self),))

    def __deepcopy__(self, memo: dict[int, Any]) -> "Value":
        return _rebuild(_table(self), memo)

    def __repr__(self) -> str:
        return f"Value(label={self.label!r}, op={self.op!r}, data={fmt.number(self.data)}, grad={fmt.number(self.grad)})"


# The nodes the library makes itself: Values whose fields are filled in by the code that makes them,
# so they skip Value.__init__ and its checks. With object's own __init__, CPython makes one without
# running any Python code, about 20 ns sooner, on the hot path of every op. One class for the ops'
# results and the constants alike: CPython 3.11 specialises an attribute read (``other.data``) for
# one class, and with two classes taking turns as operands, half the reads ran the generic lookup
# (a random DAG's construction: 5% more instructions with constants of a class of their own).


class OpResult(Value):
    """A node the library made: what ``a * b``, ``v.tanh()`` or ``Value.sum`` return, and (``op`` empty)
    the constant an op makes of a number it takes in (``x * 2``'s ``2``).

    Only the library makes these; check what a node is with ``isinstance(v, Value)``, ``v.is_leaf``
    and ``v.is_constant``.
    """

    __slots__ = ()
    __init__ = object.__init__  # type: ignore[assignment]

    @property
    def is_constant(self) -> bool:
        """True for a plain number that appeared in an expression (``x * 2``'s ``2``)."""
        return not self.op


#: The classes of the nodes the library makes: Value.sum takes terms of these as they are.
_NODE_TYPES = frozenset({Value, OpResult})

_NAMESPACE.update(Value=Value, OpResult=OpResult, _domain_error=_domain_error, _real=_real,
                  _stamp=_stamp, _SWITCHES=state.SWITCHES)
_constant: Callable[[object], Optional[Value]] = _define(_constant_source(), "_constant")
_NAMESPACE["_constant"] = _constant  # the binary ops call it for a number operand
for _rule in RULES.values():
    if _rule.join is not None:
        _NAMESPACE[f"_{_rule.name}_node"] = _define(_join_source(_rule), f"_{_rule.name}_node")
    elif _rule.method is not None:
        _method = _define(op_source(_rule), f"Value.{_rule.method}")
        _method.__qualname__ = f"Value.{_rule.method}"
        _method.__doc__ = (f"The {_rule.name!r} op: {_rule.formula(['self', 'other'][: _rule.arity])} "
                           f"(generated from RULES[{_rule.name!r}]).")
        setattr(Value, _rule.method, _method)
_sum_node: Callable[[list[Value]], Value] = _NAMESPACE["_sum_node"]


def _sum_term(i: int, t: object) -> Value:
    """Term ``i`` of :meth:`Value.sum` as a Value: numbers become constants, anything else is an error."""
    if isinstance(t, Value):
        return t
    c = _constant(t)
    if c is None:
        raise TypeError(f"Value.sum: term #{i} must be a Value or a real number, not {type(t).__name__}")
    return c


# -- copying whole graphs ---------------------------------------------------------------------------
_KINDS = {"value": Value, "op": OpResult}


def _table(root: Value) -> list[tuple[Any, ...]]:
    """Every node ``root`` depends on, parents first, as plain fields and parent positions."""
    # graph builds on this module, so it is imported when first needed
    from .graph import topological_order

    order = topological_order(root)
    position = {id(v): i for i, v in enumerate(order)}
    kind = {Value: "value", OpResult: "op"}
    return [
        (kind.get(type(v), "value"), v.data, v.grad, v.op, v.label, v.arg, v.scope,
         tuple(position[id(p)] for p in v._edges[0::2]), tuple(v._edges[1::2]), id(v))
        for v in order
    ]


def _rebuild(table: list[tuple[Any, ...]], memo: Optional[dict[int, Any]] = None) -> Value:
    """The graph of :func:`_table` made anew (the last row is the root); ``memo`` as deepcopy's."""
    nodes: list[Value] = []
    for kind, data, grad, op, label, arg, scope, parents, locals_, original in table:
        if memo is not None and original in memo:
            nodes.append(memo[original])
            continue
        v = _KINDS[kind].__new__(_KINDS[kind])
        v.data, v.grad, v.op = data, grad, op
        edges: list[Any] = [None] * (2 * len(parents))
        edges[0::2] = [nodes[i] for i in parents]
        edges[1::2] = locals_
        v._edges = tuple(edges)
        v._pending, v._uses = 0, 0
        if label:
            v._label = label
        if arg is not None:
            _set_extra(v, "arg", arg)
        if scope is not None:
            v._scope = scope
        for p in v._edges[0::2]:
            p._uses += 1
        if memo is not None:
            memo[original] = v
        nodes.append(v)
    return nodes[-1]
