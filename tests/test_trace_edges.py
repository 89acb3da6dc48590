"""trace() at its edges: a root traced against itself, path order and indexing on random graphs,
very long and exponentially branching graphs, the number format, and labels a terminal must not see."""

from __future__ import annotations

import contextlib
import gc
import math
import random
import signal
import time
import unicodedata

import pytest

import autodiff
from autodiff import Value


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging) when the block takes longer than ``seconds``."""

    def expired(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def edge_ids(path):
    return [(id(parent), id(child), k) for parent, child, k in path.edges]


# -- 1. the root traced against itself ----------------------------------------------------------
@pytest.mark.parametrize("made", ["leaf", "op"])
def test_a_value_traced_against_itself_is_one_empty_path_of_product_1(made):
    x = Value(3.0, label="x")
    if made == "op":
        a = Value(2.0, label="a")
        x = a * a
        x.label = "x"
    t = autodiff.trace(x, x)
    assert (t.total, t.count, len(t.paths)) == (1.0, 1, 1)  # d x / d x = 1
    (only,) = list(t.paths)
    for p in (only, t.paths[0], t.paths[-1]):
        assert p.nodes == (x,) and p.edges == () and p.locals == () and p.product == 1.0
        assert p.factors() == []  # no factor: their product is the empty product, 1
    assert "x -> " not in repr(only) and "product=1" in repr(only)
    text = t.explain()
    assert text.splitlines()[0] == "dx/dx = sum over 1 path of the product of local derivatives"
    assert "path 1: dx/dx = 1 = 1" in text and "sum of the 1 path = 1" in text
    assert repr(t) == "<Trace dx/dx = 1 over 1 path>"
    page = t._repr_html_()
    assert "<svg" in page and "dx/dx = 1" in page and "<td>1</td>" in page
    with pytest.raises(IndexError, match="out of range: there is 1 path"):
        t.paths[1]


def test_the_cli_traces_a_formula_against_its_own_input(capsys):
    from nn.cli import main

    assert main(["trace", "--expr", "a", "--set", "a=1", "--wrt", "a"]) == 0
    assert "da/da = sum over 1 path" in capsys.readouterr().out


# -- 2. order and indexing, against an independent enumeration -----------------------------------
def random_graph(rng: random.Random) -> list[Value]:
    """A small random graph: a few leaves, then ops over earlier nodes (repeated operands too)."""
    nodes = [Value(rng.uniform(-1.5, 1.5), label=f"x{i}") for i in range(rng.randint(1, 3))]
    for _ in range(rng.randint(1, 9)):
        a, b = rng.choice(nodes[-4:]), rng.choice(nodes)
        kind = rng.randrange(6)
        if kind == 0:
            v = a + b
        elif kind == 1:
            v = a * b
        elif kind == 2:
            v = a * a  # two edges from one operand: two paths
        elif kind == 3:
            v = (a - b).tanh()
        elif kind == 4:
            v = a * rng.uniform(-2, 2)  # a constant operand: never on a path
        else:
            v = Value.sum([a, b, a])
        nodes.append(v)
    return nodes


def every_path(root: Value, wrt: Value) -> list[tuple[tuple[Value, Value, int], ...]]:
    """Every path from wrt to root by plain recursion over operands, in no particular order."""
    if root is wrt:
        return [()]
    return [rest + ((p, root, k),) for k, p in enumerate(root.parents) for rest in every_path(p, wrt)]


@pytest.mark.parametrize("seed", range(60))
def test_indexing_listing_and_brute_force_agree_on_random_graphs(seed):
    rng = random.Random(seed)
    nodes = random_graph(rng)
    root = nodes[-1]
    topo = autodiff.topological_order(root)
    position = {id(v): i for i, v in enumerate(topo)}
    for wrt in [v for v in topo if not v.is_constant]:
        t = autodiff.trace(root, wrt)
        paths = t.paths
        listed = list(paths)
        indexed = [paths[i] for i in range(len(paths))]
        assert [edge_ids(p) for p in indexed] == [edge_ids(p) for p in listed]
        assert [edge_ids(p) for p in (paths[i - len(paths)] for i in range(len(paths)))] == [edge_ids(p) for p in listed]
        # The documented order: depth first from wrt, at each node its consumers in topological
        # order, operand by operand; that is, sorted by (consumer's position, k) along the path.
        expected = sorted(every_path(root, wrt), key=lambda es: [(position[id(c)], k) for _, c, k in es])
        assert [edge_ids(p) for p in listed] == [[(id(a), id(b), k) for a, b, k in es] for es in expected]
        assert t.count == len(expected)
        for p in listed:
            product = 1.0
            for parent, child, k in p.edges:
                assert child.parents[k] is parent
                product *= child.locals[k]
            assert p.nodes[0] is wrt and p.nodes[-1] is root
            assert math.isclose(p.product, product, rel_tol=1e-12, abs_tol=1e-300)
            assert math.isclose(math.prod(value for _, value in p.factors()), p.product, rel_tol=1e-12, abs_tol=1e-300)
        (engine,) = autodiff.grad(root, [wrt]) if wrt is not root else (1.0,)
        assert t.total == engine
        assert math.isclose(sum(p.product for p in listed), engine, rel_tol=1e-9, abs_tol=1e-12)


def test_bad_indexes_are_refused_clearly():
    a = Value(3.0, label="a")
    paths = autodiff.trace(a * a + a, a).paths  # three paths
    assert paths[-3].product == paths[0].product
    for i in (3, -4, 10**30):
        with pytest.raises(IndexError, match=rf"path index {i} is out of range: there are 3 paths \(indexes 0 to 2, or -3 to -1"):
            paths[i]
    with pytest.raises(TypeError, match="cannot be sliced.*itertools.islice"):
        paths[0:2]
    with pytest.raises(TypeError, match="a path index is an integer, not float"):
        paths[1.0]
    with pytest.raises(ValueError, match="max_paths must be a whole number"):
        autodiff.trace(a * a, a).explain(max_paths=-1)
    v = a
    for _ in range(40):
        v = v * v + v  # 3**40 paths: more than len() can return
    t = autodiff.trace(v, a)
    with pytest.raises(OverflowError, match=f"{3**40} paths: more than len.. can return; Trace.count holds the exact number"):
        len(t.paths)
    assert t.count == 3**40 and t.paths[-1].nodes[-1] is v


def diamond(layers: int):
    """Each layer: a = v * 1.5 and b = v * 0.5, then v = a + b; 2**layers paths from x."""
    x = Value(1.0, label="x")
    v, branches = x, []
    for _ in range(layers):
        a, b = v * 1.5, v * 0.5
        branches.append((a, b))
        v = a + b
    return x, v, branches


def test_a_path_far_into_an_exponential_set_is_reached_directly():
    x, root, branches = diamond(60)
    t = autodiff.trace(root, x)
    assert t.count == len(t.paths) == 2**60
    position = {id(v): i for i, v in enumerate(autodiff.topological_order(root))}
    with deadline(5):
        for i in (0, 1, 2**59, 2**60 - 1, -1, -(2**58), 123456789123456789):
            p = t.paths[i]
            i %= 2**60
            # path i goes, at layer j, to the second consumer (in topological order) when bit
            # 59 - j of i is set: each branch carries 2**(59 - j) paths
            chosen = []
            for j, pair in enumerate(branches):
                first, second = sorted(pair, key=lambda v: position[id(v)])
                chosen.append(second if (i >> (59 - j)) & 1 else first)
            assert [id(v) for v in p.nodes[1::2]] == [id(v) for v in chosen]
            assert p.nodes[-1] is root and len(p.edges) == 120
            halves = sum(1 for v in chosen if v.locals[0] == 0.5)
            assert p.product == 1.5 ** (60 - halves) * 0.5**halves  # both are exact in binary


def chain(n: int):
    x = Value(0.5, label="x")
    v = x
    for _ in range(n):
        v = -v
    return x, v


def test_the_first_path_of_a_long_chain_costs_its_length():
    x, root = chain(200_000)
    with deadline(20):  # quadratic listing took minutes here
        t = autodiff.trace(root, x)
        first = next(iter(t.paths))
        last = t.paths[-1]
    assert len(first.edges) == len(last.edges) == 200_000 and t.count == 1
    assert first.nodes[0] is x and first.nodes[-1] is root and first.product == 1.0  # (-1) ** 200000


def test_building_and_listing_grow_linearly_with_the_chain():
    def best(n: int) -> float:
        x, root = chain(n)
        autodiff.topological_order(root)  # the order is kept on the root: time the trace itself
        times = []
        for _ in range(3):
            start = time.perf_counter()
            next(iter(autodiff.trace(root, x).paths))
            times.append(time.perf_counter() - start)
        return min(times)

    # The cyclic collector's passes cost in proportion to everything alive in the process (all
    # the tests before this one), not to the trace: it is off while the trace alone is timed.
    gc.collect()
    gc.disable()
    try:
        small, large = best(20_000), best(160_000)
    finally:
        gc.enable()
    assert large / small < 20, f"8x the nodes took {large / small:.1f}x the time (linear: 8, quadratic: 64)"


# -- 3. numbers and names --------------------------------------------------------------------------
def test_explain_writes_six_significant_digits():
    from autodiff.expr import build_expression

    out, x = build_expression("tanh(a*b + a)", {"a": 0.5, "b": 2.0})
    slope = 1 - math.tanh(0.5 * 2.0 + 0.5) ** 2  # d tanh(u) / du, by hand
    text = autodiff.trace(out, x["a"]).explain()
    assert f"= {slope:.6g} · 1 · 2 = {2 * slope:.6g}" in text
    assert f"sum of the 2 paths = {3 * slope:.6g}" in text
    assert len(f"{slope:.6g}") == 8 and f"{slope:.4g} ·" not in text  # 0.180707, not 0.1807


def test_nameless_nodes_are_named_by_their_formula():
    x, w = Value(0.5, label="x"), Value(-2.0, label="w")
    root = (x * w).tanh()
    t = autodiff.trace(root, x)
    text = t.explain()
    assert text.startswith("d(tanh(x * w))/dx = sum over 1 path")
    assert "path 1: d(tanh(x * w))/dx = " in text  # the nameless product folds into one factor
    assert "call (tanh(x * w)).backward() to fill it" in text
    assert repr(t).startswith("<Trace d(tanh(x * w))/dx = ")
    assert repr(t.paths[0]).startswith("Path(x -> x * w -> tanh(x * w), product=")
    for old in ("root", "#", "unlabelled"):
        assert old not in text + repr(t) + repr(t.paths[0])


# -- 4. labels that a terminal must not receive ----------------------------------------------------
HOSTILE = "a\x1b[2J\x1b]0;owned\x07b\x00c\ud800"


def controls(text: str) -> list[str]:
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cs")]


def test_explain_and_reprs_show_control_characters_escaped():
    x = Value(1.5, label=HOSTILE)
    y = x * x
    y.label = "y\x1b[31m"
    t = autodiff.trace(y, x)
    for text in (t.explain(), repr(t), repr(t.paths[0]), t.paths[0].factors()[0][0]):
        assert controls(text) == []
        text.encode("utf-8")  # a lone surrogate would not encode
        assert "\\x1b[2J" in text or "y\\x1b[31m" in text
