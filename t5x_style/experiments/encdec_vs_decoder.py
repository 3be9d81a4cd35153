"""Encoder-decoder vs decoder-only at equal parameters and at equal compute per token.

The decoder is the non-causal decoder with prefix LM; the encoder-decoder reads the same prefix in
its encoder and predicts the same suffix. Matched by `counting`: at equal compute it has as many
encoder and decoder layers as the decoder has layers (each token passes through as many layers,
about twice the parameters); at equal parameters it has about half as many of each.
"""

import ml_collections

from t5x_style import counting, flops
from t5x_style.experiments import arms, summaries
from t5x_style.experiments import report as report_lib
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner


def _parameter_matched(m: ml_collections.ConfigDict) -> dict:
    decoder = ml_collections.ConfigDict(m.to_dict())
    decoder.architecture = "prefix_decoder"
    return {"num_layers": counting.parameter_matched_encoder_decoder(decoder).num_layers}


ARMS = arms.index(
    arms.Arm("prefix_decoder", "prefix_lm"),  # Shared with arch_objective.
    arms.Arm("encoder_decoder", "prefix_lm"),  # = counting.compute_matched_encoder_decoder.
    arms.Arm("encoder_decoder", "prefix_lm", "param_matched", derive=_parameter_matched),
)
SUMMARY = __doc__


def flops_per_token(m: ml_collections.ConfigDict, length: int) -> float:
    """Training FLOPs per token of one `length`-token text split in half (prefix | suffix)."""
    if m.architecture == "encoder_decoder":
        total = flops.train_flops_per_step(m, 1, length // 2, encoder_length=length // 2)
    else:
        total = flops.train_flops_per_step(m, 1, length, prefix_length=length / 2)
    return total / length


def run(runner: Runner, report: Report) -> None:
    runs, evals = runner.train_and_evaluate_arms(list(ARMS.values()))
    length = runner.scale.sequence_length
    rows, counts = [], {}
    for name, seeds in runs.items():
        m = seeds[0].config.model
        counts[name] = dict(params=counting.count_params(m), layers=m.num_layers,
                            flops_per_token=flops_per_token(m, length))
        rows.append([name, m.num_layers, f"{counts[name]['params']:,}",
                     f"{counts[name]['flops_per_token']:,.0f}"])
    report.section("Budget", summaries.budget(runner, runs))
    report.section(
        "The matched pairs",
        report_lib.table(["arm", "layers (per stack)", "parameters", "train FLOPs / token"], rows),
        f"FLOPs per token of a {length}-token text cut in half, by the `flops` rule (6 x matmul "
        "parameters + attention); the compute-matched encoder-decoder adds cross attention.")
    losses = summaries.loss_section(report, runs, "Held-out loss on the suffix",
                                    "encdec_vs_decoder_loss.png")
    accuracies = summaries.accuracy_section(report, evals, runner.scale.shots)
    report.results.update(scale=runner.scale.name, matched=counts, losses=losses,
                          accuracy=accuracies)
