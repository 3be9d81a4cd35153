"""Zero- and few-shot evaluation of the three architectures (DESIGN §6).

What training, experiments and Colab call:

    from t5x_style import evaluation
    results = evaluation.evaluate(model, params, config, tasks=None, shots=None, workdir=None,
                                  step=None, mesh=None)
        tasks: names as config.eval.tasks (default), e.g. ["bigbench:hyperbaton",
               "heldout:lambada", "my_task.jsonl"], or Task objects; shots: e.g. [0, 5].
        -> {"tasks": {name: {"random", "n", "shots": {k: {"acc", "acc_stderr", "acc_norm", ...}}}},
            "summary": {"acc": {k: avg}, "normalized_acc": {k: avg}, "failed_tasks": [...]},
            "timing": {...}}; with workdir: results.json + results.md (+ TensorBoard at `step`).
    evaluator = evaluation.Evaluator(model, config, mesh)   # in a train loop: build once,
    evaluator(state.params, workdir=workdir, step=step)     # call every config.eval.every_steps
    evaluation.report.scalars(results) -> {"eval/<task>/<k>shot/acc": ...} for a MetricWriter

Lower levels: `requests` (text pairs -> padded per-architecture batches), `scoring.Scorer`
(jitted scores, greedy match, rolling log-likelihood / bits per byte), `tasks` (few-shot
prompts), loaders `bigbench`, `heldout_tasks`, `jsonl_tasks`, and `report`.
Command line: python -m t5x_style.evaluation --config=configs/causal_decoder.py --workdir=DIR
Throughput:   python -m t5x_style.evaluation.bench [--shots=0,5]
"""

from t5x_style.evaluation import report
from t5x_style.evaluation.evaluator import Evaluator, evaluate, load_tasks
from t5x_style.evaluation.tasks import Example, Task, TaskError

__all__ = ["Evaluator", "Example", "Task", "TaskError", "evaluate", "load_tasks", "report"]
