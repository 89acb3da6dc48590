"""Sphinx configuration: the API reference, generated from the docstrings, and the Markdown pages.

Build it (``pip install -e ".[docs]"``) afresh with warnings as errors, as tests/test_apidocs.py does::

    python -m sphinx -E -W --keep-going -b html docs docs/_build

and open docs/_build/index.html. The build fails on a broken cross-reference (``nitpicky``), on
a public name with no docstring (a module, class, function, method or property; data needs a
``#:`` comment), and on a public module that no page documents (see ``setup``).

Each public module has a page under reference/ holding ``.. public-module:: NAME`` (a directive
defined here): every name of the module's ``__all__`` is documented once, on the page of the
public module nearest to where it is defined, and its other public names link there.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)  # the packages, installed or not

project = "autodiff"
author = "The autodiff developers"
root_doc = "index"
extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"

# Every cross-reference must resolve: a typo in :func:`...` or a type in a signature that no page
# documents is an error, not a plain-text fallback.
nitpicky = True
# Standard-library types in signatures (there is no network for intersphinx to resolve them).
# Builtins and ``typing`` names need no entry: Sphinx resolves those itself.
nitpick_ignore_regex = [
    ("py:class", r"(_contextvars|_thread|ast|collections\.abc|contextlib|contextvars|numbers|os|pathlib|random|threading|types)\..+"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# The public modules, each with a page under reference/ made by ``.. public-module:: NAME``.
apidocs_modules = [
    "autodiff",
    "autodiff.ops",
    "autodiff.render",
    "autodiff.debug",
    "autodiff.compile",
    "autodiff.expr",
    "autodiff.fmt",
    "autodiff.state",
    "nn",
    "nn.reference",
    "nn.torch_bridge",
    "autodiff.derivative",
    "nn.check",
    "nn.formula",
    "nn.quiz",
    "nn.quiz_page",
    "nn.explainer",
    "nn.widget",
    "autodiff.lift",
]
# Allowed for now, until the owners of those files fix them (tests/test_apidocs.py passes its
# lists here with -D): public names with no docstring, and cross-reference targets that do not
# resolve. An entry that no longer happens is an error too, so that the lists only shrink.
apidocs_missing_docstrings: list[str] = []
apidocs_broken_references: list[str] = []

logger = logging.getLogger("apidocs")
_NEED_DOCS = {"module", "class", "exception", "function", "method", "property", "classmethod", "staticmethod"}
_AUTO = {"class": "autoclass", "exc": "autoexception", "func": "autofunction", "data": "autodata"}


def _modules(config: Any) -> list[str]:
    """``apidocs_modules`` (``-D apidocs_modules=a,b`` gives ``a,b``; an empty one, nothing)."""
    return [module for module in config.apidocs_modules if module]


def _public(fullname: str) -> bool:
    return not any(part.startswith("_") for part in fullname.split("."))


def _exports(module: str) -> list[str]:
    """The names of ``module.__all__`` to document (``__version__`` and the like are left out);
    none for a module that cannot be imported (the coverage check reports it)."""
    try:
        names = getattr(importlib.import_module(module), "__all__", None)
    except ImportError:
        return []
    if names is None:
        raise ValueError(f"public module {module} has no __all__")
    return [name for name in names if not name.startswith("_")]


def _role(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "mod"
    if isinstance(obj, type):
        return "exc" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj):
        return "func"
    return "data"


def _comment(module: str, name: str) -> list[str]:
    """The ``#:`` comment above the module-level assignment ``name`` in ``module``'s source."""
    try:
        lines = ModuleAnalyzer.for_module(module).find_attr_docs().get(("", name), [])
    except Exception:  # no source to read (a compiled or generated module)
        return []
    return list(lines) if any(line.strip() for line in lines) else []


def _defined_in(module: str, name: str) -> str | None:
    """The module that defines ``module.name``: a class's or function's ``__module__``; for data,
    the module whose source documents it with a ``#:`` comment (None if none does)."""
    obj = getattr(importlib.import_module(module), name)
    if isinstance(obj, type) or inspect.isroutine(obj):
        return getattr(obj, "__module__", None)
    top = module.split(".")[0]
    for candidate in [module] + sorted(m for m in list(sys.modules) if m.startswith(top + ".")):
        if getattr(sys.modules.get(candidate), name, None) is obj and _comment(candidate, name):
            return candidate
    return None


def _home(modules: list[str], module: str, name: str) -> str:
    """The public module whose page documents the object ``module.name`` in full.

    The public module nearest to where it is defined that exports it: its defining module, else
    the package above that, and so on (``autodiff.render.draw.draw`` is ``autodiff.render.draw``;
    ``autodiff.value.Value`` is ``autodiff.Value``), so that the short references of a docstring
    (:class:`Graph`) mean what their author meant; else the first of ``modules`` that exports it.
    Never a module whose ``module.name`` is the name of a module (the function ``autodiff.compile``).
    """
    obj = getattr(importlib.import_module(module), name)
    exporters = [m for m in modules if name in _exports(m) and getattr(importlib.import_module(m), name) is obj
                 and f"{m}.{name}" not in modules]
    defined = (_defined_in(module, name) or "").split(".")
    for depth in range(len(defined), 0, -1):
        if ".".join(defined[:depth]) in exporters:
            return ".".join(defined[:depth])
    return exporters[0] if exporters else module


class PublicModule(SphinxDirective):
    """``.. public-module:: autodiff.render``: the module's docstring, then each name of its
    ``__all__`` that has its home here (see ``_home``), documented from its docstring, in the order
    of ``__all__``; then links to the names it exports whose home is another page."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module = self.arguments[0]
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise self.error(f"public-module: cannot import {module}: {error}") from None
        lines = [f".. automodule:: {module}", ""]
        elsewhere, aliases = [], []
        for name in _exports(module):
            obj = getattr(importlib.import_module(module), name)
            home = _home(_modules(self.config), module, name)
            if inspect.ismodule(obj):
                elsewhere.append(f":mod:`{name} <{obj.__name__}>`")
            elif home != module:
                elsewhere.append(f":{_role(obj)}:`{name} <{home}.{name}>`")
                if f"{module}.{name}" not in _modules(self.config):
                    aliases.append((f"{module}.{name}", f"{home}.{name}"))
            else:
                lines += self._entry(module, name, obj)
        self.env.apidocs_aliases[module] = aliases  # type: ignore[attr-defined]
        if elsewhere:
            lines += [f"Also exported by ``{module}``, documented with their own module: " + ", ".join(elsewhere) + "."]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), self.content_offset, container)
        return container.children

    def _entry(self, module: str, name: str, obj: Any) -> list[str]:
        role = _role(obj)
        lines = [f".. {_AUTO[role]}:: {module}.{name}"]
        if role in ("class", "exc"):
            lines += ["   :members:", "   :undoc-members:"]
            if obj.__bases__ != (object,):  # "Bases: object" says nothing
                lines.append("   :show-inheritance:")
        if role != "data":
            return lines + [""]
        if len(repr(obj)) > 60 or " at 0x" in repr(obj):
            lines.append("   :no-value:")
        # A package that re-exports data has no comment for it: the defining module's is shown.
        defined = _defined_in(module, name)
        comment = _comment(defined, name) if defined else []
        if not comment:
            _missing(self.config, self.env, "data", f"{module}.{name}", self.get_location())
        return lines + [""] + [f"   {line}" for line in comment] + [""]


def _missing(config: Any, env: Any, what: str, name: str, location: Any = None) -> None:
    if name in config.apidocs_missing_docstrings:
        env.apidocs_allowed.add(name)
        return
    hint = "a #: comment above its assignment" if what == "data" else "a docstring"
    logger.warning("public %s %s has no docstring (add %s)", what, name, hint, location=location,
                   type="apidocs", subtype="docstring")


def _check_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Fail the build on a public module, class, function, method or property with no docstring."""
    type_doc = getattr(type(obj), "__doc__", None)
    if what in ("data", "attribute") and isinstance(type_doc, str) and "\n".join(lines).strip() == inspect.cleandoc(type_doc):
        lines.clear()  # autodoc's fallback for data with no comment: the docstring of its type (dict)
    if what in _NEED_DOCS and _public(name) and not any(line.strip() for line in lines):
        _missing(app.config, app.env, what, name)


def _allow_broken(app: Sphinx, domain: Any, node: nodes.Element) -> bool | None:
    """Let the allow-listed broken targets pass (``warn-missing-reference``: True means handled)."""
    target = node.get("reftarget", "")
    if target in app.config.apidocs_broken_references:
        app.env.apidocs_allowed.add(target)  # type: ignore[attr-defined]
        return True
    return None


def _orphan(app: Sphinx, doctree: nodes.document) -> None:
    """Every page but the root is an "orphan": the Markdown pages link each other as they do on
    GitHub (docs/index.md lists them all), so they are pages of the site without being entries of
    a table of contents (the root, docs/index.md, has none)."""
    if app.env.docname != app.config.root_doc:
        app.env.metadata[app.env.docname]["orphan"] = True


def _reset(app: Sphinx, env: Any, docnames: list[str]) -> None:
    # Which allow-list entries still happen is known only when every page is read and written
    # again (a fresh build, as the tests make): an incremental build does not check them.
    env.apidocs_fresh = set(docnames) >= set(env.found_docs)
    if env.apidocs_fresh or not hasattr(env, "apidocs_allowed"):
        env.apidocs_allowed = set()
        env.apidocs_aliases = {}


def _add_aliases(app: Sphinx, env: Any) -> None:
    """Make ``autodiff.render.draw`` a second name of the entry ``autodiff.draw``, as autodoc does
    for a class's defining module (``:canonical:``): an alias, so that a short reference such as
    :func:`draw` still finds one object, not two."""
    objects = env.domains["py"].objects
    for pairs in env.apidocs_aliases.values():
        for alias, target in pairs:
            if target in objects and (alias not in objects or objects[alias].aliased):
                objects[alias] = objects[target]._replace(aliased=True)


def _check_coverage(app: Sphinx, env: Any) -> None:
    """Fail the build on a public module that no page documents."""
    documented = env.domains["py"].modules
    for module in _modules(app.config):
        if module not in documented:
            logger.warning("public module %s has no page (a page under reference/ with "
                           "`.. public-module:: %s`)", module, module, type="apidocs", subtype="coverage")


def _check_allow_lists(app: Sphinx, exception: Exception | None) -> None:
    """Fail the build on an allow-list entry that no longer happens: it must be removed."""
    if exception is not None or not app.env.apidocs_fresh:  # type: ignore[attr-defined]
        return
    allowed = app.env.apidocs_allowed  # type: ignore[attr-defined]
    for entry in [*app.config.apidocs_missing_docstrings, *app.config.apidocs_broken_references]:
        if entry and entry not in allowed:
            logger.warning("%s is allow-listed but no longer missing or broken: remove it from the list", entry,
                           type="apidocs", subtype="stale")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("apidocs_modules", [], "env", types=[list])
    app.add_config_value("apidocs_missing_docstrings", [], "env", types=[list])
    app.add_config_value("apidocs_broken_references", [], "env", types=[list])
    app.add_directive("public-module", PublicModule)
    app.connect("env-before-read-docs", _reset)
    app.connect("doctree-read", _orphan, priority=600)
    app.connect("autodoc-process-docstring", _check_docstring)
    app.connect("warn-missing-reference", _allow_broken)
    app.connect("env-check-consistency", _add_aliases)
    app.connect("env-check-consistency", _check_coverage)
    app.connect("build-finished", _check_allow_lists)
    return {"parallel_read_safe": False}
