"""Wang et al. (2022): which architecture x objective generalises best zero- and few-shot?

Six arms trained on the same text for the same number of steps and rows: the causal decoder with
full LM, the non-causal decoder and the encoder-decoder with prefix LM, and each architecture
with T5 span corruption (15% noise, mean span 3). Their held-out losses are not comparable across
objectives (each predicts different tokens), so the comparison that counts is the zero/few-shot
accuracy, scored the same way for every arm.
"""

from t5x_style.experiments import arms, summaries
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner

ARMS = arms.index(
    arms.Arm("causal_decoder", "full_lm"),
    arms.Arm("prefix_decoder", "prefix_lm"),
    arms.Arm("encoder_decoder", "prefix_lm"),
    arms.Arm("causal_decoder", "span_corruption"),
    arms.Arm("prefix_decoder", "span_corruption"),
    arms.Arm("encoder_decoder", "span_corruption"),
)
SUMMARY = __doc__


def trained_and_evaluated(runner: Runner) -> tuple[dict, dict]:
    """The six arms trained (or reused) and evaluated: ({arm: runs}, {arm: results per seed})."""
    runs = runner.train_arms(list(ARMS.values()))
    evals = {name: [runner.evaluate(t) for t in seeds] for name, seeds in runs.items()}
    return runs, evals


def run(runner: Runner, report: Report) -> None:
    runs, evals = trained_and_evaluated(runner)
    shots = runner.scale.shots
    report.section("Budget", summaries.budget(runner, runs),
                   "Equal training tokens: every arm takes the same steps of the same number of "
                   "rows of the same length from the same shuffled text.")
    losses, loss_results = summaries.loss_table(runs)
    plot, points = summaries.curves(report, runs, "arch_objective_loss.png",
                                    "held-out loss (each arm on its own objective)")
    report.section("Held-out loss", losses, plot,
                   "Each arm's loss is on its own objective's targets (full text, a suffix, or "
                   "the corrupted spans), so compare curves within an objective, not across.")
    table, accuracies = summaries.accuracy_table(evals, shots)
    report.section("Zero-shot and few-shot accuracy", table,
                   "Average = mean over tasks of (acc - random) / (1 - random); ± is the "
                   "standard error over seeds (one seed: the bootstrap standard error).")
    verdicts = [f"**{k}-shot:**\n" + summaries.best_versus_rest(
        {name: acc[k]["average"] for name, acc in accuracies.items()}, False,
        f"{k}-shot normalised accuracy") for k in shots]
    report.section("What the numbers say", *verdicts)
    report.results.update(scale=runner.scale.name, losses=loss_results, loss_curves=points,
                          accuracy=accuracies)
