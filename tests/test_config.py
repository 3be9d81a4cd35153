"""Configs: the sizes ladder against analytic and published parameter counts, command-line
overrides, and bad configs failing by name."""

import pathlib
import sys

import jax
import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from t5x_style import config as config_lib
from t5x_style import counting
from t5x_style import models

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"

# Published sizes of T5 v1.1 (Raffel et al. checkpoints, also the Hugging Face model cards).
T5_V1_1_PARAMS = {"small": 76_961_152, "base": 247_577_856, "large": 783_150_080,
                  "xl": 2_849_757_184, "xxl": 11_135_332_352}


def real_param_count(config) -> int:
    """Counts the parameters Flax would create, from shapes only (no memory even at xxl)."""
    model = models.build_model(config)
    abstract = jax.eval_shape(model.init_params, jax.random.key(0))
    return sum(leaf.size for leaf in jax.tree.leaves(abstract))


def config_for(architecture, size, **model_fields):
    config = config_lib.default_config()
    config.model = config_lib.model_config(architecture, size)
    for name, value in model_fields.items():
        config.model[name] = value
    return config


@pytest.mark.parametrize("size", list(config_lib.SIZES))
@pytest.mark.parametrize("architecture", config_lib.ARCHITECTURES)
def test_sizes_ladder_matches_the_analytic_count(architecture, size):
    config = config_for(architecture, size)
    assert real_param_count(config) == counting.count_params(config.model)


@pytest.mark.parametrize("size", list(T5_V1_1_PARAMS))
def test_encoder_decoder_ladder_is_t5_v1_1(size):
    assert counting.count_params(config_lib.model_config("encoder_decoder", size)) == T5_V1_1_PARAMS[size]


def test_xxl_has_the_wang_et_al_shapes():
    m = config_lib.model_config("causal_decoder", "xxl")
    assert (m.d_model, m.num_heads, m.head_dim, m.num_layers, m.d_ff, m.vocab_size) == \
        (4096, 64, 64, 24, 10240, 32128)
    # Decoder: 24 layers of 4*4096^2 + 3*4096*10240 plus embedding and output layer.
    assert counting.count_params(m) == 24 * (4 * 4096**2 + 3 * 4096 * 10240 + 2 * 4096) \
        + 2 * 32128 * 4096 + 4096 + 64 * 32


@pytest.mark.parametrize("position_encoding", config_lib.POSITION_ENCODINGS)
@pytest.mark.parametrize("tie_embeddings", [False, True])
@pytest.mark.parametrize("architecture", config_lib.ARCHITECTURES)
def test_every_option_matches_the_analytic_count(architecture, position_encoding, tie_embeddings):
    config = config_for(architecture, "tiny", position_encoding=position_encoding,
                        tie_embeddings=tie_embeddings)
    assert real_param_count(config) == counting.count_params(config.model)


@pytest.mark.parametrize("activations", [("gelu",), ("relu",), ("silu", "linear"), ("gelu", "gelu", "linear")])
def test_mlp_activations_match_the_analytic_count(activations):
    config = config_for("causal_decoder", "tiny", mlp_activations=activations)
    assert real_param_count(config) == counting.count_params(config.model)


def test_config_files_build_and_take_the_size_argument():
    for architecture in config_lib.ARCHITECTURES:
        module = config_flags.config_flags._LoadConfigModule(  # The loader --config=path:arg uses.
            f"{architecture}_config", str(CONFIGS / f"{architecture}.py"))
        small = module.get_config("small")
        assert small.model.architecture == architecture and small.model.d_model == 512
        assert module.get_config().model.size == "tiny"


def parse_flags(monkeypatch, *argv):
    """Parses argv as `python -m t5x_style.train` does (the overrides are read from sys.argv)."""
    monkeypatch.setattr(sys, "argv", ["prog", *argv])
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", flag_values=flag_values)
    flag_values(sys.argv)
    return flag_values.config


def test_command_line_overrides_and_misspelt_keys(monkeypatch):
    config = parse_flags(monkeypatch, f"--config={CONFIGS / 'prefix_decoder.py'}:base", "--config.model.num_layers=2",
                         "--config.model.position_encoding=rope")
    assert (config.model.num_layers, config.model.position_encoding, config.model.d_model) == (2, "rope", 768)
    with pytest.raises(Exception, match="num_layer"):
        parse_flags(monkeypatch, f"--config={CONFIGS / 'causal_decoder.py'}", "--config.model.num_layer=2")
    config = config_lib.default_config()
    config.lock()
    with pytest.raises(AttributeError, match="num_layer"):
        config.model.num_layer = 2


@pytest.mark.parametrize("field, value, message", [
    ("architecture", "gpt", "model.architecture='gpt' is not allowed; allowed: ['causal_decoder'"),
    ("position_encoding", "alibi", "model.position_encoding='alibi' is not allowed; allowed: ['relative'"),
    ("num_heads", 0, "model.num_heads=0 must be a positive integer"),
    ("head_dim", 33, "model.head_dim=33 must be even for position_encoding='rope'"),
    ("dtype", "float16", "model.dtype='float16' is not allowed; allowed: ['float32', 'bfloat16']"),
    ("remat_policy", "some", "model.remat_policy='some' is not allowed"),
    ("mlp_activations", ("gelu", "swish"), "model.mlp_activations='swish' is not allowed; allowed: "
                                           "['gelu', 'relu', 'silu', 'linear']"),
    ("mlp_activations", (), "model.mlp_activations=() is empty"),
    ("scan_unroll", 0, "model.scan_unroll=0 must be a positive integer"),
])
def test_invalid_model_fields_name_the_field_value_and_choices(field, value, message):
    config = config_lib.default_config()
    if field == "head_dim":
        config.model.position_encoding = "rope"
    config.model[field] = value
    with pytest.raises(ValueError) as error:
        config_lib.finalize(config)
    assert message in str(error.value)


def test_heads_that_do_not_divide_into_forward_and_backward_halves():
    config = config_lib.default_config()
    config.model.bidirectional_pattern = "forward_backward"
    config.model.num_heads = 3
    with pytest.raises(ValueError, match="model.num_heads=3 must be even"):
        models.build_model(config)


def test_unknown_size_and_cross_section_checks():
    with pytest.raises(ValueError, match="model.size='huge' is not a known size; allowed: "):
        config_lib.model_config("causal_decoder", "huge")
    config = config_lib.default_config()
    config.model.vocab_size = 300
    with pytest.raises(ValueError, match="model.vocab_size=300 is smaller than the 'byte' vocabulary"):
        config_lib.validate(config)
    config = config_lib.default_config()
    config.model.architecture = "encoder_decoder"  # With the default full_lm objective.
    with pytest.raises(ValueError, match="full_lm"):
        config_lib.validate(config)
    config = config_lib.default_config()
    config.model.max_length = 128
    with pytest.raises(ValueError, match="model.max_length=128 is shorter"):
        config_lib.validate(config)


def test_default_config_is_a_configdict_with_every_section():
    config = config_lib.finalize(config_lib.default_config())
    assert isinstance(config, ml_collections.ConfigDict)
    assert {"model", "data", "train"} <= set(config.keys())
