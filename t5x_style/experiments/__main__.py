"""Runs one study:

    python -m t5x_style.experiments --name=arch_objective --scale=quick \
        --workdir=/tmp/t5x_style/arch_objective [--arms_dir=DIR] [--distributed]

Trains the study's arms (reusing finished ones, resuming interrupted ones; --arms_dir=DIR shares
them between studies), evaluates them, writes WORKDIR/report.md, WORKDIR/results.json and PNG
plots, and prints where the report is. --distributed joins the processes of a multi-host run
(jax.distributed.initialize(), the cluster detected by JAX: a TPU pod slice) before anything else;
the workdir may then be gs://... (every file goes through etils.epath).
Scales: micro (tests), quick (one seed, minutes), cpu (three seeds, ~30 min per study on two
cores), tpu (Wang et al.'s shapes; for a pod).
"""

import logging

import ml_collections
from absl import app, flags

from t5x_style import experiments, partitioning

_NAME = flags.DEFINE_enum("name", None, experiments.STUDIES, "Which study to run.")
_SCALE = flags.DEFINE_enum("scale", "quick", sorted(experiments.scales.SCALES),
                           "Model size, token budget, seeds and eval subset.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the report, plots and results.")
_ARMS_DIR = flags.DEFINE_string("arms_dir", "", "Where the trained arms live (default: "
                                "WORKDIR/arms); studies sharing it reuse each other's arms.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Join the processes of a multi-host run "
                                 "(jax.distributed.initialize(); JAX detects a TPU pod slice) "
                                 "before running the study.")


def main(argv) -> None:
    del argv
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax logs every file it writes
    if _DISTRIBUTED.value:
        partitioning.initialize_distributed(ml_collections.ConfigDict(
            {"coordinator_address": "", "distributed": True}))
    path = experiments.run_study(_NAME.value, _SCALE.value, _WORKDIR.value,
                                 arms_dir=_ARMS_DIR.value)
    print(f"\nreport: {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["name", "workdir"])
    app.run(main)
