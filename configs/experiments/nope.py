"""The arms of the nope study, one per argument ARM-SCALE[-seedN]:

    python -m t5x_style.train --workdir=/tmp/arm \
        --config=configs/experiments/nope.py:prefix_decoder-mlm-nope-cpu-seed0
ARM: causal_decoder-full_lm, causal_decoder-full_lm-nope, prefix_decoder-mlm,
prefix_decoder-mlm-nope.
SCALE: micro, quick, cpu, tpu (t5x_style/experiments/scales.py).
"""

from t5x_style.experiments import arms, nope


def get_config(argument: str = "causal_decoder-full_lm-quick"):
    return arms.config_from_argument(nope.ARMS, argument)
