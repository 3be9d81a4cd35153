"""Su (2023): BERT-style MLM with full bidirectional attention vs the per-head forward/backward
mix (half the heads lower-triangular, half upper-triangular). Same parameters (the mask is the
only change), same data; if the mix's full-rank attention helps, its MLM loss is lower.
"""

from t5x_style import counting
from t5x_style.experiments import arms, summaries
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner

BIDIRECTIONAL = arms.Arm("prefix_decoder", "mlm")
FORWARD_BACKWARD = arms.Arm("prefix_decoder", "mlm", "forward_backward",
                            (("bidirectional_pattern", "forward_backward"),))
ARMS = arms.index(BIDIRECTIONAL, FORWARD_BACKWARD)
SUMMARY = __doc__


def run(runner: Runner, report: Report) -> None:
    runs = runner.train_arms(list(ARMS.values()))
    counts = {name: counting.count_params(seeds[0].config.model) for name, seeds in runs.items()}
    report.section("Budget", summaries.budget(runner, runs),
                   "Parameters: " + ", ".join(f"{n} {c:,}" for n, c in counts.items()) + ". "
                   "A prefix decoder reads an MLM row wholly bidirectionally "
                   "(decoder_causal_attention = 1 everywhere); loss on the 15% masked positions.")
    losses = summaries.loss_section(report, runs, "Held-out MLM loss",
                                    "mixed_attention_mlm_loss.png")
    train_losses = summaries.loss_section(report, runs, "Training MLM loss",
                                          "mixed_attention_mlm_train_loss.png", key="loss")
    report.results.update(scale=runner.scale.name, params=counts, losses=losses,
                          train_losses=train_losses)
