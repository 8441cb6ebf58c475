"""The fortunes text corpus (dlcore.data.load_fortunes): records, checksums, splits, clear errors."""

import hashlib

import pytest

from dlcore import data


def test_records_are_split_on_percent_lines():
    text = "one\n  two  \n%\n\n%\nthree\n%\n%\nfour"
    assert data._fortune_records(text) == ["one\n  two", "three", "four"]


@pytest.fixture
def fake_corpus(tmp_path, monkeypatch):
    files = {"a": "alpha\n%\nbeta\n%\ngamma\n", "b": "delta\n%\nalpha\n%\n" + "\n%\n".join(map(str, range(40)))}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    sums = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}
    monkeypatch.setattr(data, "FORTUNES_SHA256", sums)
    monkeypatch.setenv("DLCORE_FORTUNES", str(tmp_path))
    return tmp_path


def test_splits_partition_the_distinct_records(fake_corpus):
    everything = data.load_fortunes()
    assert everything[:4] == ["alpha", "beta", "gamma", "delta"] and everything.count("alpha") == 1
    parts = [data.load_fortunes(split) for split in data.TEXT_SPLITS]
    assert sorted(sum(parts, [])) == sorted(everything)
    assert [len(p) for p in parts] == [40, 2, 2]  # 44 records: round(39.6), round(2.2), the rest
    assert data.load_fortunes("val") == parts[1]  # fixed


def test_a_changed_file_is_refused(fake_corpus):
    (fake_corpus / "b").write_text("changed", encoding="utf-8")
    with pytest.raises(data.DataError, match="SHA-256 differs.*apt-get install fortunes"):
        data.load_fortunes()


def test_missing_corpus_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_FORTUNES", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="not in .*nowhere.*apt-get install fortunes"):
        data.load_fortunes()
    with pytest.raises(ValueError, match="split"):
        data.load_fortunes("validation")


def test_the_installed_corpus_verifies(monkeypatch):
    monkeypatch.delenv("DLCORE_FORTUNES", raising=False)
    if not all((data.FORTUNES_DIR / name).is_file() for name in data.FORTUNES_SHA256):
        # (fortunes-min alone installs the folder with a few of the files)
        pytest.skip("Debian's fortunes package is not installed (make installs it as root)")
    records = data.load_fortunes()
    assert len(records) > 15_000 and sum(map(len, records)) > 2_400_000
    train, val, test = (set(data.load_fortunes(s)) for s in data.TEXT_SPLITS)
    assert not (train & val or train & test or val & test)
