"""Every attention mask of the study, as boolean arrays `[batch, heads | 1, q_len, k_len]`.

`mask[b, h, i, j]` is True when query position i may attend to key position j. Masks that do not
depend on the head have a head axis of 1 and broadcast; the forward/backward mix has one entry per
head. Masks combine with `combine` (logical AND). Semantics follow T5X/seqio exactly, so the golden
arrays in their docstrings (repeated below) are our tests.
"""

import jax.numpy as jnp

Array = jnp.ndarray


def pairwise(query: Array, key: Array, fn) -> Array:
    """`fn(query[b, i], key[b, j])` as `[batch, 1, q_len, k_len]`.

    Example: pairwise(jnp.array([[1, 1, 2]]), jnp.array([[1, 2]]), jnp.equal)[0, 0].astype(int)
    [[1, 0], [1, 0], [0, 1]]
    """
    return fn(query[:, None, :, None], key[:, None, None, :])


def combine(*masks: Array | None) -> Array | None:
    """Logical AND of the masks given (None entries are skipped; None if none remain)."""
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    out = masks[0]
    for m in masks[1:]:
        out = jnp.logical_and(out, m)
    return out


def causal(tokens: Array) -> Array:
    """Lower-triangular: position i sees positions j <= i. Depends on the shape of `tokens` only.

    Example: causal(jnp.zeros((1, 3)))[0, 0].astype(int)
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    idx = jnp.broadcast_to(jnp.arange(tokens.shape[-1]), tokens.shape)
    return pairwise(idx, idx, jnp.greater_equal)


def padding(query_tokens: Array, key_tokens: Array) -> Array:
    """Both positions hold a real token (id > 0; 0 is padding).

    Example: padding(jnp.array([[5, 6, 0]]), jnp.array([[7, 0]]))[0, 0].astype(int)
    [[1, 0], [1, 0], [0, 0]]
    """
    return pairwise(query_tokens > 0, key_tokens > 0, jnp.logical_and)


def segments(query_segment_ids: Array, key_segment_ids: Array) -> Array:
    """Packing: positions attend only within their own packed example (same segment id).

    Example: segments(jnp.array([[1, 1, 2]]), jnp.array([[1, 1, 2]]))[0, 0].astype(int)
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    return pairwise(query_segment_ids, key_segment_ids, jnp.equal)


def prefix(decoder_causal_attention: Array) -> Array:
    """Non-causal decoder (prefix LM): causal OR (dca ⊗ dca), as T5X's `make_decoder_mask`.

    Positions with `decoder_causal_attention == 1` (the inputs plus the first target position,
    as seqio's PrefixLMFeatureConverter sets it) see each other both ways; the rest is causal.

    Example: prefix(jnp.array([[1, 1, 0, 0]]))[0, 0].astype(int)
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    """
    dca = decoder_causal_attention > 0
    return jnp.logical_or(causal(dca), pairwise(dca, dca, jnp.logical_and))


def forward_backward(bidirectional: Array, num_heads: int) -> Array:
    """Su's mixed attention: where both positions are in the bidirectional region, the first half
    of the heads look backward only (j <= i, lower-triangular) and the second half forward only
    (j >= i, upper-triangular); outside that region every head is causal.

    `bidirectional` is `[batch, length]` of 0/1 (all ones for an encoder, `decoder_causal_attention`
    for a prefix decoder). Returns `[batch, num_heads, length, length]`.

    Example: m = forward_backward(jnp.array([[1, 1, 0]]), num_heads=2)[0].astype(int)
    m[0], a backward-looking (lower-triangular) head:
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    m[1], a forward-looking head (upper-triangular inside the region, causal outside it):
    [[1, 1, 0], [0, 1, 0], [1, 1, 1]]
    """
    if num_heads % 2:
        raise ValueError(f"forward_backward attention needs an even number of heads, got {num_heads}")
    region = bidirectional > 0
    idx = jnp.broadcast_to(jnp.arange(region.shape[-1]), region.shape)
    lower = pairwise(idx, idx, jnp.greater_equal)  # [b, 1, L, L]
    upper = pairwise(idx, idx, jnp.less_equal)
    inside = pairwise(region, region, jnp.logical_and)
    backward_heads = jnp.where(inside, upper, lower)
    half = num_heads // 2
    return jnp.concatenate([jnp.repeat(lower, half, axis=1), jnp.repeat(backward_heads, half, axis=1)],
                           axis=1)


def decoder_self_attention(decoder_target_tokens: Array,
                           decoder_causal_attention: Array | None = None,
                           decoder_segment_ids: Array | None = None,
                           forward_backward_heads: int | None = None) -> Array:
    """The decoder's self-attention mask: causal or prefix, AND padding, AND packing.

    With `decoder_causal_attention`, the prefix region is bidirectional (T5X's prefix LM); with
    `forward_backward_heads` as well, that region is split into forward and backward heads instead.

    T5X golden example (examples/decoder_only/layers.py): two packed prefix-LM examples
        decoder_target_tokens    = [[6, 7, 8, 3, 4, 5, 0]]
        decoder_segment_ids      = [[1, 1, 1, 2, 2, 2, 0]]
        decoder_causal_attention = [[1, 1, 0, 1, 1, 0, 0]]
    give
        [[1, 1, 0, 0, 0, 0, 0],
         [1, 1, 0, 0, 0, 0, 0],
         [1, 1, 1, 0, 0, 0, 0],
         [0, 0, 0, 1, 1, 0, 0],
         [0, 0, 0, 1, 1, 0, 0],
         [0, 0, 0, 1, 1, 1, 0],
         [0, 0, 0, 0, 0, 0, 0]]
    """
    if decoder_causal_attention is None:
        attention = causal(decoder_target_tokens)
    elif forward_backward_heads:
        attention = forward_backward(decoder_causal_attention, forward_backward_heads)
    else:
        attention = prefix(decoder_causal_attention)
    return combine(attention,
                   padding(decoder_target_tokens, decoder_target_tokens),
                   None if decoder_segment_ids is None
                   else segments(decoder_segment_ids, decoder_segment_ids))


def encoder_self_attention(encoder_input_tokens: Array,
                           encoder_segment_ids: Array | None = None,
                           forward_backward_heads: int | None = None) -> Array:
    """The encoder's mask: bidirectional (or forward/backward per head) AND padding AND packing."""
    attention = None
    if forward_backward_heads:
        attention = forward_backward(jnp.ones_like(encoder_input_tokens), forward_backward_heads)
    return combine(attention,
                   padding(encoder_input_tokens, encoder_input_tokens),
                   None if encoder_segment_ids is None
                   else segments(encoder_segment_ids, encoder_segment_ids))


def cross_attention(decoder_target_tokens: Array, encoder_input_tokens: Array,
                    decoder_segment_ids: Array | None = None,
                    encoder_segment_ids: Array | None = None) -> Array:
    """Encoder-decoder attention: every real decoder position sees every real encoder position of
    its own packed example."""
    return combine(padding(decoder_target_tokens, encoder_input_tokens),
                   None if decoder_segment_ids is None
                   else segments(decoder_segment_ids, encoder_segment_ids))
