"""Trains, reuses and evaluates the arms of a study, and hands the study its numbers.

    runner = Runner(workdir, scales.get_scale("quick"))
    runs = runner.train_arms([arm_a, arm_b])      # {arm name: [TrainedArm per seed]}
    results = runner.evaluate(runs[arm_a.name][0])  # the evaluation module's results dict

Each arm trains with `train.train_and_evaluate` into ARMS_DIR/<arm>-<scale>-seed<n> (ARMS_DIR
defaults to WORKDIR/arms; studies given the same ARMS_DIR share their common arms). An arm
whose `timing.json` exists finished and is reused; one without it resumes from its checkpoints,
so an interrupted study picks up where it stopped. A directory holding a different config is an
error, never silently reused. Zero/few-shot results are cached next to the checkpoints.
"""

import dataclasses
import json
import time

import jax
import ml_collections
from etils import epath
from jax.experimental import multihost_utils

from t5x_style import checkpoints, run_dir, train
from t5x_style.evaluation import evaluator as evaluator_lib
from t5x_style.experiments import arms as arms_lib
from t5x_style.experiments import scales
from t5x_style.models import build_model

TIMING = "timing.json"


@dataclasses.dataclass(frozen=True)
class TrainedArm:
    arm: arms_lib.Arm
    seed: int
    workdir: str
    config: ml_collections.ConfigDict
    train_seconds: float

    def curve(self, key: str = "eval_loss") -> tuple[list[int], list[float]]:
        """(steps, values) of a metric from metrics.jsonl; a resumed run's repeats keep the last."""
        points = {}
        for line in (run_dir.path(self.workdir) / "metrics.jsonl").read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                if key in record:
                    points[record["step"]] = record[key]
        steps = sorted(points)
        return steps, [points[s] for s in steps]

    def final(self, key: str = "eval_loss") -> float:
        return self.curve(key)[1][-1]


class Runner:
    """One study's arms at one scale. `overrides` ({"data.corpus": ...}) apply to every arm."""


    def __init__(self, workdir: str, scale: scales.Scale, overrides: dict | None = None,
                 log=print, arms_dir: str = ""):
        self.workdir, self.scale = workdir, scale
        self.arms_dir = arms_dir or str(epath.Path(workdir) / "arms")
        self.overrides = dict(overrides or {})
        self.log = log
        self._tasks = None

    def config(self, arm: arms_lib.Arm, seed: int) -> ml_collections.ConfigDict:
        config = arm.config(self.scale, seed)
        if self.overrides:
            config.update_from_flattened_dict(self.overrides)
        return config

    def arm_dir(self, arm: arms_lib.Arm, seed: int) -> str:
        return str(epath.Path(self.arms_dir) / arm.run_name(self.scale, seed))

    def train(self, arm: arms_lib.Arm, seed: int) -> TrainedArm:
        config, workdir = self.config(arm, seed), self.arm_dir(arm, seed)
        _check_same_config(workdir, config)
        timing_path = run_dir.path(workdir) / TIMING
        if not timing_path.exists():
            started = time.perf_counter()
            train.train_and_evaluate(config, workdir)
            step_dir = run_dir.latest_step_directory(workdir)
            if step_dir is None or int(epath.Path(step_dir).name) < config.train.num_steps:
                raise SystemExit(f"training of {workdir} stopped early; run the same command "
                                 "again to resume it")
            if jax.process_index() == 0:
                timing_path.write_text(json.dumps(
                    {"train_seconds": time.perf_counter() - started}))
            _sync(f"timing_{timing_path}")
        seconds = json.loads(timing_path.read_text())["train_seconds"]
        return TrainedArm(arm, seed, workdir, config, seconds)

    def train_arms(self, arms: list[arms_lib.Arm]) -> dict[str, list[TrainedArm]]:
        """Every arm at every seed of the scale, with a progress line per run."""
        runs = [(arm, seed) for arm in arms for seed in self.scale.seeds]
        out: dict[str, list[TrainedArm]] = {}
        for i, (arm, seed) in enumerate(runs, 1):
            reused = (run_dir.path(self.arm_dir(arm, seed)) / TIMING).exists()
            self.log(f"[{i}/{len(runs)}] {arm.run_name(self.scale, seed)}: "
                     + ("finished before, reused" if reused else
                        f"training {self.scale.num_steps} steps"))
            trained = self.train(arm, seed)
            self.log(f"[{i}/{len(runs)}] held-out loss {trained.final():.4f} "
                     f"({trained.train_seconds:.0f} s of training)")
            out.setdefault(arm.name, []).append(trained)
        return out

    def train_and_evaluate_arms(self, arms: list[arms_lib.Arm]) -> tuple[dict, dict]:
        """({arm: [TrainedArm per seed]}, {arm: [zero/few-shot results per seed]})."""
        runs = self.train_arms(arms)
        return runs, {name: [self.evaluate(t) for t in seeds] for name, seeds in runs.items()}

    def params(self, trained: TrainedArm):
        """The trained parameters of an arm (its last checkpoint, parameters only)."""
        model = build_model(trained.config)
        abstract = jax.eval_shape(model.init_params, jax.random.key(0))
        step_dir = run_dir.latest_step_directory(trained.workdir)
        return checkpoints.restore_params(step_dir, abstract)

    def evaluate(self, trained: TrainedArm) -> dict:
        """Zero/few-shot results of an arm (the evaluation module's dict, JSON keys), cached."""
        path = run_dir.path(trained.workdir) / "results.json"
        if not path.exists():
            config = trained.config
            if self._tasks is None:
                self._tasks = evaluator_lib.load_tasks(config.eval, data_dir=config.data.data_dir)
            self.log(f"evaluating {epath.Path(trained.workdir).name} on {len(self._tasks)} "
                     f"tasks x shots {list(config.eval.shots)}")
            evaluator_lib.evaluate(build_model(config), self.params(trained), config,
                                   tasks=self._tasks, workdir=trained.workdir)
            _sync(f"results_{path}")  # process 0 wrote results.json
        return json.loads(path.read_text())


def _sync(name: str) -> None:
    """Waits for every process (multi-host runs), e.g. until process 0 has written a file."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def _check_same_config(workdir: str, config: ml_collections.ConfigDict) -> None:
    path = run_dir.path(workdir) / run_dir.CONFIG_FILE
    if path.exists():
        if json.loads(path.read_text()) != json.loads(config.to_json()):
            raise ValueError(f"{workdir} holds a run of a different config (another scale, "
                             "corpus or code version); use a new --workdir or delete it")
