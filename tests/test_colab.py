"""colab/quickstart.ipynb runs top to bottom on CPU (nbclient, a fresh ipykernel), as on Colab.

The install cell is a no-op here (t5x_style is installed); every other cell runs unchanged.
"""

import os

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
    assert "step 100/100 | eval_loss" in text  # trained to the end, with a held-out loss
    assert "| heldout:description | 24 |" in text  # the zero/few-shot results table
    assert "'The city of Paris" in text  # decoded continuations
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the loss plot
