"""The results of a sweep as a table (Markdown, CSV) and as pictures.

A setting's result is `{metric: [value per seed]}`. The table gives every
metric as mean +/- sample standard deviation (ddof = 1; 0 for a single seed)
over seeds, and marks the best mean of each column in bold: the highest for
metrics where higher is better, the lowest for the others listed below; a
column of unknown direction is not marked. Non-finite values (a diverged seed)
make that cell's mean non-finite, so divergence is never averaged away.
Below it, one table per metric gives every seed's value and the worst seed's
(`to_markdown_per_seed`), and a sweep config's `published` figures are printed
under the measured rows, never marked best.
"""

import csv
import io
import math
from typing import NamedTuple

from etils import epath
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

HIGHER_IS_BETTER = frozenset({
    "modes_covered", "high_quality_fraction", "inception_score", "precision",
    "recall", "density", "coverage", "stacked_modes_covered"})
LOWER_IS_BETTER = frozenset({"reverse_kl", "fid", "kid", "diverged",
                             "stacked_reverse_kl"})
# Bookkeeping that is the same for every setting, and within-run spreads
# (the seeds' spread is the one reported), are not table columns.
_NOT_RESULTS = frozenset({"num_modes", "step", "wall_seconds", "kid_std",
                          "inception_score_std"})


class Row(NamedTuple):
    name: str
    levels: dict[str, str]  # axis -> level
    values: dict[str, list[float]]  # metric -> per-seed values
    seeds: tuple[int, ...] = ()  # the seed of each value, in order


class Cell(NamedTuple):
    mean: float
    std: float
    best: bool


class Table(NamedTuple):
    axes: list[str]
    metrics: list[str]
    rows: list[Row]
    cells: list[dict[str, Cell]]  # one per row


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for one value)."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return math.nan, math.nan
    std = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return float(np.mean(values)), std


def _best(means: list[float], metric: str) -> list[bool]:
    finite = [m for m in means if np.isfinite(m)]
    if not finite or metric not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return [False] * len(means)
    target = max(finite) if metric in HIGHER_IS_BETTER else min(finite)
    return [bool(np.isfinite(m) and m == target) for m in means]


def summarize(rows: list[Row]) -> Table:
    """Means, standard deviations and best marks of every metric column."""
    axes = list(rows[0].levels) if rows else []
    metrics = []
    for row in rows:
        metrics += [m for m in row.values if m not in metrics and m not in _NOT_RESULTS]
    stats = {m: [mean_std(row.values.get(m, [])) for row in rows] for m in metrics}
    best = {m: _best([mean for mean, _ in stats[m]], m) for m in metrics}
    cells = [{m: Cell(*stats[m][i], best[m][i]) for m in metrics}
             for i in range(len(rows))]
    return Table(axes, metrics, rows, cells)


def _format(cell: Cell) -> str:
    text = f"{cell.mean:.4g} ± {cell.std:.2g}"
    return f"**{text}**" if cell.best else text


def _direction(metric: str) -> str:
    if metric in HIGHER_IS_BETTER:
        return " ↑"
    return " ↓" if metric in LOWER_IS_BETTER else ""


def to_markdown(table: Table, num_seeds: int,
                published: tuple[tuple[str, dict[str, float]], ...] = ()) -> str:
    """The table; `published` rows ((label, {metric: value}), ...) follow the
    measured ones, marked as published and never bold."""
    header = table.axes + [m + _direction(m) for m in table.metrics]
    lines = [f"Mean ± std over {num_seeds} seed(s); best per column in bold "
             "(↑ higher is better, ↓ lower is better)"
             + ("; published figures for comparison below the line." if published
                else "."), "",
             "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for row, cells in zip(table.rows, table.cells):
        values = [row.levels[a] for a in table.axes]
        values += [_format(cells[m]) for m in table.metrics]
        lines.append("| " + " | ".join(values) + " |")
    if published:
        lines.append("| " + " | ".join(["—"] * len(header)) + " |")
    for label, figures in published:
        values = [f"{label} (published)"] + [""] * (len(table.axes) - 1)
        values += [f"{figures[m]:.4g}" if m in figures else "" for m in table.metrics]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def worst(values, metric: str) -> float:
    """The worst seed's value: the lowest where higher is better, the highest
    where lower is better; non-finite (a diverged seed) is always the worst."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return math.nan
    return float(values.max() if metric in LOWER_IS_BETTER else values.min())


def to_markdown_per_seed(table: Table) -> str:
    """One table per metric: every seed's value and the worst of them, for
    claims that must hold on every seed, not on average."""
    sections = []
    for metric in table.metrics:
        if metric not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
            continue
        seeds = max((row.seeds for row in table.rows), key=len, default=())
        lines = [f"{metric}{_direction(metric)} per seed:", "",
                 "| " + " | ".join(table.axes + [f"seed {s}" for s in seeds]
                                   + ["worst"]) + " |",
                 "|" + "---|" * (len(table.axes) + len(seeds) + 1)]
        for row in table.rows:
            values = row.values.get(metric, [])
            by_seed = dict(zip(row.seeds, values))
            lines.append("| " + " | ".join(
                [row.levels[a] for a in table.axes]
                + [f"{by_seed[s]:.4g}" if s in by_seed else "" for s in seeds]
                + [f"{worst(values, metric):.4g}"]) + " |")
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["setting", *table.axes, "num_seeds",
                     *[f"{m}_{s}" for m in table.metrics for s in ("mean", "std")]])
    for row, cells in zip(table.rows, table.cells):
        num_seeds = max((len(v) for v in row.values.values()), default=0)
        writer.writerow([row.name, *[row.levels[a] for a in table.axes], num_seeds,
                         *[repr(float(getattr(cells[m], s)))
                           for m in table.metrics for s in ("mean", "std")]])
    return out.getvalue()


def plot_curves(histories: dict[str, dict[int, dict[str, list[float]]]],
                path: epath.PathLike) -> None:
    """Each metric against the step, one line per setting (mean over seeds)
    with a band of one standard deviation.

    Args:
      histories: setting name -> step -> metric -> per-seed values.
    """
    metrics = []
    for history in histories.values():
        for values in history.values():
            metrics += [m for m in values if m not in metrics and m not in _NOT_RESULTS]
    if not metrics:
        return
    columns = min(3, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows),
                             squeeze=False)
    colors = plt.get_cmap("tab20" if len(histories) > 10 else "tab10")
    for ax, metric in zip(axes.flat, metrics):
        for i, (name, history) in enumerate(histories.items()):
            steps = sorted(s for s in history if metric in history[s])
            if not steps:
                continue
            stats = np.array([mean_std(history[s][metric]) for s in steps])
            color = colors(i % colors.N)
            ax.plot(steps, stats[:, 0], color=color, label=name, lw=1.2)
            ax.fill_between(steps, stats[:, 0] - stats[:, 1],
                            stats[:, 0] + stats[:, 1], color=color, alpha=0.2)
        ax.set(title=metric + _direction(metric), xlabel="step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", fontsize=8,
               ncol=min(4, max(len(labels), 1)), frameon=False)
    fig.tight_layout(rect=(0, 0.04 * math.ceil(len(labels) / 4) + 0.02, 1, 1))
    _save(fig, path)


def plot_samples(images: dict[str, np.ndarray], path: epath.PathLike,
                 columns: int = 4) -> None:
    """One picture per setting (its first seed's samples), titled by setting."""
    if not images:
        return
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4.3 * rows),
                             squeeze=False)
    for ax, (name, image) in zip(axes.flat, images.items()):
        ax.imshow(image)
        ax.set_title(name, fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: epath.PathLike) -> None:
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
