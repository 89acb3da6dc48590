"""The ``autodiff`` command: the demo network, or any formula, traced, drawn and stepped through.

It lives at the top of the stack, beside the ``nn`` package it needs (``autodiff`` itself never
imports ``nn``). Every subcommand works on the 2-3-2 demo network, shaped by ``--seed``,
``--activation``, ``--x`` and ``--target``; ``trace``, ``render``, ``debug`` and ``html`` also take a
formula with ``--expr`` and ``--set``.

Exit status: 0 when done; 2, with one line on stderr, for bad input (an argument, a formula, a
formula outside its domain at the given numbers); 1, with one line, when a file cannot be written,
Graphviz cannot render, or an optional dependency is missing. Anything else is a bug in the
library and ends in its traceback (status 1), never disguised as a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path
from typing import Iterator, NoReturn, Optional, Sequence, Union

import autodiff
from autodiff import fmt
from autodiff.expr import FUNCTIONS, ExprError, build_expression

from . import demo
from .check import add_check_command
from .diagnose import add_mistakes_command, demo_diagnosis_text
from .layers import MLP
from .quiz import add_quiz_command, make_quiz, run_quiz

__all__ = ["main", "build_parser"]


class UsageError(Exception):
    """A bad argument found after parsing: exit 2 with this one line."""


class CannotWrite(Exception):
    """A file the command was asked to write could not be written: exit 1, naming the file."""

    def __init__(self, path: Union[str, Path], reason: str) -> None:
        super().__init__(f"cannot write {fmt.printable(str(path))}: {reason}")


class MissingDependency(Exception):
    """An optional dependency a subcommand's option needs is not installed: exit 1 with this line."""


@contextlib.contextmanager
def _writing(path: Union[str, Path]) -> Iterator[None]:
    """Writing ``path``: an OSError (no such directory, a full disk) becomes one line naming it.

    The error of a failed write often has no file name of its own (a full disk fails at the
    write, not the open), so the name comes from here, or from the error when it has one."""
    try:
        yield
    except OSError as exc:
        raise CannotWrite(exc.filename or path, exc.strerror or str(exc)) from None


def _write_page(path: str, page: str) -> int:
    """Write an HTML page to ``path`` (a failure names the file) and say so; the command's exit status."""
    with _writing(path):
        Path(path).write_text(page, encoding="utf-8")
    print(f"wrote {fmt.printable(path)}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2, never a traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _assignment(text: str) -> tuple[str, float]:
    name, sep, number = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}")
    return name, _finite(number)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one subparser per subcommand."""
    network = _Parser(add_help=False)
    group = network.add_argument_group("the demo network (2 inputs, 3 hidden, 2 outputs)")
    group.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    group.add_argument("--activation", choices=["tanh", "relu", "sigmoid"], default="tanh", help="hidden activation")
    group.add_argument("--x", nargs=2, type=_finite, metavar=("X1", "X2"), default=[0.5, -1.0], help="the input")
    group.add_argument("--target", nargs=2, type=_finite, metavar=("T1", "T2"), default=[1.0, 0.0], help="the target")
    group.add_argument("--renderer", choices=list(autodiff.render.RENDERERS), help="Graphviz engine (default: first installed)")
    formula = _Parser(add_help=False)
    group = formula.add_argument_group("a formula instead of the network")
    group.add_argument("--expr", metavar="TEXT", help=f'for example "tanh(a*b + c)"; functions: {" ".join(FUNCTIONS)}')
    group.add_argument("--set", nargs="+", type=_assignment, metavar="NAME=NUMBER", default=[], help="input values: a=2 b=-3")

    parser = _Parser(prog="autodiff", description="A scalar autograd engine where every number of backprop can be seen.")
    parser.add_argument("--version", action="version", version=f"autodiff {autodiff.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", parents=[network], help="the 2-3-2 network: matrices, gradients, a trace, and files",
                       description="Build the 2-3-2 network, run forward and backward, print both weight matrices and "
                       "their gradients, check them against the matrix rules, trace one entry, and write drawings.")
    p.add_argument("--out", default="autodiff-demo", metavar="DIR", help="where to write files (default ./autodiff-demo)")
    p.add_argument("--torch", action="store_true", help="also compare with PyTorch's autograd (needs the torch extra)")
    p.add_argument("--diagnose", action="store_true", help="also diagnose the graph and each layer (vanishing, "
                   "exploding, saturated and dead units)")
    p.set_defaults(run=_demo)

    p = sub.add_parser("trace", parents=[network, formula], help="how one gradient is made: every path, every factor",
                       description="Explain one gradient by the chain rule: every path to the loss, each edge's local derivative.")
    p.add_argument("name", nargs="?", metavar="NAME", help="a weight or node label of the network, for example W1[0][2]")
    p.add_argument("--wrt", metavar="NAME", help="with --expr: the input to differentiate by")
    p.add_argument("--svg", metavar="FILE", help="also write the graph with these paths highlighted")
    p.add_argument("--max-paths", type=int, default=20, metavar="N", help="list at most N paths (default 20)")
    p.set_defaults(run=_trace)

    p = sub.add_parser("render", parents=[network, formula], help="draw the computation graph to SVG",
                       description="Draw the whole graph (values, ops, gradients) with Graphviz; no system install needed.")
    p.add_argument("--out", default="graph.svg", metavar="FILE", help="output file: .svg, .dot or .png (default graph.svg)")
    p.add_argument("--show-local", action="store_true", help="write each edge's local derivative on it")
    p.add_argument("--collapse", choices=["neuron", "layer"], help="one node per neuron or per layer")
    p.set_defaults(run=_render)

    p = sub.add_parser("debug", parents=[network, formula], help="step through backprop in the terminal",
                       description="A debugger for one backward pass; commands come from the terminal or piped stdin "
                       "(type help at its prompt).")
    p.add_argument("name", nargs="?", metavar="NAME", help="a value to watch: 'next' runs to the next change of its grad")
    p.add_argument("--forward", metavar="INPUT", help="step through forward mode from this input (tangent 1) instead")
    p.set_defaults(run=_debug)

    p = sub.add_parser("html", parents=[network, formula], help="write the offline page that steps through backprop",
                       description="Write one self-contained HTML page. For the network: the explainer (the network, its "
                       "weight matrices and the scalar graph, linked), stepping one node at a time, forward then backward. "
                       "For a formula (--expr), or with --plain, --forward or --diagnose: the step-through page of the "
                       "scalar graph alone.")
    p.add_argument("--out", default="backprop.html", metavar="FILE", help="output file (default backprop.html)")
    p.add_argument("--steps", choices=["node", "layer"], help="the network's explainer: what a step is when the page "
                   "opens, one node (the default) or one matrix rule (layer); the page can switch")
    p.add_argument("--plain", action="store_true", help="the network's scalar graph alone, without the network and "
                   "matrix views")
    p.add_argument("--forward", metavar="INPUT", help="step through forward mode from this input (tangent 1) instead")
    p.add_argument("--diagnose", action="store_true", help="mark vanishing, exploding, saturated and dead units")
    p.set_defaults(run=_html)

    p = sub.add_parser("explain", parents=[network], help="write the explainer page: network, matrices and graph linked",
                       description="Write one offline HTML page showing the demo network three ways (neurons and edges, "
                       "the weight matrices, the scalar graph), linked by the selected weight, with steps of one matrix rule "
                       "or of one node.")
    p.add_argument("--out", default="explainer.html", metavar="FILE", help="output file (default explainer.html)")
    p.add_argument("--loss", choices=["mse", "sse"], default="mse", help="the loss (default mse, as the demo)")
    p.add_argument("--steps", choices=["layer", "node"], default="layer",
                   help="what a step is when the page opens: a matrix rule (layer, the default) or one node of "
                   "the graph, forward then backward as 'autodiff debug' steps (node); the page can switch")
    p.set_defaults(run=_explain)

    add_mistakes_command(sub, parents=[network, formula])
    add_check_command(sub, parents=[network])  # it reads --expr and --set itself: a formula may follow them
    p = add_quiz_command(sub, parents=[network])
    p.add_argument("--html", metavar="FILE", help="write the quiz as one offline page to FILE, answered and checked there")
    p.set_defaults(run=_quiz)
    return parser


# -- building what the subcommands work on ----------------------------------------------------
def _network(args: argparse.Namespace, backward: bool = True) -> demo.DemoNetwork:
    return demo.build(seed=args.seed, activation=args.activation, x=args.x, target=args.target, backward=backward)


def _formula(args: argparse.Namespace, backward: bool = True) -> tuple[autodiff.Value, dict[str, autodiff.Value]]:
    if args.expr is None:
        raise UsageError("--set goes with --expr")
    if not args.expr.strip():
        raise UsageError('--expr: the expression is empty; give a formula, for example --expr "tanh(a*b + c)"')
    values = dict(args.set)
    if len(values) != len(args.set):
        raise UsageError("a name is set twice in --set")
    try:
        root, inputs = build_expression(args.expr, values)
        if backward:
            root.backward()
    except ExprError:
        raise
    except (ValueError, ArithmeticError) as exc:  # the formula outside an op's domain at these numbers: log(-1), 1/0
        raise UsageError(str(exc)) from None
    return root, inputs


def _uses_formula(args: argparse.Namespace) -> bool:
    return args.expr is not None or bool(args.set)


def _root(args: argparse.Namespace, backward: bool = True) -> tuple[autodiff.Value, Optional[MLP]]:
    """The formula's or the network's root, and the network's model (None for a formula);
    ``backward=False`` leaves every grad at 0 (for stepping)."""
    if _uses_formula(args):
        return _formula(args, backward)[0], None
    net = _network(args, backward)
    return net.loss, net.model


def _find(root: autodiff.Value, name: str, what: str, model: Optional[MLP] = None) -> autodiff.Value:
    """The node labelled ``name``: a parameter of ``model`` first, else any labelled node."""
    if model is not None:
        try:
            return model.parameter(name)
        except KeyError:
            pass
    for v in autodiff.topological_order(root):
        if v.label == name:
            return v
    if model is not None:
        names = [n for n, _ in model.named_parameters()]
        raise UsageError(f"no {what} {name!r}; valid names: {', '.join(names)} (or a node label such as h1[2], y[0])")
    labels = sorted({v.label for v in autodiff.topological_order(root) if v.label})
    raise UsageError(f"no {what} {name!r}; valid names: {', '.join(labels)}")


# -- subcommands ------------------------------------------------------------------------------
def _torch_installed() -> bool:
    try:
        import torch  # noqa: F401  (only whether it imports)
    except ImportError:
        return False
    return True


def _demo(args: argparse.Namespace) -> int:
    if args.torch and not _torch_installed():  # said before anything is printed
        raise MissingDependency("--torch compares with PyTorch, which is not installed: pip install torch "
                                "(or the project's torch extra)")
    net = _network(args)
    print(demo.report(net))
    if args.torch:
        from .torch_bridge import demo_comparison

        print()
        print(demo_comparison(net))
    if args.diagnose:
        print()
        print(demo_diagnosis_text(net))
    with _writing(args.out):
        written = demo.write_files(net, Path(args.out), renderer=args.renderer)
    print()
    print(f"Wrote {len(written)} files to {args.out}/:")
    for path in written:
        print(f"  {path}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    if args.max_paths < 1:
        raise UsageError("--max-paths must be at least 1")
    if _uses_formula(args):
        if args.name:
            raise UsageError("with --expr, name the input with --wrt, not as NAME")
        if not args.wrt:
            raise UsageError("with --expr, say which input to differentiate by: --wrt NAME")
        root, inputs = _formula(args)
        if args.wrt not in inputs:
            raise UsageError(f"--wrt {args.wrt!r} is not an input; inputs: {', '.join(inputs)}")
        wrt = inputs[args.wrt]
    else:
        if args.wrt:
            raise UsageError("--wrt goes with --expr; for the network give NAME, for example W1[0][2]")
        if not args.name:
            raise UsageError("say which gradient to trace, for example: autodiff trace W1[0][2]")
        net = _network(args)
        root = net.loss
        wrt = _find(root, args.name, "weight or node", net.model)
    t = autodiff.trace(root, wrt)
    print(t.explain(max_paths=args.max_paths))
    if args.svg:
        drawing = t.draw(renderer=args.renderer)
        with _writing(args.svg):
            drawing.save(args.svg)
        print(f"wrote {fmt.printable(args.svg)}")
    return 0


def _render(args: argparse.Namespace) -> int:
    root, _ = _root(args)
    graph = autodiff.draw(root, show_local=args.show_local, collapse=args.collapse or False, renderer=args.renderer)
    with _writing(args.out):
        written = graph.save(args.out)
    print(f"wrote {fmt.printable(str(written))}")
    return 0


def _debug(args: argparse.Namespace) -> int:
    root, model = _root(args, backward=False)
    watch = _find(root, args.name, "value", model) if args.name else None
    start = _find(root, args.forward, "input", model) if args.forward else None
    autodiff.Debugger(root, watch=watch, forward=start).run()
    return 0


def _html(args: argparse.Namespace) -> int:
    plain = _uses_formula(args) or args.plain or args.forward or args.diagnose
    if plain and args.steps:
        raise UsageError("--steps is for the network's explainer page; the page of a formula, or with --plain, "
                         "--forward or --diagnose, steps one node at a time")
    if plain:
        root, model = _root(args, backward=False)
        start = _find(root, args.forward, "input", model) if args.forward else None
        page = autodiff.page_html(root, renderer=args.renderer, forward=start, diagnose=args.diagnose)
    else:
        from .explainer import explainer_html

        net = _network(args, backward=False)
        page = explainer_html(net.model, net.x, net.target, title="The 2-3-2 network: backprop step by step",
                              renderer=args.renderer, granularity=args.steps or "node")
    return _write_page(args.out, page)


def _quiz(args: argparse.Namespace) -> int:
    """``autodiff quiz``: on the terminal (:func:`nn.quiz.run_quiz`), or with ``--html`` the page."""
    if not args.html:
        return run_quiz(args)
    if args.worksheet or args.key:
        raise UsageError("--html writes the quiz page; --worksheet and --key print it for paper: choose one")
    from .quiz_page import quiz_html

    try:
        quiz = make_quiz(seed=args.seed, count=args.count, kinds=args.kinds, activation=args.activation, x=args.x,
                         target=args.target)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    page = quiz_html(quiz)
    return _write_page(args.html, page)


def _explain(args: argparse.Namespace) -> int:
    from .explainer import explainer_html

    net = _network(args, backward=False)
    page = explainer_html(net.model, net.x, net.target, loss=args.loss, renderer=args.renderer, granularity=args.steps)
    return _write_page(args.out, page)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    prog = f"autodiff {args.command}"
    # Only errors about the user's input or environment are caught, each where it can arise;
    # anything else is a bug and keeps its traceback.
    try:
        return int(args.run(args) or 0)
    except (UsageError, ExprError) as exc:
        print(f"{prog}: error: {fmt.printable(str(exc))}", file=sys.stderr)
        return 2
    except (CannotWrite, MissingDependency, autodiff.RenderError, autodiff.RendererNotAvailable) as exc:
        print(f"{prog}: error: {fmt.printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
