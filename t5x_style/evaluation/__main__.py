"""Evaluates the latest checkpoint of a workdir on the zero/few-shot suite.

    python -m t5x_style.evaluate --workdir=DIR [--config=configs/causal_decoder.py:tiny] \
        [--checkpoint_dir=DIR/checkpoints/1000] [--tasks=bigbench:hyperbaton,heldout:lambada] \
        [--num_fewshot=0,1,5] [with --config: --config.eval.max_items=100]

Writes DIR/results.json and DIR/results.md. Parameters come from --checkpoint_dir, else from the
newest step under DIR/checkpoints (params-only restore); with neither, from a fresh
initialisation, with a warning (a chance-level baseline, useful for smoke tests).
"""

import logging

import jax
import ml_collections

from t5x_style import partitioning, run_dir
from t5x_style.evaluation import evaluator as evaluator_lib
from t5x_style.evaluation import report
from t5x_style.models import build_model


def load_params(scorer, model, config: ml_collections.ConfigDict, workdir: str,
                checkpoint_dir: str = ""):
    """(params placed for the scorer, where they came from)."""
    step_directory = checkpoint_dir or run_dir.latest_step_directory(workdir)
    if step_directory is None:
        logging.warning("No checkpoint in %s/checkpoints and no --checkpoint_dir: evaluating a "
                        "FRESH INITIALISATION (seed %d), i.e. a chance-level baseline.", workdir,
                        config.seed)
        return scorer.place(model.init_params(jax.random.key(config.seed))), "fresh init"
    from t5x_style import checkpoints  # orbax only when there is a checkpoint to read
    abstract = jax.eval_shape(model.init_params, jax.random.key(0))
    if scorer.param_shardings is not None:
        abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                                abstract, scorer.param_shardings)
    return checkpoints.restore_params(step_directory, abstract), step_directory


def main(config: ml_collections.ConfigDict, workdir: str, checkpoint_dir: str = "",
         tasks: str = "", num_fewshot: str = "") -> dict:
    mesh = partitioning.make_mesh(config.mesh)
    model = build_model(config)
    names = [t for t in tasks.split(",") if t] or None
    loaded = evaluator_lib.load_tasks(config.eval, names, data_dir=config.data.data_dir)
    evaluator = evaluator_lib.Evaluator(model, config, mesh, loaded)
    params, source = load_params(evaluator.scorer, model, config, workdir, checkpoint_dir)
    shots = [int(k) for k in num_fewshot.split(",") if k] or None
    results = evaluator(params, shots, workdir=workdir)
    print(report.markdown(results), end="")  # what results.md holds (not read back: no race)
    print(f"params from: {source}")
    return results


if __name__ == "__main__":
    from absl import app, flags
    from ml_collections import config_flags

    _CONFIG = config_flags.DEFINE_config_file("config", None, "Path of a configs/*.py file "
                                              "(':size' picks the size); default: the workdir's "
                                              "config.json, as training resolved it.",
                                              lock_config=True)
    _WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: its latest checkpoint is "
                                   "evaluated; results.json and results.md are written there.")
    _CHECKPOINT_DIR = flags.DEFINE_string("checkpoint_dir", "", "A checkpoint step directory to "
                                          "evaluate instead of the workdir's latest.")
    _TASKS = flags.DEFINE_string("tasks", "", "Comma-separated task names (default: eval.tasks).")
    _NUM_FEWSHOT = flags.DEFINE_string("num_fewshot", "", "Comma-separated shot counts "
                                       "(default: eval.shots).")
    flags.mark_flags_as_required(["workdir"])
    app.run(lambda argv: main(_CONFIG.value or run_dir.read_config(_WORKDIR.value), _WORKDIR.value, _CHECKPOINT_DIR.value, _TASKS.value,
                              _NUM_FEWSHOT.value) and None)
