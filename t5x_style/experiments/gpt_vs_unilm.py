"""Su (2023): GPT vs UniLM. A causal and a non-causal decoder with the same parameters (one
parameter tree), trained on the same prefix-LM examples with the loss on the output (suffix) only.
The only difference is whether the input part is read bidirectionally; if bidirectional reading
were better for generalisation, the non-causal decoder would win on held-out loss and on tasks.
"""

from t5x_style import counting
from t5x_style.experiments import arms, summaries
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner

ARMS = arms.index(
    arms.Arm("causal_decoder", "prefix_lm"),
    arms.Arm("prefix_decoder", "prefix_lm"),  # Shared with arch_objective.
)
SUMMARY = __doc__


def run(runner: Runner, report: Report) -> None:
    runs, evals = runner.train_and_evaluate_arms(list(ARMS.values()))
    counts = {name: counting.count_params(seeds[0].config.model) for name, seeds in runs.items()}
    report.section("Budget", summaries.budget(runner, runs),
                   "Parameters: " + ", ".join(f"{n} {c:,}" for n, c in counts.items())
                   + (" (equal)." if len(set(counts.values())) == 1 else " (NOT equal)."))
    losses = summaries.loss_section(report, runs, "Held-out loss on the output part",
                                    "gpt_vs_unilm_loss.png")
    accuracies = summaries.accuracy_section(report, evals, runner.scale.shots)
    report.results.update(scale=runner.scale.name, params=counts, losses=losses,
                          accuracy=accuracies)
