"""Chapter 10's self-supervised learning pieces (SimCLR on Fashion-MNIST) and the tools that judge what an
encoder learned without labels.

``import dlcore.torch_ssl`` does not import torch; the torch functions import it when called, and
``knn_accuracy`` and ``pca`` are plain numpy.

* ``augment_views(x, generator)``: random crops, flips, brightness/contrast jitter and erasing of a batch of
  images in [0, 1], all batched (no loop over images); call it twice for the two views of SimCLR.
* ``ntxent_torch(z1, z2, temperature)``: SimCLR's NT-Xent loss in PyTorch (``dlcore.NTXent`` in numpy).
* ``encoder()`` (images -> features) and ``projection_head()`` (features -> the embeddings the loss sees).
* ``pretrain(model, X, steps)``: SimCLR without labels (two views per image, NT-Xent or any loss of the
  two views' embeddings); ``rotations(x)`` and ``train_classifier`` for the rotation pretext task and for
  supervised training on a few labels, with the same optimiser and schedule.
* ``extract_features(model, X)``: frozen features as a numpy array; then ``knn_accuracy`` (cosine k-nearest
  neighbours) and ``linear_probe`` (softmax regression on the frozen features) measure how well they
  separate the classes, and ``pca`` projects them to 2-D for plots.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .checks import finite_data, finite_number, positive_int
from .torch_train import optimizer_step, param_groups

ERASE_AREA = (0.02, 0.33)   # random erasing: fraction of the image covered (torchvision's defaults)
ERASE_RATIO = (0.3, 3.3)    # random erasing: height / width of the rectangle, drawn log-uniformly


def _interval(value, name: str, low: float, high: float) -> tuple[float, float]:
    """``value`` as a pair (a, b) with low < a <= b <= high."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}") from None
    a, b = finite_number(a, f"{name}[0]"), finite_number(b, f"{name}[1]")
    if not low < a <= b <= high:
        raise ValueError(f"{name} must be a pair (a, b) with {low:g} < a <= b <= {high:g}, got {value!r}")
    return a, b


def augment_views(x, generator, crop_scale: tuple[float, float] = (0.5, 1.0), flip: bool = True,
                  jitter: float = 0.4, erase_p: float = 0.5,
                  ratio: tuple[float, float] = (3 / 4, 4 / 3)):
    """A random view of every image of the batch ``x`` (N, C, H, W), float values in [0, 1]; returns a new
    tensor of the same shape, dtype and device, in [0, 1]. The steps, in order:

    1. Random resized crop: a rectangle covering a fraction s ~ U(crop_scale) of the image area, with
       aspect ratio (width / height) r drawn log-uniformly from ``ratio`` (each side at most the whole
       image: width sqrt(s r), height sqrt(s / r), as fractions), placed uniformly at random inside the
       image, is stretched back to H x W with bilinear interpolation. One ``F.affine_grid`` +
       ``F.grid_sample`` for the whole batch: each image gets its own 2 x 3 affine map (a scale and a
       translation).
    2. Horizontal flip (``flip``): with probability 1/2, folded into the same affine map (x -> -x).
    3. Brightness then contrast jitter (``jitter``): x * b, then (x - m) c + m with m each image's mean,
       b and c drawn from U(1 - jitter, 1 + jitter), clipped to [0, 1] after each. ``jitter=0``: none.
    4. Random erasing: with probability ``erase_p``, a rectangle covering a fraction U(0.02, 0.33) of the
       image, height / width log-uniform in (0.3, 3.3), at a uniformly random position, is set to 0
       (the background of Fashion-MNIST).

    All random numbers come from ``generator`` (a CPU ``torch.Generator``) in one draw,
    ``torch.rand(N, 12)``, whatever the settings: the same generator state gives the same views. Works on
    any device (the numbers are drawn on the CPU and moved to x's device). Augment before standardising.
    """
    import torch
    import torch.nn.functional as F

    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"augment_views expects a floating-point torch tensor, got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.ndim != 4:
        raise ValueError(f"augment_views expects images of shape (N, C, H, W), got {tuple(x.shape)}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {generator!r}")
    lo, hi = _interval(crop_scale, "crop_scale", 0, 1)
    r_lo, r_hi = _interval(ratio, "ratio", 0, math.inf)
    jitter = finite_number(jitter, "jitter", 0, 1)
    erase_p = finite_number(erase_p, "erase_p", 0, 1)
    N, C, H, W = x.shape
    if N == 0:
        return x.clone()
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"augment_views expects images with values in [0, 1], got values in "
                         f"[{x.min().item():.3g}, {x.max().item():.3g}] (augment before standardising)")

    u = torch.rand(N, 12, generator=generator).to(device=x.device, dtype=x.dtype)

    # 1-2. crop and flip: output pixel (x_o, y_o) in [-1, 1]^2 reads input (a x_o + cx, b y_o + cy)
    area = lo + (hi - lo) * u[:, 0]
    aspect = torch.exp(math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * u[:, 1])
    a = torch.sqrt(area * aspect).clamp(max=1)             # half-widths in [-1, 1] units = width fraction
    b = torch.sqrt(area / aspect).clamp(max=1)
    cx = (1 - a) * (2 * u[:, 2] - 1)                        # the crop stays inside the image
    cy = (1 - b) * (2 * u[:, 3] - 1)
    if flip:
        a = torch.where(u[:, 4] < 0.5, -a, a)
    theta = torch.zeros(N, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = a, cx, b, cy
    grid = F.affine_grid(theta, [N, C, H, W], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # 3. brightness, then contrast around each image's mean
    if jitter > 0:
        brightness = (1 + jitter * (2 * u[:, 5] - 1)).view(N, 1, 1, 1)
        contrast = (1 + jitter * (2 * u[:, 6] - 1)).view(N, 1, 1, 1)
        out = (out * brightness).clamp(0, 1)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = ((out - mean) * contrast + mean).clamp(0, 1)

    # 4. random erasing: one boolean mask (N, 1, H, W) of the rectangles
    if erase_p > 0:
        erase_area = (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * u[:, 8]) * (H * W)
        lr0, lr1 = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
        tall = torch.exp(lr0 + (lr1 - lr0) * u[:, 9])       # height / width
        h = torch.sqrt(erase_area * tall).round().clamp(1, H)
        w = torch.sqrt(erase_area / tall).round().clamp(1, W)
        top = torch.minimum((u[:, 10] * (H - h + 1)).floor(), H - h).view(N, 1, 1)
        left = torch.minimum((u[:, 11] * (W - w + 1)).floor(), W - w).view(N, 1, 1)
        rows = torch.arange(H, device=x.device, dtype=x.dtype).view(1, H, 1)
        cols = torch.arange(W, device=x.device, dtype=x.dtype).view(1, 1, W)
        inside = ((rows >= top) & (rows < top + h.view(N, 1, 1)) & (cols >= left)
                  & (cols < left + w.view(N, 1, 1)))
        erase = (u[:, 7] < erase_p).view(N, 1, 1)
        out = out.masked_fill((inside & erase)[:, None], 0.0)
    return out.clamp(0, 1)


def ntxent_torch(z1, z2, temperature: float = 0.5):
    """SimCLR's NT-Xent loss of two batches of embeddings z1, z2 (N, d) (row n of each: two views of image n),
    a scalar tensor: the rows of [z1; z2] are L2-normalised, s = u u^T / temperature with the diagonal
    masked out (-inf), and each of the 2N rows is a softmax cross-entropy whose target is the other view.
    The same loss as ``dlcore.NTXent``, whose docstring derives its gradient by hand.
    """
    import torch
    import torch.nn.functional as F

    temperature = finite_number(temperature, "ntxent_torch temperature", low=0, low_open=True)
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"ntxent_torch expects two views of shape (N, d), got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    N = z1.shape[0]
    if N < 2:
        raise ValueError(f"ntxent_torch needs N >= 2 pairs of views (negatives), got N = {N}")
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    S = u @ u.T / temperature
    S = S.masked_fill(torch.eye(2 * N, dtype=torch.bool, device=S.device), -math.inf)
    targets = (torch.arange(2 * N, device=S.device) + N) % (2 * N)
    return F.cross_entropy(S, targets)


def encoder(width: int = 32, feature_dim: int = 128, in_channels: int = 1):
    """A small CNN: images (N, in_channels, H, W) -> features (N, feature_dim).

    Three stages of Conv 3x3 (padding 1, no bias) - BatchNorm - ReLU with ``width``, ``2 * width`` and
    ``feature_dim`` channels (32, 64, 128 by default), a 2x2 max-pool between stages (28 -> 14 -> 7), then
    global average pooling over the positions. Initial weights come from torch's global generator.
    """
    from torch import nn

    for value, name in ((width, "width"), (feature_dim, "feature_dim"), (in_channels, "in_channels")):
        positive_int(value, f"encoder {name}")

    def stage(c_in: int, c_out: int) -> list:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True)]

    return nn.Sequential(*stage(in_channels, width), nn.MaxPool2d(2),
                         *stage(width, 2 * width), nn.MaxPool2d(2),
                         *stage(2 * width, feature_dim), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def projection_head(in_dim: int = 128, hidden_dim: int = 128, out_dim: int = 64):
    """SimCLR's projection head g: features (N, in_dim) -> embeddings (N, out_dim), Linear (no bias) -
    BatchNorm1d - ReLU - Linear. The loss sees g's output; the features before it are what is kept."""
    from torch import nn

    for value, name in ((in_dim, "in_dim"), (hidden_dim, "hidden_dim"), (out_dim, "out_dim")):
        positive_int(value, f"projection_head {name}")
    return nn.Sequential(nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim),
                         nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


def _start(model, steps: int, lr: float, weight_decay: float, seed: int, device: str):
    """The set-up of ``pretrain`` and ``train_classifier``: the model on ``device`` (channels-last, train
    mode), AdamW (weights decayed, biases and normalisation parameters not) with a one-cycle schedule
    (warm-up over the first 10 % of the steps), and the one generator of the run's random numbers."""
    import torch

    model.to(device=device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    return optimizer, scheduler, torch.Generator().manual_seed(seed)


def pretrain(model, X, steps: int, batch_size: int = 256, temperature: float = 0.5, lr: float = 2e-3,
             weight_decay: float = 1e-4, loss=None, views=augment_views, seed: int = 0,
             bf16: bool = False, log_every: int | None = None, device: str = "cpu") -> dict:
    """SimCLR: train ``model`` (encoder + projection head) on the images ``X`` (N, C, H, W) in [0, 1] without
    their labels, for ``steps`` steps.

    Each step draws ``batch_size`` images at random, makes two views of each with ``views(x, generator)``,
    embeds all 2 * batch_size views in one forward pass (batch norm sees both views) and minimises
    ``loss(z1, z2)``, by default ``ntxent_torch(z1, z2, temperature)``, with AdamW and a one-cycle schedule
    (warm-up over the first 10 % of the steps). ``bf16``: the forward pass under bfloat16 autocast, the loss
    in float32. All random numbers come from one generator seeded with ``seed`` (the initial weights come
    from torch's global generator, seeded by the caller). Returns ``{"loss": per-step losses, "seconds"}``;
    the model ends in eval mode.
    """
    import torch

    steps = positive_int(steps, "pretrain steps")
    batch_size = positive_int(batch_size, "pretrain batch_size")
    if loss is None:
        temperature = finite_number(temperature, "pretrain temperature", low=0, low_open=True)

        def loss(z1, z2):
            return ntxent_torch(z1, z2, temperature)

    X = torch.as_tensor(X)
    optimizer, scheduler, generator = _start(model, steps, lr, weight_decay, seed, device)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        xb = X[torch.randint(0, len(X), (batch_size,), generator=generator)]
        pair = torch.cat([views(xb, generator), views(xb, generator)]).to(device)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            z = model(pair.contiguous(memory_format=torch.channels_last))
        z = z.float()
        losses.append(optimizer_step(optimizer, scheduler, loss(z[:batch_size], z[batch_size:]),
                                     f"at step {step + 1}"))
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:5d}/{steps}: loss {losses[-1]:.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    model.eval()
    return {"loss": losses, "seconds": time.perf_counter() - start}


def rotations(x):
    """The rotation pretext task (Gidaris et al. 2018): each image of x (N, C, H, W) turned by 0, 90, 180 and
    270 degrees, as a batch of 4N images (N, C, H, W each, square images), with labels 0, 1, 2, 3."""
    import torch

    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise ValueError(f"rotations expects square images (N, C, H, H), got {tuple(x.shape)}")
    images = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(len(x))
    return images, labels


def train_classifier(model, X, y, steps: int, batch_size: int = 128, lr: float = 2e-3,
                     weight_decay: float = 5e-4, augment=None, pretext=None, seed: int = 0,
                     bf16: bool = False, device: str = "cpu") -> dict:
    """Train ``model`` with cross-entropy for a fixed number of ``steps`` (AdamW, one-cycle, warm-up 10 %).

    Supervised: images X (N, C, H, W) and labels y (N,); each step draws ``batch_size`` of them at random
    (with replacement across steps: a few labels may be seen many times), ``augment(xb, generator)`` if given.
    Pretext task: ``y=None`` and ``pretext(xb) -> (inputs, targets)`` makes the labels from the images
    themselves (e.g. ``rotations``). Returns ``{"loss": per-step losses, "seconds"}``; ends in eval mode.
    """
    import torch
    import torch.nn.functional as F

    steps = positive_int(steps, "train_classifier steps")
    batch_size = positive_int(batch_size, "train_classifier batch_size")
    if (y is None) == (pretext is None):
        raise ValueError("train_classifier needs labels y or a pretext task pretext(xb) -> (inputs, "
                         "targets), exactly one of them")
    X = torch.as_tensor(X)
    if y is not None:
        y = torch.as_tensor(y)
        if y.shape != (len(X),):
            raise ValueError(f"train_classifier: {len(X)} images but labels of shape {tuple(y.shape)}")
    optimizer, scheduler, generator = _start(model, steps, lr, weight_decay, seed, device)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(X), (batch_size,), generator=generator)
        xb = X[idx]
        if augment is not None:
            xb = augment(xb, generator)
        xb, yb = pretext(xb) if y is None else (xb, y[idx])
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb.to(device).contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits.float(), yb.to(device).long())
        losses.append(optimizer_step(optimizer, scheduler, loss, f"at step {step + 1}"))
    model.eval()
    return {"loss": losses, "seconds": time.perf_counter() - start}


def extract_features(model, X, batch_size: int = 1000, device: str = "cpu") -> np.ndarray:
    """``model``'s outputs for all of ``X`` (a tensor or numpy array, in batches of ``batch_size``) as a
    float32 numpy array (N, ...), computed in eval mode without gradients. The model's train/eval mode is
    restored afterwards, so it can be called in the middle of training."""
    import torch

    positive_int(batch_size, "extract_features batch_size")
    X = torch.as_tensor(X)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            parts = [model(X[i:i + batch_size].to(device)).float().cpu()
                     for i in range(0, len(X), batch_size)]
    finally:
        model.train(was_training)
    if not parts:
        raise ValueError("extract_features needs at least one sample, got an empty X")
    return torch.cat(parts).numpy()


def _features_labels(feats, labels, what: str) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = np.asarray(feats), np.asarray(labels)
    if feats.dtype.kind not in "fiu":
        raise TypeError(f"{what} features must be a numeric array, got dtype {feats.dtype}")
    if feats.ndim != 2:
        raise ValueError(f"{what} features must have shape (N, d), got {feats.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{what} labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (len(feats),):
        raise ValueError(f"{what}: {len(feats)} feature rows but labels of shape {labels.shape}")
    if len(feats) == 0:
        raise ValueError(f"{what} needs at least one sample, got an empty batch (0 samples)")
    if labels.min() < 0:
        raise ValueError(f"{what} labels must be >= 0, got {labels.min()}")
    finite_data(feats, f"{what} features")
    return feats, labels.astype(np.int64, copy=False)


def _train_test(train_feats, train_labels, test_feats, test_labels, who: str):
    """Both splits checked by ``_features_labels``, and of the same feature dimension."""
    X, y = _features_labels(train_feats, train_labels, f"{who} train")
    X_test, y_test = _features_labels(test_feats, test_labels, f"{who} test")
    if X.shape[1] != X_test.shape[1]:
        raise ValueError(f"{who}: train features have {X.shape[1]} dimensions, test features "
                         f"{X_test.shape[1]}")
    return X, y, X_test, y_test


def _unit_rows(feats: np.ndarray, what: str) -> np.ndarray:
    feats = feats.astype(np.float64 if feats.dtype == np.float64 else np.float32)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    if not norms.all():
        raise ValueError(f"{what} feature row {int(np.flatnonzero(norms == 0)[0])} is all zeros: its cosine "
                         f"similarity is undefined")
    return feats / norms


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, k: int = 20,
                 temperature: float | None = None, batch_size: int = 1000) -> float:
    """Accuracy of a k-nearest-neighbour classifier on frozen features: the fraction of test rows whose
    label wins the vote of their ``k`` most cosine-similar training rows.

    ``temperature=None``: a majority vote (ties go to the class whose voters are more similar in total).
    ``temperature=t``: each neighbour votes with weight exp(s / t), s its cosine similarity (Wu et al. 2018
    use t = 0.07): the nearest count more. Numpy only, ``batch_size`` test rows at a time. The cost is the
    (n_test, n_train) similarity matrix and its top k: about 10 s for 10000 x 60000 features of 128
    dimensions on one CPU core, so monitor training on subsets.
    """
    A, y_train, B, y_test = _train_test(train_feats, train_labels, test_feats, test_labels, "knn_accuracy")
    k = positive_int(k, "knn_accuracy k")
    if k > len(A):
        raise ValueError(f"knn_accuracy: k={k} is more than the {len(A)} training samples")
    if temperature is not None:
        temperature = finite_number(temperature, "knn_accuracy temperature", low=0, low_open=True)
    batch_size = positive_int(batch_size, "knn_accuracy batch_size")
    A, B = _unit_rows(A, "knn_accuracy train"), _unit_rows(B, "knn_accuracy test")
    classes = np.arange(max(y_train.max(), y_test.max()) + 1)
    correct = 0
    for start in range(0, len(B), batch_size):
        S = B[start:start + batch_size] @ A.T                          # (m, n_train) cosine similarities
        nearest = np.argpartition(-S, k - 1, axis=1)[:, :k]            # the k most similar, in any order
        s = np.take_along_axis(S, nearest, axis=1).astype(np.float64)  # (m, k)
        votes = y_train[nearest][:, :, None] == classes                # (m, k, K) one-hot
        if temperature is None:  # counts, plus a tie-break term in (-1/2, 1/2) that never outweighs a vote
            scores = votes.sum(1) + (votes * s[:, :, None]).sum(1) / (2 * k + 1)
        else:                    # exp((s - 1) / t): the same ranking as exp(s / t), and it cannot overflow
            scores = (votes * np.exp((s - 1) / temperature)[:, :, None]).sum(1)
        correct += int((scores.argmax(1) == y_test[start:start + batch_size]).sum())
    return correct / len(B)


def linear_probe(train_feats, train_labels, test_feats, test_labels, epochs: int = 100, lr: float = 1.0,
                 weight_decay: float = 1e-4, device: str = "cpu") -> float:
    """Test accuracy of a softmax regression trained on frozen features: the standard linear evaluation
    of a self-supervised encoder.

    The features are standardised with the training set's mean and std per dimension (a dimension that
    never varies is only centred), then logits = x W + b are fitted to minimise the mean cross-entropy
    + weight_decay / 2 * ||W||^2 with full-batch L-BFGS (``torch.optim.LBFGS``, strong-Wolfe line search,
    step ``lr``) for at most ``epochs`` iterations, each a pass over all training features (the line
    search may add a few). W and b start at zero and the problem is convex (strictly, with
    weight_decay > 0), so there is no seed: the same features give the same answer. On 60000 x 128
    features it takes a few seconds on a CPU. It computes in float32 even inside a bfloat16 ``autocast``
    block (where features are often extracted): in bfloat16 the fit fails, silently, near chance.
    """
    import torch
    import torch.nn.functional as F

    X, y, X_test, y_test = _train_test(train_feats, train_labels, test_feats, test_labels, "linear_probe")
    epochs = positive_int(epochs, "linear_probe epochs")
    lr = finite_number(lr, "linear_probe lr", low=0, low_open=True)
    weight_decay = finite_number(weight_decay, "linear_probe weight_decay", low=0)
    X = torch.as_tensor(X, dtype=torch.float32, device=device)
    X_test = torch.as_tensor(X_test, dtype=torch.float32, device=device)
    y, y_test = torch.as_tensor(y, device=device), torch.as_tensor(y_test, device=device)
    mean, std = X.mean(0), X.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    X, X_test = (X - mean) / std, (X_test - mean) / std
    K = int(max(y.max(), y_test.max())) + 1
    W = torch.zeros(X.shape[1], K, device=device, requires_grad=True)
    b = torch.zeros(K, device=device, requires_grad=True)
    optimizer = torch.optim.LBFGS([W, b], lr=lr, max_iter=epochs, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(X @ W + b, y) + 0.5 * weight_decay * (W * W).sum()
        loss.backward()
        return loss

    with torch.autocast(device.split(":")[0], enabled=False):  # float32 even in a caller's autocast
        optimizer.step(closure)
        with torch.no_grad():
            return int(((X_test @ W + b).argmax(1) == y_test).sum()) / len(y_test)


def pca(X, k: int, return_components: bool = False):
    """Principal component analysis from scratch: centre the rows of X (N, D), take the SVD
    X - mean = U S V^T, keep the first k right singular vectors (the directions of largest variance).

    Returns ``(projection, ratio)``: the centred data in those directions, (N, k) (= U[:, :k] S[:k]), and
    the fraction of the total variance each explains, S[:k]^2 / sum(S^2) (decreasing, summing to <= 1).
    With ``return_components=True`` also ``components`` (k, D), orthonormal rows, and ``mean`` (D,), so
    that new data projects as ``(X_new - mean) @ components.T``. Each component's sign is chosen to make
    its largest-magnitude entry positive, so the result does not depend on the SVD routine's sign choice.
    float32 data stays float32.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise TypeError(f"pca expects a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"pca expects data of shape (N, D), got {X.shape}")
    k = positive_int(k, "pca k")
    if k > min(X.shape):
        raise ValueError(f"pca: k={k} components from {X.shape[0]} samples of {X.shape[1]} dimensions "
                         f"(at most {min(X.shape)})")
    finite_data(X, "pca: X")
    X = X if X.dtype.kind == "f" else X.astype(np.float64)
    mean = X.mean(axis=0)
    Xc = X - mean
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    total = np.sum(s * s)
    if total == 0:
        raise ValueError("pca: all rows of X are equal, so there is no variance to explain")
    components = Vt[:k]
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    projection = Xc @ components.T
    ratio = s[:k] ** 2 / total
    if return_components:
        return projection, ratio, components, mean
    return projection, ratio
