"""Scores requests with one jitted (and, given a mesh, sharded) function per bucket shape.

For each request: the summed log-probability of its continuation tokens (T5X `score_batch`,
the harness's `loglikelihood`), and whether the continuation is the greedy path (every
continuation token is the argmax of its position's logits: the harness's `is_greedy`, LAMBADA's
accuracy). One forward pass gives both.

    scorer = Scorer(model, batch_size=32, max_length=512, mesh=None)
    scores, greedy = scorer.score(params, token_requests)      # float64[N], bool[N]
    scorer.loglikelihood_rolling(params, vocabulary, texts)    # perplexity / bits per byte

`scorer.timing` splits wall time into the jitted function (dispatch to ready, first calls of a
bucket include its compilation) and everything around it (padding, transfers, fetching results).
Each batch is waited for before the next is padded, so the split is exact, not overlapped.
"""

import dataclasses
import math
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from t5x_style import partitioning
from t5x_style.evaluation import requests as requests_lib
from t5x_style.models import Model


def score_and_greedy(model: Model, params, batch) -> tuple[jax.Array, jax.Array]:
    """(B,) summed log p(target) under decoder_loss_weights, and (B,) all-weighted-tokens-argmax."""
    logits = model.logits(params, batch)  # (B, T, V) float32
    targets = batch["decoder_target_tokens"]
    weights = batch["decoder_loss_weights"] > 0
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    target_log_probs = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    scores = jnp.sum(jnp.where(weights, target_log_probs, 0.0), axis=-1)
    greedy = jnp.all(jnp.where(weights, jnp.argmax(logits, axis=-1) == targets, True), axis=-1)
    return scores, greedy


@dataclasses.dataclass
class Timing:
    """Wall seconds inside the jitted scorer vs around it, and how many requests were scored."""
    jitted_seconds: float = 0.0
    total_seconds: float = 0.0
    requests: int = 0
    batches: int = 0

    @property
    def outside_fraction(self) -> float:
        return 1.0 - self.jitted_seconds / self.total_seconds if self.total_seconds else 0.0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.total_seconds if self.total_seconds else 0.0


class Scorer:
    """Batches, pads and scores TokenRequests for one model; reuse it so compilations are kept.

    With a mesh, parameters are placed by their logical axes (partitioning.LOGICAL_AXIS_RULES) and
    batch rows split over ('data', 'fsdp'), as in training; batch_size must divide evenly.
    """

    def __init__(self, model: Model, batch_size: int, max_length: int, mesh=None):
        self.model = model
        self.architecture = model.config.model.architecture
        self.batch_size = batch_size
        self.max_length = max_length
        if max_length > model.config.model.max_length:
            raise ValueError(f"eval.max_length={max_length} exceeds model.max_length="
                             f"{model.config.model.max_length}; allowed: <= model.max_length")
        self.mesh = mesh
        self.timing = Timing()
        function = lambda params, batch: score_and_greedy(model, params, batch)  # noqa: E731
        if mesh is None:
            self.param_shardings = None
            self._score = jax.jit(function)
            return
        if batch_size % partitioning.batch_shards(mesh):
            raise ValueError(f"eval.batch_size={batch_size} must be a multiple of the mesh's "
                             f"{partitioning.batch_shards(mesh)} batch shards")
        self.param_shardings = partitioning.logical_to_sharding(model.param_logical_axes(), mesh)
        self._batch_sharding = partitioning.batch_sharding(mesh)
        self._score = jax.jit(function, in_shardings=(self.param_shardings, self._batch_sharding),
                              out_shardings=partitioning.replicated(mesh))

    def place(self, params):
        """Parameters where the jitted function wants them (a no-op without a mesh)."""
        return params if self.mesh is None else jax.device_put(params, self.param_shardings)

    def _to_device(self, batch: dict[str, np.ndarray]):
        """Every process builds the same global batch, so each takes the rows of its own devices
        (multi-host safe; `partitioning.global_batch` is for per-process data shards)."""
        if self.mesh is None:
            return batch
        return {name: jax.make_array_from_callback(value.shape, self._batch_sharding,
                                                   lambda index, value=value: value[index])
                for name, value in batch.items()}

    def score(self, params, token_requests: Sequence[requests_lib.TokenRequest]
              ) -> tuple[np.ndarray, np.ndarray]:
        """(float64[N] summed continuation log-likelihoods, bool[N] greedy matches)."""
        started = time.perf_counter()
        scores = np.zeros(len(token_requests), np.float64)
        greedy = np.zeros(len(token_requests), bool)
        for indices, batch in requests_lib.batches(token_requests, self.architecture,
                                                   self.batch_size, self.max_length):
            batch = self._to_device(batch)
            dispatched = time.perf_counter()
            batch_scores, batch_greedy = jax.block_until_ready(self._score(params, batch))
            self.timing.jitted_seconds += time.perf_counter() - dispatched
            scores[indices] = np.asarray(batch_scores)[:len(indices)]
            greedy[indices] = np.asarray(batch_greedy)[:len(indices)]
            self.timing.batches += 1
        self.timing.total_seconds += time.perf_counter() - started
        self.timing.requests += len(token_requests)
        return scores, greedy

    def loglikelihood_rolling(self, params, vocabulary, texts: Sequence[str],
                              context_length: int = 1) -> dict[str, float]:
        """Log-likelihood of whole documents in disjoint max_length windows (every token predicted
        once): totals and per-token / per-byte rates, with bits_per_byte = -ll / (ln 2 * bytes)."""
        windows = [window for text in texts for window in requests_lib.rolling_windows(
            vocabulary.encode(text), self.max_length, context_length)]
        scores, _ = self.score(params, windows)
        log_likelihood = float(scores.sum())
        tokens = sum(len(w.continuation) for w in windows)
        num_bytes = sum(len(t.encode("utf-8")) for t in texts)
        words = sum(len(t.split()) for t in texts)
        return {
            "log_likelihood": log_likelihood,
            "tokens": tokens,
            "bytes": num_bytes,
            "token_perplexity": math.exp(-log_likelihood / max(tokens, 1)),
            "word_perplexity": math.exp(-log_likelihood / max(words, 1)),
            "bits_per_byte": -log_likelihood / (math.log(2) * max(num_bytes, 1)),
        }
