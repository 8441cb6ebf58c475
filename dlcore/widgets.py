"""Interactive demos built on ipywidgets that also work without a live kernel.

A demo is a function ``run(**values) -> (figure, summary)`` plus a dict of controls. ``Demo`` lays the
controls out with a *Train* button, runs ``run`` once with the default values, and shows the figure in an
output area and the summary below it.

The figure is put into the output area through the widget's *state* (``Output.outputs``), not by capturing
printed output. Jupyter's output capturing needs a front end; the state works everywhere, so:

* in JupyterLab the button retrains and redraws live;
* when the notebook is executed headless (``make execute``), the default run is saved in the widget state
  and the static book shows it, not a blank box;
* under nbval (``make test``) the default run really happens, and its one-line summary is printed as a
  normal cell output so nbval compares it.

Set the environment variable ``DLCORE_WIDGETS=off`` to skip building the controls entirely (the default run
and its summary still happen), e.g. on a machine without ipywidgets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import matplotlib.pyplot as plt

RunFn = Callable[..., tuple[Any, str]]


def widgets_enabled() -> bool:
    """False when ``DLCORE_WIDGETS=off`` (or ipywidgets is missing): demos then run once without controls."""
    if os.environ.get("DLCORE_WIDGETS", "").lower() in {"off", "0", "false", "no"}:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _value(control: Any) -> Any:
    return control.value if hasattr(control, "value") else control


class Demo:
    """A retrainable demo: ``controls`` (name -> widget or fixed value) feed ``run(**values)``.

    ``run`` returns ``(fig, summary)``: a matplotlib figure and a one-line text summary. The figure is
    closed after it is shown. ``last`` holds the most recent ``(values, summary, seconds)``.
    """

    def __init__(self, run: RunFn, controls: Mapping[str, Any], title: str = "", button: str = "Train"):
        self.run = run
        self.controls = dict(controls)
        self.title = title
        self.last: tuple[dict[str, Any], str, float] | None = None
        self.enabled = widgets_enabled()
        if self.enabled:
            import ipywidgets as w

            self.button = w.Button(description=button, button_style="primary", icon="play")
            self.status = w.HTML()
            self.output = w.Output(layout=w.Layout(min_height="200px"))
            self.button.on_click(lambda _: self.update())
            boxes = [c for c in self.controls.values() if isinstance(c, w.DOMWidget)]
            header = [w.HTML(f"<b>{title}</b>")] if title else []
            self.view = w.VBox([*header, w.HBox([w.VBox(boxes), self.button]), self.status, self.output])

    @property
    def values(self) -> dict[str, Any]:
        return {name: _value(c) for name, c in self.controls.items()}

    def update(self) -> str:
        """Run the demo with the current control values and show the result; returns the summary."""
        values = self.values
        if self.enabled:
            self.button.disabled = True
            self.status.value = "<i>training…</i>"
        start = time.perf_counter()
        try:
            fig, summary = self.run(**values)
        finally:
            if self.enabled:
                self.button.disabled = False
        seconds = time.perf_counter() - start
        self.last = (values, summary, seconds)
        if self.enabled:
            self.output.outputs = ()
            self.output.append_display_data(fig)
            self.status.value = f"<code>{summary}</code> <small>({seconds:.2f} s)</small>"
        plt.close(fig)
        return summary

    def show(self) -> Demo:
        """Display the controls (if enabled), run once with the defaults, print the summary."""
        from IPython.display import display

        if self.enabled:
            display(self.view)
        summary = self.update()
        print(f"default run: {summary}")
        return self


def slider(value: float, lo: float, hi: float, step: float | None = None, description: str = "", log: bool = False):
    """A labelled slider (a float log-slider when ``log``; ints give an IntSlider)."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    if log:
        import math

        return w.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                                step=step or 0.1, description=description, style=style)
    if all(isinstance(v, int) for v in (value, lo, hi)) and (step is None or isinstance(step, int)):
        return w.IntSlider(value=value, min=lo, max=hi, step=step or 1, description=description, style=style)
    return w.FloatSlider(value=value, min=lo, max=hi, step=step or (hi - lo) / 100, description=description,
                         style=style)


def dropdown(options: list[Any], value: Any = None, description: str = ""):
    """A labelled dropdown."""
    import ipywidgets as w

    return w.Dropdown(options=options, value=options[0] if value is None else value, description=description,
                      style={"description_width": "initial"})
