"""The arms of the arch_objective study (Wang et al. 2022), one per argument ARM-SCALE[-seedN]:

    python -m t5x_style.train --workdir=/tmp/arm \
        --config=configs/experiments/arch_objective.py:prefix_decoder-span_corruption-cpu-seed1
ARM: causal_decoder-full_lm, prefix_decoder-prefix_lm, encoder_decoder-prefix_lm,
causal_decoder-span_corruption, prefix_decoder-span_corruption, encoder_decoder-span_corruption.
SCALE: micro, quick, cpu, tpu (xxl, 626-token rows, batch 2048, Adafactor; see
t5x_style/experiments/scales.py).
"""

from t5x_style.experiments import arch_objective, arms


def get_config(argument: str = "causal_decoder-full_lm-quick"):
    return arms.config_from_argument(arch_objective.ARMS, argument)
