"""Sphinx glue for the course book (loaded through `local_extensions` in `_config.yml`).

* Fails the build (a warning, and the book builds with -W) when a stored notebook output is an error: the
  book renders stored outputs, so a chapter that broke must not publish quietly.
* Starts the theme in light mode instead of an empty mode (`_static/course.js`; the theme logs a console
  error for an empty one, which the browser check rightly treats as a failure).
* Mends markup that fails WCAG checks (axe-core, in the browser check) where the HTML is ours to change:
  bibliography entries are list items of their `role="list"` (docutils marks them with the deprecated
  `doc-biblioentry` role, so the list had no items), a folded cell's toggle is named by its visible text
  ("Show code cell content", not myst-nb's differing `aria-label`), and matplotlib's animation slider gets a
  label. Link colour inside admonitions and the theme's buttons: `_static/course.css` and `course.js`.
* Gives the images MyST-NB does not render itself (animation frames, plots in stored widget views) the alt
  text of their cell (`figure_alt`).
* Drops inline scripts registered twice (Sphinx 7.4 keeps both the `None` and the `''` file name of an
  inline script added after the builder started, so sphinx-thebe's `const` config ran twice: a JS error).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def check_stored_outputs(app, env, docnames):
    for docname in sorted(docnames):
        source = Path(env.doc2path(docname))
        if source.suffix != ".ipynb":
            continue
        cells = json.loads(source.read_text(encoding="utf-8")).get("cells", [])
        for index, cell in enumerate(cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    logger.warning(
                        "cell %d has an error output (%s: %s); fix it and re-run `make execute`",
                        index, out.get("ename"), str(out.get("evalue"))[:120], location=docname,
                    )


# matplotlib's `to_jshtml` player: its frame slider has no label.
ANIM_SLIDER = re.compile(r'(<input id="_anim_slider\w+" type="range" class="anim-slider")(?! aria-label)')


def accessible_markup(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body:
        return
    body = body.replace('role="doc-biblioentry"', 'role="listitem"')
    body = body.replace('<summary aria-label="Toggle hidden content">', "<summary>")
    context["body"] = ANIM_SLIDER.sub(r'\1 aria-label="Animation frame"', body)


ANIM_IMG = re.compile(r'<img id="(_anim_img\w+)"')


def figure_alt(app, doctree, docname):
    """The cell's alt text (``mystnb.image.alt`` in its metadata) for images MyST-NB does not render itself.

    * A matplotlib jshtml animation is raw HTML whose <img> shows one frame after another: it gets the alt.
    * A stored ipywidgets view is drawn by the widget manager in the reader's browser: a hidden marker in the
      cell carries the alt, and course.js gives it to every image the view draws.
    """
    for cell in list(doctree.findall(nodes.container)):
        alt = ((cell.get("cell_metadata") or {}).get("mystnb") or {}).get("image", {}).get("alt")
        if not alt:
            continue
        quoted = html.escape(alt, quote=True)
        widget = False
        for raw in list(cell.findall(nodes.raw)):
            text = raw.astext()
            widget = widget or "application/vnd.jupyter.widget-view+json" in text
            if "_anim_img" in text:
                raw.replace_self(nodes.raw("", ANIM_IMG.sub(rf'<img alt="{quoted}" id="\1"', text),
                                           format=raw.get("format", "html")))
        if widget:
            cell += nodes.raw("", f'<div class="course-figure-alt" hidden data-alt="{quoted}"></div>',
                              format="html")


def dedupe_scripts(app, pagename, templatename, context, doctree):
    """Keep the first of identical scripts (same file or inline body, same attributes)."""
    seen, unique = set(), []
    for script in app.builder._js_files:
        key = (script.filename or "", repr(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    app.builder._js_files[:] = unique


def setup(app):
    app.add_js_file("course.js")
    app.add_css_file("course.css")
    app.connect("env-before-read-docs", check_stored_outputs)
    app.connect("doctree-resolved", figure_alt)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", accessible_markup)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
