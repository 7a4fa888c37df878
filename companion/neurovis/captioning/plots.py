"""The chapter's figures: scenes with captions, captions per model, attention per word (Figure 11),
curves (Figure 10)."""

from __future__ import annotations

import textwrap

import numpy as np
import torch

from ..core import plotting


def _img(x) -> np.ndarray:
    x = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return x.permute(1, 2, 0).clamp(0, 1).numpy()


def _wrap(s: str, width: int = 30) -> str:
    return "\n".join(textwrap.wrap(s, width)) or "(empty)"


def images_with_captions(
    images, captions: list[str], ncols: int = 4, size: float = 2.8, width: int = 30
):
    """A grid of images, each titled with its (wrapped) caption."""
    return plotting.image_grid(
        [_img(x) for x in images], [_wrap(c, width) for c in captions], ncols=ncols, size=size
    )


def captions_by_model(images, captions: dict, idx: list[int], refs=None, width: int = 34):
    """One column per image: the image, then each model's caption (and a reference) underneath."""
    import matplotlib.pyplot as plt

    n = len(idx)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.2 + 0.42 * len(captions)), squeeze=False)
    for ax, i in zip(axes[0], idx):
        ax.imshow(_img(images[i]), interpolation="nearest")
        ax.axis("off")
        lines = [f"{name}: {captions[name][i]}" for name in captions]
        if refs is not None:
            lines.append(f"reference: {refs[i][0]}")
        ax.set_title(
            "\n".join(_wrap(l, width) for l in lines),
            fontsize=7.5,
            loc="left",
            y=-0.02 - 0.1 * len(lines),
            va="top",
        )
    fig.tight_layout()
    return fig


def attention_per_word(image, words: list[str], att: torch.Tensor, grid: tuple, ncols: int = 6):
    """Figure 11: the image with each word's attention weights (upsampled from the region grid)."""
    import matplotlib.pyplot as plt

    img = _img(image)
    H, W = img.shape[:2]
    n = len(words)
    ncols = min(ncols, n + 1)
    nrows = int(np.ceil((n + 1) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes.ravel()[0].imshow(img, interpolation="nearest")
    axes.ravel()[0].set_title("image", fontsize=9)
    for k, w in enumerate(words):
        a = att[k].detach().reshape(1, 1, *grid).float()
        up = torch.nn.functional.interpolate(a, size=(H, W), mode="bilinear", align_corners=False)[
            0, 0
        ].numpy()
        ax = axes.ravel()[k + 1]
        ax.imshow(img * 0.45, interpolation="nearest")
        ax.imshow(up / max(up.max(), 1e-8), cmap="gray", alpha=0.6, vmin=0, vmax=1)
        ax.set_title(w, fontsize=9)
    fig.tight_layout()
    return fig


def curves(histories: dict, key: str = "val_cider", title=None, ylabel="greedy CIDEr (held-out)"):
    """Interactive per-epoch curves of ``key`` for each run in ``histories`` ({name: history}).
    When every history has ``start_<key>`` (an RL run's cross-entropy start), it is epoch 0."""
    start = all(f"start_{key}" in h for h in histories.values())
    runs = {
        n: ([h[f"start_{key}"][0]] if start else []) + list(h[key]) for n, h in histories.items()
    }
    n = max(len(v) for v in runs.values())
    series = {name: v + [np.nan] * (n - len(v)) for name, v in runs.items()}
    x = range(0 if start else 1, n + (0 if start else 1))
    return plotting.line_figure(x, series, title=title, xlabel="epoch", ylabel=ylabel)
