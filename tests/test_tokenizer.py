"""Vocabularies: T5 id conventions, sentinels at the top, round trips on real text."""

import unicodedata

import pytest
import sentencepiece as spm

from data_fixtures import wiki_slice, wiki_texts  # noqa: F401  (fixtures)
from t5x_style.data import tokenizer
from t5x_style.data.errors import DataError


def test_byte_vocabulary_layout():
    vocab = tokenizer.ByteVocabulary()
    assert (vocab.pad_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2)
    assert vocab.vocab_size == 359  # 3 + 256 bytes + 100 extra ids; the model pads to 384.
    assert vocab.sentinel_id(0) == 358 and vocab.sentinel_id(99) == 259
    with pytest.raises(DataError, match="sentinel index 100"):
        vocab.sentinel_id(100)


def test_byte_vocabulary_round_trip_and_decode_rules(wiki_texts):
    vocab = tokenizer.ByteVocabulary()
    for text in wiki_texts[:50]:
        ids = vocab.encode(text)
        assert min(ids) >= 3 and max(ids) <= 258
        assert vocab.decode(ids) == text
    ids = vocab.encode("Paris")
    assert vocab.decode(ids[:2] + [vocab.sentinel_id(1), 0] + ids[2:] + [1] + ids) == \
        "Pa<extra_id_1>ris"


@pytest.fixture(scope="module")
def spm_model(wiki_texts, tmp_path_factory) -> str:
    prefix = tmp_path_factory.mktemp("spm") / "wiki"
    return tokenizer.train_sentencepiece(wiki_texts, str(prefix), vocab_size=600)


def test_sentencepiece_has_t5_layout_and_round_trips(spm_model, wiki_texts):
    vocab = tokenizer.get_vocabulary(spm_model, extra_ids=100)
    assert vocab.vocab_size == 700 and vocab.sentinel_id(0) == 699 and vocab.sentinel_id(99) == 600
    for text in wiki_texts[:50]:
        ids = vocab.encode(text)
        assert max(ids) < 600
        # T5-style models normalise (NFKC, whitespace runs -> one space), as T5's own does.
        assert vocab.decode(ids + [vocab.eos_id, 42]) == " ".join(
            unicodedata.normalize("NFKC", text).split())
    assert vocab.decode([vocab.sentinel_id(0)]) == "<extra_id_0>"


def test_sentencepiece_with_other_special_ids_is_refused(wiki_texts, tmp_path):
    prefix = tmp_path / "default_ids"
    spm.SentencePieceTrainer.train(sentence_iterator=iter(wiki_texts), model_prefix=str(prefix),
                                   vocab_size=400, minloglevel=2)  # unk 0, bos 1, eos 2.
    with pytest.raises(DataError, match=r"\(pad, eos, unk\)"):
        tokenizer.SentencePieceVocabulary(f"{prefix}.model")
    with pytest.raises(DataError, match="not found"):
        tokenizer.SentencePieceVocabulary(str(tmp_path / "missing.model"))


def test_train_command_on_a_prepared_corpus(wiki_slice, tmp_path, capsys):
    name, data_dir = wiki_slice
    assert tokenizer.main(["train", "--corpus", name, "--data_dir", data_dir, "--vocab_size",
                           "500", "--output", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli.model").exists() and "500 pieces" in capsys.readouterr().out
    assert tokenizer.main(["train", "--corpus", "lm1b", "--data_dir", str(tmp_path),
                           "--output", str(tmp_path / "x")]) == 1
