"""Feature conversion per architecture, on one unpacked example, as seqio's feature converters.

An objective's {inputs, targets} example becomes the model's features (1-D int32, no padding);
`packing` then concatenates examples into rows and adds `*_segment_ids` and `*_positions`.
Shifting here, before packing, is what guarantees a shift never crosses a segment.

Decoder-only (causal and prefix decoders share the batch; seqio PrefixLMFeatureConverter):
    inputs [7, 8, 5, 1], targets [3, 9, 1]
    decoder_target_tokens    = [7, 8, 5, 1, 3, 9, 1]   inputs + targets
    decoder_input_tokens     = [0, 7, 8, 5, 1, 3, 9]   targets shifted right, 0 first
    decoder_loss_weights     = [0, 0, 0, 0, 1, 1, 1]   loss on targets only
    decoder_causal_attention = [1, 1, 1, 1, 1, 0, 0]   inputs plus the first target position
With no inputs (full LM) decoder_causal_attention is all 0 and the loss covers every token.

Encoder-decoder (seqio EncDecFeatureConverter): encoder_input_tokens = inputs;
decoder_target_tokens = targets, decoder_input_tokens = shifted targets, loss on all targets.

MLM in a decoder is aligned, not shifted: decoder_input_tokens = the corrupted tokens,
decoder_target_tokens = the originals at the same positions, loss on the masked positions, and
decoder_causal_attention = 1 everywhere, so a prefix decoder reads the whole row bidirectionally.
In an encoder-decoder, MLM is a denoising reconstruction: the decoder rewrites the original.
"""

from typing import Callable

import numpy as np

from t5x_style.data.errors import DataError

ARCHITECTURES = ("causal_decoder", "prefix_decoder", "encoder_decoder")


def shift_right(tokens: np.ndarray) -> np.ndarray:
    """[a, b, c] -> [0, a, b]: the decoder reads the previous target."""
    return np.concatenate([[0], tokens[:-1]]).astype(np.int32)


def decoder_features(inputs: np.ndarray, targets: np.ndarray) -> dict:
    sequence = np.concatenate([inputs, targets]).astype(np.int32)
    positions = np.arange(len(sequence))
    prefix = len(inputs) + 1 if len(inputs) else 0
    return {
        "decoder_target_tokens": sequence,
        "decoder_input_tokens": shift_right(sequence),
        "decoder_loss_weights": (positions >= len(inputs)).astype(np.int32),
        "decoder_causal_attention": (positions < prefix).astype(np.int32),
    }


def aligned_decoder_features(inputs: np.ndarray, targets: np.ndarray,
                             loss_weights: np.ndarray) -> dict:
    return {
        "decoder_target_tokens": targets.astype(np.int32),
        "decoder_input_tokens": inputs.astype(np.int32),
        "decoder_loss_weights": loss_weights.astype(np.int32),
        "decoder_causal_attention": np.ones(len(targets), np.int32),
    }


def encoder_decoder_features(inputs: np.ndarray, targets: np.ndarray,
                             loss_weights: np.ndarray | None = None) -> dict:
    del loss_weights  # MLM in an encoder-decoder reconstructs every token.
    return {
        "encoder_input_tokens": inputs.astype(np.int32),
        "decoder_target_tokens": targets.astype(np.int32),
        "decoder_input_tokens": shift_right(targets),
        "decoder_loss_weights": np.ones(len(targets), np.int32),
    }


def converter(architecture: str, objective: str) -> Callable[..., dict]:
    """The conversion for an (architecture, objective) pair; called as f(**example)."""
    if architecture not in ARCHITECTURES:
        raise DataError(f"model.architecture={architecture!r} is not known; allowed: "
                        f"{list(ARCHITECTURES)}")
    if architecture == "encoder_decoder":
        if objective == "full_lm":
            raise DataError("data.objective='full_lm' has no encoder input, so it cannot train "
                            "model.architecture='encoder_decoder'; use prefix_lm (the encoder "
                            "reads the prefix) or span_corruption")
        return encoder_decoder_features
    if objective == "mlm":
        if architecture == "causal_decoder":
            raise DataError("data.objective='mlm' predicts tokens in place and needs "
                            "bidirectional reading; use model.architecture='prefix_decoder' or "
                            "'encoder_decoder'")
        return aligned_decoder_features
    return decoder_features


def feature_lengths(architecture: str, objective: str, sequence_length: int,
                    targets_length: int) -> dict[str, int]:
    """Packed row length per stream ("encoder", "decoder") for an (architecture, objective).

    `targets_length` is span corruption's (objectives.targets_length); other objectives make
    inputs and targets that each fit in `sequence_length`. Decoders read inputs and targets
    concatenated: 512 + 114 = 626 for span corruption.
    """
    if objective == "span_corruption":
        if architecture == "encoder_decoder":
            return {"encoder": sequence_length, "decoder": targets_length}
        return {"decoder": sequence_length + targets_length}
    if architecture == "encoder_decoder":
        return {"encoder": sequence_length, "decoder": sequence_length}
    return {"decoder": sequence_length}
