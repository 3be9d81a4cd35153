"""Properties of the three architectures, for every position encoding.

Causality, prefix visibility, encoder-decoder visibility, packing == separate runs, KV-cache
decoding == full forward, and causal/non-causal decoders sharing parameters.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model_fixtures import tiny_model
from t5x_style import config as config_lib
from t5x_style import layers, models

LENGTH = 12
POSITION_ENCODINGS = config_lib.POSITION_ENCODINGS


@functools.lru_cache(maxsize=None)
def make(architecture, position_encoding="relative", bidirectional_pattern="full"):
    model, params = tiny_model(architecture, position_encoding, bidirectional_pattern)
    return model, params, jax.jit(model.logits)


def random_tokens(seed, shape, vocab=300):
    return jax.random.randint(jax.random.key(seed), shape, 3, vocab, dtype=jnp.int32)


def decoder_batch(targets, prefix_length=None):
    """Full-LM (or, with prefix_length, prefix-LM) features for unpacked rows of real tokens."""
    inputs = jnp.pad(targets[:, :-1], ((0, 0), (1, 0)))
    batch = dict(decoder_input_tokens=inputs, decoder_target_tokens=targets,
                 decoder_loss_weights=jnp.ones_like(targets),
                 decoder_causal_attention=jnp.zeros_like(targets))
    if prefix_length is not None:
        positions = jnp.arange(targets.shape[1])[None]
        batch["decoder_causal_attention"] = (positions <= prefix_length).astype(jnp.int32) + 0 * targets
        batch["decoder_loss_weights"] = (positions >= prefix_length).astype(jnp.int32) + 0 * targets
    return batch


def encoder_decoder_batch(encoder_tokens, targets):
    return dict(encoder_input_tokens=encoder_tokens,
                decoder_input_tokens=jnp.pad(targets[:, :-1], ((0, 0), (1, 0))),
                decoder_target_tokens=targets, decoder_loss_weights=jnp.ones_like(targets))


def changed_positions(logits_a, logits_b):
    """Per position (over batch and vocab): did the logits change?"""
    return np.asarray(jnp.max(jnp.abs(logits_a - logits_b), axis=(0, 2)) > 1e-5)


@pytest.mark.parametrize("position_encoding", POSITION_ENCODINGS)
def test_causal_decoder_never_sees_the_future(position_encoding):
    _, params, logits = make("causal_decoder", position_encoding)
    targets = random_tokens(0, (2, LENGTH))
    base = logits(params, decoder_batch(targets))
    for t in (0, 5, LENGTH - 2):
        perturbed = targets.at[:, t + 1:].set(random_tokens(t + 1, (2, LENGTH - t - 1)))
        changed = changed_positions(base, logits(params, decoder_batch(perturbed)))
        # Target t+1 is the input at t+2, so logits up to t+1 must not move; later ones must.
        assert not changed[:t + 2].any(), (t, changed)
        assert changed[t + 2:].all(), (t, changed)


@pytest.mark.parametrize("bidirectional_pattern", config_lib.BIDIRECTIONAL_PATTERNS)
@pytest.mark.parametrize("position_encoding", POSITION_ENCODINGS)
def test_prefix_decoder_visibility(position_encoding, bidirectional_pattern):
    _, params, logits = make("prefix_decoder", position_encoding, bidirectional_pattern)
    prefix_length = 6  # inputs are targets[:6]; dca covers positions 0..6 (inputs + first target).
    targets = random_tokens(1, (2, LENGTH))
    base = logits(params, decoder_batch(targets, prefix_length))
    # Target tokens (read as inputs from position 7 on) never change the prefix positions.
    suffix_changed = targets.at[:, prefix_length + 1:].set(random_tokens(2, (2, LENGTH - 7)))
    changed = changed_positions(base, logits(params, decoder_batch(suffix_changed, prefix_length)))
    assert not changed[:prefix_length + 2].any() and changed[prefix_length + 2:].all(), changed
    # A late prefix token (input at position 5) is seen by earlier prefix positions: bidirectional
    # (through every head with full attention, through the forward-looking half otherwise).
    late_input_changed = targets.at[:, 4].set(targets[:, 4] % 250 + 4)
    changed = changed_positions(base, logits(params, decoder_batch(late_input_changed, prefix_length)))
    assert changed.all(), changed


@pytest.mark.parametrize("position_encoding", POSITION_ENCODINGS)
def test_encoder_decoder_visibility(position_encoding):
    _, params, logits = make("encoder_decoder", position_encoding)
    encoder_tokens, targets = random_tokens(3, (2, 9)), random_tokens(4, (2, LENGTH))
    base = logits(params, encoder_decoder_batch(encoder_tokens, targets))
    t = 5
    perturbed = targets.at[:, t + 1:].set(random_tokens(5, (2, LENGTH - t - 1)))
    changed = changed_positions(base, logits(params, encoder_decoder_batch(encoder_tokens, perturbed)))
    assert not changed[:t + 2].any() and changed[t + 2:].all(), changed
    for j in (0, 8):  # First and last encoder token reach every decoder position.
        encoder_changed = encoder_tokens.at[:, j].set(encoder_tokens[:, j] % 250 + 4)
        changed = changed_positions(base, logits(params, encoder_decoder_batch(encoder_changed, targets)))
        assert changed.all(), (j, changed)


def pack(first, second, length):
    """1-row feature dicts packed into one row of `length`, T5X style (`second` may be empty)."""
    examples = [first, second] if second else [first]
    packed = {}
    for name in first:
        row = jnp.concatenate([example[name][0] for example in examples])
        packed[name] = jnp.pad(row, (0, length - row.shape[0]))[None]
    for prefix in ("decoder", "encoder"):
        key = f"{prefix}_input_tokens"
        if key in first:
            sizes = [example[key].shape[1] for example in examples]
            segment = sum(([i + 1] * n for i, n in enumerate(sizes)), [])
            position = sum((list(range(n)) for n in sizes), [])
            pad = [0] * (length - sum(sizes))
            packed[f"{prefix}_segment_ids"] = jnp.array(segment + pad)[None]
            packed[f"{prefix}_positions"] = jnp.array(position + pad)[None]
    return packed


@pytest.mark.parametrize("architecture", config_lib.ARCHITECTURES)
@pytest.mark.parametrize("position_encoding", POSITION_ENCODINGS)
def test_packed_batch_equals_segments_run_separately(architecture, position_encoding):
    _, params, logits = make(architecture, position_encoding)
    if architecture == "encoder_decoder":
        first = encoder_decoder_batch(random_tokens(6, (1, 5)), random_tokens(7, (1, 4)))
        second = encoder_decoder_batch(random_tokens(8, (1, 7)), random_tokens(9, (1, 6)))
    else:
        first = decoder_batch(random_tokens(6, (1, 5)), prefix_length=2)
        second = decoder_batch(random_tokens(8, (1, 7)), prefix_length=3)
    length = 14
    # Each example alone, right-padded to the packed length (padding is masked, so one compile).
    alone = logits(params, {k: jnp.concatenate([pack(first, {}, length)[k], pack(second, {}, length)[k]])
                            for k in first})
    packed = logits(params, pack(first, second, length))
    n_first = first["decoder_target_tokens"].shape[1]
    n_second = second["decoder_target_tokens"].shape[1]
    np.testing.assert_allclose(packed[0, :n_first], alone[0, :n_first], atol=2e-5)
    np.testing.assert_allclose(packed[0, n_first:n_first + n_second], alone[1, :n_second], atol=2e-5)


def test_causal_and_prefix_decoders_share_parameters():
    cd_model, cd_params, cd_logits = make("causal_decoder")
    nd_model, nd_params, nd_logits = make("prefix_decoder")
    assert jax.tree.structure(cd_params) == jax.tree.structure(nd_params)
    assert jax.tree.map(jnp.shape, cd_params) == jax.tree.map(jnp.shape, nd_params)
    targets = random_tokens(10, (2, LENGTH))
    # A causal checkpoint loaded as a prefix decoder with an empty prefix is the same function...
    np.testing.assert_allclose(nd_logits(cd_params, decoder_batch(targets)),
                               cd_logits(cd_params, decoder_batch(targets)), atol=1e-6)
    # ...and with a prefix, the prefix positions now see ahead, so their logits change.
    changed = changed_positions(nd_logits(cd_params, decoder_batch(targets, 6)),
                                cd_logits(cd_params, decoder_batch(targets, 6)))
    assert changed[:6].all(), changed


def test_prefix_decoder_requires_decoder_causal_attention():
    model, params, _ = make("prefix_decoder")
    batch = decoder_batch(random_tokens(11, (1, LENGTH)))
    del batch["decoder_causal_attention"]
    with pytest.raises(ValueError, match="decoder_causal_attention"):
        model.logits(params, batch)


@pytest.mark.parametrize("position_encoding", POSITION_ENCODINGS)
def test_kv_cache_decoding_equals_full_forward(position_encoding):
    """Prefill 5 tokens, then feed one token at a time: logits match the full forward pass."""
    model, params, logits = make("causal_decoder", position_encoding)
    targets = random_tokens(12, (2, LENGTH))
    batch = decoder_batch(targets)
    full = logits(params, batch)
    tokens = batch["decoder_input_tokens"]
    cache = model.module.init(jax.random.key(0), tokens, jnp.zeros_like(tokens),
                              jnp.ones((2, 1, LENGTH, LENGTH), bool), decode=True)["cache"]

    @jax.jit
    def step(cache, chunk, start):
        positions = start + jnp.arange(chunk.shape[1])[None].repeat(2, 0)
        mask = (jnp.arange(LENGTH)[None, :] <= positions[0][:, None])[None, None]  # (1, 1, T, S)
        out, mutated = model.module.apply({"params": params, "cache": cache}, chunk, positions, mask,
                                          decode=True, mutable=["cache"])
        return out, mutated["cache"]

    prefill, cache = step(cache, tokens[:, :5], 0)
    pieces = [prefill]
    for t in range(5, LENGTH):
        out, cache = step(cache, tokens[:, t:t + 1], t)
        pieces.append(out)
    np.testing.assert_allclose(jnp.concatenate(pieces, axis=1), full, atol=2e-5)


def test_score_batch_is_the_weighted_sum_of_log_softmax():
    model, params, logits = make("prefix_decoder")
    batch = decoder_batch(random_tokens(13, (2, LENGTH)), prefix_length=4)
    log_probs = np.asarray(jax.nn.log_softmax(logits(params, batch), axis=-1), np.float64)
    targets, weights = np.asarray(batch["decoder_target_tokens"]), np.asarray(batch["decoder_loss_weights"])
    expected = [sum(log_probs[b, t, targets[b, t]] * weights[b, t] for t in range(LENGTH))
                for b in range(2)]
    np.testing.assert_allclose(jax.jit(model.score_batch)(params, batch), expected, rtol=1e-5)


def test_loss_is_per_target_token_cross_entropy_plus_z_loss():
    model, params, logits = make("encoder_decoder")
    batch = encoder_decoder_batch(random_tokens(14, (2, 6)), random_tokens(15, (2, LENGTH)))
    batch["decoder_loss_weights"] = batch["decoder_loss_weights"].at[:, -3:].set(0)
    loss_fn = jax.jit(model.loss_fn)
    loss, aux = loss_fn(params, batch)
    out = np.asarray(logits(params, batch), np.float64)
    log_z = np.log(np.exp(out).sum(-1))
    targets, weights = np.asarray(batch["decoder_target_tokens"]), np.asarray(batch["decoder_loss_weights"])
    nll = log_z - np.take_along_axis(out, targets[..., None], -1)[..., 0]
    expected = ((nll + 1e-4 * log_z ** 2) * weights).sum() / weights.sum()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert aux["num_tokens"] == weights.sum()
    # With a global normaliser, two half-batches sum to the whole batch's loss.
    halves = [{k: v[i:i + 1] for k, v in batch.items()} for i in range(2)]
    total = sum(loss_fn(params, h, normalizer=weights.sum())[0] for h in halves)
    np.testing.assert_allclose(total, loss, rtol=1e-5)


def test_label_smoothing_matches_dense_soft_targets():
    config = config_lib.default_config()
    logits = jax.random.normal(jax.random.key(0), (2, 3, 7))
    targets = jnp.array([[1, 2, 3], [4, 5, 6]])
    loss, _ = models.cross_entropy(logits, targets, jnp.ones((2, 3)), z_loss=0.0, label_smoothing=0.1)
    soft = jax.nn.one_hot(targets, 7) * 0.9 + (1 - jax.nn.one_hot(targets, 7)) * 0.1 / 6
    entropy = -(0.9 * np.log(0.9) + 6 * (0.1 / 6) * np.log(0.1 / 6))
    expected = -jnp.sum(soft * jax.nn.log_softmax(logits), -1) - entropy
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert config.model.label_smoothing == 0.0  # T5X's default stays off.


def gelu_tanh(x):
    """GELU's tanh form (Hendrycks & Gimpel), as T5X and GPT-2 use it."""
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


@pytest.mark.parametrize("activations", [("gelu",), ("gelu", "linear"), ("relu",)])
def test_mlp_is_the_product_of_its_activated_projections(activations):
    x = np.asarray(random_tokens(0, (2, 5, 8)), np.float32) / 300.0
    mlp = layers.Mlp(16, activations)
    params = nn.unbox(mlp.init(jax.random.key(0), x)["params"])
    kernels = {name: np.asarray(p["kernel"], np.float64) for name, p in params.items()}
    reference = {"gelu": gelu_tanh, "relu": lambda h: np.maximum(h, 0), "linear": lambda h: h}
    names = ["wi"] if len(activations) == 1 else [f"wi_{i}" for i in range(len(activations))]
    hidden = np.prod([reference[a](x @ kernels[n]) for a, n in zip(activations, names)], axis=0)
    np.testing.assert_allclose(mlp.apply({"params": params}, x), hidden @ kernels["wo"],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", config_lib.ARCHITECTURES)
def test_unrolled_layer_scan_is_the_same_function_of_the_same_parameters(architecture):
    model, params, logits_fn = make(architecture)
    config = model.config.copy_and_resolve_references()
    config.model.scan_unroll = config.model.num_layers
    unrolled = models.build_model(config)
    assert jax.tree.structure(jax.eval_shape(unrolled.init_params, jax.random.key(0))) \
        == jax.tree.structure(params)
    targets = random_tokens(1, (2, LENGTH))
    batch = (encoder_decoder_batch(random_tokens(2, (2, LENGTH)), targets)
             if architecture == "encoder_decoder" else decoder_batch(targets, prefix_length=4))
    np.testing.assert_allclose(jax.jit(unrolled.logits)(params, batch), logits_fn(params, batch),
                               rtol=1e-5, atol=1e-5)


def test_every_activation_the_config_allows_is_one_the_mlp_has():
    # config.py stays free of JAX, so it names the activations layers.py implements: one list each.
    assert set(config_lib.MLP_ACTIVATIONS) == set(layers.ACTIVATIONS)
