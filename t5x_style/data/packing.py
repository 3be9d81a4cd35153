"""Packing: many short examples per row, with segment ids and positions, as T5X/seqio do.

Examples are dicts of 1-D features named `encoder_*` or `decoder_*` (see `features`); each
stream is packed to its own length. For every stream the row gets `<stream>_segment_ids`
(1, 2, ... per example, 0 on padding) and `<stream>_positions` (restarting at 0 per example);
every feature is padded with 0. An encoder-decoder example goes in a row only if both its
encoder and its decoder parts fit. Packing is first-fit over a window of documents, so rows are reproducible.

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


def first_fit(examples: list[dict], lengths: dict[str, int]) -> list[list[dict]]:
    """Each example, in order, goes to the first row with room in every stream, else a new row."""
    rows, used = [], []
    for example in examples:
        sizes = _sizes(example)
        for row, room in zip(rows, used):
            if all(room[s] + sizes[s] <= lengths[s] for s in sizes):
                row.append(example)
                room.update({s: room[s] + sizes[s] for s in sizes})
                break
        else:
            rows.append([example])
            used.append(dict(sizes))
    return rows


class _PackIterator(grain.DatasetIterator):
    """Reads lists of examples (one list per document), packs a window of documents at a time.

    State: the parent's state at the start of the current window and how many of its rows were
    returned; restoring re-reads the window, packs it again (deterministic) and skips those rows.
    """

    def __init__(self, parent: grain.DatasetIterator, lengths: dict[str, int], pack: bool,
                 window: int):
        super().__init__(parent)
        self._lengths, self._pack, self._window = lengths, pack, window
        self._window_state = parent.get_state()
        self._rows: list[list[dict]] = []
        self._returned = 0

    def _read_window(self) -> None:
        """Packs the next `window` documents; StopIteration once the parent has none left."""
        self._window_state = self._parent.get_state()
        examples, documents = [], 0
        for documents, document in enumerate(self._parent, start=1):
            examples += document
            if documents == self._window:
                break
        if not documents:
            raise StopIteration
        for example in examples:
            _check_fits(example, self._lengths)
        self._rows = (first_fit(examples, self._lengths) if self._pack
                      else [[example] for example in examples])
        self._returned = 0

    def __next__(self) -> dict[str, np.ndarray]:
        while not self._rows:
            self._read_window()
        self._returned += 1
        return pack_row(self._rows.pop(0), self._lengths)

    def get_state(self) -> dict:
        return {"window": self._window_state, "returned": self._returned}

    def set_state(self, state: dict) -> None:
        self._parent.set_state(state["window"])
        self._window_state, self._rows, self._returned = state["window"], [], 0
        if state["returned"]:
            self._read_window()
            del self._rows[:state["returned"]]
            self._returned = state["returned"]


class PackIterDataset(grain.IterDataset):
    """Packs (pack=True) or pads one example per row (pack=False), deterministically.

    `window` documents are packed together first-fit: larger windows fill rows better (T5X's
    packer looks at many examples at once too); in-order greedy packing would leave rows of
    wiki leads at length 512 about a quarter empty.
    """

    def __init__(self, parent: grain.IterDataset, lengths: dict[str, int], pack: bool = True,
                 window: int = 64):
        super().__init__(parent)
        self._lengths, self._pack, self._window = dict(lengths), pack, window

    def __iter__(self) -> _PackIterator:
        return _PackIterator(self._parent.__iter__(), self._lengths, self._pack, self._window)
