"""The chapter's figures: zoomed visual comparisons (Figures 3–9 style) and convergence curves."""

from __future__ import annotations

import numpy as np

from ..core import plotting


def comparison(
    panels: dict, clean, zoom: tuple | None = None, scores: dict | None = None, ncols: int = 4
):
    """Images side by side with PSNR/SSIM in the titles; ``zoom=(top, left, size)`` adds a row of
    crops."""
    names = list(panels)
    titles = [
        n + (f"\n{scores[n][0]:.2f} dB / {scores[n][1]:.3f}" if scores and n in scores else "")
        for n in names
    ]
    images = [np.asarray(panels[n]) for n in names]
    if zoom is not None:
        t, l, s = zoom
        images += [im[t : t + s, l : l + s] for im in images]
        titles += [f"{n} (zoom)" for n in names]
        ncols = len(names)
    return plotting.image_grid(images, titles, ncols=ncols, vmin=0, vmax=255)


def convergence(histories: dict, title: str = "PSNR per iteration"):
    """Interactive PSNR-vs-iteration curves: ``histories`` maps a label to a list of PSNRs."""
    longest = max(len(h) for h in histories.values())
    series = {k: list(v) + [None] * (longest - len(v)) for k, v in histories.items()}
    return plotting.line_figure(
        range(1, longest + 1), series, title=title, xlabel="iteration", ylabel="PSNR (dB)"
    )
