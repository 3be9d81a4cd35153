"""The arms of the mixed_attention_mlm study, one per argument ARM-SCALE[-seedN]:

    python -m t5x_style.train --workdir=/tmp/arm \
        --config=configs/experiments/mixed_attention_mlm.py:prefix_decoder-mlm-forward_backward-cpu-seed0
ARM: prefix_decoder-mlm, prefix_decoder-mlm-forward_backward.
SCALE: micro, quick, cpu, tpu (t5x_style/experiments/scales.py).
"""

from t5x_style.experiments import arms, mixed_attention_mlm


def get_config(argument: str = "prefix_decoder-mlm-quick"):
    return arms.config_from_argument(mixed_attention_mlm.ARMS, argument)
