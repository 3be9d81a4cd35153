"""The arms of the attention_rank study, one per argument ARM-SCALE[-seedN]:

    python -m t5x_style.train --workdir=/tmp/arm \
        --config=configs/experiments/attention_rank.py:prefix_decoder-mlm-forward_backward-cpu-seed0
ARM: causal_decoder-full_lm, prefix_decoder-mlm, prefix_decoder-mlm-forward_backward.
SCALE: micro, quick, cpu, tpu (t5x_style/experiments/scales.py).
"""

from t5x_style.experiments import arms, attention_rank


def get_config(argument: str = "causal_decoder-full_lm-quick"):
    return arms.config_from_argument(attention_rank.ARMS, argument)
