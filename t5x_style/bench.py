"""Speed of exactly the training step: `python -m t5x_style.bench --config=configs/NAME.py`.

    python -m t5x_style.bench --config=configs/causal_decoder.py --preset=d4
    python -m t5x_style.bench --config=configs/causal_decoder.py --preset=d4 \
        --config.model.dtype=bfloat16

Builds the run's `Trainer`, takes one batch of the real input pipeline, compiles the step and then
times `--steps` steps on that batch (data loading excluded), each to completion. Prints tokens/s,
TFLOP/s/device and MFU (flops.py's rule; on CPU against the measured matmul rate), the median,
fastest and slowest step, the cores other processes kept busy meanwhile (`outside_load_cores`:
on a shared machine, read the speed beside it), the time to the first step (init + compile + one
step) and the process's peak memory.
`--preset=d4` is the common workload of reference/peers.md, exactly: 4 layers, d_model 256, 4 heads
of 64, a plain GELU MLP of 1024 (2 matrices, not T5 v1.1's gated 3), tied embeddings, vocab 1024,
256 tokens x 16 rows, float32; 90 GFLOP per step. Both presets unroll the scan over their few
layers (`model.scan_unroll`): on CPU that removes the fills, writes and copies of the scan's
stacked buffers (23% of the scanned D4 step's op time, profiled) and made the step 1.26x faster;
`--config.model.scan_unroll=1` measures the scanned step. On CPU the step is compiled with
`partitioning.compiler_options` (the weight-gradient matmuls on oneDNN: bfloat16 1.3-1.5x faster).

    python -m t5x_style.bench --config=configs/encoder_decoder.py:xxl --compile_only

`--compile_only` times tracing + lowering and XLA compilation of the same step separately, from
abstract state and batch (shapes and shardings only): no parameter is allocated and no data is
read, so any size of the ladder compiles on a small CPU machine (xxl: under 15 s, flat in size
thanks to the scan over layers).
"""

import resource
import statistics
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from t5x_style import config as config_lib
from t5x_style import metrics, partitioning, train
from t5x_style.data import packing, pipeline, tokenizer

PRESETS = {
    "d4": dict(model=dict(num_layers=4, d_model=256, num_heads=4, head_dim=64, d_ff=1024,
                          mlp_activations=("gelu",), tie_embeddings=True, vocab_size=1024,
                          scan_unroll=4),
               data=dict(sequence_length=256, batch_size=16)),
    # ~20M parameters (causal decoder; gated MLP): the size where matmuls start to dominate on CPU.
    "m20": dict(model=dict(num_layers=6, d_model=512, num_heads=8, head_dim=64, d_ff=1536,
                           vocab_size=1024, scan_unroll=6),
                data=dict(sequence_length=256, batch_size=16)),
}

def benchmark(config, steps: int, remeasure_peak: bool = False) -> dict[str, float]:
    """Times `steps` train steps after compilation; returns the numbers it prints."""
    started = time.perf_counter()
    mesh = partitioning.make_mesh(config.mesh)
    train.check_batch_fits_mesh(config, mesh)
    trainer = train.Trainer(config, mesh)
    local_batch = next(train.data_iterators(config)[0])
    batch = partitioning.global_batch(mesh, local_batch)
    state = trainer.init_state()
    state, _ = trainer.train_step(state, batch)
    jax.block_until_ready(state)
    first_step = time.perf_counter() - started
    times = []
    outside = metrics.OutsideLoad()
    for _ in range(steps):
        start = time.perf_counter()
        state, _ = trainer.train_step(state, batch)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    outside_load_cores = outside.cores()
    median = statistics.median(times)
    meter = train.throughput_meter(config, local_batch, remeasure_peak)
    per_device = meter.flops_per_step / median / jax.device_count()
    return {
        "parameters": sum(x.size for x in jax.tree.leaves(trainer.abstract_state.params)),
        "tokens_per_step": meter.tokens_per_step, "gflops_per_step": meter.flops_per_step / 1e9,
        "median_step_seconds": median, "min_step_seconds": min(times),
        "max_step_seconds": max(times), "tokens_per_second": meter.tokens_per_step / median,
        "outside_load_cores": outside_load_cores,
        "tflops_per_second_per_device": per_device / 1e12, "mfu": per_device / meter.peak,
        "peak_tflops_per_device": meter.peak / 1e12,
        "peak_source": metrics.peak_flops_per_device(config.model.dtype)[1],
        "seconds_to_first_step": first_step,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def abstract_batch(config, mesh) -> dict[str, jax.ShapeDtypeStruct]:
    """The global batch's features as shapes with the batch sharding. The names come from one
    short text through the run's own objective, feature conversion and packing, so the compiled
    step is the one training runs, without opening the corpus."""
    d = config.data
    vocab = tokenizer.get_vocabulary(d.vocabulary, d.extra_ids)
    text = "Compile-time check: any text long enough for every objective to split it."
    example = pipeline.DocumentToExamples(config, vocab)({d.text_feature: text},
                                                         np.random.default_rng(0))[0]
    row = packing.pack_row([example], pipeline.model_feature_lengths(config))
    sharding = partitioning.batch_sharding(mesh)
    return {name: jax.ShapeDtypeStruct((d.batch_size, *x.shape), x.dtype, sharding=sharding)
            for name, x in row.items()}


def compile_step(config) -> dict[str, float]:
    """Seconds to trace and lower, then to compile, the train step of `config` (nothing runs)."""
    mesh = partitioning.make_mesh(config.mesh)
    train.check_batch_fits_mesh(config, mesh)
    trainer = train.Trainer(config, mesh)
    batch = abstract_batch(config, mesh)
    outside = metrics.OutsideLoad()
    start = time.perf_counter()
    lowered = trainer.lower_train_step(batch)
    lowered_at = time.perf_counter()
    lowered.compile()
    return {
        "parameters": sum(x.size for x in jax.tree.leaves(trainer.abstract_state.params)),
        "lower_seconds": lowered_at - start,
        "compile_seconds": time.perf_counter() - lowered_at,
        "outside_load_cores": outside.cores(),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main(argv) -> None:
    del argv
    config = _CONFIG.value
    if _PRESET.value:
        for section, fields in PRESETS[_PRESET.value].items():
            config[section].update(fields)
        # --config.* overrides were applied when flags were parsed; re-apply them over the preset.
        for path, value in config_flags.get_override_values(flags.FLAGS["config"]).items():
            *sections, field = path.split(".")
            node = config
            for section in sections:
                node = node[section]
            node[field] = value
    config_lib.validate(config)
    if _COMPILE_ONLY.value:
        result = compile_step(config)
    else:
        result = benchmark(config, _STEPS.value, _REMEASURE.value)
    m = config.model
    print(f"{m.architecture} L{m.num_layers} d{m.d_model} {m.num_heads}x{m.head_dim} ff{m.d_ff} "
          f"V{m.vocab_size} {m.dtype} | {jax.device_count()} {jax.devices()[0].platform} devices")
    for key, value in result.items():
        print(f"  {key:30s} {value:,.4g}" if isinstance(value, float) else f"  {key:30s} {value}")


if __name__ == "__main__":
    _CONFIG = config_flags.DEFINE_config_file("config", None, "A configs/*.py file.",
                                              lock_config=True)
    _PRESET = flags.DEFINE_enum("preset", None, list(PRESETS), "A shape from PRESETS; --config.* "
                                "overrides still win.")
    _STEPS = flags.DEFINE_integer("steps", 20, "Timed steps after the first (compiling) one.")
    _COMPILE_ONLY = flags.DEFINE_bool("compile_only", False, "Only lower and compile the step "
                                      "from abstract state (no parameters allocated) and time it.")
    _REMEASURE = flags.DEFINE_bool("remeasure_peak", False, "CPU: measure the matmul peak again "
                                   "(the cache keeps the best rate seen).")
    app.run(main)
