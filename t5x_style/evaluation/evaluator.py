"""The suite runner: task names -> tasks, tasks x shot counts -> requests -> scores -> results.

    evaluator = Evaluator(model, config, mesh=None)       # loads tasks once, keeps compilations
    results = evaluator(params, workdir=DIR, step=1000)   # writes results.json / results.md (+TB)
    results = evaluate(model, params, config)             # the same, in one call

Task names (config.eval.tasks): "bigbench:<task>", "bigbench:t0", "bigbench:extra",
"heldout:lambada", "heldout:description", or the path of a .json/.jsonl task file. An unknown
name fails at load time. A task that fails while it is evaluated (a continuation too long for
max_length, too few examples for the shots) is recorded with its error and the averages are
withheld (report.aggregate).
"""

import dataclasses
import math

import ml_collections
import numpy as np

from t5x_style.data import tokenizer
from t5x_style.evaluation import bigbench, heldout_tasks, jsonl_tasks, report
from t5x_style.evaluation import requests as requests_lib
from t5x_style.evaluation import tasks as tasks_lib
from t5x_style.evaluation.scoring import Scorer
from t5x_style.models import Model


def load_tasks(eval_config: ml_collections.ConfigDict, names=None,
               data_dir: str = "") -> list[tasks_lib.Task]:
    """The tasks `names` (default eval.tasks) stand for, each subsampled to eval.max_items."""
    out, seen = [], set()
    n, seed = eval_config.max_items, eval_config.sample_seed
    for name in names or eval_config.tasks:
        family, _, rest = name.partition(":")
        if family == "bigbench" and rest:
            loaded = [t for task in bigbench.expand(rest) for t in bigbench.load(task, n, seed)]
        elif family == "heldout" and rest:
            loaded = [heldout_tasks.load(rest, n, seed, eval_config.heldout_corpus, data_dir)]
        elif name.endswith((".json", ".jsonl")):
            loaded = [jsonl_tasks.load(name, n, seed)]
        else:
            raise tasks_lib.TaskError(
                f"unknown task name {name!r}; allowed: 'bigbench:<task>', 'bigbench:t0', "
                "'bigbench:extra', 'heldout:lambada', 'heldout:description', or a path to a "
                ".json/.jsonl task file")
        for task in loaded:
            if task.name not in seen:
                seen.add(task.name)
                out.append(task)
    return out


def task_shot_metrics(task: tasks_lib.Task, lls: list[np.ndarray], greedy: list[np.ndarray],
                      iters: int) -> dict[str, float]:
    if task.kind == "cloze":
        correct = np.array([bool(g[0]) for g in greedy], np.float64)
        gold_ll = np.array([float(ll[0]) for ll in lls])
        metrics = report.summarize({"acc": correct, "acc_norm": correct, "ll": gold_ll}, iters)
        metrics["ppl"] = math.exp(-metrics["ll"])
        return metrics
    per_item = report.choice_metrics(lls, [e.choices for e in task.examples],
                                     [e.gold for e in task.examples])
    return report.summarize(per_item, iters)


class Evaluator:
    """A model's evaluation suite: tasks loaded once, requests tokenized once per shot count, one
    Scorer (so each bucket compiles once per process)."""

    def __init__(self, model: Model, config: ml_collections.ConfigDict, mesh=None,
                 tasks: list[tasks_lib.Task] | None = None):
        self.model = model
        self.config = config
        self.architecture = config.model.architecture
        self.tasks = tasks if tasks is not None else load_tasks(config.eval,
                                                                data_dir=config.data.data_dir)
        self.vocabulary = tokenizer.get_vocabulary(config.data.vocabulary, config.data.extra_ids)
        self.scorer = Scorer(model, config.eval.batch_size, config.eval.max_length, mesh)
        self._prepared: dict[tuple[str, int], tuple[list[list[requests_lib.TokenRequest]], int]] = {}

    def _prepare(self, task: tasks_lib.Task, shots: int):
        """Per example, the tokenized requests of its choices; and the number truncated."""
        key = (task.name, shots)
        if key not in self._prepared:
            per_example = []
            for i, choice_requests in enumerate(
                    tasks_lib.build_requests(task, shots, self.config.eval.fewshot_seed)):
                try:
                    per_example.append(requests_lib.tokenize(
                        choice_requests, self.vocabulary, self.architecture,
                        self.config.eval.max_length))
                except requests_lib.RequestTooLongError as e:
                    raise tasks_lib.TaskError(f"task {task.name!r} example {i} ({shots}-shot): "
                                              f"{e}") from None
            truncated = sum(1 for rs in per_example for r in rs if r.truncated)
            self._prepared[key] = (per_example, truncated)
        return self._prepared[key]

    def evaluate_task(self, params, task: tasks_lib.Task, shots: int) -> dict[str, float]:
        per_example, truncated = self._prepare(task, shots)
        flat = [r for rs in per_example for r in rs]
        scores, greedy = self.scorer.score(params, flat)
        splits = np.cumsum([len(rs) for rs in per_example])[:-1]
        metrics = task_shot_metrics(task, np.split(scores, splits), np.split(greedy, splits),
                                    self.config.eval.bootstrap_iters)
        return {**metrics, "requests": len(flat), "truncated": truncated}

    def __call__(self, params, shots=None, workdir: str | None = None,
                 step: int | None = None) -> dict:
        shot_counts = sorted(set(shots if shots is not None else self.config.eval.shots))
        params = self.scorer.place(params)
        timing_before = dataclasses.replace(self.scorer.timing)
        task_results = {}
        for task in self.tasks:
            entry = {"group": task.group, "kind": task.kind, "random": task.random_baseline,
                     "n": len(task.examples), "available": task.available,
                     "skipped": task.skipped, "shots": {}}
            try:
                for k in shot_counts:
                    entry["shots"][k] = self.evaluate_task(params, task, k)
            except tasks_lib.TaskError as e:
                entry = {"group": task.group, "error": str(e)}
            task_results[task.name] = entry
        timing = self.scorer.timing
        seconds = timing.total_seconds - timing_before.total_seconds
        jitted = timing.jitted_seconds - timing_before.jitted_seconds
        requests = timing.requests - timing_before.requests
        results = {
            "step": step, "architecture": self.architecture, "shots": shot_counts,
            "tasks": task_results, "summary": report.aggregate(task_results),
            "timing": {"requests": requests, "seconds": seconds,
                       "requests_per_second": requests / seconds if seconds else 0.0,
                       "outside_jit_fraction": 1.0 - jitted / seconds if seconds else 0.0},
            "eval_config": self.config.eval.to_dict(),
        }
        if workdir is not None:
            report.write(results, workdir, step)
        return results


def evaluate(model: Model, params, config: ml_collections.ConfigDict, tasks=None, shots=None,
             workdir: str | None = None, step: int | None = None, mesh=None) -> dict:
    """One-call evaluation; `tasks` are names (default config.eval.tasks) or Task objects."""
    if tasks is not None and all(isinstance(t, str) for t in tasks):
        tasks = load_tasks(config.eval, tasks, data_dir=config.data.data_dir)
    return Evaluator(model, config, mesh, tasks)(params, shots, workdir, step)
