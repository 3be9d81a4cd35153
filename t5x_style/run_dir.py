"""What a training run directory holds, for the tools that read one afterwards.

    WORKDIR/config.json            the resolved config of the run (written by training)
    WORKDIR/checkpoints/<step>/    orbax checkpoints, the largest step the newest

Paths go through `etils.epath`, so a workdir may be local or `gs://...` (TPU pods).
"""

import json
import os

import ml_collections
from etils import epath

CONFIG_FILE = "config.json"


def is_remote(path) -> bool:
    """Whether `path` names a non-local filesystem (`gs://...`, any `scheme://...`)."""
    return "://" in str(path)


def path(workdir) -> epath.Path:
    """`workdir` as an `epath.Path`: local paths made absolute (orbax requires it), URIs kept."""
    if is_remote(workdir):
        return epath.Path(workdir)
    return epath.Path(os.path.abspath(os.fspath(workdir)))


def read_config(workdir: str) -> ml_collections.ConfigDict:
    """The run's config, as training resolved it (command-line overrides included)."""
    path = epath.Path(workdir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the workdir must be a training run directory "
                                "(or pass --config)")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def latest_step_directory(workdir: str) -> str | None:
    """WORKDIR/checkpoints/<largest integer step>, or None when there is no checkpoint."""
    directory = epath.Path(workdir) / "checkpoints"
    if not directory.exists():
        return None
    steps = [int(p.name) for p in directory.iterdir() if p.name.isdigit()]
    return str(directory / str(max(steps))) if steps else None
