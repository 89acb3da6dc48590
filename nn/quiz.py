"""Any graph as an exercise: the numbers a teacher picks are hidden, and each answer is checked.

:func:`make_quiz` builds the 2-3-2 demo network (or takes any graph, :func:`quiz_from_graph`) and,
from a seed, picks questions of three kinds: the local derivative of one edge, the gradient of
the loss by one node, and a whole weight-gradient matrix (``dW2``). :meth:`Quiz.check` checks an
answer within a tolerance and, when it is wrong, says where it went wrong with the same
diagnosis as :func:`nn.check_formula` and :func:`autodiff.trace`: the path taken alone, the path
left out, the factor left out, the transpose; a matrix answered by a formula is checked by
:func:`nn.check_formula` itself. :meth:`Quiz.worksheet` and :meth:`Quiz.answer_key` print the
same questions for paper, from the same seed.

>>> q = make_quiz(seed=1, count=3)
>>> print(q.worksheet().splitlines()[1])
1. h1[0] = tanh(z1[0]) = -0.635083, with z1[0] = -0.749889. What is the local derivative dh1[0]/dz1[0]?
>>> print(q.check(1, "-0.635"))
That is h1[0] itself, its value, not its derivative. Not -0.635: the rule table's local derivative of tanh: dh1[0]/dz1[0] = 1.0 - h1[0] * h1[0] = 0.59667.
>>> q.check(1, "0.5967").right
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import autodiff
from autodiff import RULES, Value, fmt

from . import demo
from .layers import MLP

__all__ = ["make_quiz", "quiz_from_graph", "Quiz", "Question", "Feedback", "add_quiz_command", "run_quiz", "KINDS"]

#: The kinds of question: an edge's local derivative, a node's gradient, a weight-gradient matrix.
KINDS = ("local", "grad", "matrix")
Answer = Union[float, str, Sequence[Sequence[float]]]


@dataclass(frozen=True)
class Question:
    """One question: its ``kind`` (one of :data:`KINDS`), the ``prompt``, the ``answer`` (a number,
    or rows of numbers for a matrix) and the ``explanation`` printed in the answer key."""

    kind: str
    prompt: str
    answer: Union[float, list[list[float]]]
    explanation: str
    target: Any = None  # what is asked about: (parent, child, k), a node, or a layer number


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``right``, and the ``message`` that says why (where it went wrong)."""

    right: bool
    message: str

    def __str__(self) -> str:
        return self.message


def _close(a: float, b: float, rel: float, abs_: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


class Quiz:
    """Questions on the graph of ``root``; a network's weight matrices too when ``model`` is given.

    ``rel`` and ``abs_`` are the tolerance an answer is checked with: numbers worked out by hand
    are rounded, so 1% (or 0.0005) is near enough.
    """

    def __init__(self, root: Value, questions: list[Question], model: Optional[MLP] = None,
                 x: Optional[list[float]] = None, target: Optional[list[float]] = None,
                 rel: float = 0.01, abs_: float = 5e-4, title: str = "") -> None:
        self.root, self.questions, self.model, self.x, self.target = root, questions, model, x, target
        self.rel, self.abs_, self.title = rel, abs_, title

    def worksheet(self) -> str:
        """The questions, numbered, for paper."""
        lines = [f"Worksheet: {self.title or fmt.name(self.root)}"]
        lines += [f"{i}. {q.prompt}" for i, q in enumerate(self.questions, 1)]
        return "\n".join(lines)

    def answer_key(self) -> str:
        """The answers, numbered as in :meth:`worksheet`, each with how it is worked out."""
        lines = [f"Answer key: {self.title or fmt.name(self.root)}"]
        for i, q in enumerate(self.questions, 1):
            lines.append(f"{i}. {_shown(q.answer)}")
            lines += ["   " + line for line in q.explanation.splitlines()]
        return "\n".join(lines)

    def check(self, number: int, answer: Answer) -> Feedback:
        """Check the answer to question ``number`` (counting from 1): a number, rows of numbers, or
        text (a number; rows as ``"1 2; 3 4"``; for a matrix, also a formula such as ``h1 * err^T``)."""
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(self.questions):
            raise ValueError(f"there are questions 1 to {len(self.questions)}, not {number!r}")
        q = self.questions[number - 1]
        if q.kind == "matrix":
            return self._check_matrix(q, answer)
        value = _number(answer)
        assert isinstance(q.answer, float)
        if _close(value, q.answer, self.rel, self.abs_):
            return Feedback(True, f"Right: {fmt.number(q.answer)}.")
        if q.kind == "local":
            return Feedback(False, _local_slip(q, value, self.rel, self.abs_))
        return Feedback(False, _grad_slip(self.root, q.target, value, self.rel, self.abs_))

    def _check_matrix(self, q: Question, answer: Answer) -> Feedback:
        assert isinstance(q.answer, list)
        want = q.answer
        if isinstance(answer, str) and not _looks_numeric(answer):
            if self.model is None or self.x is None or self.target is None:
                raise ValueError("a formula can be checked only on a network quiz")
            from .check import check_formula

            report = check_formula(self.model, self.x, self.target, answer, wrt=f"W{q.target}", convention="in x out")
            return Feedback(report.ok, str(report))
        rows = _rows(answer)
        shape = (len(want), len(want[0]))
        got_shape = (len(rows), len(rows[0]) if rows else 0)
        if any(len(r) != got_shape[1] for r in rows):
            return Feedback(False, "the rows have different lengths: a matrix has as many numbers in every row")
        close = lambda a, b: _close(a, b, self.rel, self.abs_)  # noqa: E731
        if got_shape == shape[::-1] and got_shape != shape:
            if all(close(rows[j][i], want[i][j]) for i in range(shape[0]) for j in range(shape[1])):
                return Feedback(False, f"Your {_dims(got_shape)} is the transpose of dloss/dW{q.target} ({_dims(shape)}): the "
                                "layout of weights stored out x in (torch.nn.Linear). This project stores "
                                f"W{q.target} in x out: rows are the layer's inputs, columns its units.")
            return Feedback(False, f"Your matrix is {_dims(got_shape)}; dloss/dW{q.target} is {_dims(shape)}, the shape of W{q.target}.")
        if got_shape != shape:
            return Feedback(False, f"Your matrix is {_dims(got_shape)}; dloss/dW{q.target} is {_dims(shape)}, the shape of "
                            f"W{q.target}: one entry per weight.")
        wrong = [(i, j) for i in range(shape[0]) for j in range(shape[1]) if not close(rows[i][j], want[i][j])]
        if not wrong:
            return Feedback(True, f"Right: every entry of dloss/dW{q.target}.")
        if shape[0] == shape[1] and all(close(rows[j][i], want[i][j]) for i in range(shape[0]) for j in range(shape[1])):
            return Feedback(False, f"Your matrix is the transpose of dloss/dW{q.target}: rows are the layer's inputs.")
        assert self.model is not None
        i, j = wrong[0]
        weight = self.model.parameter(f"W{q.target}[{i}][{j}]")
        slip = _grad_slip(self.root, weight, rows[i][j], self.rel, self.abs_)
        return Feedback(False, f"{len(wrong)} of {shape[0] * shape[1]} entries are wrong; the first, {weight.label}: {slip}")


# -- making questions -------------------------------------------------------------------------
def make_quiz(seed: int = 0, count: int = 6, kinds: Sequence[str] = KINDS, activation: str = "tanh",
         x: Sequence[float] = (0.5, -1.0), target: Sequence[float] = (1.0, 0.0)) -> Quiz:
    """A quiz on the 2-3-2 demo network built with ``seed`` (as ``autodiff demo --seed``); the same
    seed picks the questions, so a worksheet and its answer key can be printed apart.

    >>> q = make_quiz(seed=0, count=2, kinds=["matrix"])
    >>> q.questions[0].prompt
    'What is dloss/dW2 (3x2: rows h1[0] to h1[2], columns y[0] to y[1])? Numbers, rows separated by ;, or a formula.'
    """
    net = demo.build(seed=seed, activation=activation, x=x, target=target, backward=False)
    return quiz_from_graph(net.loss, seed=seed, count=count, kinds=kinds, model=net.model, x=net.x, target=net.target,
                           title=f"the 2-3-2 network (seed {seed}, {activation}, x = {list(net.x)}, target = {list(net.target)})")


def quiz_from_graph(root: Value, seed: int = 0, count: int = 6, kinds: Sequence[str] = KINDS,
                    model: Optional[MLP] = None, x: Optional[Sequence[float]] = None,
                    target: Optional[Sequence[float]] = None, title: str = "") -> Quiz:
    """A quiz on any graph: ``count`` questions of the given ``kinds``, picked by ``seed``.
    Matrix questions need the ``model`` (and its ``x`` and ``target``); the graph is not changed."""
    if not isinstance(root, Value):
        raise TypeError(f"quiz_from_graph needs the root Value of a graph, not {type(root).__name__}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive whole number, not {count!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds are chosen from {', '.join(KINDS)}, not {', '.join(map(str, unknown)) or 'none'}")
    kinds = [k for k in kinds if k != "matrix" or model is not None] or ["local"]
    rng = random.Random(seed)
    order = autodiff.topological_order(root)
    grads = dict(zip(map(id, order), autodiff.grad(root, order)))
    edges = [(p, v, k) for v in order for k, p in enumerate(v.parents)]
    # what is worth asking: edges whose local derivative is not the 1 of a sum; labelled nodes (not targets)
    interesting = [e for e in edges if e[1].op not in ("+", "sum", "neg") and e[0].label] or edges
    labelled = [v for v in order if v.label and v is not root and not v.label.startswith("t[")]
    sizes = {"local": len(interesting), "grad": len(labelled), "matrix": len(model.layers) if model else 0}
    questions: list[Question] = []
    seen: set[tuple[str, int]] = set()
    for n in range(count * 20):  # the first questions go round the kinds; then at random (repeats skipped)
        if len(questions) == count:
            break
        kind = kinds[n % len(kinds)] if n < count else rng.choice(kinds)
        if not sizes[kind]:
            continue
        pick = rng.randrange(sizes[kind])
        if (kind, pick) in seen:
            continue
        seen.add((kind, pick))
        if kind == "local":
            questions.append(_local_question(interesting[pick]))
        elif kind == "grad":
            node = labelled[pick]
            questions.append(_grad_question(root, node, grads[id(node)]))
        else:
            assert model is not None
            questions.append(_matrix_question(root, model, pick + 1))
    return Quiz(root, questions, model, list(x) if x is not None else None, list(target) if target is not None else None,
                title=title)


def _local_question(edge: tuple[Value, Value, int]) -> Question:
    parent, child, k = edge
    name = fmt.derivative(fmt.name(child), fmt.name(parent))
    value = child.locals[k]
    rule = RULES[child.op]
    names = [fmt.grouped(fmt.name(p)) for p in child.parents]
    exponent = fmt.number(child.arg) if child.arg is not None else "None"
    formula = rule.local_exprs(names, exponent, fmt.grouped(fmt.name(child)))[k]
    numbers = ", ".join(f"{fmt.name(p)} = {fmt.number(p.data)}" for p in child.parents)
    made = rule.formula(names, exponent)
    named = f"{fmt.name(child)} = {made}" if child.label else made
    prompt = f"{named} = {fmt.number(child.data)}, with {numbers}. What is the local derivative {name}?"
    explanation = f"the rule table's local derivative of {child.op}: {name} = {formula} = {fmt.number(value)}"
    return Question("local", prompt, float(value), explanation, edge)


def _grad_question(root: Value, node: Value, value: float) -> Question:
    prompt = f"What is {fmt.derivative(fmt.name(root), fmt.name(node))}, the gradient of the {fmt.name(root)} by {fmt.name(node)}?"
    explanation = _explain(autodiff.trace(root, node))
    return Question("grad", prompt, float(value), explanation, node)


def _matrix_question(root: Value, model: MLP, layer: int) -> Question:
    lay = model.layers[layer - 1]
    grads = autodiff.grad(root, [w for row in lay.weights for w in row])
    rows = [[grads[i * lay.nout + j] for j in range(lay.nout)] for i in range(lay.nin)]
    ins = "x" if layer == 1 else f"h{layer - 1}"
    outs = "y" if layer == len(model.layers) else f"h{layer}"
    prompt = (f"What is dloss/dW{layer} ({lay.nin}x{lay.nout}: rows {ins}[0] to {ins}[{lay.nin - 1}], "
              f"columns {outs}[0] to {outs}[{lay.nout - 1}])? Numbers, rows separated by ;, or a formula.")
    rule = (f"dloss/dW{layer} = {ins} * delta{layer}^T, the outer product of the layer's input ({lay.nin}x1) and its "
            f"delta ({lay.nout}x1): entry [i][j] is {ins}[i] · delta{layer}[j]")
    table = demo.matrix_text(f"dloss/dW{layer}", rows, [f"{ins}[{i}]" for i in range(lay.nin)],
                             [f"{outs}[{j}]" for j in range(lay.nout)])
    return Question("matrix", prompt, rows, rule + "\n" + table, layer)


# -- diagnosing a wrong answer ----------------------------------------------------------------
def _local_slip(q: Question, value: float, rel: float, abs_: float) -> str:
    parent, child, k = q.target
    assert isinstance(q.answer, float)
    close = lambda a, b: _close(a, b, rel, abs_)  # noqa: E731
    hint = ""
    if close(value, child.data):
        hint = f"That is {fmt.name(child)} itself, its value, not its derivative. "
    elif close(value, parent.data) and child.op in ("*",):
        hint = f"That is {fmt.name(parent)} itself: d(a * b)/da is the OTHER factor, b. "
    elif close(value, -q.answer):
        hint = "The sign is wrong. "
    return f"{hint}Not {fmt.number(value)}: {q.explanation}."


def _explain(t: autodiff.Trace) -> str:
    """The trace's chain rule, path by path, without its last line (about ``.grad``, not asked here)."""
    return t.explain(max_paths=8).rsplit("\n", 1)[0]


def _grad_slip(root: Value, node: Value, value: float, rel: float, abs_: float) -> str:
    """Where an answer for d root / d node went wrong, by the paths of the trace (as check_formula does)."""
    t = autodiff.trace(root, node)
    close = lambda a, b: _close(a, b, rel, abs_)  # noqa: E731
    total = t.total
    title = fmt.derivative(fmt.name(root), fmt.name(node))
    if t.count <= 200:
        paths = list(t.paths)
        for i, path in enumerate(paths, 1):
            names = " · ".join(name for name, _ in path.factors()) or title
            if t.count > 1 and close(value, path.product):
                return (f"Not {fmt.number(value)}: that is path {i} alone ({names}). {title} is the SUM over its "
                        f"{t.count} paths: {fmt.number(total)}.\n{_explain(t)}")
            if t.count > 1 and close(value, total - path.product):
                return f"Not {fmt.number(value)}: path {i} ({names}) is missing from your sum.\n{_explain(t)}"
            for name, factor in path.factors():
                if factor != 0 and not close(factor, 1.0) and close(value, total - path.product + path.product / factor):
                    return (f"Not {fmt.number(value)}: on path {i}, the factor {name} = {fmt.number(factor)} is left "
                            f"out.\n{_explain(t)}")
    if close(value, -total):
        return f"Not {fmt.number(value)}: the sign is wrong.\n{_explain(t)}"
    return f"Not {fmt.number(value)}: {title} = {fmt.number(total)}, by the chain rule:\n{_explain(t)}"


# -- reading answers --------------------------------------------------------------------------
def _number(answer: Answer) -> float:
    if isinstance(answer, bool):
        raise ValueError(f"an answer is a number, not {answer!r}")
    if isinstance(answer, (int, float)):
        value = float(answer)
    elif isinstance(answer, str):
        try:
            value = float(answer.strip())
        except ValueError:
            raise ValueError(f"an answer is a number, such as -0.1729, not {answer.strip()[:40]!r}") from None
    else:
        raise ValueError(f"an answer is a number, not {type(answer).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"an answer is a finite number, not {value}")
    return value


def _looks_numeric(text: str) -> bool:
    return all(part.strip() == "" or _is_float(part) for part in text.replace(";", " ").replace(",", " ").split())


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _rows(answer: Answer) -> list[list[float]]:
    if isinstance(answer, str):
        rows = [[_number(v) for v in row.replace(",", " ").split()] for row in answer.split(";") if row.strip()]
    elif isinstance(answer, (int, float)):
        rows = [[_number(answer)]]
    else:
        rows = [[_number(v) for v in row] for row in answer]
    if not rows or not rows[0]:
        raise ValueError("a matrix answer needs numbers: rows separated by ;, for example 0.13 -0.01; -0.31 0.03")
    return rows


def _dims(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def _shown(answer: Union[float, list[list[float]]]) -> str:
    if isinstance(answer, list):
        return "; ".join(" ".join(fmt.number(v) for v in row) for row in answer)
    return fmt.number(answer)


# -- the command line -------------------------------------------------------------------------
def add_quiz_command(subparsers: Any, parents: Sequence[Any] = ()) -> Any:
    """Add the ``quiz`` subcommand to ``subparsers`` (what ``argparse``'s ``add_subparsers()``
    returns) and return its parser; ``parents`` give options it takes (the network's ``--seed``,
    ``--activation``, ``--x``, ``--target``), an option none of them has is added here. Its handler
    is :func:`run_quiz`, set as ``run``."""
    p = subparsers.add_parser(
        "quiz", parents=list(parents), help="backprop questions on the 2-3-2 network, checked as you answer",
        description="Ask for local derivatives, gradients and a weight-gradient matrix of the 2-3-2 network, one at a "
        "time from stdin, and say where a wrong answer went wrong. --worksheet and --key print the questions and the "
        "answers for paper instead. Exits 0 when every answer is right, 1 otherwise, 2 on bad input.")
    p.add_argument("--count", type=int, default=6, metavar="N", help="how many questions (default 6)")
    p.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), help="which kinds of question")
    p.add_argument("--worksheet", action="store_true", help="print the questions only")
    p.add_argument("--key", action="store_true", help="print the answer key")
    have = {option for parent in parents for action in parent._actions for option in action.option_strings}
    if "--seed" not in have:
        p.add_argument("--seed", type=int, default=0, help="the network's and the questions' seed (default 0)")
    if "--activation" not in have:
        p.add_argument("--activation", choices=["tanh", "relu", "sigmoid"], default="tanh", help="hidden activation")
    if "--x" not in have:
        p.add_argument("--x", nargs=2, type=float, metavar=("X1", "X2"), default=[0.5, -1.0], help="the input")
    if "--target" not in have:
        p.add_argument("--target", nargs=2, type=float, metavar=("T1", "T2"), default=[1.0, 0.0], help="the target")
    p.set_defaults(run=run_quiz)
    return p


def run_quiz(args: Any, stdin: Any = None, stdout: Any = None) -> int:
    """Run ``autodiff quiz`` on the parsed ``args``: print the worksheet or the key, or ask each
    question on ``stdout`` and read its answer from ``stdin`` (default: the terminal). Returns 0
    when every answer was right, 1 otherwise, 2 on bad input (one line on stderr)."""
    import sys

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        q = make_quiz(seed=args.seed, count=args.count, kinds=args.kinds, activation=args.activation, x=args.x, target=args.target)
    except (ValueError, TypeError) as exc:
        print(f"autodiff quiz: error: {exc}", file=sys.stderr)
        return 2
    if args.worksheet or args.key:
        if args.worksheet:
            print(q.worksheet(), file=stdout)
        if args.key:
            print(("\n" if args.worksheet else "") + q.answer_key(), file=stdout)
        return 0
    right = 0
    for i, question in enumerate(q.questions, 1):
        print(f"{i}. {question.prompt}", file=stdout)
        line = stdin.readline()
        if not line:
            break
        try:
            feedback = q.check(i, line.strip())
        except ValueError as exc:
            print(f"   ({fmt.printable(str(exc))}: counted as wrong)", file=stdout)
            continue
        right += feedback.right
        print("\n".join("   " + text for text in str(feedback).splitlines()), file=stdout)
    print(f"{right} of {len(q.questions)} right.", file=stdout)
    return 0 if right == len(q.questions) else 1
