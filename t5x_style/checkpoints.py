"""The workdir's checkpoints (orbax): save, resume exactly, survive preemption and bad files.

A checkpoint `workdir/checkpoints/<step>/` holds three items:
  state   the train state (step, params, optimizer state), one array file set for all processes;
  data    each process's Grain iterator state (`process_<i>-of-<n>.json`), so the batches after a
          resume are the batches an uninterrupted run would have seen;
  config  the run's config as JSON (what the checkpoint is of).
Saves are asynchronous (the step waits only for the device-to-host copy). Restores always take a
target with shardings, so a checkpoint written on one mesh loads onto any other.

Resume walks the steps newest first: a step whose files cannot be read is moved to
`workdir/checkpoints_unreadable/` with a warning (kept, not deleted) and the previous one is tried;
a readable step of a different architecture or parameter shapes is an error naming the difference.
"""

import json
import logging
import signal
import threading
import time

import grain
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from t5x_style import run_dir

STATE, DATA, CONFIG = "state", "data", "config"


class CheckpointMismatchError(ValueError):
    """The workdir holds a readable checkpoint of a different model."""


def _shape_differences(saved_tree, abstract_params, limit: int = 5) -> list[str]:
    """'path: checkpoint (a, b) vs config (c, d)' for parameters whose presence or shape differ."""
    saved = {jax.tree_util.keystr(p): tuple(m.shape)
             for p, m in jax.tree_util.tree_flatten_with_path(saved_tree)[0]}
    wanted = {jax.tree_util.keystr(p): tuple(a.shape)
              for p, a in jax.tree_util.tree_flatten_with_path(abstract_params)[0]}
    differences = [f"{path}: checkpoint {saved.get(path, 'absent')} vs config "
                   f"{wanted.get(path, 'absent')}"
                   for path in sorted(saved.keys() | wanted.keys())
                   if saved.get(path) != wanted.get(path)]
    if len(differences) > limit:
        differences = differences[:limit] + [f"... and {len(differences) - limit} more"]
    return differences


def _move_tree(source: epath.Path, target: epath.Path) -> None:
    """Moves directory `source` to `target`: a rename on a local disk; on an object store
    (`gs://`), where "directories" are name prefixes and an empty one need not exist for a rename
    into it, a copy of every file followed by the removal of `source`."""
    if not run_dir.is_remote(source):
        source.rename(target)
        return
    _copy_tree(source, target)
    source.rmtree()


def _copy_tree(source: epath.Path, target: epath.Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():  # not rglob/walk: epath has no `**` for gs://
        if child.is_dir():
            _copy_tree(child, target / child.name)
        else:
            child.copy(target / child.name)


class Checkpoints:
    """Save and resume the train state and the data iterator under `workdir/checkpoints`."""

    def __init__(self, workdir: str, checkpoint_config: ml_collections.ConfigDict):
        # epath, not os.path: os.path.abspath("gs://b/x") is "$PWD/gs:/b/x".
        self.directory = run_dir.path(workdir) / "checkpoints"
        self.unreadable_directory = run_dir.path(workdir) / "checkpoints_unreadable"
        self.config = checkpoint_config
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=checkpoint_config.keep,
                enable_async_checkpointing=checkpoint_config.async_save),
            # Named up front so that metadata (parameter shapes) reads without a restore.
            item_handlers={STATE: ocp.StandardCheckpointHandler(),
                           DATA: grain.checkpoint.CheckpointHandler(),
                           CONFIG: ocp.JsonCheckpointHandler()})

    def should_save(self, step: int) -> bool:
        return bool(self.config.save_every) and step % self.config.save_every == 0

    def save(self, step: int, state, data_iterator, config: ml_collections.ConfigDict) -> None:
        """Starts writing checkpoint `step` (returns once the arrays are copied off the devices)."""
        self.manager.save(step, args=ocp.args.Composite(**{
            STATE: ocp.args.StandardSave(state),
            DATA: grain.checkpoint.CheckpointSave(data_iterator),
            CONFIG: ocp.args.JsonSave(json.loads(config.to_json())),
        }), force=True)

    def wait(self) -> None:
        """Blocks until the last save is fully on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()

    def _check_compatible(self, step: int, config: ml_collections.ConfigDict,
                          abstract_params) -> None:
        """Raises CheckpointMismatchError saying how checkpoint `step` differs from this run."""
        saved_config = self.manager.restore(step, args=ocp.args.Composite(
            **{CONFIG: ocp.args.JsonRestore()}))[CONFIG]
        saved_architecture = saved_config["model"]["architecture"]
        differences = []
        if saved_architecture != config.model.architecture:
            differences.append(f"model.architecture: checkpoint {saved_architecture!r} vs config "
                               f"{config.model.architecture!r}")
        saved_tree = self.manager.item_metadata(step)[STATE].tree["params"]
        differences += _shape_differences(saved_tree, abstract_params)
        data_directory = self.directory / str(step) / DATA
        data_files = sorted(p.name for p in data_directory.iterdir()
                            if p.name.startswith("process_"))
        if f"process_{jax.process_index()}-of-{jax.process_count()}.json" not in data_files:
            differences.append(f"data iterator states {data_files} come from another process "
                               f"count than this run's {jax.process_count()}")
        if differences:
            raise CheckpointMismatchError(
                f"{self.directory}/{step} holds a checkpoint of a different model; use another "
                "workdir, or config.checkpoint.init_params_from for a params-only start. "
                "Differences: " + "; ".join(differences))

    def _set_aside(self, step: int, error: Exception) -> None:
        target = self.unreadable_directory / f"{step}-{int(time.time())}"
        logging.warning("Checkpoint %s/%d cannot be read (%s: %s); moving it to %s and falling "
                        "back to the previous checkpoint.", self.directory, step,
                        type(error).__name__, error, target)
        if jax.process_index() == 0:
            self.unreadable_directory.mkdir(parents=True, exist_ok=True)
            _move_tree(self.directory / str(step), target)
        multihost_utils.sync_global_devices(f"checkpoint_set_aside_{step}")
        self.manager.reload()

    def restore_latest(self, abstract_state, data_iterator, config: ml_collections.ConfigDict):
        """The newest readable checkpoint's state (None if there is none); sets the iterator.

        `abstract_state` (ShapeDtypeStructs with shardings) says where every array goes.
        """
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                self._check_compatible(step, config, abstract_state.params)
                restored = self.manager.restore(step, args=ocp.args.Composite(**{
                    STATE: ocp.args.StandardRestore(abstract_state),
                    DATA: grain.checkpoint.CheckpointRestore(data_iterator),
                }))
            except CheckpointMismatchError:
                raise
            except Exception as error:  # noqa: BLE001 - any other read failure: unreadable
                self._set_aside(step, error)
                continue
            return restored[STATE]
        return None


def restore_params(step_directory: str, abstract_params):
    """Only the parameters of a checkpoint step (no optimizer state, no data state), placed as
    `abstract_params` says: for finetuning, or for loading a causal decoder as a prefix decoder
    (they share the parameter tree)."""
    path = run_dir.path(step_directory) / STATE
    target = {"params": abstract_params}
    restored = ocp.PyTreeCheckpointer().restore(path, args=ocp.args.PyTreeRestore(
        item=target, partial_restore=True,
        restore_args=ocp.checkpoint_utils.construct_restore_args(target)))
    return restored["params"]


class StopRequest:
    """SIGTERM (preemption) and SIGINT (Ctrl-C) set a flag instead of killing the process, so the
    loop can finish its step, write a checkpoint and return. A second signal acts as usual."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self._flag = threading.Event()
        self._previous = {}

    def _handle(self, signum, frame):
        del frame
        logging.warning("Received %s: saving a checkpoint after this step, then stopping.",
                        signal.Signals(signum).name)
        self._flag.set()
        signal.signal(signum, self._previous[signum])

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def requested(self) -> bool:
        """True on every process once any process received a signal (one all-gather per call on
        multi-process runs, so all stop at the same step)."""
        if jax.process_count() == 1:
            return self._flag.is_set()
        return bool(np.any(multihost_utils.process_allgather(np.array(self._flag.is_set()))))
