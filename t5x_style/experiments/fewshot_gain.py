"""In-context learning per architecture: zero-shot vs k-shot accuracy of the arch_objective arms
(trained and evaluated once: give both studies the same --arms_dir and this costs only its
report). The gain is k-shot minus zero-shot, per seed, so the seeds' spread is the spread of the
gain itself.
"""

import math

from t5x_style.experiments import arch_objective, summaries
from t5x_style.experiments import report as report_lib
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner

ARMS = arch_objective.ARMS
SUMMARY = __doc__


def gain(per_seed: list[dict], shot: int) -> tuple[float, float | None]:
    """(mean, SE) of k-shot minus 0-shot normalised accuracy; one seed: the two SEs combined."""
    diffs = [summaries.accuracy([r], shot)[0] - summaries.accuracy([r], 0)[0] for r in per_seed]
    if len(diffs) > 1:
        return report_lib.mean_and_error(diffs)
    errors = [summaries.accuracy(per_seed, k)[1] for k in (0, shot)]
    return diffs[0], math.sqrt(sum(e * e for e in errors)) if None not in errors else None


def run(runner: Runner, report: Report) -> None:
    runs, evals = runner.train_and_evaluate_arms(list(ARMS.values()))
    shots = [k for k in runner.scale.shots if k]
    report.section("Budget", summaries.budget(runner, runs))
    rows, results, series = [], {}, {}
    for name, per_seed in evals.items():
        at = {k: summaries.accuracy(per_seed, k) for k in runner.scale.shots}
        gains = {k: gain(per_seed, k) for k in shots}
        results[name] = dict(accuracy=at, gain=gains)
        series[name] = (list(runner.scale.shots), [at[k][0] for k in runner.scale.shots])
        rows.append([name] + [report_lib.fmt(*at[k]) for k in runner.scale.shots]
                    + [report_lib.fmt(*gains[k]) for k in shots])
        for k in shots:
            mean, error = gains[k]
            real = error is not None and abs(mean) > 2 * error
            results[name]["gain"][k] = dict(mean=mean, stderr=error, beyond_noise=real)
    headers = (["arm"] + [f"{k}-shot" for k in runner.scale.shots]
               + [f"gain {k}-shot" for k in shots])
    verdicts = [f"- {name}, {k}-shot: gain {r['gain'][k]['mean']:+.3f} "
                + ("beyond noise (> 2 SE)." if r["gain"][k]["beyond_noise"] else "within noise.")
                for name, r in results.items() for k in shots]
    report.section(
        "Zero-shot vs few-shot (normalised accuracy averaged over tasks)",
        report_lib.table(headers, rows),
        report.plot("fewshot_gain.png", "accuracy vs shots", "shots",
                    "normalised accuracy", series),
        "\n".join(verdicts))
    report.results.update(scale=runner.scale.name, shots=list(runner.scale.shots),
                          fewshot=results)
