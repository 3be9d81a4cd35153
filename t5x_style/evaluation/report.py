"""Metrics from per-choice log-likelihoods, and the report: results.json, results.md, TensorBoard.

Per task and shot count:
    acc       fraction of items whose highest summed log-likelihood is a correct choice (T0's
              rank classification); for a cloze, the greedy match (LAMBADA accuracy);
    acc_norm  the same with each log-likelihood divided by its choice's length in characters
              (the harness's acc_norm); for a cloze, equal to acc;
    *_stderr  bootstrap standard error of the mean (resamples of the items, seed 0);
    ll, ppl   cloze only: mean log-likelihood of the gold continuation, and exp(-mean ll).
Ties count as wrong unless the first argmax is correct (numpy's argmax).

Averages over tasks, per shot count: BIG-bench subtasks are first averaged into their task; each
task's acc is normalised by its random baseline, (acc - random) / (1 - random), so 0 is chance and
1 is perfect whatever the number of choices; the average is over tasks. If any task failed, no
average is reported (None), and the failures are listed.
"""

import json
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from etils import epath

from t5x_style import metrics, run_dir


def choice_metrics(log_likelihoods: Sequence[np.ndarray], choices: Sequence[Sequence[str]],
                   gold: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """Per-item 0/1 correctness of acc and acc_norm."""
    acc, acc_norm = [], []
    for lls, texts, correct in zip(log_likelihoods, choices, gold):
        lls = np.asarray(lls, np.float64)
        lengths = np.array([float(len(t)) for t in texts])
        acc.append(int(np.argmax(lls)) in correct)
        acc_norm.append(int(np.argmax(lls / lengths)) in correct)
    return {"acc": np.array(acc, np.float64), "acc_norm": np.array(acc_norm, np.float64)}


def bootstrap_stderr(values: np.ndarray, iters: int, seed: int = 0) -> float:
    """Standard deviation of the mean over `iters` resamples of the items."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (iters, len(values)))].mean(axis=1)
    return float(means.std(ddof=1))


def summarize(per_item: Mapping[str, np.ndarray], iters: int) -> dict[str, float]:
    out = {}
    for name, values in per_item.items():
        out[name] = float(np.mean(values))
        out[f"{name}_stderr"] = bootstrap_stderr(values, iters)
    return out


def normalized(score: float, random_baseline: float) -> float:
    """(score - random) / (1 - random): 0 at chance, 1 perfect."""
    return (score - random_baseline) / (1.0 - random_baseline)


def aggregate(task_results: Mapping[str, dict]) -> dict:
    """Per shot count: the random-baseline-normalised acc averaged over task groups.

    `task_results[name]` = {"group", "random", "shots": {k: {"acc", ...}}} or {"error": str}.
    """
    failed = sorted(name for name, r in task_results.items() if "error" in r)
    good = {name: r for name, r in task_results.items() if "error" not in r}
    shot_counts = sorted({int(k) for r in good.values() for k in r["shots"]})
    out = {"failed_tasks": failed, "normalized_acc": {}, "acc": {}, "groups": {}}
    for k in shot_counts:
        groups: dict[str, list] = {}
        for r in good.values():
            if k in r["shots"]:
                groups.setdefault(r["group"], []).append(
                    (r["shots"][k]["acc"], normalized(r["shots"][k]["acc"], r["random"])))
        means = {g: (float(np.mean([a for a, _ in v])), float(np.mean([n for _, n in v])))
                 for g, v in sorted(groups.items())}
        out["groups"][k] = {g: {"acc": a, "normalized_acc": n} for g, (a, n) in means.items()}
        out["acc"][k] = None if failed else float(np.mean([a for a, _ in means.values()]))
        out["normalized_acc"][k] = None if failed else float(np.mean([n for _, n in means.values()]))
    return out


def markdown(results: dict) -> str:
    """One row per task, one column per shot count (acc / acc_norm ± stderr), averages last."""
    tasks = results["tasks"]
    shot_counts = results["shots"]
    header = "| task | n | random | " + " | ".join(f"{k}-shot acc / acc_norm" for k in shot_counts)
    lines = [header + " |", "|" + "---|" * (3 + len(shot_counts))]
    for name, r in tasks.items():
        if "error" in r:
            lines.append(f"| {name} | - | - | " + " | ".join("FAILED" for _ in shot_counts) + " |")
            continue
        cells = []
        for k in shot_counts:
            m = r["shots"].get(k)
            cells.append("-" if m is None else
                         f"{m['acc']:.3f} ± {m['acc_stderr']:.3f} / {m['acc_norm']:.3f}")
        lines.append(f"| {name} | {r['n']} | {r['random']:.3f} | " + " | ".join(cells) + " |")
    summary = results["summary"]
    for label, key in (("average acc", "acc"), ("average normalised acc", "normalized_acc")):
        cells = ["n/a (failed tasks)" if summary[key].get(k) is None else f"{summary[key][k]:.3f}"
                 for k in shot_counts]
        lines.append(f"| **{label}** | | | " + " | ".join(cells) + " |")
    notes = []
    for name, r in tasks.items():
        if "error" in r:
            notes.append(f"- {name}: FAILED: {r['error']}")
        elif r.get("skipped"):
            notes.append(f"- {name}: skipped items {r['skipped']}")
    for name, r in tasks.items():
        for k, m in r.get("shots", {}).items():
            if m.get("truncated"):
                notes.append(f"- {name} {k}-shot: {m['truncated']} requests had their context "
                             "truncated from the left")
    timing = results.get("timing", {})
    if timing:
        notes.append(f"- scoring: {timing['requests']} requests in {timing['seconds']:.1f} s "
                     f"({timing['requests_per_second']:.1f} req/s), "
                     f"{timing['outside_jit_fraction']:.1%} of it outside the jitted function")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def scalars(results: dict) -> dict[str, float]:
    """Flat {eval/<task>/<k>shot/acc: value} for a metrics writer (training's MetricWriter)."""
    out = {}
    for name, r in results["tasks"].items():
        for k, m in r.get("shots", {}).items():
            for metric in ("acc", "acc_norm", "ppl"):
                if metric in m:
                    out[f"eval/{name}/{k}shot/{metric}"] = m[metric]
    for key in ("acc", "normalized_acc"):
        for k, value in results["summary"][key].items():
            if value is not None:
                out[f"eval/average/{k}shot/{key}"] = value
    return out


def write(results: dict, workdir: str, step: int | None = None) -> dict[str, str]:
    """results.json and results.md in workdir (overwritten by each run), and TensorBoard scalars
    under workdir/tensorboard when a step is given (runs during training).

    Only process 0 writes. The workdir goes through `etils.epath` (it may be `gs://...`);
    TensorBoard events stay on a local disk (`metrics.tensorboard_dir`: a local temporary
    directory when the workdir is remote)."""
    directory = run_dir.path(workdir)
    paths = {"json": str(epath.Path(workdir) / "results.json"),
             "markdown": str(epath.Path(workdir) / "results.md")}
    if jax.process_index() != 0:
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    text_json = json.dumps(results, indent=1, sort_keys=False, default=float)
    text_md = markdown(results)
    for name, text in (("results.json", text_json), ("results.md", text_md)):
        (directory / name).write_text(text)
    if step is not None:
        from tensorboardX import SummaryWriter  # only runs during training need it
        writer = SummaryWriter(metrics.tensorboard_dir(workdir))
        for tag, value in scalars(results).items():
            writer.add_scalar(tag, value, step)
        writer.close()
    return paths
