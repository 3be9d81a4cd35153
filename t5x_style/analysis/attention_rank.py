"""Rank of self-attention matrices, per layer and head (Su's argument for decoder-only models).

A causal attention matrix is lower-triangular with a positive diagonal (softmax weights are
never zero), so its determinant is the product of the diagonal and it is always full rank; so is
each head of the forward/backward mix (lower- or upper-triangular). A bidirectional one is
softmax(Q Kᵀ) with Q Kᵀ of rank <= head_dim, and can lose rank. Measures per (layer, head),
averaged over the batch:
  provably full    the fraction of maps that are triangular with a positive diagonal: full rank
                   in exact arithmetic, whatever their conditioning
  numerical rank   singular values above `max(s) * n * eps(float64)` (numpy's matrix_rank rule on
                   the float32 maps, exactly represented in float64). Causal maps are often so
                   ill-conditioned (condition numbers near 1e16 at random init) that this counts
                   one or two fewer than n: nearly singular, though not singular.
  effective rank   exp(entropy of s / sum(s)) (Roy & Vetterli, 2007): 1 for a rank-one matrix,
                   n for n equal singular values; smooth where the numerical rank is not.
"""

import jax
import numpy as np

from t5x_style.models import Batch, Model



def attention_maps(model: Model, params, batch: Batch) -> dict[str, np.ndarray]:
    """Self-attention probabilities per stack ('decoder', and 'encoder' for the encoder-decoder),
    each (layers, batch, heads, q_len, k_len)."""
    @jax.jit
    def capture(params, batch):
        _, state = model.module.apply({"params": params}, **model.network_inputs(batch),
                                      mutable=["intermediates"])
        return {stack: tree["layers"]["self_attention"]["attention_weights"][0]
                for stack, tree in state["intermediates"].items()}
    return {stack: np.asarray(maps) for stack, maps in capture(params, batch).items()}


def singular_values(maps: np.ndarray) -> np.ndarray:
    """(..., n, n) -> (..., n) singular values in float64, largest first."""
    return np.linalg.svd(maps.astype(np.float64), compute_uv=False)


def numerical_rank(singular: np.ndarray) -> np.ndarray:
    """Count of singular values above numpy's matrix_rank tolerance for float64 matrices."""
    n = singular.shape[-1]
    tolerance = singular[..., :1] * n * np.finfo(np.float64).eps
    return np.sum(singular > tolerance, axis=-1)


def provably_full_rank(maps: np.ndarray) -> np.ndarray:
    """(..., n, n) -> (...) bool: triangular (either way) with every diagonal entry positive."""
    diagonal_positive = np.all(np.diagonal(maps, axis1=-2, axis2=-1) > 0, axis=-1)
    lower = np.all(np.triu(maps, k=1) == 0, axis=(-2, -1))
    upper = np.all(np.tril(maps, k=-1) == 0, axis=(-2, -1))
    return diagonal_positive & (lower | upper)


def effective_rank(singular: np.ndarray) -> np.ndarray:
    """exp(Shannon entropy of the normalised singular values)."""
    p = singular / np.sum(singular, axis=-1, keepdims=True)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return np.exp(entropy)


def rank_by_layer_and_head(maps: np.ndarray) -> dict[str, np.ndarray]:
    """(layers, batch, heads, n, n) maps -> {'provably_full', 'numerical', 'effective'}:
    (layers, heads) batch means, plus 'size': n (the full rank)."""
    singular = singular_values(maps)
    return dict(provably_full=provably_full_rank(maps).mean(axis=1),
                numerical=numerical_rank(singular).mean(axis=1),
                effective=effective_rank(singular).mean(axis=1),
                size=maps.shape[-1])
