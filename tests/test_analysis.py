"""Attention-rank analysis and the matched-pair helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from t5x_style import config as config_lib
from t5x_style import counting, flops, models
from t5x_style.analysis import attention_rank

LENGTH = 24


def model_and_params(architecture, **model_fields):
    config = config_lib.default_config()
    config.model.architecture = architecture
    for name, value in model_fields.items():
        config.model[name] = value
    model = models.build_model(config)
    return model, model.init_params(jax.random.key(1))


def lm_batch(architecture, bidirectional=False):
    tokens = jax.random.randint(jax.random.key(2), (2, LENGTH), 3, 300, dtype=jnp.int32)
    batch = dict(decoder_input_tokens=tokens, decoder_target_tokens=tokens,
                 decoder_loss_weights=jnp.ones_like(tokens),
                 decoder_causal_attention=jnp.full_like(tokens, int(bidirectional)))
    if architecture == "encoder_decoder":
        batch["encoder_input_tokens"] = tokens
    return batch


def test_causal_attention_is_full_rank_on_a_random_model():
    model, params = model_and_params("causal_decoder")
    maps = attention_rank.attention_maps(model, params, lm_batch("causal_decoder"))["decoder"]
    assert maps.shape == (2, 2, 4, LENGTH, LENGTH)  # (layers, batch, heads, q, k)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(maps, k=1) == 0)  # Causal: nothing above the diagonal.
    ranks = attention_rank.rank_by_layer_and_head(maps)
    np.testing.assert_array_equal(ranks["provably_full"], 1.0)
    assert np.all(ranks["numerical"] >= LENGTH - 2)  # Ill-conditioned, yet nearly full.


def test_bidirectional_maps_are_not_provably_full_rank_and_mixed_heads_are():
    model, params = model_and_params("prefix_decoder")
    maps = attention_rank.attention_maps(model, params, lm_batch("prefix_decoder", True))["decoder"]
    assert not attention_rank.provably_full_rank(maps).any()
    model, params = model_and_params("prefix_decoder", bidirectional_pattern="forward_backward")
    maps = attention_rank.attention_maps(model, params, lm_batch("prefix_decoder", True))["decoder"]
    assert attention_rank.provably_full_rank(maps).all()
    assert np.all(np.tril(maps[:, :, 2:], k=-1) == 0)  # The second half of the heads look forward.


@pytest.mark.parametrize("architecture, bidirectional", [("prefix_decoder", True),
                                                          ("encoder_decoder", False)])
def test_ranks_match_a_direct_numpy_svd(architecture, bidirectional):
    model, params = model_and_params(architecture, bidirectional_pattern="full")
    maps = attention_rank.attention_maps(model, params, lm_batch(architecture, bidirectional))
    stack = "encoder" if architecture == "encoder_decoder" else "decoder"
    ranks = attention_rank.rank_by_layer_and_head(maps[stack])
    for layer in range(2):
        for head in range(4):
            matrices = maps[stack][layer, :, head].astype(np.float64)
            expected = np.mean([np.linalg.matrix_rank(m) for m in matrices])
            assert ranks["numerical"][layer, head] == expected
            s = np.linalg.svd(matrices, compute_uv=False)
            p = s / s.sum(-1, keepdims=True)
            np.testing.assert_allclose(ranks["effective"][layer, head],
                                       np.mean(np.exp(-(p * np.log(p)).sum(-1))), rtol=1e-10)


def test_effective_rank_bounds():
    assert attention_rank.effective_rank(np.array([3.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert attention_rank.effective_rank(np.array([2.0, 2.0, 2.0, 2.0])) == pytest.approx(4.0)


@pytest.mark.parametrize("size", ["small", "base", "xxl"])
def test_parameter_and_compute_matched_encoder_decoders(size):
    decoder = config_lib.model_config("causal_decoder", size)
    matched = counting.parameter_matched_encoder_decoder(decoder)
    # Within one decoder layer's parameters of the decoder, at about half the layers.
    assert abs(counting.count_params(matched) - counting.count_params(decoder)) \
        <= counting.layer_params(decoder, cross_attention=True)
    # Decoder layers with cross-attention are larger, so fewer than half the layers each.
    assert decoder.num_layers / 3 <= matched.num_layers <= decoder.num_layers / 2
    same_compute = counting.compute_matched_encoder_decoder(decoder)
    assert same_compute.num_layers == decoder.num_layers
    # Inputs 512 + targets 114 (Wang et al.): the decoder reads the 626-token concatenation. The
    # layers' compute is equal up to the cross-attention projections (+15-21% for these shapes); the
    # output layer is not matched (the decoder computes logits at 626 positions, not 114), so
    # compare with a negligible vocabulary.
    decoder.vocab_size = same_compute.vocab_size = 128
    decoder_flops = flops.train_flops_per_step(decoder, 1, 626)
    encoder_decoder_flops = flops.train_flops_per_step(same_compute, 1, 114, encoder_length=512)
    assert decoder_flops < encoder_decoder_flops < 1.25 * decoder_flops
    assert counting.count_params(same_compute) == pytest.approx(2 * counting.count_params(decoder),
                                                                rel=0.3)
