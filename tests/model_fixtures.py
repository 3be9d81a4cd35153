"""Tiny models for the property tests, built once per session per variant."""

import functools

import jax

from t5x_style import config as config_lib
from t5x_style import models


@functools.lru_cache(maxsize=None)
def tiny_model(architecture, position_encoding="relative", bidirectional_pattern="full",
               max_length=64, seed=0):
    """(model, params) of the tiny size with the given architecture and options."""
    config = config_lib.default_config()
    config.model.architecture = architecture
    config.model.position_encoding = position_encoding
    config.model.bidirectional_pattern = bidirectional_pattern
    config.model.max_length = max_length
    model = models.build_model(config)
    return model, jax.jit(model.init_params)(jax.random.key(seed))
