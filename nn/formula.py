"""Matrix formulas as learners write them, read safely: textbook notation or numpy's.

A learner's backprop formula, such as the question this project grew from,
``dE/dW_ij = W_jk * g'(W_ij * x) * x * err``, is not Python: ``g'`` is a derivative, ``^T`` a
transpose, ``⊙`` an elementwise product, and two symbols side by side are a product.
:func:`parse_formula` reads such text with a small tokenizer of its own and rewrites it, token by
token, into a Python expression (``g'`` becomes a reserved name, ``^T`` becomes ``.T``, ``⊙``
becomes ``%``, a juxtaposition an explicit ``*``); Python's ``ast`` parses that, and only an allow-list
of node types is accepted, within the limits of :mod:`autodiff.expr`. Nothing is ever passed to
``eval`` or ``exec``. Every node of the tree maps back to the learner's own text, so that messages
quote what they wrote.

The tokens that only one notation uses are its *marks*: ``'``, ``^``, ``ᵀ``, ``⊙``, ``.*``,
``·`` and a juxtaposition are textbook notation; ``@``, ``.T`` and ``np.`` are numpy's.

>>> f = parse_formula("dE/dW_ij = W_jk * g'(W_ij * x) * x * err")
>>> f.body, f.target, f.notation
("W_jk * g'(W_ij * x) * x * err", 'W_ij', 'textbook')
>>> f.source
'W_jk * _d_g ( W_ij * x ) * x * err'
>>> f.part(f.tree.left.left.right.args[0])  # the learner's own text of a part
'W_ij * x'
>>> parse_formula("W_jk' * delta2")
Traceback (most recent call last):
...
nn.formula.FormulaError: ' after W_jk (column 5): ' marks a derivative, as in g'; for the transpose write W_jk^T
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Optional

from autodiff.expr import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_LITERAL,
    MAX_NODES,
    ExprError,
)

__all__ = ["FormulaError", "Formula", "parse_formula", "TEXTBOOK", "NUMPY", "FUNCTIONS", "ACTIVATION_NAMES"]

#: The notation that reads ``*`` (and a juxtaposition) as the matrix product, vectors as columns.
TEXTBOOK = "textbook"
#: The notation that reads ``*`` as elementwise with broadcasting, ``@`` as the matrix product, vectors 1-D.
NUMPY = "numpy"

#: The functions a formula may call, and how many arguments each takes.
FUNCTIONS = {
    "tanh": 1, "sigmoid": 1, "relu": 1, "exp": 1, "log": 1,
    "outer": 2, "hadamard": 2, "diag": 1, "dot": 2, "matmul": 2, "multiply": 2, "transpose": 1,
}
#: Names that stand for an activation function: ``g(z1)``, and with a prime its derivative, ``g'(z1)``.
ACTIVATION_NAMES = ("g", "f", "σ", "sigma", "φ", "phi", "tanh", "sigmoid", "relu")
_LAYER_G = re.compile(r"g[1-9][0-9]?")  # g1, g2, ...: the activation of one layer
_DERIVATIVE = "_d_"  # g' is written _d_g: no name the learner types can start with _
_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_MODULES = ("np", "numpy")

# Characters of typeset mathematics and what they are here.
_PRODUCT = ("·", "⋅", "×")  # the matrix product, as * in textbook notation
_ELEMENTWISE = ("⊙", "∘")
_MINUS = ("−", "–")
_SUPERSCRIPT = {"²": "2", "³": "3"}
# Characters people try, and what to write instead.
_INSTEAD = {
    "%": "% is not an operator here: for elementwise products write ⊙, .* or hadamard(a, b)",
    "|": "|x| is not part of a formula",
    "[": "indexing is not allowed: a formula works on whole vectors and matrices",
    "]": "indexing is not allowed: a formula works on whole vectors and matrices",
    "{": "braces are only for subscripts, as in W_{ij}: group with ( )",
    "}": "braces are only for subscripts, as in W_{ij}: group with ( )",
    '"': "text in quotes is not part of a formula",
    "=": "a formula has at most one =, after the derivative it names (dE/dW_ij = ...)",
    "∑": "write sums as matrix products: W_jk * err sums over k",
    "Σ": "write sums as matrix products: W_jk * err sums over k",
}


class FormulaError(ExprError):
    """A formula that cannot be read; the one-line message says what and where."""


def is_function(name: str) -> bool:
    """Whether ``name(...)`` is a call of a function rather than a product with a parenthesis."""
    return name in FUNCTIONS or name in ACTIVATION_NAMES or bool(_LAYER_G.fullmatch(name))


def _can_prime(name: str) -> bool:
    return name in ACTIVATION_NAMES or bool(_LAYER_G.fullmatch(name))


@dataclass
class _Token:
    kind: str  # name, prime (a derivative g'), number, op, open, close, comma, transpose, power, module
    out: str  # its Python text
    start: int  # where it is in the learner's text
    end: int
    mark: str = ""  # the notation mark it is, if any: its own text, as shown to the learner


@dataclass(frozen=True)
class Formula:
    """A parsed formula: the learner's ``text`` and its checked syntax ``tree``.

    ``body`` is the part after ``=`` (all of it when there is none) and ``target`` the quantity the
    left side differentiates by (``dE/dW_ij`` gives ``W_ij``), or None. ``source`` is the Python
    rewriting that ``ast`` parsed: ``g'`` is the name ``_d_g``, ``⊙`` is ``%``, a transpose ``.T``.
    ``marks`` maps each notation mark found (``"^T"``, ``"@"``, ``"juxtaposition"``...) to the
    notation it belongs to; :attr:`notation` is the one they agree on, or None.
    """

    text: str
    body: str
    target: Optional[str]
    source: str
    tree: ast.expr
    marks: dict[str, str]
    _starts: tuple[int, ...]  # for each character of source, where its token starts in text
    _ends: tuple[int, ...]  # ... and where it ends

    @property
    def notation(self) -> Optional[str]:
        """The notation the marks say (:data:`TEXTBOOK` or :data:`NUMPY`), None when they say nothing.

        Marks of both notations raise :class:`FormulaError`, naming one of each."""
        found = set(self.marks.values())
        if len(found) > 1:
            textbook = next(m for m, n in self.marks.items() if n == TEXTBOOK)
            numpy = next(m for m, n in self.marks.items() if n == NUMPY)
            raise FormulaError(
                f"the formula mixes notations: {textbook} is textbook notation and {numpy} is numpy's; "
                "write it in one of them, or say which with notation='textbook' or notation='numpy'"
            )
        return found.pop() if found else None

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Where ``node`` is in :attr:`text`: (start, end) in characters."""
        raw = self.source.encode("utf-8")
        start = len(raw[: getattr(node, "col_offset", 0)].decode("utf-8", "replace"))
        end = len(raw[: getattr(node, "end_col_offset", len(raw))].decode("utf-8", "replace"))
        return self._starts[start], self._ends[max(end - 1, start)]

    def part(self, node: ast.AST) -> str:
        """The learner's own text of ``node``."""
        start, end = self.span(node)
        return self.text[start:end]


def parse_formula(text: str) -> Formula:
    """Read ``text`` (textbook or numpy notation) into a :class:`Formula`, or raise :class:`FormulaError`.

    >>> parse_formula("x δ1ᵀ").source
    'x * δ1 .T'
    >>> parse_formula("np.outer(x, delta1)").marks
    {'np.': 'numpy'}
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if "\n" in text or "\r" in text:
        raise FormulaError("the formula must be on one line")
    text = text.strip()
    if not text:
        raise FormulaError("the formula is empty")
    target, begin = _left_side(text)
    if not text[begin:].strip():
        raise FormulaError("the formula is empty after =")
    tokens = _tokens(text, begin)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    marks: dict[str, str] = {}
    for token in tokens:
        if pieces:
            pieces.append(" ")
            starts.append(token.start)
            ends.append(token.start)
        pieces.append(token.out)
        starts += [token.start] * len(token.out)
        ends += [token.end] * len(token.out)
        if token.mark:
            marks.setdefault(token.mark, NUMPY if token.mark in ("@", ".T", "np.") else TEXTBOOK)
    source = "".join(pieces)
    depth = 0
    for token in tokens:
        depth += (token.kind == "open") - (token.kind == "close")
        if depth > MAX_DEPTH:
            raise FormulaError(f"parentheses nest deeper than {MAX_DEPTH}, at column {token.start + 1}")
    tree = _parse(source, text, starts)
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise FormulaError(f"the formula has {count} parts; the limit is {MAX_NODES}")
    formula = Formula(text, text[begin:].strip(), target, source, tree, marks, tuple(starts), tuple(ends))
    _check(tree, formula, 0)
    return formula


def _left_side(text: str) -> tuple[Optional[str], int]:
    """The quantity ``dE/dW_ij = ...`` differentiates by, and where the right side begins."""
    if text.count("=") == 0:
        return None, 0
    if text.count("=") > 1:
        raise FormulaError(f"a formula has at most one = (column {text.index('=', text.index('=') + 1) + 1})")
    left = text[: text.index("=")].strip()
    right = left.rsplit("/", 1)[-1].replace("{", "").replace("}", "").strip()
    for prefix in ("d", "∂", "δ", "∇"):
        if right.startswith(prefix) and right[len(prefix):].strip().isidentifier():
            return unicodedata.normalize("NFKC", right[len(prefix):].strip()), text.index("=") + 1
    raise FormulaError(
        f"the left side {left!r} names no derivative: write it as dE/dW_ij (or dW1), or leave it out"
    )


def _tokens(text: str, i: int) -> list[_Token]:
    """The tokens of ``text`` from ``i``, with juxtapositions made explicit products."""
    out: list[_Token] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
            continue
        number = _NUMBER.match(text, i) if (c.isdigit() or c == ".") else None
        if number:
            _add(out, _Token("number", number.group(), i, number.end()), text)
            i = number.end()
        elif c == "_" or (c.isidentifier() and c != "ᵀ"):
            i = _name(out, text, i)
        elif c == "'":
            _prime(out, text, i)
            i += 1
        elif c == "^":
            i = _caret(out, text, i)
        elif c == "ᵀ":
            _add(out, _Token("transpose", ".T", i, i + 1, "ᵀ"), text)
            i += 1
        elif c == ".":
            i = _dot(out, text, i)
        elif c == "*":
            if text.startswith("**", i):
                _add(out, _Token("power", "**", i, i + 2), text)
                i += 2
            else:
                _add(out, _Token("op", "*", i, i + 1), text)
                i += 1
        elif c in _SUPERSCRIPT:
            _add(out, _Token("power", "**", i, i + 1, c), text)
            _add(out, _Token("number", _SUPERSCRIPT[c], i, i + 1), text)
            i += 1
        else:
            _add(out, _symbol(c, text, i), text)
            i += 1
    return out


def _symbol(c: str, text: str, i: int) -> _Token:
    if c in "+-/":
        return _Token("op", c, i, i + 1)
    if c in _MINUS:
        return _Token("op", "-", i, i + 1)
    if c == "÷":
        return _Token("op", "/", i, i + 1)
    if c == "@":
        return _Token("op", "@", i, i + 1, "@")
    if c in _PRODUCT:
        return _Token("op", "*", i, i + 1, c)
    if c in _ELEMENTWISE:
        return _Token("op", "%", i, i + 1, c)
    if c == "(":
        return _Token("open", "(", i, i + 1)
    if c == ")":
        return _Token("close", ")", i, i + 1)
    if c == ",":
        return _Token("comma", ",", i, i + 1)
    hint = _INSTEAD.get(c)
    shown = c if c.isprintable() else repr(c)[1:-1]
    raise FormulaError(f"{shown} (column {i + 1}) is not part of a formula" + (f": {hint}" if hint else ""))


def _name(out: list[_Token], text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and text[j] != "ᵀ" and text[i : j + 1].isidentifier():
        j += 1
    raw = text[i:j]
    if j < len(text) and raw.endswith("_") and text[j] == "{":  # W_{ij}: a subscript in braces
        close = text.find("}", j)
        inner = text[j + 1 : close] if close > 0 else ""
        if not inner.strip() or not (raw + inner.strip()).isidentifier():
            raise FormulaError(f"braces are only for subscripts, as in W_{{ij}} (column {j + 1})")
        raw, j = raw + inner.strip(), close + 1
    name = unicodedata.normalize("NFKC", raw)  # as Python reads identifiers
    if name.startswith("_"):
        raise FormulaError(f"names may not start with an underscore (column {i + 1}): {raw}")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise FormulaError(f"{raw} (column {i + 1}) is a Python keyword, not a quantity or function")
    if name in _MODULES and text.startswith(".", j):
        _add(out, _Token("module", "", i, j + 1, "np."), text)
        return j + 1
    _add(out, _Token("name", name, i, j), text)
    return j


def _prime(out: list[_Token], text: str, i: int) -> None:
    """``g'``: the token before becomes the derivative's reserved name."""
    last = out[-1] if out else None
    if last is not None and last.kind == "name" and _can_prime(last.out) and last.end == i:
        last.kind, last.out, last.end, last.mark = "prime", _DERIVATIVE + last.out, i + 1, "'"
        return
    if last is None:
        raise FormulaError("a formula cannot start with ' (column 1)")
    before = text[last.start : last.end]
    if last.kind == "prime":
        raise FormulaError(f"{before}' (column {i + 1}): only first derivatives are part of backprop")
    shown = "(...)" if last.kind == "close" else before
    raise FormulaError(
        f"' after {shown} (column {i + 1}): ' marks a derivative, as in g'; for the transpose write {shown}^T"
    )


def _caret(out: list[_Token], text: str, i: int) -> int:
    """``^T`` (or ``^{T}``) is a transpose, ``^2`` a power; nothing else follows ``^``."""
    j = i + 1
    while j < len(text) and text[j] == " ":
        j += 1
    for spelled in ("T", "{T}", "t", "{t}"):
        after = j + len(spelled)
        if text.startswith(spelled, j) and not (after < len(text) and (text[after].isalnum() or text[after] == "_")):
            _add(out, _Token("transpose", ".T", i, after, "^T"), text)
            return after
    if j < len(text) and (text[j].isdigit() or text[j] in "(-.{"):
        if text[j] == "{":
            raise FormulaError(f"^{{...}} (column {i + 1}): write a power as ^2 or ^(...)")
        _add(out, _Token("power", "**", i, i + 1, "^"), text)
        return i + 1
    raise FormulaError(f"^ (column {i + 1}) must be followed by T (a transpose) or a number (a power)")


def _dot(out: list[_Token], text: str, i: int) -> int:
    """``.*`` elementwise, ``./`` a division, ``.^`` a power, ``.T`` a transpose (numpy)."""
    two = text[i : i + 2]
    if two == ".*":
        _add(out, _Token("op", "%", i, i + 2, ".*"), text)
        return i + 2
    if two == "./":
        _add(out, _Token("op", "/", i, i + 2, "./"), text)
        return i + 2
    if two == ".^":
        _add(out, _Token("power", "**", i, i + 2, "^"), text)
        return i + 2
    if two == ".T" and not (i + 2 < len(text) and (text[i + 2].isalnum() or text[i + 2] == "_")):
        _add(out, _Token("transpose", ".T", i, i + 2, ".T"), text)
        return i + 2
    raise FormulaError(f"attribute access is not allowed (column {i + 1}): only .T, a transpose")


_VALUE_END = ("name", "prime", "number", "close", "transpose")
_VALUE_START = ("name", "prime", "number", "open", "module")


def _add(out: list[_Token], token: _Token, text: str) -> None:
    """Append ``token``, first an explicit product if it stands right after a value (``2x``, ``W x``)."""
    last = out[-1] if out else None
    if last is not None and last.kind in _VALUE_END and token.kind in _VALUE_START:
        call = token.kind == "open" and (last.kind == "prime" or (last.kind == "name" and is_function(last.out)))
        if not call:
            if last.kind == "number" and token.kind == "number":
                raise FormulaError(f"two numbers side by side (column {token.start + 1})")
            out.append(_Token("op", "*", last.end, token.start, "juxtaposition"))
    if last is not None and last.kind == "module":  # np.outer: the function's name, marked numpy
        if not (token.kind == "name" and token.out in FUNCTIONS):
            shown = text[last.start : token.end]
            raise FormulaError(f"{shown} (column {last.start + 1}) is not available; the functions are: {', '.join(FUNCTIONS)}")
        out.pop()
        token.start, token.mark = last.start, last.mark
    out.append(token)


def _parse(source: str, text: str, starts: list[int]) -> ast.expr:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ast.parse(source, mode="eval").body
    except (SyntaxError, SyntaxWarning, DeprecationWarning) as exc:
        offset = getattr(exc, "offset", None)
        where = ""
        if isinstance(offset, int) and 0 < offset <= len(starts):
            where = f" (column {starts[offset - 1] + 1})"
        elif isinstance(offset, int) and offset > len(starts):
            where = " (at the end)"
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise FormulaError(f"not a formula: {message}{where}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise FormulaError(f"the formula cannot be parsed: {type(exc).__name__}") from None


_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult, ast.Mod)


def _fail(what: str, node: ast.AST, formula: Formula) -> FormulaError:
    start, _ = formula.span(node)
    part = formula.part(node)
    if len(part) > 40:
        part = part[:37] + "..."
    return FormulaError(f"{what} (column {start + 1}): {part}")


def _check(node: ast.AST, formula: Formula, depth: int) -> None:
    """The allow-list: numbers, names, + - * / ** @ ⊙, unary minus, .T, and calls of known functions."""
    if depth > MAX_DEPTH:
        raise _fail(f"the formula nests deeper than {MAX_DEPTH}", node, formula)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail("only numbers are allowed as constants", node, formula)
        if not abs(value) <= MAX_LITERAL:
            raise _fail(f"a number larger than {MAX_LITERAL:g} is not allowed", node, formula)
    elif isinstance(node, ast.Name):
        if is_function(node.id):
            raise _fail(f"{node.id} is a function: call it, as {node.id}(z1)", node, formula)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINARY):
            raise _fail("this operator is not allowed", node, formula)
        if isinstance(node.op, ast.Pow):
            exponent = node.right.operand if isinstance(node.right, ast.UnaryOp) else node.right
            if not isinstance(exponent, ast.Constant):
                raise _fail("a power's exponent must be a number", node.right, formula)
            if isinstance(exponent.value, (int, float)) and abs(exponent.value) > MAX_EXPONENT:
                raise _fail(f"an exponent larger than {MAX_EXPONENT} is not allowed", node.right, formula)
        _check(node.left, formula, depth + 1)
        _check(node.right, formula, depth + 1)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise _fail("this operator is not allowed", node, formula)
        _check(node.operand, formula, depth + 1)
    elif isinstance(node, ast.Attribute):
        if node.attr != "T":
            raise _fail("attribute access is not allowed (only .T, a transpose)", node, formula)
        _check(node.value, formula, depth + 1)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or not (is_function(node.func.id) or node.func.id.startswith(_DERIVATIVE)):
            raise _fail("only functions can be called: " + ", ".join(FUNCTIONS) + ", g and g'", node, formula)
        name = node.func.id
        arity = FUNCTIONS.get(name, 1)
        if len(node.args) != arity or node.keywords:
            shown = name[len(_DERIVATIVE):] + "'" if name.startswith(_DERIVATIVE) else name
            raise _fail(f"{shown} takes {'one argument' if arity == 1 else f'{arity} arguments'}", node, formula)
        for arg in node.args:
            _check(arg, formula, depth + 1)
    else:
        raise _fail(f"{type(node).__name__} is not allowed in a formula", node, formula)


def derivative_of(name: str) -> Optional[str]:
    """The activation a reserved derivative name stands for (``_d_g`` is ``g``), else None."""
    return name[len(_DERIVATIVE):] if name.startswith(_DERIVATIVE) else None
