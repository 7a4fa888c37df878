"""Figures of the smoke chapter (matplotlib for static, plotly for interactive)."""

from __future__ import annotations

import numpy as np

from ..core import plotting
from .data import SmokeParams, add_smoke, to_model_input


def _hwc(img):
    img = np.asarray(img)
    return img.transpose(1, 2, 0) if img.ndim == 3 and img.shape[0] == 3 else img


def sample_grid(data, n: int = 4, title: str = ""):
    """``n`` smoke-free and ``n`` smoke samples of a SmokeSet."""
    clear = np.flatnonzero(data.labels == 0)[:n]
    smoky = np.flatnonzero(data.labels == 1)[:n]
    idx = list(clear) + list(smoky)
    titles = [
        f"{'smoke' if data.labels[i] else 'smoke-free'} (frame {data.frame_ids[i]})" for i in idx
    ]
    return plotting.image_grid([_hwc(data.images[i]) for i in idx], titles, ncols=n, suptitle=title)


def training_curves(runs, metric: str = "val_acc", seed: int = 0):
    """Interactive: a validation metric after each epoch, one line per model (seed ``seed``)."""
    series = {r.name: r.history[metric] for r in runs if r.seed == seed}
    n = max(len(v) for v in series.values())
    label = {
        "val_sens": "validation sensitivity %",
        "val_acc": "validation accuracy %",
        "val_loss": "validation cross-entropy",
    }.get(metric, metric)
    return plotting.line_figure(
        range(1, n + 1),
        series,
        title=f"{label} per epoch (seed {seed})",
        xlabel="epoch",
        ylabel=label,
    )


def clip_heatmap(probs: dict[str, np.ndarray]):
    """Interactive: P(smoke) of every frame of every real clip (rows: clips)."""
    import plotly.graph_objects as go

    names = list(probs)
    fig = go.Figure(
        go.Heatmap(
            z=np.stack([probs[k] for k in names]),
            y=names,
            zmin=0,
            zmax=1,
            colorscale="Magma",
            colorbar=dict(title="P(smoke)"),
        )
    )
    return plotting.plotly_style(
        fig,
        "P(smoke) on the real smoky DeSmoke-LAP clips (threshold 0.5)",
        "frame",
        "clip",
        height=380,
    )


def haze_scatter(haze, probs, clip_names):
    """Static: the classifier's P(smoke) against the dark-channel haze score of each real frame."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = sorted(set(clip_names), key=lambda s: int(s.split("_")[1]))
    colours = plt.cm.tab10(np.arange(len(names)) % 10)
    for name, col in zip(names, colours):
        m = np.asarray(clip_names) == name
        ax.scatter(np.asarray(haze)[m], np.asarray(probs)[m], s=8, label=name, alpha=0.7, color=col)
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_xlabel("dark-channel haze score")
    ax.set_ylabel("P(smoke), ours")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def pipeline_examples(frames, outputs, flags, probs, k: int = 4):
    """Static: frames of a clip, their P(smoke), and what the targeted pipeline outputs."""
    idx = np.linspace(0, len(frames) - 1, k).astype(int)
    imgs = [frames[i] for i in idx] + [outputs[i] for i in idx]
    titles = [f"frame {i}: P={probs[i]:.2f}" for i in idx] + [
        ("dehazed" if flags[i] else "passed through") for i in idx
    ]
    return plotting.image_grid(imgs, titles, ncols=k)


def savings_curve(classify_s: float, dehaze_s: float, points: dict[str, float]):
    """Interactive: compute saved by targeted desmoking against the fraction of frames flagged,
    with the operating points measured in this run."""
    import plotly.graph_objects as go
    from .desmoke import saved_fraction

    p = np.linspace(0, 1, 51)
    fig = go.Figure(
        go.Scatter(x=p, y=100 * saved_fraction(p, classify_s, dehaze_s), name="1 − (c + p·d)/d")
    )
    for name, frac in points.items():
        fig.add_trace(
            go.Scatter(
                x=[frac],
                y=[100 * saved_fraction(frac, classify_s, dehaze_s)],
                name=name,
                mode="markers",
                marker=dict(size=11),
            )
        )
    return plotting.plotly_style(
        fig,
        "Compute saved vs dehazing every frame",
        "fraction of frames flagged smoky",
        "% of dehazing compute saved",
    )


def _prob(model, img, img_size):
    from .train import predict_proba

    return float(
        predict_proba(
            model, to_model_input((np.clip(img, 0, 1) * 255).astype(np.uint8)[None], img_size)
        )[0]
    )


def smoke_sweep_figure(
    frame,
    models: dict,
    img_size: int,
    T_values=(0.2, 0.4, 0.6, 0.8),
    D_values=(0.3, 0.6, 0.9),
    P=(0.5, 0.5),
    radius=0.6,
    seed: int = 0,
):
    """Static twin of the widget: one real frame with rendered smoke at several intensities T
    (columns) and densities D (rows), titled with each model's P(smoke)."""
    imgs, titles = [], []
    for D in D_values:
        for T in T_values:
            img = add_smoke(frame, np.random.default_rng(seed), SmokeParams(T, D, P, radius))
            imgs.append(img)
            titles.append(
                f"T={T:.1f} D={D:.1f}\n"
                + " ".join(f"{k}:{_prob(m, img, img_size):.2f}" for k, m in models.items())
            )
    return plotting.image_grid(imgs, titles, ncols=len(T_values), size=2.4)


def smoke_widget(frames: dict, models: dict, img_size: int):
    """ipywidgets: choose a real frame and the rendering parameters T, D, P, see the composite and
    each model's P(smoke). Built from an Image widget updated by callbacks (no captured output)."""
    import cv2
    import ipywidgets as w

    controls = {
        "frame": w.Dropdown(options=sorted(frames), description="frame"),
        "T": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="T (intensity)"),
        "D": w.FloatSlider(0.6, min=0.1, max=1.0, step=0.05, description="D (density)"),
        "Px": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="P x"),
        "Py": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="P y"),
        "radius": w.FloatSlider(0.6, min=0.1, max=1.0, step=0.05, description="radius"),
        "seed": w.IntSlider(0, min=0, max=20, description="noise seed"),
    }
    image = w.Image(format="png", width=320, height=320)
    label = w.HTML()

    def update(*_):
        v = {k: c.value for k, c in controls.items()}
        img = add_smoke(
            frames[v["frame"]],
            np.random.default_rng(v["seed"]),
            SmokeParams(v["T"], v["D"], (v["Py"], v["Px"]), v["radius"]),
        )
        ok, png = cv2.imencode(
            ".png", cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        )
        image.value = png.tobytes()
        label.value = " | ".join(
            f"<b>{k}</b>: P(smoke) = {_prob(m, img, img_size):.2f}" for k, m in models.items()
        )

    for c in controls.values():
        c.observe(update, names="value")
    update()
    return w.HBox([w.VBox(list(controls.values())), w.VBox([image, label])])
