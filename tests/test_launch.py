"""launch/: dry-run commands for a pod and a single host, bad input stopped before gcloud runs,
and shellcheck on every script.

A fake gcloud (env GCLOUD) records its arguments, so a test can tell that a rejected input made
no gcloud call at all, and that a real (non-dry) run sends what the dry run prints.
"""

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(REPO, "launch")
SCRIPTS = sorted(n for n in os.listdir(LAUNCH) if n.endswith(".sh"))
POD = ["--name=t5x-pod", "--zone=us-central2-b"]


@pytest.fixture
def fake_gcloud(tmp_path):
    """(path of a gcloud stand-in, file its calls go to); `describe` answers ACTIVE."""
    calls = tmp_path / "calls"
    path = tmp_path / "gcloud"
    path.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\n'
                    '[[ "$*" == *describe* ]] && echo ACTIVE\nexit 0\n')
    path.chmod(0o755)
    return str(path), calls


def launch(script, *args, gcloud="gcloud"):
    env = dict(os.environ, GCLOUD=gcloud, TMPDIR="/tmp")
    return subprocess.run(["bash", os.path.join(LAUNCH, script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def commands(result):
    """The commands a run printed ('+ ...' lines), without the '+ '."""
    assert result.returncode == 0, result.stderr
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def test_pod_lifecycle_dry_run():
    created = commands(launch("tpu_create.sh", *POD, "--type=v4-32", "--queued", "--spot",
                              "--dry-run"))
    assert created[0] == ("gcloud compute tpus queued-resources create t5x-pod --zone=us-central2-b "
                          "--node-id=t5x-pod --accelerator-type=v4-32 "
                          "--runtime-version=tpu-ubuntu2204-base --spot")
    assert "queued-resources describe t5x-pod" in created[1]

    setup = commands(launch("tpu_setup.sh", *POD, "--dry-run"))
    assert setup[0].startswith(f"git -C {REPO} archive")
    assert "tpu-vm scp /tmp/t5x_style-src.tar.gz t5x-pod:t5x_style-src.tar.gz" in setup[1]
    assert "--worker=all" in setup[1] and "--worker=all" in setup[2]
    assert "uv venv --quiet --python=3.12" in setup[2] and "jax[tpu]>=0.12,<0.13" in setup[2]

    result = launch("tpu_run.sh", *POD, "--type=v4-32", "--workdir=gs://bucket/cd-xl",
                    "--config=configs/causal_decoder.py:xl", "--dry-run", "--",
                    "--config.train.num_steps=20000")
    (run,) = commands(result)
    assert "4 host(s)" in result.stdout
    assert run.startswith("gcloud compute tpus tpu-vm ssh t5x-pod --zone=us-central2-b "
                          "--worker=all '--command=cd $HOME/t5x_style/src")
    assert ("venv/bin/python -m t5x_style.train --config=configs/causal_decoder.py:xl "
            "--workdir=gs://bucket/cd-xl --config.mesh.distributed=True "
            "--config.train.num_steps=20000 > $HOME/t5x_style/run.log") in run

    (experiment,) = commands(launch("tpu_run.sh", *POD, "--type=v4-32", "--workdir=gs://b/study",
                                    "--experiment=arch_objective", "--dry-run"))
    assert "runpy" not in experiment
    assert "venv/bin/python -m t5x_style.experiments --name=arch_objective --scale=tpu " \
        "--workdir=gs://b/study --distributed" in experiment

    assert commands(launch("tpu_logs.sh", *POD, "--dry-run")) == [
        "gcloud compute tpus tpu-vm ssh t5x-pod --zone=us-central2-b --worker=0 "
        "'--command=tail -n +1 -F $HOME/t5x_style/run.log'"]
    (stop,) = commands(launch("tpu_run.sh", *POD, "--stop", "--dry-run"))
    assert "--worker=all" in stop and "kill -TERM" in stop
    assert commands(launch("tpu_delete.sh", *POD, "--queued", "--dry-run")) == [
        "gcloud compute tpus queued-resources delete t5x-pod --zone=us-central2-b --force --quiet"]


def test_single_host_dry_run():
    (created,) = commands(launch("tpu_create.sh", "--name=one", "--zone=europe-west4-a",
                                 "--type=v6e-8", "--project=p1", "--dry-run"))
    assert created == ("gcloud compute tpus tpu-vm create one --zone=europe-west4-a --project=p1 "
                       "--accelerator-type=v6e-8 --version=v2-alpha-tpuv6e")
    result = launch("tpu_run.sh", "--name=one", "--zone=europe-west4-a", "--type=v6e-8",
                    "--workdir=/home/me/run", "--config=configs/prefix_decoder.py:base",
                    "--dry-run")
    (run,) = commands(result)
    assert "1 host(s)" in result.stdout
    assert "-m t5x_style.train --config=configs/prefix_decoder.py:base --workdir=/home/me/run " \
           "> $HOME" in run  # a local workdir is fine, and no jax.distributed on one host
    (experiment,) = commands(launch("tpu_run.sh", "--name=one", "--zone=europe-west4-a",
                                    "--type=v6e-8", "--workdir=/w", "--experiment=nope",
                                    "--scale=quick", "--dry-run"))
    assert "venv/bin/python -m t5x_style.experiments --name=nope --scale=quick --workdir=/w" \
        in experiment


def test_gpu_dry_run(tmp_path):
    venv = str(tmp_path / "venv")
    assert commands(launch("gpu_run.sh", "--setup", f"--venv={venv}", "--jax-extra=cuda13",
                           "--dry-run")) == [
        f"python3.12 -m venv {venv}",
        f"{venv}/bin/python -m pip install --quiet -e {REPO} 'jax[cuda13]>=0.12,<0.13'"]
    assert commands(launch("gpu_run.sh", "--workdir=/tmp/g", f"--venv={venv}",
                           "--config=configs/encoder_decoder.py:base", "--dry-run", "--",
                           "--config.model.dtype=bfloat16")) == [
        f"{venv}/bin/python -m t5x_style.train --config=configs/encoder_decoder.py:base "
        "--workdir=/tmp/g --config.model.dtype=bfloat16"]


def test_real_run_sends_what_dry_run_prints(fake_gcloud):
    gcloud, calls = fake_gcloud
    args = [*POD, "--type=v5litepod-16", "--workdir=gs://b/run",
            "--config=configs/causal_decoder.py:large"]
    (printed,) = commands(launch("tpu_run.sh", *args, "--dry-run"))
    assert commands(launch("tpu_run.sh", *args, gcloud=gcloud)) == [
        gcloud + printed.removeprefix("gcloud")]
    sent = calls.read_text()
    assert sent.startswith("compute tpus tpu-vm ssh t5x-pod --zone=us-central2-b --worker=all ")
    assert "--config.mesh.distributed=True" in sent
    # A queued resource is polled until ACTIVE (the fake answers ACTIVE at once).
    assert launch("tpu_create.sh", *POD, "--type=v5p-16", "--queued", gcloud=gcloud).returncode == 0
    assert "queued-resources describe t5x-pod" in calls.read_text()


BAD_INPUT = [
    ("tpu_create.sh", [*POD, "--type=v4-12"], "unknown TPU type 'v4-12'; allowed: v4-8 v4-16"),
    ("tpu_create.sh", [*POD, "--type=tpu-v4"], "unknown TPU type 'tpu-v4'"),
    ("tpu_create.sh", ["--name=x", "--zone=us-central2", "--type=v4-8"],
     "zone 'us-central2' is a region; add the zone letter"),
    ("tpu_create.sh", ["--name=x", "--zone=US_CENTRAL2_B", "--type=v4-8"],
     "zone 'US_CENTRAL2_B' is not a zone name like us-central2-b"),
    ("tpu_create.sh", ["--name=My_TPU", "--zone=us-central2-b", "--type=v4-8"],
     "--name='My_TPU' must be lower-case"),
    ("tpu_create.sh", [*POD], "--type is required"),
    ("tpu_create.sh", [*POD, "--type=v4-8", "--typo=1"], "unknown flag '--typo'; allowed:"),
    ("tpu_run.sh", [*POD, "--type=v4-32", "--workdir=/tmp/run",
                    "--config=configs/causal_decoder.py"],
     "--workdir='/tmp/run' is not a GCS path, but this slice has 4 hosts"),
    ("tpu_run.sh", [*POD, "--type=v5litepod-16", "--workdir=runs/x", "--experiment=nope"],
     "--workdir='runs/x' is not a GCS path, but this slice has 4 hosts"),
    ("tpu_run.sh", [*POD, "--type=v5e-8", "--workdir=gs://b/r",
                    "--config=configs/causal_decoder.py"], "unknown TPU type 'v5e-8'; allowed:"),
    ("tpu_run.sh", [*POD, "--type=v4-8", "--workdir=/tmp/run", "--config=configs/nope.py"],
     "no file configs/nope.py in this checkout"),
    ("tpu_run.sh", [*POD, "--type=v4-8", "--workdir=/tmp/run"], "give exactly one of --config"),
    ("tpu_logs.sh", [*POD, "--worker=first"], "--worker='first' must be a worker index"),
    ("gpu_run.sh", ["--workdir=/tmp/g", "--config=configs/causal_decoder.py", "--jax-extra=rocm"],
     "--jax-extra='rocm' is not allowed; allowed: cuda12, cuda13"),
]


@pytest.mark.parametrize("script,args,message", BAD_INPUT, ids=[m[:40] for *_, m in BAD_INPUT])
def test_bad_input_stops_before_gcloud(fake_gcloud, script, args, message):
    gcloud, calls = fake_gcloud
    result = launch(script, *args, gcloud=gcloud)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not calls.exists(), "gcloud was called despite bad input"


# Well-formed arguments for each TPU script.
TPU_ARGS = {
    "tpu_create.sh": [*POD, "--type=v4-8"],
    "tpu_setup.sh": POD,
    "tpu_run.sh": [*POD, "--type=v4-32", "--workdir=gs://b/run",
                   "--config=configs/causal_decoder.py"],
    "tpu_logs.sh": POD,
    "tpu_delete.sh": POD,
}


@pytest.mark.parametrize("script", TPU_ARGS)
def test_every_tpu_script_checks_the_zone_and_gcloud_first(fake_gcloud, script):
    gcloud, calls = fake_gcloud
    region = [a.replace("--zone=us-central2-b", "--zone=us-central2") for a in TPU_ARGS[script]]
    result = launch(script, *region, gcloud=gcloud)
    assert result.returncode == 2 and "zone 'us-central2' is a region" in result.stderr
    assert not calls.exists() and result.stdout == ""
    result = launch(script, *TPU_ARGS[script], gcloud="/nonexistent/gcloud")
    assert result.returncode == 2
    assert "'/nonexistent/gcloud' not found on PATH. Install the Google Cloud CLI" in result.stderr
    assert result.stdout == ""  # nothing was run (tpu_setup.sh: not even git archive)


def test_help_is_the_header_comment():
    result = launch("tpu_run.sh", "--help")
    assert result.returncode == 0 and result.stdout.startswith("Starts a training run")


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)")
@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    result = subprocess.run(["shellcheck", "-x", "-P", "SCRIPTDIR", script], cwd=LAUNCH,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
