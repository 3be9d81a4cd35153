"""Where training numbers go (TensorBoard, metrics.jsonl, a console line) and how speed is measured.

Speed per logging window: tokens/s (all token positions of the batch, encoder and decoder),
tokens/s/device, TFLOP/s/device from `flops.py`, and MFU = achieved FLOP/s per device / peak FLOP/s
per device. Peaks are datasheet dense bf16 figures for accelerators; on CPU there is no honest
datasheet number, so the peak is a matmul rate measured at start-up in the compute dtype and cached
per machine (the devices of one host share its cores, so each gets its share).
"""

import json
import os
import platform
import tempfile
import time
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from t5x_style import run_dir

# Dense bf16 FLOP/s per device (per chip; per GPU) from the vendors' datasheets, matched against
# `device.device_kind` by substring, first match wins (so "v5 lite" is tried before "v5").
PEAK_BF16_FLOPS = (
    ("TPU v4", 275e12),
    ("TPU v5 lite", 197e12),  # v5e
    ("TPU v5", 459e12),  # v5p
    ("TPU v6 lite", 918e12),  # v6e (Trillium)
    ("A100", 312e12),
    ("H100", 989e12),  # SXM
    ("H200", 989e12),
)

_CPU_MATMUL_SIZE = 2048  # big enough to reach the BLAS plateau, ~60 ms per product in float32
_CPU_PEAK_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                               "t5x_style", "cpu_matmul_peak.json")


def measure_matmul_flops(dtype: str, size: int = _CPU_MATMUL_SIZE, repeats: int = 5) -> float:
    """FLOP/s of a jitted square matmul on the first local device (best of `repeats`)."""
    device = jax.local_devices()[0]
    a = jax.device_put(jnp.ones((size, size), dtype), device)
    matmul = jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=jnp.float32))
    matmul(a, a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _cpu_peak_flops(dtype: str, remeasure: bool = False) -> float:
    """The measured matmul rate of this host, cached by CPU, core count, JAX version and dtype.

    A measurement taken while other jobs share the cores comes out low (and MFU high), so the
    cache keeps the best rate seen; `remeasure` (bench --remeasure_peak) tries again.
    """
    key = f"{platform.processor() or platform.machine()}|{os.cpu_count()}|{jax.__version__}|{dtype}"
    try:
        with open(_CPU_PEAK_CACHE) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    if key not in cache or remeasure:
        cache[key] = max(cache.get(key, 0.0), measure_matmul_flops(dtype))
        os.makedirs(os.path.dirname(_CPU_PEAK_CACHE), exist_ok=True)
        with open(_CPU_PEAK_CACHE, "w") as f:
            json.dump(cache, f, indent=1)
    return cache[key]


def peak_flops_per_device(dtype: str = "float32", remeasure: bool = False) -> tuple[float, str]:
    """(peak FLOP/s of one device, where the number comes from)."""
    device = jax.local_devices()[0]
    if device.platform == "cpu":
        peak = _cpu_peak_flops(dtype, remeasure) / jax.local_device_count()
        return peak, (f"measured {dtype} matmul rate of this host / "
                      f"{jax.local_device_count()} devices")
    for name, peak in PEAK_BF16_FLOPS:
        if name.lower() in device.device_kind.lower():
            return peak, f"datasheet bf16 peak of {device.device_kind}"
    raise ValueError(f"no peak FLOP/s known for device kind {device.device_kind!r}; known: "
                     f"{[name for name, _ in PEAK_BF16_FLOPS]}")


class Throughput:
    """Speed over the steps since the last `window()` call."""

    def __init__(self, tokens_per_step: int, flops_per_step: float, peak_flops_per_device: float):
        self.tokens_per_step = tokens_per_step
        self.flops_per_step = flops_per_step
        self.peak = peak_flops_per_device
        self.num_devices = jax.device_count()
        self.reset()

    def reset(self) -> None:
        """Starts a new window now (call after compilation and after pauses such as evaluation)."""
        self._start = time.perf_counter()
        self._steps = 0

    def step(self) -> None:
        self._steps += 1

    def window(self) -> dict[str, float]:
        """The window's speed metrics (none if no step was timed); starts the next window."""
        seconds = time.perf_counter() - self._start
        steps = self._steps
        if not steps:
            return {}
        flops_per_device = self.flops_per_step * steps / seconds / self.num_devices
        result = {
            "seconds_per_step": seconds / steps,
            "tokens_per_second": self.tokens_per_step * steps / seconds,
            "tokens_per_second_per_device":
                self.tokens_per_step * steps / seconds / self.num_devices,
            "tflops_per_second_per_device": flops_per_device / 1e12,
            "mfu": flops_per_device / self.peak,
        }
        self.reset()
        return result


_PROC_STAT = "/proc/stat"


def _machine_busy_seconds() -> float:
    """CPU-seconds all processes of this machine spent busy since boot (nan without /proc/stat).

    /proc/stat's first line: cpu user nice system idle iowait irq softirq steal guest guest_nice,
    in clock ticks; guest time is already inside user, and idle and iowait are not busy.
    """
    try:
        with open(_PROC_STAT) as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _, _, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class OutsideLoad:
    """How many cores OTHER processes kept busy since construction: their CPU-seconds (the
    machine's busy time minus this process's, every thread included) per wall second.

    On a shared machine a timing means little without it: 1.0 on a 2-core box means another job
    took half the machine. nan where /proc/stat is absent (macOS, Windows).
    """

    def __init__(self):
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        return time.perf_counter(), _machine_busy_seconds(), _own_cpu_seconds()

    def cores(self) -> float:
        wall, busy, own = (end - start for start, end in zip(self._start, self._sample()))
        # Both counters tick at 10 ms, so an idle machine can come out a hair below 0 (clipped;
        # max keeps its first argument when that is nan).
        return max(busy - own, 0.0) / wall


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


def console_line(step: int, num_steps: int, scalars: Mapping[str, float]) -> str:
    """`step 120/300 | loss 4.213 | 9,812 tok/s | MFU 21.3% | ETA 0m41s` (fields that exist)."""
    parts = [f"step {step}/{num_steps}"]
    for key, fmt in (("loss", "loss {:.4f}"), ("eval_loss", "eval_loss {:.4f}"),
                     ("tokens_per_second", "{:,.0f} tok/s"), ("mfu", "MFU {:.1%}")):
        if key in scalars:
            parts.append(fmt.format(scalars[key]))
    if "seconds_per_step" in scalars:
        parts.append("ETA " + _duration(scalars["seconds_per_step"] * (num_steps - step)))
    return " | ".join(parts)


def tensorboard_dir(workdir: str) -> str:
    """Where TensorBoard event files for `workdir` go: WORKDIR/tensorboard for a local workdir.

    tensorboardX's SummaryWriter cannot write `gs://...` without extra packages (and a remote
    workdir has no local directory), so for a remote workdir the events go to a local temporary
    directory, `$TMPDIR/t5x_style_tensorboard/<workdir with '://' and '/' as '_'>`, on the
    machine of process 0; metrics.jsonl (in the workdir itself) holds the same scalars.
    """
    if not run_dir.is_remote(workdir):
        return os.path.join(workdir, "tensorboard")
    name = str(workdir).replace("://", "_").strip("/").replace("/", "_")
    return os.path.join(tempfile.gettempdir(), "t5x_style_tensorboard", name)


def _lines_up_to(path, step: int | None) -> str:
    """The lines of metrics file `path` (if any) with steps <= `step` (all if None); a line cut
    short by a kill is dropped."""
    if not path.exists():
        return ""
    text = path.read_text()
    if step is None:
        return text
    kept = []
    for line in text.splitlines():
        try:
            logged = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            continue
        if logged <= step:
            kept.append(line + "\n")
    return "".join(kept)


class MetricWriter:
    """Writes scalars to TensorBoard, `metrics.jsonl` and the console (on process 0 only).

    `metrics.jsonl` goes through `etils.epath`, so the workdir may be `gs://...`; TensorBoard
    events stay local (see `tensorboard_dir`). Object stores have no append (gcsfs silently
    overwrites with mode "a", and an object appears only when closed), so for a remote workdir
    the writer keeps the file's lines and rewrites the whole object at each write; a local
    metrics.jsonl is appended to and flushed, as before.

    A run that starts from step `start_step` (its checkpoint; 0 for a fresh start) logs the steps
    after it again, so the lines of later steps (written by a run that was killed) are dropped
    first, and TensorBoard hides its events of those steps (`purge_step`): every step is logged
    once, with the latest run's values. With `start_step=None` existing lines are all kept.
    """

    def __init__(self, workdir: str, num_steps: int, start_step: int | None = None):
        self.num_steps = num_steps
        self.active = jax.process_index() == 0
        if self.active:
            from tensorboardX import SummaryWriter  # imported here: other processes never need it
            self._tensorboard = SummaryWriter(
                tensorboard_dir(workdir), purge_step=None if start_step is None else start_step + 1)
            self._path = run_dir.path(workdir) / "metrics.jsonl"
            if run_dir.is_remote(workdir):
                self._jsonl = None
                self._lines = _lines_up_to(self._path, start_step)
            else:
                if start_step is not None and self._path.exists():
                    # To a temporary file, then renamed: a kill now leaves the old or the new file.
                    partial = self._path.with_name(self._path.name + ".tmp")
                    partial.write_text(_lines_up_to(self._path, start_step))
                    partial.replace(self._path)
                self._jsonl = self._path.open("a")

    def write(self, step: int, scalars: Mapping[str, float], console: bool = True) -> None:
        if not self.active:
            return
        scalars = {k: float(np.asarray(v)) for k, v in scalars.items()}
        for name, value in scalars.items():
            self._tensorboard.add_scalar(name, value, step)
        line = json.dumps({"step": step, **scalars}) + "\n"
        if self._jsonl is None:
            self._lines += line
            self._path.write_text(self._lines)
        else:
            self._jsonl.write(line)
            self._jsonl.flush()
        if console:
            print(console_line(step, self.num_steps, scalars), flush=True)

    def close(self) -> None:
        if self.active:
            self._tensorboard.close()
            if self._jsonl is not None:
                self._jsonl.close()
