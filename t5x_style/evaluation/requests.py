"""Requests: (context, continuation) text -> token ids -> padded batches, one shape per bucket.

A request asks for log p(continuation | context), summed over the continuation's tokens, as an
lm-evaluation-harness `loglikelihood` request. Conventions (all from the harness):
  * whitespace at the end of the context moves to the front of the continuation
    ("Q: 2+2\\nA: ", "4") -> ("Q: 2+2\\nA:", " 4"), so a choice never starts mid-token;
  * the pair is encoded as a whole and split where the context's own encoding ends
    (`_encode_pair`), so the continuation's tokens are the ones training would have seen;
  * a context too long for the model loses tokens from the LEFT (the question stays, the oldest
    demonstrations go); a continuation that alone does not fit is an error.

Each architecture reads the pair exactly as it read training examples, through the training
feature converters of `t5x_style.data.features` (context = `inputs`, continuation = `targets`):
    causal_decoder   one row context + continuation, loss on the continuation;
    prefix_decoder   the same row, decoder_causal_attention = 1 over the context and the first
                     continuation position (the prefix-LM convention);
    encoder_decoder  the context is the encoder input, the continuation the decoder target.
No EOS is appended (the harness's convention; a prefix-LM target's EOS comes after the text).

Batches are padded on the right to a bucket length (the next power of two, at least 16, at most
`max_length`) and to a fixed number of rows, so the jitted scorer compiles once per bucket.
Padding rows are all zeros: zero loss weight, score 0, dropped by the caller.
"""

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from t5x_style.data import features

MIN_BUCKET = 16  # shortest padded length: tiny requests share one compiled shape


@dataclasses.dataclass(frozen=True)
class Request:
    """Text pair; its score is log p(continuation | context)."""
    context: str
    continuation: str


@dataclasses.dataclass(frozen=True)
class TokenRequest:
    """Token ids of a request after the whitespace move, pair encoding and left truncation."""
    context: tuple[int, ...]
    continuation: tuple[int, ...]
    truncated: int = 0  # context tokens dropped from the left to fit max_length


class RequestTooLongError(ValueError):
    """A continuation longer than the model's maximum length: no truncation can score it."""


def move_whitespace(context: str, continuation: str) -> tuple[str, str]:
    """Trailing whitespace of the context moves to the continuation (lm-evaluation-harness)."""
    stripped = context.rstrip()
    return stripped, context[len(stripped):] + continuation


def encode_pair(vocabulary, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids): the whole pair encoded once and split after the context's
    own encoding, so subword merges across the boundary match the training text."""
    context, continuation = move_whitespace(context, continuation)
    whole = vocabulary.encode(context + continuation)
    context_ids = vocabulary.encode(context) if context else []
    return whole[:len(context_ids)], whole[len(context_ids):]


def truncate(context: Sequence[int], continuation: Sequence[int], architecture: str,
             max_length: int) -> TokenRequest:
    """Drops context tokens from the left until the row(s) fit `max_length`.

    Decoders read context + continuation in one row of at most max_length tokens; the
    encoder-decoder reads at most max_length context tokens and max_length continuation tokens.
    """
    if len(continuation) > max_length or not continuation:
        raise RequestTooLongError(
            f"continuation of {len(continuation)} tokens cannot be scored with max_length="
            f"{max_length}; allowed: 1..{max_length} tokens")
    room = max_length if architecture == "encoder_decoder" else max_length - len(continuation)
    dropped = max(0, len(context) - room)
    return TokenRequest(tuple(context[dropped:]), tuple(continuation), dropped)


def tokenize(requests: Sequence[Request], vocabulary, architecture: str,
             max_length: int) -> list[TokenRequest]:
    return [truncate(*encode_pair(vocabulary, r.context, r.continuation), architecture, max_length)
            for r in requests]


def example_features(request: TokenRequest, architecture: str) -> dict[str, np.ndarray]:
    """The training converter's features for one request (1-D int32, unpadded)."""
    context = np.asarray(request.context, np.int32)
    continuation = np.asarray(request.continuation, np.int32)
    if architecture == "encoder_decoder":
        return features.encoder_decoder_features(context, continuation)
    return features.decoder_features(context, continuation)


def lengths(request: TokenRequest, architecture: str) -> tuple[int, int]:
    """(encoder length, decoder length) of a request's rows; encoder 0 for decoders."""
    if architecture == "encoder_decoder":
        return len(request.context), len(request.continuation)
    return 0, len(request.context) + len(request.continuation)


def bucket_length(length: int, max_length: int) -> int:
    """Next power of two >= length (at least MIN_BUCKET), capped at max_length."""
    return min(max(MIN_BUCKET, 1 << max(0, length - 1).bit_length()), max_length)


def bucket_key(request: TokenRequest, architecture: str, max_length: int) -> tuple[int, int]:
    encoder, decoder = lengths(request, architecture)
    encoder = bucket_length(max(encoder, 1), max_length) if architecture == "encoder_decoder" else 0
    return encoder, bucket_length(decoder, max_length)


def pad_batch(rows: Sequence[dict[str, np.ndarray]], batch_size: int,
              key: tuple[int, int]) -> dict[str, np.ndarray]:
    """Rows of 1-D features -> int32 (batch_size, length) arrays, zero-padded right and below."""
    encoder_length, decoder_length = key
    batch = {}
    for name in rows[0]:
        length = encoder_length if name.startswith("encoder_") else decoder_length
        array = np.zeros((batch_size, length), np.int32)
        for i, row in enumerate(rows):
            array[i, :len(row[name])] = row[name]
        batch[name] = array
    return batch


def batches(requests: Sequence[TokenRequest], architecture: str, batch_size: int,
            max_length: int) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
    """(request indices, padded batch) grouped by bucket, longest first within a bucket (as the
    harness orders them, so a too-long bucket fails first)."""
    order = sorted(range(len(requests)), key=lambda i: (
        bucket_key(requests[i], architecture, max_length),
        -sum(lengths(requests[i], architecture)), i))
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for i in order:
        by_bucket.setdefault(bucket_key(requests[i], architecture, max_length), []).append(i)
    for key, indices in by_bucket.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            rows = [example_features(requests[i], architecture) for i in chunk]
            yield chunk, pad_batch(rows, batch_size, key)


def rolling_windows(tokens: Sequence[int], max_length: int,
                    context_length: int = 1) -> list[TokenRequest]:
    """Disjoint windows that together predict every token of a document once (the harness's
    `get_rolling_token_windows`): the first window predicts up to max_length tokens from nothing;
    each later one predicts up to max_length - context_length tokens after the preceding
    `context_length` tokens. Decoder rows are then exactly max_length long."""
    if not 0 <= context_length < max_length:
        raise ValueError(f"context_length={context_length} must be in [0, max_length={max_length})")
    windows = [TokenRequest((), tuple(tokens[:max_length]))]
    start = max_length
    while start < len(tokens):
        end = min(len(tokens), start + max_length - context_length)
        windows.append(TokenRequest(tuple(tokens[start - context_length:start]),
                                    tuple(tokens[start:end])))
        start = end
    return windows if tokens else []
