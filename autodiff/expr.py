"""A safe parser for formulas typed by users: ``tanh(a*b + c)`` becomes a graph of Values.

Python's ``ast`` parses the text, and only an allow-list of node types is accepted: numbers,
names, ``+ - * / **``, unary minus and plus, parentheses, and calls of the engine's functions by
name. The functions are the rule table's: every row with a ``call`` name (``exp``, ``log``,
``tanh``, ``sigmoid``, ``relu``), built by the :class:`~autodiff.Value` method the row names, so
adding an op with a ``call`` makes it typeable. Nothing is ever passed to ``eval`` or ``exec``.
Anything else raises :class:`ExprError`, whose one-line message points at the offending part,
and says what to write instead for the usual slips (``a^2``, ``2a``, ``ln(x)``).

>>> out, inputs = build_expression("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
>>> round(out.data, 6), sorted(inputs)
(0.999329, ['a', 'b', 'c'])
>>> build_expression("a.__class__", {"a": 1})
Traceback (most recent call last):
...
autodiff.expr.ExprError: attribute access is not allowed, at column 1: a.__class__
>>> parse_expression("a^2")
Traceback (most recent call last):
...
autodiff.expr.ExprError: ^ is not a power in Python formulas: write a**2 (column 2)
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import tokenize
import warnings
from typing import Mapping, Optional, Union

from .ops import RULES
from .value import Value

__all__ = ["ExprError", "FUNCTIONS", "parse_expression", "build_expression", "MAX_LENGTH", "MAX_LABEL"]

#: The functions a formula may call, by name: every rule with a ``call`` name.
FUNCTIONS = tuple(r.call for r in RULES.values() if r.call)
_CALLS = {r.call: r for r in RULES.values() if r.call}
#: The longest formula accepted, in characters.
MAX_LENGTH = 1000
MAX_NODES = 400  # syntax-tree nodes
MAX_DEPTH = 60  # nesting of parentheses and operators
MAX_LITERAL = 1e15  # the largest number literal
MAX_EXPONENT = 1000  # the largest literal exponent in a ** k
#: A part of a formula longer than this (in characters) leaves its node unlabelled.
MAX_LABEL = 30

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}
_WHAT = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.Compare: "comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.Starred: "unpacking",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "assignment",
    ast.Await: "await",
}

_OPERATORS = {ast.FloorDiv: "//", ast.Mod: "%", ast.BitOr: "|", ast.BitAnd: "&", ast.LShift: "<<",
              ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~", ast.Not: "not"}
# Functions people reach for that the engine does not have, and what to write instead.
_INSTEAD = {
    "ln": "the natural logarithm is log(x)",
    "log10": "log is the natural logarithm: write log(x) / log(10)",
    "log2": "log is the natural logarithm: write log(x) / log(2)",
    "sqrt": "write x**0.5",
    "pow": "write a**b",
    "max": "relu(x) is max(x, 0)",
}
_MODULES = ("math", "np", "numpy", "torch")  # math.exp(x): the prefix is what is wrong
# Characters pasted from typeset mathematics, and their Python spelling.
_CHARACTERS = {"²": "**2", "³": "**3", "×": "*", "·": "*", "⋅": "*", "÷": "/", "−": "-", "–": "-"}

Number = Union[int, float]


class ExprError(ValueError):
    """A formula outside the allowed language; the message says what and where."""


def _span(node: ast.AST, text: str) -> tuple[int, int]:
    """Where ``node`` is in ``text``, in characters (the syntax tree counts UTF-8 bytes)."""
    raw = text.encode("utf-8")
    col = getattr(node, "col_offset", 0)
    end = getattr(node, "end_col_offset", None)
    start = len(raw[:col].decode("utf-8", "replace"))
    return start, len(text) if end is None else len(raw[:end].decode("utf-8", "replace"))


def _clip(part: str) -> str:
    return part if len(part) <= 40 else part[:37] + "..."


def _fail(what: str, node: ast.AST, text: str) -> ExprError:
    col, end = _span(node, text)
    return ExprError(f"{what}, at column {col + 1}: {_clip(text[col:end])}")


def _syntax_hint(text: str) -> Optional[str]:
    """What to write instead, for the usual slips Python's parser refuses (``2a``, ``a b``,
    ``x²``, ``a = 2``, ``|a|``); None for anything else."""
    found = [ch for ch in _CHARACTERS if ch in text]
    if found:
        fixed = text
        for ch in found:
            fixed = fixed.replace(ch, _CHARACTERS[ch])
        instead = fixed if len(fixed) <= 40 else _CHARACTERS[found[0]]  # the whole formula, when short
        return f"{found[0]} is not an operator in Python formulas: write {instead} (column {text.index(found[0]) + 1})"
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                  if t.type in (tokenize.NAME, tokenize.NUMBER, tokenize.OP)]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    for left, right in zip(tokens, tokens[1:]):
        if left.string == "=" or right.string == "=":
            where = left if left.string == "=" else right
            return (f"a formula has no = (column {where.start[1] + 1}): it is one expression, "
                    "and the inputs' numbers are given apart from it")
        value_left = left.type in (tokenize.NAME, tokenize.NUMBER) or left.string == ")"
        if value_left and right.type in (tokenize.NAME, tokenize.NUMBER) and not (
            keyword.iskeyword(left.string) or keyword.iskeyword(right.string)
        ):
            shown = "(...)" if left.string == ")" else left.string
            return f"two values side by side (column {right.start[1] + 1}): to multiply, write {shown}*{right.string}"
    if any(t.string == "|" for t in tokens):
        return f"|x| is not an absolute value in Python formulas, and there is no abs; the functions are: {', '.join(FUNCTIONS)}"
    return None


def _not_callable(node: ast.Call, text: str) -> str:
    """Why ``node`` cannot be called, and what to write instead when it is clear."""
    functions = f"only these functions can be called: {', '.join(FUNCTIONS)}"
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _MODULES:
        if func.attr in _CALLS:
            return f"write {func.attr}(...) without {func.value.id}. in front"
        func = ast.Name(func.attr)
    if isinstance(func, ast.Name) and func.id in _INSTEAD:
        return f"{func.id} is not available ({_INSTEAD[func.id]}); {functions}"
    # a(b + c), 2(a + 1), (a + b)(a - b): most likely a product written as in algebra
    product = (isinstance(func, ast.Name) and len(func.id) == 1) or isinstance(func, (ast.Constant, ast.BinOp))
    start, end = _span(node, text)
    paren = text.find("(", _span(node.func, text)[1])
    if product and len(node.args) == 1 and not node.keywords and paren >= 0:
        return f"to multiply, write {_clip(text[start:paren] + '*' + text[paren:end])} ({functions})"
    if isinstance(func, ast.Name):
        return f"{func.id} is not available; {functions}"
    return functions


def parse_expression(text: str) -> ast.expr:
    """Check ``text`` against the allowed language and return its syntax tree."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be text, not {type(text).__name__}")
    if not text.strip():
        raise ExprError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if "\n" in text or "\r" in text:
        raise ExprError("the expression must be on one line")
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth > MAX_DEPTH:
            raise ExprError(f"parentheses nest deeper than {MAX_DEPTH}, at column {i + 1}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "1and" warns (invalid decimal literal): refuse it instead
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, SyntaxWarning, DeprecationWarning) as exc:
        hint = _syntax_hint(text.strip())
        if hint is not None:
            raise ExprError(hint) from None
        if not isinstance(exc, SyntaxError):
            raise ExprError(f"not a formula: {exc}") from None
        where = f", at column {exc.offset}" if exc.offset else ""
        raise ExprError(f"not a formula: {exc.msg}{where}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExprError(f"the expression cannot be parsed: {type(exc).__name__}") from None
    body = tree.body
    count = sum(1 for _ in ast.walk(body))
    if count > MAX_NODES:
        raise ExprError(f"the expression has {count} parts; the limit is {MAX_NODES}")
    _check(body, text.strip(), 0)
    return body


def _check(node: ast.AST, text: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _fail(f"the expression nests deeper than {MAX_DEPTH}", node, text)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"only numbers are allowed as constants, not {type(value).__name__}", node, text)
        if not abs(value) <= MAX_LITERAL:  # also catches inf and nan literals
            raise _fail(f"a number larger than {MAX_LITERAL:g} is not allowed", node, text)
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise _fail(f"{node.id} is a function: call it, as {node.id}(x)", node, text)
        if node.id.startswith("_"):
            raise _fail("names may not start with an underscore", node, text)
    elif isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.BitXor):
            raise _power_slip(node, text)
        if type(node.op) not in _BINARY:
            raise _fail(f"the operator {_operator(node.op)} is not allowed (use + - * / **)", node, text)
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) and isinstance(node.right.value, (int, float)):
            if not isinstance(node.right.value, bool) and abs(node.right.value) > MAX_EXPONENT:
                raise _fail(f"an exponent larger than {MAX_EXPONENT} is not allowed", node.right, text)
        _check(node.left, text, depth + 1)
        _check(node.right, text, depth + 1)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise _fail(f"the operator {_operator(node.op)} is not allowed", node, text)
        _check(node.operand, text, depth + 1)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS:
            raise _fail(_not_callable(node, text), node.func, text)
        arity = _CALLS[node.func.id].arity
        if len(node.args) != arity or node.keywords:
            raise _fail(f"{node.func.id} takes exactly {'one argument' if arity == 1 else f'{arity} arguments'}", node, text)
        for arg in node.args:
            _check(arg, text, depth + 1)
    else:
        what = _WHAT.get(type(node), type(node).__name__)
        raise _fail(f"{what} is not allowed", node, text)


def _operator(op: ast.AST) -> str:
    name = type(op).__name__
    return f"{_OPERATORS[type(op)]} ({name})" if type(op) in _OPERATORS else name


def _power_slip(node: ast.BinOp, text: str) -> ExprError:
    """``a^2``: Python's ``^`` is exclusive or. Says what to write (``e^x`` is ``exp(x)``)."""
    start, end = _span(node, text)
    between = text[_span(node.left, text)[1]:_span(node.right, text)[0]]
    column = _span(node.left, text)[1] + between.index("^") + 1
    if isinstance(node.left, ast.Name) and node.left.id == "e":
        right = text[slice(*_span(node.right, text))]
        instead = f"exp({right})"
    else:
        instead = text[start:end].replace("^", "**")
    return ExprError(f"^ is not a power in Python formulas: write {_clip(instead)} (column {column})")


def input_names(tree: ast.expr) -> list[str]:
    """The input names a parsed formula uses, in order of first appearance."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called]
    names: list[str] = []
    for n in sorted(found, key=lambda n: n.col_offset):
        if n.id not in names:
            names.append(n.id)
    return names


def build_expression(text: str, values: Mapping[str, Number]) -> tuple[Value, dict[str, Value]]:
    """Parse ``text`` and build its graph: the root Value and the input Values by name.

    The inputs are labelled by their names, the root ``out`` (unless it is an input), and every
    node in between by its part of the formula, such as ``a * b`` (unless that is longer than
    :data:`MAX_LABEL` characters), so that traces and drawings can name each step.
    ``values`` gives every name's number; a missing or unused name raises :class:`ExprError`.
    A number outside an op's domain (``log(-1)``, ``1/0``) raises the engine's usual error.
    """
    tree = parse_expression(text)
    names = input_names(tree)
    missing = [n for n in names if n not in values]
    if missing:
        euler = " (for Euler's number, write exp(1))" if "e" in missing else ""
        raise ExprError(f"no value for {', '.join(missing)}: give one with --set {missing[0]}=NUMBER{euler}")
    unused = [n for n in values if n not in names]
    if unused:
        raise ExprError(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} set but not in the expression")
    inputs = {}
    for n in names:
        number = values[n]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ExprError(f"{n} must be set to a finite number, not {number!r}")
        inputs[n] = Value(number, label=n)
    out = _make(tree, inputs)  # the root is "out", its parts are labelled by their text
    if not isinstance(out, Value):
        out = Value(out)
    if not out.label:
        out.label = "out"
    return out, inputs


def _build(node: ast.AST, inputs: Mapping[str, Value]) -> Union[Value, float]:
    """The graph of ``node``; each node it makes is labelled with its part of the formula (if short)."""
    result = _make(node, inputs)
    if isinstance(result, Value) and not result.is_leaf and not result.label:
        text = ast.unparse(node)
        if len(text) <= MAX_LABEL:
            result.label = text
    return result


def _make(node: ast.AST, inputs: Mapping[str, Value]) -> Union[Value, float]:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, (int, float))  # parse_expression allows only numbers
        return float(node.value)
    if isinstance(node, ast.Name):
        return inputs[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, inputs)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # parse_expression allows only the table's functions
        rule = _CALLS[node.func.id]
        args = [_build(a, inputs) for a in node.args]
        first = args[0] if isinstance(args[0], Value) else Value(args[0])
        method = getattr(first, rule.method or rule.name)  # the Value method the rule's row names
        return method(*args[1:])  # type: ignore[no-any-return]
    assert isinstance(node, ast.BinOp)
    left, right = _build(node.left, inputs), _build(node.right, inputs)
    if not isinstance(left, Value) and not isinstance(right, Value):
        left = Value(left)  # keep numbers-only parts in the graph, with the engine's errors
    op = _BINARY[type(node.op)]
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    return left**right
