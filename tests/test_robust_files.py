"""Loading weights is all or nothing, and refuses what is not a clean weights file (issue 11)."""

import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore import MLP


def saved(tmp_path, **overrides):
    """The weights of MLP([3, 4, 2]) saved with some tensors replaced; returns the path."""
    params = {k: p.copy() for k, p in MLP([3, 4, 2], seed=5).params.items()}
    params.update(overrides)
    path = tmp_path / "w.npz"
    np.savez(path, **params)
    return path


def assert_untouched(model, before):
    for k, p in model.params.items():
        np.testing.assert_array_equal(p, before[k])


def fresh():
    model = MLP([3, 4, 2], seed=0)
    return model, {k: p.copy() for k, p in model.params.items()}


@pytest.mark.parametrize(("bad", "match"), [
    (np.array([["a", "b"]] * 2), "dtype <U1"),  # the last array: a bad dtype
    (np.zeros(2, dtype=np.complex128), "complex128"),
    (np.zeros(2, dtype=np.int64), "int64"),
    (np.array([0.0, np.nan]), "NaN or inf"),
    (np.array([np.inf, 0.0]), "NaN or inf"),
    (np.zeros(3), r"shape \(3,\)"),
])
def test_a_bad_last_tensor_leaves_the_model_untouched(tmp_path, bad, match):
    path = saved(tmp_path, **{"2.b": bad})  # "2.b" is the last tensor written and read
    model, before = fresh()
    with pytest.raises(ValueError, match=match):
        model.load(path)
    assert_untouched(model, before)


def test_npy_file_gets_a_clear_error(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros(3))
    model, before = fresh()
    with pytest.raises(ValueError, match="single .npy array.*expects the .npz file"):
        model.load(tmp_path / "w.npy")
    assert_untouched(model, before)


@pytest.mark.parametrize("content", [b"", b"hello", b"\x80\x04K\x01.", b"PK\x03\x04 truncated zip"])
def test_other_file_types_get_a_clear_error(tmp_path, content):
    (tmp_path / "w.npz").write_bytes(content)
    model, before = fresh()
    with pytest.raises(ValueError, match="not an .npz archive|damaged"):
        model.load(tmp_path / "w.npz")
    assert_untouched(model, before)


def test_pickled_array_in_the_archive_is_refused(tmp_path):
    path = saved(tmp_path, **{"2.b": np.array([{"evil": 1}, None], dtype=object)})
    model, before = fresh()
    with pytest.raises(ValueError):
        model.load(path)
    assert_untouched(model, before)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        MLP([3, 4, 2]).load(tmp_path / "nothing.npz")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_damage_to_the_file_is_an_error_or_a_correct_load(tmp_path_factory, data):
    tmp_path = tmp_path_factory.mktemp("w")
    path = saved(tmp_path)
    good = path.read_bytes()
    damaged = bytearray(good)
    if data.draw(st.booleans(), "truncate"):
        damaged = damaged[: data.draw(st.integers(0, len(good) - 1), "length")]
    else:
        i = data.draw(st.integers(0, len(good) - 1), "position")
        damaged[i] ^= data.draw(st.integers(1, 255), "xor")
    path.write_bytes(bytes(damaged))
    model, before = fresh()
    try:
        model.load(path)
    except ValueError:
        assert_untouched(model, before)  # all or nothing
    else:  # the damage was somewhere harmless (e.g. a zip comment): the weights must be right
        reference = MLP([3, 4, 2], seed=5)
        assert_untouched(model, reference.params)


def test_saved_and_loaded_roundtrip_still_works(tmp_path):
    a, b = MLP([3, 4, 2], seed=1), MLP([3, 4, 2], seed=2)
    a.save(tmp_path / "w")
    b.load(tmp_path / "w")
    assert_untouched(b, a.params)
    assert zipfile.is_zipfile(tmp_path / "w.npz")


def test_a_garbled_zip_version_is_a_clear_error(tmp_path):
    """Found by the property test above: a damaged header can claim an unknown zip version, on which zipfile
    raises NotImplementedError; load must still say "damaged", and leave the model untouched."""
    import struct

    model = MLP([3, 4, 2], seed=0)
    path = tmp_path / "w.npz"
    model.save(path)
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")  # the first central-directory entry: "version needed" at offset 6
    data[start + 6 : start + 8] = struct.pack("<H", 109)
    path.write_bytes(bytes(data))
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match="damaged"):
        model.load(path)
    assert all(np.array_equal(before[k], v) for k, v in model.params.items())
