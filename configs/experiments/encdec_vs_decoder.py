"""The arms of the encdec_vs_decoder study, one per argument ARM-SCALE[-seedN]:

    python -m t5x_style.train --workdir=/tmp/arm \
        --config=configs/experiments/encdec_vs_decoder.py:encoder_decoder-prefix_lm-param_matched-cpu-seed0
ARM: prefix_decoder-prefix_lm, encoder_decoder-prefix_lm,
encoder_decoder-prefix_lm-param_matched.
SCALE: micro, quick, cpu, tpu (t5x_style/experiments/scales.py).
"""

from t5x_style.experiments import arms, encdec_vs_decoder


def get_config(argument: str = "prefix_decoder-prefix_lm-quick"):
    return arms.config_from_argument(encdec_vs_decoder.ARMS, argument)
