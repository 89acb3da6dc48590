"""The explainer page's front end (:mod:`nn.explainer` inlines these files into each page).

- ``explainer.js`` and ``explainer.css``: the page's own script and style (the script's API,
  ``autodiffExplainer.mount``, is described at its top). The zoom library, svg-pan-zoom, is the
  copy shared with the step-through page, in :mod:`autodiff.debug.assets`.
"""
