"""The train step (sharded == unsharded, microbatches == one batch, non-finite handling) and the
real `train_and_evaluate` end to end on the corpus slice."""

import functools
import json
import os

import jax
import numpy as np
import pytest

from data_fixtures import wiki_slice  # noqa: F401  (fixture)
from t5x_style import config as config_lib
from t5x_style import partitioning, train
from train_fixtures import synthetic_batch, tiny_run_config


def _trainer(architecture, mesh_sizes, devices=None, **train_fields):
    config = config_lib.default_config()
    config.model.architecture = architecture
    config.mesh.update(mesh_sizes)
    config.train.update(train_fields)
    mesh = partitioning.make_mesh(config.mesh, devices)
    return train.Trainer(config, mesh), mesh


def _losses_and_params(architecture, mesh_sizes, devices=None, **train_fields):
    trainer, mesh = _trainer(architecture, mesh_sizes, devices, **train_fields)
    state = trainer.init_state()
    batch = synthetic_batch(encoder_decoder=architecture == "encoder_decoder")
    losses = []
    for _ in range(2):
        state, metrics = trainer.train_step(state, partitioning.global_batch(mesh, batch))
        losses.append(float(metrics["loss"]))
    return losses, jax.device_get(state.params)


@functools.lru_cache(maxsize=None)
def _one_device_run(architecture):
    return _losses_and_params(architecture, {}, devices=jax.devices()[:1])


@pytest.mark.parametrize("architecture, mesh_sizes, train_fields", [
    ("causal_decoder", dict(data=2, fsdp=2, tensor=2), {}),
    ("causal_decoder", dict(data=-1, fsdp=8), dict(num_microbatches=2)),
    ("encoder_decoder", dict(data=2, fsdp=2, tensor=2), {}),
])
def test_sharded_equals_unsharded(architecture, mesh_sizes, train_fields):
    one_losses, one_params = _one_device_run(architecture)
    losses, params = _losses_and_params(architecture, mesh_sizes, **train_fields)
    np.testing.assert_allclose(losses, one_losses, rtol=2e-5)
    # Per tensor, in norm: Adafactor divides each gradient by its RMS, so where a row of gradients
    # is ~0 (rounding noise), a lone element can move by a whole update (seen: 3e-4 of 2.8).
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(one_params)):
        assert np.linalg.norm(a - b) <= 1e-3 * np.linalg.norm(b)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cpu_weight_gradients_run_on_onednn_with_the_default_losses(dtype, monkeypatch):
    config = config_lib.default_config()
    config.model.update(num_layers=1, d_model=256, d_ff=1024, dtype=dtype)  # dots oneDNN takes
    mesh = partitioning.make_mesh(config.mesh, jax.devices()[:1])
    batch = partitioning.global_batch(mesh, synthetic_batch(length=128))

    def losses_and_hlo():
        trainer = train.Trainer(config, mesh)
        state, losses = trainer.init_state(), []
        for _ in range(2):
            state, metrics = trainer.train_step(state, batch)
            losses.append(float(metrics["loss"]))
        return losses, trainer.lower_train_step(batch).compile().as_text()

    losses, hlo = losses_and_hlo()
    monkeypatch.setattr(partitioning, "compiler_options", lambda mesh, num_params: {})
    default_losses, default_hlo = losses_and_hlo()
    assert "__onednn$matmul" in hlo and "__onednn$matmul" not in default_hlo
    np.testing.assert_allclose(losses, default_losses, rtol=1e-6 if dtype == "float32" else 1e-3)


def test_nonfinite_loss_is_skipped_when_configured():
    trainer, mesh = _trainer("causal_decoder", {}, devices=jax.devices()[:1], skip_nonfinite=True)
    good = synthetic_batch()
    bad = dict(good, decoder_target_tokens=good["decoder_target_tokens"] + 1000)  # out of vocab
    state, _ = trainer.train_step(trainer.init_state(), partitioning.global_batch(mesh, good))
    before = jax.device_get(state.params)
    state, metrics = trainer.train_step(state, partitioning.global_batch(mesh, bad))
    assert not np.isfinite(metrics["loss"]) and int(state.step) == 2
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), before)


def test_nonfinite_loss_stops_naming_the_step():
    window = [(7, {"loss": np.float32(2.0)}), (8, {"loss": np.float32("nan")})]
    with pytest.raises(FloatingPointError, match="loss is nan at step 8"):
        train._raise_if_not_finite(window)


def test_batch_not_divisible_by_the_data_axes_fails_before_training():
    config = config_lib.default_config()
    config.data.batch_size = 12
    mesh = partitioning.make_mesh(config.mesh)  # data=8
    with pytest.raises(ValueError, match="data.batch_size=12 must be divisible .* by 8"):
        train.check_batch_fits_mesh(config, mesh)


def test_train_and_evaluate_loss_falls_and_writes_the_workdir(wiki_slice, tmp_path):
    config = tiny_run_config(wiki_slice, num_steps=12, eval_every=12, eval_batches=2,
                             learning_rate=0.03)
    config.mesh.update(data=4, fsdp=2)
    # The zero/few-shot suite during training: one held-out task, a few items, at the end.
    config.eval.update(every_steps=12, tasks=("heldout:description",), max_items=8, shots=(0,),
                       heldout_corpus=wiki_slice[0], max_length=128)
    final = train.train_and_evaluate(config, str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["tasks"]["heldout:description"]["n"] == 8
    lines = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert any("eval/average/0shot/acc" in line for line in lines)
    losses = [line["loss"] for line in lines if "loss" in line]
    assert len(losses) == 12 and losses[-1] < losses[0] - 0.5
    assert np.isfinite(final["eval_loss"]) and final["mfu"] > 0
    assert max(int(step) for step in os.listdir(tmp_path / "checkpoints")) == 12
    info = (tmp_path / "model_info.txt").read_text()
    assert "data=4 x fsdp=2 x tensor=1" in info and "logical=('layers', 'embed', 'mlp')" in info
    assert json.loads((tmp_path / "config.json").read_text())["train"]["num_steps"] == 12
