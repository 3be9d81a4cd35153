"""Vocabularies with T5-style sentinels: bytes (no training) or SentencePiece (trained offline).

Both follow T5's id conventions: 0 pad, 1 EOS, 2 unk, then ordinary tokens, then `extra_ids`
sentinels at the TOP of the vocabulary counting down: `<extra_id_0>` is the last id. With bytes
that is 3 + 256 + 100 = 359 ids (extra_id_0 = 358, extra_id_99 = 259); the model rounds its
embedding up to a multiple of 128 (384). Any SentencePiece model with pad 0, EOS 1, unk 2 loads,
the public T5 one included (32000 pieces + 100 extra ids = 32100 ids, model vocab 32128).

Train one offline on a prepared corpus's training split (held-out documents never seen):

    python -m t5x_style.data.tokenizer train --corpus wiki_en --vocab_size 8000 \
        --output ~/.cache/t5x_style/spm/wiki_en_8k
"""

import argparse
import sys
import time

import numpy as np
import sentencepiece as spm
from etils import epath

from t5x_style.data.errors import DataError

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2


class Vocabulary:
    """The interface objectives and pipelines use; subclasses map text to ordinary ids."""

    pad_id, eos_id, unk_id = PAD_ID, EOS_ID, UNK_ID

    def __init__(self, base_size: int, extra_ids: int):
        if extra_ids < 0:
            raise DataError(f"extra_ids={extra_ids} must be >= 0")
        self.base_size = base_size  # Ids below this are pad/eos/unk and ordinary tokens.
        self.extra_ids = extra_ids

    @property
    def vocab_size(self) -> int:
        """Real ids, sentinels included (the model's table may be larger, padded to 128)."""
        return self.base_size + self.extra_ids

    def sentinel_id(self, index: int) -> int:
        """Id of `<extra_id_{index}>`; T5 counts sentinels down from the last id."""
        if not 0 <= index < self.extra_ids:
            raise DataError(f"sentinel index {index} out of range; this vocabulary has "
                            f"{self.extra_ids} extra ids")
        return self.vocab_size - 1 - index

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def _decode_ordinary(self, ids: list[int]) -> str:
        raise NotImplementedError

    def decode(self, ids) -> str:
        """Text of ids up to the first EOS; pads dropped, sentinels written `<extra_id_k>`."""
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[:ids.index(self.eos_id)]
        pieces, run = [], []
        for i in ids:
            if i >= self.base_size:
                pieces += [self._decode_ordinary(run), f"<extra_id_{self.vocab_size - 1 - i}>"]
                run = []
            elif i != self.pad_id:
                run.append(i)
        return "".join(pieces + [self._decode_ordinary(run)])


class ByteVocabulary(Vocabulary):
    """UTF-8 bytes at ids 3..258: any text encodes, nothing to train or download."""

    offset = 3

    def __init__(self, extra_ids: int = 100):
        super().__init__(base_size=self.offset + 256, extra_ids=extra_ids)

    def encode(self, text: str) -> list[int]:
        return (np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int32) + self.offset).tolist()

    def _decode_ordinary(self, ids: list[int]) -> str:
        data = bytes(i - self.offset for i in ids if i >= self.offset)
        return data.decode("utf-8", errors="replace")


class SentencePieceVocabulary(Vocabulary):
    """A SentencePiece `.model` (local path or gs://) plus `extra_ids` sentinels on top."""

    def __init__(self, path: str, extra_ids: int = 100):
        try:
            proto = epath.Path(path).read_bytes()
        except FileNotFoundError:
            raise DataError(f"SentencePiece model {path!r} not found; train one with "
                            f"`python -m t5x_style.data.tokenizer train` or pass a T5 .model") from None
        self.path = path
        self.processor = spm.SentencePieceProcessor(model_proto=proto)
        ids = (self.processor.pad_id(), self.processor.eos_id(), self.processor.unk_id())
        if ids != (PAD_ID, EOS_ID, UNK_ID):
            raise DataError(f"SentencePiece model {path!r} has (pad, eos, unk) ids {ids}; T5 "
                            f"conventions need {(PAD_ID, EOS_ID, UNK_ID)}")
        super().__init__(base_size=self.processor.get_piece_size(), extra_ids=extra_ids)

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def _decode_ordinary(self, ids: list[int]) -> str:
        return self.processor.decode(ids)


def get_vocabulary(name: str, extra_ids: int = 100) -> Vocabulary:
    """`"byte"` or the path of a SentencePiece model (config field `data.vocabulary`)."""
    return ByteVocabulary(extra_ids) if name == "byte" else SentencePieceVocabulary(name, extra_ids)


def train_sentencepiece(texts, output_prefix: str, vocab_size: int,
                        model_type: str = "unigram") -> str:
    """Trains a T5-convention SentencePiece model on an iterable of strings; returns its path.

    `vocab_size` counts pieces; the Vocabulary adds the extra ids on top of them.
    """
    output = epath.Path(output_prefix)
    output.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(output), vocab_size=vocab_size,
        model_type=model_type,
        pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,  # T5 conventions.
        character_coverage=1.0, byte_fallback=True,  # Rare characters become bytes, not unk.
        max_sentence_length=1 << 16, num_threads=2, minloglevel=2)
    return f"{output}.model"


def corpus_texts(corpus: str, data_dir: str = "", split: str = "train"):
    """Texts of a prepared dataset split (an embedded corpus or a tfds name)."""
    from t5x_style.data import tfds_builder  # Only the training command needs tfds.
    records = tfds_builder.open_split(corpus, split, data_dir)
    for i in range(len(records)):
        yield records[i]["text"].decode("utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m t5x_style.data.tokenizer",
                                     description="Train a SentencePiece model offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on the training split of a prepared corpus")
    train.add_argument("--corpus", default="wiki_en", help="embedded corpus or tfds name")
    train.add_argument("--data_dir", default="", help="tfds data_dir (default: the user cache)")
    train.add_argument("--vocab_size", type=int, default=8000,
                       help="pieces, before the 100 extra ids (8000 + 100 -> model vocab 8192)")
    train.add_argument("--model_type", default="unigram", choices=["unigram", "bpe"])
    train.add_argument("--output", required=True, help="output prefix: writes PREFIX.model/.vocab")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        path = train_sentencepiece(corpus_texts(args.corpus, args.data_dir), args.output,
                                   args.vocab_size, args.model_type)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({args.vocab_size} pieces + 100 extra ids) in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
