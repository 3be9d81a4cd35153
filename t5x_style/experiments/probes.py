"""Held-out text probes of a model: token windows for attention maps, sentences and their word-
shuffled versions, and log-likelihoods (causal: one pass; bidirectional MLM: pseudo-log-likelihood).

The texts are the corpus's held-out documents, never trained on. A pseudo-log-likelihood
(Salazar et al. 2020) scores each token with only that position masked, the way the MLM arm was
trained; it needs one row per token, so sentences are kept short.
"""

import re

import jax
import numpy as np

from t5x_style.data import features, tfds_builder, tokenizer
from t5x_style.models import Model

_SENTENCE = re.compile(r"[^.!?]+[.!?]")


def _vocabulary(config):
    return tokenizer.get_vocabulary(config.data.vocabulary, config.data.extra_ids)


def _documents(config) -> list[str]:
    return [r["text"] for r in tfds_builder.heldout_documents(config.data.corpus,
                                                              config.data.data_dir)]


def heldout_windows(config, count: int, length: int) -> np.ndarray:
    """(count, length) token ids: the first `length` tokens of held-out documents that long."""
    vocab = _vocabulary(config)
    windows = [ids[:length] for ids in map(vocab.encode, _documents(config)) if len(ids) >= length]
    if len(windows) < count:
        raise ValueError(f"only {len(windows)} held-out documents have {length} tokens; "
                         f"{count} asked")
    return np.asarray(windows[:count], np.int32)


def heldout_sentences(config, count: int, max_tokens: int, seed: int = 0) -> list[tuple[str, str]]:
    """(sentence, the same words shuffled into another order) pairs of >= 6 words that encode to at
    most `max_tokens` tokens (EOS included), from the held-out documents in order."""
    vocab, rng, pairs = _vocabulary(config), np.random.default_rng(seed), []
    for text in _documents(config):
        for sentence in (s.strip() for s in _SENTENCE.findall(text)):
            words = sentence.split()
            if len(words) < 6 or len(vocab.encode(sentence)) + 1 > max_tokens:
                continue
            order = rng.permutation(len(words))
            while np.all(order == np.arange(len(words))):
                order = rng.permutation(len(words))
            pairs.append((sentence, " ".join(words[i] for i in order)))
            if len(pairs) == count:
                return pairs
    raise ValueError(f"only {len(pairs)} held-out sentences fit {max_tokens} tokens; {count} asked")


def causal_features(windows: np.ndarray) -> dict:
    """Next-token features of each row (no prefix): what a causal decoder trains on."""
    rows = [features.decoder_features(np.zeros(0, np.int32), w) for w in windows]
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def bidirectional_features(inputs: np.ndarray, targets: np.ndarray | None = None,
                           weights: np.ndarray | None = None) -> dict:
    """(B, L) rows read in place with every position visible to every other
    (decoder_causal_attention = 1 everywhere), as the MLM arms train."""
    targets = inputs if targets is None else targets
    weights = np.ones_like(inputs) if weights is None else weights
    return features.aligned_decoder_features(inputs, targets, weights) | {
        "decoder_causal_attention": np.ones_like(inputs)}


def _pad(ids: list[int], length: int) -> np.ndarray:
    return np.pad(np.asarray(ids, np.int32), (0, length - len(ids)))


def log_likelihoods(model: Model, params, texts: list[str], length: int) -> np.ndarray:
    """Per text, the summed log-likelihood of its tokens + EOS: left to right for a causal
    decoder, the pseudo-log-likelihood for a bidirectional (MLM) model."""
    vocab = _vocabulary(model.config)
    score = jax.jit(model.score_batch)
    out = []
    for text in texts:
        ids = vocab.encode(text) + [vocab.eos_id]
        if model.config.model.architecture == "causal_decoder":
            row = features.decoder_features(np.zeros(0, np.int32), _pad(ids, length))
            row["decoder_loss_weights"] = _pad([1] * len(ids), length)
            batch = {k: v[None] for k, v in row.items()}
        else:
            n = len(ids)
            targets = np.tile(_pad(ids, length), (n, 1))
            inputs = targets.copy()
            inputs[np.arange(n), np.arange(n)] = vocab.sentinel_id(0)  # The MLM mask token.
            weights = np.zeros_like(targets)
            weights[np.arange(n), np.arange(n)] = 1
            batch = bidirectional_features(inputs, targets, weights)
        out.append(float(np.sum(score(params, batch))))
    return np.asarray(out)
