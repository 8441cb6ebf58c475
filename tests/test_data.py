"""Tests for dlcore.data: toy 2-D sets, the Fashion-MNIST loader, its caches and its command line.

Loader behaviour is tested on a tiny synthetic Fashion-MNIST (the expected hashes are patched to
match it); the real data is checked too when it is installed, else those tests are skipped.
"""

import gzip
import hashlib
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from dlcore import data

# ----------------------------------------------------------------------------- toy 2-D sets

TOY = sorted(data.TOY_DATASETS)


@pytest.mark.parametrize("name", TOY)
@pytest.mark.parametrize("n", [200, 101])
def test_toy_shapes_dtypes_balance(name, n):
    X, y = data.make_toy(name, n=n, seed=1)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert abs(np.sum(y == 0) - np.sum(y == 1)) <= n % 2
    assert np.isfinite(X).all()
    assert not (np.all(y[: n // 2] == 0) or np.all(y[: n // 2] == 1)), "rows should be shuffled"


@pytest.mark.parametrize("name", TOY)
def test_toy_deterministic_given_seed(name):
    X1, y1 = data.make_toy(name, seed=7)
    X2, y2 = data.make_toy(name, seed=7)
    X3, _ = data.make_toy(name, seed=8)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


def test_make_toy_uses_registry_defaults_and_overrides():
    np.testing.assert_array_equal(data.make_toy("moons", n=50, seed=3)[0], data.make_moons(n=50, seed=3)[0])
    np.testing.assert_array_equal(
        data.make_toy("circles", noise=0.0, factor=0.3)[0], data.make_circles(noise=0.0, factor=0.3)[0]
    )
    with pytest.raises(ValueError, match="spirals"):
        data.make_toy("nonsense")
    with pytest.raises(ValueError):
        data.make_blobs(n=1)
    with pytest.raises(ValueError):
        data.make_moons(noise=-1.0)


def test_blobs_separated_by_the_diagonal():
    X, y = data.make_blobs(seed=0)
    np.testing.assert_array_equal(X.sum(axis=1) > 0, y == 1)
    for seed in range(1, 6):
        X, y = data.make_blobs(seed=seed)
        assert np.mean((X.sum(axis=1) > 0) == (y == 1)) >= 0.99


@pytest.mark.parametrize("seed", range(5))
def test_linear_is_separable_with_margin(seed):
    X, y = data.make_linear(seed=seed, margin=0.1)
    t = 2 * y - 1
    w, updates = np.zeros(2), 0
    for _ in range(1000):  # perceptron without bias: at most (sqrt(2) / 0.1)^2 = 200 updates
        wrong = np.flatnonzero(t * (X @ w) <= 0)
        if len(wrong) == 0:
            break
        w += t[wrong[0]] * X[wrong[0]]
        updates += 1
    assert len(wrong) == 0 and updates <= 200
    assert np.abs(X).max() <= 1


def test_noise_free_geometry():
    X, y = data.make_circles(noise=0.0, factor=0.3)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.where(y == 1, 0.3, 1.0))
    X, y = data.make_moons(noise=0.0)
    np.testing.assert_allclose(np.linalg.norm(X - np.where(y[:, None] == 1, [1.0, 0.5], 0.0), axis=1), 1.0)
    assert (X[y == 0, 1] >= 0).all() and (X[y == 1, 1] <= 0.5).all()
    X, y = data.make_xor(noise=0.0)
    np.testing.assert_array_equal(np.abs(X), 1.0)
    np.testing.assert_array_equal(X[:, 0] * X[:, 1] < 0, y == 1)
    X, y = data.make_spirals(noise=0.0, turns=2.0)
    Z = np.where(y[:, None] == 1, -X, X)  # class 1 is class 0 turned by 180 degrees
    r, angle = np.linalg.norm(Z, axis=1), np.arctan2(Z[:, 1], Z[:, 0])
    np.testing.assert_allclose(
        np.exp(1j * angle)[r > 1e-9], np.exp(2j * np.pi * 2.0 * r)[r > 1e-9], atol=1e-9
    )


def test_noisy_sets_follow_their_rule():
    X, y = data.make_xor(noise=0.1)
    np.testing.assert_array_equal(X[:, 0] * X[:, 1] < 0, y == 1)
    X, y = data.make_circles(noise=0.05, factor=0.5)
    np.testing.assert_array_equal(np.linalg.norm(X, axis=1) < 0.75, y == 1)


def test_train_test_split_is_stratified_and_complete():
    X, y = data.make_moons(n=200, seed=0)
    X_tr, y_tr, X_te, y_te = data.train_test_split(X, y, test_size=0.25, seed=1)
    assert len(X_te) == 50 and len(X_tr) == 150
    assert np.sum(y_te == 0) == np.sum(y_te == 1) == 25
    rows = {tuple(r) for r in np.concatenate([X_tr, X_te])}
    assert rows == {tuple(r) for r in X}
    again = data.train_test_split(X, y, test_size=0.25, seed=1)
    np.testing.assert_array_equal(again[2], X_te)
    with pytest.raises(ValueError):
        data.train_test_split(X, y, test_size=1.5)


def test_balanced_subset_takes_first_items_per_class():
    y = np.array([0, 0, 1, 2, 0, 1, 2, 2, 1, 0])
    X = np.arange(10) * 10
    Xs, ys = data.balanced_subset(X, y, 7)
    np.testing.assert_array_equal(ys, [0, 0, 1, 2, 0, 1, 2])  # 3, 2, 2 per class, original order
    np.testing.assert_array_equal(Xs, X[:7])
    with pytest.raises(ValueError):
        data.balanced_subset(X, y, 11)


# ----------------------------------------------------------------------------- synthetic Fashion-MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes holding `array`."""
    return (
        bytes([0, 0, 8, array.ndim])
        + np.array(array.shape, ">u4").tobytes()
        + array.astype(np.uint8).tobytes()
    )


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A tiny Fashion-MNIST (20 train, 10 test images) as .gz files in $DLCORE_DATA, hashes patched
    to match; the cache is an empty folder under tmp_path."""
    rng = np.random.default_rng(0)
    arrays = {
        "train": (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10),
        "test": (rng.integers(0, 256, (10, 28, 28)), np.arange(10)[::-1]),
    }
    src, raw, hashes = tmp_path / "src", {}, {}
    src.mkdir()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        raw[f"{prefix}-images-idx3-ubyte"] = idx_bytes(arrays[split][0])
        raw[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(arrays[split][1])
    for name, b in raw.items():
        (src / f"{name}.gz").write_bytes(gzip.compress(b))
        hashes[name] = sha256(b)
    monkeypatch.setattr(data, "SHA256", {name: hashes[name] for name in data.FILES})
    monkeypatch.setenv("DLCORE_DATA", str(src))
    monkeypatch.setenv("DLCORE_CACHE", str(tmp_path / "cache"))
    return types.SimpleNamespace(src=src, cache=tmp_path / "cache", raw=raw, arrays=arrays)


def assert_matches(result, fake):
    X_train, y_train, X_test, y_test = result
    for X, y, (images, labels) in (
        (X_train, y_train, fake.arrays["train"]),
        (X_test, y_test, fake.arrays["test"]),
    ):
        assert X.dtype == np.float32 and X.shape == (len(images), 1, 28, 28)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(X[:, 0], (images / np.float32(255)).astype(np.float32))
        np.testing.assert_array_equal(y, labels)


def test_parse_and_read_idx(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(a)), a)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(a)))
    (tmp_path / "a").write_bytes(idx_bytes(a))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), a)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), a)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00\x09\x01" + bytes(8), "magic number 00000901"),  # wrong type code
        (b"\x89PNG" + bytes(8), "magic number 89504e47"),
        (b"", "magic number missing"),
        (b"\x00\x00\x08\x03\x00\x00", "header is truncated"),
        (idx_bytes(np.zeros((3, 2), np.uint8))[:-1], r"shape \(3, 2\).*5 bytes follow"),
        (idx_bytes(np.zeros(3, np.uint8)) + b"\x00", "4 bytes follow"),
    ],
)
def test_malformed_idx_gives_clear_error(raw, message):
    with pytest.raises(data.DataError, match=message):
        data.parse_idx(raw)


def test_load_synthetic(fake):
    assert_matches(data.load_fashion_mnist(), fake)
    X_train, y_train, X_test, y_test = data.load_fashion_mnist(n_train=10, n_test=5)
    assert X_train.shape == (10, 1, 28, 28) and np.bincount(y_train).tolist() == [1] * 10
    assert X_test.shape == (5, 1, 28, 28) and sorted(y_test) == [0, 1, 2, 3, 4]


def test_plain_and_recompressed_sources_verify_alike(fake, tmp_path, monkeypatch):
    for name, b in fake.raw.items():  # what Debian did: the same bytes, gzipped differently
        (fake.src / f"{name}.gz").write_bytes(gzip.compress(b, compresslevel=1, mtime=12345))
    assert_matches(data.load_fashion_mnist(cache_dir=tmp_path / "c1"), fake)
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, b in fake.raw.items():
        (plain / name).write_bytes(b)
    monkeypatch.setenv("DLCORE_DATA", str(plain))
    assert_matches(data.load_fashion_mnist(cache_dir=tmp_path / "c2"), fake)


def test_checksum_mismatch_gives_clear_error(fake):
    tampered = bytearray(fake.raw["t10k-images-idx3-ubyte"])
    tampered[100] ^= 1
    (fake.src / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(tampered)))
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz is corrupt") as err:
        data.load_fashion_mnist()
    assert "SHA-256" in str(err.value) and "apt-get install dataset-fashion-mnist" in str(err.value)
    assert not fake.cache.exists() or not any(fake.cache.iterdir())


def test_damaged_gzip_gives_clear_error(fake):
    path = fake.src / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(data.DataError, match="cannot read .*train-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist()


def test_malformed_source_is_reported_not_a_numpy_traceback(fake, monkeypatch):
    bad = b"\x00\x00\x08\x07" + bytes(40)  # right hash (patched below), wrong content
    (fake.src / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bad))
    monkeypatch.setitem(data.SHA256, "train-labels-idx1-ubyte", sha256(bad))
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte"):
        data.load_fashion_mnist()


def test_missing_files_say_how_to_get_them(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("DLCORE_DATA")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-such-dir")
    with pytest.raises(data.DataError) as err:
        data.load_fashion_mnist()
    hints = [
        "not found",
        "no-such-dir",
        "sudo apt-get install dataset-fashion-mnist",
        "DLCORE_DATA",
        "--download",
    ]
    assert [hint for hint in hints if hint not in str(err.value)] == []


def test_incomplete_data_dir_names_the_missing_file(fake):
    (fake.src / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match=r"\(\$DLCORE_DATA\) lacks t10k-labels-idx1-ubyte\."):
        data.load_fashion_mnist()


def no_sources(cache):
    raise AssertionError("the source files should not be read")


def test_second_load_comes_from_cache(fake, monkeypatch):
    first = data.load_fashion_mnist()
    assert sorted(p.name for p in fake.cache.iterdir()) == [data.CACHE_FILE]  # no temp files left
    monkeypatch.setattr(data, "_find_sources", no_sources)
    for a, b in zip(first, data.load_fashion_mnist(), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "stale"])
def test_damaged_cache_is_rebuilt(fake, damage, monkeypatch):
    data.load_fashion_mnist()
    path = fake.cache / data.CACHE_FILE
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0xFF
        path.write_bytes(bytes(bad))
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # built from other files: stored hashes differ
        with np.load(path) as npz:
            arrays = dict(npz)
        arrays["sha256"] = np.array(["0" * 64] * 4)
        np.savez(path, **arrays)
    assert data._load_cache(path) is None
    assert_matches(data.load_fashion_mnist(), fake)
    assert path.read_bytes() == good
    assert sorted(p.name for p in fake.cache.iterdir()) == [data.CACHE_FILE]


def test_failed_cache_write_leaves_nothing_behind(fake, monkeypatch):
    def broken_savez(file, **arrays):
        file.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.warns(UserWarning, match="could not write the Fashion-MNIST cache.*disk full"):
        assert_matches(data.load_fashion_mnist(), fake)
    assert list(fake.cache.iterdir()) == []


def fake_torchvision(fake, monkeypatch) -> list:
    """Install a stand-in for torchvision whose FashionMNIST writes the fake files where torchvision would;
    returns the list of its calls, (root, download)."""
    calls = []

    class FakeFashionMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((Path(root), download))
            raw_dir = Path(root) / "FashionMNIST" / "raw"
            raw_dir.mkdir(parents=True)
            for name, b in fake.raw.items():
                (raw_dir / name).write_bytes(b)

    torchvision = types.ModuleType("torchvision")
    torchvision.datasets = types.SimpleNamespace(FashionMNIST=FakeFashionMNIST)
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", torchvision.datasets)
    return calls


def test_download_uses_torchvision_only_when_asked(fake, monkeypatch):
    monkeypatch.delenv("DLCORE_DATA")
    monkeypatch.setattr(data, "DEBIAN_DIR", fake.src.parent / "no-such-dir")
    calls = fake_torchvision(fake, monkeypatch)
    with pytest.raises(data.DataError, match="not found"):
        data.load_fashion_mnist()
    assert calls == []
    assert_matches(data.load_fashion_mnist(download=True), fake)
    assert calls == [(fake.cache / "torchvision", True)]


def test_download_is_read_even_when_dlcore_data_points_elsewhere(fake, tmp_path, monkeypatch):
    # $DLCORE_DATA names an empty folder: download=True fetches the files and then reads *them*
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("DLCORE_DATA", str(empty))
    calls = fake_torchvision(fake, monkeypatch)
    with pytest.raises(data.DataError, match="DLCORE_DATA is set"):
        data.load_fashion_mnist()
    assert_matches(data.load_fashion_mnist(download=True), fake)
    assert calls == [(fake.cache / "torchvision", True)]


def test_failed_download_gives_clear_error(fake, monkeypatch):
    class Offline:
        def __init__(self, root, train=True, download=False):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    torchvision = types.ModuleType("torchvision")
    torchvision.datasets = types.SimpleNamespace(FashionMNIST=Offline)
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", torchvision.datasets)
    with pytest.raises(data.DataError, match="downloading Fashion-MNIST into .* failed: Error downloading"):
        data.download_fashion_mnist()


def test_torchvision_root_holds_unpacked_files(fake, tmp_path):
    root = data.fashion_mnist_torchvision_root(tmp_path / "tv")
    raw_dir = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw_dir.iterdir()) == sorted(data.FILES)
    for name, b in fake.raw.items():
        assert (raw_dir / name).read_bytes() == b
    assert data._torchvision_root(root, fake.cache) == []  # idempotent: nothing rewritten
    (raw_dir / "train-labels-idx1-ubyte").write_bytes(b"damaged")
    assert data._torchvision_root(root, fake.cache) == ["train-labels-idx1-ubyte"]
    assert (raw_dir / "train-labels-idx1-ubyte").read_bytes() == fake.raw["train-labels-idx1-ubyte"]
    assert data.fashion_mnist_torchvision_root() == fake.cache / "torchvision"


def test_cli_prepare(fake, capsys):
    assert data.main(["--prepare"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "SHA-256 verified" in out[0] and "built" in out[1] and "wrote" in out[2]
    assert (fake.cache / data.CACHE_FILE).is_file()
    assert (fake.cache / "torchvision" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    assert data.main(["--prepare"]) == 0
    assert capsys.readouterr().out.count("up to date") == 2


def test_cli_prepare_without_data_fails_with_message(fake, capsys):
    (fake.src / "train-images-idx3-ubyte.gz").unlink()
    assert data.main(["--prepare"]) == 1
    assert "sudo apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def test_importing_dlcore_data_does_not_import_torch():
    code = "import sys, dlcore.data; assert 'torch' not in sys.modules and 'torchvision' not in sys.modules"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)


# ----------------------------------------------------------------------------- the real Fashion-MNIST


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real Fashion-MNIST, loaded once through a fresh cache (skips if not installed)."""
    cache = tmp_path_factory.mktemp("cache")
    try:
        data._find_sources(cache)
    except data.DataError as err:
        pytest.skip(f"real Fashion-MNIST not available: {err}")
    return cache, data.load_fashion_mnist(cache_dir=cache)


def test_real_shapes_dtypes_balance(real):
    _, (X_train, y_train, X_test, y_test) = real
    assert X_train.shape == (60000, 1, 28, 28) and X_test.shape == (10000, 1, 28, 28)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() == 0 and X_train.max() == 1 and X_test.min() == 0 and X_test.max() == 1
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert X_train.mean() == pytest.approx(0.2860, abs=1e-3)
    assert X_test.mean() == pytest.approx(0.2868, abs=1e-3)
    assert len(data.FASHION_MNIST_CLASSES) == 10 and data.FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_real_second_load_comes_from_cache(real, monkeypatch):
    cache, first = real
    monkeypatch.setattr(data, "_find_sources", no_sources)
    second = data.load_fashion_mnist(cache_dir=cache)
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_real_torchvision_sees_the_same_data(real, tmp_path):
    datasets = pytest.importorskip("torchvision.datasets")
    transforms = pytest.importorskip("torchvision.transforms")
    cache, (X_train, y_train, X_test, y_test) = real
    root = data.fashion_mnist_torchvision_root(tmp_path / "tv", cache_dir=cache)
    for train, X, y in ((True, X_train, y_train), (False, X_test, y_test)):
        ds = datasets.FashionMNIST(root, train=train, download=False, transform=transforms.ToTensor())
        assert len(ds) == len(y)
        np.testing.assert_array_equal(ds.targets.numpy(), y)
        for i in range(5):
            image, label = ds[i]
            np.testing.assert_array_equal(image.numpy(), X[i])
            assert label == y[i]
