"""Training FLOPs per step, the numerator of MFU (MaxText's convention, as in reference/peers.md).

Rule, per token position that passes through a stack of weights:
  matmuls     6 x (matmul parameters it passes through)   forward 2, backward 4 (grads of
              activations and of weights). Embedding lookups, norms, softmax, position biases and
              the optimizer are not counted. The output layer (d_model x vocab) is a matmul and is.
  attention   per layer, forward QK^T and AV are 2 matmuls of 2·Lq·Lk·(heads·head_dim) FLOPs
              each, times 3 for training: 12·Lq·Lk·H·D, scaled by the fraction of (query, key) pairs
              the mask lets through, as a block-sparse kernel would compute them:
                causal decoder   half of L²                    -> 6·L²·H·D
                prefix decoder   the P² prefix block fully, half of the rest: P² + (L² - P²)/2
                encoder-decoder  encoder self L_e² (full) + decoder self L_d²/2 + cross L_d·L_e
Rows are counted whole: packing several examples into a row does not lower the count (a dense
kernel does the same work), matching how T5X/MaxText report.

Per layer: attention q,k,v,out = 4·d_model·H·D; MLP (one wi per activation, and wo)
= (activations + 1)·d_model·d_ff (gated GELU: 3).
In the encoder-decoder's cross attention q and out run over decoder positions, k and v over
encoder positions.
"""

from collections.abc import Mapping

import ml_collections
import numpy as np

from t5x_style import counting


def _attention_width(m: ml_collections.ConfigDict) -> int:
    return m.num_heads * m.head_dim


def _projection_params(m: ml_collections.ConfigDict) -> int:
    """One of q, k, v, out: d_model x (heads * head_dim)."""
    return m.d_model * _attention_width(m)


def train_flops_per_step(m: ml_collections.ConfigDict, batch_size: int, decoder_length: int,
                         encoder_length: int = 0, prefix_length: float = 0.0) -> float:
    """FLOPs of one training step (forward + backward) for `batch_size` rows.

    `prefix_length` (prefix decoder) is the mean bidirectional prefix length P per row.
    """
    width = _attention_width(m)
    logits = m.d_model * m.vocab_size
    self_layer = 4 * _projection_params(m) + counting.mlp_params(m)
    ld = decoder_length
    if m.architecture == "encoder_decoder":
        le = encoder_length
        # Encoder: self attention + MLP over L_e; decoder adds cross attention (q, out over L_d;
        # k, v over L_e).
        matmul_token_params = m.num_layers * (
            le * self_layer
            + ld * (self_layer + 2 * _projection_params(m))
            + le * 2 * _projection_params(m)) + ld * logits
        attended_pairs = le * le + ld * ld / 2 + ld * le
    else:
        matmul_token_params = m.num_layers * ld * self_layer + ld * logits
        p = prefix_length if m.architecture == "prefix_decoder" else 0.0
        attended_pairs = p * p + (ld * ld - p * p) / 2
    attention_per_layer = 12 * attended_pairs * width
    per_row = 6 * matmul_token_params + m.num_layers * attention_per_layer
    return float(batch_size * per_row)


def batch_train_flops(m: ml_collections.ConfigDict, batch: Mapping[str, np.ndarray]) -> float:
    """`train_flops_per_step` for a (global) batch of T5X features, reading its shapes.

    For the prefix decoder, P is the mean count of `decoder_causal_attention` ones per row.
    """
    batch_size, decoder_length = batch["decoder_target_tokens"].shape
    encoder_length = 0
    if "encoder_input_tokens" in batch:
        encoder_length = batch["encoder_input_tokens"].shape[1]
    prefix_length = 0.0
    if m.architecture == "prefix_decoder":
        prefix_length = float(np.asarray(batch["decoder_causal_attention"]).sum(axis=1).mean())
    return train_flops_per_step(m, batch_size, decoder_length, encoder_length, prefix_length)
