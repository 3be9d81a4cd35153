"""Writers, the console line, throughput arithmetic and the CPU peak cache."""

import json
import math
import os

import pytest

from t5x_style import metrics


def test_writer_appends_jsonl_and_tensorboard(tmp_path, capsys):
    writer = metrics.MetricWriter(str(tmp_path), num_steps=100)
    writer.write(10, {"loss": 5.0, "tokens_per_second": 1234.0, "seconds_per_step": 0.5})
    writer.write(20, {"loss": 4.0})
    writer.close()
    lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
    assert lines == [
        {"step": 10, "loss": 5.0, "tokens_per_second": 1234.0, "seconds_per_step": 0.5},
        {"step": 20, "loss": 4.0}]
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))
    out = capsys.readouterr().out
    assert "step 10/100 | loss 5.0000 | 1,234 tok/s | ETA 0m45s" in out


def test_throughput_window():
    meter = metrics.Throughput(tokens_per_step=1000, flops_per_step=1e9, peak_flops_per_device=1e12)
    meter._start -= 2.0  # pretend two seconds passed
    meter.step(), meter.step()
    window = meter.window()
    assert window["tokens_per_second"] == pytest.approx(1000, rel=0.01)
    assert window["mfu"] == pytest.approx(1e9 / 8 / 1e12, rel=0.01)  # 8 fake devices


def test_cpu_peak_is_cached_keeping_the_best_measurement(tmp_path, monkeypatch):
    cache = tmp_path / "peak.json"
    monkeypatch.setattr(metrics, "_CPU_PEAK_CACHE", str(cache))
    rates = [8e11, 4e11, 16e11]  # the second measurement was taken on a busy machine
    monkeypatch.setattr(metrics, "measure_matmul_flops", lambda dtype: rates.pop(0))
    first, source = metrics.peak_flops_per_device("float32")
    assert metrics.peak_flops_per_device("float32")[0] == first == pytest.approx(1e11)
    assert "measured float32" in source and cache.exists() and len(rates) == 2
    assert metrics.peak_flops_per_device("float32", remeasure=True)[0] == pytest.approx(1e11)
    assert metrics.peak_flops_per_device("float32", remeasure=True)[0] == pytest.approx(2e11)


def test_matmul_rate_is_positive():
    assert metrics.measure_matmul_flops("float32", size=128, repeats=2) > 0


def test_outside_load_is_the_busy_time_of_other_processes(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1000 50 200 9000 30 7 3 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    monkeypatch.setattr(metrics, "_PROC_STAT", str(stat))
    assert metrics._machine_busy_seconds() == pytest.approx(1270 / os.sysconf("SC_CLK_TCK"))
    # (wall, machine busy, own) seconds: 4 s in which the machine was busy 7 s, 3 of them ours.
    samples = iter([(10.0, 100.0, 5.0), (14.0, 107.0, 8.0)])
    monkeypatch.setattr(metrics.OutsideLoad, "_sample", staticmethod(lambda: next(samples)))
    assert metrics.OutsideLoad().cores() == pytest.approx(1.0)


def test_outside_load_is_nan_without_proc_stat(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "_PROC_STAT", str(tmp_path / "absent"))
    assert math.isnan(metrics.OutsideLoad().cores())


def test_resumed_writer_drops_the_lines_after_its_checkpoint(tmp_path):
    # A killed run logged steps 1-5 (the last line cut short); its checkpoint is step 2.
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 10.0 - s}) + "\n" for s in range(1, 5))
        + '{"step": 5, "lo')
    writer = metrics.MetricWriter(str(tmp_path), num_steps=4, start_step=2)
    writer.write(3, {"loss": 0.5})
    writer.close()
    lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
    assert lines == [{"step": 1, "loss": 9.0}, {"step": 2, "loss": 8.0}, {"step": 3, "loss": 0.5}]
    assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl", "tensorboard"]
