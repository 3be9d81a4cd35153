"""Multi-run comparisons with a written report: one module per study, one runner for all.

    python -m t5x_style.experiments --name=arch_objective --scale=quick --workdir=DIR

Studies (STUDIES): arch_objective, gpt_vs_unilm, encdec_vs_decoder, attention_rank,
mixed_attention_mlm, nope, kv_cache_turns, fewshot_gain. Each module has ARMS (the configs it
trains; also reachable as configs/experiments/<study>.py:ARM-SCALE[-seedN]), a SUMMARY, and
`run(runner, report)`. `run_study` trains the arms into DIR/arms/ (or --arms_dir, which studies
can share: fewshot_gain with arch_objective's arms costs only its report), evaluates them and
writes DIR/report.md, DIR/results.json and PNG plots.
"""

import importlib

from t5x_style.experiments import scales
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner

STUDIES = ("arch_objective", "gpt_vs_unilm", "encdec_vs_decoder", "attention_rank",
           "mixed_attention_mlm", "nope", "kv_cache_turns", "fewshot_gain")


def study_module(name: str):
    if name not in STUDIES:
        raise ValueError(f"study {name!r} is not known; allowed: {list(STUDIES)}")
    return importlib.import_module(f"t5x_style.experiments.{name}")


def run_study(name: str, scale: str, workdir: str, overrides: dict | None = None,
              log=print, arms_dir: str = "") -> str:
    """Runs study `name` at `scale` in `workdir` (arms in `arms_dir`, default WORKDIR/arms);
    returns the path of its report.md."""
    module = study_module(name)
    runner = Runner(workdir, scales.get_scale(scale), overrides, log, arms_dir)
    report = Report(name, workdir, module.SUMMARY.strip())
    module.run(runner, report)
    return report.write()
