"""Figures of chapter 02: skeletons in 3D (plotly viewer with a frame slider, matplotlib views like
the paper's Figure 2), errors per frame, ADMM residuals, the elastic-net objective."""

from __future__ import annotations

import numpy as np

from neurovis.core.plotting import PALETTE, plotly_style

#: three viewpoints like the paper's Figure 2: (elevation, azimuth) in degrees for matplotlib and
#: the matching plotly camera eyes
VIEWS = ((10, -90), (10, 0), (60, -45))
_EYES = (dict(x=0, y=-2.2, z=0.4), dict(x=2.2, y=0, z=0.4), dict(x=1.2, y=-1.2, z=1.8))


def _to_plot(S: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down/up, z depth) -> plot frame (x, depth, up)."""
    return np.stack([S[0], S[2], S[1]])


def _lines(S: np.ndarray, edges) -> tuple[list, list, list]:
    P = _to_plot(S)
    xs, ys, zs = [], [], []
    for a, b in edges:
        xs += [P[0, a], P[0, b], None]
        ys += [P[1, a], P[1, b], None]
        zs += [P[2, a], P[2, b], None]
    return xs, ys, zs


def _skeleton_traces(S, edges, name, color, symbol, scene, show_legend):
    import plotly.graph_objects as go

    P = _to_plot(S)
    xs, ys, zs = _lines(S, edges)
    return [
        go.Scatter3d(
            x=xs,
            y=ys,
            z=zs,
            mode="lines",
            line=dict(color=color, width=4),
            name=name,
            legendgroup=name,
            showlegend=False,
            scene=scene,
            hoverinfo="skip",
        ),
        go.Scatter3d(
            x=P[0],
            y=P[1],
            z=P[2],
            mode="markers",
            marker=dict(size=3, color=color, symbol=symbol),
            name=name,
            legendgroup=name,
            showlegend=show_legend,
            scene=scene,
        ),
    ]


def viewer_3d(
    truth: np.ndarray, estimates: dict, edges, frames, title: str = "", height: int = 460
):
    """Interactive plotly viewer: ground truth vs each estimate, three viewpoints, a frame slider.

    truth: (F, 3, p); estimates: {name: (F, 3, p)}; frames: indices shown on the slider.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frames = list(frames)
    names = ["ground truth", *estimates]
    colors = {
        n: PALETTE[i] for i, n in enumerate(["ground truth", "CRA", "MCM-RR", "CRA-EN", "CRA-SC"])
    }
    lim = float(np.abs(truth[frames]).max()) * 1.1

    def traces(f):
        out = []
        for v in range(3):
            scene = "scene" if v == 0 else f"scene{v + 1}"
            for n in names:
                S = truth[f] if n == "ground truth" else estimates[n][f]
                out += _skeleton_traces(
                    S,
                    edges,
                    n,
                    colors.get(n, PALETTE[len(out) % 8]),
                    "circle" if n == "ground truth" else "cross",
                    scene,
                    v == 0,
                )
        return out

    fig = make_subplots(
        rows=1,
        cols=3,
        specs=[[{"type": "scene"}] * 3],
        subplot_titles=("front", "side", "above"),
        horizontal_spacing=0.01,
    )
    for tr in traces(frames[0]):
        fig.add_trace(tr)
    fig.frames = [go.Frame(data=traces(f), name=str(f)) for f in frames]
    axis = dict(range=[-lim, lim], showticklabels=False, title="")
    for v in range(3):
        key = "scene" if v == 0 else f"scene{v + 1}"
        fig.layout[key].update(
            xaxis=axis,
            yaxis=axis,
            zaxis=axis,
            aspectmode="cube",
            camera=dict(eye=_EYES[v], up=dict(x=0, y=0, z=1)),
        )
    fig.update_layout(
        sliders=[
            dict(
                active=0,
                currentvalue=dict(prefix="frame "),
                pad=dict(t=10),
                steps=[
                    dict(
                        label=str(f),
                        method="animate",
                        args=[
                            [str(f)],
                            dict(
                                mode="immediate",
                                frame=dict(duration=0, redraw=True),
                                transition=dict(duration=0),
                            ),
                        ],
                    )
                    for f in frames
                ],
            )
        ]
    )
    return plotly_style(fig, title, height=height)


def three_views(truth: np.ndarray, estimates: dict, edges, title: str = ""):
    """Matplotlib: one frame from three viewpoints (the paper's Figure 2): 'o' ground truth,
    '+' each estimate. truth: (3, p); estimates: {name: (3, p)}."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 3.8))
    lim = float(np.abs(truth).max()) * 1.1
    for v, (elev, azim) in enumerate(VIEWS):
        ax = fig.add_subplot(1, 3, v + 1, projection="3d")
        for i, (name, S, marker) in enumerate(
            [("ground truth", truth, "o")] + [(n, s, "+") for n, s in estimates.items()]
        ):
            P = _to_plot(S)
            color = PALETTE[i]
            ax.scatter(
                P[0], P[1], P[2], marker=marker, color=color, s=18, label=name if v == 0 else None
            )
            for a, b in edges:
                ax.plot(P[0, [a, b]], P[1, [a, b]], P[2, [a, b]], color=color, lw=1)
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_zlim(-lim, lim)
        ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])
        ax.set_title(["front", "side", "above"][v], fontsize=9)
    fig.legend(loc="lower center", ncol=len(estimates) + 1, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def errors_per_frame(frames, errors: dict, title: str = "", ylabel: str = "||S~ - S||_F"):
    """Plotly: the 3D error of each method per frame."""
    from neurovis.core.plotting import line_figure

    return line_figure(frames, errors, title=title, xlabel="frame", ylabel=ylabel, markers=False)


def admm_residuals(history: dict, frame: int, title: str = ""):
    """Plotly: delta1, delta2 (Eq. 20) and mu (Eq. 19) over the ADMM iterations of one frame (log
    y)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for key, name in (("delta1", "δ1 = ‖M − Z‖/‖Z‖"), ("delta2", "δ2 = ‖ΔZ‖/‖Z‖"), ("mu", "μ")):
        y = history[key][:, frame]
        y = y[np.isfinite(y)]
        fig.add_trace(go.Scatter(x=np.arange(1, len(y) + 1), y=y, name=name, mode="lines"))
    fig.update_yaxes(type="log")
    return plotly_style(fig, title, "ADMM iteration", "value (log scale)")


def objective_curves(curves: dict, title: str = "Eq. 5 objective"):
    """Plotly: the elastic-net objective per iteration for each solver ({name: values})."""
    from neurovis.core.plotting import line_figure

    n = max(len(v) for v in curves.values())
    fig = line_figure(
        range(n), curves, title=title, xlabel="iteration", ylabel="objective (Eq. 5)", markers=False
    )
    fig.update_yaxes(type="log")
    return fig


def bases_figure(B: np.ndarray, edges, ncols: int = 8, title: str = ""):
    """Matplotlib: the learned shape bases B_i (K, 3, p), front view (x, y)."""
    import matplotlib.pyplot as plt

    K = len(B)
    nrows = int(np.ceil(K / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.9 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(K):
        ax = axes.ravel()[i]
        for a, b in edges:
            ax.plot(B[i, 0, [a, b]], B[i, 1, [a, b]], color=PALETTE[0], lw=1)
        ax.scatter(B[i, 0], B[i, 1], s=4, color=PALETTE[1])
        ax.set_aspect("equal")
        ax.set_title(f"B{i + 1}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
