"""The beginner-mistake lab: each wrong engine against the same mistake made by hand, on small graphs.

The oracles are independent of autodiff.mistakes: hand-derived numbers, wrong engines written
here again as a beginner would write them (real recursion, real sets, real ``=``), and the real
engine's own behaviour (``backward()`` called twice; ``.grad`` read before ``backward()``).
"""

from __future__ import annotations

import copy
import random

import pytest

import autodiff
import nn
from autodiff import Value
from autodiff.mistakes import MISTAKES, lab


def labelled(v: Value, label: str) -> Value:
    v.label = label
    return v


def square_root():
    """``b = a * a`` with a = 3: the right da is 6."""
    a = Value(3.0, label="a")
    return a, labelled(a * a, "b")


def shared():
    """``y = x * x; z = y + y`` with x = 2: dz/dy = 2, dz/dx = 2 * 2x = 8."""
    x = Value(2.0, label="x")
    y = labelled(x * x, "y")
    return x, y, labelled(y + y, "z")


# -- hand-derived ---------------------------------------------------------------------------------------
def test_a_set_of_operands_loses_one_edge_of_a_times_a():
    a, b = square_root()
    report = lab(b)
    i = report.id(a)
    assert report.right[i] == 6.0
    assert report.result("set of operands").grads[i] == 3.0  # one edge of the two: 3 * 1
    assert report.result("assign").grads[i] == 3.0  # 3, then overwritten by 3
    assert report.result("twice").grads[i] == 12.0  # 6, then 6 more
    assert report.result("before backward").grads[i] == 0.0
    assert report.result("recursive").grads[i] == 6.0  # a is a leaf: nothing pushed twice
    first = report.result("set of operands").first
    assert first.node is a and (first.wrong, first.right) == (3.0, 6.0)
    assert first.sentence.startswith("b = a * a uses a twice")


def test_recursion_pushes_a_shared_node_before_it_is_complete():
    # by hand: z pushes 1 to y and recurses at once: y (1 so far) sends 2*1 + 2*1 = 4 to x; then
    # z's second edge brings y to 2, and y sends 2*2 + 2*2 = 8 more: x = 12 instead of 8
    x, y, z = shared()
    report = lab(z)
    r = report.result("recursive")
    assert r.grads[report.id(x)] == 12.0 and r.grads[report.id(y)] == 2.0
    assert r.first.node is x and r.first.right == 8.0
    assert r.first.sentence.startswith("y is used twice, and the recursion made it push to x each time one of its "
                                       "uses had pushed to it, with the gradient it had so far (1, then 2: sending "
                                       "4, then 8), instead of once with its complete gradient 2 (sending 8)")


def test_the_other_mistakes_on_the_shared_graph_by_hand():
    x, y, z = shared()
    report = lab(z)
    ix, iy = report.id(x), report.id(y)
    # forward order: y pushes to x while y.grad is still 0, then z fills y: x = 0
    assert report.result("forward order").grads[ix] == 0.0
    # a set: z keeps one edge to y (y = 1), y one edge to x (x = 2 * 1)
    assert report.result("set of operands").grads[iy] == 1.0
    assert report.result("set of operands").grads[ix] == 2.0
    # '=': y = 1 then y = 1; x = 2 * 1 then x = 2 * 1
    assert report.result("assign").grads[iy] == 1.0 and report.result("assign").grads[ix] == 2.0
    # twice: the leaf doubles, the intermediate node is recomputed
    assert report.result("twice").grads[ix] == 16.0 and report.result("twice").grads[iy] == 2.0
    assert report.result("assign").first.node is y
    assert "y is used twice" in report.result("assign").first.sentence


# -- the same mistakes written again, as a beginner would ------------------------------------------------
def beginner_recursive(root: Value) -> dict[int, float]:
    grads = {id(root): 1.0}

    def backward(node: Value) -> None:
        for parent, local in zip(node.parents, node.locals):
            grads[id(parent)] = grads.get(id(parent), 0.0) + local * grads[id(node)]
            backward(parent)

    backward(root)
    return grads


def beginner_forward(root: Value) -> dict[int, float]:
    grads = {id(root): 1.0}
    for node in autodiff.topological_order(root):  # forgot reversed()
        for parent, local in zip(node.parents, node.locals):
            grads[id(parent)] = grads.get(id(parent), 0.0) + local * grads.get(id(node), 0.0)
    return grads


def beginner_set(root: Value) -> dict[int, float]:
    grads = {id(root): 1.0}
    for node in reversed(autodiff.topological_order(root)):
        for parent in set(node.parents):
            local = node.locals[node.parents.index(parent)]
            grads[id(parent)] = grads.get(id(parent), 0.0) + local * grads.get(id(node), 0.0)
    return grads


def beginner_assign(root: Value) -> dict[int, float]:
    grads = {id(root): 1.0}
    for node in reversed(autodiff.topological_order(root)):
        for parent, local in zip(node.parents, node.locals):
            grads[id(parent)] = local * grads.get(id(node), 0.0)
    return grads


def fresh_copy(root: Value) -> tuple[Value, dict[int, Value]]:
    """A copy of the graph with every .grad at 0 (as built), and each original node's copy."""
    memo: dict[int, Value] = {}
    copied = copy.deepcopy(root, memo)
    for v in autodiff.topological_order(copied):
        v.grad = 0.0
    return copied, memo


def real_twice(root: Value) -> dict[int, float]:
    """The real engine, backward() twice on a copy of the graph, no zero_grad() in between."""
    copied, memo = fresh_copy(root)
    copied.backward()
    copied.backward()
    return {id(v): memo[id(v)].grad for v in autodiff.topological_order(root)}


def real_before(root: Value) -> dict[int, float]:
    """The real engine's .grad fields on a fresh copy of the graph, before any backward()."""
    _, memo = fresh_copy(root)
    return {id(v): memo[id(v)].grad for v in autodiff.topological_order(root)}


BY_HAND = {"recursive": beginner_recursive, "forward order": beginner_forward, "set of operands": beginner_set,
           "assign": beginner_assign, "twice": real_twice, "before backward": real_before}


def small_graphs():
    yield "a * a", square_root()[1]
    yield "shared", shared()[2]
    yield "2-3-2 network", nn.mse_loss(nn.MLP(2, [3, 2], seed=0)([0.5, -1.0]), [1.0, 0.0])
    for seed in range(6):
        rng = random.Random(seed)
        nodes = [Value(rng.uniform(-1, 1), label=f"x{i}") for i in range(3)]
        for n in range(8):
            a, b = rng.choice(nodes), rng.choice(nodes[-3:])
            nodes.append(rng.choice([a * b, a + b, (a * b).tanh(), a * a, (a + 0.5).relu()]))
        yield f"random {seed}", Value.sum(nodes[3:])


@pytest.mark.parametrize("name, root", list(small_graphs()), ids=[n for n, _ in small_graphs()])
def test_each_engine_computes_what_the_mistake_made_by_hand_computes(name, root):
    assert [m.name for m in MISTAKES] == list(BY_HAND)
    report = lab(root)
    order = autodiff.topological_order(root)
    for result in report.results:
        expected = BY_HAND[result.mistake.name](root)
        got = {id(v): g for v, g in zip(order, result.grads)}
        for v in order:
            assert got[id(v)] == pytest.approx(expected.get(id(v), 0.0), rel=1e-12, abs=1e-15), (
                result.mistake.name, autodiff.fmt.name(v))
        # the first difference: the first node in backprop's order that differs (constants skipped)
        wrong = [v for v in autodiff.backward_order(root) if not v.is_constant
                 and got[id(v)] != pytest.approx(report.right[report.id(v)], rel=1e-9, abs=1e-12)]
        assert (result.first.node if result.first else None) is (wrong[0] if wrong else None)


def test_the_right_answer_is_backward():
    root = nn.mse_loss(nn.MLP(2, [3, 2], seed=1)([0.5, -1.0]), [1.0, 0.0])
    report = lab(root)
    root.backward()
    assert report.right == [v.grad for v in autodiff.topological_order(root)]


def test_the_lab_changes_no_grad_and_says_when_a_mistake_does_not_show():
    x = Value(2.0, label="x")
    w = Value(3.0, label="w")
    root = labelled((x * w).tanh(), "h")  # no node used twice
    x.grad = 5.0
    report = lab(root)
    assert x.grad == 5.0 and w.grad == 0.0
    assert report.result("set of operands").first is None
    text = str(report)
    assert "set of operands (operands kept in a set: a * a keeps one edge of two): the same as the right answer " \
           "on this graph (no node here uses the same operand twice)" in text
    with pytest.raises(KeyError, match="no mistake 'typo'"):
        report.result("typo")
    with pytest.raises(TypeError, match="needs a Value"):
        lab([root])


def test_the_table_marks_differences_and_labels_are_escaped():
    a = Value(3.0, label="a\x1b[31m")
    b = labelled(a * a, "b\n")
    report = lab(b)
    table = report.table()
    assert "\x1b" not in table and "a\\x1b[31m" in table
    row = next(line for line in table.splitlines() if line.startswith("a\\x1b"))
    assert row.split()[1:] == ["6", "6", "6", "3<", "3<", "12<", "0*"]
    page = report._repr_html_()
    assert "<td>a\\x1b[31m</td>" in page and "\n</td>" not in page


def test_the_recursive_engine_stops_on_exponentially_many_paths():
    from autodiff import mistakes

    x = Value(1.0, label="x")
    v = x
    for _ in range(40):  # 2**40 paths
        v = v + v
    report = lab(v)
    r = report.result("recursive")
    assert r.run.stopped and len(r.run.pushes) == mistakes.MAX_PUSHES
    assert "stopped after" in str(report)


# -- the command line (wired into nn/cli.py as `autodiff mistakes`) -----------------------------------
def mistakes_parser(with_parents: bool):
    import argparse

    from nn.diagnose import add_mistakes_command

    parser = argparse.ArgumentParser(prog="autodiff")
    sub = parser.add_subparsers(dest="command")
    parents = []
    if with_parents:  # what the CLI passes: its network and formula options
        network = argparse.ArgumentParser(add_help=False)
        network.add_argument("--seed", type=int, default=0)
        network.add_argument("--activation", default="tanh")
        network.add_argument("--x", nargs=2, type=float, default=[0.5, -1.0])
        network.add_argument("--target", nargs=2, type=float, default=[1.0, 0.0])
        formula = argparse.ArgumentParser(add_help=False)
        formula.add_argument("--expr")
        formula.add_argument("--set", nargs="+", default=[], type=lambda t: (t.split("=")[0], float(t.split("=")[1])))
        parents = [network, formula]
    add_mistakes_command(sub, parents)
    return parser


@pytest.mark.parametrize("with_parents", [False, True])
def test_the_command_runs_the_lab_on_a_formula(with_parents, capsys):
    args = mistakes_parser(with_parents).parse_args(["mistakes", "--expr", "a*a", "--set", "a=3"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("a "))
    assert row.split() == ["a", "6", "6", "6", "3<", "3<", "12<", "0*"]  # by hand, as above
    assert "uses a twice" in out


def test_the_command_runs_the_lab_on_the_demo_network(capsys):
    args = mistakes_parser(True).parse_args(["mistakes", "--seed", "1", "--rows", "3"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["node", "right"] and lines[2].split()[:2] == ["loss", "1"]
    assert lines[5].startswith("... ") and "more nodes" in lines[5]
    net = nn.demo.build(seed=1)  # the right column is what backward() gives
    for line, v in zip(lines[2:5], autodiff.backward_order(net.loss)):
        assert line.startswith(autodiff.fmt.name(v)) and autodiff.fmt.number(v.grad) in line[len(autodiff.fmt.name(v)):]


@pytest.mark.parametrize("argv, words", [
    (["mistakes", "--expr", "log(a)", "--set", "a=-1"], "log of a non-positive number"),
    (["mistakes", "--set", "a=1"], "--set goes with --expr"),
    (["mistakes", "--expr", "a*(b", "--set", "a=1"], "not a formula"),
    (["mistakes", "--rows", "0"], "--rows must be at least 1"),
])
def test_bad_input_is_one_line_and_status_2(argv, words, capsys):
    args = mistakes_parser(False).parse_args(argv)
    assert args.run(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and words in captured.err and captured.err.count("\n") == 1
