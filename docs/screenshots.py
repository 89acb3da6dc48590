"""The docs' pictures: screenshots made in Chromium from the pages themselves, and the drawings (run it
again after a change to the pages or the layout).

    python docs/screenshots.py               # writes docs/images/explainer-2-3-2*.png, graph-2-3-2.svg
    python docs/screenshots.py --out DIR     # somewhere else

``explainer-2-3-2.png``: the explainer of the 2-3-2 demo network (``nn.demo.build()``: seed 0,
x = [0.5, -1.0], target [1.0, 0.0]) at 1280x800, after play has run every step, with dW2[1][0]
clicked: what the issue's "done when" asks a teacher to see. ``explainer-2-3-2-readme.png``: the
same at 900x760, for the README (GitHub shows it about 830 px wide, so its 13 px text stays
about 12 px). It needs Playwright (the ``test``
extra) and a Chromium (Debian's ``chromium`` package; ``--chromium PATH`` for another).
``graph-2-3-2.svg``: the demo network's graph after backward, as ``autodiff demo`` draws it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]

#: The project's Chromium flags (the same as ``FLAGS`` in tests/conftest.py, which the tests use).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

SIZE = {"width": 1280, "height": 800}
README_SIZE = {"width": 900, "height": 760}


def explainer_2_3_2(context: Any, out_dir: Path, size: Optional[dict[str, int]] = None,
                    name: str = "explainer-2-3-2.png") -> Path:
    """The 2-3-2 explainer after play, dW2[1][0] selected, in a window of ``size`` (default 1280x800),
    as ``out_dir/name``."""
    from nn import demo
    from nn.explainer import explainer_html

    net = demo.build(backward=False)
    html = explainer_html(net.model, net.x, net.target, title="The 2-3-2 network: backprop seen three ways")
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "explainer.html"
        page_file.write_text(html, encoding="utf-8")
        page = context.new_page()
        page.set_viewport_size(size or SIZE)
        page.goto(page_file.as_uri())
        page.select_option(".ax-speed", "400")
        page.click(".ax-play")
        page.wait_for_function("explainer.step() === explainer.count()", timeout=20000)
        page.click('.ax-block[data-block="dW2"] td[data-param="W2[1][0]"]')
        # svg-pan-zoom moves the drawing on the next animation frame
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        out = out_dir / name
        page.screenshot(path=str(out))
        page.close()
    return out


def graph_2_3_2(out_dir: Path) -> Path:
    """The demo network's graph after backward (``autodiff.draw``, as ``autodiff demo`` writes ``graph.svg``)."""
    import autodiff
    from nn import demo

    return Path(autodiff.draw(demo.build().loss).save(out_dir / "graph-2-3-2.svg"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write every screenshot; returns the exit status (2 when no Chromium is found)."""
    parser = argparse.ArgumentParser(description="Make the docs' screenshots in Chromium.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder (default docs/images)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="the Chromium to drive (default: chromium on PATH)")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"screenshots: no Chromium at {args.chromium} (apt-get install chromium, or --chromium PATH)",
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=args.chromium, args=FLAGS,
                                                       headless=True)
        try:
            print(f"wrote {explainer_2_3_2(context, args.out)}")
            print(f"wrote {explainer_2_3_2(context, args.out, README_SIZE, 'explainer-2-3-2-readme.png')}")
        finally:
            context.close()
    print(f"wrote {graph_2_3_2(args.out)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run from a checkout: the project itself, not an installed copy
    sys.exit(main())
