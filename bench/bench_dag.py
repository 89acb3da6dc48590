"""Random-DAG benchmark: shared subexpressions, about 100,000 nodes, this project vs micrograd.

The chains of ``bench_engine.py`` use each node once or twice, in a fixed pattern. Here each new
expression combines two or three earlier nodes picked at random from the last ``WINDOW``
expressions, so an expression has several consumers (2.3 on average) and the graph has no
regular shape. Both engines build the same graph from the same seed (the choices are drawn once,
before any clock starts), with ops micrograd 0.1.0 has as one node each (``+``, ``*``, ``relu``,
and ``*`` by a constant, which both make as a constant leaf and a ``*`` node; micrograd 0.1.0
has no ``tanh``). The expressions nothing consumed are summed pairwise into the root, so every
node is in the root's graph.

Measured, as medians of timed calls after warm-up (15 with the collector off, 5 with it on; the harness's protocol): construction,
the first backward on a freshly built graph, with the collector on and off, and memory per node.

    python bench/bench_dag.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: an engine copy there wins

import micrograd.engine as mg  # noqa: E402
from harness import (  # noqa: E402
    REPEAT,
    SPREAD_HEADER,
    interleaved,
    machine,
    median,
    spread_row,
    target,
    traced_bytes,
    warm_backward,
)

import autodiff as ad  # noqa: E402

NODES = 100_000
WINDOW = 1000  # operands come from the last WINDOW expressions
SEED = 0


def plan(nodes: int = NODES, window: int = WINDOW, seed: int = SEED) -> tuple[list[float], list[tuple[int, int, int, int]], list[int]]:
    """The graph to build, drawn once: leaf values, one (kind, i, j, k) per expression, the unused ones.

    ``i``, ``j`` and ``k`` index the expressions made so far (leaves first); ``kind`` picks one of
    the four expressions in :func:`build`. Drawn before any clock starts, so that construction
    times the engines' ops, not the random number generator.
    """
    rng = random.Random(seed)
    leaves = [rng.uniform(-1.0, 1.0) for _ in range(window)]
    steps = []
    consumed = set()
    count, made = window, window
    while count < nodes:
        r = rng.random()
        i, j, k = (made - 1 - int(rng.random() * window) for _ in range(3))
        kind = 0 if r < 0.3 else 1 if r < 0.6 else 2 if r < 0.8 else 3
        consumed.update((i, j, k) if kind == 2 else (i, j))
        count += (1, 3, 2, 4)[kind]  # nodes each kind makes (see build)
        steps.append((kind, i, j, k))
        made += 1
    unused = [i for i in range(made) if i not in consumed]
    return leaves, steps, unused


PLAN = plan()


def build(V, drawn=PLAN):
    """The random DAG with ``V`` as the Value class; returns its root.

    Both engines make the same graph node for node: the choices come from :func:`plan`, never
    from the values. Values stay within [-2, 2].
    """
    leaves, steps, unused = drawn
    made = [V(x) for x in leaves]
    append = made.append
    for kind, i, j, k in steps:
        a, b = made[i], made[j]
        if kind == 0:
            append(a * b)  # 1 node
        elif kind == 1:
            append((a + b) * 0.7)  # a constant, + and *: 3 nodes
        elif kind == 2:
            append(a * b + made[k])  # three operands: 2 nodes
        else:
            append((a + b).relu() * 0.7)  # 4 nodes
    ends = [made[i] for i in unused]
    while len(ends) > 1:
        ends = [ends[i] + ends[i + 1] if i + 1 < len(ends) else ends[i] for i in range(0, len(ends), 2)]
    return ends[0]


def shape(root) -> tuple[int, float, int]:
    """Nodes in the graph, the share of them with two or more consumers, and the longest path."""
    order = ad.topological_order(root)
    consumers: dict[int, int] = {}
    depth: dict[int, int] = {}
    for v in order:
        depth[id(v)] = 1 + max((depth[id(p)] for p in v.parents), default=0)
        for p in set(map(id, v.parents)):
            consumers[p] = consumers.get(p, 0) + 1
    shared = sum(1 for c in consumers.values() if c >= 2) / len(order)
    return len(order), shared, max(depth.values())


def main() -> None:
    print(f"machine: {machine()}")
    n, shared, longest = shape(build(ad.Value))
    # micrograd sorts recursively, one Python frame per node on the longest path.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * longest + 1000))
    leaves, steps, _ = PLAN
    picks = sum(3 if kind == 2 else 2 for kind, *_ in steps) / (len(leaves) + len(steps))
    print(f"graph: {n} nodes, longest path {longest}; {shared:.0%} of the nodes are used by two or more ops "
          f"(each expression is an operand of {picks:.1f} later ones on average; constants and the inner "
          f"nodes of an expression are used once); window {WINDOW}, seed {SEED}\n")
    print(SPREAD_HEADER)
    lines = []
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        c_ours, c_mg = interleaved([(lambda: build(ad.Value), None), (lambda: build(mg.Value), None)],
                                   repeat=REPEAT[gc_on], gc_enabled=gc_on, warmup=1)
        print(spread_row(f"construction ({tag})", c_ours, c_mg))
        # The first backward on a freshly built graph, as a training step runs it, past the
        # calls that CPython 3.11 runs unspecialised (see harness.warm_backward).
        warm_backward(ad.Value)
        warm_backward(mg.Value)
        b_ours, b_mg = interleaved([(lambda r: r.backward(), lambda: build(ad.Value)),
                                    (lambda r: r.backward(), lambda: build(mg.Value))],
                                   repeat=REPEAT[gc_on], gc_enabled=gc_on, warmup=1)
        print(spread_row(f"backward, first call ({tag})", b_ours, b_mg))
        lines.append(target(f"random DAG construction, {tag}", median(c_mg) / median(c_ours), 3))
        lines.append(target(f"random DAG first backward, {tag}", median(b_mg) / median(b_ours), 2))
    _, m_ours = traced_bytes(lambda: build(ad.Value))
    _, m_mg = traced_bytes(lambda: build(mg.Value))
    print(f"{'memory per node (tracemalloc)':<40} {m_ours / n:>9.1f} B {'':<16} {m_mg / n:>9.1f} B")
    lines.append(target("random DAG memory per node", m_ours / m_mg, 0.5, at_most=True))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
