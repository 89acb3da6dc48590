"""Every code example in the docs and the README runs.

The API reference, generated from the docstrings, is built and checked by tests/test_apidocs.py.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_docs_have_examples():
    assert sum(len(blocks(p)) for p in PAGES) >= 15
    for name in ["index.md", "walkthrough-2-3-2.md", "api.md", "debugging.md", "rendering.md", "performance.md"]:
        assert (ROOT / "docs" / name).exists(), name


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_example_runs(page, tmp_path, monkeypatch):
    """Blocks run in order in one namespace per page; blocks with >>> are doctests (outputs checked)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for i, code in enumerate(blocks(page)):
        if ">>> " in code:
            test = parser.get_doctest(code, namespace, f"{page.name}[{i}]", str(page), 0)
            result = runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # DocTest works on a copy: carry names to the next block
            assert result.failed == 0, f"{page.name} block {i} failed (see the output above)"
        else:
            exec(compile(code, f"{page.name}[{i}]", "exec"), namespace)


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("```sh")
    assert lines[start + 1] == "pip install -e . && autodiff demo"
    assert lines[start + 2] == 'pip install -e ".[test]" && pytest'
    assert lines[start + 3] == "```"
