"""Feature conversion and packing: seqio's golden arrays, segments never joined, exact state."""

import grain
import numpy as np
import pytest

from data_fixtures import data_test_config, wiki_slice  # noqa: F401  (fixture)
from t5x_style.data import features, packing, pipeline
from t5x_style.data.errors import DataError


def a(*values):
    return np.array(values, np.int32)


def packed(examples, lengths):
    return {k: v.tolist() for k, v in packing.pack_row(examples, lengths).items()}


def test_lm_golden_from_seqio():
    examples = [features.decoder_features(a(), a(3, 9, 1)), features.decoder_features(a(), a(4, 1))]
    assert packed(examples, {"decoder": 6}) == {
        "decoder_target_tokens": [3, 9, 1, 4, 1, 0],
        "decoder_input_tokens": [0, 3, 9, 0, 4, 0],
        "decoder_loss_weights": [1, 1, 1, 1, 1, 0],
        "decoder_positions": [0, 1, 2, 0, 1, 0],
        "decoder_segment_ids": [1, 1, 1, 2, 2, 0],
        "decoder_causal_attention": [0, 0, 0, 0, 0, 0],
    }


def test_prefix_lm_golden_from_seqio():
    examples = [features.decoder_features(a(7, 8, 5, 1), a(3, 9, 1)),
                features.decoder_features(a(8, 4, 9, 3, 1), a(4, 1))]
    assert packed(examples, {"decoder": 15}) == {
        "decoder_target_tokens": [7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 1, 0],
        "decoder_input_tokens": [0, 7, 8, 5, 1, 3, 9, 0, 8, 4, 9, 3, 1, 4, 0],
        # seqio's docstring prints all ones here; its code with loss_on_targets_only=True
        # (the default) gives targets only, as below.
        "decoder_loss_weights": [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0],
        "decoder_positions": [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0],
        "decoder_segment_ids": [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0],
        "decoder_causal_attention": [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0],
    }


def test_encoder_decoder_golden_from_seqio():
    examples = [features.encoder_decoder_features(a(7, 8, 5, 1), a(3, 9, 1)),
                features.encoder_decoder_features(a(8, 4, 9, 3, 1), a(4, 1))]
    assert packed(examples, {"encoder": 10, "decoder": 7}) == {
        "encoder_input_tokens": [7, 8, 5, 1, 8, 4, 9, 3, 1, 0],
        "encoder_segment_ids": [1, 1, 1, 1, 2, 2, 2, 2, 2, 0],
        "encoder_positions": [0, 1, 2, 3, 0, 1, 2, 3, 4, 0],
        "decoder_target_tokens": [3, 9, 1, 4, 1, 0, 0],
        "decoder_input_tokens": [0, 3, 9, 0, 4, 0, 0],
        "decoder_loss_weights": [1, 1, 1, 1, 1, 0, 0],
        "decoder_segment_ids": [1, 1, 1, 2, 2, 0, 0],
        "decoder_positions": [0, 1, 2, 0, 1, 0, 0],
    }


def check_row(row: dict, stream: str) -> None:
    """Segments are contiguous, positions restart per segment, the shift stays inside one."""
    segments, positions = row[f"{stream}_segment_ids"], row[f"{stream}_positions"]
    real = segments > 0
    length = real.sum()
    assert real[:length].all() and not real[length:].any()  # Padding only at the end.
    starts = np.flatnonzero(real & (np.concatenate([[0], segments[:-1]]) != segments))
    assert segments[starts].tolist() == list(range(1, len(starts) + 1))  # Contiguous, 1, 2, ...
    assert positions[:length].tolist() == (np.arange(length) - starts[segments[:length] - 1]).tolist()
    for name, values in row.items():
        if name.startswith(stream):
            assert np.all(values[~real] == 0), name
    if stream == "decoder":
        inputs, targets = row["decoder_input_tokens"], row["decoder_target_tokens"]
        same = real[1:] & (segments[1:] == segments[:-1])
        assert np.array_equal(inputs[1:][same], targets[:-1][same])
        assert np.all(inputs[starts] == 0)  # No token leaks across a segment boundary.
    if "decoder_causal_attention" in row:  # The prefix region restarts with each segment.
        causal, weights = row["decoder_causal_attention"], row["decoder_loss_weights"]
        assert np.array_equal(causal[starts], (weights[starts] == 0).astype(np.int32))


@pytest.mark.parametrize("architecture,objective", [
    ("causal_decoder", "full_lm"), ("prefix_decoder", "prefix_lm"),
    ("prefix_decoder", "span_corruption"), ("encoder_decoder", "span_corruption")])
def test_packed_real_batches_never_join_segments(wiki_slice, architecture, objective):
    config = data_test_config(wiki_slice, architecture, objective, sequence_length=512)
    iterator = iter(pipeline.make_pipeline(config))
    for _ in range(3):
        batch = next(iterator)
        for i in range(config.data.batch_size):
            row = {k: v[i] for k, v in batch.items()}
            for stream in pipeline.model_feature_lengths(config):
                check_row(row, stream)
        assert batch["decoder_segment_ids"].max() > 1  # Packing did pack.


def documents(*sizes_per_document):
    rows = [[features.decoder_features(a(), np.arange(1, n + 1)) for n in sizes]
            for sizes in sizes_per_document]
    return grain.MapDataset.source(rows).to_iter_dataset()


def test_first_fit_packs_a_window_and_state_restores_inside_it():
    dataset = packing.PackIterDataset(documents((3, 2, 4), (5,), (2, 2, 2)), {"decoder": 6},
                                      window=2)
    iterator = iter(dataset)
    assert next(iterator)["decoder_segment_ids"].tolist() == [1, 1, 1, 2, 2, 0]
    assert next(iterator)["decoder_segment_ids"].tolist() == [1, 1, 1, 1, 0, 0]
    state = iterator.get_state()
    assert state["returned"] == 2  # Two of the first window's three rows are out.
    rest = [r["decoder_segment_ids"].tolist() for r in iterator]
    assert rest == [[1, 1, 1, 1, 1, 0], [1, 1, 2, 2, 3, 3]]
    iterator = iter(dataset)
    iterator.set_state(state)
    assert [r["decoder_segment_ids"].tolist() for r in iterator] == rest


def test_unpacked_rows_hold_one_example_each():
    rows = list(packing.PackIterDataset(documents((3, 2)), {"decoder": 6}, pack=False))
    assert [r["decoder_segment_ids"].tolist() for r in rows] == [[1, 1, 1, 0, 0, 0],
                                                                 [1, 1, 0, 0, 0, 0]]


def test_an_example_longer_than_its_row_is_an_error():
    with pytest.raises(DataError, match="7 decoder tokens but rows hold 6"):
        list(packing.PackIterDataset(documents((7,)), {"decoder": 6}))
