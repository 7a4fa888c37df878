"""The chapter's figures: samples, augmented views, semi-supervised curves (Figure 5), t-SNE (Figure
6), normalised confusion matrix (Figure 7)."""

from __future__ import annotations

import numpy as np

from .data import UTD_BONES


def _draw_skeleton(ax, frame: np.ndarray, color="C0", alpha=1.0, bones=UTD_BONES):
    """frame: (C, V); draws the x-y projection (Kinect: x right, y up)."""
    for a, b in bones:
        ax.plot(frame[0, [a, b]], frame[1, [a, b]], color=color, alpha=alpha, lw=1.5)
    ax.scatter(frame[0], frame[1], s=6, color=color, alpha=alpha)


def sample_figure(data, indices, num_frames: int = 5, bones=UTD_BONES):
    """For each recording: skeleton frames over time (x-y) and the 6 inertial channels."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(indices),
        2,
        figsize=(10, 2.6 * len(indices)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.3, 1]},
    )
    for row, i in enumerate(indices):
        skel = data.skeleton[i]  # (C, T, V)
        ax = axes[row, 0]
        ts = np.linspace(0, skel.shape[1] - 1, num_frames).astype(int)
        for k, t in enumerate(ts):
            _draw_skeleton(
                ax,
                skel[:, t] + np.array([2.2 * k, 0, 0])[: skel.shape[0], None],
                f"C{k % 8}",
                bones=bones,
            )
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_title(
            f"{data.class_names[data.labels[i]]} (subject {data.subjects[i]}, trial "
            f"{data.trials[i]}): frames {list(ts)}",
            fontsize=9,
        )
        ax = axes[row, 1]
        names = ["acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z"]
        for c in range(data.imu.shape[2]):
            ax.plot(data.imu[i, :, c], lw=1, label=names[c] if c < len(names) else f"ch {c}")
        ax.set_xlabel("resampled step")
        if row == 0:
            ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def augmentation_figure(skeleton, imu, strengths, seed: int = 0, frame: int = 25):
    """One recording under skeleton and IMU augmentations of increasing strength (Eq. 7-8)."""
    import matplotlib.pyplot as plt
    import torch

    from .augment import IMUAugment, SkeletonAugment

    fig, axes = plt.subplots(2, len(strengths), figsize=(2.6 * len(strengths), 5), squeeze=False)
    for k, s in enumerate(strengths):
        gen = torch.Generator().manual_seed(seed)
        xs = SkeletonAugment(s)(torch.as_tensor(skeleton)[None].repeat(3, 1, 1, 1), gen).numpy()
        xi = IMUAugment(s)(torch.as_tensor(imu)[None], gen).numpy()[0]
        ax = axes[0, k]
        for v in range(3):
            _draw_skeleton(ax, xs[v, :, frame], f"C{v}", alpha=0.8)
        ax.set_aspect("equal")
        ax.set_title(f"strength {s:g}", fontsize=9)
        ax = axes[1, k]
        ax.plot(imu[:, 0], color="0.6", lw=1, label="original acc x")
        ax.plot(xi[:, 0], color="C1", lw=1, label="augmented acc x")
        if k == 0:
            ax.legend(fontsize=7)
    fig.suptitle(
        "three augmented skeleton views (frame %d) and an augmented IMU channel" % frame,
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def mean_ci(values, level: float = 0.95):
    """Mean and half-width of the Student-t confidence interval over repeats (Figure 5)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), 0.0
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(half)


def semi_supervised_figure(fractions, curves: dict, metric: str = "acc"):
    """Plotly: mean accuracy (or F1) vs label fraction, with 95% interval bands; curves: {name:
    [[runs] per fraction]}."""
    import plotly.graph_objects as go

    from ..core.plotting import PALETTE, plotly_style

    fig = go.Figure()
    x = [100 * f for f in fractions]
    for k, (name, runs) in enumerate(curves.items()):
        stats_ = [mean_ci(r) for r in runs]
        m = np.array([s[0] for s in stats_])
        h = np.array([s[1] for s in stats_])
        color = PALETTE[k % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=list(m + h) + list((m - h)[::-1]),
                fill="toself",
                opacity=0.2,
                line=dict(width=0),
                fillcolor=color,
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(go.Scatter(x=x, y=m, name=name, mode="lines+markers", line=dict(color=color)))
    fig.update_xaxes(type="log")
    return plotly_style(
        fig,
        "Semi-supervised: test "
        + ("accuracy" if metric == "acc" else "macro F1")
        + " vs labelled fraction (95% intervals)",
        "labelled training samples (%)",
        f"{metric} (%)",
    )


def tsne_figure(panels: dict, labels, seed: int = 0):
    """Figure 6: t-SNE (scikit-learn) of test-set features, one panel per {title: (N, D)
    features}."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    n = len(panels)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, feats) in zip(axes.ravel(), panels.items()):
        f = np.asarray(feats, dtype=np.float64)
        f = (f - f.mean(0)) / (f.std(0) + 1e-8)
        emb = TSNE(2, perplexity=30, init="pca", random_state=seed, max_iter=500).fit_transform(f)
        ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap="tab20", s=5)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def confusion_figure(y_true, y_pred, class_names, title: str = ""):
    """Figure 7: row-normalised confusion matrix (scikit-learn)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=range(len(class_names)),
        normalize="true",
        display_labels=class_names,
        ax=ax,
        cmap="Blues",
        include_values=False,
        colorbar=True,
        xticks_rotation=90,
    )
    ax.grid(False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def vicreg_terms_figure(history: dict):
    """Plotly: the three unweighted VICReg terms (Eq. 11, 13, 14) over pre-training epochs."""
    from ..core.plotting import line_figure

    epochs = list(range(1, len(history["loss"]) + 1))
    return line_figure(
        epochs,
        {k: history[k] for k in ("invariance", "variance", "covariance") if k in history},
        "VICReg terms during multimodal pre-training",
        "epoch",
        "value (unweighted)",
    )
