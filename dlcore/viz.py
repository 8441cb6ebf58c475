"""Plotting helpers shared by the chapters."""

from __future__ import annotations

import re

from matplotlib import animation

_CDN_LINK = re.compile(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">\s*')


def animation_html(anim: animation.Animation, loop: bool = True, fps: float | None = None) -> str:
    """Render ``anim`` as a self-contained HTML player (``to_jshtml``) that works offline.

    Matplotlib's player links a Font Awesome stylesheet from a CDN for its button icons; the book serves
    Font Awesome itself, so the link is dropped (an offline page would log a failed request).
    """
    html = anim.to_jshtml(fps=fps, default_mode="loop" if loop else "once")
    return _CDN_LINK.sub("", html)
