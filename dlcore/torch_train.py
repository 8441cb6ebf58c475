"""A compact PyTorch training recipe for Fashion-MNIST classifiers (chapter 7) and segmenters (chapter 8).

``import dlcore.torch_train`` does not import torch; every function imports it when called.

The recipe is the one chapter 5 builds step by step, plus what chapter 7 adds:

* the data as whole tensors, batched by indexing (``batches``), with augmentation on whole batches
  (``shift_flip``: random shifts of up to 2 pixels, filled with the background, and left-right flips);
* AdamW with decoupled weight decay on the weights only (biases and batch-norm parameters are not decayed:
  ``param_groups``), a one-cycle learning-rate schedule and label smoothing;
* ``evaluate`` in eval mode, optionally averaging the logits of each image and its mirror image
  (test-time augmentation).

``fit`` runs it all and returns a dict of per-epoch metrics and the training time in seconds. Labels may
be one per image, ``y (N,)``, or one per pixel, ``y (N, H, W)`` with logits (N, K, H, W) (segmentation,
chapter 8); any integer dtype (uint8 saves memory), and accuracies count pixels then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


def fashion_tensors(seed: int = 0, n_val: int = 5_000):
    """Standardised Fashion-MNIST tensors ``(X_train, y_train, X_val, y_val, X_test, y_test)``.

    Images are float32 (N, 1, 28, 28) standardised with the training set's pixel mean and std
    (``torch_models.FASHION_MEAN``/``FASHION_STD``); ``n_val`` training images, chosen by
    ``torch.utils.data.random_split`` with a generator seeded by ``seed``, form the validation set (chapter 5
    uses the same split). The data comes from ``dlcore.data.load_fashion_mnist`` (no download).
    """
    import torch

    from .data import load_fashion_mnist
    from .torch_models import FASHION_MEAN, FASHION_STD

    X, y, X_test, y_test = load_fashion_mnist()
    X = (torch.from_numpy(X) - FASHION_MEAN) / FASHION_STD
    X_test = (torch.from_numpy(X_test) - FASHION_MEAN) / FASHION_STD
    y, y_test = torch.from_numpy(y), torch.from_numpy(y_test)
    split = torch.utils.data.random_split(range(len(y)), [len(y) - n_val, n_val],
                                          generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = torch.tensor(split[0].indices), torch.tensor(split[1].indices)
    return X[train_idx], y[train_idx], X[val_idx], y[val_idx], X_test, y_test


def shift_flip(x, generator, max_shift: int = 2, flip: bool = True, fill: float | None = None):
    """Each image of the batch ``x`` (N, C, H, W) shifted by a random (dy, dx) in [-max_shift, max_shift]
    (the uncovered border filled with ``fill``, default the batch minimum: the background) and, with
    ``flip``, mirrored left-right with probability 1/2. One gather for the whole batch, no loop over images.
    """
    import torch

    N, C, H, W = x.shape
    s = max_shift
    fill = float(x.amin()) if fill is None else fill
    padded = torch.nn.functional.pad(x, (s, s, s, s), value=fill)              # (N, C, H + 2s, W + 2s)
    dy, dx = (torch.randint(0, 2 * s + 1, (2, N), generator=generator) if s else torch.zeros(2, N, dtype=int))
    rows = (dy[:, None] + torch.arange(H))[:, :, None]                           # (N, H, 1)
    cols = (dx[:, None] + torch.arange(W))[:, None, :]                           # (N, 1, W)
    if flip:
        mirror = torch.rand(N, generator=generator) < 0.5
        cols = torch.where(mirror[:, None, None], cols.flip(2), cols)
    n = torch.arange(N)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[n, rows, cols]                              # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def batches(X, y, batch_size: int, generator=None, augment: Callable | None = None,
            device: str = "cpu") -> Iterator:
    """Mini-batches ``(xb, yb)`` on ``device``: shuffled when a generator is given (then ``augment(xb,
    generator)`` is applied too, if given), in order otherwise."""
    import torch

    order = torch.randperm(len(y), generator=generator) if generator is not None else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        xb, yb = X[idx], y[idx]
        if augment is not None and generator is not None:
            xb = augment(xb, generator)
        yield xb.to(device), yb.to(device)


def param_groups(model, weight_decay: float) -> list[dict]:
    """Two AdamW parameter groups: weights (decayed) and biases / normalisation parameters (not decayed).

    A parameter with one dimension is a bias or a batch-norm scale or shift: decaying it towards zero
    regularises nothing useful (it does not shape the function's complexity) and can hurt.
    """
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def evaluate(model, X, y, batch_size: int = 1000, tta_flip: bool = False, device: str = "cpu"):
    """(mean cross-entropy, accuracy, logits) of ``model`` on (X, y) in eval mode, without gradients.

    ``tta_flip``: average the logits of every image and its mirror image (test-time augmentation).
    """
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        parts = []
        for xb, _ in batches(X, y, batch_size, device=device):
            xb = xb.contiguous(memory_format=torch.channels_last)
            logits = model(xb)
            if tta_flip:
                logits = (logits + model(xb.flip(3))) / 2
            parts.append(logits.cpu())
        logits = torch.cat(parts)
    y = y.long()
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item(), logits


def bf16_is_fast(device: str = "cpu") -> bool:
    """Whether ``device`` computes in bfloat16 natively, so that ``fit(..., bf16=True)`` speeds training up:
    a CPU with AVX512-BF16 or AMX instructions, or a CUDA GPU with bfloat16 support. (Elsewhere autocast to
    bfloat16 still works, but emulated, slower than float32.)"""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def fit(model, X, y, X_val, y_val, epochs: int, batch_size: int = 128, max_lr: float = 3e-3,
        weight_decay: float = 5e-4, pct_start: float = 0.25, label_smoothing: float = 0.1,
        augment: Callable | None = shift_flip, seed: int = 0, device: str = "cpu", bf16: bool = False,
        log: Callable[[str], None] | None = print, val_metric: Callable | None = None) -> dict:
    """Train ``model`` with AdamW + one-cycle + label smoothing; validate after every epoch.

    ``bf16=True`` runs the forward pass and the loss under ``torch.autocast`` in bfloat16 (mixed precision:
    matrix products and convolutions in bfloat16, batch norm, the loss and the weights in float32); worth it
    where ``bf16_is_fast()``. Validation and ``evaluate`` stay in float32.
    Returns ``{"loss", "acc", "val_loss", "val_acc": per-epoch lists, "seconds": training time (without
    the validation passes), "steps": optimiser steps}``. ``augment=None`` trains on the plain images.
    ``val_metric(val_logits, y_val) -> float``, if given, is computed after every epoch too (``"val_metric"``,
    e.g. the mean IoU of a segmenter). The model ends in eval mode.
    """
    import torch
    import torch.nn.functional as F

    model.to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=max_lr)
    steps_per_epoch = -(-len(y) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=pct_start)
    generator = torch.Generator().manual_seed(seed)
    history: dict = {"loss": [], "acc": [], "val_loss": [], "val_acc": [], "val_metric": [], "seconds": 0.0,
                     "steps": 0}
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        total, correct, seen = 0.0, 0, 0
        for xb, yb in batches(X, y, batch_size, generator, augment, device):
            yb = yb.long()
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                logits = model(xb.contiguous(memory_format=torch.channels_last))
                loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
            total += optimizer_step(optimizer, scheduler, loss, f"in epoch {epoch + 1}") * len(yb)
            history["steps"] += 1
            correct += (logits.argmax(1) == yb).sum().item()
            seen += yb.numel()
        history["seconds"] += time.perf_counter() - start
        val_loss, val_acc, val_logits = evaluate(model, X_val, y_val, device=device)
        for key, value in zip(("loss", "acc", "val_loss", "val_acc"),
                              (total / len(y), correct / seen, val_loss, val_acc), strict=True):
            history[key].append(value)
        extra = ""
        if val_metric is not None:
            history["val_metric"].append(float(val_metric(val_logits, y_val)))
            extra = f", val metric {history['val_metric'][-1]:.4f}"
        if log is not None:
            log(f"epoch {epoch + 1:2d}/{epochs}: loss {total / len(y):.3f}, val acc {val_acc:.4f}{extra} "
                f"({history['seconds']:.0f} s)")
    model.eval()
    return history


def optimizer_step(optimizer, scheduler, loss, where: str) -> float:
    """One step on ``loss``: zero the gradients, backpropagate, update the weights, advance the schedule;
    returns the loss as a float. A loss that is not finite stops training with an error that says
    ``where`` (e.g. "in epoch 3")."""
    import torch

    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()} {where}: training diverged")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


def count_parameters(model) -> int:
    """Number of trained parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def set_seed(seed: int) -> None:
    """Seed torch's global generator (the initial weights come from it)."""
    import torch

    torch.manual_seed(seed)
