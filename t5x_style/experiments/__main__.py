"""Runs one study:

    python -m t5x_style.experiments --name=arch_objective --scale=quick \
        --workdir=/tmp/t5x_style/arch_objective [--arms_dir=DIR]

Trains the study's arms (reusing finished ones, resuming interrupted ones; --arms_dir=DIR shares
them between studies), evaluates them, writes WORKDIR/report.md, WORKDIR/results.json and PNG
plots, and prints where the report is.
Scales: micro (tests), quick (one seed, minutes), cpu (three seeds, ~30 min per study on two
cores), tpu (Wang et al.'s shapes; for a pod).
"""

import logging

from absl import app, flags

from t5x_style import experiments

_NAME = flags.DEFINE_enum("name", None, experiments.STUDIES, "Which study to run.")
_SCALE = flags.DEFINE_enum("scale", "quick", sorted(experiments.scales.SCALES),
                           "Model size, token budget, seeds and eval subset.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the report, plots and results.")
_ARMS_DIR = flags.DEFINE_string("arms_dir", "", "Where the trained arms live (default: "
                                "WORKDIR/arms); studies sharing it reuse each other's arms.")


def main(argv) -> None:
    del argv
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax logs every file it writes
    path = experiments.run_study(_NAME.value, _SCALE.value, _WORKDIR.value,
                                 arms_dir=_ARMS_DIR.value)
    print(f"\nreport: {path}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["name", "workdir"])
    app.run(main)
