"""Engine benchmark: this project vs micrograd (PyPI), side by side in one process.

Workload: 500 chains of 201 nodes (``x = relu(x * w + b)`` repeated), their ends summed
pairwise; about 100,000 nodes, shallow enough for micrograd's recursive sort. Each figure is the
median of timed calls after warm-up (15 with the collector off, 5 with it on), with its min-max, the two
engines taking turns (see ``harness.interleaved``).

    python bench/bench_engine.py
"""

from __future__ import annotations

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

CHAINS, STEPS = 500, 67  # 3 nodes a step: ~100,000 nodes


def build(V, chains: int = CHAINS, steps: int = STEPS):
    w, b = V(0.9), V(0.01)
    ends = []
    for c in range(chains):
        x = V(0.5 + c * 1e-4)
        for _ in range(steps):
            x = (x * w + b).relu()
        ends.append(x)
    while len(ends) > 1:
        ends = [ends[i] + ends[i + 1] if i + 1 < len(ends) else ends[i] for i in range(0, len(ends), 2)]
    return ends[0]


def count(root) -> int:
    return len(ad.topological_order(root))


def main() -> None:
    print(f"machine: {machine()}")
    root = build(ad.Value)
    n = count(root)
    print(f"graph: {n} nodes ({CHAINS} chains of {STEPS * 3} nodes)\n")
    print(SPREAD_HEADER)
    lines = []
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        t_ours, t_mg = interleaved([(lambda: build(ad.Value), None), (lambda: build(mg.Value), None)],
                                   repeat=REPEAT[gc_on], gc_enabled=gc_on, warmup=1)
        print(spread_row(f"construction ({tag})", t_ours, t_mg))
        # First backward on a freshly built graph (what a training step does), past the calls
        # that CPython 3.11 runs unspecialised (see harness.warm_backward), as a training loop is.
        warm_backward(ad.Value)
        warm_backward(mg.Value)
        b_ours, b_mg = interleaved([(lambda r: r.backward(), lambda: build(ad.Value)),
                                    (lambda r: r.backward(), lambda: build(mg.Value))],
                                   repeat=REPEAT[gc_on], gc_enabled=gc_on, warmup=1)
        print(spread_row(f"backward alone, first call ({tag})", b_ours, b_mg))
        # ... and again on the same graph (gradient accumulation, re-stepping a debugger).
        ours_root, mg_root = build(ad.Value), build(mg.Value)
        ours_root.backward()
        r_ours, r_mg = interleaved([(ours_root.backward, None), (mg_root.backward, None)], repeat=REPEAT[gc_on],
                                   gc_enabled=gc_on)
        print(spread_row(f"backward alone, repeated ({tag})", r_ours, r_mg))
        del ours_root, mg_root
        lines.append(target(f"chains construction, {tag}", median(t_mg) / median(t_ours), 3))
        lines.append(target(f"chains first backward, {tag}", median(b_mg) / median(b_ours), 2))
        lines.append(target(f"chains repeated backward, {tag}", median(r_mg) / median(r_ours), 2))
    _, m_ours = traced_bytes(lambda: build(ad.Value))
    _, m_mg = traced_bytes(lambda: build(mg.Value))
    print(f"{'memory per node (tracemalloc)':<40} {m_ours / n:>9.1f} B {'':<16} {m_mg / n:>9.1f} B")
    lines.append(target("chains memory per node", m_ours / m_mg, 0.5, at_most=True))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
