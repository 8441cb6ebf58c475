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

``toy_training_demo`` is a ready-made demo: it trains ``MLP([2, *hidden, 1])`` on a 2-D toy set and shows the
decision boundary next to the loss curve (chapters 2 and 3). ``train_toy`` is its training step on its own.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping
from typing import Any

import matplotlib.pyplot as plt

from .checks import env_flag

RunFn = Callable[..., tuple[Any, str]]


def widgets_enabled() -> bool:
    """False when ``DLCORE_WIDGETS=off`` (or ipywidgets is missing): demos then run once without controls."""
    if not env_flag("DLCORE_WIDGETS", default=True):  # off/0/false/no; a bad value is a clear ValueError
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _value(control: Any) -> Any:
    return control.value if hasattr(control, "value") else control


class DemoInputError(ValueError):
    """Bad input to a demo (e.g. unreadable layer sizes).

    ``Demo.update`` shows its message in the status line instead of a new figure.
    """


class Demo:
    """A retrainable demo: ``controls`` (name -> widget or fixed value) feed ``run(**values)``.

    ``run`` returns ``(fig, summary)``: a matplotlib figure and a one-line text summary. The figure is
    closed after it is shown. ``last`` holds the most recent ``(values, summary, seconds)``.
    """

    def __init__(self, run: RunFn, controls: Mapping[str, Any], title: str = "", button: str = "Train",
                 png_kwargs: Mapping[str, Any] | None = None):
        self.run = run
        # None: IPython renders the figure (inline backend, tight bounding box: two draws). A dict: we
        # render it ourselves once with fig.savefig(format="png", **png_kwargs), for figures whose
        # margins are already set (faster, so a retrain feels live).
        self.png_kwargs = None if png_kwargs is None else dict(png_kwargs)
        self.controls = dict(controls)
        self.title = title
        self.last: tuple[dict[str, Any], str, float] | None = None
        self.draw_seconds = 0.0  # time to render the last figure into the output area
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

    def update(self, timing: bool = True) -> str:
        """Run the demo with the current control values and show the result; returns the summary.

        ``timing`` adds the run's duration to the status line (``show`` leaves it out of the default run,
        whose status is stored with the notebook: no build machine's timings in the static book).

        If ``run`` raises ``DemoInputError`` (bad input, a diverging run), the message becomes the
        summary, is shown in the status line, and the previous figure stays.
        """
        values = self.values
        if self.enabled:
            self.button.disabled = True
            self.status.value = "<i>training…</i>"
        start = time.perf_counter()
        fig = None
        try:
            fig, summary = self.run(**values)
        except DemoInputError as err:
            summary = f"error: {err}"
        finally:
            if self.enabled:
                self.button.disabled = False
        seconds = time.perf_counter() - start
        self.last = (values, summary, seconds)
        if fig is None:
            if self.enabled:
                self.status.value = f'<span style="color:#b00020">{html.escape(summary)}</span>'
            return summary
        if self.enabled:
            start = time.perf_counter()
            self.output.outputs = ()
            if self.png_kwargs is None:
                self.output.append_display_data(fig)  # IPython renders the PNG
            else:
                import io

                from IPython.display import Image

                buffer = io.BytesIO()
                fig.savefig(buffer, format="png", **self.png_kwargs)
                self.output.append_display_data(Image(data=buffer.getvalue(), format="png"))
            self.draw_seconds = time.perf_counter() - start
            took = f" <small>({seconds:.2f} s + {self.draw_seconds:.2f} s drawing)</small>" if timing else ""
            self.status.value = f"<code>{html.escape(summary)}</code>{took}"
        plt.close(fig)
        return summary

    def show(self) -> Demo:
        """Display the controls (if enabled), run once with the defaults, print the summary."""
        from IPython.display import display

        if self.enabled:
            display(self.view)
        summary = self.update(timing=False)
        print(f"default run: {summary}")
        return self


def slider(value: float, lo: float, hi: float, step: float | None = None, description: str = "",
           log: bool = False):
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


# ----------------------------------------------------------------------------- training demo on toy data


def parse_layers(text: str, max_layers: int = 8, max_width: int = 256) -> tuple[int, ...]:
    """Hidden layer sizes from text like ``"16, 16, 8"`` (commas and/or spaces; brackets allowed).

    An empty text means no hidden layer. Raises ``DemoInputError`` with a readable message otherwise.
    """
    cleaned = str(text).strip().strip("[]()").replace(",", " ")
    sizes = []
    for token in cleaned.split():
        try:
            size = int(token)
        except ValueError:
            raise DemoInputError(f"hidden layers: cannot read {token!r} as a layer size; "
                                 f"write whole numbers separated by commas, e.g. 16, 16, 8") from None
        if not 1 <= size <= max_width:
            raise DemoInputError(f"hidden layers: a layer needs 1 to {max_width} units, got {size}")
        sizes.append(size)
    if len(sizes) > max_layers:
        raise DemoInputError(f"hidden layers: at most {max_layers} hidden layers here, got {len(sizes)}")
    return tuple(sizes)


def _format_lr(lr: float) -> str:
    import numpy as np

    return np.format_float_positional(float(lr), precision=3, fractional=False, trim="0")


def train_toy(dataset: str = "moons", hidden=(5,), activation: str = "tanh", lr: float = 1.0,
              epochs: int = 300, optimizer: str = "sgd", n: int = 200, noise: float | None = None,
              seed: int = 0):
    """Train ``MLP([2, *hidden, 1], activation, output="sigmoid")`` full batch on a toy set.

    Returns ``(model, history, X, y, (loss, acc))`` where loss and acc are measured after the last
    update. ``optimizer`` is "sgd", "momentum" (SGD with momentum 0.9) or "adam".
    Raises ``DemoInputError`` if training diverges.
    """
    import numpy as np

    from . import losses, optim, train
    from .data import make_toy
    from .model import MLP

    X, y = make_toy(dataset, n=n, noise=noise, seed=seed)
    model = MLP([2, *hidden, 1], activation, output="sigmoid", seed=seed)
    if optimizer == "sgd":
        opt = optim.SGD(model, lr=lr)
    elif optimizer == "momentum":
        opt = optim.SGD(model, lr=lr, momentum=0.9)
    elif optimizer == "adam":
        opt = optim.Adam(model, lr=lr)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose sgd, momentum or adam")
    loss_fn = losses.BinaryCrossEntropy()
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            history = train.fit(model, loss_fn, opt, X, y, epochs=int(epochs), seed=seed)
            final = train.evaluate(model, loss_fn, X, y)
    except FloatingPointError as err:
        raise DemoInputError(f"training diverged ({err}); try a smaller learning rate than "
                             f"{_format_lr(lr)}") from None
    except ValueError as err:
        if "NaN" not in str(err):
            raise
        raise DemoInputError(f"training diverged (the outputs became NaN); try a smaller learning rate "
                             f"than {_format_lr(lr)}") from None
    return model, history, X, y, final


def toy_training_demo(hidden=(5,), datasets=("moons", "circles", "xor", "spirals", "blobs"), dataset="moons",
                      activation: str = "tanh", lr: float = 1.0, epochs: int = 300, n: int = 200,
                      noise: float | None = None, seed: int = 0, editable_layers: bool = False,
                      optimizers=("sgd",), optimizer: str | None = None,
                      title: str = "Train a small network on a toy data set", resolution: int = 80,
                      max_width: int = 50, max_epochs: int = 2000) -> Demo:
    """A ``Demo`` that trains ``MLP([2, *hidden, 1])`` on a 2-D toy set and draws what it learned.

    Controls: data set, hidden width (a slider setting every hidden layer's width; or, with
    ``editable_layers=True``, a text box for the list of hidden sizes such as ``16, 16, 8``),
    activation, optimiser (only when ``optimizers`` offers more than one), learning rate (log
    slider) and epochs. Training is full batch with BinaryCrossEntropy, all in float64, seeded by
    ``seed``; the figure shows the decision boundary next to the loss curve. The summary reads
    ``"moons, [2, 5, 1] tanh, lr=1.0, 300 epochs: loss 0.0712, train acc 0.975"``.
    Bad layer text or a diverging run shows a message in the status line instead.
    """
    from . import viz

    hidden = tuple(int(h) for h in hidden)
    optimizers = tuple(optimizers)
    optimizer = optimizer or optimizers[0]
    if dataset not in datasets:
        raise ValueError(f"dataset {dataset!r} is not among the choices {datasets}")
    if optimizer not in optimizers:
        raise ValueError(f"optimizer {optimizer!r} is not among the choices {optimizers}")

    def run(dataset, hidden, activation, optimizer, lr, epochs):
        sizes = parse_layers(hidden, max_width=max(256, max_width)) if isinstance(hidden, str) else hidden
        if isinstance(sizes, int):  # the width slider: every hidden layer gets this width
            sizes = (sizes,) * max(1, len(default_hidden))
        model, history, X, y, (loss, acc) = train_toy(dataset, sizes, activation, lr, epochs, optimizer,
                                                      n=n, noise=noise, seed=seed)
        layers = [2, *sizes, 1]
        opt = "" if optimizer == "sgd" and len(optimizers) == 1 else f"{optimizer} "
        summary = (f"{dataset}, {layers} {activation}, {opt}lr={_format_lr(lr)}, {int(epochs)} epochs: "
                   f"loss {loss:.4f}, train acc {acc:.3f}")
        # fixed margins instead of tight_layout, which would cost a full extra draw (~0.1 s)
        fig, (ax_b, ax_h) = plt.subplots(1, 2, figsize=(8.4, 3.5), dpi=80,
                                         gridspec_kw={"width_ratios": [1.1, 1], "left": 0.08, "right": 0.92,
                                                      "bottom": 0.14, "top": 0.9, "wspace": 0.3})
        viz.plot_decision_boundary(model.forward, X, y, ax=ax_b, resolution=resolution, colorbar=False,
                                   title=f"{dataset}: train acc {acc:.3f}")
        _loss_curve(ax_h, history, f"{layers} {activation}, {opt}lr={_format_lr(lr)}")
        return fig, summary

    default_hidden = hidden
    if widgets_enabled():
        import ipywidgets as w

        if editable_layers:
            hidden_control = w.Text(value=", ".join(map(str, hidden)), description="hidden layers",
                                    placeholder="e.g. 16, 16, 8", continuous_update=False,
                                    style={"description_width": "initial"})
        else:
            hidden_control = slider(hidden[0] if hidden else 1, 1, max(max_width, hidden[0] if hidden else 1),
                                    description="hidden units" if len(hidden) <= 1 else "units per layer")
        controls = {
            "dataset": dropdown(list(datasets), dataset, "data set"),
            "hidden": hidden_control,
            "activation": dropdown(["sigmoid", "tanh", "relu"], activation, "activation"),
            "optimizer": (dropdown(list(optimizers), optimizer, "optimiser") if len(optimizers) > 1
                          else optimizer),
            "lr": slider(lr, 1e-3, 10.0, 0.1, description="learning rate", log=True),
            "epochs": slider(int(epochs), 10, max(max_epochs, int(epochs)), 10, description="epochs"),
        }
    else:
        controls = {
            "dataset": dataset,
            "hidden": ", ".join(map(str, hidden)) if editable_layers else hidden,
            "activation": activation,
            "optimizer": optimizer,
            "lr": lr,
            "epochs": epochs,
        }
    return Demo(run, controls, title=title, png_kwargs={})


def _loss_curve(ax, history, title: str) -> None:
    """Training loss with the training accuracy on a second y axis (linear scales: cheap to draw)."""
    epochs = range(1, len(history.loss) + 1)
    ax.plot(epochs, history.loss, color="C0", label="loss")
    ax.set_ylim(0, max(0.75, 1.05 * max(history.loss)))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (BCE)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(epochs, history.acc, color="C1", label="accuracy")
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("train accuracy", color="C1")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
