"""Compiled replay: trace a function's graph once, then run forward and backward with no Values.

``compile(fn, n_inputs)`` calls ``fn`` once on fresh input Values and turns the graph it builds
into a flat program: one instruction per op (op, operand slots, output slot), in topological
order. From that program and the rule table's own text (:data:`autodiff.ops.RULES`, never a
second copy of the derivative rules) it writes straight-line Python, compiled once: a forward
function, a backward function, and a fused loop over a batch. Leaves that ``fn`` reached but did
not get as inputs (a model's parameters) are captured by reference: each run reads their
current ``.data`` and backward adds into their ``.grad``, as the eager engine would.

>>> from autodiff import Value
>>> w = Value(0.5, label="w")
>>> prog = compile(lambda xs: (xs[0] * w + xs[1]).tanh(), 2)
>>> print(prog)
program(x[0], x[1]; params w):
  %0 = x[0] * w
  %1 = %0 + x[1]
  %2 = tanh(%1)
  return %2
>>> round(prog([1.0, 2.0]), 6)
0.986614
>>> [round(g, 6) for g in prog.backward()]   # d out / d x[0], d out / d x[1]
[0.013296, 0.026592]
>>> round(w.grad, 6)                         # and the parameter's grad, accumulated
0.026592

Python control flow that depends on values (``if x.data > 0``) is frozen at trace time; ops
whose value depends on their operand (``relu``) are replayed faithfully.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from . import fmt
from .graph import backward_order
from .ops import NAMESPACE, RULES, DomainError, Rule
from .state import current as _switches
from .value import Value, _float_compares, _real

if TYPE_CHECKING:
    from .render import Graph

__all__ = ["compile", "Program", "Instruction"]

_compile = builtins.compile  # this module's compile() shadows the builtin


class Instruction:
    """``out = op(operands...)``: slots index :attr:`Program.slots`; ``arg`` is ``**``'s exponent."""

    __slots__ = ("op", "operands", "arg", "out")

    def __init__(self, op: str, operands: tuple[int, ...], arg: Optional[float], out: int) -> None:
        self.op, self.operands, self.arg, self.out = op, operands, arg, out

    def __repr__(self) -> str:
        return f"Instruction({self.op!r}, {self.operands}, out={self.out})"


#: An inlined value nests at most this many ops deep inside its consumer's line; deeper, it is
#: written to a variable of its own. (A chain of single-use values, ``v = v * 0.999 + w`` a
#: thousand times, would otherwise become one expression nested a thousand deep, which Python
#: refuses to compile.)
MAX_INLINE_DEPTH = 8
#: Terms per statement in a long sum (a wide ``sum`` node, a node's many gradient contributions):
#: a sum of n terms nests n deep, so longer ones continue in the next statement, left to right.
SUM_CHUNK = 64

_SLOT_NAME = re.compile(r"\bs(\d+)\b")  # a slot's variable in our own generated code (never rule text)
_LOOP_NAME = re.compile(r"\b[sg]\d+\b")  # a slot's value or gradient variable, likewise


def _scalar_gate(condition: str, g: str) -> str:
    return f"({g} if {_float_compares(condition)} else 0.0)"


def _send(rule: Rule, k: int, local: str, g: str, names: dict[str, str],
          gate: Callable[[str, str], str] = _scalar_gate, vector: Callable[[str], str] = str) -> str:
    """The text of what operand ``k`` of a ``rule`` node receives when the node's gradient is ``g``:
    ``local * g``, read off the rule's fields. A constant slope of 1 or -1 sends ``g`` or ``-g``
    (the same floats); a gate (relu) sends ``g`` where it is open and 0.0 where it is closed, even
    when ``g`` is infinite, as the eager engine does (``0.0 * inf`` would be nan). A slope that is
    a plain number only at this node (``x * 1.0``: the constant operand itself) counts as constant.
    The lifted compiler writes the same with its own ``gate`` (a select over arrays) and ``vector``
    (its expressions over arrays)."""
    constant = rule.local_constants[0 if rule.join is not None else k]
    if constant is None:
        constant = _number(local)
    if constant == 1.0:
        return g
    if constant == -1.0:
        return f"-{g}"
    if rule.gate is not None:
        return gate(vector(rule.substitute(rule.gate, names)), g)
    if constant is not None:
        return f"{_literal(constant)} * {g}"
    return f"({vector(local)}) * {g}"


def _number(text: str) -> float | None:
    """The number ``text`` is, if it is a plain number literal (as :func:`_literal` writes them)."""
    try:
        return float(text)
    except ValueError:
        return None


def _fold(condition: str) -> Optional[str]:
    """A domain check with the parts that test only constants worked out now: None if it can never
    hold (``s7 == 0 and 2.0 < 0``), else the rest of it. The text is the rule table's, with
    number literals for a ``**`` node's exponent; it is never user input."""
    tree = ast.parse(condition, mode="eval").body
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    kept = []
    for part in parts:
        names = {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
        if names <= {"is_integer"}:  # numbers and the table's own helper only: decide it now
            if not eval(_compile(ast.Expression(part), "<domain check>", "eval"), dict(NAMESPACE)):
                return None
        else:
            kept.append(ast.unparse(part))
    return " and ".join(kept) if kept else "True"


def _literal(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else f"float({str(x)!r})"


class Program:
    """A traced graph, replayed on numbers. Call it with ``n_inputs`` numbers; ``backward()`` after."""

    def __init__(self, inputs: list[Value], outputs: list[Value], single: bool) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self._single = single
        nodes: list[Value] = []
        seen: set[int] = set()
        for out in outputs:
            for v in backward_order(out)[::-1]:
                if id(v) not in seen:
                    seen.add(id(v))
                    nodes.append(v)
        for x in inputs:  # inputs fn ignored still have a slot (their gradient is 0)
            if id(x) not in seen:
                seen.add(id(x))
                nodes.insert(0, x)
        self.slots: list[Value] = nodes  #: the traced Values, by slot (data as at trace time)
        slot = {id(v): i for i, v in enumerate(nodes)}
        self._slot = slot
        input_ids = {id(x) for x in inputs}
        self.params: list[Value] = [v for v in nodes if v.is_leaf and not v.is_constant and id(v) not in input_ids]
        self.instructions: list[Instruction] = [
            Instruction(v.op, tuple(slot[id(p)] for p in v.parents), v.arg, slot[id(v)]) for v in nodes if v.parents
        ]
        # Unlabelled results are shown by instruction number: %0, %1, ...
        self._display = {ins.out: f"%{k}" for k, ins in enumerate(self.instructions)}
        # What depends on an input or a parameter: only those slots need gradients.
        live = {slot[id(v)] for v in inputs} | {slot[id(p)] for p in self.params}
        for ins in self.instructions:
            if any(o in live for o in ins.operands):
                live.add(ins.out)
        self._live = live
        param_live = {slot[id(p)] for p in self.params}
        for ins in self.instructions:
            if any(o in param_live for o in ins.operands):
                param_live.add(ins.out)
        self._param_live = param_live
        self._backward_order = [slot[id(v)] for v in backward_order(outputs[0])]
        self._code: dict[tuple[str, bool], Callable[..., Any]] = {}
        self._text: dict[tuple[str, bool], str] = {}
        self._saved: Optional[tuple[float, ...]] = None

    # -- naming ---------------------------------------------------------------------------------
    def _name(self, i: int) -> str:
        v = self.slots[i]
        if v.is_constant:
            return fmt.number(v.data)
        return fmt.printable(v.label) if v.label else self._display.get(i, f"%{i}")

    def __str__(self) -> str:
        names = ", ".join(self._name(self._slot[id(x)]) for x in self.inputs)
        params = ", ".join(self._name(self._slot[id(p)]) for p in self.params)
        lines = [f"program({names}{'; params ' + params if params else ''}):"]
        for ins in self.instructions:
            rule = RULES[ins.op]
            k = fmt.number(ins.arg) if ins.arg is not None else "k"
            lines.append(f"  {self._name(ins.out)} = {rule.formula([self._name(o) for o in ins.operands], k)}")
        lines.append("  return " + ", ".join(self._name(self._slot[id(o)]) for o in self.outputs))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<autodiff.Program: {len(self.inputs)} inputs, {len(self.params)} params, {len(self.instructions)} instructions>"

    # -- code generation ------------------------------------------------------------------------
    def _ref(self, i: int) -> str:
        v = self.slots[i]
        return _literal(v.data) if v.is_constant else f"s{i}"

    def _forward_lines(self, anomaly: bool, indent: str, inline: frozenset[int] = frozenset()) -> list[str]:
        """Forward code, one line per op; the ops in ``inline`` are written into their consumer's line
        (at most :data:`MAX_INLINE_DEPTH` deep), and a sum of many terms over several lines."""
        lines = []
        written: dict[int, str] = {}
        depth: dict[int, int] = {}  # how many ops deep each inlined text nests

        def ref(o: int) -> str:
            return written[o] if o in written else self._ref(o)

        for k, ins in enumerate(self.instructions):
            rule = RULES[ins.op]
            refs = [ref(o) for o in ins.operands]
            arg = _literal(ins.arg) if ins.arg is not None else "None"
            for condition, _, _ in rule.check_exprs(refs, arg):
                folded = _fold(condition)
                if folded is not None:
                    lines.append(f"{indent}if {_float_compares(folded)}: "
                                 f"_program()._domain_error({k}, ({', '.join(refs)},))")
            out = f"s{ins.out}"
            if ins.out in inline and len(refs) <= SUM_CHUNK:
                nesting = 1 + max((depth.get(o, 0) for o in ins.operands), default=0)
                if nesting <= MAX_INLINE_DEPTH:
                    written[ins.out] = f"({_float_compares(rule.value_expr(refs, arg, out))})"
                    depth[ins.out] = nesting
                    continue
            if rule.join is not None and len(refs) > SUM_CHUNK:  # left to right, as one long sum would add
                for start in range(0, len(refs), SUM_CHUNK):
                    head = [] if start == 0 else [out]
                    lines.append(f"{indent}{out} = {rule.value_expr(head + refs[start:start + SUM_CHUNK], arg, out)}")
            else:
                lines.append(f"{indent}{out} = {_float_compares(rule.value_expr(refs, arg, out))}")
            if anomaly:
                lines.append(f"{indent}if not _finite({out}): _program()._bad_value({k}, {out})")
        return lines

    def _inlinable(self, backward_lines: list[str]) -> frozenset[int]:
        """Ops whose value only feeds one operand of one later op, read once there, and nothing else
        (not the backward code, not the outputs)."""
        uses: dict[int, int] = {}
        for ins in self.instructions:
            for o in ins.operands:
                uses[o] = uses.get(o, 0) + 1
        needed = {int(m) for line in backward_lines for m in _SLOT_NAME.findall(line)}
        needed.update(self._slot[id(o)] for o in self.outputs)
        reads: dict[str, tuple[int, ...]] = {}  # each op's reads of each operand, asked once per op
        read_once: set[int] = set()
        for ins in self.instructions:
            rule = RULES[ins.op]
            if rule.checks:
                continue  # a checked operand is read by its check too
            if ins.op not in reads:
                reads[ins.op] = tuple(rule.reads(n) for n in range(rule.arity))
            counts = reads[ins.op]
            read_once.update(o for n, o in enumerate(ins.operands) if counts[min(n, len(counts) - 1)] == 1)
        produced = {ins.out for ins in self.instructions}
        return frozenset(i for i in produced if uses.get(i) == 1 and i not in needed and i in read_once)

    def _backward_lines(
        self, anomaly: bool, indent: str, seed: str, inputs: bool = True, into: Optional[dict[int, str]] = None
    ) -> tuple[list[str], dict[int, str]]:
        """Gradient code from the first output, in the eager engine's order.

        Returns the lines and, for each slot given a gradient, the name holding it. A slot that
        receives exactly one contribution through a local derivative of 1 (a ``+`` operand) gets no
        variable of its own: it shares its consumer's. Without ``inputs``, only the parameters'
        gradients are computed (a training batch needs no input gradients). ``into`` names
        existing accumulators that contributions to those slots are added to.
        """
        live = self._live if inputs else self._param_live
        producer = {ins.out: (k, ins) for k, ins in enumerate(self.instructions)}
        reached = set(self._backward_order)
        incoming: dict[int, int] = {}
        for ins in self.instructions:
            if ins.out in reached:
                for o in ins.operands:
                    if o in live:
                        incoming[o] = incoming.get(o, 0) + 1
        first = self._backward_order[0]
        lines = [f"{indent}g{first} = {seed}"]
        name = dict(into or {})
        name[first] = f"g{first}"
        # An intermediate node's contributions are written as one sum, left to right as eager adds
        # them, just before the node's own turn: one statement instead of one per contribution.
        pending: dict[int, list[str]] = {}
        shared: dict[int, str] = {}  # a slot whose one contribution is its consumer's gradient as is
        for i in self._backward_order:
            terms = pending.pop(i, None)
            if terms is not None:
                if len(terms) == 1 and incoming[i] == 1 and i in shared:
                    name[i] = shared[i]  # a + operand's only contribution: share the consumer's variable
                else:
                    name[i] = f"g{i}"
                    for start in range(0, len(terms), SUM_CHUNK):  # chunks keep the expression shallow
                        head = [] if start == 0 else [f"g{i}"]
                        lines.append(f"{indent}g{i} = {' + '.join(head + terms[start:start + SUM_CHUNK])}")
            if i not in producer or i not in name:
                continue
            k, ins = producer[i]
            g = name[i]
            if anomaly:
                lines.append(f"{indent}if not _finite({g}): _program()._bad_grad({k}, {g})")
            rule = RULES[ins.op]
            arg = _literal(ins.arg) if ins.arg is not None else "None"
            refs = [self._ref(o) for o in ins.operands]
            locals_ = [_float_compares(text) for text in rule.local_exprs(refs, arg, f"s{ins.out}")]
            names = dict(zip(rule.operands, refs), k=arg, out=f"s{ins.out}")
            for n, (operand, local) in enumerate(zip(ins.operands, locals_)):
                if operand not in live:
                    continue
                term = _send(rule, n, local, g, names)
                if anomaly and term not in (g, f"-{g}"):  # as eager anomaly mode: check each edge's amount
                    lines.append(f"{indent}_c = {term}")
                    lines.append(f"{indent}if not _finite(_c): _program()._bad_edge({k}, {operand}, _c)")
                    term = "_c"
                if operand in producer and operand not in name and not anomaly:
                    pending.setdefault(operand, []).append(term)
                    if term == g:
                        shared[operand] = g
                elif operand in name:
                    lines.append(f"{indent}{name[operand]} += {term}")
                elif term == g and incoming[operand] == 1:
                    name[operand] = g
                else:
                    name[operand] = f"g{operand}"
                    lines.append(f"{indent}g{operand} = {term}")
        return lines, name

    def _build(self, kind: str, anomaly: bool) -> Callable[..., Any]:
        key = (kind, anomaly)
        if key in self._code:
            return self._code[key]
        n_in = len(self.inputs)
        in_slots = [self._slot[id(x)] for x in self.inputs]
        param_slots = [self._slot[id(p)] for p in self.params]
        out_slots = [self._slot[id(o)] for o in self.outputs]
        unpack_inputs = (", ".join(f"s{i}" for i in in_slots) + ("," if n_in == 1 else "")) if n_in else "_"
        read_params = [f"    s{i} = P[{j}].data" for j, i in enumerate(param_slots)]
        results = ", ".join(f"s{i}" for i in out_slots)
        computed = sorted({i for i in range(len(self.slots)) if not self.slots[i].is_constant})
        state = ", ".join(f"s{i}" for i in computed) + ("," if len(computed) == 1 else "")
        if kind == "forward":
            lines = ["def forward(xs, P):", f"    {unpack_inputs} = xs", *read_params]
            lines += self._forward_lines(anomaly, "    ")
            lines.append(f"    return ({results},), ({state})")
        elif kind == "backward":
            body, assigned = self._backward_lines(anomaly, "    ", "seed")
            lines = ["def backward(S, P, seed):", f"    {state} = S", *body]
            lines += [f"    P[{j}].grad += {assigned[i]}" for j, i in enumerate(param_slots) if i in assigned]
            grads = ", ".join(assigned.get(i, "0.0") for i in in_slots)
            lines.append(f"    return [{grads}]")
        else:  # batch: forward and backward on every row, parameters read once, their grads summed in locals
            # each parameter's contributions go straight into its running sum t{slot}
            body, assigned = self._backward_lines(anomaly, "        ", "seed", inputs=False,
                                                  into={i: f"t{i}" for i in param_slots})
            inline = frozenset() if anomaly else self._inlinable(body)
            loop = [f"        {unpack_inputs} = xs", *self._forward_lines(anomaly, "        ", inline),
                    f"        note(s{out_slots[0]})", *body]
            # CPython numbers a function's locals in the order its code first names them, and reads
            # or writes the first 256 in one instruction, the others with an EXTENDED_ARG prefix. So
            # the variables each row works with are named first, then the running sums (two uses a
            # row), then the parameters (read once a row): a 2-16-16-1 step's loop body has 1,357
            # EXTENDED_ARGs instead of 2,812, of 9,264 instructions (docs/performance.md).
            params = {f"s{i}" for i in param_slots}
            rowwise = [n for n in dict.fromkeys(_LOOP_NAME.findall("\n".join(loop))) if n not in params]
            lines = ["def batch(rows, P, seed):"]
            lines += [f"    {' = '.join(rowwise)} = 0.0"] if rowwise else []
            lines += [f"    t{i} = 0.0" for i in param_slots]
            lines += read_params
            lines += ["    outs = []", "    note = outs.append", "    for xs in rows:", *loop]
            lines += [f"    P[{j}].grad += t{i}" for j, i in enumerate(param_slots)]
            lines.append("    return outs")
        scope: dict[str, Any] = dict(NAMESPACE)
        # The error paths reach back to this program through a weak reference: the program keeps
        # the code, so a strong one would be a cycle keeping the traced graph alive until the
        # cyclic garbage collector ran.
        scope.update(_program=weakref.ref(self), _finite=math.isfinite, float=float)
        text = "\n".join(lines)
        self._text[key] = text
        code = _compile(text, f"<autodiff program {kind}>", "exec")
        exec(code, scope)  # our own generated text, from the rule table; never user input
        fn: Callable[..., Any] = scope[kind]
        self._code[key] = fn
        return fn

    def source(self, kind: str = "forward") -> str:
        """The generated Python of ``kind`` (``forward``, ``backward`` or ``batch``), for the curious."""
        if kind not in ("forward", "backward", "batch"):
            raise ValueError(f"kind must be 'forward', 'backward' or 'batch', not {kind!r}")
        self._build(kind, False)
        return self._text[(kind, False)]

    def draw(self, **options: Any) -> "Graph":
        """The traced graph drawn: :func:`autodiff.draw` of the outputs, with its ``options``.

        >>> prog = compile(lambda xs: xs[0] * 2, 1)
        >>> "x[0]" in prog.draw().source
        True
        """
        from .render import draw

        return draw(list(self.outputs), **options)

    # -- errors that name the op and the labels --------------------------------------------------
    def _operands_text(self, k: int, values: Optional[Sequence[float]] = None) -> str:
        ins = self.instructions[k]
        parts = [
            f"{self._name(o)!r} = {values[n]!r}" if values is not None else self._name(o)
            for n, o in enumerate(ins.operands)
        ]
        return ", ".join(parts)

    def _domain_error(self, k: int, values: tuple[float, ...]) -> None:
        """An operand outside the op's domain: the engine's own error type and message, with labels."""
        ins = self.instructions[k]
        rule = RULES[ins.op]
        parts = ", ".join(f"{self._name(o)!r} = {x!r}" for o, x in zip(ins.operands, values))
        if rule.constant:
            parts += f", exponent = {ins.arg!r}"
        try:
            rule.apply(*values, *([ins.arg] if rule.constant else []))
        except DomainError as exc:
            raise exc.kind(f"{ins.op}: {exc.message} ({parts}; compiled program, instruction {k})") from None
        raise ValueError(f"{ins.op}: operand outside the op's domain ({parts})")  # pragma: no cover

    def _bad_value(self, k: int, value: float) -> None:
        ins = self.instructions[k]
        raise FloatingPointError(
            f"anomaly in compiled program: op {ins.op!r} producing {self._name(ins.out)!r} gave {value!r} "
            f"(instruction {k}, operands {self._operands_text(k)})"
        )

    def _bad_grad(self, k: int, value: float) -> None:
        ins = self.instructions[k]
        raise FloatingPointError(
            f"anomaly in compiled program: gradient {value!r} at {self._name(ins.out)!r} (op {ins.op!r}, instruction {k})"
        )

    def _bad_edge(self, k: int, operand: int, value: float) -> None:
        ins = self.instructions[k]
        raise FloatingPointError(
            f"anomaly in compiled program: backward through op {ins.op!r} at {self._name(ins.out)!r} sent "
            f"{value!r} to {self._name(operand)!r} (instruction {k})"
        )

    # -- running --------------------------------------------------------------------------------
    def _check_inputs(self, xs: Sequence[float]) -> None:
        if isinstance(xs, (int, float, Value)) or not hasattr(xs, "__len__"):
            raise TypeError(f"this program takes a list of {len(self.inputs)} numbers, not {type(xs).__name__}")
        if len(xs) != len(self.inputs):
            raise ValueError(
                f"this program was traced with {len(self.inputs)} inputs and cannot replay {len(xs)}: "
                "the graph is fixed at trace time; compile again for another shape"
            )

    def __call__(self, xs: Sequence[float]) -> Union[float, list[float]]:
        """Forward on ``n_inputs`` numbers; returns the output (or the list of outputs)."""
        self._check_inputs(xs)
        values = [_real(x, f"input {i}") for i, x in enumerate(xs)]
        outs, self._saved = self._build("forward", _switches().anomaly)(values, self.params)
        return outs[0] if self._single else list(outs)

    def backward(self, seed: float = 1.0) -> list[float]:
        """Backward from the (first) output of the last call: adds ``seed * d out/d p`` into each
        captured parameter's ``.grad`` and returns d out / d input for each input (times ``seed``)."""
        if self._saved is None:
            raise RuntimeError("call the program on inputs before backward()")
        return self._build("backward", _switches().anomaly)(self._saved, self.params, float(seed))  # type: ignore[no-any-return]

    def batch(self, rows: Sequence[Sequence[float]], seed: float = 1.0) -> list[float]:
        """Forward and backward on every row, in one compiled loop; returns the first output of each.

        The parameters are read once for the whole batch, and ``seed * d out/d p`` summed over the
        rows is added to each parameter's ``.grad``: one call is one training step's gradient.
        """
        run = self._build("batch", _switches().anomaly)
        rows = self._rows(rows)
        try:
            return run(rows, self.params, float(seed))  # type: ignore[no-any-return]
        except (ValueError, TypeError):
            self._check_rows(rows)  # a row of the wrong length fails deep in the generated code: say which
            raise

    def _rows(self, rows: Sequence[Sequence[float]]) -> Sequence[Sequence[float]]:
        """``rows`` as they are when every number is a float (the fast case), else every number
        converted as a single call converts its inputs: a bool or a string is refused, naming its
        row and column, and an int becomes a float (int arithmetic would round differently)."""
        if not isinstance(rows, (list, tuple)):
            rows = list(rows)
        try:
            if all(type(x) is float for row in rows for x in row):
                return rows
        except TypeError:  # a row that is not a sequence: said below
            pass
        self._check_rows(rows)
        return [[_real(x, f"row {i}, column {j}") for j, x in enumerate(row)] for i, row in enumerate(rows)]

    def _check_rows(self, rows: Sequence[Sequence[float]]) -> None:
        for i, row in enumerate(rows):
            try:
                self._check_inputs(row)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"row {i}: {exc}") from None


def compile(
    fn: Callable[[list[Value]], Union[Value, Sequence[Value]]],
    n_inputs: int,
    example: Optional[Sequence[float]] = None,
    lift: bool = False,
) -> Program:
    """Trace ``fn`` on ``n_inputs`` fresh input Values (labelled ``x[0]``, ...) into a :class:`Program`.

    The inputs hold ``example`` while tracing (1.0 each by default): only the graph's shape is
    kept, but an op outside its domain at those numbers (``log(x - 1)``) needs another example.
    With ``lift=True`` the program is a :class:`~autodiff.lift.LiftedProgram`: the groups of nodes
    that are one matrix operation run as numpy arrays (numpy is imported only then).
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 0:
        raise ValueError(f"n_inputs must be a non-negative int, not {n_inputs!r}")
    if example is not None and len(example) != n_inputs:
        raise ValueError(f"example has {len(example)} numbers for {n_inputs} inputs")
    start = [1.0] * n_inputs if example is None else [_real(x, "example input") for x in example]
    inputs = [Value(x, label=f"x[{i}]") for i, x in enumerate(start)]
    result = fn(inputs)
    single = isinstance(result, Value)
    found = [result] if single else list(result) if isinstance(result, (list, tuple)) else []
    outputs = [o for o in found if isinstance(o, Value)]
    if not outputs or len(outputs) != len(found):
        raise TypeError("fn must return a Value or a non-empty list of Values")
    if lift:
        from .lift import LiftedProgram  # numpy is loaded only by a program that lifts

        return LiftedProgram(inputs, outputs, single)
    return Program(inputs, outputs, single)
