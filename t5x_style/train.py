"""Training: the train state, the jitted step, the loop, and a short `main()`.

    python -m t5x_style.train --config=configs/causal_decoder.py:tiny --workdir=/tmp/cd \
        [--config.train.num_steps=300]

`train_and_evaluate(config, workdir)` is the whole run; tests and Colab call it directly. It resumes
from the newest readable checkpoint in `workdir`, and on SIGTERM/SIGINT saves and returns.

The step is `jax.jit(step, in_shardings, out_shardings, donate_argnums=0)` over the mesh of
`partitioning`: parameters and optimizer state are sharded by their logical axes, the batch over
('data', 'fsdp'); XLA inserts the collectives. Gradients of `num_microbatches` slices of the batch
are summed in a `lax.scan`, each slice's loss divided by the token count of the WHOLE batch, so
the update equals the single-batch update.

Every jitted function runs under `jax.set_mesh(mesh)` (see `_on_mesh`): that is what makes the
model's logical activation constraints (`nn.with_logical_constraint`) take effect; without a mesh
they are silently no-ops and XLA guesses activation shardings from the jit boundary.
"""

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from t5x_style import checkpoints as checkpoints_lib
from t5x_style import config as config_lib
from t5x_style import counting, flops, metrics, optimizers, partitioning, run_dir
from t5x_style.evaluation import evaluator as evaluator_lib
from t5x_style.evaluation import report as evaluation_report
from t5x_style.models import Model, build_model

Batch = dict[str, jax.Array]


@struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimizer steps taken
    params: Any
    opt_state: Any


def _split_microbatches(batch: Batch, num_microbatches: int) -> Batch:
    """(B, L) -> (M, B/M, L), row r going to microbatch r % M, so every device keeps its own rows
    in every microbatch (no data moves between devices)."""
    def split(x):
        rows = x.shape[0] // num_microbatches
        x = x.reshape((rows, num_microbatches) + x.shape[1:]).swapaxes(0, 1)  # (M, B/M, L)
        return nn.with_logical_constraint(x, (None, "batch", "length"))
    return jax.tree.map(split, batch)


def make_train_step(model: Model, optimizer: optax.GradientTransformation,
                    train_config: ml_collections.ConfigDict, seed: int) -> Callable:
    """(state, batch) -> (state, metrics): one optimizer step, to be jitted by the caller."""
    schedule = optimizers.make_schedule(train_config)
    grad_fn = jax.value_and_grad(model.loss_fn, has_aux=True)

    def gradients(params, batch, dropout_rng, normalizer):
        if train_config.num_microbatches == 1:
            (_, aux), grads = grad_fn(params, batch, dropout_rng, normalizer)
            return grads, aux

        def accumulate(carry, index_and_microbatch):
            index, microbatch = index_and_microbatch
            rng = None if dropout_rng is None else jax.random.fold_in(dropout_rng, index)
            (_, aux), grads = grad_fn(params, microbatch, rng, normalizer)
            return jax.tree.map(jnp.add, carry, (grads, aux)), None

        micro = _split_microbatches(batch, train_config.num_microbatches)
        zeros = jax.tree.map(jnp.zeros_like, params)
        aux_zeros = dict.fromkeys(("loss_sum", "z_loss_sum", "num_tokens", "num_correct"),
                                  jnp.zeros((), jnp.float32))
        indices = jnp.arange(train_config.num_microbatches)
        (grads, aux), _ = jax.lax.scan(accumulate, (zeros, aux_zeros), (indices, micro))
        return grads, aux

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        with nn.logical_axis_rules(partitioning.LOGICAL_AXIS_RULES):
            normalizer = jnp.maximum(jnp.sum(batch["decoder_loss_weights"].astype(jnp.float32)), 1)
            dropout_rng = None
            if model.config.model.dropout_rate:
                dropout_rng = jax.random.fold_in(jax.random.key(seed), state.step)
            grads, aux = gradients(state.params, batch, dropout_rng, normalizer)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            new_state = TrainState(step=state.step + 1, params=optax.apply_updates(
                state.params, updates), opt_state=opt_state)
            loss = aux["loss_sum"] / normalizer
            grad_norm = optax.global_norm(grads)
            if train_config.skip_nonfinite:
                finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
                new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state,
                                         state.replace(step=state.step + 1))
            return new_state, {
                "loss": loss,
                "z_loss": aux["z_loss_sum"] / normalizer,
                "accuracy": aux["num_correct"] / normalizer,
                "grad_norm": grad_norm,
                "learning_rate": schedule(state.step),
                "target_tokens": aux["num_tokens"],
            }

    return train_step


def make_eval_step(model: Model) -> Callable:
    """(params, batch) -> loss and token sums of a held-out batch."""
    def eval_step(params, batch):
        with nn.logical_axis_rules(partitioning.LOGICAL_AXIS_RULES):
            return model.loss_fn(params, batch)[1]
    return eval_step


def _on_mesh(mesh: jax.sharding.Mesh, jitted: Callable) -> Callable:
    """`jitted`, traced and run with `mesh` as the current mesh."""
    def call(*args):
        with jax.set_mesh(mesh):
            return jitted(*args)
    return call


class Trainer:
    """The model, optimizer, mesh and jitted functions of one run, with their shardings."""

    def __init__(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
        self.config = config
        self.mesh = mesh
        self.model = build_model(config)
        self.logical_axes = self.model.param_logical_axes()
        self.optimizer = optimizers.make_optimizer(config.train, self.logical_axes)
        abstract_params = jax.eval_shape(self.model.init_params, jax.random.key(0))
        self.param_shardings = partitioning.logical_to_sharding(self.logical_axes, mesh)
        abstract_opt_state = jax.eval_shape(self.optimizer.init, abstract_params)
        self.state_shardings = TrainState(
            step=partitioning.replicated(mesh), params=self.param_shardings,
            opt_state=partitioning.optimizer_state_shardings(
                abstract_opt_state, abstract_params, self.param_shardings, mesh))
        self.abstract_state = jax.tree.map(
            lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding),
            TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=abstract_params,
                       opt_state=abstract_opt_state), self.state_shardings)
        batch_sharding = partitioning.batch_sharding(mesh)
        compiler_options = partitioning.compiler_options(mesh, counting.count_params(config.model))
        self._jitted_train_step = jax.jit(
            make_train_step(self.model, self.optimizer, config.train, config.seed),
            in_shardings=(self.state_shardings, batch_sharding),
            out_shardings=(self.state_shardings, partitioning.replicated(mesh)),
            donate_argnums=0, compiler_options=compiler_options)
        self.train_step = _on_mesh(mesh, self._jitted_train_step)
        self.eval_step = _on_mesh(mesh, jax.jit(
            make_eval_step(self.model), in_shardings=(self.param_shardings, batch_sharding),
            out_shardings=partitioning.replicated(mesh), compiler_options=compiler_options))

    def init_state(self, params=None) -> TrainState:
        """A fresh state from `config.seed`, or around given (already placed) parameters, each
        array created directly in its shards."""
        def init(rng, params):
            with nn.logical_axis_rules(partitioning.LOGICAL_AXIS_RULES):
                if params is None:
                    params = self.model.init_params(rng)
                return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                                  opt_state=self.optimizer.init(params))
        init = _on_mesh(self.mesh, jax.jit(init, out_shardings=self.state_shardings))
        return init(jax.random.key(self.config.seed), params)

    def lower_train_step(self, batch) -> jax.stages.Lowered:
        """The train step traced for `batch` (arrays or ShapeDtypeStructs) and the abstract
        state: `.compile()` it to build the step of any size without one parameter in memory."""
        with jax.set_mesh(self.mesh):
            return self._jitted_train_step.lower(self.abstract_state, batch)

    def model_info(self) -> str:
        """model_info.txt: mesh, parameter count, and each parameter's shape, axes and sharding."""
        total = sum(x.size for x in jax.tree.leaves(self.abstract_state.params))
        return (f"architecture: {self.config.model.architecture}\n"
                f"mesh: {partitioning.mesh_shape_str(self.mesh)} over {self.mesh.devices.size} "
                f"{jax.devices()[0].platform} devices, {jax.process_count()} process(es)\n"
                f"parameters: {total:,} (analytic count: "
                f"{counting.count_params(self.config.model):,})\n\n"
                + partitioning.describe(self.abstract_state.params, self.logical_axes,
                                        self.param_shardings) + "\n")


def check_batch_fits_mesh(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> None:
    """The global batch must split evenly over the batch axes and into microbatches."""
    shards = partitioning.batch_shards(mesh)
    need = shards * config.train.num_microbatches
    if config.data.batch_size % need:
        raise ValueError(
            f"data.batch_size={config.data.batch_size} must be divisible by the batch axes of the "
            f"mesh ({partitioning.mesh_shape_str(mesh)}: data x fsdp = {shards}) times "
            f"train.num_microbatches={config.train.num_microbatches}, i.e. by {need}")
    if config.data.batch_size % jax.process_count():
        raise ValueError(f"data.batch_size={config.data.batch_size} must be divisible by the "
                         f"process count {jax.process_count()}")


def data_iterators(config: ml_collections.ConfigDict) -> tuple[Iterator, Iterator]:
    """(endless training iterator, one pass over the held-out split), this process's rows only."""
    from t5x_style.data import pipeline  # the data layer imports tfds; only training runs need it
    shard = dict(process_index=jax.process_index(), process_count=jax.process_count())
    return (iter(pipeline.make_pipeline(config, training=True, **shard)),
            iter(pipeline.make_pipeline(config, training=False, **shard)))


def eval_batches(mesh: jax.sharding.Mesh, iterator: Iterator, count: int) -> list[Batch]:
    """The first `count` held-out batches as global arrays. A process whose shard runs out early
    feeds all-padding rows (loss weight 0), so every process makes the same number of calls."""
    local, empty = [], None
    for _ in range(count):
        batch = next(iterator, None)
        if batch is None:
            batch = empty = empty or {k: np.zeros_like(v) for k, v in local[0].items()}
        local.append(batch)
    return [partitioning.global_batch(mesh, batch) for batch in local]


def _write_run_info(workdir: str, config: ml_collections.ConfigDict, trainer: Trainer) -> None:
    if jax.process_index() != 0:
        return
    directory = run_dir.path(workdir)
    (directory / run_dir.CONFIG_FILE).write_text(config.to_json(indent=2))
    (directory / "model_info.txt").write_text(trainer.model_info())


def _raise_if_not_finite(window: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Fetches a window of step metrics; a non-finite loss stops the run naming its step."""
    fetched = jax.device_get(window)
    for step, scalars in fetched:
        if not np.isfinite(scalars["loss"]):
            raise FloatingPointError(
                f"loss is {scalars['loss']} at step {step}; stopping before any checkpoint of it "
                "is written (train.skip_nonfinite=True skips such steps instead)")
    return fetched


def evaluate(trainer: Trainer, batches: list[Batch], params) -> dict[str, float]:
    """Held-out loss and accuracy per target token over the given global batches."""
    sums = jax.device_get([trainer.eval_step(params, batch) for batch in batches])
    total = {key: sum(float(s[key]) for s in sums) for key in sums[0]}
    tokens = max(total["num_tokens"], 1.0)
    return {"eval_loss": total["loss_sum"] / tokens, "eval_accuracy": total["num_correct"] / tokens}


def _window_scalars(fetched: list[tuple[int, dict]]) -> dict[str, float]:
    return {key: float(np.mean([scalars[key] for _, scalars in fetched])) for key in fetched[0][1]}


def throughput_meter(config: ml_collections.ConfigDict, local_batch,
                     remeasure_peak: bool = False) -> metrics.Throughput:
    """Speed accounting for global batches made of batches like this process's `local_batch`:
    tokens are all input positions (encoder and decoder), FLOPs follow flops.py."""
    return metrics.Throughput(
        tokens_per_step=jax.process_count() * sum(
            x.size for name, x in local_batch.items() if name.endswith("input_tokens")),
        flops_per_step=jax.process_count() * flops.batch_train_flops(config.model, local_batch),
        peak_flops_per_device=metrics.peak_flops_per_device(config.model.dtype,
                                                            remeasure_peak)[0])


def run_suite(suite: evaluator_lib.Evaluator, params, workdir: str, step: int,
              writer: metrics.MetricWriter) -> None:
    """Zero/few-shot scores of `params`: results.json/.md in the workdir (the latest), every task's
    scalars in the metrics, and the normalised averages on the console."""
    results = suite(params, workdir=workdir)
    writer.write(step, evaluation_report.scalars(results), console=False)
    averages = results["summary"]["normalized_acc"]
    print(f"step {step}/{writer.num_steps} | zero/few-shot normalised acc: "
          + ", ".join(f"{k}-shot {'n/a' if v is None else f'{v:.3f}'}" for k, v in averages.items()),
          flush=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains `config` in `workdir`, resuming from its checkpoint if any; returns the last
    metrics."""
    config_lib.validate(config)
    partitioning.initialize_distributed(config.mesh)
    mesh = partitioning.make_mesh(config.mesh)
    check_batch_fits_mesh(config, mesh)
    run_dir.path(workdir).mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, mesh)
    train_iterator, eval_iterator = data_iterators(config)
    checkpoints = checkpoints_lib.Checkpoints(workdir, config.checkpoint)
    started = time.perf_counter()
    state = checkpoints.restore_latest(trainer.abstract_state, train_iterator, config)
    restore_seconds = time.perf_counter() - started
    if state is None and config.checkpoint.init_params_from:
        state = trainer.init_state(checkpoints_lib.restore_params(
            config.checkpoint.init_params_from, trainer.abstract_state.params))
    elif state is None:
        state = trainer.init_state()
    _write_run_info(workdir, config, trainer)
    first_step = int(jax.device_get(state.step))
    writer = metrics.MetricWriter(workdir, config.train.num_steps, start_step=first_step)
    held_out = []
    if config.train.eval_every:
        held_out = eval_batches(mesh, eval_iterator, config.train.eval_batches)
    suite = None  # The zero/few-shot suite, every eval.every_steps steps.
    if config.eval.every_steps:
        suite = evaluator_lib.Evaluator(trainer.model, config, mesh)
    last = {}
    with checkpoints_lib.StopRequest() as stop:
        window, meter = [], None
        for step in range(first_step + 1, config.train.num_steps + 1):
            local_batch = next(train_iterator)
            state, step_metrics = trainer.train_step(
                state, partitioning.global_batch(mesh, local_batch))
            window.append((step, step_metrics))
            if meter is None:  # the first step compiles: time it, and measure speed from here on
                jax.block_until_ready(state)
                writer.write(step, {"seconds_to_first_step": time.perf_counter() - started,
                                    "checkpoint_restore_seconds": restore_seconds}, console=False)
                meter = throughput_meter(config, local_batch)
            else:
                meter.step()
            is_last = step == config.train.num_steps
            stopping = stop.requested()
            saving = checkpoints.should_save(step) or is_last or stopping
            if step % config.train.log_every == 0 or saving:
                fetched = _raise_if_not_finite(window)
                last = {**_window_scalars(fetched), **meter.window()}
                writer.write(step, last)
                window = []
            if held_out and (step % config.train.eval_every == 0 or is_last):
                last.update(evaluate(trainer, held_out, state.params))
                writer.write(step, {k: last[k] for k in ("eval_loss", "eval_accuracy")})
                meter.reset()
            if suite and (step % config.eval.every_steps == 0 or is_last):
                run_suite(suite, state.params, workdir, step, writer)
                meter.reset()
            if saving:
                save_started = time.perf_counter()
                checkpoints.save(step, state, train_iterator, config)
                # The time the loop is blocked; the write itself continues in the background.
                writer.write(step, {"checkpoint_save_blocking_seconds":
                                    time.perf_counter() - save_started}, console=False)
                meter.reset()
            if stopping:
                break
    checkpoints.wait()
    checkpoints.close()
    writer.close()
    return last


def main(argv) -> None:
    del argv
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax logs each save at INFO via absl
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    from absl import app, flags
    from ml_collections import config_flags

    _CONFIG = config_flags.DEFINE_config_file("config", None, "Path of a configs/*.py file "
                                              "(':size' picks the size).", lock_config=True)
    _WORKDIR = flags.DEFINE_string("workdir", None,
                                   "Directory for checkpoints, metrics and config.json.")
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)
