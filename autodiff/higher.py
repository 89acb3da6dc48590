"""Gradients of gradients: the chain rule built as a graph, from the rule table's own text.

Every row of :data:`autodiff.ops.RULES` writes each local derivative as a small expression
(``1.0 - {out} * {out}`` for tanh). Backward evaluates it on floats when a node is made. Here the
same text is evaluated over Values instead: each local derivative becomes a node, each product
``local * grad`` and each sum of contributions too, so the gradient is a graph that can be drawn,
traced, stepped through, compiled and differentiated again.

>>> from autodiff import Value, grad
>>> x = Value(3.0, label="x")
>>> y = x ** 3
>>> y.label = "y"
>>> (dy,) = grad(y, [x], create_graph=True)   # 3 x^2, as a Value
>>> dy.data, dy.label
(27.0, 'dy/dx')
>>> grad(dy, [x])                             # 6 x
[18.0]
"""

from __future__ import annotations

import ast
from typing import Callable, Sequence, Union

from . import fmt
from .graph import backward_order
from .ops import NAMESPACE, RULES
from .scope import name_scope
from .value import Value, _real

__all__ = ["grad_graph", "local_values", "hessian", "hvp"]

Scalar = Union[Value, float]


def _power_slope(a: Scalar, k: Scalar) -> Scalar:
    """d(a ** k)/da = k * a ** (k - 1), as the float rule's ``dpower`` (0 for k == 0)."""
    if not isinstance(k, Value) and k == 0:
        return 0.0
    return k * a ** (k - 1)


def _function(name: str) -> Callable[[Scalar], Scalar]:
    """The function ``name`` of the rule expressions over Values (the float one for a plain number)."""
    on_floats = NAMESPACE[name]

    def call(x: Scalar) -> Scalar:
        return getattr(x, name)() if isinstance(x, Value) else on_floats(x)  # type: ignore[operator,no-any-return]

    return call


# The functions a rule's expressions call, over Values (the float versions are in ops.NAMESPACE).
_FUNCTIONS: dict[str, Callable[..., Scalar]] = {
    "exp": _function("exp"),
    "log": _function("log"),
    "tanh": _function("tanh"),
    "sigmoid": _function("sigmoid"),
    "dpower": _power_slope,
    "power": lambda a, k: a ** k,
}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}
_COMPARE = {ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b, ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b, ast.Eq: lambda a, b: a == b}
_PARSED: dict[str, ast.expr] = {}


def _number(x: Scalar) -> float:
    return x.data if isinstance(x, Value) else x


def _evaluate(node: ast.expr, names: dict[str, Scalar]) -> Scalar:
    """The rule-table expression ``node`` over Values: arithmetic builds nodes; a condition
    (``a > 0``) is decided on the numbers, as the float rule decides it when the node is made."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, names)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, names), _evaluate(node.right, names))  # type: ignore[no-any-return]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*[_evaluate(a, names) for a in node.args])
    if isinstance(node, ast.IfExp):
        return _evaluate(node.body if _decide(node.test, names) else node.orelse, names)
    raise ValueError(f"a rule expression this evaluator does not know: {ast.unparse(node)}")


def _decide(node: ast.expr, names: dict[str, Scalar]) -> bool:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left = _number(_evaluate(node.left, names))
        right = _number(_evaluate(node.comparators[0], names))
        return bool(_COMPARE[type(node.ops[0])](left, right))
    if isinstance(node, ast.BoolOp):
        parts = [_decide(v, names) for v in node.values]
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _decide(node.operand, names)
    raise ValueError(f"a rule condition this evaluator does not know: {ast.unparse(node)}")


def local_values(v: Value) -> list[Scalar]:
    """``v``'s local derivatives as Values (or plain numbers where they are constants), built from the
    rule's expressions over ``v``'s operands and ``v`` itself: differentiable again.

    >>> from autodiff import Value
    >>> x = Value(0.5, label="x")
    >>> t = x.tanh()
    >>> (slope,) = local_values(t)
    >>> slope.data == t.locals[0], slope.op
    (True, '-')
    """
    rule = RULES[v.op]
    parents = list(v.parents)
    if rule.join is not None:
        return [float(rule.local_text[0])] * len(parents)
    texts = rule.local_exprs(list(rule.operands), "k", "out")
    names: dict[str, Scalar] = dict(zip(rule.operands, parents))
    names["out"] = v
    if v.arg is not None:
        names["k"] = v.arg
    out = []
    for text in texts:
        tree = _PARSED.get(text)
        if tree is None:
            tree = _PARSED[text] = ast.parse(text, mode="eval").body
        out.append(_evaluate(tree, names))
    return out


def grad_graph(root: Value, inputs: Sequence[Value]) -> list[Value]:
    """d root / d x for each x in ``inputs`` as Values: the gradient built as a graph.

    Each node's gradient is a node labelled ``droot/dnode``, made inside ``name_scope("gradient")``
    so drawings group it apart from the forward graph. An input the root does not depend on gets
    a constant 0.
    """
    root_name = fmt.name(root)
    grads: dict[int, Value] = {}
    with name_scope("gradient"):
        one = Value(1.0)
        one.label = fmt.derivative(root_name, root_name)
        grads[id(root)] = one
        for v in backward_order(root):
            g = grads.get(id(v))
            if g is None:
                continue
            if not g.label and g.op:
                g.label = fmt.derivative(root_name, fmt.name(v))
            if not v._edges:
                continue
            for p, local in zip(v.parents, local_values(v)):
                if not isinstance(local, Value):
                    if local == 0.0:
                        continue  # a constant zero slope (a closed gate, d(x ** 0)) sends nothing
                    amount = g if local == 1.0 else (-g if local == -1.0 else g * local)
                else:
                    amount = local * g
                before = grads.get(id(p))
                grads[id(p)] = amount if before is None else before + amount
        result = []
        for x in inputs:
            g = grads.get(id(x))
            if g is None:  # not a node of root's graph: a constant 0
                g = Value(0.0, label=fmt.derivative(root_name, fmt.name(x)))
            result.append(g)
    return result


def _leaves(inputs: Sequence[Union[Value, float]]) -> list[Value]:
    return [x if isinstance(x, Value) else Value(_real(x, f"input {i}"), label=f"x{i}") for i, x in enumerate(inputs)]


def hessian(f: Callable[..., Value], inputs: Sequence[Union[Value, float]]) -> list[list[float]]:
    """The matrix of second derivatives d²f / dx_i dx_j of ``f(*inputs)`` by reverse over reverse.

    ``inputs`` holds numbers (each becomes a leaf ``x0``, ``x1``, ...) or Values.

    >>> hessian(lambda x, y: x * x * y, [3.0, 2.0])   # [[2y, 2x], [2x, 0]]
    [[4.0, 6.0], [6.0, 0.0]]
    """
    from .graph import grad

    xs = _leaves(inputs)
    root = f(*xs)
    if not isinstance(root, Value):
        raise TypeError(f"hessian: f must return a Value, not {type(root).__name__}")
    first = grad_graph(root, xs)
    return [grad(g, xs) for g in first]


def hvp(f: Callable[..., Value], inputs: Sequence[Union[Value, float]], v: Sequence[float]) -> list[float]:
    """The Hessian of ``f`` at ``inputs`` times the vector ``v``, without forming the Hessian:
    the gradient of ``grad(f) . v``, one reverse pass over the gradient's graph.

    >>> hvp(lambda x, y: x * x * y, [3.0, 2.0], [1.0, 0.0])
    [4.0, 6.0]
    """
    from .graph import grad

    xs = _leaves(inputs)
    if len(v) != len(xs):
        raise ValueError(f"hvp: v has {len(v)} numbers for {len(xs)} inputs")
    root = f(*xs)
    if not isinstance(root, Value):
        raise TypeError(f"hvp: f must return a Value, not {type(root).__name__}")
    first = grad_graph(root, xs)
    dot = Value.sum([g * _real(vi, "v") for g, vi in zip(first, v)])
    return grad(dot, xs)
