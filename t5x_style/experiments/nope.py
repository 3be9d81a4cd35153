"""Does attention need position encodings? Causal and bidirectional models with T5's relative
position bias and with none (NoPE): held-out loss, and a word-order probe.

Without position encodings a bidirectional layer is permutation-equivariant, so the MLM model
cannot tell a sentence from its shuffle (its pseudo-log-likelihood gap is exactly 0); a causal
mask breaks the symmetry (each position sees a different number of tokens), so a causal NoPE
model can still learn order. Probe: log-likelihood of a held-out sentence minus that of the same
words shuffled, in nats per sentence (causal: left to right; bidirectional: pseudo-LL).
"""

import numpy as np

from t5x_style.experiments import arch_objective, arms, mixed_attention_mlm, probes, summaries
from t5x_style.experiments import report as report_lib
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner
from t5x_style.models import build_model

_NONE = (("position_encoding", "none"),)
ARMS = arms.index(
    arch_objective.ARMS["causal_decoder-full_lm"],
    arms.Arm("causal_decoder", "full_lm", "nope", _NONE),
    mixed_attention_mlm.BIDIRECTIONAL,
    arms.Arm("prefix_decoder", "mlm", "nope", _NONE),
)
SUMMARY = __doc__


def order_gaps(runner: Runner, trained) -> np.ndarray:
    """Per held-out sentence: log-likelihood(sentence) - log-likelihood(shuffled words)."""
    length = max(runner.scale.sequence_length, 64)  # Room for a sentence of >= 6 words.
    pairs = probes.heldout_sentences(trained.config, runner.scale.probe_items, length)
    model, params = build_model(trained.config), runner.params(trained)
    original = probes.log_likelihoods(model, params, [a for a, _ in pairs], length)
    shuffled = probes.log_likelihoods(model, params, [b for _, b in pairs], length)
    return original - shuffled


def run(runner: Runner, report: Report) -> None:
    runs = runner.train_arms(list(ARMS.values()))
    report.section("Budget", summaries.budget(runner, runs))
    losses = summaries.loss_section(
        report, runs, "Held-out loss", "nope_loss.png",
        "Compare each model with its NoPE twin (same objective); the causal and MLM losses are on "
        "different targets.", compare=False)
    rows, gaps = [], {}
    for name, seeds in runs.items():
        per_seed = [order_gaps(runner, t) for t in seeds]
        gaps[name] = [g.tolist() for g in per_seed]
        sentence_se = float(np.std(per_seed[0], ddof=1) / np.sqrt(len(per_seed[0])))
        mean, error = report_lib.mean_and_error([g.mean() for g in per_seed], [sentence_se])
        loss = losses["final"][name]
        preferred = np.mean([np.mean(g > 1e-3) for g in per_seed])  # Ties (NoPE MLM) count no.
        rows.append([name, report_lib.fmt(loss["mean"], loss["stderr"]),
                     report_lib.fmt(mean, error), f"{preferred:.2f}"])
    report.section(
        "Word-order probe",
        report_lib.table(["arm", "held-out loss", "LL(sentence) - LL(shuffled), nats",
                          "fraction of sentences preferred over their shuffle"], rows),
        f"{runner.scale.probe_items} held-out sentences of >= 6 words; ± over seeds (one seed: "
        "over sentences). A gap within a standard error of 0 means the model cannot see order.")
    report.results.update(scale=runner.scale.name, losses=losses, order_gaps=gaps)
