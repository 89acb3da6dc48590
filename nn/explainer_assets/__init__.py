"""The explainer page's front end (:mod:`nn.explainer` inlines these files into each page).

- ``explainer.js`` and ``explainer.css``: the page's own script and style.
- ``svg-pan-zoom.min.js``: svg-pan-zoom 3.6.2 (https://github.com/bumbu/svg-pan-zoom, BSD-2-Clause),
  the npm package's ``dist/svg-pan-zoom.min.js`` unchanged, with the package's LICENSE file
  put in a comment at its top so that the notice travels with every page.
"""
