"""colab/quickstart.ipynb runs top to bottom on CPU (nbclient, a fresh ipykernel), as on Colab.

The install cell is a no-op here (t5x_style is installed); every other cell runs unchanged. Where
t5x_style is neither installed nor checked out, the install cell asks for REPO_URL.
"""

import os
import subprocess
import sys

import pytest

nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' brings nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colab",
                        "quickstart.ipynb")


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    # The kernel inherits this environment: one CPU device (not the test session's eight fake
    # ones) and fast compiles.
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "t5x_style is installed: " in text
    assert "step 100/100 | eval_loss" in text  # trained to the end, with a held-out loss
    assert "| heldout:description | 24 |" in text  # the zero/few-shot results table
    assert "'The city of Paris" in text  # decoded continuations
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the loss plot


@pytest.mark.parametrize("repo_url, message", [
    ("", "set REPO_URL (at the top of this cell)"),
    ("/nonexistent/t5x_style.git", "REPO_URL='/nonexistent/t5x_style.git' could not be cloned"),
])
def test_install_cell_names_repo_url(tmp_path, repo_url, message):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c.source for c in notebook.cells if 'REPO_URL = ""' in c.source)
    cell = cell.replace('REPO_URL = ""', f"REPO_URL = {repo_url!r}")
    # python -S: no site-packages, so t5x_style is not installed; tmp_path holds no checkout.
    result = subprocess.run([sys.executable, "-S", "-c", cell], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and message in result.stderr, result.stderr
