"""Figures of the HMHN chapter (matplotlib static, plotly interactive)."""

from __future__ import annotations

import numpy as np

from .data import REGION_NAMES, bdi_band, region_masks, render_cues

REGION_COLORS = {"brows": "#ff7f0e", "eyes": "#2ca02c", "cheeks": "#9467bd", "mouth": "#d62728"}


def samples_figure(part, n: int = 8, seed: int = 0):
    """Frames of ``part`` spanning the BDI-II range, with their score, band and the cue regions."""
    import matplotlib.pyplot as plt

    order = np.argsort(part.bdi, kind="stable")
    idx = order[np.linspace(0, len(order) - 1, n).round().astype(int)]
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.4))
    for ax, i in zip(np.atleast_1d(axes), idx):
        ax.imshow(part.frames[i, 0], cmap="gray", vmin=0, vmax=1)
        for r, name in enumerate(REGION_NAMES):
            ax.contour(part.masks[i, r], levels=[0.5], colors=REGION_COLORS[name], linewidths=0.8)
        ax.set_title(f"BDI {part.bdi[i]:.0f}\n{bdi_band(part.bdi[i])}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def cue_strength_figure(face, levels=(0.0, 0.33, 0.66, 1.0), intensity: float = 1.0):
    """One aligned face with all four cues at increasing strength, and the change they make."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(levels), figsize=(2.2 * len(levels), 4.4))
    for j, c in enumerate(levels):
        img = render_cues(face, [c] * len(REGION_NAMES), intensity)
        axes[0, j].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"cue strength {c:.2f}\n(BDI-II {63 * c:.0f})", fontsize=9)
        axes[1, j].imshow(img - face, cmap="RdBu_r", vmin=-0.4, vmax=0.4)
        axes[1, j].set_title("change", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def attention_figure(frames, maps, titles=None, head_names=None):
    """Figure 1 of the paper: each test face, then each head's spatial attention over it."""
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F

    frames, maps = np.asarray(frames), np.asarray(maps, dtype=np.float32)
    n, k = maps.shape[:2]
    S = frames.shape[-1]
    up = F.interpolate(
        torch.from_numpy(maps), size=(S, S), mode="bilinear", align_corners=False
    ).numpy()
    fig, axes = plt.subplots(n, k + 1, figsize=(1.9 * (k + 1), 1.9 * n), squeeze=False)
    outline = region_masks(S)
    for i in range(n):
        axes[i, 0].imshow(frames[i, 0], cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title(titles[i] if titles else "", fontsize=8)
        for h in range(k):
            ax = axes[i, h + 1]
            ax.imshow(frames[i, 0], cmap="gray", vmin=0, vmax=1)
            ax.imshow(up[i, h] / max(up[i, h].max(), 1e-12), cmap="jet", alpha=0.45, vmin=0, vmax=1)
            for r, name in enumerate(REGION_NAMES):
                ax.contour(outline[r], levels=[0.5], colors="white", linewidths=0.4)
            if i == 0:
                ax.set_title(head_names[h] if head_names else f"head {h + 1}", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def shares_figure(shares_by_model: dict, chance: float):
    """Grouped bars: share of attention per cue region, per model and head (plotly)."""
    import plotly.graph_objects as go

    from ..core.plotting import plotly_style

    fig = go.Figure()
    for name, shares in shares_by_model.items():  # shares: (k, R) mean over frames
        for h, row in enumerate(np.asarray(shares)):
            fig.add_trace(
                go.Bar(x=list(REGION_NAMES), y=list(row.astype(float)), name=f"{name} head {h + 1}")
            )
    fig.add_hline(
        y=chance / len(REGION_NAMES), line_dash="dot", annotation_text="uniform map, per region"
    )
    fig.update_layout(barmode="group")
    return plotly_style(
        fig,
        "Where each head's attention goes (test faces)",
        "cue region",
        "share of the head's attention",
    )


def prediction_scatter(results: dict):
    """Predicted vs true BDI-II per test video for several models (plotly)."""
    import plotly.graph_objects as go

    from ..core.plotting import plotly_style

    fig = go.Figure()
    for name, (pred, true) in results.items():
        fig.add_trace(
            go.Scatter(
                x=list(np.asarray(true, float)),
                y=list(np.asarray(pred, float)),
                mode="markers",
                name=name,
                opacity=0.75,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 63], y=[0, 63], mode="lines", name="ideal", line=dict(dash="dot", color="gray")
        )
    )
    return plotly_style(
        fig, "Test videos: predicted vs true BDI-II", "true BDI-II", "predicted BDI-II"
    )


def explore_figure(
    face, model, settings, device="cpu", intensity: float = 1.0, combination: str = "interaction"
):
    """Static twin of the widget: the face under several cue settings, HMHN's score and head maps.

    face: an aligned face at any size; it is rendered, then resized to the model's input size.
    """
    import cv2
    import torch

    from .data import BDI_MAX, bdi_from_cues

    size = (model.config.image_size,) * 2
    frames = np.stack(
        [
            cv2.resize(render_cues(face, s, intensity), size, interpolation=cv2.INTER_AREA)[None]
            for s in settings
        ]
    ).astype(np.float32)
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(frames).to(device), return_attention=True)
    pred = (out["pred"].cpu().numpy() * BDI_MAX).clip(0, BDI_MAX)
    titles = [
        f"cues {np.round(s, 1).tolist()}\ntrue {bdi_from_cues(s, combination):.0f}, HMHN {p:.0f}"
        for s, p in zip(settings, pred)
    ]
    return attention_figure(frames, out["maps"].cpu().numpy(), titles)


def cue_explorer(faces: dict, model, device="cpu", intensity: float = 1.0):
    """ipywidgets: pick a test subject and the four cue strengths; see the face, the true and the
    predicted BDI-II, and where each head looks (``neurovis.core.plotting.explore``: the figure for
    the first subject at strength 0.5 is drawn once as the static figure)."""
    import ipywidgets as widgets

    from ..core import plotting

    def show(subject, brows, eyes, cheeks, mouth):
        return explore_figure(
            faces[subject], model, [(brows, eyes, cheeks, mouth)], device, intensity
        )

    slider = lambda name: widgets.FloatSlider(value=0.5, min=0, max=1, step=0.1, description=name)
    plotting.explore(
        show,
        subject=widgets.Dropdown(options=list(faces)),
        **{name: slider(name) for name in REGION_NAMES},
    )
