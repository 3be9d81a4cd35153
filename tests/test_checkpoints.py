"""Resume == uninterrupted after SIGKILL, SIGTERM saves, unreadable checkpoints fall back, a
different model is refused, restore onto other meshes, params-only restore."""

import json
import logging
import os
import re
import shutil
import signal
import time

import jax
import numpy as np
import pytest

from data_fixtures import wiki_slice  # noqa: F401  (fixture)
from t5x_style import checkpoints, partitioning, train
from train_fixtures import start_training, tiny_run_config


def _losses(workdir) -> dict[int, float]:
    """Step -> loss from metrics.jsonl (a line cut short by a kill is skipped)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return {}
    lines = [json.loads(line) for line in open(path) if line.endswith("\n")]
    return {line["step"]: line["loss"] for line in lines if "loss" in line}


def _steps(workdir) -> list[int]:
    return sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())


def _wait_for(predicate, process, timeout=120):
    deadline = time.time() + timeout
    while not predicate():
        assert process.poll() is None, process.stdout.read()
        assert time.time() < deadline, "training subprocess made no progress"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def trained_workdir(wiki_slice, tmp_path_factory):
    """A finished 6-step run on 8 devices (data=8) with checkpoints 2, 4 and 6."""
    workdir = str(tmp_path_factory.mktemp("trained"))
    train.train_and_evaluate(tiny_run_config(wiki_slice, num_steps=6), workdir)
    return workdir


def _restore(config, workdir, mesh_sizes, devices=None):
    config.mesh.update(mesh_sizes)
    trainer = train.Trainer(config, partitioning.make_mesh(config.mesh, devices))
    iterator, _ = train.data_iterators(config)
    manager = checkpoints.Checkpoints(workdir, config.checkpoint)
    return trainer, manager.restore_latest(trainer.abstract_state, iterator, config)


def test_resume_after_sigkill_gives_the_uninterrupted_losses(wiki_slice, trained_workdir,
                                                             tmp_path):
    killed = str(tmp_path)
    process = start_training(killed, wiki_slice, "--config.train.num_steps=100",
                             "--config.checkpoint.save_every=2", devices=8)
    _wait_for(lambda: os.path.exists(os.path.join(killed, "checkpoints", "2")), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_from = _steps(killed)[-1]
    assert resumed_from < 6, "the killed run got too far to compare with the 6-step reference"
    train.train_and_evaluate(tiny_run_config(wiki_slice, num_steps=6), killed)
    assert not os.path.exists(os.path.join(killed, "checkpoints_unreadable"))
    lines = [json.loads(line) for line in open(os.path.join(killed, "metrics.jsonl"))]
    first_steps = [line["step"] for line in lines if "seconds_to_first_step" in line]
    assert first_steps[-1] == resumed_from + 1  # the second run started from the checkpoint
    # Each step logged once: the killed run's lines after the checkpoint were dropped on resume.
    steps = [line["step"] for line in lines]
    assert steps == sorted(steps)
    assert [line["step"] for line in lines if "loss" in line] == list(range(1, 7))
    after = range(resumed_from + 1, 7)
    np.testing.assert_allclose([_losses(killed)[s] for s in after],
                               [_losses(trained_workdir)[s] for s in after], rtol=1e-6)


def test_sigterm_saves_a_restorable_checkpoint_and_exits_cleanly(wiki_slice, tmp_path):
    workdir = str(tmp_path)
    process = start_training(workdir, wiki_slice, "--config.train.num_steps=1000",
                             "--config.checkpoint.save_every=0")
    _wait_for(lambda: max(_losses(workdir), default=0) >= 2, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    last_logged = max(_losses(workdir))
    assert _steps(workdir) == [last_logged]
    trainer, state = _restore(tiny_run_config(wiki_slice), workdir, {})
    assert int(state.step) == last_logged


def test_unreadable_latest_checkpoint_falls_back_and_is_kept(wiki_slice, trained_workdir, tmp_path,
                                                            caplog):
    workdir = str(tmp_path / "run")
    shutil.copytree(trained_workdir, workdir)
    for root, _, files in os.walk(os.path.join(workdir, "checkpoints", "6", "state")):
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"\0garbage")
    with caplog.at_level(logging.WARNING):
        train.train_and_evaluate(tiny_run_config(wiki_slice, num_steps=7), workdir)
    assert "Checkpoint" in caplog.text and "cannot be read" in caplog.text
    assert _steps(workdir) == [4, 6, 7]  # resumed from 4; keep=3 dropped 2
    (kept,) = os.listdir(os.path.join(workdir, "checkpoints_unreadable"))
    assert kept.startswith("6-")


@pytest.mark.parametrize("field, value, message", [
    ("architecture", "prefix_decoder", "model.architecture: checkpoint 'causal_decoder'"),
    ("d_ff", 512, "mlp']['wi_0']['kernel']: checkpoint (2, 128, 256) vs config (2, 128, 512)"),
])
def test_checkpoint_of_a_different_model_is_refused(wiki_slice, trained_workdir, tmp_path, field,
                                                    value, message):
    workdir = str(tmp_path / "run")
    shutil.copytree(trained_workdir, workdir)
    config = tiny_run_config(wiki_slice, num_steps=8)
    config.model[field] = value
    config.data.objective = "prefix_lm" if value == "prefix_decoder" else "full_lm"
    before = open(os.path.join(workdir, "config.json")).read()
    with pytest.raises(checkpoints.CheckpointMismatchError, match=re.escape(message)):
        train.train_and_evaluate(config, workdir)
    assert open(os.path.join(workdir, "config.json")).read() == before
    assert _steps(workdir) == [2, 4, 6]


def test_checkpoint_of_another_process_count_is_refused(wiki_slice, trained_workdir, tmp_path):
    workdir = str(tmp_path / "run")
    shutil.copytree(trained_workdir, workdir)
    data = os.path.join(workdir, "checkpoints", "6", "data")
    os.rename(os.path.join(data, "process_0-of-1.json"), os.path.join(data, "process_0-of-2.json"))
    with pytest.raises(checkpoints.CheckpointMismatchError, match="another process count"):
        train.train_and_evaluate(tiny_run_config(wiki_slice, num_steps=8), workdir)
    assert _steps(workdir) == [2, 4, 6]


def test_restore_onto_other_meshes_and_device_counts(wiki_slice, trained_workdir):
    config = tiny_run_config(wiki_slice)
    _, reference = _restore(config, trained_workdir, {})
    for sizes, devices in ((dict(data=1, fsdp=4, tensor=2), None), ({}, jax.devices()[:1])):
        trainer, state = _restore(tiny_run_config(wiki_slice), trained_workdir, sizes, devices)
        assert int(state.step) == 6
        kernel = state.params["decoder"]["layers"]["mlp"]["wi_0"]["kernel"]
        assert kernel.sharding == trainer.param_shardings["decoder"]["layers"]["mlp"]["wi_0"][
            "kernel"]
        jax.tree.map(np.testing.assert_array_equal, jax.device_get(state),
                     jax.device_get(reference))


def test_params_only_restore_loads_a_causal_decoder_as_a_prefix_decoder(wiki_slice,
                                                                         trained_workdir):
    config = tiny_run_config(wiki_slice, "prefix_decoder")
    trainer = train.Trainer(config, partitioning.make_mesh(config.mesh))
    params = checkpoints.restore_params(os.path.join(trained_workdir, "checkpoints", "6"),
                                        trainer.abstract_state.params)
    _, causal = _restore(tiny_run_config(wiki_slice), trained_workdir, {})
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(params),
                 jax.device_get(causal.params))
