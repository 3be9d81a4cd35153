"""Objectives: T5 span corruption exactly, its lengths, prefix split bounds, BERT MLM."""

import numpy as np
import pytest

from data_fixtures import wiki_slice, wiki_texts  # noqa: F401  (fixtures)
from t5x_style import objectives
from t5x_style.data.errors import DataError
from t5x_style.data.tokenizer import ByteVocabulary

VOCAB = ByteVocabulary()


@pytest.fixture(scope="module")
def tokens(wiki_texts) -> np.ndarray:
    """568 real tokens: the raw length T5 corrupts into 512 inputs and 114 targets."""
    return np.asarray(VOCAB.encode(" ".join(wiki_texts)), np.int32)[:568]


def merge_at_sentinels(inputs: np.ndarray, targets: np.ndarray) -> list[int]:
    """Inverse of span corruption: put each target span back where its sentinel is."""
    spans, current = {}, None
    for token in targets[:-1]:
        if token >= VOCAB.base_size:
            current = spans.setdefault(int(token), [])
        else:
            current.append(int(token))
    return [t for token in inputs[:-1]
            for t in (spans[int(token)] if token >= VOCAB.base_size else [int(token)])]


def test_random_spans_helper_gives_t5_lengths():
    assert objectives.random_spans_helper(512) == (568, 114)
    assert objectives.chunk_length("span_corruption", 512) == 568
    assert objectives.targets_length(512) == 114


def test_span_corruption_counts_order_and_invertibility_over_seeds(tokens):
    span_lengths = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        mask = objectives.random_spans_noise_mask(len(tokens), rng)
        edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
        lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)  # One per noise span.
        assert mask.sum() == 85 and len(lengths) == 28  # round(568 * .15), round(85 / 3).
        assert not mask[0] and mask[-1]  # Non-noise first, alternating, so noise last.
        span_lengths += lengths.tolist()
        example = objectives.span_corruption(tokens, np.random.default_rng(seed), VOCAB)
        inputs, targets = example["inputs"], example["targets"]
        assert len(inputs) == 512 and len(targets) == 114
        assert inputs[-1] == targets[-1] == VOCAB.eos_id
        sentinels = [VOCAB.sentinel_id(i) for i in range(28)]
        assert inputs[inputs >= VOCAB.base_size].tolist() == sentinels
        assert targets[targets >= VOCAB.base_size].tolist() == sentinels
        assert targets[0] == VOCAB.sentinel_id(0)
        assert merge_at_sentinels(inputs, targets) == tokens.tolist()
    assert len(span_lengths) == 200 * 28
    assert np.mean(span_lengths) == pytest.approx(85 / 28)  # Mean noise span length ~3.
    assert min(span_lengths) >= 1 and max(span_lengths) > 6  # Random, not fixed, lengths.


def test_span_corruption_is_deterministic_given_seed(tokens):
    a = objectives.span_corruption(tokens, np.random.default_rng(7), VOCAB)
    b = objectives.span_corruption(tokens, np.random.default_rng(7), VOCAB)
    c = objectives.span_corruption(tokens, np.random.default_rng(8), VOCAB)
    assert np.array_equal(a["inputs"], b["inputs"]) and not np.array_equal(a["inputs"], c["inputs"])


def test_short_chunks_still_corrupt_and_fit(tokens):
    for n in (1, 2, 5, 37):
        example = objectives.span_corruption(tokens[:n], np.random.default_rng(n), VOCAB)
        assert len(example["inputs"]) <= 512 and len(example["targets"]) <= 114
        assert merge_at_sentinels(example["inputs"], example["targets"]) == tokens[:n].tolist()


def test_prefix_lm_split_bounds(tokens):
    splits = []
    for seed in range(500):
        example = objectives.prefix_lm(tokens[:99], np.random.default_rng(seed), VOCAB)
        sequence = np.concatenate([example["inputs"], example["targets"]])
        assert sequence.tolist() == tokens[:99].tolist() + [VOCAB.eos_id]
        splits.append(len(example["inputs"]))
    assert min(splits) == 1 and max(splits) == 98  # U[1, n - 1) with n = 100.
    one = objectives.prefix_lm(tokens[:1], np.random.default_rng(0), VOCAB)
    assert one["inputs"].tolist() == tokens[:1].tolist() and one["targets"].tolist() == [1]


def test_mlm_masks_exactly_15_percent_80_10_10(tokens):
    kinds = np.zeros(3)
    for seed in range(100):
        example = objectives.mlm(tokens, np.random.default_rng(seed), VOCAB)
        inputs, targets, weights = example["inputs"], example["targets"], example["loss_weights"]
        assert targets.tolist() == tokens.tolist() + [VOCAB.eos_id]
        assert weights.sum() == 85 and weights[-1] == 0
        assert np.array_equal(inputs[weights == 0], targets[weights == 0])
        masked = inputs[weights == 1]
        kinds += [(masked == VOCAB.sentinel_id(0)).sum(),
                  ((masked != VOCAB.sentinel_id(0)) & (masked != targets[weights == 1])).sum(),
                  (masked == targets[weights == 1]).sum()]
    np.testing.assert_allclose(kinds / kinds.sum(), [0.8, 0.1, 0.1], atol=0.02)


def test_too_short_sequence_length_is_a_clear_error():
    with pytest.raises(DataError, match="too short for span_corruption"):
        objectives.chunk_length("span_corruption", 9)
    assert objectives.chunk_length("span_corruption", 10) == 10
    with pytest.raises(DataError, match="too short for prefix_lm"):
        objectives.chunk_length("prefix_lm", 2)
    with pytest.raises(DataError, match="sentinels"):
        objectives.chunk_length("span_corruption", 4096, extra_ids=100)
    with pytest.raises(DataError, match="allowed"):
        objectives.chunk_length("ul2", 512)
    assert objectives.chunk_length("full_lm", 512) == 511
