"""Non-causal decoder (prefix LM, UniLM): bidirectional over a random prefix, causal after it, loss
on the suffix only. Shares every parameter with the causal decoder of the same size.

    python -m t5x_style.train --config=configs/prefix_decoder.py:tiny --workdir=/tmp/nd
"""

from t5x_style import config as config_lib


def get_config(size: str = "tiny"):
    config = config_lib.default_config()
    config.model = config_lib.model_config("prefix_decoder", size)
    config.data.objective = "prefix_lm"
    return config_lib.finalize(config)
