"""The chapter's figures: drawn detections per clutter level (the paper's Figures 6-8), samples of
the generated set, AP over epochs (Table 1), per-level bars and the validation threshold curve."""

from __future__ import annotations

import numpy as np

from ..core import plotting


def _draw(ax, image, boxes, labels, names, scores=None, colour_of=None):
    import matplotlib.patches as patches

    ax.imshow(image)
    ax.axis("off")
    for j, (b, c) in enumerate(zip(boxes, labels)):
        col = (
            plotting.PALETTE[(int(c) - 1) % len(plotting.PALETTE)]
            if colour_of is None
            else colour_of
        )
        ax.add_patch(
            patches.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=1.5, ec=col)
        )
        txt = names.get(int(c), str(c)) + (f" {scores[j]:.2f}" if scores is not None else "")
        ax.text(
            b[0],
            b[1] - 1,
            txt,
            fontsize=6,
            color="white",
            bbox=dict(fc=col, ec="none", pad=0.5, alpha=0.85),
        )


def detections(
    data, preds, rows: list, threshold: float, names: dict, titles=None, size: float = 2.8
):
    """One panel per image index in ``rows``: the image with the detections scoring >= ``threshold``
    (boxes coloured by class, with score) and, in a thin dashed black line, the ground truth."""
    import matplotlib.pyplot as plt

    n = len(rows)
    ncols = min(n, 4)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, i in enumerate(rows):
        ax = axes.ravel()[k]
        p = preds[i]
        keep = p["scores"] >= threshold
        _draw(ax, data.image(i), p["boxes"][keep], p["labels"][keep], names, p["scores"][keep])
        for b in data.target(i)["boxes"]:
            ax.add_patch(
                plt.Rectangle(
                    (b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=0.6, ls="--", ec="k"
                )
            )
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    return fig


def samples(data, rows: list, names: dict, titles=None):
    """Generated images with their ground-truth boxes and class names."""
    import matplotlib.pyplot as plt

    ncols = min(len(rows), 4)
    nrows = int(np.ceil(len(rows) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, i in enumerate(rows):
        t = data.target(i)
        ax = axes.ravel()[k]
        _draw(ax, data.image(i), t["boxes"], t["labels"], names)
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    return fig


def over_epochs(history: dict, keys=("val_ap", "val_ap50", "val_ap75")):
    """Interactive Table-1 curves: validation AP, AP50, AP75 after each epoch."""
    series = {k.replace("val_", "").upper(): history[k] for k in keys if k in history}
    epochs = range(1, len(next(iter(series.values()))) + 1)
    return plotting.line_figure(
        epochs,
        series,
        title="validation AP after each epoch (cf. Table 1)",
        xlabel="epoch",
        ylabel="AP",
    )


def per_level(levels, series: dict, metric: str):
    """Grouped bars of ``metric`` per clutter level for each method."""
    return plotting.bar_figure(
        levels,
        series,
        title=f"{metric} per clutter level (test)",
        xlabel="clutter level",
        ylabel=metric,
    )


def threshold_curve(grid, cacc_val, chosen: float):
    """Validation checkout accuracy against the score threshold, with the chosen threshold
    marked."""
    fig = plotting.line_figure(
        grid,
        {"cAcc (validation)": cacc_val},
        title="choosing the score threshold on validation",
        xlabel="score threshold",
        ylabel="checkout accuracy",
    )
    fig.add_vline(x=chosen, line_dash="dash", annotation_text=f"chosen {chosen:.2f}")
    return fig
