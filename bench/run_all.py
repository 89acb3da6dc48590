"""Every benchmark, each run several times in a fresh process, and whether each target held in every run.

    python bench/run_all.py              # 3 passes over every benchmark (15 to 20 minutes)
    python bench/run_all.py --runs 1     # one pass (5 to 6 minutes on a shared 2-core machine)
    python bench/run_all.py --only dag loop

Each pass runs every benchmark once, in its own process, one after the other (passes rather
than one benchmark three times in a row, so that a busy spell on a shared machine spreads over
all of them). Each benchmark's output is shown as it comes; at the end, one line per target
with its ratio in every run and "met in every run" or how many runs missed it. A target met
only in the best run is a miss. ``render`` has no targets and runs in the first pass only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> the command line after the interpreter; in the order they run within a pass.
BENCHMARKS: dict[str, list[str]] = {
    "engine": [str(HERE / "bench_engine.py")],
    "dag": [str(HERE / "bench_dag.py")],
    "nn": [str(HERE / "bench_nn.py")],
    "compile": [str(HERE / "bench_compile.py")],
    "loop": [str(HERE / "bench_loop.py")],
    "loop-torch": [str(HERE / "bench_loop.py"), "--torch"],
    "lift": [str(HERE / "bench_lift.py"), "--blocks", "20"],
    "render": [str(HERE / "bench_render.py")],
}
ONCE = {"render"}

# The line harness.target prints: "target: <name>: 3.21x >= 3x MET".
TARGET = re.compile(r"^target: (?P<name>.+): (?P<value>[\d.]+|inf)x (?P<op>>=|<=) (?P<goal>[\d.]+)x (?P<verdict>MET|MISSED)$")


def run(name: str) -> tuple[list[tuple[str, float, str, float, bool]], float]:
    """Run one benchmark in a fresh process, echoing its output; its target lines and its duration."""
    print(f"\n===== {name}: {' '.join(Path(a).name if a.endswith('.py') else a for a in BENCHMARKS[name])}", flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-u", *BENCHMARKS[name]], stdout=subprocess.PIPE, text=True, bufsize=1)
    found = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        m = TARGET.match(line.strip())
        if m:
            found.append((m["name"], float(m["value"]), m["op"], float(m["goal"]), m["verdict"] == "MET"))
    if proc.wait() != 0:
        raise SystemExit(f"{name} failed (exit status {proc.returncode})")
    return found, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="passes over the benchmarks (default 3)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    names = args.only or list(BENCHMARKS)
    results: dict[str, list[tuple[float, str, float, bool]]] = {}
    for i in range(args.runs):
        pass_start = time.perf_counter()
        for name in names:
            if name in ONCE and i:
                continue
            found, seconds = run(name)
            print(f"----- {name}: {seconds:.0f} s", flush=True)
            for target, value, op, goal, met in found:
                results.setdefault(target, []).append((value, op, goal, met))
        print(f"\n===== pass {i + 1} of {args.runs}: {time.perf_counter() - pass_start:.0f} s", flush=True)

    print(f"\n===== targets over {args.runs} run(s), each a separate process (ratio to micrograd in every run)")
    width = max((len(t) for t in results), default=10)
    missed_any = False
    for target, runs in results.items():
        values = ", ".join(f"{v:.2f}" for v, _, _, _ in runs)
        _, op, goal, _ = runs[0]
        misses = sum(1 for *_, met in runs if not met)
        missed_any |= misses > 0
        verdict = "met in every run" if not misses else f"MISSED in {misses} of {len(runs)} runs"
        print(f"{target:<{width}}  {op} {goal:g}x  [{values}]  {verdict}")
    print("\nall targets met in every run" if not missed_any else "\nsome targets MISSED (see above)")


if __name__ == "__main__":
    main()
