"""Generation over a KV cache for the three architectures: greedy, temperature sampling with top-k
and top-p, beam search with T5's length penalty, and multi-turn conversations.

Prompts of different lengths in one batch. A cache slot holds the keys and values of the token at
that position of its example (`layers.MultiHeadAttention` writes keys at their positions), so
prompts are right-padded and every row has its own position:

    prompts [[a, b, c], [d, e]]  ->  decoder inputs [[0, a, b, c], [0, d, e, pad]]  (0 = BOS)

Prefill writes slots 0..3 of both rows and keeps the logits of each row's last real token (slots
3 and 2); their first generated tokens go to slots 4 and 3, overwriting row 2's padding. A query
at position p sees the slots <= p only, so no row ever reads a slot it has not written. Each step
then feeds one token per row at that row's position. A row that emitted EOS keeps re-writing its
EOS at the same slot, so its cache stays valid while the others go on. RoPE, the learned absolute
table and the relative bias all read these positions.

Prefill per architecture (as in training: the decoder input is the sequence shifted right by BOS):
  causal_decoder   [BOS, prompt] causally; a conversation keeps the cache and later turns run only
                   their new tokens.
  prefix_decoder   [BOS, prompt] with `decoder_causal_attention` = 1 over BOS and the prompt (T5X's
                   "inputs plus the first target position"): bidirectional there, causal after.
                   A new turn makes the whole conversation the prefix, so it is prefilled again.
  encoder_decoder  the prompt through the encoder once; the cross-attention keys and values are
                   projected once and cached; the decoder starts from BOS. A new turn re-encodes
                   the whole conversation.
"""

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from t5x_style import layers
from t5x_style import masks
from t5x_style import models

Array = jnp.ndarray
BOS_ID = 0  # T5X's decoder start token (the shifted-right input at position 0); also padding.
EOS_ID = 1


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How each token is chosen: temperature 0 is greedy (argmax); otherwise a sample from the
    logits divided by the temperature, restricted to the top_k tokens and the top_p nucleus."""
    temperature: float = 0.0
    top_k: int = 0  # Keep the k most likely tokens; 0 keeps all.
    top_p: float = 1.0  # Keep the most likely tokens whose probabilities sum to top_p; 1 keeps all.

    def __post_init__(self):
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
                and self.temperature >= 0):
            raise ValueError(f"temperature={self.temperature!r} must be a finite number >= 0 "
                             "(0 is greedy)")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p={self.top_p!r} must be in (0, 1] (1 keeps every token)")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k={self.top_k!r} must be an integer >= 0 (0 keeps every token)")


GREEDY = Sampling()


@dataclasses.dataclass(frozen=True)
class Decoded:
    """Continuations of a batch of prompts (numpy, on the host)."""
    tokens: np.ndarray  # (B, N) generated ids (never 0), EOS included; 0 after EOS.
    lengths: np.ndarray  # (B,) generated tokens, EOS included.
    scores: np.ndarray  # (B,) summed log-probability (beam search: divided by the length penalty).
    logits: np.ndarray | None = None  # (B, N, V) float32 logits each token was chosen from.

    def sequences(self) -> list[list[int]]:
        """Each row's generated ids, EOS included, padding dropped."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths)]


def choose_tokens(logits: Array, rng: Array | None, sampling: Sampling) -> Array:
    """(B, V) logits -> (B,) token ids."""
    if sampling.temperature == 0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits / sampling.temperature
    if sampling.top_k:
        kth_largest = jax.lax.top_k(logits, sampling.top_k)[0][:, -1:]  # (B, 1)
        logits = jnp.where(logits < kth_largest, -jnp.inf, logits)
    if sampling.top_p < 1:
        descending = -jnp.sort(-logits, axis=-1)
        probs = jax.nn.softmax(descending, axis=-1)
        before = jnp.cumsum(probs, axis=-1) - probs  # Mass of the tokens ranked above each one.
        kept = jnp.where(before < sampling.top_p, descending, jnp.inf)  # The first always stays.
        logits = jnp.where(logits < jnp.min(kept, axis=-1, keepdims=True), -jnp.inf, logits)
    return jax.random.categorical(rng, logits).astype(jnp.int32)


def brevity_penalty(length: Array, alpha: float) -> Array:
    """T5X/GNMT length penalty ((5 + length) / 6) ** alpha; beam scores are log-prob / penalty."""
    return ((5.0 + length) / 6.0) ** alpha


def _causal_mask(positions: Array, cache_length: int) -> Array:
    """(B, T) query positions -> (B, 1, T, S): a query sees the cache slots at or before it."""
    return jnp.arange(cache_length)[None, None, None, :] <= positions[:, None, :, None]


def _without_padding(logits: Array) -> Array:
    """Id 0 (padding, and the BOS input) is never generated: training never targets it."""
    return logits.at[..., BOS_ID].set(-jnp.inf)


def _cache_length(cache: dict) -> int:
    """Slots of the self-attention cache, whose keys are (layers, batch, slots, heads, head_dim)."""
    leaves = jax.tree_util.tree_flatten_with_path(cache)[0]
    return next(leaf.shape[2] for path, leaf in leaves if "cached_key" in jax.tree_util.keystr(path))


class Decoder:
    """Decoding for one model. Methods take host lists of prompt ids and return `Decoded`; the
    work runs in functions jitted once per shape and option set."""

    def __init__(self, model: models.Model, eos_id: int = EOS_ID):
        self.model = model
        self.config = model.config.model
        self.architecture = self.config.architecture
        self.eos_id = eos_id
        self._fb_heads = (self.config.num_heads
                          if self.config.bidirectional_pattern == "forward_backward" else None)
        self._generate = jax.jit(self._generate_fn,
                                 static_argnames=("max_new_tokens", "sampling", "return_logits"))
        self._beam_search = jax.jit(self._beam_search_fn,
                                    static_argnames=("max_new_tokens", "beam_size", "length_penalty"))
        self._turn = jax.jit(self._turn_fn,
                             static_argnames=("max_new_tokens", "sampling", "return_logits"))
        self._empty_cache = jax.jit(self._empty_cache_fn, static_argnums=(0, 1))

    # ---- host-side API -------------------------------------------------------------------------

    def greedy(self, params, prompts: Sequence[Sequence[int]], max_new_tokens: int,
               return_logits: bool = False) -> Decoded:
        return self.generate(params, prompts, max_new_tokens, GREEDY, return_logits=return_logits)

    def generate(self, params, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                 sampling: Sampling = GREEDY, rng: Array | None = None,
                 return_logits: bool = False) -> Decoded:
        """Up to `max_new_tokens` tokens after each prompt (stopping at EOS), greedy or sampled."""
        tokens, lengths = self.check_prompts(prompts, max_new_tokens)
        rng = self._check_rng(rng, sampling)
        out = self._generate(params, tokens, lengths, rng, max_new_tokens=max_new_tokens,
                             sampling=sampling, return_logits=return_logits)
        return _to_host(out)

    def beam_search(self, params, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                    beam_size: int = 4, length_penalty: float = 0.6) -> Decoded:
        """The best of `beam_size` beams by log-prob / brevity_penalty(length, length_penalty)."""
        if not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_size={beam_size!r} must be an integer >= 1")
        if not (isinstance(length_penalty, (int, float)) and length_penalty >= 0):
            raise ValueError(f"length_penalty={length_penalty!r} must be a number >= 0")
        if 2 * beam_size > self.config.vocab_size:
            raise ValueError(f"beam_size={beam_size} must be at most half of model.vocab_size="
                             f"{self.config.vocab_size}")
        tokens, lengths = self.check_prompts(prompts, max_new_tokens)
        out = self._beam_search(params, tokens, lengths, max_new_tokens=max_new_tokens,
                                beam_size=beam_size, length_penalty=float(length_penalty))
        return _to_host(out)

    def conversation(self, params, batch_size: int = 1, cache_length: int | None = None):
        """A batch of multi-turn dialogues; see `Conversation`."""
        return Conversation(self, params, batch_size, cache_length or self.config.max_length)

    # ---- checks (all before any compute) -------------------------------------------------------

    def check_prompts(self, prompts, max_new_tokens: int) -> tuple[Array, Array]:
        """Right-padded (B, P) int32 prompts and their (B,) lengths; ValueError on bad input."""
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens!r} must be an integer >= 1")
        if isinstance(prompts, (str, bytes)) or not len(prompts):
            raise ValueError(f"prompts must be a non-empty list of lists of token ids, got {prompts!r}")
        vocab = self.config.vocab_size
        rows = []
        for i, prompt in enumerate(prompts):
            row = np.asarray(prompt)
            if row.ndim != 1 or row.size == 0:
                raise ValueError(f"prompt {i} is empty or not a flat list of ids: {prompt!r}; "
                                 "every prompt needs at least one token")
            if not np.issubdtype(row.dtype, np.integer) or row.min() < 1 or row.max() >= vocab:
                raise ValueError(f"prompt {i} has ids outside [1, {vocab}) (0 is padding): "
                                 f"{row.tolist()}")
            rows.append(row)
        longest = max(len(row) for row in rows)
        limit = self.config.max_length
        if self.architecture == "encoder_decoder":
            needed, what = max(longest, 1 + max_new_tokens), "max(prompt, 1 + max_new_tokens)"
        else:
            needed, what = 1 + longest + max_new_tokens, "BOS + prompt + max_new_tokens"
        if needed > limit:
            raise ValueError(f"a prompt of {longest} tokens with max_new_tokens={max_new_tokens} "
                             f"needs {what} = {needed} positions; model.max_length={limit}")
        tokens = np.zeros((len(rows), longest), np.int32)
        for i, row in enumerate(rows):
            tokens[i, :len(row)] = row
        return jnp.asarray(tokens), jnp.asarray([len(row) for row in rows], jnp.int32)

    @staticmethod
    def _check_rng(rng, sampling: Sampling) -> Array:
        if sampling.temperature > 0 and rng is None:
            raise ValueError(f"sampling with temperature={sampling.temperature} needs an rng "
                             "(jax.random.key(seed))")
        return jax.random.key(0) if rng is None else rng

    # ---- the network over the cache ------------------------------------------------------------

    def _empty_cache_fn(self, batch: int, cache_length: int, encoder_length: int = 1) -> dict:
        """Zeros in the cache's structure: (layers, batch, cache_length, heads, head_dim) per
        self-attention key/value, plus (layers, batch, encoder_length, ...) cross-attention ones."""
        tokens = jnp.zeros((batch, cache_length), jnp.int32)
        mask = jnp.ones((batch, 1, cache_length, cache_length), bool)
        module = self.model.module
        if self.architecture == "encoder_decoder":
            encoded = jnp.zeros((batch, encoder_length, self.config.d_model),
                                layers.dtype_of(self.config.dtype))
            cross_mask = jnp.ones((batch, 1, cache_length, encoder_length), bool)
            init = lambda: module.init(jax.random.key(0), encoded, tokens, tokens, mask, cross_mask,
                                       decode=True, method="decode")
        else:
            init = lambda: module.init(jax.random.key(0), tokens, tokens, mask, decode=True)
        shapes = jax.eval_shape(init)["cache"]
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def _run(self, params, cache, tokens, positions, mask, encoded=None, cross_mask=None):
        """(B, T) tokens at (B, T) positions through the decoder -> (B, T, V) logits, new cache."""
        variables = {"params": params, "cache": cache}
        if self.architecture == "encoder_decoder":
            logits, mutated = self.model.module.apply(
                variables, encoded, tokens, positions, mask, cross_mask, decode=True,
                method="decode", mutable=["cache"])
        else:
            logits, mutated = self.model.module.apply(variables, tokens, positions, mask,
                                                      decode=True, mutable=["cache"])
        return logits, mutated["cache"]

    def _extend(self, params, cache, pending, position, new_tokens, new_lengths, prefix=False):
        """Decoder-only: runs [pending, new tokens] from each row's `position` (the pending token's
        slot). Returns the logits after each row's last new token and the slot of the next token.
        With `prefix` (prefill from position 0) the chunk is the bidirectional prefix."""
        chunk = jnp.concatenate([pending[:, None], new_tokens], axis=1)  # (B, 1 + P)
        positions = position[:, None] + jnp.arange(chunk.shape[1])[None]
        cache_length = _cache_length(cache)
        if prefix:
            real = (jnp.arange(chunk.shape[1])[None] <= new_lengths[:, None]).astype(jnp.int32)
            mask = masks.decoder_self_attention(real, real, None, self._fb_heads)  # (B, H|1, T, T)
            mask = jnp.pad(mask, ((0, 0), (0, 0), (0, 0), (0, cache_length - chunk.shape[1])))
        else:
            mask = _causal_mask(positions, cache_length)
        logits, cache = self._run(params, cache, chunk, positions, mask)
        last = jnp.take_along_axis(logits, new_lengths[:, None, None], axis=1)[:, 0]  # (B, V)
        return last, cache, position + new_lengths + 1

    def _prefill(self, params, prompts, lengths, max_new_tokens):
        """Logits for the first new token, the cache, the slot it goes to, the cross mask."""
        batch, width = prompts.shape
        zeros = jnp.zeros((batch,), jnp.int32)
        if self.architecture != "encoder_decoder":
            cache = self._empty_cache_fn(batch, 1 + width + max_new_tokens)
            logits, cache, position = self._extend(
                params, cache, zeros, zeros, prompts, lengths,
                prefix=self.architecture == "prefix_decoder")
            return logits, cache, position, None
        cache = self._empty_cache_fn(batch, 1 + max_new_tokens, width)
        positions = jnp.broadcast_to(jnp.arange(width), prompts.shape)
        encoded = self.model.module.apply(
            {"params": params}, prompts, positions,
            masks.encoder_self_attention(prompts, None, self._fb_heads), method="encode")
        cross_mask = masks.cross_attention(jnp.ones((batch, 1), jnp.int32), prompts)  # (B, 1, 1, P)
        bos = zeros[:, None]
        logits, cache = self._run(params, cache, bos, bos, _causal_mask(bos, 1 + max_new_tokens),
                                  encoded, cross_mask)
        return logits[:, 0], cache, zeros + 1, cross_mask

    def _step(self, params, cache, tokens, positions, cross_mask):
        """One token per row, (B,) at (B,) positions -> (B, V) logits for the next one."""
        cache_length = _cache_length(cache)
        logits, cache = self._run(params, cache, tokens[:, None], positions[:, None],
                                  _causal_mask(positions[:, None], cache_length),
                                  cross_mask=cross_mask)
        return logits[:, 0], cache

    # ---- the loops -----------------------------------------------------------------------------

    def _sample_loop(self, params, cache, logits, position, cross_mask, rng, max_new_tokens,
                     sampling, return_logits):
        """Chooses a token from `logits`, feeds it at `position`, and so on, until every row has
        emitted EOS or `max_new_tokens` tokens. Returns the outputs and the conversation state:
        the cache, each row's last token (not yet in the cache) and its slot."""
        batch, vocab = logits.shape

        def choose(i, logits):
            return choose_tokens(_without_padding(logits), jax.random.fold_in(rng, i), sampling)

        def log_prob(logits, tokens):
            return jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[:, None], axis=1)[:, 0]

        token = choose(0, logits)
        out = dict(
            tokens=jnp.zeros((batch, max_new_tokens), jnp.int32).at[:, 0].set(token),
            lengths=jnp.ones((batch,), jnp.int32),
            scores=log_prob(logits, token),
            logits=(jnp.zeros((batch, max_new_tokens, vocab), jnp.float32).at[:, 0].set(logits)
                    if return_logits else None))
        done = token == self.eos_id

        def cond(carry):
            i, _, _, _, done, _ = carry
            return (i < max_new_tokens) & ~jnp.all(done)

        def body(carry):
            i, cache, token, position, done, out = carry
            logits, cache = self._step(params, cache, token, position, cross_mask)
            new = jnp.where(done, 0, choose(i, logits))
            out = dict(
                tokens=out["tokens"].at[:, i].set(new),
                lengths=out["lengths"] + ~done,
                scores=out["scores"] + jnp.where(done, 0.0, log_prob(logits, new)),
                logits=None if out["logits"] is None else out["logits"].at[:, i].set(logits))
            # Finished rows keep their EOS as the last token at the same slot.
            position = jnp.where(done, position, position + 1)
            token = jnp.where(done, token, new)
            return i + 1, cache, token, position, done | (new == self.eos_id), out

        _, cache, token, position, _, out = jax.lax.while_loop(
            cond, body, (1, cache, token, position, done, out))
        return out, (cache, token, position)

    def _generate_fn(self, params, prompts, lengths, rng, *, max_new_tokens, sampling,
                     return_logits):
        logits, cache, position, cross_mask = self._prefill(params, prompts, lengths, max_new_tokens)
        out, _ = self._sample_loop(params, cache, logits, position, cross_mask, rng,
                                   max_new_tokens, sampling, return_logits)
        return out

    def _turn_fn(self, params, cache, pending, position, new_tokens, new_lengths, rng, *,
                 max_new_tokens, sampling, return_logits):
        logits, cache, position = self._extend(params, cache, pending, position, new_tokens,
                                               new_lengths)
        return self._sample_loop(params, cache, logits, position, None, rng, max_new_tokens,
                                 sampling, return_logits)

    def _beam_search_fn(self, params, prompts, lengths, *, max_new_tokens, beam_size,
                        length_penalty):
        """Beam search over (B * K) cache rows. Each step ranks the 2K best extensions; those
        ending in EOS and ranked within the top K join the finished pool (so beam 1 is greedy),
        the best K others stay live. A row stops once its K-th finished score beats what its best
        live beam could still reach."""
        logits, cache, position, cross_mask = self._prefill(params, prompts, lengths, max_new_tokens)
        batch, vocab = logits.shape
        k, n = beam_size, max_new_tokens
        expand = lambda x: jnp.repeat(x, k, axis=0)  # (B, ...) -> (B * K, ...)
        cache = jax.tree.map(lambda c: jnp.repeat(c, k, axis=1), cache)  # (layers, B * K, ...)
        cross_mask = None if cross_mask is None else expand(cross_mask)
        first = jnp.arange(k) == 0
        beams = dict(  # All K beams start as the prompt; only the first counts at first.
            live_tokens=jnp.zeros((batch, k, n), jnp.int32),
            live_logp=jnp.where(first, 0.0, -jnp.inf)[None].repeat(batch, 0),
            finished_tokens=jnp.zeros((batch, k, n), jnp.int32),
            finished_scores=jnp.full((batch, k), -jnp.inf),
            finished_lengths=jnp.zeros((batch, k), jnp.int32))

        def select(i, logits, beams):
            """(B, K, V) logits for token i -> new beams and each live beam's parent (B, K)."""
            candidates = beams["live_logp"][..., None] + _without_padding(jax.nn.log_softmax(logits))
            top_logp, top_index = jax.lax.top_k(candidates.reshape(batch, k * vocab), 2 * k)
            parent, token = top_index // vocab, top_index % vocab  # (B, 2K)
            tokens = jnp.take_along_axis(beams["live_tokens"], parent[..., None], axis=1)
            tokens = tokens.at[:, :, i].set(token)  # (B, 2K, N)
            eos = token == self.eos_id
            finishing = eos & (jnp.arange(2 * k) < k)
            new_scores = jnp.where(finishing, top_logp / brevity_penalty(i + 1, length_penalty),
                                   -jnp.inf)
            pool_scores = jnp.concatenate([beams["finished_scores"], new_scores], axis=1)
            pool_tokens = jnp.concatenate([beams["finished_tokens"], tokens], axis=1)
            pool_lengths = jnp.concatenate(
                [beams["finished_lengths"], jnp.full((batch, 2 * k), i + 1, jnp.int32)], axis=1)
            finished_scores, best = jax.lax.top_k(pool_scores, k)
            live_logp, live = jax.lax.top_k(jnp.where(eos, -jnp.inf, top_logp), k)
            take = lambda x, index: jnp.take_along_axis(x, index, axis=1)
            beams = dict(
                live_tokens=take(tokens, live[..., None]), live_logp=live_logp,
                finished_tokens=take(pool_tokens, best[..., None]),
                finished_scores=finished_scores, finished_lengths=take(pool_lengths, best))
            return beams, take(parent, live), take(token, live)

        def all_done(beams):
            best_reachable = jnp.max(beams["live_logp"], axis=1) / brevity_penalty(n, length_penalty)
            return jnp.all(jnp.min(beams["finished_scores"], axis=1) > best_reachable)

        logits = expand(logits).reshape(batch, k, vocab)
        beams, parent, token = select(0, logits, beams)
        position = expand(position)

        def cond(carry):
            i, beams = carry[0], carry[1]
            return (i < n) & ~all_done(beams)

        def body(carry):
            i, beams, parent, token, position, cache = carry
            rows = (jnp.arange(batch)[:, None] * k + parent).reshape(-1)  # (B * K,)
            cache = jax.tree.map(lambda c: jnp.take(c, rows, axis=1), cache)
            logits, cache = self._step(params, cache, token.reshape(-1), position, cross_mask)
            beams, parent, token = select(i, logits.reshape(batch, k, vocab), beams)
            return i + 1, beams, parent, token, position + 1, cache

        i, beams, *_ = jax.lax.while_loop(cond, body, (1, beams, parent, token, position, cache))
        # Live beams compete too (they ran out of length, or could no longer win).
        scores = jnp.concatenate(
            [beams["finished_scores"], beams["live_logp"] / brevity_penalty(i, length_penalty)], 1)
        tokens = jnp.concatenate([beams["finished_tokens"], beams["live_tokens"]], axis=1)
        lengths = jnp.concatenate([beams["finished_lengths"], jnp.full((batch, k), i)], axis=1)
        best = jnp.argmax(scores, axis=1)[:, None]
        return dict(tokens=jnp.take_along_axis(tokens, best[..., None], axis=1)[:, 0],
                    lengths=jnp.take_along_axis(lengths, best, axis=1)[:, 0],
                    scores=jnp.take_along_axis(scores, best, axis=1)[:, 0], logits=None)


def _to_host(out: dict) -> Decoded:
    out = jax.device_get(out)
    return Decoded(tokens=np.asarray(out["tokens"]), lengths=np.asarray(out["lengths"]),
                   scores=np.asarray(out["scores"]),
                   logits=None if out["logits"] is None else np.asarray(out["logits"]))


class Conversation:
    """A batch of dialogues, one turn at a time: each turn appends the user's tokens and the
    model's reply (EOS included) to `history`.

    The causal decoder keeps its KV cache (of `cache_length` slots) across turns and runs only the
    new tokens: the previous reply's last token, then the new turn. The prefix decoder and the
    encoder-decoder cannot: the whole history becomes the new bidirectional prefix (or encoder
    input), so every turn prefills it again.
    """

    def __init__(self, decoder: Decoder, params, batch_size: int, cache_length: int):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
        if not 1 < cache_length <= decoder.config.max_length:
            raise ValueError(f"cache_length={cache_length} must be in [2, model.max_length="
                             f"{decoder.config.max_length}]")
        self.decoder, self.params = decoder, params
        self.history: list[list[int]] = [[] for _ in range(batch_size)]
        self.reuses_cache = decoder.architecture == "causal_decoder"
        if self.reuses_cache:
            self.cache_length = cache_length
            self._cache = decoder._empty_cache(batch_size, cache_length)
            self._pending = jnp.full((batch_size,), BOS_ID, jnp.int32)  # Not yet in the cache.
            self._position = jnp.zeros((batch_size,), jnp.int32)  # The pending token's slot.

    def turn(self, new_tokens: Sequence[Sequence[int]], max_new_tokens: int,
             sampling: Sampling = GREEDY, rng: Array | None = None,
             return_logits: bool = False) -> Decoded:
        """Appends `new_tokens` (one list per dialogue) and the model's replies."""
        if len(new_tokens) != len(self.history):
            raise ValueError(f"this conversation has {len(self.history)} dialogues; got "
                             f"{len(new_tokens)} new turns")
        if not self.reuses_cache:
            decoded = self.decoder.generate(
                self.params, [h + list(t) for h, t in zip(self.history, new_tokens)],
                max_new_tokens, sampling, rng, return_logits)
        else:
            tokens, lengths = self.decoder.check_prompts(new_tokens, max_new_tokens)
            needed = int(jnp.max(self._position)) + 1 + tokens.shape[1] + max_new_tokens
            if needed > self.cache_length:
                raise ValueError(f"this turn needs {needed} cache slots (history, pending token, "
                                 f"new tokens, max_new_tokens); cache_length={self.cache_length}")
            rng = self.decoder._check_rng(rng, sampling)
            out, (self._cache, self._pending, self._position) = self.decoder._turn(
                self.params, self._cache, self._pending, self._position, tokens, lengths, rng,
                max_new_tokens=max_new_tokens, sampling=sampling, return_logits=return_logits)
            decoded = _to_host(out)
        for history, turn, reply in zip(self.history, new_tokens, decoded.sequences()):
            history.extend(list(turn) + reply)
        return decoded
