"""The arms of the gpt_vs_unilm study, one per argument ARM-SCALE[-seedN]:

    python -m t5x_style.train --workdir=/tmp/arm \
        --config=configs/experiments/gpt_vs_unilm.py:prefix_decoder-prefix_lm-cpu-seed0
ARM: causal_decoder-prefix_lm, prefix_decoder-prefix_lm.
SCALE: micro, quick, cpu, tpu (t5x_style/experiments/scales.py).
"""

from t5x_style.experiments import arms, gpt_vs_unilm


def get_config(argument: str = "causal_decoder-prefix_lm-quick"):
    return arms.config_from_argument(gpt_vs_unilm.ARMS, argument)
