"""A study's written output: report.md (sections, tables, plots), PNG plots and results.json.

Also the statistics every report uses, so "within noise" means the same thing everywhere: a
difference is called real only when it exceeds twice its standard error, the error coming from
the spread between seeds (sample standard deviation / sqrt(n)) when there are several seeds,
else from the evaluation's own bootstrap standard error; with neither, it is not called at all.
"""

import json
import math

import jax
import numpy as np
from etils import epath

from t5x_style import run_dir


def mean_and_error(values, stderrs=None) -> tuple[float, float | None]:
    """(mean, standard error) over seeds; one seed: its bootstrap stderr if given, else None."""
    values = [float(v) for v in values]
    if len(values) > 1:
        return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(len(values)))
    stderr = float(stderrs[0]) if stderrs else None
    return values[0], stderr


def fmt(mean: float, error: float | None, digits: int = 3) -> str:
    return f"{mean:.{digits}f}" if error is None else f"{mean:.{digits}f} ± {error:.{digits}f}"


def verdict(name_a: str, a: tuple[float, float | None], name_b: str,
            b: tuple[float, float | None], lower_is_better: bool, what: str) -> str:
    """One sentence: which of two (mean, stderr) is better on `what`, and whether it is noise."""
    (ma, ea), (mb, eb) = a, b
    better, worse = (name_a, name_b) if (ma < mb) == lower_is_better else (name_b, name_a)
    if ea is None or eb is None:
        return (f"{better} is better than {worse} on {what} ({ma:.3f} vs {mb:.3f}); no error "
                "estimate (one seed, no bootstrap), so this may be noise.")
    se = math.sqrt(ea ** 2 + eb ** 2)
    delta = abs(ma - mb)
    if delta > 2 * se:
        return (f"{better} beats {worse} on {what} by {delta:.3f} (more than twice the standard "
                f"error {se:.3f}).")
    return (f"{better} and {worse} are within noise on {what}: difference {delta:.3f}, standard "
            f"error {se:.3f}.")


def table(headers: list[str], rows: list[list]) -> str:
    def cell(x):
        return f"{x:.4g}" if isinstance(x, float) else str(x)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


class Report:
    """Collects a study's sections and plots; `write` puts report.md and results.json in workdir.

    Files go through `etils.epath` (the workdir may be `gs://...`); only process 0 writes them.
    """

    def __init__(self, name: str, workdir: str, summary: str):
        self.name, self.workdir = name, workdir
        self.directory = run_dir.path(workdir)
        self.active = jax.process_index() == 0
        if self.active:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.lines = [f"# {name}", "", summary, ""]
        self.results: dict = {"study": name}

    def section(self, heading: str, *paragraphs: str) -> None:
        self.lines += [f"## {heading}", ""]
        for paragraph in paragraphs:
            self.lines += [paragraph, ""]

    def plot(self, filename: str, title: str, xlabel: str, ylabel: str,
             series: dict[str, tuple[list, list]], bands: dict[str, list] | None = None) -> str:
        """A line plot of {label: (xs, ys)} (optional +-band per label) as PNG; returns markdown."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        figure, axes = plt.subplots(figsize=(6.4, 4.0))
        for label, (xs, ys) in series.items():
            line, = axes.plot(xs, ys, marker="o", markersize=3, label=label)
            if bands and bands.get(label) is not None:
                low = np.asarray(ys) - np.asarray(bands[label])
                high = np.asarray(ys) + np.asarray(bands[label])
                axes.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        if self.active:
            with (self.directory / filename).open("wb") as f:
                figure.savefig(f, format=filename.rsplit(".", 1)[-1], dpi=100)
        plt.close(figure)
        return f"![{title}]({filename})"

    def write(self) -> str:
        path = epath.Path(self.workdir) / "report.md"
        if self.active:
            (self.directory / "report.md").write_text("\n".join(self.lines).rstrip() + "\n")
            (self.directory / "results.json").write_text(
                json.dumps(self.results, indent=1, default=float))
        return str(path)
