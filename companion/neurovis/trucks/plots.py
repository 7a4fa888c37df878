"""Figures of the trucks chapter: photo sets, APPM part windows (Figure 4), confusion matrices with
the light / heavy boundary (Figure 7), the few-shot curve (Figure 6), learning curves."""

from __future__ import annotations

import numpy as np

from ..core import plotting

# Figure 4's order
WINDOW_COLOURS = ["red", "orange", "yellow", "limegreen", "cyan", "magenta", "blue"]


def _img(x) -> np.ndarray:
    return x.permute(1, 2, 0).cpu().numpy() if hasattr(x, "permute") else np.asarray(x)


def sample_sets(table, sets, duty, per_class: int = 1, title: str | None = None):
    """One row of (frontal, side) photo pairs per class, titled with the model and its duty
    class."""
    imgs, titles = [], []
    for c in range(len(table.classes)):
        for i in np.flatnonzero(sets.labels == c)[:per_class]:
            for v, view in enumerate(("photo 1 (frontal)", "photo 2 (side)")):
                imgs.append(_img(table[int(sets.pairs[i, v])]))
                titles.append(
                    f"{table.classes[c][:28]}\n{'heavy' if duty[c] else 'light'}-duty, {view}"
                )
    return plotting.image_grid(imgs, titles, ncols=4, size=2.6, suptitle=title)


def part_windows(images, boxes, scores=None, titles=None, n_per_group=None, ax_size: float = 3.0):
    """APPM part windows drawn on the photos (Figure 4): windows in the order APPM returns them, one
    colour each (red = first, the most active of its group); images (B, 3, S, S), boxes (B, N, 4)
    px."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    B = len(images)
    fig, axes = plt.subplots(1, B, figsize=(ax_size * B, ax_size), squeeze=False)
    for b, ax in enumerate(axes[0]):
        ax.imshow(_img(images[b]))
        ax.axis("off")
        for n, (x1, y1, x2, y2) in enumerate(np.asarray(boxes[b], dtype=float)):
            c = WINDOW_COLOURS[n % len(WINDOW_COLOURS)]
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2.2 - 0.3 * n, ec=c))
            if scores is not None:
                ax.text(x1 + 1, y1 + 6, f"{float(scores[b][n]):.1f}", color=c, fontsize=7)
        if titles is not None:
            ax.set_title(titles[b], fontsize=9)
    fig.tight_layout()
    return fig


def confusion(cm, classes, heavy, title: str = "", ax=None, percent: bool = True):
    """A confusion matrix (rows: true, columns: recognised; row percentages with ``percent``) with
    the light / heavy boundary marked; classes are reordered light first. Light rows in heavy
    columns are the dangerous errors (shaded)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    heavy = np.asarray(heavy)
    order = np.argsort(heavy, kind="stable")
    cm = np.asarray(cm, dtype=float)[np.ix_(order, order)]
    if percent:
        cm = 100.0 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
    names = [classes[i][:22] for i in order]
    n_light = int((heavy == 0).sum())
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.9 * len(classes) + 2.5, 0.9 * len(classes) + 1.5))
    else:
        fig = ax.figure
    ax.imshow(cm, cmap="Blues")
    ax.grid(False)
    for i in range(len(cm)):
        for j in range(len(cm)):
            ax.text(
                j,
                i,
                f"{cm[i, j]:.0f}" + ("%" if percent else ""),
                ha="center",
                va="center",
                color="white" if cm[i, j] > cm.max() / 2 else "black",
            )
    ax.axhline(n_light - 0.5, color="crimson", lw=2)
    ax.axvline(n_light - 0.5, color="crimson", lw=2)
    ax.add_patch(
        Rectangle((n_light - 0.5, -0.5), len(cm) - n_light, n_light, color="crimson", alpha=0.12)
    )
    ax.set_xticks(range(len(cm)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(cm)), names, fontsize=8)
    ax.set_xlabel("recognised")
    ax.set_ylabel("true (light-duty above the red line)")
    ax.set_title(title, fontsize=10)
    return fig


def confusion_grid(cms: dict, classes, heavy):
    """Several confusion matrices side by side ({title: cm})."""
    import matplotlib.pyplot as plt

    n = len(cms)
    k = len(classes)
    fig, axes = plt.subplots(1, n, figsize=(n * (0.9 * k + 2.2), 0.9 * k + 2.0), squeeze=False)
    for ax, (title, cm) in zip(axes[0], cms.items()):
        confusion(cm, classes, heavy, title, ax=ax)
    fig.tight_layout()
    return fig


def few_shot_curve(
    n_sets, accs: dict, title: str = "held-out accuracy against training sets per class (Figure 6)"
):
    """Plotly line chart: accuracy (%) per method against the number of training sets per class."""
    return plotting.line_figure(
        n_sets, accs, title=title, xlabel="training sets per class", ylabel="accuracy (%)"
    )


def learning_curves(runs: dict, eval_every: int):
    """Validation NLL and accuracy (%) after every round against optimiser steps, per model
    ({label: Trained}); a dot marks the round whose weights were kept (lowest validation NLL)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, r in runs.items():
        steps = eval_every * np.arange(1, len(r.history["val_nll"]) + 1)
        for ax, key in zip(axes, ("val_nll", "val_acc")):
            (line,) = ax.plot(steps, r.history[key], label=k, lw=1.5)
            ax.plot(steps[r.best_round], r.history[key][r.best_round], "o", color=line.get_color())
    axes[0].set(xlabel="optimiser steps", ylabel="validation NLL", title="validation loss")
    axes[1].set(xlabel="optimiser steps", ylabel="accuracy (%)", title="validation accuracy")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
