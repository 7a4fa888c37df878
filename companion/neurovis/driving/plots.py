"""Figures of chapter 10: data samples, segmentations (Fig. 4), attention highlights (Fig. 3)."""

from __future__ import annotations

import numpy as np
import torch

from .data import IGNORE

CAMVID_PALETTE = np.array(
    [
        [128, 128, 128],
        [128, 0, 0],
        [192, 192, 128],
        [128, 64, 128],
        [60, 40, 222],
        [128, 128, 0],
        [192, 128, 128],
        [64, 64, 128],
        [64, 0, 128],
        [64, 64, 0],
        [0, 128, 192],
    ],
    np.uint8,
)


def colorize(labels, palette=CAMVID_PALETTE) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 colours; ignore (255) black."""
    lab = np.asarray(labels)
    out = np.zeros((*lab.shape, 3), np.uint8)
    ok = lab != IGNORE
    out[ok] = palette[lab[ok]]
    return out


def rgb(image) -> np.ndarray:
    """(3, H, W) uint8 tensor -> (H, W, 3) array."""
    return np.asarray(torch.as_tensor(image).permute(1, 2, 0))


def samples(images, labels, names, anomaly_image=None, anomaly_mask=None, n: int = 3):
    """Images with their label maps; the last pair: an image with a pasted anomaly and its mask."""
    from ..core import plotting

    panels, titles = [], []
    for i in range(n):
        panels += [rgb(images[i]), colorize(labels[i])]
        titles += [names[i], "labels"]
    if anomaly_image is not None:
        panels += [rgb(anomaly_image), (np.asarray(anomaly_mask) == 1).astype(float)]
        titles += ["pasted COCO object", "anomaly mask"]
    return plotting.image_grid(panels, titles, ncols=4, size=2.4)


def segmentations(
    image, label, preds: dict, anomaly: np.ndarray | None = None, anomaly_mask=None, title=None
):
    """Fig. 4-style row: image, ground truth (pasted anomaly in white), each model's prediction,
    optionally an anomaly score map."""
    from ..core import plotting

    gt = colorize(label)
    if anomaly_mask is not None:
        gt[np.asarray(anomaly_mask) == 1] = 255
    panels = [rgb(image), gt] + [colorize(p) for p in preds.values()]
    titles = [
        "image",
        "ground truth (+ anomaly)" if anomaly_mask is not None else "ground truth",
    ] + list(preds)
    if anomaly is not None:
        panels.append(np.asarray(anomaly, dtype=float))
        titles.append("anomaly score (SML, MSAAM)")
    return plotting.image_grid(
        panels, titles, ncols=len(panels), size=2.4, cmap="magma", suptitle=title
    )


def attention(image, maps: dict, rect=None, title=None):
    """Fig. 3-style row: image and the ScAH / SpAH / CAH / CoAH highlights (upsampled, colour
    mapped), the rectangle of highest average CoAH drawn on the image and on CoAH."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    keys = list(maps)
    fig, axes = plt.subplots(1, len(keys) + 1, figsize=(2.6 * (len(keys) + 1), 2.4))
    axes[0].imshow(rgb(image))
    axes[0].set_title("image", fontsize=9)
    for ax, k in zip(axes[1:], keys):
        ax.imshow(np.asarray(maps[k]), cmap="jet")
        ax.set_title(k, fontsize=9)
    if rect is not None:
        y1, x1, y2, x2 = rect
        for ax in (axes[0], axes[-1]):
            ax.add_patch(
                Rectangle(
                    (x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, lw=2, ec="white"
                )
            )
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
