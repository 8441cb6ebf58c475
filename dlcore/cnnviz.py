"""Looking inside a CNN: filters, feature maps, top-activating images and saliency maps (chapter 6).

Every function takes either framework's model:

* a dlcore ``Sequential`` of ``Conv2D``, ``MaxPool2D``, ``ReLU``, ``Flatten``, ``Dense``, ... (chapter 4);
* a PyTorch ``nn.Module`` whose convolutions are ``nn.Conv2d`` modules (chapter 5). torch is imported only
  inside the functions that receive a torch model, so ``import dlcore.cnnviz`` works without PyTorch.

Conventions:

* Images are (N, C, H, W) batches, or one image (C, H, W) / (1, C, H, W) where a function takes one.
* A conv layer is chosen by its position among the model's conv layers (``0`` = the first, ``-1`` = the
  last) or by its name, as listed by ``conv_layers``: ``"3"`` for the fourth entry of a dlcore
  ``Sequential``, and the ``named_modules`` name in torch (``"3"`` too in an ``nn.Sequential``, so a model
  and its ``dlcore.torch_models.to_dlcore`` copy share the names when they have the same layers).
* ``stage`` says where a conv layer's feature maps are read: ``"activation"`` (the default) is the output
  of the first activation layer (ReLU, tanh, ...) that follows the convolution before the next conv,
  dense or flatten layer, i.e. after the batch norm of a conv-BN-ReLU block and after any pooling placed
  before the activation; ``"conv"`` is the convolution's own output (before bias-free batch norm or
  activation). torch activations must be modules (``nn.ReLU()``), not ``F.relu`` calls, for ``"activation"``.
* torch models run in eval mode under ``torch.no_grad`` (saliency excepted, which needs the input gradient)
  and get their previous train/eval mode back afterwards; arrays come back as numpy arrays in the model's
  dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure, SubFigure

STAGES = ("conv", "activation")
FILTER_CMAP = "cividis"  # signed weights and maps, symmetric limits: dark < 0 < light, readable in greyscale
MAP_CMAP = "viridis"  # non-negative maps (after ReLU)
SALIENCY_CMAP = "hot"


# ----------------------------------------------------------------------------- frameworks and layers


def _is_torch(model) -> bool:
    return hasattr(model, "named_modules") and hasattr(model, "register_forward_hook")


def _is_dlcore(model) -> bool:
    return hasattr(model, "layers") and hasattr(model, "backward") and hasattr(model, "forward")


def _framework(model) -> str:
    if _is_torch(model):
        return "torch"
    if _is_dlcore(model):
        return "dlcore"
    raise TypeError(f"expected a dlcore Sequential or a torch nn.Module, got {type(model).__name__}")


def _leaves(model) -> list[tuple[str, object]]:
    """The model's layers in order as (name, layer): dlcore Sequential entries, or torch leaf modules."""
    if _framework(model) == "dlcore":
        return [(str(i), layer) for i, layer in enumerate(model.layers)]
    return [(name, m) for name, m in model.named_modules() if name and not any(True for _ in m.children())]


def _kind(layer) -> str:
    """'conv', 'activation', 'barrier' (dense/flatten: ends a conv block) or 'other'."""
    if hasattr(layer, "register_forward_hook"):  # a torch module
        from torch import nn

        if isinstance(layer, nn.Conv2d):
            return "conv"
        if isinstance(layer, nn.ReLU | nn.LeakyReLU | nn.Sigmoid | nn.Tanh | nn.GELU | nn.ELU | nn.SiLU
                      | nn.ReLU6 | nn.PReLU | nn.SELU | nn.CELU | nn.Mish | nn.Softplus | nn.Hardtanh):
            return "activation"
        if isinstance(layer, nn.Linear | nn.Flatten):
            return "barrier"
        return "other"
    from . import layers as L

    if isinstance(layer, L.Conv2D):
        return "conv"
    if isinstance(layer, L.ReLU | L.LeakyReLU | L.Sigmoid | L.Tanh):
        return "activation"
    if isinstance(layer, L.Dense | L.Flatten):
        return "barrier"
    return "other"


def conv_layers(model) -> list[tuple[str, object]]:
    """The conv layers of ``model`` in order, as (name, layer) pairs.

    dlcore: the ``Conv2D`` entries of a ``Sequential``, named by their index (``"0"``, ``"3"``).
    torch: the ``nn.Conv2d`` modules, named as in ``model.named_modules()``.
    """
    return [(name, layer) for name, layer in _leaves(model) if _kind(layer) == "conv"]


def _conv_name(model, layer: int | str) -> str:
    """The name of a conv layer given by position (int, negatives count from the end) or by name."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"{type(model).__name__} has no conv layers (dlcore Conv2D / torch nn.Conv2d)")
    names = [name for name, _ in convs]
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer | str):
        raise TypeError(f"layer must be a position (int) or a name (str), got {layer!r}")
    if isinstance(layer, str):
        if layer not in names:
            raise ValueError(f"no conv layer named {layer!r}; the conv layers are {names}")
        return layer
    if not -len(names) <= layer < len(names):
        raise IndexError(f"conv layer {layer} is out of range: the model has {len(names)} conv layer(s), "
                         f"positions 0..{len(names) - 1} (names {names})")
    return names[int(layer)]


def _conv_names(model, layers) -> list[str]:
    if layers is None:
        return [name for name, _ in conv_layers(model)]
    if isinstance(layers, int | np.integer | str):
        layers = [layers]
    return [_conv_name(model, layer) for layer in layers]


def _target(model, name: str, stage: str) -> str:
    """The name of the layer whose output is conv layer ``name``'s feature map at ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if stage == "conv":
        return name
    leaves = _leaves(model)
    start = [n for n, _ in leaves].index(name)
    for n, layer in leaves[start + 1 :]:
        kind = _kind(layer)
        if kind == "activation":
            return n
        if kind in ("conv", "barrier"):
            break
    raise ValueError(f"conv layer {name!r} has no activation layer after it (before the next conv, dense or "
                     f"flatten layer); use stage='conv', or write the activation as a module (nn.ReLU())")


def _conv_layer(model, name: str):
    return dict(conv_layers(model))[name]


def _conv_label(model, name: str) -> str:
    """A title for conv layer ``name``: its rank and its name, e.g. "conv 2 of 2 (layer '3')"."""
    names = [n for n, _ in conv_layers(model)]
    return f"conv {names.index(name) + 1} of {len(names)} (layer {name!r})"


# ----------------------------------------------------------------------------- inputs


def _in_channels(model) -> int:
    layer = conv_layers(model)[0][1] if conv_layers(model) else None
    if layer is None:
        raise ValueError(f"{type(model).__name__} has no conv layers (dlcore Conv2D / torch nn.Conv2d)")
    return layer.in_channels if hasattr(layer, "in_channels") else layer.c_in


def _one_image(model, image) -> np.ndarray:
    """One image (C, H, W) or (1, C, H, W) as (1, C, H, W), checked against the first conv's channels."""
    image = np.asarray(image)
    c_in = _in_channels(model)
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != c_in:
        hint = " (add the channel axis: image[None])" if image.ndim == 2 else ""
        raise ValueError(f"image must have shape (C, H, W) or (1, C, H, W) with C = {c_in}, "
                         f"got {np.shape(image)}{hint}")
    return _batch(model, image)


def _batch(model, images) -> np.ndarray:
    """A batch (N, C, H, W) of numeric images, C = the first conv layer's input channels."""
    images = np.asarray(images)
    c_in = _in_channels(model)
    if images.ndim != 4 or images.shape[1] != c_in or len(images) == 0:
        hint = " (add the channel axis: images[:, None])" if images.ndim == 3 and c_in == 1 else ""
        raise ValueError(f"images must have shape (N, {c_in}, H, W) with N >= 1, got {images.shape}{hint}")
    if images.dtype.kind not in "fiub":
        raise TypeError(f"images must be numeric, got dtype {images.dtype}")
    return images


# ----------------------------------------------------------------------------- running the model


class _Stop(Exception):
    """Raised inside a torch hook once every wanted output is captured: the rest of the net is skipped."""


@contextmanager
def _torch_eval(model):
    """Eval mode (batch norm uses running statistics, dropout is off) for the block; the old mode after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _torch_param(model):
    import torch

    p = next(model.parameters(), None)
    return (p.dtype, p.device) if p is not None else (torch.get_default_dtype(), torch.device("cpu"))


def _capture(model, x: np.ndarray, targets: list[str]) -> dict[str, np.ndarray]:
    """Run ``x`` (N, C, H, W) through ``model`` and return the outputs of the layers named ``targets``.

    Stops after the last of them (the rest of the network is not needed).
    """
    wanted = set(targets)
    captured: dict[str, np.ndarray] = {}
    if _framework(model) == "dlcore":
        for name, layer in _leaves(model):
            x = layer.forward(x)
            if name in wanted:
                captured[name] = np.array(x)  # a copy: later layers never see this buffer
                if len(captured) == len(wanted):
                    break
        return captured

    import torch

    dtype, device = _torch_param(model)
    modules = dict(_leaves(model))

    def hook(name):
        def save(module, inputs, output):
            if name not in captured:  # a module called twice (shared weights): keep the first call
                # clone: an in-place op later in the network (ReLU(inplace=True)) must not change it
                captured[name] = output.detach().cpu().clone().numpy()
            if len(captured) == len(wanted):
                raise _Stop
        return save

    handles = [modules[name].register_forward_hook(hook(name)) for name in wanted]
    try:
        with _torch_eval(model), torch.no_grad():
            model(torch.as_tensor(x, dtype=dtype, device=device))
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    missing = sorted(wanted - set(captured))
    if missing:
        raise RuntimeError(f"layer(s) {missing} never ran during the forward pass, so they have no output")
    return captured


def model_outputs(model, images, batch_size: int = 500) -> np.ndarray:
    """The model's outputs (N, K) (logits for our classifiers) for images (N, C, H, W), in batches."""
    images = _batch(model, images)
    chunks = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        if _framework(model) == "dlcore":
            chunks.append(np.asarray(model.forward(x)))
        else:
            import torch

            dtype, device = _torch_param(model)
            with _torch_eval(model), torch.no_grad():
                chunks.append(model(torch.as_tensor(x, dtype=dtype, device=device)).cpu().numpy())
    return np.concatenate(chunks)


def feature_maps(model, image, layers=None, stage: str = "activation") -> dict[str, np.ndarray]:
    """Feature maps of one image: conv layer name -> array (C, H, W), in the order of the layers.

    image: (C, H, W) or (1, C, H, W).  layers: ``None`` (every conv layer), one position/name or a list.
    stage: ``"activation"`` (after the activation that follows each conv, the default) or ``"conv"`` (the
    convolution's output); see the module docstring. torch: forward hooks, removed afterwards.
    """
    x = _one_image(model, image)
    names = _conv_names(model, layers)
    targets = {name: _target(model, name, stage) for name in names}
    out = _capture(model, x, list(set(targets.values())))
    return {name: out[targets[name]][0] for name in names}


def channel_activations(model, images, layer=0, stage: str = "activation", reduce: str = "mean",
                        batch_size: int = 500) -> np.ndarray:
    """How strongly each channel of a conv layer responds to each image: (N, C).

    The feature map (C, H', W') of every image at ``stage`` is reduced over its positions with
    ``reduce`` = ``"mean"`` or ``"max"``. Runs in batches of ``batch_size`` and only as far into the
    network as needed.
    """
    if reduce not in ("mean", "max"):
        raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
    images = _batch(model, images)
    target = _target(model, _conv_name(model, layer), stage)
    rows = []
    for start in range(0, len(images), batch_size):
        maps = _capture(model, images[start : start + batch_size], [target])[target]  # (n, C, H', W')
        rows.append(maps.mean(axis=(2, 3)) if reduce == "mean" else maps.max(axis=(2, 3)))
    return np.concatenate(rows)


def top_activating(model, images, layer, channel: int, k: int = 9, stage: str = "activation",
                   reduce: str = "mean", batch_size: int = 500) -> np.ndarray:
    """Indices (k,) of the ``images`` (N, C, H, W) on which ``channel`` of conv ``layer`` responds most.

    The response is the channel's feature map at ``stage`` reduced by ``reduce`` (``"mean"`` or ``"max"``
    over positions); indices come strongest first (ties: lower index first).
    """
    acts = channel_activations(model, images, layer, stage, reduce, batch_size)
    n_channels = acts.shape[1]
    if not -n_channels <= channel < n_channels:
        raise IndexError(f"channel {channel} is out of range: conv layer {layer!r} has {n_channels} channels")
    if not 1 <= k <= len(acts):
        raise ValueError(f"k must be between 1 and the number of images ({len(acts)}), got {k}")
    return np.argsort(-acts[:, channel], kind="stable")[:k]


def saliency(model, images, targets=None, batch_size: int = 256) -> np.ndarray:
    """Saliency maps |d score / d input| (N, H, W) (Simonyan et al., 2014).

    images: (N, C, H, W).  The score of image n is the model output (the logit) of class ``targets[n]``;
    ``targets=None`` takes each image's predicted class. The gradient's absolute value is maximised over
    the C input channels. torch: autograd (``torch.autograd.grad``; parameter ``.grad`` are left alone);
    dlcore: ``forward``, then ``backward`` of a one-hot ``dy`` on the outputs (which also overwrites
    the layers' ``.grads``).
    """
    images = _batch(model, images)
    if targets is not None:
        targets = np.asarray(targets).astype(int).ravel()
        if len(targets) != len(images):
            raise ValueError(f"targets has {len(targets)} entries for {len(images)} images")
    maps = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        t = None if targets is None else targets[start : start + batch_size]
        grad = _input_gradient(model, x, t)
        maps.append(np.abs(grad).max(axis=1))
    return np.concatenate(maps)


def _input_gradient(model, x: np.ndarray, targets) -> np.ndarray:
    """d (sum over n of output[n, target[n]]) / d x, shape (N, C, H, W)."""
    if _framework(model) == "dlcore":
        x = x if x.dtype.kind == "f" else x.astype(np.float64)
        out = np.asarray(model.forward(x))
        t = out.argmax(axis=1) if targets is None else targets
        _check_targets(t, out.shape[1])
        dy = np.zeros_like(out)
        dy[np.arange(len(out)), t] = 1
        return np.asarray(model.backward(dy))

    import torch

    dtype, device = _torch_param(model)
    with _torch_eval(model), torch.enable_grad():
        xt = torch.as_tensor(x, dtype=dtype, device=device).clone().requires_grad_(True)
        out = model(xt)
        t = out.argmax(dim=1).cpu().numpy() if targets is None else targets
        _check_targets(t, out.shape[1])
        score = out[torch.arange(len(out), device=out.device), torch.as_tensor(t, device=out.device)].sum()
        (grad,) = torch.autograd.grad(score, xt)
    return grad.cpu().numpy()


def _check_targets(t, n_classes: int) -> None:
    if np.any((t < 0) | (t >= n_classes)):
        raise ValueError(f"targets must be class indices in 0..{n_classes - 1}, got {np.unique(t)}")


# ----------------------------------------------------------------------------- filters


def filter_images(model, layer=0, input_channel: int | None = None) -> np.ndarray:
    """A conv layer's filters as images (c_out, k, k) in float64: what ``plot_filters`` draws.

    ``input_channel=None``: the mean over the input channels (for a first layer on grayscale images,
    c_in = 1, that is the filter itself); an int: that input channel's slice ``W[:, input_channel]``.
    """
    name = _conv_name(model, layer)
    conv = _conv_layer(model, name)
    W = (conv.weight.detach().cpu().double().numpy() if _framework(model) == "torch"
         else np.asarray(conv.params["W"], dtype=np.float64))  # (c_out, c_in, k, k) in both
    if input_channel is None:
        return W.mean(axis=1)
    if not -W.shape[1] <= input_channel < W.shape[1]:
        raise IndexError(f"input_channel {input_channel} is out of range: conv layer {name!r} has "
                         f"{W.shape[1]} input channels")
    return W[:, input_channel].copy()


def _new_figure(fig, figsize) -> Figure | SubFigure:
    return fig if fig is not None else plt.figure(figsize=figsize, layout="constrained")


def _grid(fig, n: int, ncols: int):
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[n:]:
        ax.axis("off")
    return axes.flat[:n]


def plot_filters(model, layer=0, ncols: int = 8, input_channel: int | None = None,
                 max_filters: int | None = None, shared_scale: bool = True, cmap: str = FILTER_CMAP,
                 colorbar: bool = True, title: str | None = None, figsize=None,
                 fig: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """A grid of a conv layer's filters, one k x k image each (``filter_images``), numbered.

    Colours are symmetric around 0 (blue negative, red positive), on one scale for the whole layer
    (``shared_scale=True``, so strong and weak filters compare) or per filter. Deeper layers show the
    mean over input channels, or the slice ``input_channel``. ``fig``: a Figure or SubFigure to draw
    into (e.g. ``plt.figure().subfigures(1, 2)`` for before/after); returns the figure drawn into.
    """
    name = _conv_name(model, layer)
    filters = filter_images(model, name, input_channel)
    if max_filters is not None:
        filters = filters[:max_filters]
    n = len(filters)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _new_figure(fig, figsize or (0.75 * ncols + (0.8 if colorbar else 0.2), 0.8 * nrows + 0.45))
    axes = _grid(fig, n, ncols)
    limit = float(np.abs(filters).max()) or 1.0
    image = None
    for i, (ax, f) in enumerate(zip(axes, filters, strict=True)):
        m = limit if shared_scale else (float(np.abs(f).max()) or 1.0)
        image = ax.imshow(f, cmap=cmap, vmin=-m, vmax=m, interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
    if colorbar and shared_scale and image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, aspect=30, label="weight")
    k = filters.shape[-1]
    which = "" if input_channel is None else f", input channel {input_channel}"
    c_in = _conv_layer(model, name)
    c_in = c_in.in_channels if hasattr(c_in, "in_channels") else c_in.c_in
    if input_channel is None and c_in > 1:
        which = f", mean over {c_in} input channels"
    fig.suptitle(title if title is not None else f"{_conv_label(model, name)}: {n} filters {k}x{k}{which}",
                 fontsize=9)
    return fig


# ----------------------------------------------------------------------------- feature maps


def _map_limits(maps: np.ndarray, cmap):
    """(cmap, vmin, vmax): symmetric diverging limits for signed maps, [0, max] for non-negative ones."""
    lo, hi = float(maps.min()), float(maps.max())
    if lo < 0:
        m = max(-lo, hi) or 1.0
        return cmap or FILTER_CMAP, -m, m
    return cmap or MAP_CMAP, 0.0, hi or 1.0


def plot_feature_maps(model, image, layer=0, max_maps: int = 16, ncols: int = 8, channels=None,
                      stage: str = "activation", show_input: bool = True, shared_scale: bool = True,
                      cmap: str | None = None, title: str | None = None, figsize=None,
                      fig: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """The feature maps of one image at one conv layer (``feature_maps``), one small image per channel.

    image: (C, H, W) or (1, C, H, W).  Shows ``channels`` (a list) or the first ``max_maps`` channels,
    with the input image first when ``show_input``. Non-negative maps (after ReLU) use ``"viridis"`` from
    0; signed maps a symmetric ``"RdBu_r"``. ``shared_scale``: one colour scale for all maps of the layer
    (a weak channel looks weak) or one per map.
    """
    name = _conv_name(model, layer)
    maps = feature_maps(model, image, [name], stage)[name]  # (C, H', W')
    if channels is None:
        channels = list(range(min(max_maps, len(maps))))
    channels = [int(c) for c in channels]
    for c in channels:
        if not -len(maps) <= c < len(maps):
            raise IndexError(f"channel {c} is out of range: conv layer {name!r} has {len(maps)} channels")
    shown = maps[channels]
    n = len(channels) + int(show_input)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _new_figure(fig, figsize or (0.95 * ncols + 0.2, 1.0 * nrows + 0.45))
    axes = list(_grid(fig, n, ncols))
    if show_input:
        ax = axes.pop(0)
        picture = np.asarray(image).reshape(-1, *np.shape(image)[-2:])
        ax.imshow(picture[0] if len(picture) == 1 else picture.transpose(1, 2, 0), cmap="gray")
        ax.set_title("input", fontsize=7, pad=2)
    cmap_used, vmin, vmax = _map_limits(shown, cmap)
    for ax, c, m in zip(axes, channels, shown, strict=True):
        if not shared_scale:
            cmap_used, vmin, vmax = _map_limits(m, cmap)
        ax.imshow(m, cmap=cmap_used, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(f"ch {c}", fontsize=7, pad=2)
    h, w = maps.shape[1:]
    fig.suptitle(title if title is not None else
                 f"{_conv_label(model, name)}, {stage}: {len(channels)} of {len(maps)} maps, {h}x{w}",
                 fontsize=9)
    return fig


# ----------------------------------------------------------------------------- saliency


def plot_saliency(images, maps, labels=None, preds=None, class_names: Sequence[str] | None = None,
                  cmap: str = SALIENCY_CMAP, overlay: bool = False, figsize=None,
                  fig: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """Images (N, C, H, W) or (N, H, W) in the first row, their saliency maps below.

    maps: (N, H, W), or a dict row title -> (N, H, W) for several rows (e.g. two models). Each map is
    divided by its own maximum (saliency is relative: what matters is where it is large). ``overlay``
    draws the map translucently over the grayscale image. Titles as in ``viz.show_images``:
    "prediction (true label)", red where they differ.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, 1, H, W), got {images.shape}")
    rows = dict(maps) if isinstance(maps, Mapping) else {"saliency": maps}
    rows = {key: np.asarray(value, dtype=float) for key, value in rows.items()}
    for key, value in rows.items():
        if value.shape != images.shape:
            raise ValueError(f"saliency maps {key!r} have shape {value.shape}, the images {images.shape}")
    N = len(images)

    def name(k) -> str:
        return class_names[int(k)] if class_names is not None else str(int(k))

    fig = _new_figure(fig, figsize or (1.1 * N + 0.6, 1.15 * (1 + len(rows)) + 0.3))
    axes = fig.subplots(1 + len(rows), N, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for i in range(N):
        axes[0, i].imshow(images[i], cmap="gray")
        if preds is not None:
            wrong = labels is not None and int(preds[i]) != int(labels[i])
            text = name(preds[i]) + (f"\n({name(labels[i])})" if labels is not None else "")
            axes[0, i].set_title(text, fontsize=7, color="red" if wrong else "black")
        elif labels is not None:
            axes[0, i].set_title(name(labels[i]), fontsize=7)
        for r, value in enumerate(rows.values(), start=1):
            m = value[i] / (value[i].max() or 1.0)
            if overlay:
                axes[r, i].imshow(images[i], cmap="gray")
                axes[r, i].imshow(m, cmap=cmap, vmin=0, vmax=1, alpha=0.6)
            else:
                axes[r, i].imshow(m, cmap=cmap, vmin=0, vmax=1)
    axes[0, 0].set_ylabel("image", fontsize=8)
    for r, key in enumerate(rows, start=1):
        axes[r, 0].set_ylabel(key, fontsize=8)
    return fig
