"""Packing: many short examples per row, with segment ids and positions, as T5X/seqio do.

Examples are dicts of 1-D features named `encoder_*` or `decoder_*` (see `features`); each
stream is packed to its own length. For every stream the row gets `<stream>_segment_ids`
(1, 2, ... per example, 0 on padding) and `<stream>_positions` (restarting at 0 per example);
every feature is padded with 0. An encoder-decoder example goes in a row only if both its
encoder and its decoder parts fit. Packing is greedy and in order, so rows are reproducible.

    decoder examples [3, 9, 1] and [4, 1], length 6 (seqio LMFeatureConverter):
    decoder_target_tokens = [3, 9, 1, 4, 1, 0]
    decoder_segment_ids   = [1, 1, 1, 2, 2, 0]
    decoder_positions     = [0, 1, 2, 0, 1, 0]
"""

import grain
import numpy as np

from t5x_style.data.errors import DataError


def _stream(feature: str) -> str:
    return feature.split("_", 1)[0]


def _sizes(example: dict) -> dict[str, int]:
    return {_stream(name): len(values) for name, values in example.items()}


def pack_row(examples: list[dict], lengths: dict[str, int]) -> dict[str, np.ndarray]:
    """One row from examples that fit: every feature int32[length of its stream]."""
    row = {}
    for stream, length in lengths.items():
        segment_ids, positions = [], []
        for segment, example in enumerate(examples, start=1):
            size = _sizes(example)[stream]
            segment_ids.append(np.full(size, segment, np.int32))
            positions.append(np.arange(size, dtype=np.int32))
        row[f"{stream}_segment_ids"] = segment_ids
        row[f"{stream}_positions"] = positions
    for name in examples[0]:
        row[name] = [example[name] for example in examples]
    out = {}
    for name, pieces in row.items():
        values = np.concatenate(pieces).astype(np.int32)
        length = lengths[_stream(name)]
        if len(values) > length:
            raise DataError(f"packed feature {name!r} has {len(values)} tokens for a row of "
                            f"{length}; the objective's chunk length does not match the lengths")
        out[name] = np.pad(values, (0, length - len(values)))
    return out


def _check_fits(example: dict, lengths: dict[str, int]) -> None:
    for stream, size in _sizes(example).items():
        if size > lengths[stream]:
            raise DataError(f"an example has {size} {stream} tokens but rows hold "
                            f"{lengths[stream]}: the chunk length does not match the lengths")


class _PackIterator(grain.DatasetIterator):
    """Reads lists of examples (one list per document) and yields packed rows.

    State: the parent's state just before the document being emptied, plus how many of that
    document's examples are already in rows; restoring re-reads that document and skips them.
    """

    def __init__(self, parent: grain.DatasetIterator, lengths: dict[str, int], pack: bool):
        super().__init__(parent)
        self._lengths, self._pack = lengths, pack
        self._document_state = parent.get_state()
        self._pending: list[dict] = []
        self._consumed = 0

    def _read_document(self) -> None:
        self._document_state = self._parent.get_state()
        self._pending = list(next(self._parent))
        self._consumed = 0

    def __next__(self) -> dict[str, np.ndarray]:
        row, used = [], dict.fromkeys(self._lengths, 0)
        while True:
            if not self._pending:
                try:
                    self._read_document()
                except StopIteration:
                    if row:
                        return pack_row(row, self._lengths)
                    raise
                continue
            example = self._pending[0]
            _check_fits(example, self._lengths)
            sizes = _sizes(example)
            if row and (not self._pack or any(used[s] + sizes[s] > self._lengths[s] for s in sizes)):
                return pack_row(row, self._lengths)
            row.append(self._pending.pop(0))
            self._consumed += 1
            used = {s: used[s] + sizes[s] for s in used}

    def get_state(self) -> dict:
        return {"document": self._document_state, "consumed": self._consumed}

    def set_state(self, state: dict) -> None:
        self._parent.set_state(state["document"])
        self._pending, self._consumed = [], 0
        if state["consumed"]:
            self._read_document()
            del self._pending[:state["consumed"]]
            self._consumed = state["consumed"]


class PackIterDataset(grain.IterDataset):
    """Packs (pack=True) or pads one example per row (pack=False), deterministically."""

    def __init__(self, parent: grain.IterDataset, lengths: dict[str, int], pack: bool = True):
        super().__init__(parent)
        self._lengths, self._pack = dict(lengths), pack

    def __iter__(self) -> _PackIterator:
        return _PackIterator(self._parent.__iter__(), self._lengths, self._pack)
