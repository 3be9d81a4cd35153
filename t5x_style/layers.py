"""The layers all three architectures share (Flax Linen), T5 v1.1 style.

Pre-RMSNorm residual blocks, gated-GELU (or plain) MLP, multi-head attention without biases that
takes any boolean mask `[batch, heads | 1, q, k]` (so per-head patterns are data, not code) and an
optional KV cache, and the four position encodings of the study. Every parameter is created with
logical axis names; `partitioning.py` maps them onto a mesh.
"""

import functools
import operator

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

Array = jnp.ndarray
NEG_INF = -1e10  # Masked attention logits; finite so fully-masked rows give zeros, not NaN.


def dtype_of(name: str):
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]


class Projection(nn.Module):
    """x @ kernel over the last `in_ndim` axes of x, with a kernel of shape in_shape + out_shape
    that carries one logical axis name per dimension (what Flax's DenseGeneral cannot: it
    initialises a flat 2-D kernel, which breaks 3-D logical sharding under a mesh). No bias;
    T5's initialiser: variance scaling over the fan-in."""
    out_shape: tuple[int, ...]
    kernel_axes: tuple[str, ...]
    in_ndim: int = 1
    init_scale: float = 1.0
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        in_axes = tuple(range(self.in_ndim))
        out_axes = tuple(range(self.in_ndim, self.in_ndim + len(self.out_shape)))
        init = nn.initializers.variance_scaling(self.init_scale, "fan_in", "truncated_normal",
                                                in_axis=in_axes, out_axis=out_axes)
        kernel = self.param("kernel", nn.with_logical_partitioning(init, self.kernel_axes),
                            x.shape[x.ndim - self.in_ndim:] + tuple(self.out_shape), self.param_dtype)
        # As one 2-D matmul (tokens, in) @ (in, out): with the batch and length axes kept apart,
        # XLA:CPU transposes the output gradient for the weight gradient in a copy that costs
        # 37% of a small model's step (profiled); flat, that copy disappears.
        batch_shape, in_shape = x.shape[:x.ndim - self.in_ndim], x.shape[x.ndim - self.in_ndim:]
        flat_x = x.reshape(-1, int(np.prod(in_shape))).astype(self.dtype)  # (tokens, in)
        flat_kernel = kernel.reshape(flat_x.shape[1], -1).astype(self.dtype)  # (in, out)
        return (flat_x @ flat_kernel).reshape(batch_shape + tuple(self.out_shape))


class RMSNorm(nn.Module):
    """T5's layer norm: scale only, no mean subtraction and no bias; computed in float32."""
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + self.epsilon)
        scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                           (x.shape[-1],), self.param_dtype)
        return (normed * scale.astype(jnp.float32)).astype(self.dtype)


ACTIVATIONS = {"gelu": nn.gelu, "relu": nn.relu, "silu": nn.silu, "linear": lambda x: x}


class Mlp(nn.Module):
    """T5X's MlpBlock without biases: one input projection per activation, their product, then the
    output projection. ('gelu', 'linear') is T5 v1.1's gated GELU (wi_0, wi_1, wo); ('gelu',) the
    plain GPT MLP (wi, wo); ('relu',) T5 v1.0's."""
    d_ff: int
    activations: tuple[str, ...] = ("gelu", "linear")
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        dense = functools.partial(Projection, dtype=self.dtype, param_dtype=self.param_dtype)
        count = len(self.activations)
        names = ["wi"] if count == 1 else [f"wi_{i}" for i in range(count)]
        activated = [ACTIVATIONS[activation](dense((self.d_ff,), ("embed", "mlp"), name=name)(x))
                     for activation, name in zip(self.activations, names)]  # each (B, T, F)
        hidden = nn.with_logical_constraint(functools.reduce(operator.mul, activated),
                                            ("batch", "length", "mlp"))
        return dense((x.shape[-1],), ("mlp", "embed"), name="wo")(hidden)


def apply_rope(x: Array, positions: Array, max_wavelength: float) -> Array:
    """Rotary position embedding on (B, T, H, D) with integer positions (B, T)."""
    half = x.shape[-1] // 2
    inv_freq = max_wavelength ** (-jnp.arange(half, dtype=jnp.float32) / half)  # (D/2,)
    angles = positions[..., None].astype(jnp.float32) * inv_freq  # (B, T, D/2)
    sin, cos = jnp.sin(angles)[:, :, None, :], jnp.cos(angles)[:, :, None, :]  # (B, T, 1, D/2)
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def relative_position_bucket(relative_position: Array, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> Array:
    """T5's bucketing of `key_position - query_position`: exact for small distances, logarithmic up
    to `max_distance`, one bucket beyond. Unidirectional buckets fold every future position into
    bucket 0 (T5X does this in decoders); bidirectional ones give the future half the buckets."""
    n = -relative_position
    bucket = jnp.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        bucket += (n < 0) * num_buckets
        n = jnp.abs(n)
    else:
        n = jnp.maximum(n, 0)
    max_exact = num_buckets // 2
    log_ratio = jnp.log(jnp.maximum(n, 1) / max_exact) / np.log(max_distance / max_exact)
    large = jnp.minimum(max_exact + (log_ratio * (num_buckets - max_exact)).astype(jnp.int32),
                        num_buckets - 1)
    return bucket + jnp.where(n < max_exact, n, large)


class RelativePositionBias(nn.Module):
    """T5's learned per-head scalar bias by relative-position bucket, shared by all layers of a stack;
    float32 whatever the compute dtype, as the attention logits it is added to."""
    num_heads: int
    num_buckets: int
    max_distance: int
    bidirectional: bool
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, q_len: int, k_len: int, q_positions: Array | None = None) -> Array:
        """Bias (1, H, q_len, k_len) for queries and keys at slots [0, q_len) and [0, k_len); or,
        when decoding, (B, H, q_len, k_len) for queries at `q_positions` (B, q_len) and keys at the
        cache slots [0, k_len) (a cache slot holds the token of that position)."""
        if q_positions is None:  # numpy, so that the buckets below are computed while tracing
            relative = np.arange(k_len)[None, :] - np.arange(q_len)[:, None]  # (Tq, Tk)
        else:
            relative = jnp.arange(k_len)[None, None, :] - q_positions[:, :, None]  # (B, Tq, Tk)
        table = self.param("rel_embedding",
                           nn.with_logical_partitioning(nn.initializers.normal(1.0),
                                                        ("heads", "relpos_buckets")),
                           (self.num_heads, self.num_buckets), self.param_dtype)
        # Training's buckets depend only on the static lengths: computed once while tracing, they
        # reach XLA as a constant instead of an L x L log/select pass in every step.
        with jax.ensure_compile_time_eval():
            buckets = relative_position_bucket(relative, self.bidirectional, self.num_buckets,
                                               self.max_distance)
        # In float32 also because XLA:CPU's bfloat16 gather is 10x slower (profiled).
        bias = jnp.take(table.astype(jnp.float32), buckets, axis=1)  # (H, [B,] Tq, Tk)
        return bias[None] if q_positions is None else jnp.moveaxis(bias, 1, 0)


class MultiHeadAttention(nn.Module):
    """Dot-product attention with T5's scaling folded into the query initialiser (no 1/sqrt(d) at
    run time), an optional additive bias (relative positions), RoPE, and a KV cache for decoding.

    With `decode=True` the first call (inside `init`) sizes the cache from the key input
    (batch, max_length); later calls write their keys/values at the slots `kv_positions` name
    (cache slot = position, so the examples of a batch may be at different lengths) and attend
    over the whole cache, so the caller's mask has key length max_length. Writes past the end
    are dropped. With `static_kv` (cross-attention), decoding projects `inputs_kv` once, on the
    call that passes it, and later calls pass `inputs_kv=None` to reuse those keys and values.
    """
    num_heads: int
    head_dim: int
    rope_max_wavelength: float | None = None  # None: no RoPE.
    static_kv: bool = False  # Keys/values of fixed inputs (the encodings), cached when decoding.
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs_q: Array, inputs_kv: Array | None, mask: Array,
                 bias: Array | None = None,
                 q_positions: Array | None = None, kv_positions: Array | None = None,
                 decode: bool = False) -> Array:
        dense = functools.partial(Projection, (self.num_heads, self.head_dim), ("embed", "heads", "kv"),
                                  dtype=self.dtype, param_dtype=self.param_dtype)
        query = dense(init_scale=1.0 / self.head_dim, name="query")(inputs_q)
        if decode and self.static_kv and inputs_kv is None:
            key = self.variable("cache", "static_key").value
            value = self.variable("cache", "static_value").value
        else:
            key = dense(name="key")(inputs_kv)
            value = dense(name="value")(inputs_kv)
        # query: (B, T, H, D); key, value: (B, S, H, D)
        if self.rope_max_wavelength is not None:
            query = apply_rope(query, q_positions, self.rope_max_wavelength)
            key = apply_rope(key, kv_positions, self.rope_max_wavelength)
        query = nn.with_logical_constraint(query, ("batch", "length", "heads", "kv"))
        if decode and self.static_kv and inputs_kv is not None:
            self.variable("cache", "static_key", lambda: key).value = key
            self.variable("cache", "static_value", lambda: value).value = value
        elif decode and not self.static_kv:
            key, value = self._append_to_cache(key, value, kv_positions)

        logits = jnp.einsum("bthd,bshd->bhts", query, key,
                            preferred_element_type=jnp.float32)  # (B, H, T, S)
        if bias is not None:
            logits = logits + bias
        logits = jnp.where(mask, logits, NEG_INF)
        weights = jax.nn.softmax(logits, axis=-1)
        weights = jnp.where(mask, weights, 0.0).astype(self.dtype)  # Fully-masked rows -> 0.
        self.sow("intermediates", "attention_weights", weights)
        out = jnp.einsum("bhts,bshd->bthd", weights, value)  # (B, T, H, D)
        out = nn.with_logical_constraint(out, ("batch", "length", "heads", "kv"))
        return Projection((inputs_q.shape[-1],), ("heads", "kv", "embed"), in_ndim=2,
                          dtype=self.dtype, param_dtype=self.param_dtype, name="out")(out)

    def _append_to_cache(self, key: Array, value: Array, positions: Array) -> tuple[Array, Array]:
        initialized = self.has_variable("cache", "cached_key")
        cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
        cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
        if not initialized:  # `init` only sizes the cache.
            return key, value
        rows = jnp.arange(key.shape[0])[:, None]  # (B, 1) with positions (B, T): slot of each key
        cached_key.value = cached_key.value.at[rows, positions].set(key, mode="drop")
        cached_value.value = cached_value.value.at[rows, positions].set(value, mode="drop")
        return cached_key.value, cached_value.value


class TransformerLayer(nn.Module):
    """One pre-norm block: self-attention, cross-attention (encoder-decoder decoder only), MLP.

    Called under `nn.scan`, so it returns `(carry, None)`; static choices are attributes.
    """
    config: ml_collections.ConfigDict  # The model section.
    cross_attention: bool = False
    deterministic: bool = True
    decode: bool = False

    @nn.compact
    def __call__(self, x: Array, self_mask: Array, self_bias: Array | None, positions: Array,
                 encoded: Array | None, cross_mask: Array | None) -> tuple[Array, None]:
        cfg = self.config
        dtype, param_dtype = dtype_of(cfg.dtype), dtype_of(cfg.param_dtype)
        norm = functools.partial(RMSNorm, dtype=dtype, param_dtype=param_dtype)
        attention = functools.partial(
            MultiHeadAttention, num_heads=cfg.num_heads, head_dim=cfg.head_dim, dtype=dtype,
            param_dtype=param_dtype)
        dropout = nn.Dropout(cfg.dropout_rate, deterministic=self.deterministic)
        rope = cfg.rope_max_wavelength if cfg.position_encoding == "rope" else None

        h = norm(name="pre_self_attention_norm")(x)
        h = attention(rope_max_wavelength=rope, name="self_attention")(
            h, h, self_mask, self_bias, positions, positions, decode=self.decode)
        x = x + dropout(h)
        if self.cross_attention:
            h = norm(name="pre_cross_attention_norm")(x)
            h = attention(static_kv=True, name="encoder_decoder_attention")(
                h, encoded, cross_mask, decode=self.decode)
            x = x + dropout(h)
        h = norm(name="pre_mlp_norm")(x)
        h = Mlp(cfg.d_ff, tuple(cfg.mlp_activations), dtype=dtype, param_dtype=param_dtype,
                name="mlp")(h)
        x = x + dropout(h)
        return nn.with_logical_constraint(x, ("batch", "length", "embed")), None


REMAT_POLICIES = {
    "full": None,  # Save nothing; recompute the whole layer in the backward pass.
    "minimal": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # Keep matmul outputs.
}


class TransformerStack(nn.Module):
    """`num_layers` TransformerLayers under one `nn.scan` (compile time flat in depth), then the
    final RMSNorm. Scanned parameters gain a leading 'layers' axis."""
    config: ml_collections.ConfigDict
    cross_attention: bool = False

    @nn.compact
    def __call__(self, x: Array, self_mask: Array, self_bias: Array | None, positions: Array,
                 encoded: Array | None = None, cross_mask: Array | None = None, *,
                 deterministic: bool = True, decode: bool = False) -> Array:
        cfg = self.config
        layer = TransformerLayer
        if cfg.remat_policy != "none":
            layer = nn.remat(layer, policy=REMAT_POLICIES[cfg.remat_policy], prevent_cse=False)
        scanned = nn.scan(
            layer,
            variable_axes={"params": 0, "cache": 0, "intermediates": 0},
            split_rngs={"params": True, "dropout": True},
            in_axes=(nn.broadcast,) * 5,
            length=cfg.num_layers,
            unroll=min(cfg.scan_unroll, cfg.num_layers),
            metadata_params={nn.PARTITION_NAME: "layers"},
        )
        x, _ = scanned(cfg, self.cross_attention, deterministic, decode, name="layers")(
            x, self_mask, self_bias, positions, encoded, cross_mask)
        x = RMSNorm(dtype=dtype_of(cfg.dtype), param_dtype=dtype_of(cfg.param_dtype),
                    name="final_norm")(x)
        return nn.Dropout(cfg.dropout_rate, deterministic=deterministic)(x)


class Embedder(nn.Module):
    """Token embedding (shared by encoder, decoder and, if tied, the output layer) plus the learned
    absolute position table when `position_encoding == 'absolute'`."""
    config: ml_collections.ConfigDict

    def setup(self):
        cfg = self.config
        self.token_embedding = nn.Embed(
            cfg.vocab_size, cfg.d_model, dtype=dtype_of(cfg.dtype),
            param_dtype=dtype_of(cfg.param_dtype),
            embedding_init=nn.with_logical_partitioning(nn.initializers.normal(1.0),
                                                        ("vocab", "embed")))
        if cfg.position_encoding == "absolute":
            self.position_embedding = nn.Embed(
                cfg.max_length, cfg.d_model, dtype=dtype_of(cfg.dtype),
                param_dtype=dtype_of(cfg.param_dtype),
                embedding_init=nn.with_logical_partitioning(nn.initializers.normal(1.0),
                                                            ("abspos", "embed")))

    def __call__(self, tokens: Array, positions: Array) -> Array:
        x = self.token_embedding(tokens)  # (B, T, E)
        if self.config.position_encoding == "absolute":
            x = x + self.position_embedding(positions)
        return nn.with_logical_constraint(x, ("batch", "length", "embed"))

    def attend(self, x: Array) -> Array:
        """Tied output logits, rescaled by 1/sqrt(d_model) as T5X does."""
        return self.token_embedding.attend(x / np.sqrt(x.shape[-1]))


class OutputLogits(nn.Module):
    """Final projection to the vocabulary, in float32 whatever the compute dtype."""
    config: ml_collections.ConfigDict

    @nn.compact
    def __call__(self, x: Array, embedder: Embedder) -> Array:
        cfg = self.config
        if cfg.tie_embeddings:
            logits = embedder.attend(x.astype(jnp.float32))
        else:
            logits = Projection((cfg.vocab_size,), ("embed", "vocab"), dtype=jnp.float32,
                                param_dtype=dtype_of(cfg.param_dtype), name="logits_dense")(x)
        return nn.with_logical_constraint(logits.astype(jnp.float32), ("batch", "length", "vocab"))
