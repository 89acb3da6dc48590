"""The explainer as a live notebook widget: the same three views, with a step and a weight Python can set.

:func:`explainer_widget` returns an `anywidget <https://anywidget.dev>`_ widget that shows the page
of :mod:`nn.explainer` (the network, the matrices and the scalar graph, linked) inside the
notebook, run by the page's own script. Two traits are shared between Python and the page:

- ``step``: the step on show, ``0`` (before the forward pass) to ``len(w.steps) - 1``; setting it
  in Python moves the page, pressing next or play in the page changes it in Python;
- ``selected``: the label of the weight or bias selected (``"W2[1][0]"``, ``"b1[2]"``) or
  ``None``; setting it selects that weight in all three views, clicking one in the page sets it;
- ``granularity``: what one step is, ``"layer"`` (a matrix rule, the default) or ``"node"`` (one
  node of the graph, forward then backward, numbered as the terminal debugger numbers them);
  switching it, in Python or with the page's menu, goes back to step 0.

The widget has no frame of its own: it is as tall as the page, and the scalar graph pans so that
the node a step computes (or the selected weight) is in the middle of its pane.

Where no kernel runs it (a notebook exported by ``jupyter nbconvert --to html``), the output also
carries the page itself as ``text/html``, in a frame of its own: the same explorer without
Python, opening at the step and weight the widget had when it was shown. nbconvert shows that page when the notebook holds
no saved widget state, as JupyterLab saves notebooks by default; a notebook executed by
``jupyter nbconvert --execute`` should be executed with ``--ExecutePreprocessor.store_widget_state=False``
for its export to show it.

anywidget is imported when a widget is made, so ``import nn`` works without it; install it with
``pip install "autodiff-seethrough[notebook]"``.

>>> import nn
>>> w = nn.explainer_widget(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])
>>> w.step = 5
>>> w.steps[w.step]
'dW2 = outer(h1, delta2), db2 = delta2'
>>> w.selected = "W2[1][0]"
>>> w
ExplainerWidget(MLP([2, 3, 2], activation='tanh', out_activation='linear'), step=5 of 7, selected='W2[1][0]')
>>> w.granularity = "node"   # one node a step: the forward pass, then backprop
>>> w.step, len(w.steps) - 1 == w.count
(0, True)
>>> w.steps[w.count].startswith("step ")   # the last backward step, as the terminal debugger titles it
True
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from autodiff import fmt

from .explainer import _page, explainer_css, explainer_module, explainer_view
from .layers import MLP

__all__ = ["INSTALL", "explainer_widget"]

#: What to run when anywidget is missing (the package's ``notebook`` extra).
INSTALL = 'pip install "autodiff-seethrough[notebook]"'

# The page in an iframe of its own (the exported notebook's view): tall enough for the whole page,
# so that nothing, the graph's current node included, is hidden below the frame's edge.
_STATIC_HEIGHT = 1200

# render({model, el}) of the anywidget module, after explainer_module() (which exports `mount`):
# the page is mounted in the widget's element; its steps and selection go to the model, the
# model's changes (from Python, or another view of the same widget) to the page. Setting what is
# already there is a no-op on both sides, so the two never echo each other.
_RENDER = """
function render({ model, el }) {
  var root = document.createElement('div');
  el.appendChild(root);
  // while the page follows the model, what it reports back is the model's own change, not the user's
  // (switching the granularity goes to step 0 before the step Python set is applied)
  var following = false;
  function put(name, value) {
    if (following || model.get(name) === value) return;
    model.set(name, value);
    model.save_changes();
  }
  var handle = mount(root, model.get('_view'), {
    granularity: model.get('granularity'),
    onStep: function (n) { put('step', n); },
    onSelect: function (name) { put('selected', name); },
    onGranularity: function (name) { put('granularity', name); }
  });
  function follow() {
    following = true;
    try {
      if (handle.granularity() !== model.get('granularity')) handle.granularity(model.get('granularity'));
      if (handle.step() !== model.get('step')) handle.step(model.get('step'));
      if (handle.selected() !== model.get('selected')) handle.select(model.get('selected'));
    } finally {
      following = false;
    }
  }
  follow();
  model.on('change:step', follow);
  model.on('change:selected', follow);
  model.on('change:granularity', follow);
  return function () {
    model.off('change:step', follow);
    model.off('change:selected', follow);
    model.off('change:granularity', follow);
    handle.destroy();
  };
}
export default { render };
"""

_WIDGET_CLASS: type | None = None


def _anywidget() -> Any:
    try:
        import anywidget
    except ImportError:
        raise ImportError(f"the explainer widget needs anywidget, which is not installed: {INSTALL}") from None
    return anywidget


def _widget_class() -> type:
    """The widget class, made on first use (it subclasses ``anywidget.AnyWidget``)."""
    global _WIDGET_CLASS
    anywidget = _anywidget()
    if _WIDGET_CLASS is not None:
        return _WIDGET_CLASS
    import traitlets

    class ExplainerWidget(anywidget.AnyWidget):  # type: ignore[misc,name-defined]
        """The explainer in a notebook: ``step`` and ``selected`` are shared with the page (see :mod:`nn.widget`)."""

        _esm = explainer_module() + _RENDER
        _css = explainer_css()
        step = traitlets.Int(0).tag(sync=True)
        selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)
        granularity = traitlets.Unicode("layer").tag(sync=True)
        # what the page shows (explainer_view: plain JSON, the graph's SVG included), sent once
        _view = traitlets.Dict().tag(sync=True)

        def __init__(self, model: MLP, x: Sequence[float], target: Sequence[float], loss: str = "mse",
                     renderer: str | None = None) -> None:
            view = explainer_view(model, x, target, loss, renderer)  # checks the arguments
            self._model_repr = repr(model)
            # the static page is made now, from the same view (one drawing, one set of traces)
            self._page = _page(view, f"Backprop through {model!r}, seen three ways")
            super().__init__(_view=view)

        @property
        def steps(self) -> list[str]:
            """What each step of the current granularity does, ``steps[0]`` being the start (before the
            forward pass): a matrix rule by layer, a step's title (as the terminal debugger writes it) by node."""
            if self.granularity == "layer":
                return [s["rule"] for s in self._view["steps"]]
            nodes = self._view["nodeSteps"]
            return ["before the forward pass"] + [s["title"] for s in nodes["forward"] + nodes["backward"]]

        @property
        def count(self) -> int:
            """The last step of the current granularity (``step`` goes from 0 to it)."""
            return len(self.steps) - 1

        @traitlets.validate("granularity")
        def _check_granularity(self, proposal: Any) -> str:
            value = proposal["value"]
            if value not in ("layer", "node"):
                raise traitlets.TraitError(f"granularity must be 'layer' or 'node', not {value!r}")
            return value

        @traitlets.observe("granularity")
        def _granularity_changed(self, change: Any) -> None:
            self.step = 0  # as the page does: another granularity starts again

        @property
        def html(self) -> str:
            """The static page (what :func:`nn.explainer_html` writes), as an exported notebook shows it."""
            return self._page

        @traitlets.validate("step")
        def _check_step(self, proposal: Any) -> int:
            value, last = proposal["value"], self.count
            if isinstance(value, bool) or not 0 <= value <= last:
                raise traitlets.TraitError(f"step must be a whole number from 0 to {last}, not {value!r}")
            return int(value)

        @traitlets.validate("selected")
        def _check_selected(self, proposal: Any) -> str | None:
            value = proposal["value"]
            if value is not None and value not in self._view["params"]:
                known = list(self._view["params"])
                raise traitlets.TraitError(f"selected must be None or the label of a weight or bias of the model "
                                           f"({known[0]}, ..., {known[-1]}), not {value!r}")
            return value

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            bundle = super()._repr_mimebundle_(**kwargs)
            if bundle is None:
                return None
            data, metadata = bundle
            # where no widget manager runs (an exported notebook), the page itself, in its own
            # frame, opening at the step and weight the widget has now
            frame = (f'<iframe srcdoc="{html.escape(self._static_page(), quote=True)}" sandbox="allow-scripts" '
                     f'title="explainer" style="width:100%;height:{_STATIC_HEIGHT}px;border:1px solid #e2e8f0">'
                     '</iframe>')
            return {**data, "text/html": frame}, metadata

        def _static_page(self) -> str:
            if self.step == 0 and self.selected is None and self.granularity == "layer":
                return self._page
            # the page's handle is its global `explainer`; the label reaches the script as JSON,
            # with < > & escaped so that no label can end the script element
            state = fmt.script_json(json.dumps([self.step, self.selected, self.granularity]))
            script = (f"<script>(function (s) {{ if (typeof explainer === 'undefined') return; "
                      f"explainer.granularity(s[2]); explainer.step(s[0]); if (s[1] !== null) explainer.select(s[1]); }})({state});</script>\n")
            end = self._page.rindex("</body>")
            return self._page[:end] + script + self._page[end:]

        def __repr__(self) -> str:
            by = "" if self.granularity == "layer" else ", granularity='node'"
            return (f"ExplainerWidget({self._model_repr}, step={self.step} of {self.count}, "
                    f"selected={self.selected!r}{by})")

    _WIDGET_CLASS = ExplainerWidget
    return ExplainerWidget


def explainer_widget(model: MLP, x: Sequence[float], target: Sequence[float], loss: str = "mse",
                     renderer: str | None = None) -> Any:
    """The explainer of ``model`` on input ``x`` against ``target`` as a live notebook widget.

    Arguments as :func:`nn.explainer_html`. Show it by making it a cell's last expression; read or
    set ``w.step`` (an int, ``0`` to ``len(w.steps) - 1``) and ``w.selected`` (a weight's or bias's
    label, or ``None``); a value out of range is refused with a ``traitlets.TraitError`` naming it.
    ``w.steps`` lists each step's rule, ``w.html`` is the static page. Needs anywidget
    (``pip install "autodiff-seethrough[notebook]"``); the model's ``.grad`` fields are not touched.

    In a notebook::

        w = nn.explainer_widget(nn.MLP(2, [3, 2], seed=0), [0.5, -1.0], [1.0, 0.0])
        w                      # the three views
        w.step = 5             # the page shows dW2 = outer(h1, delta2)
        w.selected             # 'W2[1][0]' after a click on that weight in the page
    """
    return _widget_class()(model, x, target, loss, renderer)
