"""Decoding over the KV cache against decoding without one, for the three architectures.

The reference decoder below re-runs the training forward pass (`Model.logits` on T5X features,
masks from `masks.py`) over the whole sequence at every step, so it shares no decoding code.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model_fixtures import tiny_model
from t5x_style import config as config_lib
from t5x_style import decoding

PROMPTS = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15]]  # Three lengths in one batch.
NEW_TOKENS = 6


@functools.lru_cache(maxsize=None)
def make(architecture, position_encoding="relative", bidirectional_pattern="full"):
    model, params = tiny_model(architecture, position_encoding, bidirectional_pattern,
                               max_length=32, seed=1)
    return model, params, decoding.Decoder(model)


def padded(rows, width):
    out = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return jnp.asarray(out)


def full_forward_greedy(model, params, prompts, max_new_tokens):
    """Greedy decoding without a cache: the whole sequence through `model.logits` at each step
    (fixed widths, padding masked, so one compile). Returns (B, N) tokens and (B, N, V) logits."""
    logits_fn = jax.jit(model.logits)
    width = 1 + max(map(len, prompts)) + max_new_tokens
    generated = [[] for _ in prompts]
    all_logits = []
    for step in range(max_new_tokens):
        if model.is_encoder_decoder:
            decoder_inputs = [[0] + g for g in generated]
            batch = dict(encoder_input_tokens=padded(prompts, max(map(len, prompts))))
            width = max_new_tokens
            last = [step] * len(prompts)
        else:
            decoder_inputs = [[0] + p + g for p, g in zip(prompts, generated)]
            # Prefix LM: 1 over BOS and the prompt (the inputs plus the first target position).
            batch = dict(decoder_causal_attention=padded([[1] * (1 + len(p)) for p in prompts],
                                                         width))
            last = [len(row) - 1 for row in decoder_inputs]
        real = padded([[1] * len(row) for row in decoder_inputs], width)
        batch.update(decoder_input_tokens=padded(decoder_inputs, width),
                     decoder_target_tokens=real, decoder_loss_weights=real)
        logits = np.asarray(logits_fn(params, batch))[np.arange(len(prompts)), last]  # (B, V)
        for row, token in zip(generated, logits[:, 1:].argmax(-1) + 1):  # Id 0 is never generated.
            row.append(int(token))
        all_logits.append(logits)
    return np.array(generated), np.stack(all_logits, axis=1)


def assert_same_continuations(decoded, tokens, logits=None, atol=1e-4):
    for b, n in enumerate(decoded.lengths):
        np.testing.assert_array_equal(decoded.tokens[b, :n], tokens[b, :n])
        np.testing.assert_array_equal(decoded.tokens[b, n:], 0)
        if logits is not None:
            np.testing.assert_allclose(decoded.logits[b, :n], logits[b, :n], atol=atol)


@pytest.mark.parametrize("architecture, position_encoding, bidirectional_pattern", [
    *[("causal_decoder", pe, "full") for pe in config_lib.POSITION_ENCODINGS],
    ("prefix_decoder", "relative", "full"),
    ("prefix_decoder", "rope", "forward_backward"),
    ("encoder_decoder", "relative", "full"),
])
def test_greedy_with_cache_equals_full_forward(architecture, position_encoding,
                                               bidirectional_pattern):
    model, params, decoder = make(architecture, position_encoding, bidirectional_pattern)
    decoded = decoder.greedy(params, PROMPTS, NEW_TOKENS, return_logits=True)
    tokens, logits = full_forward_greedy(model, params, PROMPTS, NEW_TOKENS)
    assert_same_continuations(decoded, tokens, logits)
    assert decoded.lengths.min() >= 1


@pytest.mark.parametrize("architecture", config_lib.ARCHITECTURES)
def test_batch_of_prompt_lengths_equals_each_prompt_alone(architecture):
    _, params, decoder = make(architecture)
    batched = decoder.greedy(params, PROMPTS, NEW_TOKENS, return_logits=True)
    b = 2  # The shortest prompt: the most padding in the batch.
    alone = decoder.greedy(params, [PROMPTS[b]], NEW_TOKENS, return_logits=True)
    assert batched.lengths[b] == alone.lengths[0]
    np.testing.assert_array_equal(batched.tokens[b], alone.tokens[0])
    np.testing.assert_allclose(batched.logits[b, :alone.lengths[0]],
                               alone.logits[0, :alone.lengths[0]], atol=1e-4)
    np.testing.assert_allclose(batched.scores[b], alone.scores[0], rtol=1e-5)


def test_eos_stops_each_row_and_pads_after_it():
    model, params, decoder = make("causal_decoder")
    free = decoder.greedy(params, PROMPTS, NEW_TOKENS)
    assert (free.lengths == NEW_TOKENS).all(), "pick a seed whose greedy path has no EOS"
    eos = int(free.tokens[0, 2])  # Make row 0's third token the EOS: it stops there, others go on.
    decoded = decoding.Decoder(model, eos_id=eos).greedy(params, PROMPTS, NEW_TOKENS)
    first = [list(row).index(eos) + 1 if eos in row else NEW_TOKENS for row in free.tokens]
    np.testing.assert_array_equal(decoded.lengths, first)
    assert decoded.lengths[0] == 3
    assert_same_continuations(decoded, free.tokens)


@pytest.mark.parametrize("architecture", ["causal_decoder", "encoder_decoder"])
def test_beam_search_with_one_beam_is_greedy(architecture):
    _, params, decoder = make(architecture)
    greedy = decoder.greedy(params, PROMPTS, NEW_TOKENS)
    beam = decoder.beam_search(params, PROMPTS, NEW_TOKENS, beam_size=1, length_penalty=0.0)
    np.testing.assert_array_equal(beam.tokens, greedy.tokens)
    np.testing.assert_array_equal(beam.lengths, greedy.lengths)
    np.testing.assert_allclose(beam.scores, greedy.scores, rtol=1e-5)


def test_beam_search_score_is_the_length_penalised_log_likelihood():
    model, params, decoder = make("prefix_decoder")
    beam = decoder.beam_search(params, PROMPTS, NEW_TOKENS, beam_size=3, length_penalty=0.6)
    # Score the returned continuations with the training forward pass (T5X's score_batch).
    inputs = [p + c for p, c in zip(PROMPTS, beam.sequences())]
    width = max(map(len, inputs))
    targets = padded(inputs, width)
    batch = dict(decoder_target_tokens=targets,
                 decoder_input_tokens=jnp.pad(targets[:, :-1], ((0, 0), (1, 0))),
                 decoder_causal_attention=padded([[1] * (1 + len(p)) for p in PROMPTS], width),
                 decoder_loss_weights=padded([[0] * len(p) + [1] * len(c) for p, c in
                                              zip(PROMPTS, beam.sequences())], width))
    log_likelihood = np.asarray(model.score_batch(params, batch))
    penalty = decoding.brevity_penalty(beam.lengths.astype(np.float32), 0.6)
    np.testing.assert_allclose(beam.scores * penalty, log_likelihood, rtol=1e-4)


def test_sampling_with_a_fixed_seed_is_reproducible():
    _, params, decoder = make("causal_decoder")
    sampling = decoding.Sampling(temperature=1.0, top_k=50, top_p=0.95)
    first = decoder.generate(params, PROMPTS, NEW_TOKENS, sampling, jax.random.key(7))
    again = decoder.generate(params, PROMPTS, NEW_TOKENS, sampling, jax.random.key(7))
    other = decoder.generate(params, PROMPTS, NEW_TOKENS, sampling, jax.random.key(8))
    np.testing.assert_array_equal(first.tokens, again.tokens)
    assert (first.tokens != other.tokens).any()
    greedy = decoder.greedy(params, PROMPTS, NEW_TOKENS)
    top1 = decoder.generate(params, PROMPTS, NEW_TOKENS, decoding.Sampling(1.0, top_k=1),
                            jax.random.key(7))
    np.testing.assert_array_equal(top1.tokens, greedy.tokens)


@pytest.mark.parametrize("sampling, allowed", [
    (decoding.Sampling(1.0, top_k=2), {0, 1}),
    (decoding.Sampling(1.0, top_p=0.7), {0, 1}),  # 0.5 + 0.3 reaches 0.7; 0.5 alone does not.
    (decoding.Sampling(1.0, top_p=0.5), {0}),
    (decoding.Sampling(1.0), {0, 1, 2, 3}),
])
def test_top_k_and_top_p_restrict_the_candidates(sampling, allowed):
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 0)
    tokens = decoding.choose_tokens(logits, jax.random.key(0), sampling)
    assert set(np.asarray(tokens).tolist()) == allowed


def test_reused_multi_turn_cache_equals_a_fresh_prefill_of_the_conversation():
    _, params, decoder = make("causal_decoder")
    conversation = decoder.conversation(params, batch_size=2, cache_length=32)
    assert conversation.reuses_cache
    for turn in ([[5, 6, 7], [8]], [[9], [10, 11, 12]], [[14, 15], [16, 17, 18]]):
        history = [list(h) for h in conversation.history]
        decoded = conversation.turn(turn, 4, return_logits=True)
        fresh = decoder.greedy(params, [h + t for h, t in zip(history, turn)], 4, return_logits=True)
        np.testing.assert_array_equal(decoded.lengths, fresh.lengths)
        assert_same_continuations(decoded, fresh.tokens, fresh.logits)
    assert len(conversation.history[1]) == 1 + 3 + 3 + 3 * 4


@pytest.mark.parametrize("architecture", ["prefix_decoder", "encoder_decoder"])
def test_conversation_without_cache_reuse_prefills_the_history(architecture):
    _, params, decoder = make(architecture)
    conversation = decoder.conversation(params, batch_size=1)
    assert not conversation.reuses_cache
    first = conversation.turn([[5, 6]], 3)
    second = conversation.turn([[7]], 3)
    fresh = decoder.greedy(params, [[5, 6] + first.sequences()[0] + [7]], 3)
    np.testing.assert_array_equal(second.tokens, fresh.tokens)
    assert conversation.history[0] == [5, 6] + first.sequences()[0] + [7] + second.sequences()[0]


@pytest.mark.parametrize("call, message", [
    (lambda d: d.greedy(None, [[5], []], 4), "prompt 1 is empty"),
    (lambda d: d.greedy(None, [], 4), "non-empty list"),
    (lambda d: d.greedy(None, [[5] * 30], 4), "model.max_length=32"),
    (lambda d: d.greedy(None, [[5, 0]], 4), r"outside \[1, 384\)"),
    (lambda d: d.greedy(None, [[5]], 0), "max_new_tokens=0"),
    (lambda d: d.generate(None, [[5]], 4, decoding.Sampling(1.0)), "needs an rng"),
    (lambda d: d.beam_search(None, [[5]], 4, beam_size=0), "beam_size=0"),
    (lambda d: d.beam_search(None, [[5]], 4, length_penalty=-1.0), "length_penalty=-1.0"),
    (lambda d: decoding.Sampling(temperature=-0.5), "temperature=-0.5"),
    (lambda d: decoding.Sampling(temperature=float("nan")), "temperature=nan"),
    (lambda d: decoding.Sampling(1.0, top_p=0.0), "top_p=0.0"),
    (lambda d: decoding.Sampling(1.0, top_p=1.5), "top_p=1.5"),
    (lambda d: decoding.Sampling(1.0, top_k=-1), "top_k=-1"),
    (lambda d: d.conversation(None, 1, cache_length=8).turn([[5] * 6], 4), "cache_length=8"),
])
def test_bad_input_is_a_clear_error_before_any_compute(call, message):
    _, _, decoder = make("causal_decoder")
    with pytest.raises(ValueError, match=message):  # params=None: any compute would fail otherwise.
        call(decoder)


def test_generate_prints_continuations_from_the_latest_checkpoint(tmp_path):
    import orbax.checkpoint as ocp

    from t5x_style import generate

    model, params, decoder = make("causal_decoder")
    (tmp_path / "config.json").write_text(model.config.to_json())
    for step, step_params in ((1, jax.tree.map(jnp.zeros_like, params)), (2, params)):
        ocp.PyTreeCheckpointer().save(tmp_path / "checkpoints" / str(step) / "state",
                                      {"params": step_params})
    texts = generate.generate(str(tmp_path), ["Hello", "A longer prompt"], max_new_tokens=5)
    vocabulary = generate.tokenizer.ByteVocabulary()
    expected = decoder.greedy(params, [vocabulary.encode("Hello"),
                                       vocabulary.encode("A longer prompt")], 5)
    assert texts == [vocabulary.decode(ids) for ids in expected.sequences()]
    with pytest.raises(ValueError, match="model.max_length=32"):
        generate.generate(str(tmp_path), ["x" * 40])
