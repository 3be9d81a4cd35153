"""The attention-FLOP rule per architecture and the matmul term, against hand counts."""

import pytest

from t5x_style import config as config_lib
from t5x_style import flops


def _model(architecture, **shape):
    m = config_lib.model_config(architecture)
    m.update(dict(d_model=256, num_heads=4, head_dim=64, d_ff=1024, num_layers=4, vocab_size=1024))
    m.update(shape)
    return m


def test_causal_decoder_matches_a_hand_count():
    b, l = 16, 256
    per_layer = 4 * 256 * 256 + 3 * 256 * 1024
    matmul = 6 * (4 * per_layer + 256 * 1024) * b * l
    attention = 4 * 12 * (l * l / 2) * 256 * b
    assert flops.train_flops_per_step(_model("causal_decoder"), b, l) == pytest.approx(
        matmul + attention)


def test_prefix_block_counts_fully():
    causal = flops.train_flops_per_step(_model("causal_decoder"), 2, 64)
    no_prefix = flops.train_flops_per_step(_model("prefix_decoder"), 2, 64, prefix_length=0)
    full_prefix = flops.train_flops_per_step(_model("prefix_decoder"), 2, 64, prefix_length=64)
    assert no_prefix == causal
    one_layer_half_attention = 12 * (64 * 64 / 2) * 256 * 2
    assert full_prefix - causal == pytest.approx(4 * one_layer_half_attention)


def test_encoder_decoder_counts_encoder_self_decoder_self_and_cross():
    m = _model("encoder_decoder", num_layers=1)
    le, ld = 32, 16
    got = flops.train_flops_per_step(m, 1, ld, encoder_length=le)
    proj, mlp = 256 * 256, 3 * 256 * 1024
    matmul = 6 * ((le + ld) * (4 * proj + mlp) + (ld + le) * 2 * proj + ld * 256 * 1024)
    attention = 12 * (le * le + ld * ld / 2 + ld * le) * 256
    assert got == pytest.approx(matmul + attention)


def test_batch_reads_shapes_and_prefix_length():
    import numpy as np
    batch = {"decoder_target_tokens": np.zeros((2, 64), np.int32),
             "decoder_causal_attention": np.repeat(np.arange(64)[None] < 64, 2, axis=0)}
    assert flops.batch_train_flops(_model("prefix_decoder"), batch) == \
        flops.train_flops_per_step(_model("prefix_decoder"), 2, 64, prefix_length=64)
