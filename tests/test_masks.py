"""Golden masks: the T5X/seqio docstring arrays and every worked example in masks.py."""

import jax.numpy as jnp
import numpy as np
import pytest

from t5x_style import masks


def as_int(mask):
    return np.asarray(mask).astype(int).tolist()


def test_t5x_make_decoder_mask_golden():
    # t5x/examples/decoder_only/layers.py: make_decoder_mask docstring.
    mask = masks.decoder_self_attention(
        decoder_target_tokens=jnp.array([[6, 7, 8, 3, 4, 5, 0]]),
        decoder_causal_attention=jnp.array([[1, 1, 0, 1, 1, 0, 0]]),
        decoder_segment_ids=jnp.array([[1, 1, 1, 2, 2, 2, 0]]))
    assert mask.shape == (1, 1, 7, 7)
    assert as_int(mask[0, 0]) == [[1, 1, 0, 0, 0, 0, 0],
                                  [1, 1, 0, 0, 0, 0, 0],
                                  [1, 1, 1, 0, 0, 0, 0],
                                  [0, 0, 0, 1, 1, 0, 0],
                                  [0, 0, 0, 1, 1, 0, 0],
                                  [0, 0, 0, 1, 1, 1, 0],
                                  [0, 0, 0, 0, 0, 0, 0]]


def test_seqio_prefix_lm_packed_example_mask():
    # seqio PrefixLMFeatureConverter docstring: inputs [7, 8, 5, 1] + targets [3, 9, 1], then
    # inputs [8, 4, 9, 3, 1] + targets [4, 1]; dca covers the inputs and the first target position.
    targets = jnp.array([[7, 8, 5, 1, 3, 9, 1, 8, 4, 9, 3, 1, 4, 1, 0]])
    dca = jnp.array([[1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]])
    segment_ids = jnp.array([[1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0]])
    mask = np.asarray(masks.decoder_self_attention(targets, dca, segment_ids)[0, 0])
    for i in range(15):
        for j in range(15):
            same_segment = segment_ids[0, i] == segment_ids[0, j] != 0
            both_prefix = dca[0, i] and dca[0, j]
            assert mask[i, j] == (same_segment and (j <= i or both_prefix)), (i, j)
    # The first target position (4) sees the whole prefix, including itself, not beyond.
    assert as_int(mask[4, :7]) == [1, 1, 1, 1, 1, 0, 0]


def test_docstring_examples():
    assert as_int(masks.pairwise(jnp.array([[1, 1, 2]]), jnp.array([[1, 2]]), jnp.equal)[0, 0]) == \
        [[1, 0], [1, 0], [0, 1]]
    assert as_int(masks.causal(jnp.zeros((1, 3)))[0, 0]) == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert as_int(masks.padding(jnp.array([[5, 6, 0]]), jnp.array([[7, 0]]))[0, 0]) == \
        [[1, 0], [1, 0], [0, 0]]
    assert as_int(masks.segments(jnp.array([[1, 1, 2]]), jnp.array([[1, 1, 2]]))[0, 0]) == \
        [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert as_int(masks.prefix(jnp.array([[1, 1, 0, 0]]))[0, 0]) == \
        [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    m = masks.forward_backward(jnp.array([[1, 1, 0]]), num_heads=2)[0]
    assert as_int(m[0]) == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert as_int(m[1]) == [[1, 1, 0], [0, 1, 0], [1, 1, 1]]


def test_forward_backward_encoder_is_half_lower_half_upper_triangular():
    tokens = jnp.array([[5, 6, 7, 8, 0]])
    mask = np.asarray(masks.encoder_self_attention(tokens, forward_backward_heads=4))
    assert mask.shape == (1, 4, 5, 5)
    real = np.outer(tokens[0] > 0, tokens[0] > 0)
    lower, upper = np.tril(np.ones((5, 5), bool)), np.triu(np.ones((5, 5), bool))
    for head in range(2):
        np.testing.assert_array_equal(mask[0, head], lower & real)
        np.testing.assert_array_equal(mask[0, head + 2], upper & real)
    # Together the two directions cover the full bidirectional mask of the plain encoder.
    full = np.asarray(masks.encoder_self_attention(tokens))[0, 0]
    np.testing.assert_array_equal(mask[0, 0] | mask[0, 2], full)


def test_forward_backward_needs_even_heads():
    with pytest.raises(ValueError, match="even number of heads, got 3"):
        masks.forward_backward(jnp.ones((1, 4)), num_heads=3)


def test_cross_attention_sees_every_real_encoder_token_of_its_segment():
    mask = masks.cross_attention(
        decoder_target_tokens=jnp.array([[3, 4, 5, 0]]), encoder_input_tokens=jnp.array([[7, 8, 9, 0, 0]]),
        decoder_segment_ids=jnp.array([[1, 1, 2, 0]]), encoder_segment_ids=jnp.array([[1, 2, 2, 0, 0]]))
    assert as_int(mask[0, 0]) == [[1, 0, 0, 0, 0],
                                  [1, 0, 0, 0, 0],
                                  [0, 1, 1, 0, 0],
                                  [0, 0, 0, 0, 0]]
