"""Engine benchmark: this project vs micrograd (PyPI), side by side in one process.

Workload: 500 chains of 200 nodes (``x = relu(x * w + b)`` repeated), their ends summed
pairwise; about 100,000 nodes, shallow enough for micrograd's recursive sort.

    python bench/bench_engine.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import micrograd.engine as mg  # noqa: E402
from harness import best_time, machine, row, traced_bytes  # noqa: E402

import autodiff as ad  # noqa: E402

CHAINS, STEPS = 500, 67  # 3 nodes a step: ~100,000 nodes


def build(V):
    w, b = V(0.9), V(0.01)
    ends = []
    for c in range(CHAINS):
        x = V(0.5 + c * 1e-4)
        for _ in range(STEPS):
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
    print(f"{'':<44} {'autodiff':>14} {'micrograd':>14} {'ratio':>8}")
    results = {}
    for gc_on in (True, False):
        tag = "gc on" if gc_on else "gc off"
        t_ours = best_time(lambda: build(ad.Value), gc_enabled=gc_on)
        t_mg = best_time(lambda: build(mg.Value), gc_enabled=gc_on)
        print(row(f"construction ({tag})", t_ours, t_mg))
        # First backward on a freshly built graph (what a training step does). CPython 3.11
        # specialises a function's bytecode only after it has been called about 8 times, and
        # backward runs once per graph: warm both sides up past that, as a training loop does.
        b_ours = best_time(lambda r: r.backward(), setup=lambda: build(ad.Value), gc_enabled=gc_on, warmup=8)
        b_mg = best_time(lambda r: r.backward(), setup=lambda: build(mg.Value), gc_enabled=gc_on, warmup=8)
        print(row(f"backward alone, first call ({tag})", b_ours, b_mg))
        # ... and again on the same graph (gradient accumulation, re-stepping a debugger).
        ours_root, mg_root = build(ad.Value), build(mg.Value)
        ours_root.backward()
        r_ours = best_time(ours_root.backward, gc_enabled=gc_on)
        r_mg = best_time(mg_root.backward, gc_enabled=gc_on)
        print(row(f"backward alone, repeated ({tag})", r_ours, r_mg))
        del ours_root, mg_root
        results[tag] = (t_mg / t_ours, b_mg / b_ours, r_mg / r_ours)
    _, m_ours = traced_bytes(lambda: build(ad.Value))
    _, m_mg = traced_bytes(lambda: build(mg.Value))
    print(f"{'memory per node (tracemalloc)':<44} {m_ours / n:>10.1f} B   {m_mg / n:>10.1f} B   {m_ours / m_mg:>7.2f} of micrograd")
    print()
    def verdict(name: str, column: int, target: float) -> str:
        parts = [f"{tag} {r[column]:.2f}x {'MET' if r[column] >= target else 'MISSED'}" for tag, r in results.items()]
        return f"target {name} >= {target:g}x: " + ", ".join(parts)

    print(verdict("construction", 0, 3))
    print(verdict("backward, first call", 1, 2))
    print(verdict("backward, repeated", 2, 2))
    print(f"target memory <= 0.5x:     {m_ours / m_mg:.2f}x {'MET' if m_ours / m_mg <= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
