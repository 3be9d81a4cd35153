"""BIG-bench JSON tasks, fetched offline-once from the `bigbench==1.0.0` sdist and formatted as
BIG-bench's own `json_task.default_format_fn` formats them.

Fetching: `pip download --no-deps bigbench==1.0.0` (358 MB; pip 26.3+ refuses the sdist, so the
fetch runs a pinned pip 26.2.1 from its wheel), sha256-checked, then only the task.json files of the default suites and
of the asked task are kept, under `<cache>/bigbench/<task>[/<subtask>]/task.json`
(`<cache>` = $T5X_STYLE_CACHE or ~/.cache/t5x_style); the sdist is deleted. About 50 s, once.
Every task.json carries BIG-bench's canary string: keep these files out of training data.

Formatting, per example (BIG-bench defaults in brackets):
    query = example_input_prefix ["\\nQ: "] + input
            [+ choice_prefix ["\\n  choice: "] + choice_prefix.join(permuted choices)
               when append_choices_to_input [True]; permutation: RandomState(42) of the sorted
               choices, as BIG-bench]
            + example_output_prefix ["\\nA: "]
    choices = the keys of target_scores; gold = those with the highest score.
The task's `task_prefix` is prepended once to the whole prompt; demonstrations are separated by
the task's `few_shot_example_separator` ["\\n"]; a choice follows the output prefix directly
(target_delimiter ""; the prefix's trailing space moves into the continuation when scoring).
A task with subtasks (a task.json without examples, and <subtask>/task.json files) becomes one
Task per subtask, named `task:subtask`, grouped under `task` (the report averages them).
Skipped and counted: duplicate examples (BIG-bench drops them too), examples without
target_scores, examples whose choices all score the same (no correct choice).
"""

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

from t5x_style.data import corpora
from t5x_style.evaluation import tasks as tasks_lib

REQUIREMENT = "bigbench==1.0.0"
SDIST = "bigbench-1.0.0.tar.gz"
SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
_MEMBER = re.compile(r"^bigbench-1\.0\.0/bigbench/benchmark_tasks/([^/]+)/(?:([^/]+)/)?task\.json$")
FORMAT_SEED = 42  # BIG-bench JsonTask's default random_seed: the order of appended choices

# The BIG-bench tasks of the T0 paper's evaluation (Sanh et al. 2021, Fig. 5), all multiple choice.
T0_SUITE = ("code_line_description", "conceptual_combinations", "hindu_knowledge",
            "known_unknowns", "language_identification", "logic_grid_puzzle", "logical_deduction",
            "misconceptions", "movie_dialog_same_or_different", "novel_concepts", "strategyqa",
            "formal_fallacies_syllogisms_negation", "vitaminc_fact_verification", "winowhy")
# Analogues of T0's held-out datasets (COPA, SIQA, HellaSwag, dialogue cloze) and a syntax task
# small models can beat chance on.
EXTRA_SUITE = ("cause_and_effect", "winowhy", "social_iqa", "goal_step_wikihow", "timedial",
               "hyperbaton")
SUITES = {"t0": T0_SUITE, "extra": EXTRA_SUITE}
MANIFEST = "manifest.json"


def cache_root() -> pathlib.Path:
    return corpora.cache_dir() / "bigbench"


def _manifest() -> dict:
    path = cache_root() / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


# pip 26.3 and later refuse the bigbench sdist (it declares a direct URL dependency), so the
# fetch runs a pinned older pip, itself fetched by name and run from its wheel, whatever pip the
# user has.
FETCH_PIP = "pip==26.2.1"


def _pip_download(pip: list[str], requirement: str, directory: str) -> None:
    command = [*pip, "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", directory,
               requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise tasks_lib.TaskError(
            f"could not fetch {requirement} with pip (exit {result.returncode}); it needs a "
            f"package registry. pip said:\n{result.stderr.strip()[-2000:]}")


def _download(directory: str) -> pathlib.Path:
    _pip_download([sys.executable, "-m", "pip"], FETCH_PIP, directory)
    wheel = next(pathlib.Path(directory).glob("pip-*.whl"))
    _pip_download([sys.executable, str(wheel / "pip")], REQUIREMENT, directory)  # Run from the wheel.
    path = pathlib.Path(directory) / SDIST
    if not path.exists():
        raise tasks_lib.TaskError(f"pip did not leave {SDIST} in {directory}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise tasks_lib.TaskError(f"sha256 of {SDIST} is {digest}, expected {SHA256}; the pin must "
                                  "be reviewed, not bypassed")
    return path


def fetch(names) -> pathlib.Path:
    """Makes sure the task.json files of `names` (and of the default suites) are cached."""
    root = cache_root()
    manifest = _manifest()
    wanted = set(names) | set(T0_SUITE) | set(EXTRA_SUITE) | set(manifest.get("kept", []))
    if manifest and set(names) <= set(manifest["kept"]):
        return root
    if manifest:
        _raise_unknown(names, manifest["json_tasks"])
    with tempfile.TemporaryDirectory() as scratch:
        sdist = _download(scratch)
        staging = pathlib.Path(scratch) / "bigbench"
        json_tasks = set()
        with tarfile.open(sdist, "r|gz") as archive:
            for member in archive:
                match = _MEMBER.match(member.name)
                if not match or not member.isfile():
                    continue
                json_tasks.add(match.group(1))
                if match.group(1) in wanted:
                    target = staging.joinpath(*[g for g in match.groups() if g], "task.json")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.extractfile(member).read())
        (staging / MANIFEST).write_text(json.dumps({
            "requirement": REQUIREMENT, "sha256": SHA256,
            "kept": sorted(wanted & json_tasks), "json_tasks": sorted(json_tasks)}, indent=1))
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(root))
    _raise_unknown(names, json_tasks)
    return root


def _raise_unknown(names, json_tasks) -> None:
    unknown = sorted(set(names) - set(json_tasks))
    if unknown:
        raise tasks_lib.TaskError(f"unknown BIG-bench JSON task(s) {unknown}; {REQUIREMENT} has "
                                  f"{len(json_tasks)}, e.g. {sorted(json_tasks)[:8]}")


def format_example(example: dict, spec: dict) -> tasks_lib.Example:
    """BIG-bench's default_format_fn for one multiple-choice example."""
    scores = example["target_scores"]
    text = example["input"]
    if spec.get("append_choices_to_input", True):
        choice_prefix = spec.get("choice_prefix", "\n  choice: ")
        permuted = np.random.RandomState(FORMAT_SEED).permutation(sorted(scores))
        text = text + choice_prefix + choice_prefix.join(permuted)
    query = (spec.get("example_input_prefix", "\nQ: ") + text
             + spec.get("example_output_prefix", "\nA: "))
    best = max(scores.values())
    choices = tuple(scores)
    return tasks_lib.Example(query, choices, tuple(i for i, c in enumerate(choices)
                                                   if scores[c] == best))


def task_from_json(name: str, spec: dict, max_items: int, sample_seed: int,
                   group: str = "") -> tasks_lib.Task:
    skipped: dict[str, int] = {}
    seen, examples = set(), []
    for example in spec.get("examples", []):
        key = json.dumps(example)
        reason = None
        if key in seen:
            reason = "duplicate"
        elif "target_scores" not in example or "input" not in example:
            reason = "no input or target_scores"
        elif len(set(example["target_scores"].values())) < 2:
            reason = "no correct choice"
        seen.add(key)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        examples.append(format_example(example, spec))
    return tasks_lib.Task(
        name=name, kind="multiple_choice",
        examples=tasks_lib.subsample(examples, max_items, sample_seed),
        fewshot_pool=examples, description=str(spec.get("task_prefix", "")),
        target_delimiter="", fewshot_delimiter=spec.get("few_shot_example_separator", "\n"),
        group=group, skipped=skipped, available=len(examples))


def load(name: str, max_items: int, sample_seed: int) -> list[tasks_lib.Task]:
    """The Task(s) of one BIG-bench JSON task (one per subtask), fetched on first use."""
    directory = fetch([name]) / name
    spec = json.loads((directory / "task.json").read_text())
    if "examples" in spec:
        return [task_from_json(name, spec, max_items, sample_seed)]
    subtasks = sorted(p.parent.name for p in directory.glob("*/task.json"))
    if not subtasks:
        raise tasks_lib.TaskError(f"BIG-bench task {name!r} has neither examples nor subtasks "
                                  f"under {directory}")
    return [task_from_json(f"{name}:{sub}",
                           json.loads((directory / sub / "task.json").read_text()),
                           max_items, sample_seed, group=name)
            for sub in subtasks]


def expand(name: str) -> tuple[str, ...]:
    """A suite name (t0, extra) -> its tasks; a task name -> itself."""
    return SUITES.get(name, (name,))


def cached_bytes() -> int:
    root = cache_root()
    return sum(os.path.getsize(p) for p in root.rglob("*") if p.is_file()) if root.exists() else 0
