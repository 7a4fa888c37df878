"""The chapter's figures: wafer maps, confusion matrix (Figure 10), Grad-CAM maps (Figure 11,
computed with captum's LayerGradCam), the Random vs Near-full error analysis (Figure 12) and the
noise-robustness curve."""

from __future__ import annotations

import numpy as np

from neurovis.core import plotting

#: WM-811K renderings: off-wafer, good die, defect (Figure 7: green good dies, yellow defects).
WAFER_COLORS = ["#ffffff", "#2a9d8f", "#f4d03f"]


def wafer_cmap():
    from matplotlib.colors import ListedColormap

    return ListedColormap(WAFER_COLORS)


def show_maps(maps, titles=None, ncols: int = 9, size: float = 1.6, suptitle=None):
    """A grid of wafer maps in the WM-811K colours."""
    return plotting.image_grid(
        [np.asarray(m) for m in maps],
        titles,
        ncols=ncols,
        size=size,
        cmap=wafer_cmap(),
        vmin=0,
        vmax=2,
        suptitle=suptitle,
    )


def confusion_figure(y_true, y_pred, classes, title="Confusion matrix"):
    """Row-normalised confusion matrix (Figure 10) as a matplotlib figure, counts in the cells."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=range(len(classes)))
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    ConfusionMatrixDisplay(cm, display_labels=classes).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45
    )
    ax.grid(False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def grad_cam(model, layer, x, target):
    """Grad-CAM maps (captum ``LayerGradCam``) of ``layer`` for classes ``target``, upsampled to the
    input size and scaled to [0, 1] per image. x: (N, 3, H, W); returns (N, H, W) numpy."""
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    model.eval()
    x = x.clone().requires_grad_(True)
    attr = LayerGradCam(model, layer).attribute(
        x, target=torch.as_tensor(target), relu_attributions=True
    )
    attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    a = attr.detach()[:, 0].numpy()
    peak = a.reshape(len(a), -1).max(1).reshape(-1, 1, 1)
    return a / np.where(peak > 0, peak, 1)


def grad_cam_figure(grids, cams, titles, ncols: int = 8, size: float = 1.8):
    """Wafer maps (top row) with their Grad-CAM maps overlaid (bottom row), like Figure 11."""
    import matplotlib.pyplot as plt

    n = len(grids)
    ncols = min(ncols, n)
    fig, axes = plt.subplots(2, ncols, figsize=(size * ncols, size * 2.1), squeeze=False)
    for i in range(ncols):
        axes[0, i].imshow(grids[i], cmap=wafer_cmap(), vmin=0, vmax=2, interpolation="nearest")
        axes[0, i].set_title(titles[i], fontsize=8)
        axes[1, i].imshow(grids[i], cmap=wafer_cmap(), vmin=0, vmax=2, interpolation="nearest")
        axes[1, i].imshow(cams[i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def noise_curve_figure(levels, accuracies: dict, train_range=None):
    """Interactive accuracy-vs-noise curve ({model name: accuracies in %})."""
    fig = plotting.line_figure(
        levels,
        accuracies,
        title="Accuracy under injected background noise",
        xlabel="background defect probability of a good die",
        ylabel="test accuracy (%)",
    )
    if train_range is not None:
        fig.add_vrect(
            x0=train_range[0],
            x1=train_range[1],
            fillcolor="grey",
            opacity=0.12,
            line_width=0,
            annotation_text="training noise",
            annotation_position="top left",
        )
    return fig


def noise_curve_static(levels, accuracies: dict, train_range=None):
    """The same curve as a static matplotlib figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, acc in accuracies.items():
        ax.plot(levels, acc, marker="o", label=name)
    if train_range is not None:
        ax.axvspan(*train_range, color="grey", alpha=0.15, label="training noise")
    ax.set_xlabel("background defect probability of a good die")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    fig.tight_layout()
    return fig
