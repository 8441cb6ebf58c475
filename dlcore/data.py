"""Datasets: toy 2-D sets for the early chapters and Fashion-MNIST for the rest.

Toy sets are generated from a seed. Every ``make_*`` returns ``X (N, 2) float64`` and
``y (N,) int64`` with labels 0/1; the two classes are balanced (sizes differ by at most one)
and the rows are shuffled.

Fashion-MNIST is read from the original IDX files, checked against SHA-256 hashes and cached
as one ``.npz`` file. The files are looked for, in this order:

1. in the directory named by ``$DLCORE_DATA`` (when it is set, nowhere else);
2. in ``/usr/share/datasets/fashion-mnist``, from the Debian/Ubuntu package ``dataset-fashion-mnist``;
3. in ``<cache>/torchvision/FashionMNIST/raw``, where ``python -m dlcore.data --download`` puts them.

The cache directory is ``$DLCORE_CACHE``, else ``~/.cache/dlcore``. Run
``python -m dlcore.data --prepare`` to verify the files and build the caches ahead of time.
"""

import argparse
import glob
import gzip
import hashlib
import math
import os
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from .checks import finite_number, positive_int

Dataset = tuple[np.ndarray, np.ndarray]

# ----------------------------------------------------------------------------- toy 2-D sets


def _sizes(n: int) -> tuple[int, int]:
    """Sizes of class 0 and class 1 for n points, as equal as possible."""
    if n < 2:
        raise ValueError(f"need at least 2 points, got n={n}")
    return n - n // 2, n // 2


def _finish(rng: np.random.Generator, X0: np.ndarray, X1: np.ndarray, noise: float) -> Dataset:
    """Stack class 0 and class 1, add Gaussian noise of std `noise`, shuffle the rows."""
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    X = np.concatenate([X0, X1]).astype(np.float64)
    X += noise * rng.standard_normal(X.shape)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [len(X0), len(X1)])
    order = rng.permutation(len(y))
    return X[order], y[order]


def _circle(t: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Points at angles t (M,) on a circle around the origin: (M, 2)."""
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def make_blobs(n: int = 200, noise: float = 0.4, seed: int = 0) -> Dataset:
    """Two round Gaussian blobs of std `noise` centred at (-1, -1) (class 0) and (1, 1) (class 1).

    The line x1 + x2 = 0 separates them unless the noise is large (at 0.4 a point lands on the
    wrong side with probability 2e-4).
    """
    rng = np.random.default_rng(seed)
    n0, n1 = _sizes(n)
    return _finish(rng, np.full((n0, 2), -1.0), np.full((n1, 2), 1.0), noise)


def make_linear(n: int = 200, noise: float = 0.0, seed: int = 0, margin: float = 0.1) -> Dataset:
    """Uniform points in the square [-1, 1]^2, labelled by a random line through the origin.

    No point lies closer than `margin` to the line, so with noise=0 the set is linearly separable
    with that margin (the setting of the perceptron convergence theorem): the perceptron without
    bias needs at most (sqrt(2) / margin)^2 updates.
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    rng = np.random.default_rng(seed)
    w = _circle(rng.uniform(0, 2 * np.pi, 1))[0]  # unit normal, pointing to class 1

    def side(sign: int, m: int) -> np.ndarray:
        points = np.empty((0, 2))
        while len(points) < m:
            x = rng.uniform(-1, 1, (2 * m + 8, 2))
            points = np.concatenate([points, x[sign * (x @ w) > margin]])
        return points[:m]

    n0, n1 = _sizes(n)
    return _finish(rng, side(-1, n0), side(+1, n1), noise)


def make_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaved half circles of radius 1.

    Class 0: the upper arc around (0, 0); class 1: the lower arc around (1, 0.5).
    """
    rng = np.random.default_rng(seed)
    n0, n1 = _sizes(n)
    X0 = _circle(rng.uniform(0, np.pi, n0))
    X1 = np.array([1.0, 0.5]) - _circle(rng.uniform(0, np.pi, n1))
    return _finish(rng, X0, X1, noise)


def make_circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Dataset:
    """Two concentric circles: class 0 of radius 1, class 1 of radius `factor` (0 < factor < 1)."""
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor}")
    rng = np.random.default_rng(seed)
    n0, n1 = _sizes(n)
    X0 = _circle(rng.uniform(0, 2 * np.pi, n0))
    X1 = _circle(rng.uniform(0, 2 * np.pi, n1), factor)
    return _finish(rng, X0, X1, noise)


def make_xor(n: int = 200, noise: float = 0.25, seed: int = 0) -> Dataset:
    """Four Gaussian clusters of std `noise` at the corners (+-1, +-1).

    Class 1 where the two coordinates have opposite signs (x1 * x2 < 0 before the noise), class 0
    where they agree: the XOR of the signs, which no single line separates.
    """
    rng = np.random.default_rng(seed)
    n0, n1 = _sizes(n)
    X0 = np.array([[1.0, 1.0], [-1.0, -1.0]])[np.arange(n0) % 2]
    X1 = np.array([[1.0, -1.0], [-1.0, 1.0]])[np.arange(n1) % 2]
    return _finish(rng, X0, X1, noise)


def make_spirals(n: int = 200, noise: float = 0.05, turns: float = 1.5, seed: int = 0) -> Dataset:
    """Two interleaved spirals r = t, angle = 2 pi turns t (t uniform in [0, 1]).

    Class 1 is class 0 turned by 180 degrees; neighbouring arms of the two classes are
    1 / (2 turns) apart.
    """
    rng = np.random.default_rng(seed)
    n0, n1 = _sizes(n)

    def spiral(m: int) -> np.ndarray:
        t = rng.uniform(0, 1, m)
        return t[:, None] * _circle(2 * np.pi * turns * t)

    return _finish(rng, spiral(n0), -spiral(n1), noise)


TOY_DATASETS: dict[str, Callable[..., Dataset]] = {
    "blobs": make_blobs,
    "linear": make_linear,
    "moons": make_moons,
    "circles": make_circles,
    "xor": make_xor,
    "spirals": make_spirals,
}


def make_toy(name: str, n: int = 200, noise: float | None = None, seed: int = 0, **kwargs) -> Dataset:
    """The toy set `name` (a key of TOY_DATASETS); noise=None keeps that set's default noise.

    Extra keyword arguments go to the generator (e.g. factor for circles, turns for spirals).
    """
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}")
    if noise is not None:
        kwargs["noise"] = noise
    return TOY_DATASETS[name](n=n, seed=seed, **kwargs)


def train_test_split(
    X: np.ndarray, y: np.ndarray, test_size: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random split keeping the class proportions: returns X_train, y_train, X_test, y_test.

    Each class sends round(test_size * its count) items to the test set. Note the order of the
    result: the same as load_fashion_mnist (not sklearn's X_train, X_test, y_train, y_test).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        is_test[members[: round(test_size * len(members))]] = True
    return X[~is_test], y[~is_test], X[is_test], y[is_test]


def balanced_subset(X: np.ndarray, y: np.ndarray, n: int) -> Dataset:
    """The first n items of (X, y) with the classes equally represented, in their original order.

    Each of the k classes gives its first n // k items (the first n % k classes one more), so
    the subset is deterministic and stratified.
    """
    classes, counts = np.unique(y, return_counts=True)
    quota = np.full(len(classes), n // len(classes))
    quota[: n % len(classes)] += 1
    if n < 0 or (quota > counts).any():
        raise ValueError(f"cannot take {n} balanced items from classes of sizes {counts.tolist()}")
    keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:q] for c, q in zip(classes, quota, strict=True)]))
    return X[keep], y[keep]


# ----------------------------------------------------------------------------- Fashion-MNIST

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# SHA-256 of the *unpacked* IDX files, so upstream's .gz, Debian's recompressed .gz and
# unpacked copies all verify. Cross-checked: their MD5s are the ones torchvision used to list
# for the unpacked files, and the labels give 6,000 / 1,000 items per class.
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FILES = tuple(SHA256)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_FILE = "fashion-mnist.npz"
_SPLITS = {"train": "train", "test": "t10k"}  # split -> file prefix

HOW_TO_GET = (
    "To get Fashion-MNIST: on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist`; "
    "or put the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte, each plain or .gz) in a directory and set DLCORE_DATA to it; "
    "or run `python -m dlcore.data --download` (needs torchvision and internet)."
)


class DataError(RuntimeError):
    """A dataset file is missing, corrupt or malformed; the message says which and how to fix it."""


def get_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The cache directory: `cache_dir`, else $DLCORE_CACHE, else ~/.cache/dlcore (not created)."""
    if cache_dir is None:
        cache_dir = os.environ.get("DLCORE_CACHE") or Path.home() / ".cache" / "dlcore"
    return Path(cache_dir).expanduser()


def _raw_dir(torchvision_root: Path) -> Path:
    return torchvision_root / "FashionMNIST" / "raw"


def _find_sources(cache: Path, downloaded: Path | None = None) -> tuple[dict[str, Path], str]:
    """The four files (name -> path, unpacked preferred over .gz) and where they were found.

    ``downloaded``: the folder a download has just written; only it is searched (even with $DLCORE_DATA).
    """
    env = None if downloaded is not None else os.environ.get("DLCORE_DATA")
    if downloaded is not None:
        places = [(downloaded, "download")]
    elif env:
        places = [(Path(env).expanduser(), "$DLCORE_DATA")]
    else:
        places = [
            (DEBIAN_DIR, "Debian package dataset-fashion-mnist"),
            (_raw_dir(cache / "torchvision"), "download"),
        ]
    report = []
    for folder, label in places:
        found = {}
        for name in FILES:
            path = next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
            if path is not None:
                found[name] = path
        if len(found) == len(FILES):
            return found, f"{folder} ({label})"
        lacking = ", ".join(name for name in FILES if name not in found)
        report.append(f"{folder} ({label}) " + (f"lacks {lacking}" if folder.is_dir() else "does not exist"))
    note = " DLCORE_DATA is set, so no other place was searched." if env else ""
    raise DataError(f"Fashion-MNIST not found: {'; '.join(report)}.{note} {HOW_TO_GET}")


def _read_bytes(path: Path) -> bytes:
    """The contents of `path`, gunzipped if its name ends in .gz."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path}: {err}. {HOW_TO_GET}") from None


def _read_verified(files: dict[str, Path]) -> dict[str, bytes]:
    """The unpacked bytes of each file, after checking their SHA-256 against SHA256."""
    raw = {}
    for name, path in files.items():
        raw[name] = _read_bytes(path)
        digest = hashlib.sha256(raw[name]).hexdigest()
        if digest != SHA256[name]:
            raise DataError(
                f"{path} is corrupt, truncated or not Fashion-MNIST: the SHA-256 of its unpacked bytes is "
                f"{digest}, expected {SHA256[name]}. Replace the file. {HOW_TO_GET}"
            )
    return raw


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an IDX file of unsigned bytes into a uint8 array of the stored shape.

    Layout, big-endian: 0x00 0x00, the type 0x08 (uint8), the number of dimensions d, then d
    uint32 sizes, then the values. Fashion-MNIST labels are (N,), images (N, 28, 28).
    """
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or data[3] == 0:
        raise DataError(
            f"{source} is not an IDX file of unsigned bytes: magic number {data[:4].hex() or 'missing'}, "
            f"expected 00000801 (labels) or 00000803 (images). {HOW_TO_GET}"
        )
    ndim, start = data[3], 4 + 4 * data[3]
    if len(data) < start:
        raise DataError(f"{source}: the IDX header is truncated. {HOW_TO_GET}")
    shape = tuple(int(size) for size in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if len(data) - start != math.prod(shape):
        raise DataError(
            f"{source}: the header announces shape {shape}, i.e. {math.prod(shape)} values, but "
            f"{len(data) - start} bytes follow (truncated file?). {HOW_TO_GET}"
        )
    return np.frombuffer(data, np.uint8, offset=start).reshape(shape)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, plain or .gz, into a uint8 array (see parse_idx). Not hash-checked."""
    return parse_idx(_read_bytes(Path(path)), str(path))


def _to_arrays(raw: dict[str, bytes]) -> dict[str, np.ndarray]:
    """uint8 x_train (N, 28, 28), int64 y_train (N,), and the same for test, from the unpacked files."""
    arrays = {}
    for split, prefix in _SPLITS.items():
        images = parse_idx(raw[f"{prefix}-images-idx3-ubyte"], f"{prefix}-images-idx3-ubyte")
        labels = parse_idx(raw[f"{prefix}-labels-idx1-ubyte"], f"{prefix}-labels-idx1-ubyte")
        if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1] or labels.max(initial=0) > 9:
            raise DataError(
                f"{prefix} files: images {images.shape}, labels {labels.shape} do not match. {HOW_TO_GET}"
            )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels.astype(np.int64)
    return arrays


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Create `path` by writing a temp file in the same directory and renaming it over `path`.

    Readers see the old file or the complete new one, never a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to a writer that was killed, not a running one


def _remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temp files of ``_atomic_write(path)`` older than STALE_TEMP_SECONDS (left behind by a
    process killed while writing); younger ones may belong to a writer still at work. Returns them."""
    removed = []
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already (another process cleaned it) or not ours to delete
            pass
    return removed


def _save_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Store the uint8 images, int64 labels and the source hashes as one uncompressed .npz."""
    _atomic_write(path, lambda f: np.savez(f, sha256=np.array([SHA256[name] for name in FILES]), **arrays))


def _load_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if the cache is missing, damaged or built from other files.

    The cache is only a copy of the verified sources, so *any* failure to read it (a damaged npy
    header, zip metadata or data: zip CRCs catch damaged bytes) means "rebuild it", never a crash.
    """
    try:
        if not zipfile.is_zipfile(path):
            return None
        with np.load(path, allow_pickle=False) as npz:
            if npz["sha256"].tolist() != [SHA256[name] for name in FILES]:
                return None
            arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except Exception:  # zipfile and numpy raise many types here (BadZipFile, struct.error, ...)
        return None
    for split in _SPLITS:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape[1:] != (28, 28) or y.dtype != np.int64 or y.shape != x.shape[:1]:
            return None
        if y.size and (y.min() < 0 or y.max() > 9):
            return None
    return arrays


def download_fashion_mnist(cache_dir: str | Path | None = None) -> Path:
    """Download Fashion-MNIST with torchvision into <cache>/torchvision; returns the folder of the files."""
    root = get_cache_dir(cache_dir) / "torchvision"
    try:
        from torchvision.datasets import FashionMNIST
    except ImportError:
        raise DataError(f"downloading needs torchvision (pip install torchvision). {HOW_TO_GET}") from None
    try:
        FashionMNIST(root, train=True, download=True)  # fetches all four files
    except (RuntimeError, OSError) as err:
        raise DataError(f"downloading Fashion-MNIST into {root} failed: {err}. {HOW_TO_GET}") from None
    return _raw_dir(root)


def _fashion_mnist_arrays(cache: Path, download: bool = False) -> dict[str, np.ndarray]:
    """The uint8/int64 arrays from the cache, or verified from the source files and then cached."""
    path = cache / CACHE_FILE
    arrays = _load_cache(path)
    if arrays is None:
        try:
            files, _ = _find_sources(cache)
        except DataError:
            if not download:
                raise
            files, _ = _find_sources(cache, downloaded=download_fashion_mnist(cache))
        arrays = _to_arrays(_read_verified(files))
        try:
            _save_cache(path, arrays)
        except OSError as err:
            warnings.warn(f"could not write the Fashion-MNIST cache {path}: {err}", stacklevel=3)
    return arrays


def load_fashion_mnist(
    cache_dir: str | Path | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST as float32 images in [0, 1] (pixel / 255) and int64 labels 0..9.

    Returns X_train (60000, 1, 28, 28), y_train (60000,), X_test (10000, 1, 28, 28), y_test (10000,);
    label k is the class FASHION_MNIST_CLASSES[k].
    n_train / n_test keep a deterministic class-balanced subset (see balanced_subset) for quick runs.
    The first call verifies the IDX files and caches them (about 1 s); later calls read the cache.
    download=True fetches the files with torchvision when none are found. Raises DataError with
    instructions when the files are missing or corrupt.
    """
    arrays = _fashion_mnist_arrays(get_cache_dir(cache_dir), download)
    out: list[np.ndarray] = []
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if n is not None:
            x, y = balanced_subset(x, y, n)
        out += [x.reshape(-1, 1, 28, 28) / np.float32(255), y]
    return out[0], out[1], out[2], out[3]


def _file_has_hash(path: Path, digest: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest


def _torchvision_root(root: Path, cache: Path) -> list[str]:
    """Make root/FashionMNIST/raw hold the four verified, unpacked files; returns the names written."""
    raw_dir = _raw_dir(root)
    stale = [name for name in FILES if not _file_has_hash(raw_dir / name, SHA256[name])]
    if stale:
        raw = _read_verified(_find_sources(cache)[0])
        for name in stale:
            _atomic_write(raw_dir / name, lambda f, data=raw[name]: f.write(data))
    return stale


def fashion_mnist_torchvision_root(
    root: str | Path | None = None, *, cache_dir: str | Path | None = None
) -> Path:
    """A root for `torchvision.datasets.FashionMNIST(root, train=..., download=False)` with this data.

    Writes the unpacked IDX files to ROOT/FashionMNIST/raw/ (torchvision reads unpacked files
    there and only checks that they exist). Files already there are kept if their SHA-256 is
    right, so repeated calls are fast. Default root: <cache>/torchvision.
    """
    cache = get_cache_dir(cache_dir)
    root = cache / "torchvision" if root is None else Path(root).expanduser()
    _torchvision_root(root, cache)
    return root


# ----------------------------------------------------------------------------- Fashion-MNIST scenes

SCENE_SPLITS = ("train", "val", "test")
N_SCENE_VAL_ITEMS = 10_000  # Fashion-MNIST training images kept for the validation scenes


def paste_item(canvas: np.ndarray, mask: np.ndarray, item: np.ndarray, label: int, row: int, col: int,
               threshold: float = 0.15) -> np.ndarray:
    """Paste ``item`` (h, w) on ``canvas`` (H, W) and ``label`` on ``mask`` (H, W) at (row, col), in place.

    The item's pixels above ``threshold`` replace what lies beneath, in the image and in the mask; its
    fainter pixels only brighten the image (``max``). Returns the (h, w) boolean array of the replaced pixels.
    """
    h, w = item.shape
    window = np.s_[row : row + h, col : col + w]
    if canvas[window].shape != item.shape:
        raise ValueError(f"an item of {h}x{w} pixels at ({row}, {col}) does not fit on a "
                         f"{canvas.shape[0]}x{canvas.shape[1]} canvas")
    on = item > threshold
    canvas[window] = np.where(on, item, np.maximum(canvas[window], item))
    mask[window][on] = label
    return on


def make_scenes(
    images: np.ndarray,
    labels: np.ndarray,
    n: int,
    *,
    size: int = 64,
    n_items: tuple[int, int] = (2, 4),
    threshold: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``n`` scenes of ``n_items`` Fashion-MNIST items on a ``size`` x ``size`` canvas, labelled per pixel.

    images (M, 1, h, w) float in [0, 1], labels (M,) 0..9. Each scene draws k items (k uniform in
    n_items, inclusive), each a random image at a random position wholly on the canvas, and pastes them
    in turn: an item's pixels above ``threshold`` replace what lies beneath (image and label: a later
    item occludes an earlier one); its fainter pixels only brighten the image (``max``) and keep the
    label beneath. Label 0 is background, label c + 1 is Fashion-MNIST class c.

    Returns X (n, 1, size, size) float32, Y (n, size, size) uint8 (0..10) and ``items``, one row per
    pasted item: arrays ``scene``, ``label`` (0..9), ``image`` (index into images), ``row``, ``col``
    (top-left corner), ``area`` (its pixels above threshold) and ``visible`` (how many of them are
    still its own in the final scene). The same arguments give the same scenes.
    """
    n = positive_int(n, "n")
    size = positive_int(size, "size")
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (M, 1, h, w), got {images.shape}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    h, w = images.shape[2:]
    if h > size or w > size:
        raise ValueError(f"items of {h}x{w} pixels do not fit on a {size}x{size} canvas")
    lo, hi = n_items
    if not 1 <= lo <= hi:
        raise ValueError(f"n_items must be (low, high) with 1 <= low <= high, got {n_items}")
    threshold = finite_number(threshold, "threshold", low=0.0, high=1.0)
    rng = np.random.default_rng(seed)
    k = rng.integers(lo, hi + 1, size=n)
    m = int(k.sum())
    scene = np.repeat(np.arange(n), k)
    image = rng.integers(0, len(images), size=m)
    row = rng.integers(0, size - h + 1, size=m)
    col = rng.integers(0, size - w + 1, size=m)
    X = np.zeros((n, 1, size, size), np.float32)
    Y = np.zeros((n, size, size), np.uint8)
    owner = np.full((n, size, size), -1, np.int64)  # which item a pixel's label came from
    for i in range(m):
        s = scene[i]
        on = paste_item(X[s, 0], Y[s], images[image[i], 0], labels[image[i]] + 1, row[i], col[i], threshold)
        owner[s, row[i] : row[i] + h, col[i] : col[i] + w][on] = i
    area = np.array([(images[j, 0] > threshold).sum() for j in image], dtype=np.int64)
    visible = np.bincount(owner[owner >= 0], minlength=m)
    items = {
        "scene": scene, "label": np.asarray(labels[image], np.int64), "image": image,
        "row": row, "col": col, "area": area, "visible": visible,
    }  # fmt: skip
    return X, Y, items


def load_fashion_scenes(
    split: str,
    n: int,
    *,
    size: int = 64,
    n_items: tuple[int, int] = (2, 4),
    threshold: float = 0.15,
    seed: int | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Fashion-MNIST scenes for segmentation: X (n, 1, size, size), Y (n, size, size), items.

    The items of each split come from disjoint images: "train" from the first 50,000 Fashion-MNIST
    training images of a fixed shuffle, "val" from the other 10,000, "test" from the 10,000 test
    images. ``seed`` defaults to 0 / 1 / 2 for train / val / test. See make_scenes for the rest.
    """
    if split not in SCENE_SPLITS:
        raise ValueError(f"split must be one of {SCENE_SPLITS}, got {split!r}")
    X_train, y_train, X_test, y_test = load_fashion_mnist(cache_dir, download=download)
    if split == "test":
        images, labels = X_test, y_test
    else:
        order = np.random.default_rng(12345).permutation(len(X_train))
        keep = order[N_SCENE_VAL_ITEMS:] if split == "train" else order[:N_SCENE_VAL_ITEMS]
        images, labels = X_train[keep], y_train[keep]
    if seed is None:
        seed = SCENE_SPLITS.index(split)
    return make_scenes(images, labels, n, size=size, n_items=n_items, threshold=threshold, seed=seed)


# ----------------------------------------------------------------------------- a text corpus: fortunes

FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNES_HOW_TO_GET = (
    "To get the corpus: on Debian/Ubuntu run `sudo apt-get install fortunes` (Colab: `!apt-get install "
    "fortunes`), or set DLCORE_FORTUNES to a folder holding the same files."
)
# SHA-256 of every file read: Debian 12's package fortunes 1:1.99.1-7.3 (43 files, about 2.6 MB).
FORTUNES_SHA256: dict[str, str] = {
    "art": "600b8197bc994fd4fcbb623aa5e700629540af44f044d4907886bd1031f160ce",
    "ascii-art": "818d0967629e0cd48b69c4b7e93645a7f80bba99ed4f1cd668f42b3d174b7431",
    "computers": "a86be224d9f733b88eeaf8a46ea0427e05cc69c69edcf5f6db47ddf561ca37fd",
    "cookie": "5dc97eee96dcc5287c373be629482730d45f77b59da1287933c9c5f482a055eb",
    "debian": "491dd04bf909b64152bcb554b9bc88df0ca50c0dc676d74d10742bf38aaa50de",
    "definitions": "57be4744c353d931fa2ca95f50215d4b67539f5a527ae628a6441fb4a1258caa",
    "disclaimer": "c085d66ea68686d5e28852cef77c3eeb3640895c5647b148deeaaada2c07fa7b",
    "drugs": "a5a59ee8b0e1fd3085a38dfa29149fe9a2c8d7f256b74aea71aa2cc08a9990c1",
    "education": "ba13321d6d6beb7a6e65296a47450bfc87b24a319fff2e94762011b59a31aa35",
    "ethnic": "61695cb9b60dbee91755027da1fa4f850f4c6386ff38197a48e4ff1696385e19",
    "food": "78077a65b9288df71e7b2a8e8258cd3b1005d1282f7c7e57ad53927f374df45d",
    "fortunes": "8819e6b83bacd6b7e8a4a2483f41e126b3b4b3ef8cd2aca907a53b163f082fd5",
    "goedel": "9d447862c803f22cdf7bb26cb70cca1a7f8a2a7992f2793ddcb43cfcf3302ab0",
    "humorists": "ffdf67e1f4049133bf904b769c364de45e5ae0abfb3ea7c9afb54b87b89acfc4",
    "kids": "82e51834990afd36f2ea2f25864b368e2f44f9c761aba034035b26061de6d5be",
    "knghtbrd": "c25e8373b38a6f159a7b1d336f363d5c962224a6ddcc86279dec47aad3c869b3",
    "law": "f04141f94e788b7899e0adb0490d182ce711f8fdbb8252343a5257e717e9279d",
    "linux": "85b0e5eadf7adeea77da4e1fbd456c962ce3bd1dabbd053098ecf37de9169cf3",
    "linuxcookie": "4f75959924ae5bb1955c30a5c985e641ec17cd5ebb7453d839f94b1988331202",
    "literature": "22eab7d53ce994d0466901bb0d799ae3289603e17dc0bdb7f16666931155c5a5",
    "love": "4d4fb7c540e5500e44643524dae41dd7d2b21b80be184253fd9f8541f6029fc5",
    "magic": "b9553a1d84d966db55a24a779206cc4565bf3686c9ecbc31215f654129e3166e",
    "medicine": "18b8c7b098e649024159c9d9f3e37a0832bbd2d5cf3e2317b313134761afd487",
    "men-women": "8fc4eb68a8d16826372d9bfdc910c8ab917b8aa59e2aac533f3ec2b49a1314ba",
    "miscellaneous": "e3d81fd016f9f84a70ecb9aa197c4911aca01a8034e49345b81093f6751bba9c",
    "news": "4b8eebae510353d6f628dfdaf52bf8cbdafb891a122b146421c805b74f389617",
    "paradoxum": "85228975016fe975065eaf0baf55980d32d26f9e2fa99f69da4696d11ac02036",
    "people": "2afb4b9f577be114d2dca279bc5590ee8415e1405295d7d7626c888d82f338e8",
    "perl": "b19145eadf97c31add2e0a199d93ffa0eb92e00275c2724b7ad6b4e412113536",
    "pets": "084472564bc55df566733a224f8a737d78717132ec43628be0c2af466ac41ecc",
    "platitudes": "88448274efec3d2c0908cc11525c9b065b95a32c232a2c58c67a87dd88545ee5",
    "politics": "b56ca45a046edd5c459090a5c6b335332661b436e814b41ac87bb58065ad6131",
    "pratchett": "48410754f1b2091f418ac27421d2764628b23c91427b12809031cf2b39be5b0e",
    "riddles": "bcaaab907b156a18a8943f0768828b4f1a18d382497d0e2ef012fe6aaa27becc",
    "science": "7ab350b142ee6c70c1d8517c5a1b3790c09b190a62859427cad98e6e35a19fcc",
    "songs-poems": "eb714d297b468da91b6ca32baefb000279a3e3740b09f8a87db24fe58e010b1a",
    "sports": "b71dd524d7bca888ec1014fb849a8a15cf58017c59127e572d393ef7632c35c8",
    "startrek": "7b2e4c235b99452b2de4c47d67aae0faac2ea508a2d644609e4ef5db7653c39c",
    "tao": "4adddc35a122bb233a16c076abc0be0326ea3a68594146a6baee3b5f6489e12b",
    "translate-me": "a183879cf46ee4a6176f6b9f0f31adb6abfc6333b64f8fbebeba57017c81e12e",
    "wisdom": "9b0bd6b9331a68c9172219784a411c417c055ed69734edc7b4406795b87d4e94",
    "work": "ad8a0e104160e2c4782fa86e143cd60ffab2872985d4293ffd0af6df19dbfa28",
    "zippy": "b996a112c99a2d61782e1a9a1f3c5445122f18ac312485f2c78279e82ca33932",
}
TEXT_SPLITS = ("train", "val", "test")


def _fortune_records(text: str) -> list[str]:
    """The records of a fortune file: blocks of lines separated by lines holding only ``%``."""
    records, lines = [], []
    for line in text.splitlines() + ["%"]:
        if line.strip() == "%":
            record = "\n".join(lines).strip("\n")
            if record.strip():
                records.append(record)
            lines = []
        else:
            lines.append(line.rstrip())
    return records


def load_fortunes(split: str | None = None, fractions: tuple[float, float] = (0.9, 0.05)) -> list[str]:
    """The fortunes corpus as a list of records (quotations, sayings), each a string of one or more lines.

    Reads the 43 files of Debian's ``fortunes`` package (or ``$DLCORE_FORTUNES``), checks each one's
    SHA-256 and keeps each distinct record once (a few appear in two files). The split is by record, never
    inside one: a fixed shuffle (seed 0), the first ``fractions[0]`` for "train", the next ``fractions[1]``
    for "val", the rest for "test". ``split=None``: every record, in file order. Raises DataError naming the
    package when files are missing or differ.
    """
    if split is not None and split not in TEXT_SPLITS:
        raise ValueError(f"split must be one of {TEXT_SPLITS} or None, got {split!r}")
    folder = Path(os.environ.get("DLCORE_FORTUNES") or FORTUNES_DIR).expanduser()
    missing = [name for name in FORTUNES_SHA256 if not (folder / name).is_file()]
    if missing:
        raise DataError(f"the fortunes corpus is not in {folder}: {len(missing)} of its "
                        f"{len(FORTUNES_SHA256)} files missing (e.g. {missing[0]}). {FORTUNES_HOW_TO_GET}")
    records: list[str] = []
    for name, digest in FORTUNES_SHA256.items():
        try:
            data = (folder / name).read_bytes()
        except OSError as err:
            raise DataError(f"cannot read {folder / name}: {err}. {FORTUNES_HOW_TO_GET}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise DataError(f"{folder / name} is not the file this course was written for (SHA-256 differs: "
                            f"another version of the package?). {FORTUNES_HOW_TO_GET}")
        records += _fortune_records(data.decode("utf-8"))
    records = list(dict.fromkeys(records))  # a few quotations appear in two files: keep the first
    if split is None:
        return records
    order = np.random.default_rng(0).permutation(len(records))
    n_train, n_val = round(fractions[0] * len(records)), round(fractions[1] * len(records))
    pick = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return [records[i] for i in np.sort(pick[split])]


# ----------------------------------------------------------------------------- command line


def _prepare(cache_dir: str | Path | None = None, downloaded: Path | None = None) -> None:
    """Verify the source files, build the .npz cache and the torchvision root; one line per step."""
    cache = get_cache_dir(cache_dir)
    files, where = _find_sources(cache, downloaded)
    raw = _read_verified(files)
    print(f"source:      {where}: {len(files)} IDX files, SHA-256 verified")
    path = cache / CACHE_FILE
    if _load_cache(path) is None:
        _save_cache(path, _to_arrays(raw))
        print(f"cache:       {path} built")
    else:
        print(f"cache:       {path} up to date")
    root = cache / "torchvision"
    written = _torchvision_root(root, cache)
    print(f"torchvision: {root} ({'wrote ' + ', '.join(written) if written else 'up to date'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcore.data", description="Prepare Fashion-MNIST for dlcore."
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--prepare", action="store_true", help="verify the files, build the caches")
    action.add_argument("--download", action="store_true", help="download with torchvision, then --prepare")
    parser.add_argument("--cache-dir", help="cache directory (default: $DLCORE_CACHE or ~/.cache/dlcore)")
    args = parser.parse_args(argv)
    try:
        downloaded = download_fashion_mnist(args.cache_dir) if args.download else None
        if downloaded is not None:
            print(f"download:    {downloaded}")
        _prepare(args.cache_dir, downloaded)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an unwritable cache directory, a full disk: one line, no traceback
        where = err.filename or get_cache_dir(args.cache_dir)
        print(f"error: cannot write the Fashion-MNIST cache at {where}: {err.strerror or err}. "
              f"Choose a writable directory with --cache-dir or DLCORE_CACHE.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
