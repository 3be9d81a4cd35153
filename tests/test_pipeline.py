"""The pipeline: every architecture x objective, determinism, exact resume, process shards."""

import json

import numpy as np
import pytest

from data_fixtures import data_test_config, wiki_slice  # noqa: F401  (fixture)
from t5x_style.data import pipeline
from t5x_style.data.errors import DataError
from t5x_style.data.tokenizer import ByteVocabulary


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def assert_same(batches_a, batches_b):
    assert len(batches_a) == len(batches_b)
    for a, b in zip(batches_a, batches_b):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("architecture,objective,lengths", [
    ("causal_decoder", "full_lm", {"decoder": 128}),
    ("prefix_decoder", "prefix_lm", {"decoder": 128}),
    ("causal_decoder", "span_corruption", {"decoder": 128 + 29}),
    ("encoder_decoder", "span_corruption", {"encoder": 128, "decoder": 29}),
    ("encoder_decoder", "prefix_lm", {"encoder": 128, "decoder": 128}),
    ("prefix_decoder", "mlm", {"decoder": 128}),
])
def test_every_architecture_gets_its_features(wiki_slice, architecture, objective, lengths):
    config = data_test_config(wiki_slice, architecture, objective)
    assert pipeline.model_feature_lengths(config) == lengths
    batch = next(iter(pipeline.make_pipeline(config)))
    for name, value in batch.items():
        assert value.dtype == np.int32 and value.shape == (4, lengths[name.split("_")[0]]), name
    expected = {"decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
                "decoder_segment_ids", "decoder_positions"}
    expected |= ({"encoder_input_tokens", "encoder_segment_ids", "encoder_positions"}
                 if architecture == "encoder_decoder" else {"decoder_causal_attention"})
    assert set(batch) == expected
    assert batch["decoder_loss_weights"].sum() > 0


def test_impossible_pairs_and_small_vocabularies_are_clear_errors(wiki_slice):
    with pytest.raises(DataError, match="cannot train model.architecture='encoder_decoder'"):
        pipeline.make_pipeline(data_test_config(wiki_slice, "encoder_decoder", "full_lm"))
    with pytest.raises(DataError, match="bidirectional"):
        pipeline.make_pipeline(data_test_config(wiki_slice, "causal_decoder", "mlm"))
    config = data_test_config(wiki_slice)
    config.model.vocab_size = 256
    with pytest.raises(DataError, match="has 359 ids but model.vocab_size=256"):
        pipeline.make_pipeline(config)
    with pytest.raises(DataError, match="too short"):
        pipeline.make_pipeline(data_test_config(wiki_slice, objective="span_corruption",
                                                sequence_length=8))


def test_pipeline_is_deterministic_given_seed(wiki_slice):
    config = data_test_config(wiki_slice, "prefix_decoder", "span_corruption")
    first = take(iter(pipeline.make_pipeline(config)), 3)
    assert_same(first, take(iter(pipeline.make_pipeline(config)), 3))
    config.data.seed = 1
    other = take(iter(pipeline.make_pipeline(config)), 3)
    assert not np.array_equal(first[0]["decoder_target_tokens"], other[0]["decoder_target_tokens"])


def test_restored_iterator_state_gives_the_same_next_batches(wiki_slice):
    config = data_test_config(wiki_slice, "encoder_decoder", "span_corruption")
    iterator = iter(pipeline.make_pipeline(config))
    take(iterator, 5)
    state = json.loads(json.dumps(iterator.get_state()))  # What a checkpoint stores.
    expected = take(iterator, 4)
    resumed = iter(pipeline.make_pipeline(config))
    resumed.set_state(state)
    assert_same(expected, take(resumed, 4))


def documents_of(config, process_index, process_count):
    """Texts read by one process in one ordered pass (one unpacked example per row)."""
    vocab = ByteVocabulary()
    texts = []
    for batch in pipeline.make_pipeline(config, training=False, process_index=process_index,
                                        process_count=process_count):
        for row, segments in zip(batch["decoder_target_tokens"], batch["decoder_segment_ids"]):
            if segments.any():
                texts.append(vocab.decode(row))
    return texts


def test_two_process_shards_are_disjoint_and_cover_the_split(wiki_slice):
    config = data_test_config(wiki_slice, sequence_length=4096, pack=False)
    everything = documents_of(config, 0, 1)
    shard_0, shard_1 = documents_of(config, 0, 2), documents_of(config, 1, 2)
    assert len(everything) == 16  # The slice's held-out (validation) records.
    assert not set(shard_0) & set(shard_1)
    assert sorted(shard_0 + shard_1) == sorted(everything)
    with pytest.raises(DataError, match="divisible"):
        pipeline.make_pipeline(config, process_count=3)


def test_eval_pass_is_finite_and_pads_the_last_batch(wiki_slice):
    config = data_test_config(wiki_slice, sequence_length=4096, pack=False)
    batches = list(pipeline.make_pipeline(config, training=False))
    assert [b["decoder_target_tokens"].shape[0] for b in batches] == [4] * 4
    last = batches[-1]
    empty = ~last["decoder_segment_ids"].any(axis=1)
    assert all(not last[k][empty].any() for k in last)
