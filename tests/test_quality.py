"""The code stays typed and lint-clean: mypy over both packages, ruff over everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
