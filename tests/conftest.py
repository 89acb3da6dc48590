"""Shared helpers for the tests: a finite-difference oracle independent of the engine, and the one
way a test says it needs a program that pip cannot install (a system Graphviz ``dot``, Chromium).

Such a test skips on a machine that lacks the program, with a one-line reason naming the Debian
package to install. CI installs those packages and sets ``AUTODIFF_REQUIRE_SYSTEM=1``, which turns
each such skip into a failure, and any skip at all into a failed run, so nothing skips there.

Two ways to say it, both ending in :func:`require_system`:

- a test, or one parameter of it: ``@pytest.mark.needs_system("dot")`` or
  ``pytest.param("system", marks=pytest.mark.needs_system("dot"))``;
- a fixture: ask for the ``system_program`` fixture and call it, ``system_program("chromium")``,
  which returns the program's path.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable, Sequence

import pytest

REQUIRE_SYSTEM = "AUTODIFF_REQUIRE_SYSTEM"

# program -> (what it is, the Debian package that installs it)
SYSTEM_PROGRAMS = {
    "dot": ("the system Graphviz `dot`", "graphviz"),
    "chromium": ("Chromium", "chromium"),
}


def numeric_grad(f: Callable[[Sequence[float]], float], xs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """Central finite differences of the plain-float function ``f`` at ``xs``."""
    out = []
    for i in range(len(xs)):
        up = list(xs)
        down = list(xs)
        up[i] += eps
        down[i] -= eps
        out.append((f(up) - f(down)) / (2 * eps))
    return out


def _reason(program: str) -> str:
    what, package = SYSTEM_PROGRAMS[program]
    return f"needs {what} (apt-get install {package})"


def strict() -> bool:
    """True where every system program must be present (CI): ``AUTODIFF_REQUIRE_SYSTEM=1``."""
    return os.environ.get(REQUIRE_SYSTEM, "") not in ("", "0")


def require_system(program: str) -> str:
    """The path of ``program`` on PATH; without it the test skips, or fails under ``AUTODIFF_REQUIRE_SYSTEM=1``."""
    if program not in SYSTEM_PROGRAMS:
        raise ValueError(f"unknown system program {program!r}; known: {', '.join(SYSTEM_PROGRAMS)}")
    path = shutil.which(program)
    if path is not None:
        return path
    reason = _reason(program)
    if strict():
        pytest.fail(f"{reason}, and {REQUIRE_SYSTEM} is set: it must be installed here", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def system_program() -> Callable[[str], str]:
    """:func:`require_system`, for fixtures that need a system program (their tests skip without it)."""
    return require_system


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_system(program): the test needs a program pip cannot install ('dot' or 'chromium')"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Marked tests skip as plain skip marks, so `-rs` names each test, not this file. Under
    # AUTODIFF_REQUIRE_SYSTEM they are left alone and require_system fails them at setup.
    for item in items:
        for mark in item.iter_markers("needs_system"):
            program = mark.args[0]
            if program not in SYSTEM_PROGRAMS:
                known = ", ".join(SYSTEM_PROGRAMS)
                raise pytest.UsageError(f"{item.nodeid}: unknown system program {program!r}; known: {known}")
            if shutil.which(program) is None and not strict():
                item.add_marker(pytest.mark.skip(reason=_reason(program)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_system"):
        require_system(*mark.args)


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under AUTODIFF_REQUIRE_SYSTEM a skip from anywhere (not only the helpers above) fails the run:
    # CI must run every test it has.
    if strict() and _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if strict() and _skipped:
        terminalreporter.write_line(
            f"{REQUIRE_SYSTEM} is set, so no test may skip; {len(_skipped)} skipped: " + ", ".join(_skipped[:10]),
            red=True,
        )


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser(system_program):
    """Headless Chromium (Debian's: pip cannot install a browser) driven by Playwright, with a fresh profile."""
    import tempfile

    from playwright.sync_api import sync_playwright

    chromium = system_program("chromium")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=chromium, args=FLAGS, headless=True)
        yield context
        context.close()
