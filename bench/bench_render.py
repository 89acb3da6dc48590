"""Time to SVG for every installed Graphviz engine: first call (in a fresh process) and warm.

Graphs: the 2-3-2 network's training-step graph (one sample, MSE loss, after backward) and a
2-16-16-1 MLP on one sample (drawn whole, and collapsed to one node per neuron).

    python bench/bench_render.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: an engine copy there wins

from harness import machine  # noqa: E402

import autodiff  # noqa: E402
import nn  # noqa: E402
from autodiff.render import engines  # noqa: E402


def graphs() -> dict[str, autodiff.Graph]:
    small = nn.MLP(2, [3, 2], seed=0)
    loss = nn.mse_loss(small([0.5, -1.0]), [1.0, 0.0])
    loss.backward()
    big = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    out = nn.mse_loss(big([0.3, -0.7]), [1.0])
    out.backward()
    return {
        "2-3-2 training step": autodiff.draw(loss),
        "2-16-16-1 one sample": autodiff.draw(out),
        "2-16-16-1 collapsed": autodiff.draw(out, collapse=True),
    }


def first_call(renderer: str, name: str) -> float:
    """Seconds for the first render in a fresh interpreter (module loading and compiling included)."""
    code = (
        "import sys, time; sys.path.insert(0, %r); sys.path.append(%r); import bench_render as b; g = b.graphs()[%r]; "
        "t = time.perf_counter(); g.svg(%r); print(time.perf_counter() - t)"
    ) % (str(Path(__file__).parent), str(Path(__file__).parent.parent), name, renderer)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def warm(graph: autodiff.Graph, renderer: str, repeat: int = 5) -> float:
    graph.svg(renderer)
    best = float("inf")
    for _ in range(repeat):
        graph._svg.clear()
        start = time.perf_counter()
        graph.svg(renderer)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(f"machine: {machine()}")
    found = engines.available()
    print(f"engines installed: {', '.join(found)}\n")
    print(f"{'graph':<24} {'nodes':>7} {'engine':<8} {'first call':>12} {'warm':>10}")
    results = []
    for name, graph in graphs().items():
        nodes = len(re.findall(r"^\s*[vog]\d+ \[", graph.source, flags=re.M))
        for renderer in found:
            first = first_call(renderer, name)
            hot = warm(graph, renderer)
            results.append({"graph": name, "engine": renderer, "first_s": first, "warm_s": hot})
            print(f"{name:<24} {nodes:>7} {renderer:<8} {first * 1e3:>9.1f} ms {hot * 1e3:>7.1f} ms")
    if "--json" in sys.argv:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
