"""The rule table: every op's forward value, local derivatives and domain checks, one row each.

Each row is written once, as small Python expressions over the operands ``{a}`` and ``{b}``, the
constant exponent ``{k}`` and the result ``{out}``. From that one text the table builds the plain
functions that :class:`~autodiff.Value` calls, and :mod:`autodiff.compile` builds its straight-line
replay code, so the engine, the compiled program, the tracer and the renderer can never disagree.

>>> RULES["*"].apply(3.0, 4.0)
(12.0, (4.0, 3.0))
>>> RULES["tanh"].local_text
('1.0 - {out} * {out}',)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

__all__ = ["Rule", "RULES", "DomainError"]


class DomainError(ArithmeticError):
    """An operand outside an op's domain; :class:`~autodiff.Value` re-raises it with labels."""

    def __init__(self, kind: type[Exception], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _exp(a: float) -> float:
    # IEEE semantics: overflow gives inf (anomaly mode then reports it) instead of OverflowError.
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _sigmoid(a: float) -> float:
    # Written so that neither branch can overflow.
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _power(a: float, k: float) -> float:
    try:
        return a**k
    except OverflowError:
        odd = float(k).is_integer() and int(k) % 2 == 1
        return -math.inf if (a < 0 and odd) else math.inf


def _dpower(a: float, k: float) -> float:
    """d(a**k)/da = k * a**(k-1), with its limits where the formula divides by zero."""
    if k == 0:
        return 0.0
    try:
        return k * _power(a, k - 1)
    except ZeroDivisionError:  # a == 0 and 0 < k < 1: the slope is vertical
        return math.inf


def _is_integer(k: float) -> bool:
    return float(k).is_integer()


# Names the expressions may use; nothing else is in scope when they are compiled.
NAMESPACE: dict[str, object] = {
    "exp": _exp,
    "log": math.log,
    "tanh": math.tanh,
    "sigmoid": _sigmoid,
    "power": _power,
    "dpower": _dpower,
    "is_integer": _is_integer,
    "DomainError": DomainError,
    "ValueError": ValueError,
    "ZeroDivisionError": ZeroDivisionError,
}


@dataclass(frozen=True)
class Rule:
    """One op: how its value and each operand's local derivative are computed.

    ``name`` is the ``op`` string stored on nodes; ``operands`` the names of its Value operands
    (``("a",)`` or ``("a", "b")``); ``constant`` is ``"k"`` for the op that keeps a plain-number
    exponent beside its single operand. ``checks`` are (condition, exception, message) triples
    tested before the value is computed. ``symbol`` shows the op in formulas.

    A ``join`` rule takes any number of operands (``sum``): its value is the operands' texts
    joined by ``join`` and evaluated left to right, and ``local_text[0]`` is every operand's local
    derivative.

    What the rest of the library reads off a row, instead of parsing its text: ``method``, the
    :class:`~autodiff.Value` method generated for it (None when Python spells it otherwise);
    ``call``, the name a typed formula calls it by (``tanh(x)``); ``gate``, for an op whose
    slope is 1 where this condition holds and 0 elsewhere (relu): where it is 0, nothing flows
    back, not even an infinite gradient (as in PyTorch); ``local_constants``, each local
    derivative that is a plain number (``1.0`` for ``+``), else None.
    """

    name: str
    operands: tuple[str, ...]
    value_text: str
    local_text: tuple[str, ...]
    symbol: str
    checks: tuple[tuple[str, type[Exception], str], ...] = ()
    constant: str | None = None
    join: str | None = None
    method: str | None = None
    call: str | None = None
    gate: str | None = None
    apply: Callable[..., tuple[float, tuple[float, ...]]] = field(init=False, repr=False, compare=False)
    local_constants: tuple[float | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "apply", self._build())
        object.__setattr__(self, "local_constants", tuple(_literal(t) for t in self.local_text))

    def reads(self, k: int) -> int:
        """How many times the value expression reads operand ``k`` (a compiler may inline a value read once)."""
        if self.join is not None:
            return 1
        markers = [f"@{i}@" for i in range(self.arity)]
        return self.value_expr(markers, "k", "out").count(markers[k])

    @property
    def arity(self) -> int:
        """How many Value operands the op takes (a ``join`` rule's one name stands for any number)."""
        return len(self.operands)

    def substitute(self, text: str, names: dict[str, str]) -> str:
        """The expression ``text`` with each placeholder replaced by the given name."""
        return text.format(**names)

    def _names(self, operands: Sequence[str], k: str, out: str) -> dict[str, str]:
        names = dict(zip(self.operands, operands)) if self.join is None else {}
        names.update(k=k, out=out)
        return names

    def value_expr(self, operands: Sequence[str], k: str = "None", out: str = "out") -> str:
        """The Python expression of this op's value, over the given operand expressions."""
        if self.join is not None:
            return self.join.join(operands)
        return self.substitute(self.value_text, self._names(operands, k, out))

    def local_exprs(self, operands: Sequence[str], k: str = "None", out: str = "out") -> list[str]:
        """The expression of each operand's local derivative (``out`` names the op's value)."""
        if self.join is not None:
            return [self.local_text[0]] * len(operands)
        names = self._names(operands, k, out)
        return [self.substitute(t, names) for t in self.local_text]

    def check_exprs(self, operands: Sequence[str], k: str = "None") -> list[tuple[str, type[Exception], str]]:
        """The domain checks as (condition expression, exception type, message)."""
        names = self._names(operands, k, "out")
        return [(self.substitute(c, names), kind, message) for c, kind, message in self.checks]

    def formula(self, operands: Sequence[str], k: str = "k") -> str:
        """The op written for people, for example ``W1[0][2] * x[0]``."""
        if self.join is not None:
            return self.join.join(operands)
        return self.symbol.format(**self._names(operands, k, "out"))

    def _build(self) -> Callable[..., tuple[float, tuple[float, ...]]]:
        if self.join is not None:
            joined = _join_rule(self)
            joined.__name__ = joined.__qualname__ = f"rule_{self.name}"
            return joined
        args = list(self.operands) + ([self.constant] if self.constant else [])
        lines = [f"def rule({', '.join(args)}):"]
        for condition, kind, message in self.check_exprs(self.operands, "k"):
            lines.append(f"    if {condition}:")
            lines.append(f"        raise DomainError({kind.__name__}, {message!r})")
        lines.append(f"    out = {self.value_expr(self.operands, 'k', 'out')}")
        local = ", ".join(f"({t})" for t in self.local_exprs(self.operands, "k", "out"))
        lines.append(f"    return out, ({local},)")
        scope: dict[str, Any] = dict(NAMESPACE)
        exec("\n".join(lines), scope)  # our own table text, never user input
        fn: Callable[..., tuple[float, tuple[float, ...]]] = scope["rule"]
        fn.__name__ = fn.__qualname__ = f"rule_{self.name}"
        return fn


def _literal(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _join_rule(rule: "Rule") -> Callable[..., tuple[float, tuple[float, ...]]]:
    if rule.join != " + ":
        raise ValueError(f"rule {rule.name!r}: only ' + ' joins are supported")
    local = float(rule.local_text[0])

    def rule_fn(*xs: float) -> tuple[float, tuple[float, ...]]:
        if not xs:
            raise DomainError(ValueError, f"{rule.name} needs at least one operand")
        out = xs[0]
        for x in xs[1:]:
            out = out + x  # left to right, as the generated code and nn.reference add
        return out, (local,) * len(xs)

    return rule_fn


_NEG_BASE = ("{a} < 0 and not is_integer({k})", ValueError, "non-integer power of a negative base")
_ZERO_NEG = ("{a} == 0 and {k} < 0", ZeroDivisionError, "0 raised to a negative power")

_TABLE = [
    Rule("+", ("a", "b"), "{a} + {b}", ("1.0", "1.0"), "{a} + {b}", method="__add__"),
    Rule("-", ("a", "b"), "{a} - {b}", ("1.0", "-1.0"), "{a} - {b}", method="__sub__"),
    Rule("*", ("a", "b"), "{a} * {b}", ("{b}", "{a}"), "{a} * {b}", method="__mul__"),
    Rule(
        "/",
        ("a", "b"),
        "{a} / {b}",
        ("1.0 / {b}", "-{out} / {b}"),
        "{a} / {b}",
        checks=(("{b} == 0", ZeroDivisionError, "division by zero"),),
        method="__truediv__",
    ),
    Rule("neg", ("a",), "-{a}", ("-1.0",), "-{a}", method="__neg__"),
    # Value ** number: the exponent is a constant kept on the node (``arg``), not an operand.
    Rule(
        "**",
        ("a",),
        "power({a}, {k})",
        ("dpower({a}, {k})",),
        "{a} ** {k}",
        checks=(_ZERO_NEG, _NEG_BASE),
        constant="k",
        method="_pow_number",
    ),
    # Value ** Value (or number ** Value): both operands get a local derivative.
    Rule(
        "pow",
        ("a", "b"),
        "power({a}, {b})",
        ("dpower({a}, {b})", "{out} * log({a}) if {a} > 0 else 0.0"),
        "{a} ** {b}",
        checks=(
            ("{a} == 0 and {b} < 0", ZeroDivisionError, "0 raised to a negative power"),
            ("{a} < 0 and not is_integer({b})", ValueError, "non-integer power of a negative base"),
            (
                "{a} < 0",
                ValueError,
                "a Value exponent needs a base >= 0 (d/db a**b = a**b * log(a) is not real for a < 0)",
            ),
        ),
        method="_pow_value",
    ),
    Rule("exp", ("a",), "exp({a})", ("{out}",), "exp({a})", method="exp", call="exp"),
    Rule(
        "log",
        ("a",),
        "log({a})",
        ("1.0 / {a}",),
        "log({a})",
        checks=(("{a} <= 0", ValueError, "log of a non-positive number"),),
        method="log",
        call="log",
    ),
    Rule("tanh", ("a",), "tanh({a})", ("1.0 - {out} * {out}",), "tanh({a})", method="tanh", call="tanh"),
    Rule("sigmoid", ("a",), "sigmoid({a})", ("{out} * (1.0 - {out})",), "sigmoid({a})", method="sigmoid",
         call="sigmoid"),
    # "not a <= 0" rather than "a > 0": relu(nan) is nan, as in PyTorch, so anomaly mode sees it.
    Rule("relu", ("a",), "{a} if not {a} <= 0 else 0.0", ("1.0 if {a} > 0 else 0.0",), "relu({a})",
         method="relu", call="relu", gate="{a} > 0"),
    # Any number of operands, added left to right in one node: a neuron's weighted sum.
    Rule("sum", ("a",), "", ("1.0",), "sum({a})", join=" + "),
]

#: Every op, by the ``op`` string that nodes carry.
RULES: dict[str, Rule] = {rule.name: rule for rule in _TABLE}
