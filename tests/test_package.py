"""The project as a user gets it: the built wheel, installed into a fresh virtual environment outside
the checkout (its dependencies from the package index), imports, runs ``autodiff demo`` and draws.

This is what catches a package or a data file that does not ship: an editable install, like the
one the other tests run in, finds every module in the checkout whether it ships or not.
The wheel and the environment are built once for the module (about half a minute, mostly pip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autodiff", "nn")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What is not source: caches, build output, version control, environments, the demo's own output.
NOT_SOURCE = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "build", "dist", "*.egg-info", "autodiff-demo")


def _run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # The fresh environment must not see the checkout or the environment the tests run in.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "AUTODIFF_RENDERER")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _check(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{' '.join(done.args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _outside_checkout(path: Path) -> Path:
    assert not path.resolve().is_relative_to(ROOT), f"{path} is inside the checkout {ROOT}"
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the tree: setuptools writes build/ and *.egg-info next to the sources, and
    # a stale build/lib left there would put files in the wheel that the tree no longer has.
    work = _outside_checkout(tmp_path_factory.mktemp("wheel"))
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    _check(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                 "-w", str(work / "dist"), str(source)], cwd=work))
    (built,) = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its scripts folder."""
    home = _outside_checkout(tmp_path_factory.mktemp("fresh")) / "venv"
    _check(_run([sys.executable, "-m", "venv", str(home)], cwd=home.parent))
    scripts = home / ("Scripts" if os.name == "nt" else "bin")
    _check(_run([str(scripts / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                cwd=home.parent))
    return scripts


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory outside the checkout, so nothing can be imported from it."""
    return _outside_checkout(tmp_path)


def test_the_wheel_holds_every_module_package_and_data_file_of_the_tree(wheel):
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts) \
                    and path.suffix != ".pyc":
                expected.add(relative.as_posix())
    assert {"autodiff/debug/__init__.py", "autodiff/render/__init__.py", "autodiff/py.typed", "nn/py.typed"} <= expected
    assert sorted(expected - shipped) == []
    assert not any(name.startswith("tests/") for name in shipped)


def test_the_distribution_name_is_not_an_import_name_someone_else_holds_on_pypi(wheel):
    (metadata,) = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA")]
    fields = Parser().parsestr(zipfile.ZipFile(wheel).read(metadata).decode("utf-8"))
    # PyPI's `autodiff` (2017) and `nn` are unrelated projects: ours cannot be published under them.
    assert fields["Name"].lower() not in PACKAGES
    assert wheel.name.startswith(fields["Name"].replace("-", "_") + "-")


def test_the_fresh_environment_imports_the_installed_package_not_the_checkout(venv, elsewhere):
    code = "import autodiff, autodiff.debug, autodiff.render, nn; print(autodiff.__file__); print(nn.__file__)"
    files = _check(_run([str(venv / "python"), "-c", code], cwd=elsewhere)).split()
    home = venv.parent.resolve()
    assert len(files) == 2
    for file in files:
        assert Path(file).resolve().is_relative_to(home), f"{file} is not in the fresh environment {home}"


def test_autodiff_demo_runs_outside_the_checkout_and_writes_its_files(venv, elsewhere):
    out = elsewhere / "demo"
    stdout = _check(_run([str(venv / "autodiff"), "demo", "--out", str(out)], cwd=elsewhere))
    assert "Wrote" in stdout
    # The 2-3-2 network has 2*3 + 3*2 = 12 weights: one highlighted trace each, beside the graph and the page.
    traces = sorted(out.glob("trace-*.svg"))
    assert len(traces) == 12
    for svg in [out / "graph.svg", *traces]:
        assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg", svg
    assert (out / "backprop.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    # the explainer inlines files that are not Python (its script, its style, the zoom library): in the wheel
    explainer = (out / "explainer.html").read_text(encoding="utf-8")
    assert "svgPanZoom" in explainer and "autodiffExplainer" in explainer and ".autodiff-explainer" in explainer


def test_the_installed_package_draws_svg_and_png(venv, elsewhere):
    script = textwrap.dedent("""
        import autodiff, nn
        from autodiff import Value
        a, b = Value(2.0, label="alpha"), Value(-3.0, label="beta")
        out = (a * b).tanh()
        out.label = "out"
        out.backward()
        graph = autodiff.draw(out)
        graph.save("g.svg")
        graph.save("g.png")
        model = nn.MLP(2, [3, 1], seed=0)
        autodiff.draw(model([0.5, -1.0])[0]).save("net.svg")
    """)
    _check(_run([str(venv / "python"), "-c", script], cwd=elsewhere))
    svg = ET.parse(elsewhere / "g.svg").getroot()
    shown = " ".join("".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "alpha" in shown and "beta" in shown and "out" in shown
    assert (elsewhere / "g.png").read_bytes()[:8] == PNG_SIGNATURE
    ET.parse(elsewhere / "net.svg")
