"""The Fashion-MNIST cache under damage and faults (issue 11): any damage is detected and the cache
rebuilt, a killed writer's temp file does not stay for long, and ``--prepare`` reports an
unwritable cache in one line. Runs on a tiny synthetic Fashion-MNIST (hashes patched to match)."""

import gzip
import hashlib
import os
import time
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcore import data


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes() + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    arrays = {"train": (rng.integers(0, 256, (10, 28, 28)), np.arange(10)),
              "test": (rng.integers(0, 256, (5, 28, 28)), np.arange(5))}
    src, raw = tmp_path / "src", {}
    src.mkdir()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        raw[f"{prefix}-images-idx3-ubyte"] = idx_bytes(arrays[split][0])
        raw[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(arrays[split][1])
    for name, b in raw.items():
        (src / f"{name}.gz").write_bytes(gzip.compress(b))
    monkeypatch.setattr(data, "SHA256", {name: hashlib.sha256(raw[name]).hexdigest() for name in data.FILES})
    monkeypatch.setenv("DLCORE_DATA", str(src))
    monkeypatch.setenv("DLCORE_CACHE", str(tmp_path / "cache"))
    return types.SimpleNamespace(src=src, cache=tmp_path / "cache", arrays=arrays)


def check(result, fake):
    X_train, y_train, X_test, y_test = result
    np.testing.assert_array_equal(X_train[:, 0], (fake.arrays["train"][0] / np.float32(255)).astype(np.float32))
    np.testing.assert_array_equal(y_train, fake.arrays["train"][1])
    np.testing.assert_array_equal(X_test[:, 0], (fake.arrays["test"][0] / np.float32(255)).astype(np.float32))
    np.testing.assert_array_equal(y_test, fake.arrays["test"][1])


def zip_regions(blob: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of the npz: local headers + npy headers, member data, central directory."""
    import zipfile
    from io import BytesIO

    with zipfile.ZipFile(BytesIO(blob)) as zf:
        infos = zf.infolist()
    first_data = infos[0].header_offset + 30 + len(infos[0].filename) + 128  # npy header ~128 bytes
    central = blob.find(b"PK\x01\x02")
    return {"header": (0, first_data), "data": (first_data, central), "metadata": (central, len(blob))}


@pytest.mark.parametrize("region", ["header", "data", "metadata"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_to_the_cache_is_detected_and_rebuilt(fake, region, data_):
    path = fake.cache / data.CACHE_FILE
    if not path.exists():
        data.load_fashion_mnist()
    good = path.read_bytes()
    lo, hi = zip_regions(good)[region]
    bad = bytearray(good)
    if data_.draw(st.booleans(), "truncate instead of flip") and region == "metadata":
        bad = bad[: data_.draw(st.integers(lo, hi - 1))]
    else:
        for _ in range(data_.draw(st.integers(1, 3))):
            bad[data_.draw(st.integers(lo, hi - 1))] ^= data_.draw(st.integers(1, 255))
    path.write_bytes(bytes(bad))
    check(data.load_fashion_mnist(), fake)  # never an exception, always the right data
    loaded = data._load_cache(path)
    assert loaded is not None  # and a valid cache is there again


def test_cache_with_wrong_label_values_is_rebuilt(fake):
    data.load_fashion_mnist()
    path = fake.cache / data.CACHE_FILE
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["y_train"] = arrays["y_train"] + 100  # valid zip, valid dtype, impossible labels
    np.savez(path, **arrays)
    assert data._load_cache(path) is None
    check(data.load_fashion_mnist(), fake)


def test_cache_that_is_a_directory_or_a_pickle_is_rebuilt(fake):
    path = fake.cache / data.CACHE_FILE
    fake.cache.mkdir(parents=True)
    np.savez(path, sha256=np.array([object()], dtype=object))  # needs pickle: refused, rebuilt
    assert data._load_cache(path) is None
    check(data.load_fashion_mnist(), fake)


def test_stale_temp_files_of_a_killed_writer_are_cleaned(fake):
    fake.cache.mkdir(parents=True)
    stale = fake.cache / f".{data.CACHE_FILE}.abc123.tmp"
    young = fake.cache / f".{data.CACHE_FILE}.def456.tmp"
    other = fake.cache / ".unrelated.tmp"
    for f in (stale, young, other):
        f.write_bytes(b"PK half written")
    old = time.time() - 2 * data.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    check(data.load_fashion_mnist(), fake)
    names = sorted(p.name for p in fake.cache.iterdir())
    assert stale.name not in names  # killed writer's leftover: gone
    assert young.name in names  # may belong to a writer at work right now: kept
    assert other.name in names  # not ours


def test_prepare_with_an_unwritable_cache_reports_one_line(fake, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert data.main(["--prepare", "--cache-dir", str(blocker / "cache")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write the Fashion-MNIST cache")
    assert "Traceback" not in err and "--cache-dir" in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_prepare_with_a_read_only_cache_reports_one_line(fake, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert data.main(["--prepare", "--cache-dir", str(ro)]) == 1
    finally:
        ro.chmod(0o700)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err
