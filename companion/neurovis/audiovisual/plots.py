"""The chapter's figures: behaviour (Figure 3), activation maps (Figure 4), source waveforms,
the time-varying network (Figure 5) and the flow/RT correlation (Figure 6)."""

from __future__ import annotations

import numpy as np

from ..core.plotting import PALETTE, plotly_style

__all__ = [
    "behaviour_figure",
    "activation_figure",
    "waveform_figure",
    "network_snapshot",
    "network_timeline",
    "network_heatmap",
    "correlation_figure",
    "bic_figure",
    "null_calibration_figure",
    "analytic_theta_figure",
]

_LAYOUT = {"V1": (0.0, 0.0), "A1": (0.0, 1.0), "STG": (1.0, 0.5), "TPJ": (2.0, 0.5)}


def behaviour_figure(means, paper_rt):
    """Figure 3 analogue: field-pooled mean RT (± SE over subjects) of lv, liv, sv, siv, ours
    (simulated) beside the paper's reported means."""
    import matplotlib.pyplot as plt

    from .paradigm import CONDITION_LABELS

    pooled = means.groupby(["subject", "soa", "validity"])["rt"].mean()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    keys = list(CONDITION_LABELS)
    x = np.arange(len(keys))
    m = [pooled.xs(k, level=("soa", "validity")).mean() for k in keys]
    se = [
        pooled.xs(k, level=("soa", "validity")).std()
        / np.sqrt(pooled.index.get_level_values(0).nunique())
        for k in keys
    ]
    ax.bar(
        x - 0.2, m, 0.4, yerr=se, capsize=3, label="ours (simulated, this run)", color=PALETTE[0]
    )
    ax.bar(
        x + 0.2,
        [paper_rt[k][0] for k in keys],
        0.4,
        label="paper (Section 3.1)",
        color=PALETTE[7],
        alpha=0.7,
    )
    ax.set_xticks(x, [CONDITION_LABELS[k] for k in keys])
    ax.set_ylim(240, 310)
    ax.set_ylabel("mean RT (ms)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def activation_figure(z_imgs: dict, thresholds: dict, planted: dict):
    """Figure 4 analogue: glass-brain group z maps (FDR, clusters >= 10) per cue field, with the
    planted Table 1 ROIs as markers."""
    import matplotlib.pyplot as plt
    from nilearn import plotting

    fig, axes = plt.subplots(len(z_imgs), 1, figsize=(9, 3.2 * len(z_imgs)))
    for ax, (field, img) in zip(np.atleast_1d(axes), z_imgs.items()):
        disp = plotting.plot_glass_brain(
            img,
            threshold=thresholds[field],
            display_mode="lzr",
            axes=ax,
            colorbar=True,
            title=f"cue in the {field} (group z, FDR 0.05)",
            plot_abs=False,
            cmap="autumn",
        )
        disp.add_markers(
            [c for c, _ in planted[field].values()], marker_color="cyan", marker_size=25
        )
    return fig


def waveform_figure(X, times, nodes, truth_corr=None):
    """ROI source waveforms of one subject: three single trials and the trial SD envelope."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(nodes), 1, figsize=(8, 1.4 * len(nodes)), sharex=True)
    for r, ax in enumerate(axes):
        for k in range(3):
            ax.plot(times * 1000, X[k, :, r], lw=0.8, alpha=0.8)
        ax.fill_between(
            times * 1000, -X[:, :, r].std(0), X[:, :, r].std(0), color="grey", alpha=0.2
        )
        lab = nodes[r] + (
            f"  (|r| with truth {truth_corr[r]:.2f})" if truth_corr is not None else ""
        )
        ax.set_ylabel(nodes[r], rotation=0, ha="right")
        ax.set_title(lab, fontsize=8, loc="left")
    axes[-1].set_xlabel("time from target (ms)")
    fig.tight_layout()
    return fig


def network_snapshot(ax, sig_t, theta_t, nodes, title=""):
    """Draw the significant directed edges (sig_t (n, n), [target, source]) between the four
    nodes."""
    ax.set_xlim(-0.5, 2.5)
    ax.set_ylim(-0.4, 1.4)
    ax.axis("off")
    for k, nm in enumerate(nodes):
        x, y = _LAYOUT.get(nm, (k, 0))
        ax.scatter([x], [y], s=700, color=PALETTE[k], zorder=3)
        ax.text(
            x, y, nm, ha="center", va="center", color="white", fontsize=8, zorder=4, weight="bold"
        )
    n = len(nodes)
    for i in range(n):
        for j in range(n):
            if i != j and sig_t[i, j]:
                (x0, y0), (x1, y1) = _LAYOUT[nodes[j]], _LAYOUT[nodes[i]]
                off = 0.06 if i > j else -0.06
                ax.annotate(
                    "",
                    xy=(x1, y1 + off),
                    xytext=(x0, y0 + off),
                    arrowprops=dict(
                        arrowstyle="-|>",
                        lw=1 + 6 * float(theta_t[i, j]),
                        color="k",
                        shrinkA=14,
                        shrinkB=14,
                        alpha=0.8,
                    ),
                )
    ax.set_title(title, fontsize=9)


def network_timeline(
    sig, theta, times, nodes, snapshots=(0.25, 0.35, 0.5, 0.65, 0.8), suptitle=None
):
    """Figure 5 analogue: the network at a few time points (static)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(snapshots), figsize=(2.6 * len(snapshots), 2.4))
    for ax, t in zip(axes, snapshots):
        k = int(np.argmin(np.abs(times - t)))
        network_snapshot(ax, sig[k], theta[k], nodes, f"{times[k] * 1000:.0f} ms")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def network_heatmap(theta, sig, times, nodes, title="integrated ADTF (group mean)"):
    """Interactive plotly heat map: every directed edge (rows) against time, significant spans
    outlined; hover shows theta."""
    import plotly.graph_objects as go

    n = len(nodes)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    z = np.array([theta[:, i, j] for i, j in pairs])
    s = np.array([sig[:, i, j] for i, j in pairs]).astype(float)
    labels = [f"{nodes[j]}→{nodes[i]}" for i, j in pairs]
    fig = go.Figure(
        go.Heatmap(z=z, x=times * 1000, y=labels, colorscale="Viridis", colorbar=dict(title="θ²"))
    )
    fig.add_trace(
        go.Heatmap(
            z=np.where(s > 0, 1.0, np.nan),
            x=times * 1000,
            y=labels,
            showscale=False,
            colorscale=[[0, "rgba(255,255,255,0)"], [1, "rgba(255,0,0,0.35)"]],
            hoverinfo="skip",
        )
    )
    return plotly_style(fig, title, "time from target (ms)", "edge (source→target)", height=380)


def correlation_figure(flow: dict, rt, title="information flow vs mean RT"):
    """Figure 6 analogue: per-subject flow (mean integrated ADTF) against mean RT, with Pearson
    r."""
    import matplotlib.pyplot as plt
    from scipy import stats

    fig, axes = plt.subplots(1, len(flow), figsize=(4 * len(flow), 3.2))
    for ax, (name, f) in zip(np.atleast_1d(axes), flow.items()):
        r, p = stats.pearsonr(f, rt)
        ax.scatter(f, rt, color=PALETTE[0])
        b = np.polyfit(f, rt, 1)
        xs = np.linspace(min(f), max(f), 10)
        ax.plot(xs, np.polyval(b, xs), color=PALETTE[1])
        ax.set_xlabel(f"{name} flow (θ², 600-900 ms)")
        ax.set_ylabel("mean RT (ms)")
        ax.set_title(f"{name}: r = {r:.2f}, p = {p:.3f}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def bic_figure(bics):
    """Schwarz criterion against model order."""
    from ..core.plotting import line_figure

    return line_figure(
        np.arange(1, len(bics) + 1),
        {"BIC": bics},
        "Schwarz criterion (Eq. 4 order)",
        "order p",
        "BIC",
    )


def null_calibration_figure(null_stats, threshold, observed: dict | None = None):
    """The null networks' run statistics (histogram), the calibrated threshold and, optionally,
    the same statistic of this run's networks (vertical ticks)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.hist(null_stats, bins=20, color="0.6", label=f"{len(null_stats)} null networks")
    ax.axvline(threshold, color="C3", lw=2, label=f"threshold {threshold:.3f}")
    for k, (name, v) in enumerate((observed or {}).items()):
        ax.axvline(v, color=f"C{k}", ls="--", label=f"{name} {v:.2f}")
    ax.set_xlabel("largest 40 ms change of θ² after the stimulus (group mean)")
    ax.set_ylabel("networks")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def analytic_theta_figure(times, estimate, truth, pairs, nodes):
    """Group-mean Kalman estimate (solid) against the planted analytic theta^2(t) (dashed) for a
    few edges (pairs of (source, target) names)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    for k, (s, t) in enumerate(pairs):
        i, j = nodes.index(t), nodes.index(s)
        ax.plot(times, estimate[:, i, j], color=f"C{k}", label=f"{s}→{t} estimate")
        ax.plot(times, truth[:, i, j], color=f"C{k}", ls="--", label=f"{s}→{t} analytic")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("integrated ADTF θ²")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
