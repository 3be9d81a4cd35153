"""Pretraining objectives: a chunk of token ids -> an {inputs, targets} example, in numpy.

Each objective is deterministic given its `np.random.Generator`, and knows nothing of models.
The examples carry EOS (id 1) and no padding; `t5x_style.data.features` turns them into the
model's features and `t5x_style.data.packing` packs them into rows.

    full_lm          targets = chunk + EOS                        (inputs empty)
    prefix_lm        chunk + EOS cut at s ~ U[1, n-1): inputs = [:s], targets = [s:]
    span_corruption  T5: 15% noise in spans of mean length 3, one sentinel per span, + EOS
                     chunk  = [a b c d e f g h]   noise at c d and g
                     inputs = [a b <X0> e f <X1> h EOS],  targets = [<X0> c d <X1> g EOS]
    mlm              BERT: 15% of positions; 80% -> <extra_id_0>, 10% random, 10% kept;
                     inputs = corrupted + EOS, targets = chunk + EOS, loss_weights on the 15%

`chunk_length` says how many raw tokens each objective consumes for a given `sequence_length`,
so that its examples fit the model's lengths without truncation.
"""

import numpy as np

from t5x_style.data.errors import DataError
from t5x_style.data.tokenizer import Vocabulary

OBJECTIVES = ("full_lm", "prefix_lm", "span_corruption", "mlm")


def _with_eos(tokens: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    return np.append(tokens, vocab.eos_id).astype(np.int32)


def full_lm(tokens: np.ndarray, vocab: Vocabulary) -> dict:
    """Next-token prediction over the whole chunk."""
    return {"inputs": np.zeros(0, np.int32), "targets": _with_eos(tokens, vocab)}


def prefix_lm(tokens: np.ndarray, rng: np.random.Generator, vocab: Vocabulary) -> dict:
    """Split point s uniform in [1, n-1) over the n = len(chunk) + 1 tokens (as Wang et al.'s
    `pack_prefix_lm_decoder_only`); a one-token chunk can only split at 1 (targets = [EOS])."""
    sequence = _with_eos(tokens, vocab)
    split = int(rng.integers(1, max(2, len(sequence) - 1)))
    return {"inputs": sequence[:split], "targets": sequence[split:]}


def random_spans_noise_mask(length: int, rng: np.random.Generator, noise_density: float = 0.15,
                            mean_noise_span_length: float = 3.0) -> np.ndarray:
    """T5's noise mask: bool[length], True on noise. Counts are fixed, only positions are random:

        num_noise_tokens = round(length * noise_density), clipped to [1, length - 1]
        num_noise_spans  = max(1, round(num_noise_tokens / mean_noise_span_length))

    Noise and non-noise tokens are each cut into num_noise_spans non-empty segments uniformly at
    random; the segments alternate, non-noise first (so the mask always ends in noise).
    """
    orig_length = length
    length = max(length, 2)  # As T5: avoid degenerate masks; the mask is cut back below.
    num_noise_tokens = int(np.clip(np.round(length * noise_density), 1, length - 1))
    num_noise_spans = max(1, int(np.round(num_noise_tokens / mean_noise_span_length)))
    num_nonnoise_tokens = length - num_noise_tokens

    def random_segmentation(num_items: int, num_segments: int) -> np.ndarray:
        # Choose num_segments - 1 of the num_items - 1 gaps as segment starts -> int[num_segments].
        starts = rng.permutation(np.arange(num_items - 1) < num_segments - 1)
        segment_ids = np.cumsum(np.concatenate([[0], starts]))
        return np.bincount(segment_ids, minlength=num_segments)

    noise_lengths = random_segmentation(num_noise_tokens, num_noise_spans)
    nonnoise_lengths = random_segmentation(num_nonnoise_tokens, num_noise_spans)
    # [nonnoise_0, noise_0, nonnoise_1, noise_1, ...] -> int[2 * num_noise_spans]
    interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=1).reshape(-1)
    span_index = np.repeat(np.arange(2 * num_noise_spans), interleaved)  # int[length]
    return (span_index % 2 == 1)[:orig_length]


def random_spans_helper(inputs_length: int, noise_density: float = 0.15,
                        mean_noise_span_length: float = 3.0, extra_tokens_per_span_inputs: int = 1,
                        extra_tokens_per_span_targets: int = 1) -> tuple[int, int]:
    """T5's length arithmetic: (raw tokens per example, targets length), both EOS included in the
    encoded lengths, for span-corrupted inputs of at most `inputs_length` (512 -> (568, 114))."""

    def encoded_lengths(tokens_length: int) -> tuple[int, int]:
        num_noise_tokens = int(round(tokens_length * noise_density))
        num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
        return (tokens_length - num_noise_tokens + num_noise_spans * extra_tokens_per_span_inputs
                + 1, num_noise_tokens + num_noise_spans * extra_tokens_per_span_targets + 1)

    tokens_length = inputs_length - 1
    while encoded_lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    targets_length = encoded_lengths(tokens_length)[1]
    if noise_density == 0.5 and targets_length > inputs_length:  # As T5: keep the round number.
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def noise_span_to_unique_sentinel(tokens: np.ndarray, noise_mask: np.ndarray,
                                  vocab: Vocabulary) -> np.ndarray:
    """Replaces each run of noise tokens by one sentinel, <extra_id_0>, <extra_id_1>, ... in order."""
    previous_is_noise = np.concatenate([[False], noise_mask[:-1]])
    first_noise = noise_mask & ~previous_is_noise
    sentinels = vocab.sentinel_id(0) + 1 - np.cumsum(first_noise)  # Count down from the top.
    return np.where(first_noise, sentinels, tokens)[~(noise_mask & previous_is_noise)]


def span_corruption(tokens: np.ndarray, rng: np.random.Generator, vocab: Vocabulary,
                    noise_density: float = 0.15, mean_noise_span_length: float = 3.0) -> dict:
    """T5's span corruption: inputs keep the non-noise tokens, targets the noise ones."""
    noise_mask = random_spans_noise_mask(len(tokens), rng, noise_density, mean_noise_span_length)
    return {"inputs": _with_eos(noise_span_to_unique_sentinel(tokens, noise_mask, vocab), vocab),
            "targets": _with_eos(noise_span_to_unique_sentinel(tokens, ~noise_mask, vocab), vocab)}


def mlm(tokens: np.ndarray, rng: np.random.Generator, vocab: Vocabulary,
        mask_rate: float = 0.15) -> dict:
    """BERT's masked LM: exactly max(1, round(n * mask_rate)) positions are predicted; of them
    80% read <extra_id_0> (the mask token), 10% a random ordinary token, 10% themselves."""
    n = len(tokens)
    positions = rng.choice(n, size=int(np.clip(np.round(n * mask_rate), 1, n)), replace=False)
    draw = rng.random(len(positions))
    corrupted = np.array(tokens, np.int32)
    corrupted[positions[draw < 0.8]] = vocab.sentinel_id(0)
    randomized = positions[(draw >= 0.8) & (draw < 0.9)]
    corrupted[randomized] = rng.integers(vocab.unk_id + 1, vocab.base_size, size=len(randomized))
    loss_weights = np.zeros(n + 1, np.int32)  # The EOS is never masked, so never predicted.
    loss_weights[positions] = 1
    return {"inputs": _with_eos(corrupted, vocab), "targets": _with_eos(tokens, vocab),
            "loss_weights": loss_weights}


def _check_span_corruption(sequence_length: int, noise_density: float,
                           mean_noise_span_length: float, extra_ids: int) -> tuple[int, int]:
    tokens_length, targets_length = random_spans_helper(
        sequence_length, noise_density, mean_noise_span_length)
    # The helper omits the mask's clamps (>= 1 noise token, >= 1 span); check the mask fits.
    noise = int(np.clip(np.round(tokens_length * noise_density), 1, max(1, tokens_length - 1)))
    spans = max(1, int(np.round(noise / mean_noise_span_length)))
    if (tokens_length < 2 or tokens_length - noise + spans + 1 > sequence_length
            or noise + spans + 1 > targets_length):
        raise DataError(f"data.sequence_length={sequence_length} is too short for span_corruption "
                        f"(noise_density={noise_density}, mean_noise_span_length="
                        f"{mean_noise_span_length}): the corrupted inputs or targets would not fit")
    if spans > extra_ids:
        raise DataError(f"span_corruption with data.sequence_length={sequence_length} makes "
                        f"{spans} noise spans but the vocabulary has only {extra_ids} sentinels")
    return tokens_length, targets_length


def chunk_length(objective: str, sequence_length: int, noise_density: float = 0.15,
                 mean_noise_span_length: float = 3.0, extra_ids: int = 100) -> int:
    """Raw tokens per example: the sequence less its EOS, or T5's raw length for span corruption
    (`sequence_length` is then the encoder inputs length: 512 -> 568 raw tokens)."""
    if objective not in OBJECTIVES:
        raise DataError(f"data.objective={objective!r} is not known; allowed: {list(OBJECTIVES)}")
    if objective == "span_corruption":
        return _check_span_corruption(sequence_length, noise_density, mean_noise_span_length,
                                      extra_ids)[0]
    minimum = 3 if objective == "prefix_lm" else 2  # prefix_lm: >= 1 input and >= 1 target.
    if sequence_length < minimum:
        raise DataError(f"data.sequence_length={sequence_length} is too short for {objective}; "
                        f"it needs at least {minimum}")
    return sequence_length - 1


def targets_length(sequence_length: int, noise_density: float = 0.15,
                   mean_noise_span_length: float = 3.0) -> int:
    """Length of span corruption's targets for inputs of `sequence_length` (512 -> 114)."""
    return random_spans_helper(sequence_length, noise_density, mean_noise_span_length)[1]
