"""bench: timed steps with their spread and outside load."""

import math

from data_fixtures import wiki_slice  # noqa: F401  (fixture)
from t5x_style import bench
from train_fixtures import tiny_run_config


def test_benchmark_times_the_train_step(wiki_slice):
    result = bench.benchmark(tiny_run_config(wiki_slice), steps=3)
    assert result["tokens_per_step"] == 8 * 64 and result["parameters"] > 0
    assert (0 < result["min_step_seconds"] <= result["median_step_seconds"]
            <= result["max_step_seconds"])
    assert result["tokens_per_second"] > 0 and result["mfu"] > 0
    assert math.isfinite(result["outside_load_cores"]) and result["outside_load_cores"] >= 0

