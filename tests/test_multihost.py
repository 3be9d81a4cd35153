"""Two CPU processes with 4 devices each (jax.distributed on localhost) reach the same losses as
one process with 8 devices: each process feeds only its own rows of the global batch, over a
two-slice (DCN x ICI) mesh with FSDP."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from train_fixtures import REPO, synthetic_batch

STEPS = 3


def losses(process_id: int = 0, num_processes: int = 1, port: int = 0) -> list[float]:
    """The first STEPS losses of one process of the run (process 0 of 1: all 8 devices here)."""
    from t5x_style import config as config_lib
    from t5x_style import partitioning, train

    config = config_lib.default_config()
    config.mesh.update(data=-1, fsdp=2)
    if num_processes > 1:
        # One slice per process: batch rows split first over the slices (DCN), then within.
        config.mesh.update(dcn_data=num_processes, coordinator_address=f"localhost:{port}",
                           num_processes=num_processes, process_id=process_id)
    partitioning.initialize_distributed(config.mesh)
    mesh = partitioning.make_mesh(config.mesh)
    trainer = train.Trainer(config, mesh)
    state = trainer.init_state()
    rows = synthetic_batch().items()
    per_process = 8 // num_processes
    local = {k: v[process_id * per_process:(process_id + 1) * per_process] for k, v in rows}
    result = []
    for _ in range(STEPS):
        state, metrics = trainer.train_step(state, partitioning.global_batch(mesh, local))
        result.append(float(metrics["loss"]))
    return result


def worker(process_id: int, num_processes: int, port: int, out: str) -> None:
    """Entry point of a subprocess (XLA_FLAGS already set): process 0 writes the losses."""
    result = losses(process_id, num_processes, port)
    if process_id == 0:
        with open(out, "w") as f:
            json.dump(result, f)


def _start(process_id, num_processes, port, out):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="true",
               PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests")]))
    code = ("import test_multihost; "
            f"test_multihost.worker({process_id}, {num_processes}, {port}, {out!r})")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process(tmp_path):
    port, out = _free_port(), str(tmp_path / "two.json")
    processes = [_start(i, 2, port, out) for i in range(2)]
    one_process = losses()  # this pytest process has the 8 devices of conftest
    for process in processes:
        output = process.communicate(timeout=240)[0]
        assert process.returncode == 0, output[-3000:]
    np.testing.assert_allclose(json.load(open(out)), one_process, rtol=2e-5)
