"""Scalar derivatives as formulas: the engine's written out, and a learner's checked factor by factor.

:func:`derivative_formula` writes d(formula)/d(input) the way the engine computes it: the sum,
over every path from the input to the result (:func:`autodiff.trace`), of the product of the
local derivatives on the path, each written from the rule table's own expression for it
(``RULES[op].local_exprs(...)``), then tidied (``* 1`` dropped, constants folded, ``x * x``
written ``x ** 2``) enough to read.

:func:`check_derivative` compares a learner's derivative with the engine's at several points
and, when they differ, names the chain-rule factor (or the path) where they part: the engine's
factors come from the trace of the same formula, built by :func:`autodiff.expr.build_expression`,
which labels each part of the formula by its text.

>>> derivative_formula("tanh(a*b + c)", "a")
'(1 - tanh(a * b + c) ** 2) * b'
>>> check_derivative("tanh(a*b + c)", wrt="a", mine="(1 - tanh(a*b + c)**2) * b").ok
True
>>> print(check_derivative("tanh(a*b + c)", wrt="a", mine="(1 - tanh(a*b + c)**2) * c").differing)
d(a * b)/da
"""

from __future__ import annotations

import ast
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

from . import fmt
from .expr import ExprError, build_expression, input_names, parse_expression
from .graph import grad
from .ops import RULES, DomainError
from .trace import trace
from .value import Value

__all__ = ["derivative_formula", "check_derivative", "DerivativeCheck", "Factor", "MAX_PATHS"]

#: The most paths :func:`derivative_formula` writes out (their number can grow exponentially).
MAX_PATHS = 64
_POINTS = 5  # points compared when none are given
_RTOL, _ATOL = 1e-7, 1e-10  # equal: the two sides compute in different orders, so they round differently
Number = Union[int, float]


# -- the text of each node, from the formula's syntax tree ----------------------------------------
def _node_trees(root: Value, tree: ast.expr) -> dict[int, ast.expr]:
    """For each node of the graph ``build_expression`` made from ``tree``, the part of the tree it
    computes (by id). Walks the graph and the tree together, as the builder did; a node it cannot
    place is left out (and named by :func:`autodiff.fmt.name` instead)."""
    found: dict[int, ast.expr] = {}
    stack: list[tuple[Value, ast.expr]] = [(root, tree)]
    while stack:
        v, t = stack.pop()
        while isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.UAdd):  # +x is x itself
            t = t.operand
        found.setdefault(id(v), t)
        parents = v.parents
        if isinstance(t, ast.UnaryOp) and v.op == "neg":
            stack.append((parents[0], t.operand))
        elif isinstance(t, ast.Call) and len(parents) == len(t.args):
            stack += list(zip(parents, t.args))
        elif isinstance(t, ast.BinOp) and v.op == "**":  # the exponent is a number kept on the node
            stack.append((parents[0], t.left))
        elif isinstance(t, ast.BinOp) and len(parents) == 2:
            stack += [(parents[0], t.left), (parents[1], t.right)]
    return found


class _Texts:
    """Syntax trees for nodes: their part of the formula, or their name when it has none."""

    def __init__(self, root: Value, tree: ast.expr) -> None:
        self.trees = _node_trees(root, tree)

    def tree(self, v: Value) -> ast.expr:
        t = self.trees.get(id(v))
        if t is not None:
            return t
        if not v.parents:
            return ast.Constant(v.data) if v.data >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-v.data))
        return ast.Name(fmt.name(v))

    def local(self, child: Value, k: int) -> ast.expr:
        """The rule table's expression for d child / d (its operand ``k``), over the operands' trees."""
        rule = RULES[child.op]
        names = [f"_operand{i}" for i in range(len(child.parents))]
        exponent = repr(child.arg) if child.arg is not None else "None"
        text = rule.local_exprs(names, exponent, "_out")[k]
        trees = {name: self.tree(p) for name, p in zip(names, child.parents)}
        trees["_out"] = self.tree(child)
        return _Substitute(trees).visit(ast.parse(text, mode="eval").body)  # type: ignore[no-any-return]


class _Substitute(ast.NodeTransformer):
    def __init__(self, trees: Mapping[str, ast.expr]) -> None:
        self.trees = trees

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.trees.get(node.id, node)


# -- tidying a formula ----------------------------------------------------------------------
def _number(node: ast.expr) -> Optional[float]:
    """The number ``node`` is, if it is one (``2``, ``-1.5``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


def _const(x: float) -> ast.expr:
    value: Union[int, float] = int(x) if x.is_integer() and abs(x) < 1e15 else x
    return ast.Constant(value) if value >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-value))


def _same(a: ast.expr, b: ast.expr) -> bool:
    return ast.dump(a) == ast.dump(b)


def _factors(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _factors(node.left) + _factors(node.right)
    return [node]


def _product(factors: Sequence[ast.expr]) -> ast.expr:
    """The product of ``factors``: numbers multiplied into one, first (a minus sign too); 1 left
    out; ``x * x`` written ``x ** 2``."""
    number, rest = 1.0, []  # type: float, list[ast.expr]
    todo = list(factors)
    while todo:
        f = todo.pop(0)
        n = _number(f)
        if n is not None:
            number *= n
        elif isinstance(f, ast.UnaryOp) and isinstance(f.op, ast.USub):  # -x: the sign goes with the number
            number = -number
            todo.insert(0, f.operand)
        elif isinstance(f, ast.BinOp) and isinstance(f.op, ast.Mult):
            todo[:0] = [f.left, f.right]
        elif rest and _same(rest[-1], f):
            rest[-1] = ast.BinOp(f, ast.Pow(), ast.Constant(2))
        else:
            rest.append(f)
    if number == 0 or not rest:
        return _const(number)
    out = rest[0] if number in (1, -1) else ast.BinOp(_const(number), ast.Mult(), rest[0])
    for f in rest[1:]:
        out = ast.BinOp(out, ast.Mult(), f)
    return ast.UnaryOp(ast.USub(), out) if number == -1 else out


class _Tidy(ast.NodeTransformer):
    """Writes an expression more simply without changing its value where it is defined."""

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "dpower" and len(node.args) == 2:
            base, k = node.args  # d(a ** k)/da = k * a ** (k - 1), as the rule's dpower computes it
            power = self.visit(ast.BinOp(base, ast.Pow(), ast.BinOp(k, ast.Sub(), ast.Constant(1))))
            return self.visit(ast.BinOp(k, ast.Mult(), power))  # type: ignore[no-any-return]
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.expr:
        if isinstance(node.value, float) and node.value.is_integer() and abs(node.value) < 1e15:
            return ast.Constant(int(node.value))  # 1.0 is written 1
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        a, b = _number(node.left), _number(node.comparators[0]) if len(node.comparators) == 1 else None
        if a is not None and b is not None and isinstance(node.ops[0], ast.Gt):
            return ast.Constant(a > b)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        n = _number(node)
        if n is not None:
            return _const(n)
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.UnaryOp) and isinstance(node.operand.op, ast.USub):
            return node.operand.operand
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant) and isinstance(node.test.value, bool):
            return node.body if node.test.value else node.orelse  # 2 ** a: its base is > 0
        if _same(node.body, node.orelse):
            return node.body
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        left, right, op = node.left, node.right, node.op
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            folded = _fold(a, b, op)
            if folded is not None:
                return _const(folded)
        if isinstance(op, ast.Mult):
            return _product(_factors(node))
        if isinstance(op, ast.Add):
            if a == 0:
                return right
            if b == 0:
                return left
            if b is not None and b < 0:
                return ast.BinOp(left, ast.Sub(), _const(-b))
            if isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.USub):
                return ast.BinOp(left, ast.Sub(), right.operand)
        if isinstance(op, ast.Sub):
            if b == 0:
                return left
            if a == 0:
                return self.visit(ast.UnaryOp(ast.USub(), right))  # type: ignore[no-any-return]
            if isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.USub):
                return ast.BinOp(left, ast.Add(), right.operand)
            if _same(left, right):
                return _const(0.0)
        if isinstance(op, ast.Div) and b == 1:
            return left
        if isinstance(op, ast.Pow):
            if b == 1:
                return left
            if b == 0:
                return _const(1.0)
        return node


def _fold(a: float, b: float, op: ast.operator) -> Optional[float]:
    """``a op b`` when it is a tidy number to write (no overflow, no division by zero)."""
    try:
        if isinstance(op, ast.Add):
            value = a + b
        elif isinstance(op, ast.Sub):
            value = a - b
        elif isinstance(op, ast.Mult):
            value = a * b
        elif isinstance(op, ast.Div):
            value = a / b
        elif isinstance(op, ast.Pow) and abs(b) <= 64 and (a >= 0 or float(b).is_integer()):
            value = a**b
        else:
            return None
    except (ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _tidy(node: ast.expr) -> ast.expr:
    for _ in range(4):  # a few passes: each one can make room for another
        before = ast.dump(node)
        node = _Tidy().visit(node)
        if ast.dump(node) == before:
            break
    return node


def _split(term: ast.expr) -> tuple[float, list[ast.expr]]:
    """A product as its number and its other factors: ``-2 * x * y`` is (-2, [x, y])."""
    if isinstance(term, ast.UnaryOp) and isinstance(term.op, ast.USub) and _number(term) is None:
        number, rest = _split(term.operand)
        return -number, rest
    factors = _factors(term)
    numbers = [n for n in map(_number, factors) if n is not None]
    return math.prod(numbers), [f for f in factors if _number(f) is None]


def _sum(terms: Sequence[ast.expr]) -> ast.expr:
    """Terms added, equal ones counted once with their number (``a + a`` is ``2 * a``), zeros left out."""
    counts: dict[str, tuple[float, list[ast.expr]]] = {}
    for term in terms:
        number, rest = _split(term)
        key = ast.dump(_product(rest)) if rest else "1"
        counts[key] = (counts.get(key, (0.0, rest))[0] + number, rest)
    out: Optional[ast.expr] = None
    for number, rest in counts.values():
        if number == 0:
            continue
        if out is None:
            out = _product([_const(number), *rest])
        else:
            part = _product([_const(abs(number)), *rest])
            out = ast.BinOp(out, ast.Sub() if number < 0 else ast.Add(), part)
    return out if out is not None else _const(0.0)


# -- the engine's derivative, written out -------------------------------------------------------
def _points(tree: ast.expr, names: Sequence[str], at: object, count: int = _POINTS) -> list[dict[str, float]]:
    """The points to build and compare at: ``at`` (one mapping, or a list of them), else ``count``
    points drawn from a fixed seed where the formula is defined."""
    if at is not None:
        given = [at] if isinstance(at, Mapping) else list(at)  # type: ignore[call-overload]
        if not given or not all(isinstance(p, Mapping) for p in given):
            raise ExprError("at must be a mapping of each input to a number, or a list of such mappings")
        return [dict(p) for p in given]
    text = ast.unparse(tree)
    rng = random.Random(0)
    points: list[dict[str, float]] = []
    for _ in range(200):
        point = {n: round(rng.uniform(-2.0, 2.0), 2) for n in names}
        try:
            root, inputs = build_expression(text, point)
            if all(math.isfinite(g) for g in grad(root, list(inputs.values()))) and math.isfinite(root.data):
                points.append(point)
        except (ArithmeticError, ValueError, DomainError):
            continue
        if len(points) == count:
            break
    if not points:
        raise ExprError(f"found no point where {text} is defined: give one with at= (--set)")
    return points


def _build(text: str, tree: ast.expr, wrt: str, point: Mapping[str, float]) -> tuple[Value, Value]:
    names = input_names(tree)
    if wrt not in names:
        raise ExprError(f"{wrt!r} is not an input of {text}; its inputs are: {', '.join(names) or 'none'}")
    root, inputs = build_expression(text, point)
    return root, inputs[wrt]


def _path_products(root: Value, wrt: Value, texts: _Texts) -> list[list[tuple[str, ast.expr, float]]]:
    """Each path from ``wrt`` to ``root``, root first: (the factor's name, its formula, its value)."""
    t = trace(root, wrt)
    if t.count > MAX_PATHS:
        raise ExprError(f"the derivative has {t.count} paths; at most {MAX_PATHS} can be written out")
    out = []
    for path in t.paths:
        factors = []
        for (parent, child, k), local in zip(path.edges, path.locals):
            name = fmt.derivative(fmt.name(child), fmt.name(parent))
            factors.append((name, _tidy(texts.local(child, k)), local))
        out.append(factors[::-1])
    return out


def derivative_formula(text: str, wrt: str, at: Optional[Mapping[str, Number]] = None) -> str:
    """d(``text``)/d(``wrt``) as a formula: the sum over paths of products of the rule table's local
    derivatives, tidied. ``at`` gives the inputs' values to build the graph at (the formula does
    not depend on them, but the graph must be buildable there); by default a point is found.

    >>> derivative_formula("a*a + a", "a")
    '2 * a + 1'
    >>> derivative_formula("log(x) / y", "y")
    '-(log(x) / y) / y'
    """
    tree = parse_expression(text)
    point = _points(tree, input_names(tree), at, count=1)[0]
    root, x = _build(text, tree, wrt, point)
    paths = _path_products(root, x, _Texts(root, tree))
    terms = [_tidy(_product([f for _, f, _ in path])) for path in paths]
    return ast.unparse(_tidy(_sum(terms)))


# -- checking a learner's derivative --------------------------------------------------------------
@dataclass(frozen=True)
class Factor:
    """One factor of the chain rule: its ``name`` (``d(a * b)/da``), its ``formula`` from the rule
    table (``b``), and its value at each point compared."""

    name: str
    formula: str
    values: tuple[float, ...]


@dataclass
class DerivativeCheck:
    """What :func:`check_derivative` found; ``str()`` is the text for people, ``ok`` the verdict.

    ``points`` are the inputs' values compared at; ``engine`` and ``yours`` the two derivatives
    there (``yours`` None where the learner's expression is undefined); ``paths`` the engine's
    chain rule, each path a list of :class:`~autodiff.derivative.Factor` (root first); ``formula`` the engine's
    derivative written out (:func:`derivative_formula`); ``differing`` the name of the factor (or
    path) where the learner's expression parts from the engine's, and ``diagnosis`` the sentences.
    """

    text: str
    wrt: str
    mine: str
    points: list[dict[str, float]]
    engine: list[float]
    yours: list[Optional[float]]
    paths: list[list[Factor]]
    formula: str
    ok: bool
    differing: Optional[str] = None
    diagnosis: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"d/d{self.wrt} of {self.text}: yours is {self.mine}",
                 f"the engine's, written out from the rule table: {self.formula}"]
        for point, engine, yours in zip(self.points, self.engine, self.yours):
            where = ", ".join(f"{n}={fmt.number(v)}" for n, v in point.items())
            shown = "undefined" if yours is None else fmt.number(yours)
            same = yours is not None and _equal(yours, engine)
            lines.append(f"  at {where}: engine {fmt.number(engine)}, yours {shown}  {'equal' if same else 'DIFFERENT'}")
        if self.ok:
            lines.append("Right: equal at the point given." if len(self.points) == 1 else f"Right: equal at all {len(self.points)} points.")
            return "\n".join(lines)
        count = len(self.paths)
        lines.append(f"The engine's chain rule (autodiff.trace): {count} path{'s' if count != 1 else ''}, "
                     "each the product of its local derivatives")
        for i, path in enumerate(self.paths):
            names = " · ".join(f.name for f in path) or "1"
            formulas = " · ".join(_grouped(f.formula) for f in path) or "1"
            lines.append(f"  path {i + 1}: {names}")
            lines.append(f"          = {formulas}")
        lines += self.diagnosis
        lines.append("Wrong.")
        return "\n".join(lines)


def _grouped(formula: str) -> str:
    return f"({formula})" if any(c in formula for c in " +-") and not formula.startswith("(") else formula


def _equal(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_RTOL, abs_tol=_ATOL)


def _value(text: str, point: Mapping[str, float]) -> Optional[float]:
    """``text`` evaluated at ``point`` by the engine (None where it is undefined)."""
    tree = parse_expression(text)
    try:
        root, _ = build_expression(text, {n: point[n] for n in input_names(tree)})
    except (ArithmeticError, DomainError):
        return None
    except ValueError as exc:
        if isinstance(exc, ExprError):
            raise
        return None
    return root.data if math.isfinite(root.data) else None


def _terms(node: ast.expr, sign: float = 1.0) -> list[tuple[float, list[ast.expr]]]:
    """The learner's expression as a sum of (sign, factors)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = -sign if isinstance(node.op, ast.Sub) else sign
        return _terms(node.left, sign) + _terms(node.right, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _terms(node.operand, -sign)
    return [(sign, _parts(node))]


def _parts(node: ast.expr) -> list[ast.expr]:
    """The factors of a product (``a / b`` has the factors ``a`` and ``1 / b``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _parts(node.left) + _parts(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _parts(node.left) + [ast.BinOp(ast.Constant(1), ast.Div(), node.right)]
    return [node]


def check_derivative(
    text: str,
    wrt: str,
    mine: str,
    at: Optional[Union[Mapping[str, Number], Sequence[Mapping[str, Number]]]] = None,
) -> DerivativeCheck:
    """Compare ``mine``, a learner's d(``text``)/d(``wrt``), with the engine's derivative.

    ``at`` is one point (a mapping of every input of ``text`` to a number) or a list of points;
    by default a few points are drawn from a fixed seed where the formula is defined. The two are
    equal if they agree to a relative 1e-7 at every point. When they do not, the learner's
    expression is read as a sum of products and matched against the engine's paths and their
    factors (from :func:`autodiff.trace`): the report names the factor, or the path, that differs.
    Unreadable input raises :class:`autodiff.expr.ExprError`.

    >>> r = check_derivative("x * y + x", wrt="x", mine="y")
    >>> r.ok, r.differing
    (False, 'path 2: dout/dx')
    """
    tree = parse_expression(text)
    names = input_names(tree)
    mine_tree = parse_expression(mine)
    strangers = [n for n in input_names(mine_tree) if n not in names]
    if strangers:
        raise ExprError(f"your derivative uses {', '.join(strangers)}, which {'is' if len(strangers) == 1 else 'are'} "
                        f"not an input of {text} (its inputs: {', '.join(names)})")
    points = _points(tree, names, at)
    probes = list(points)  # the diagnosis looks at more points: at one point, b = 1 would pass for a factor 1
    if at is not None:
        try:
            probes += [p for p in _points(tree, names, None) if p not in points]
        except ExprError:
            pass
    engine, yours, per_point = [], [], []
    for point in probes:
        root, x = _build(text, tree, wrt, point)
        engine.append(grad(root, [x])[0])
        yours.append(_value(mine, point))
        per_point.append(_path_products(root, x, _Texts(root, tree)))
    paths = [[Factor(name, ast.unparse(formula), tuple(p[i][j][2] for p in per_point))
              for j, (name, formula, _) in enumerate(path)] for i, path in enumerate(per_point[0])]
    formula = ast.unparse(_tidy(_sum([_tidy(_product([f for _, f, _ in path])) for path in per_point[0]])))
    n = len(points)
    ok = all(y is not None and _equal(y, e) for y, e in zip(yours[:n], engine[:n]))
    result = DerivativeCheck(text, wrt, mine, points, engine[:n], yours[:n], paths, formula, ok)
    if not ok:
        _diagnose(result, mine_tree, probes, engine, yours)
    result.paths = [[Factor(f.name, f.formula, f.values[:n]) for f in path] for path in paths]
    return result


def _diagnose(result: DerivativeCheck, mine_tree: ast.expr, points: list[dict[str, float]],
              engine: list[float], yours: list[Optional[float]]) -> None:
    """Match the learner's terms to the engine's paths, and their factors to the paths' factors,
    at ``points`` (the points compared, then more), where the two derivatives are ``engine`` and ``yours``."""
    say = result.diagnosis

    def values(node: ast.expr, sign: float = 1.0) -> tuple[Optional[float], ...]:
        out = []
        for p in points:
            v = _value(ast.unparse(node), p)
            out.append(None if v is None else sign * v)
        return tuple(out)

    def same(a: Sequence[Optional[float]], b: Sequence[float]) -> bool:
        return all(x is not None and _equal(x, y) for x, y in zip(a, b))

    products = [tuple(math.prod(f.values[k] for f in path) for k in range(len(points))) for path in result.paths]
    # one path: the learner's expression is one product; several: a sum of them, one per path
    terms = _terms(mine_tree) if len(products) > 1 else [(1.0, _parts(mine_tree))]
    term_values = [values(_product(parts), sign) for sign, parts in terms]
    ratios = [y / e for y, e in zip(yours, engine) if y is not None and e != 0]
    if len(ratios) == len(points) and ratios and all(_equal(r, ratios[0]) for r in ratios) and not _equal(ratios[0], 1.0):
        say.append(f"Yours is {fmt.number(ratios[0])} times the engine's at every point: a constant factor too many or too few.")
    open_paths = list(range(len(products)))
    open_terms = list(range(len(terms)))
    for i in list(open_paths):
        for j in open_terms:
            if same(term_values[j], products[i]):
                open_paths.remove(i)
                open_terms.remove(j)
                break
    if len(products) > 1:
        for i in open_paths:
            path = result.paths[i]
            say.append(f"Path {i + 1} ({' · '.join(f.name for f in path)}) has no term of yours equal to it.")
        for j in open_terms:
            say.append(f"Your term {ast.unparse(_product(terms[j][1]))} equals no path of the engine's.")
    if len(open_paths) == 1 and len(open_terms) == 1:
        _compare_factors(result, open_paths[0], terms[open_terms[0]], values, len(points))
    elif open_paths and not open_terms:
        first = result.paths[open_paths[0]]
        result.differing = f"path {open_paths[0] + 1}: {' · '.join(f.name for f in first) or result.wrt}"
        say.append(f"Missing: the path{'s' if len(open_paths) > 1 else ''} {', '.join(str(i + 1) for i in open_paths)}: "
                   "the chain rule adds one product for each path from the input to the result.")
    elif open_paths:
        result.differing = f"path {open_paths[0] + 1}"
    if not say:
        say.append("Your expression and the engine's differ, but no single factor or path explains it: compare them above.")


def _compare_factors(result: DerivativeCheck, i: int, term: tuple[float, list[ast.expr]],
                     values: Callable[[ast.expr], tuple[Optional[float], ...]], count: int) -> None:
    """One path against one term of the learner's (both known at ``count`` points): which factor
    of the chain rule differs. Values are shown at the points compared only."""
    path = result.paths[i]
    sign, parts = term
    mine = [(ast.unparse(p), values(p)) for p in parts]
    if sign < 0:
        mine.append(("-1", tuple(-1.0 for _ in range(count))))
    shown = len(result.points)
    say = result.diagnosis

    def same(a: Sequence[Optional[float]], b: Sequence[float]) -> bool:
        return all(x is not None and _equal(x, y) for x, y in zip(a, b))

    ones = tuple(1.0 for _ in range(count))
    left = [f for f in path if not same(f.values, ones)]  # factors of 1 need not be written
    unmatched_mine = []
    for text, vals in mine:
        match = next((f for f in left if same(vals, f.values)), None)
        if match is not None:
            left.remove(match)
        elif not same(vals, ones):
            unmatched_mine.append((text, vals))
    where = f" of path {i + 1}" if len(result.paths) > 1 else ""
    if len(left) == 1:
        factor = left[0]
        result.differing = factor.name
        rule = "its local derivative from the rule table"
        if len(unmatched_mine) == 1:
            text, vals = unmatched_mine[0]
            mine_at = ", ".join("undefined" if v is None else fmt.number(v) for v in vals[:shown])
            theirs = ", ".join(fmt.number(v) for v in factor.values[:shown])
            say.append(f"The factor that differs{where}: {factor.name}. Yours has {text} (= {mine_at}) where the chain "
                       f"rule has {factor.formula} (= {theirs}), {rule}.")
        elif not unmatched_mine:
            say.append(f"Missing factor{where}: {factor.name} = {factor.formula}, {rule}.")
        else:
            extra = ", ".join(t for t, _ in unmatched_mine)
            say.append(f"The factor that differs{where}: {factor.name} = {factor.formula}; your factors {extra} match no factor.")
    elif not left and unmatched_mine:
        result.differing = unmatched_mine[0][0]
        say.append(f"Extra factor{'s' if len(unmatched_mine) > 1 else ''}{where}: "
                   f"{', '.join(t for t, _ in unmatched_mine)}: every factor of the chain rule is there without it.")
    elif left:
        result.differing = left[0].name
        say.append(f"Factors of the chain rule{where} with no equal factor of yours: "
                   f"{', '.join(f'{f.name} = {f.formula}' for f in left)}"
                   + (f"; yours with no equal: {', '.join(t for t, _ in unmatched_mine)}" if unmatched_mine else "") + ".")
