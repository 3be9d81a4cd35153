"""bench: timed steps with their spread and outside load; the compile-only path from abstract
state, at a size whose parameters would not fit in this machine's memory."""

import math

import pytest

from data_fixtures import wiki_slice  # noqa: F401  (fixture)
from t5x_style import bench, partitioning, train
from t5x_style import config as config_lib
from train_fixtures import tiny_run_config



def test_benchmark_times_the_train_step(wiki_slice):
    result = bench.benchmark(tiny_run_config(wiki_slice), steps=3)
    assert result["tokens_per_step"] == 8 * 64 and result["parameters"] > 0
    assert (0 < result["min_step_seconds"] <= result["median_step_seconds"]
            <= result["max_step_seconds"])
    assert result["tokens_per_second"] > 0 and result["mfu"] > 0
    assert math.isfinite(result["outside_load_cores"]) and result["outside_load_cores"] >= 0


@pytest.mark.parametrize("architecture", ["causal_decoder", "prefix_decoder", "encoder_decoder"])
def test_abstract_batch_has_the_pipeline_features(wiki_slice, architecture):
    config = tiny_run_config(wiki_slice, architecture)
    mesh = partitioning.make_mesh(config.mesh)
    real = partitioning.global_batch(mesh, next(train.data_iterators(config)[0]))
    abstract = bench.abstract_batch(config, mesh)
    assert {k: (v.shape, v.dtype, v.sharding) for k, v in abstract.items()} == {
        k: (v.shape, v.dtype, v.sharding) for k, v in real.items()}


def test_compile_only_builds_the_xxl_step_without_its_parameters():
    config = config_lib.default_config()
    config.model = config_lib.model_config("causal_decoder", "xxl")
    config.data.update(sequence_length=32, batch_size=8)
    result = bench.compile_step(config)
    float32_bytes = 4 * result["parameters"]  # 18 GiB, before the optimizer state
    assert float32_bytes > 16 * 2**30 and result["peak_rss_gb"] * 2**30 < float32_bytes / 10
    assert result["lower_seconds"] > 0 and result["compile_seconds"] > 0
    assert result["outside_load_cores"] >= 0
