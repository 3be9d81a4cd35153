"""Causal decoder (GPT) trained with next-token prediction (full LM).

    python -m t5x_style.train --config=configs/causal_decoder.py:tiny --workdir=/tmp/cd
The text after ':' picks the size from the ladder (tiny, small, base, large, xl, xxl).
"""

from t5x_style import config as config_lib


def get_config(size: str = "tiny"):
    config = config_lib.default_config()
    config.model = config_lib.model_config("causal_decoder", size)
    config.data.objective = "full_lm"
    return config_lib.finalize(config)
