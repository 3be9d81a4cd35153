"""What studies say about trained arms, written once: loss curves and final losses over seeds,
zero/few-shot accuracies with their standard errors, and the budget line of a report."""

import math

import numpy as np

from t5x_style import counting
from t5x_style.experiments import report as report_lib
from t5x_style.experiments.runner import Runner, TrainedArm


def budget(runner: Runner, runs: dict[str, list[TrainedArm]]) -> str:
    """The token budget and what it cost, for the report's first section."""
    scale = runner.scale
    seconds = sum(t.train_seconds for seeds in runs.values() for t in seeds)
    return (f"Scale `{scale.name}`: {scale.num_steps} steps x {scale.batch_size} rows x "
            f"{scale.sequence_length} tokens = {scale.tokens_per_arm:,} training tokens per arm "
            f"(span corruption: inputs of that length, plus its targets), seeds "
            f"{list(scale.seeds)}, {len(runs)} arms; {seconds / 60:.1f} min of training in all "
            f"on {_device()}.")


def _device() -> str:
    import jax
    return f"{jax.device_count()} {jax.devices()[0].platform} device(s)"


def loss_table(runs: dict[str, list[TrainedArm]], key: str = "eval_loss") -> tuple[str, dict]:
    """Markdown table of parameters, final held-out loss (mean ± SE over seeds) and train time."""
    rows, results = [], {}
    for name, seeds in runs.items():
        finals = [t.final(key) for t in seeds]
        mean, error = report_lib.mean_and_error(finals)
        params = counting.count_params(seeds[0].config.model)
        minutes = np.mean([t.train_seconds for t in seeds]) / 60
        rows.append([name, f"{params:,}", report_lib.fmt(mean, error), len(seeds),
                     f"{minutes:.1f}"])
        results[name] = dict(params=params, final=finals, mean=mean, stderr=error,
                             train_seconds=[t.train_seconds for t in seeds])
    headers = ["arm", "parameters", f"final {key} (mean ± SE over seeds)", "seeds",
               "train min / seed"]
    return report_lib.table(headers, rows), results


def curves(report: report_lib.Report, runs: dict[str, list[TrainedArm]], filename: str,
           title: str, key: str = "eval_loss") -> tuple[str, dict]:
    """A plot of `key` against steps, mean over seeds with a ±SE band; and the points."""
    series, bands, points = {}, {}, {}
    for name, seeds in runs.items():
        per_seed = [t.curve(key) for t in seeds]
        steps = per_seed[0][0]
        values = np.array([v[:len(steps)] for _, v in per_seed])
        series[name] = (steps, values.mean(axis=0).tolist())
        bands[name] = (values.std(axis=0, ddof=1) / math.sqrt(len(seeds))).tolist() \
            if len(seeds) > 1 else None
        points[name] = dict(steps=steps, values=values.tolist())
    return report.plot(filename, title, "training step", key, series, bands), points


def accuracy(results_per_seed: list[dict], shot: int, task: str | None = None,
             metric: str = "normalized_acc") -> tuple[float, float | None]:
    """(mean, SE) over seeds of one task's acc, or of the suite's average `metric`, at `shot`.

    With one seed the error is the bootstrap stderr (for the average: the tasks' stderrs
    combined as independent)."""
    k = str(shot)
    if task is not None:
        entries = [r["tasks"][task]["shots"][k] for r in results_per_seed]
        return report_lib.mean_and_error([e["acc"] for e in entries],
                                         [e["acc_stderr"] for e in entries])
    values = [r["summary"][metric][k] for r in results_per_seed]
    if any(v is None for v in values):
        raise ValueError(f"some tasks failed: {results_per_seed[0]['summary']['failed_tasks']}")
    tasks = results_per_seed[0]["tasks"].values()
    stderrs = [e["shots"][k]["acc_stderr"] for e in tasks]
    combined = math.sqrt(sum(s * s for s in stderrs)) / len(stderrs)
    return report_lib.mean_and_error(values, [combined])


def accuracy_table(evals: dict[str, list[dict]], shots) -> tuple[str, dict]:
    """Rows: arms; columns: suite average (random-normalised) and each task's acc per shot."""
    first = next(iter(evals.values()))[0]
    tasks = list(first["tasks"])
    headers = ["arm", "shots", "average (normalised)"] + tasks
    rows, out = [], {}
    for name, per_seed in evals.items():
        for k in shots:
            cells = [accuracy(per_seed, k)] + [accuracy(per_seed, k, t) for t in tasks]
            rows.append([name, k] + [report_lib.fmt(m, e) for m, e in cells])
            out.setdefault(name, {})[k] = dict(zip(["average"] + tasks, cells))
    return report_lib.table(headers, rows), out


def best_versus_rest(summary: dict[str, tuple], lower_is_better: bool, what: str) -> str:
    """Verdicts of the best arm against each other arm on (mean, SE) pairs."""
    pick = min if lower_is_better else max
    best = pick(summary, key=lambda n: summary[n][0])
    return "\n".join("- " + report_lib.verdict(best, summary[best], other, summary[other],
                                                lower_is_better, what)
                     for other in summary if other != best)


def loss_section(report: report_lib.Report, runs: dict[str, list[TrainedArm]], heading: str,
                 filename: str, note: str = "", compare: bool = True,
                 key: str = "eval_loss") -> dict:
    """Loss table, curves plot and (when the losses are on the same targets) verdicts."""
    losses, results = loss_table(runs, key)
    plot, points = curves(report, runs, filename, heading, key)
    paragraphs = [losses, plot] + ([note] if note else [])
    if compare:
        paragraphs.append(best_versus_rest({n: (r["mean"], r["stderr"]) for n, r in
                                            results.items()}, True, f"held-out {key}"))
    report.section(heading, *paragraphs)
    return dict(final=results, curves=points)


def accuracy_section(report: report_lib.Report, evals: dict[str, list[dict]], shots) -> dict:
    """Zero/few-shot table per arm and task, and the best arm's verdicts at each shot count."""
    table, accuracies = accuracy_table(evals, shots)
    verdicts = [f"**{k}-shot:**\n" + best_versus_rest(
        {name: acc[k]["average"] for name, acc in accuracies.items()}, False,
        f"{k}-shot normalised accuracy") for k in shots]
    report.section("Zero-shot and few-shot accuracy", table,
                   "Average = mean over task groups of (acc - random) / (1 - random); ± is the "
                   "standard error over seeds (one seed: the bootstrap standard error).",
                   *verdicts)
    return accuracies
