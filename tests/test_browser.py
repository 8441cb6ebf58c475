"""Look at the built book in headless Chromium, as a reader would (run after the book build: `make browser`).

Every page listed in `_toc.yml` is served from `_build/html` on 127.0.0.1 and opened in headless Chromium
(or Google Chrome) driven by Playwright: the browser named by `$CHROMIUM_PATH`, else the first of chromium,
chromium-browser, google-chrome, google-chrome-stable on the PATH, else /usr/bin/chromium. A page fails on a
JavaScript console error, a request that fails (e.g. something fetched from a CDN, which the offline book must
not need), a broken image, raw LaTeX that MathJax did not typeset, a widget area that stayed empty, or a widget
whose controls are not marked as a static preview. Full-page screenshots go to `_build/screenshots/`.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str:
    """The browser executable: $CHROMIUM_PATH when set, else the first of BROWSER_NAMES on the PATH."""
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        return env
    return next(filter(None, map(shutil.which, BROWSER_NAMES)), "/usr/bin/chromium")


CHROMIUM = find_chromium()

pytestmark = pytest.mark.browser


def toc_pages() -> list[str]:
    """Docnames of every page in `_toc.yml`, in book order (e.g. 'chapters/01_single_neuron')."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [p.removesuffix(".md").removesuffix(".ipynb") for p in pages]


PAGES = toc_pages()


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail("_build/html is missing: build the book first (make build-book)")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no browser at {CHROMIUM}: install Chromium (Debian: apt-get install chromium; make does this as root "
            f"on Debian) or Google Chrome, or set CHROMIUM_PATH to a Chromium/Chrome executable"
        )
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


# JavaScript run in the page after it settled: what a reader would see.
INSPECT = """() => {
  const imgs = [...document.querySelectorAll('article img')];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80));
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const empty = views.filter(s => {
    const area = s.parentElement;
    const rendered = area.querySelector('.widget-container, .jupyter-widgets, .lm-Widget');
    return !rendered || rendered.getBoundingClientRect().height < 10;
  }).length;
  const article = (document.querySelector('article') || document.body).cloneNode(true);
  article.querySelectorAll('pre, code, mjx-container, .cell_input, script').forEach(e => e.remove());
  const text = article.textContent;
  const rawMath = (text.match(/\\$\\$|\\\\frac|\\\\sigma|\\\\begin\\{/g) || []).length;
  const unmarked = views.filter(s => !s.parentElement.querySelector('.static-widget-note')).length;
  return {images: imgs.length, broken, widgets: views.length, emptyWidgets: empty, unmarked,
          math: document.querySelectorAll('mjx-container').length, rawMath,
          players: document.querySelectorAll('.animation').length};
}"""


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page, server, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = ctx.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text[:200]}"))
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:120]}"))
    tab.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url[:120]}"))

    url = f"{server}/{page}.html"
    tab.goto(url, wait_until="networkidle")
    tab.wait_for_timeout(1500)  # MathJax typesetting and widget rendering finish after load
    seen = tab.evaluate(INSPECT)

    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{page.replace('/', '__')}.png"), full_page=True)
    ctx.close()

    problems += [f"broken image: {src}" for src in seen["broken"]]
    if seen["emptyWidgets"]:
        problems.append(f"{seen['emptyWidgets']} of {seen['widgets']} widget areas are empty")
    if seen["unmarked"]:  # course.js disables a stored widget's controls and says it is a static preview
        problems.append(f"{seen['unmarked']} of {seen['widgets']} widgets are not marked as a static preview")
    if seen["rawMath"]:
        problems.append(f"{seen['rawMath']} pieces of raw LaTeX left untypeset (MathJax {seen['math']} typeset)")
    assert not problems, f"{url}:\n  " + "\n  ".join(problems)


def test_widget_page_loads_local_widget_manager(server, browser):
    """Pages with widgets load the widget manager from the book itself, never from a CDN."""
    pages = [p for p in PAGES if "widget-view+json" in (HTML / f"{p}.html").read_text(errors="ignore")]
    assert pages, "no page of the book contains a widget"
    for page in pages:
        html = (HTML / f"{page}.html").read_text()
        assert "widgets/embed-amd.js" in html and "cdn.jsdelivr" not in html and "cdnjs" not in html, page
