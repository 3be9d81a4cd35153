"""Every command in the README runs, as written except for the changes listed here.

The commands are those of the README's ```bash blocks (continuation lines joined, `# ...`
comments dropped, `a && b` split into two commands), run from the repository root in README
order, one subprocess each. The changes, all of them:

- `pip install ...`, `python -m pytest ...` and the first command (the quick study) are not run
  here: `.ci/run` runs them verbatim, in a fresh virtualenv (tests/test_experiments.py runs the
  same study at micro scale).
- `python` is this interpreter. The environment has one CPU device, fast compiles and a fresh
  `T5X_STYLE_CACHE` (the README's own setting) that the commands share, as on a new machine.
- A local `--workdir=PATH` of a python command becomes tmp/PATH (the same PATH, the same
  directory: evaluate and generate read what train wrote there).
- FAST appends arguments that make a command take seconds (absl: the last value of a flag wins).
- Launch scripts get `--dry-run` after their name: they print each command instead of running it.

Inline commands with placeholders (`--workdir=DIR [--tasks=...]`) are synopses: the module and
every flag they show must exist.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMAND = re.compile(r"python -m (t5x_style[\w.]*)((?:[^`\n|]|\\\n)*)")

# Run by .ci/run, verbatim (see the docstring): commands that start with these words.
RUN_BY_CI = (["pip", "install"], ["python", "-m", "pytest"],
             ["python", "-m", "t5x_style.experiments", "--name=arch_objective", "--scale=quick"])
# Appended to `python -m MODULE` so that it takes seconds. Evaluate and generate need nothing:
# they read the workdir's config.json, which training wrote with these eval settings.
FAST = {
    "t5x_style.train": ["--config.train.num_steps=2", "--config.data.sequence_length=32",
                        "--config.data.batch_size=2", "--config.eval.max_items=4"],
    "t5x_style.bench": ["--steps=1"],
}


def fenced_commands() -> list[list[str]]:
    """Each command of the README's bash blocks, as an argument list."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", README, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split(" && "):
                command = shlex.split(part, comments=True)
                if command and not any(command[:len(p)] == p for p in RUN_BY_CI):
                    commands.append(command)
    return commands


COMMANDS = fenced_commands()


def local_workdir(command: list[str]) -> str | None:
    """The command's --workdir, unless it has none or it is on GCS."""
    path = next((a.removeprefix("--workdir=") for a in command if a.startswith("--workdir=")), "")
    return None if path.startswith("gs://") else path or None


def as_run(command: list[str], tmp: pathlib.Path) -> list[str]:
    """The command with the changes of the docstring made."""
    if command[0].startswith("launch/"):
        return [command[0], "--dry-run", *command[1:]]
    assert command[:2] == ["python", "-m"], f"README command not tested: {shlex.join(command)}"
    path = local_workdir(command)
    moved = {f"--workdir={path}": f"--workdir={tmp / path.lstrip('/')}"} if path else {}
    return [sys.executable, *(moved.get(a, a) for a in command[1:]), *FAST.get(command[2], [])]


@pytest.fixture(scope="session")
def run_readme_command(tmp_path_factory):
    """run(i): (the arguments run, the finished process) of COMMANDS[i], run once, after the
    README's earlier commands on the same local workdir."""
    tmp = tmp_path_factory.mktemp("readme")
    env = dict(os.environ, T5X_STYLE_CACHE=str(tmp / "cache"), JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=1",
               JAX_DISABLE_MOST_OPTIMIZATIONS="true")
    finished = {}

    def run(index: int) -> tuple[list[str], subprocess.CompletedProcess]:
        if index not in finished:
            path = local_workdir(COMMANDS[index])
            for earlier in range(index):
                if path and local_workdir(COMMANDS[earlier]) == path:
                    run(earlier)
            args = as_run(COMMANDS[index], tmp)
            finished[index] = args, subprocess.run(args, cwd=ROOT, env=env, capture_output=True,
                                                   text=True, timeout=600)
        return finished[index]

    return run


def test_the_readme_runs_every_entry_point():
    programs = {c[2] if c[0] == "python" else c[0] for c in COMMANDS}
    assert {"t5x_style.train", "t5x_style.evaluate", "t5x_style.generate",
            "t5x_style.bench", "t5x_style.data", "launch/tpu_create.sh", "launch/tpu_setup.sh",
            "launch/tpu_run.sh", "launch/tpu_logs.sh", "launch/tpu_delete.sh",
            "launch/gpu_run.sh"} <= programs


@pytest.mark.parametrize("index", [
    pytest.param(i, id=shlex.join(c)[:60], marks=[pytest.mark.slow] if c[0] == "python" else [])
    for i, c in enumerate(COMMANDS)])
def test_readme_command_runs(run_readme_command, index):
    args, result = run_readme_command(index)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(args)} failed:\n{output[-3000:]}"
    if args[0].startswith("launch/"):
        assert "\n+ " in f"\n{result.stdout}", result.stdout  # it printed what it would run
    if args[1:3] == ["-m", "t5x_style.evaluate"]:  # it scored the trained checkpoint
        assert f"params from: {local_workdir(args)}/checkpoints/" in output, output[-3000:]


def synopses() -> dict[str, set[str]]:
    """{module: the flags the README shows it with anywhere (without --config.* overrides)}."""
    commands: dict[str, set[str]] = {}
    for module, rest in COMMAND.findall(README):
        commands.setdefault(module, set()).update(re.findall(r"--([a-z_]+)", rest))
    return commands


@pytest.mark.parametrize("module, flags", sorted(synopses().items()))
def test_readme_synopsis_flags_exist(module, flags):
    help_flag = "--help" if module == "t5x_style.data" else "--helpfull"  # argparse vs absl
    result = subprocess.run([sys.executable, "-m", module, help_flag], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-2000:]
    defined = set(re.findall(r"--(?:\[no\])?([a-z_]+)", text))
    assert flags <= defined, f"{module}: README flags {sorted(flags - defined)} are not defined"
