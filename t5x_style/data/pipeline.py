"""The input pipeline: tfds records -> tokens -> objective -> features -> packed numpy batches.

Grain over a random-access tfds data source: deterministic given `data.seed`, sharded by whole
documents across processes, and checkpointable: `iterator.get_state()` is a small JSON-able dict
and `iterator.set_state(state)` makes a resumed run see exactly the batches it would have seen.

    records[process_index::process_count]       this process's documents
      .shuffle(seed).repeat()                   training: a new order every epoch
      .random_map(document -> examples)         tokenize, chunk, objective, feature conversion
      -> PackIterDataset(lengths) -> batch      rows of int32[local_batch, length]
"""

import logging

import grain
import numpy as np

from t5x_style import objectives
from t5x_style.data import corpora, features, packing, tfds_builder
from t5x_style.data.errors import DataError
from t5x_style.data.tokenizer import Vocabulary, get_vocabulary


def model_feature_lengths(config) -> dict[str, int]:
    """Row length of each stream, {"decoder": L} or {"encoder": E, "decoder": D}, for `config`."""
    d = config.data
    objectives.chunk_length(d.objective, d.sequence_length, d.noise_density,
                            d.mean_noise_span_length, d.extra_ids)  # Raises if too short.
    targets_length = (objectives.targets_length(d.sequence_length, d.noise_density,
                                                d.mean_noise_span_length)
                      if d.objective == "span_corruption" else 0)
    return features.feature_lengths(config.model.architecture, d.objective, d.sequence_length,
                                    targets_length)


class DocumentToExamples:
    """One tfds record -> the list of model-feature examples of its chunks (order kept)."""

    def __init__(self, config, vocab: Vocabulary):
        d = config.data
        self.text_feature, self.vocab = d.text_feature, vocab
        self.chunk = objectives.chunk_length(d.objective, d.sequence_length, d.noise_density,
                                             d.mean_noise_span_length, d.extra_ids)
        self.convert = features.converter(config.model.architecture, d.objective)
        self.objective = {
            "full_lm": lambda tokens, rng: objectives.full_lm(tokens, vocab),
            "prefix_lm": lambda tokens, rng: objectives.prefix_lm(tokens, rng, vocab),
            "span_corruption": lambda tokens, rng: objectives.span_corruption(
                tokens, rng, vocab, d.noise_density, d.mean_noise_span_length),
            "mlm": lambda tokens, rng: objectives.mlm(tokens, rng, vocab, d.noise_density),
        }[d.objective]

    def __call__(self, record: dict, rng: np.random.Generator) -> list[dict]:
        if self.text_feature not in record:
            raise DataError(f"records have no feature data.text_feature={self.text_feature!r}; "
                            f"they have: {sorted(record)}")
        text = record[self.text_feature]
        text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
        tokens = np.asarray(self.vocab.encode(text), np.int32)
        # A document longer than one example is split into chunks, never truncated.
        return [self.convert(**self.objective(tokens[start:start + self.chunk], rng))
                for start in range(0, len(tokens), self.chunk)]


def _pad_batch(batch: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """Fills a short last eval batch with empty rows (segment 0, loss weight 0)."""
    return {k: np.pad(v, ((0, batch_size - len(v)), (0, 0))) for k, v in batch.items()}


def make_pipeline(config, training: bool = True, process_index: int = 0,
                  process_count: int = 1) -> grain.IterDataset:
    """Batches for this process: dicts of int32[batch_size // process_count, length].

    training=True reads `data.train_split`, reshuffled every epoch, forever. training=False reads
    `data.eval_split` once, in order, and pads the last batch with empty rows.
    """
    d = config.data
    if d.batch_size % process_count:
        raise DataError(f"data.batch_size={d.batch_size} must be divisible by the "
                        f"{process_count} processes")
    if not 0 <= process_index < process_count:
        raise DataError(f"process_index={process_index} must be in [0, {process_count})")
    vocab = get_vocabulary(d.vocabulary, d.extra_ids)
    if vocab.vocab_size > config.model.vocab_size:
        raise DataError(f"data.vocabulary={d.vocabulary!r} has {vocab.vocab_size} ids but "
                        f"model.vocab_size={config.model.vocab_size}; raise model.vocab_size to "
                        f"at least {vocab.vocab_size} (rounded up to a multiple of 128)")
    lengths = model_feature_lengths(config)
    to_examples = DocumentToExamples(config, vocab)
    if d.corpus.partition("_first")[0] in corpora.CORPORA:
        logging.info("%s", corpora.licence_manifest(d.corpus.partition("_first")[0]))
    records = tfds_builder.open_split(d.corpus, d.train_split if training else d.eval_split,
                                      d.data_dir, d.download)
    ds = grain.MapDataset.source(records)[process_index::process_count]
    if training:
        ds = ds.shuffle(seed=d.seed).repeat()
    # Each process draws its own objective randomness; each epoch redraws it.
    seed = int(np.random.SeedSequence([d.seed, process_index]).generate_state(1)[0])
    ds = ds.random_map(to_examples, seed=seed)
    rows = packing.PackIterDataset(
        ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=32)),
        lengths, pack=d.pack)
    local_batch = d.batch_size // process_count
    batches = rows.batch(local_batch, drop_remainder=training)
    return batches if training else batches.map(lambda b: _pad_batch(b, local_batch))
