"""Front-end files the pages inline (every page stays one offline file), shared by every page that needs them.

- ``svg-pan-zoom.min.js``: svg-pan-zoom 3.6.2 (https://github.com/bumbu/svg-pan-zoom, BSD-2-Clause),
  the npm package's ``dist/svg-pan-zoom.min.js`` unchanged, with the package's LICENSE file put in a
  comment at its top so that the notice travels with every page. The step-through page
  (:mod:`autodiff.debug.page`) and the explainer (:mod:`nn.explainer`) read this one copy.
"""

from importlib import resources

__all__ = ["read"]


def read(name: str) -> str:
    """The text of the bundled file ``name`` (for example ``"svg-pan-zoom.min.js"``).

    >>> "svg-pan-zoom v3.6.2" in read("svg-pan-zoom.min.js")
    True
    """
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
