"""The API reference: generated from the docstrings by Sphinx, built with warnings as errors.

docs/conf.py makes the build fail on a broken cross-reference (``nitpicky``), on a public name
with no docstring and on a public module with no page. These tests build docs/ into a temporary
folder with that configuration, check that every public name has its entry, and show, on small
modules made on the spot, that each of those faults really fails the build.
"""

from __future__ import annotations

import importlib
import inspect
import re
import runpy
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# myst-parser 5.2 still reads an attribute that Sphinx 9 deprecates: its notice, not a fault of ours.
pytestmark = pytest.mark.filterwarnings(r"ignore:'myst_parser\.sphinx_ext\.myst_refs\..*' is deprecated")

# The public API: every name of each module's __all__ must have an entry in the reference.
PUBLIC_MODULES: list[str] = runpy.run_path(str(DOCS / "conf.py"))["apidocs_modules"]  # one list, in conf.py

# Public names with no docstring yet, in files whose owners will add one (then remove the entry:
# an entry that has its docstring fails the build, so this list can only shrink). Keep it empty.
MISSING_DOCSTRINGS: list[str] = []
# Cross-reference targets that resolve to nothing, in files whose owners will fix them (same rule).
BROKEN_REFERENCES: list[str] = []


def sphinx(source: Path, out: Path, **settings: list[str]) -> tuple[int, str]:
    """Build ``source`` to HTML with docs/conf.py, warnings as errors; the exit status and the warnings."""
    warnings = out / "warnings.txt"
    out.mkdir(parents=True, exist_ok=True)
    args = ["-b", "html", "-E", "-q", "-N", "-W", "--keep-going", "-c", str(DOCS), "-w", str(warnings)]
    for name, values in settings.items():
        args += ["-D", f"{name}={','.join(values)}"]
    status = build_main([*args, str(source), str(out / "html")])
    return status, warnings.read_text(encoding="utf-8") if warnings.exists() else ""


def inventory(path: Path) -> dict[str, dict[str, str]]:
    """objects.inv read by hand: each documented name, its kinds (``py:class``, ...) and their pages."""
    header, _, _, _, body = path.read_bytes().split(b"\n", 4)
    assert header.startswith(b"# Sphinx inventory version 2"), header
    entries: dict[str, dict[str, str]] = {}
    for line in zlib.decompress(body).decode("utf-8").splitlines():
        match = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line)
        assert match, line
        entries.setdefault(match[1], {})[match[2]] = match[4].replace("$", match[1])
    return entries


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    out = tmp_path_factory.mktemp("docs")
    status, warnings = sphinx(
        DOCS, out, apidocs_missing_docstrings=MISSING_DOCSTRINGS, apidocs_broken_references=BROKEN_REFERENCES
    )
    return status, warnings, out / "html"


def test_the_docs_build_with_no_warning(reference):
    status, warnings, html = reference
    assert warnings == "" and status == 0, f"the docs build failed (exit status {status}):\n{warnings}"
    assert (html / "index.html").exists() and (html / "reference" / "autodiff.html").exists()


def public_names():
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            if not name.startswith("_"):
                yield module, name, getattr(mod, name)


def names_of(obj):
    """Every public full name of ``obj``: ``autodiff.Graph`` and ``autodiff.render.Graph``."""
    return {f"{module}.{name}" for module, name, other in public_names() if other is obj}


def test_every_public_name_has_an_entry(reference):
    entries = inventory(reference[2] / "objects.inv")
    for module, name, obj in public_names():
        full = f"{module}.{name}"
        kinds = set(entries.get(full, ())) - {"py:module"}
        if inspect.ismodule(obj) or full in PUBLIC_MODULES:
            # a submodule, or a name that is also a module's (the function autodiff.compile)
            assert "py:module" in entries.get(full, {}), full
        if inspect.ismodule(obj):
            continue
        if full in PUBLIC_MODULES:  # then it is found under another of its names
            kinds = {kind for other in names_of(obj) for kind in entries.get(other, ()) if kind != "py:module"}
        assert kinds, f"{full} has no entry in the reference"
        # one full entry, whichever of its names it has: the others link to it
        pages = {entries[other][kind] for other in names_of(obj) for kind in entries.get(other, {}) if kind in kinds}
        assert len(pages) == 1, (full, pages)


def test_every_public_method_and_property_has_an_entry(reference):
    entries = inventory(reference[2] / "objects.inv")
    classes = {id(obj): obj for _, _, obj in public_names() if isinstance(obj, type)}
    checked = 0
    for cls in classes.values():
        for member, value in vars(cls).items():
            if member.startswith("_"):
                continue
            if isinstance(value, (property, staticmethod, classmethod)) or inspect.isfunction(value):
                assert any(f"{name}.{member}" in entries for name in names_of(cls)), f"{cls.__qualname__}.{member}"
                checked += 1
    assert checked > 40  # Value, Trace, Program, MLP, ... have many: the walk did find them


def test_the_reference_is_linked_from_the_docs(reference):
    api = (reference[2] / "api.html").read_text(encoding="utf-8")
    assert 'href="reference/index.html"' in api
    index = (reference[2] / "reference" / "index.html").read_text(encoding="utf-8")
    for module in PUBLIC_MODULES:
        assert f'href="{module}.html"' in index, module


# -- the checks can fail ------------------------------------------------------------------------

PROBE = '''
"""A module made by tests/test_apidocs.py to show what fails the reference's build."""

__all__ = ["Widget", "area", "LIMIT"{extra_names}]

{limit_comment}LIMIT = 10


class Widget:
    """A square."""

    def __init__(self, side: int) -> None:
        self.side = side

    def grow(self) -> "Widget":
        {grow_doc}return Widget(self.side + 1)

    @property
    def side_length(self) -> int:
        {side_doc}return self.side

    def __repr__(self) -> str:  # special and private names need no docstring
        return f"Widget({{self.side}})"

    def _helper(self) -> None:
        pass


def area(w: Widget) -> int:
    """The area of ``w``: see :class:`Widget`, :attr:`Widget.side_length` and {area_ref}."""
    return w.side_length ** 2


def _private() -> None:
    pass
{extra}'''

GOOD = dict(
    extra_names="",
    limit_comment="#: The largest side.\n",
    grow_doc='"""A square one larger."""\n        ',
    side_doc='"""The length of a side."""\n        ',
    area_ref=":data:`LIMIT`",
    extra="",
)
BAD = dict(
    extra_names=', "undocumented", "Plain", "uses_hidden"',
    limit_comment="",
    grow_doc="",
    side_doc="",
    area_ref=":func:`nowhere`",
    extra=textwrap.dedent('''
        def undocumented() -> None:
            pass


        class Plain:
            pass


        class Hidden:
            """Not in __all__, so on no page."""


        def uses_hidden(h: Hidden) -> None:
            """Takes a class that no page documents."""
    '''),
)


def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, parts: dict[str, str]) -> Path:
    """A module ``name`` from PROBE and a docs source folder whose page documents it."""
    source = tmp_path / "src"
    source.mkdir()
    (source / f"{name}.py").write_text(PROBE.format(**parts), encoding="utf-8")
    (source / "index.rst").write_text(f"Probe\n=====\n\n.. public-module:: {name}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return source


def test_a_documented_module_builds(tmp_path, monkeypatch):
    good, api = "apidocs_probe_good", "apidocs_probe_api"
    source = probe(tmp_path, monkeypatch, good, GOOD)
    # A second public module that re-exports a name: it links to the one full entry, under its own
    # name too, and a short reference (.area) is not made ambiguous by that second name.
    (source / f"{api}.py").write_text(
        f'"""Re-exports :func:`{api}.area`, also known as :func:`.area`."""\n\n'
        f"from {good} import area\n\n__all__ = [\"area\"]\n",
        encoding="utf-8",
    )
    (source / "index.rst").write_text(f"Probe\n=====\n\n.. public-module:: {good}\n\n.. public-module:: {api}\n")
    monkeypatch.delitem(sys.modules, api, raising=False)
    status, warnings = sphinx(source, tmp_path / "out", apidocs_modules=[good, api])
    assert (status, warnings) == (0, "")
    entries = inventory(tmp_path / "out" / "html" / "objects.inv")
    assert {f"{good}.Widget.grow", f"{good}.Widget.side_length", f"{good}.LIMIT"} <= set(entries)
    assert f"{good}._private" not in entries and f"{good}.Widget._helper" not in entries
    assert entries[f"{api}.area"] == entries[f"{good}.area"] == {"py:function": f"index.html#{good}.area"}


def test_each_fault_fails_the_build(tmp_path, monkeypatch):
    source = probe(tmp_path, monkeypatch, "apidocs_probe_bad", BAD)
    (source / "page.md").write_text("# A page\n\nSee [the other page](missing.md).\n", encoding="utf-8")
    status, warnings = sphinx(source, tmp_path / "out", apidocs_modules=["apidocs_probe_bad", "apidocs_probe_nopage"])
    assert status == 1
    expected = [
        "public function apidocs_probe_bad.undocumented has no docstring",
        "public class apidocs_probe_bad.Plain has no docstring",
        "public method apidocs_probe_bad.Widget.grow has no docstring",
        "public property apidocs_probe_bad.Widget.side_length has no docstring",
        "public data apidocs_probe_bad.LIMIT has no docstring",
        "py:func reference target not found: nowhere",
        "py:class reference target not found: apidocs_probe_bad.Hidden",
        "public module apidocs_probe_nopage has no page",
        "cross-reference target not found: 'missing.md'",  # a Markdown page's broken link
    ]
    lines = [line for line in warnings.splitlines() if "WARNING" in line or "ERROR" in line]
    for fault in expected:
        assert sum(fault in line for line in lines) == 1, f"{fault!r} not reported once in:\n{warnings}"
    assert len(lines) == len(expected), warnings  # nothing else: the good parts pass


def test_allow_lists_silence_only_their_entries_and_must_shrink(tmp_path, monkeypatch):
    name = "apidocs_probe_allowed"
    source = probe(tmp_path, monkeypatch, name, BAD)
    missing = [f"{name}.{n}" for n in ("undocumented", "Plain", "Widget.grow", "Widget.side_length", "LIMIT")]
    status, warnings = sphinx(
        source,
        tmp_path / "out",
        apidocs_modules=[name],
        apidocs_missing_docstrings=[*missing, f"{name}.fixed_meanwhile"],
        apidocs_broken_references=["nowhere", f"{name}.Hidden"],
    )
    lines = [line for line in warnings.splitlines() if "WARNING" in line or "ERROR" in line]
    assert status == 1 and len(lines) == 1, warnings
    assert f"{name}.fixed_meanwhile is allow-listed but no longer missing or broken" in lines[0]
