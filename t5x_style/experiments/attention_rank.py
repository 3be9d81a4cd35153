"""Su (2023): the rank of attention matrices per layer and head, on held-out text, for causal,
bidirectional and forward/backward mixed attention, at random initialisation and trained.

A causal (or triangular) attention matrix has a positive diagonal and is full rank; a bidirectional
one is softmax of a rank <= head_dim matrix and can lose rank, which Su argues weakens its
expressiveness. Measures from `t5x_style.analysis.attention_rank` (provably full, numerical and
effective rank); the trained models are the causal full-LM arm and the two MLM arms.
"""

import jax
import numpy as np

from t5x_style.analysis import attention_rank
from t5x_style.experiments import arch_objective, arms, mixed_attention_mlm, probes
from t5x_style.experiments import report as report_lib
from t5x_style.experiments.report import Report
from t5x_style.experiments.runner import Runner
from t5x_style.models import build_model

ATTENTION = {  # kind of attention -> the arm that trains it
    "causal": arch_objective.ARMS["causal_decoder-full_lm"],
    "bidirectional": mixed_attention_mlm.BIDIRECTIONAL,
    "forward/backward": mixed_attention_mlm.FORWARD_BACKWARD,
}
ARMS = arms.index(*ATTENTION.values())
SUMMARY = __doc__


def ranks(model, params, windows: np.ndarray) -> dict[str, np.ndarray]:
    """Rank measures (layers, heads) of the decoder's self-attention on the held-out windows."""
    read = (probes.causal_features if model.config.model.architecture == "causal_decoder"
            else probes.bidirectional_features)
    maps = attention_rank.attention_maps(model, params, read(windows))["decoder"]
    return attention_rank.rank_by_layer_and_head(maps)


def run(runner: Runner, report: Report) -> None:
    runs = runner.train_arms(list(ARMS.values()))
    scale = runner.scale
    rows, results, effective, numerical = [], {}, {}, {}
    for kind, arm in ATTENTION.items():
        for trained in runs[arm.name]:
            model = build_model(trained.config)
            windows = probes.heldout_windows(trained.config, scale.probe_items,
                                             scale.sequence_length)
            for state, params in (("random init", model.init_params(jax.random.key(trained.seed))),
                                  ("trained", runner.params(trained))):
                measured = ranks(model, params, windows)
                label = f"{kind}, {state}"
                results.setdefault(label, []).append(
                    {k: np.asarray(v).tolist() for k, v in measured.items()})
    for label, per_seed in results.items():
        mean = {k: np.mean([np.asarray(s[k]) for s in per_seed], axis=0) for k in
                ("provably_full", "numerical", "effective")}
        layers = range(1, len(mean["effective"]) + 1)
        effective[label] = (list(layers), mean["effective"].mean(axis=1).tolist())
        numerical[label] = (list(layers), mean["numerical"].mean(axis=1).tolist())
        for layer in layers:
            rows.append([label, layer, f"{mean['provably_full'][layer - 1].mean():.2f}",
                         f"{mean['numerical'][layer - 1].mean():.1f}",
                         f"{mean['effective'][layer - 1].mean():.1f}",
                         " ".join(f"{x:.1f}" for x in mean["effective"][layer - 1])])
    size = scale.sequence_length
    report.section(
        "Held-out text",
        f"{scale.probe_items} windows of {size} tokens from held-out documents; each map is "
        f"{size} x {size}, so full rank is {size}. Seeds {list(scale.seeds)}, averaged.")
    report.section(
        "Rank per layer",
        report_lib.table(["attention, state", "layer", "provably full (fraction)",
                          "numerical rank (head mean)", "effective rank (head mean)",
                          "effective rank per head"], rows),
        "Provably full: the map is triangular with a positive diagonal. Numerical rank counts "
        "singular values above max(s) x n x eps(float64); effective rank is exp(entropy of the "
        "normalised singular values).")
    report.section(
        "Rank vs depth",
        report.plot("attention_rank_effective.png", f"effective rank of {size}x{size} attention",
                    "layer", "effective rank", effective),
        report.plot("attention_rank_numerical.png", f"numerical rank of {size}x{size} attention",
                    "layer", "numerical rank", numerical))
    report.results.update(scale=scale.name, size=size, ranks=results)
