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


def run(runner: Runner, report: Report) -> None:
    runs, evals = runner.train_and_evaluate_arms(list(ARMS.values()))
    report.section("Budget", summaries.budget(runner, runs),
                   "Equal training tokens: every arm takes the same steps of the same number of "
                   "rows of the same length from the same shuffled text.")
    losses = summaries.loss_section(
        report, runs, "Held-out loss (each arm on its own objective)", "arch_objective_loss.png",
        "Each arm's loss is on its own objective's targets (full text, a suffix, or the corrupted "
        "spans), so compare curves within an objective, not across.", compare=False)
    accuracies = summaries.accuracy_section(report, evals, runner.scale.shots)
    report.results.update(scale=runner.scale.name, losses=losses, accuracy=accuracies)
