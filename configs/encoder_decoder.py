"""Encoder-decoder (T5 v1.1) trained as a prefix LM: the prefix goes to the encoder, the suffix is
the target. `size` gives num_layers encoder layers plus as many decoder layers.

    python -m t5x_style.train --config=configs/encoder_decoder.py:tiny --workdir=/tmp/ed
"""

from t5x_style import config as config_lib


def get_config(size: str = "tiny"):
    config = config_lib.default_config()
    config.model = config_lib.model_config("encoder_decoder", size)
    config.data.objective = "prefix_lm"
    return config_lib.finalize(config)
