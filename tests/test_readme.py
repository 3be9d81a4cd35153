"""The README's commands name modules and flags that exist: each `python -m t5x_style.X` it shows
is run with --help, and every flag the README gives it must be one that command defines.

(The commands themselves run elsewhere: the test command in CI, the training, evaluation,
generation, bench and experiment entry points end to end in their own tests.)
"""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"python -m (t5x_style[\w.]*)((?:[^`\n|]|\\\n)*)")


def readme_commands() -> dict[str, set[str]]:
    """{module: the flags the README passes it (without the dynamic --config.* overrides)}."""
    commands: dict[str, set[str]] = {}
    for module, rest in COMMAND.findall((ROOT / "README.md").read_text()):
        flags = {f for f in re.findall(r"--([a-z_]+)", rest)}
        commands.setdefault(module, set()).update(flags)
    return commands


def test_the_readme_shows_the_entry_points():
    assert {"t5x_style.experiments", "t5x_style.train", "t5x_style.evaluate", "t5x_style.generate",
            "t5x_style.bench", "t5x_style.data"} <= set(readme_commands())


@pytest.mark.parametrize("module, flags", sorted(readme_commands().items()))
def test_readme_command_and_flags_exist(module, flags):
    help_flag = "--help" if module == "t5x_style.data" else "--helpfull"  # argparse vs absl
    result = subprocess.run([sys.executable, "-m", module, help_flag], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-2000:]
    defined = set(re.findall(r"--(?:\[no\])?([a-z_]+)", text))
    assert flags <= defined, f"{module}: README flags {sorted(flags - defined)} are not defined"
