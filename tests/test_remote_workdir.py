"""Workdir files go through etils.epath: run against an in-memory `gs://` filesystem (offline).

etils.epath serves `gs://` with fsspec's "gcs" filesystem (gcsfs, not installed here); the fixture
swaps in an fsspec MemoryFileSystem that names paths as gcsfs does ('bucket/key'). A file written
with `open`/`os` instead would land in a local `./gs:/...` directory, which the tests forbid.
"""

import json
import tempfile

import ml_collections
import pytest
from etils import epath
from etils.epath import backend as epath_backend
from fsspec.implementations.memory import MemoryFileSystem

from t5x_style import checkpoints, metrics, run_dir
from t5x_style.experiments import report as experiments_report
from t5x_style.experiments import runner


class FakeGCS(MemoryFileSystem):
    protocol = ("gs", "gcs")
    root_marker = ""

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for prefix in ("gs://", "gcs://"):
            if path.startswith(prefix):
                path = path[len(prefix):]
        return path.rstrip("/")


@pytest.fixture
def fake_gcs(tmp_path, monkeypatch):
    fs = FakeGCS(skip_instance_cache=True)
    fs.store, fs.pseudo_dirs = {}, [""]  # the class-level ones are shared by every instance
    monkeypatch.setattr(epath_backend.fsspec_backend, "_get_filesystem", lambda name: fs)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    yield fs
    assert not (tmp_path / "gs:").exists(), "a gs:// path was written through the local disk"


def test_run_dir_path_keeps_uris_and_makes_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(run_dir.path("gs://b/run")) == "gs://b/run"
    assert run_dir.path("run") == epath.Path(tmp_path / "run")
    assert run_dir.is_remote("gs://b/run") and not run_dir.is_remote("/tmp/run")


def test_metrics_jsonl_on_remote_workdir(fake_gcs, tmp_path):
    writer = metrics.MetricWriter("gs://b/run", num_steps=10)
    writer.write(1, {"loss": 2.0}, console=False)
    writer.write(2, {"loss": 1.5, "eval_loss": 1.7}, console=False)
    writer.close()
    resumed = metrics.MetricWriter("gs://b/run", num_steps=10)  # a resumed run appends
    resumed.write(3, {"loss": 1.0, "eval_loss": 1.2}, console=False)
    resumed.close()
    lines = fake_gcs.cat("b/run/metrics.jsonl").decode().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    trained = runner.TrainedArm(None, 0, "gs://b/run", ml_collections.ConfigDict(), 0.0)
    assert trained.curve() == ([2, 3], [1.7, 1.2])
    # TensorBoard stays local: under the temp dir, not under the workdir
    assert (tmp_path / "tmp" / "t5x_style_tensorboard" / "gs_b_run").is_dir()


def test_experiment_report_and_config_check_on_remote_workdir(fake_gcs):
    report = experiments_report.Report("study", "gs://b/study", "summary")
    report.section("Loss", report.plot("loss.png", "loss", "step", "loss",
                                       {"a": ([1, 2], [3.0, 2.0])}))
    report.results["x"] = 1.0
    assert report.write() == "gs://b/study/report.md"
    assert fake_gcs.cat("b/study/loss.png").startswith(b"\x89PNG")
    assert "![loss](loss.png)" in fake_gcs.cat("b/study/report.md").decode()
    assert json.loads(fake_gcs.cat("b/study/results.json")) == {"study": "study", "x": 1.0}

    config = ml_collections.ConfigDict({"a": 1})
    (epath.Path("gs://b/arm") / run_dir.CONFIG_FILE).write_text(config.to_json())
    runner._check_same_config("gs://b/arm", config)
    assert run_dir.read_config("gs://b/arm") == config
    with pytest.raises(ValueError, match="different config"):
        runner._check_same_config("gs://b/arm", ml_collections.ConfigDict({"a": 2}))


def test_unreadable_checkpoint_moved_aside_on_remote_workdir(fake_gcs):
    step = epath.Path("gs://b/run/checkpoints/7")
    (step / "state").mkdir(parents=True)
    (step / "state" / "array").write_bytes(b"\0\1")
    (step / "data" / "process_0-of-1.json").parent.mkdir(parents=True)
    (step / "data" / "process_0-of-1.json").write_text("{}")
    target = epath.Path("gs://b/run/checkpoints_unreadable/7-1")
    checkpoints._move_tree(step, target)
    assert not step.exists()
    assert sorted(k for k in fake_gcs.store) == ["b/run/checkpoints_unreadable/7-1/data/process_0-of-1.json",
                                                 "b/run/checkpoints_unreadable/7-1/state/array"]
    assert run_dir.latest_step_directory("gs://b/run") is None
