"""Plot helpers shared by chapters: one style for matplotlib and plotly."""

from __future__ import annotations

import numpy as np

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def apply_style():
    """Book-wide matplotlib style (call once in a chapter's setup)."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.figsize": (8, 4),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "image.cmap": "gray",
        }
    )


def image_grid(
    images,
    titles=None,
    ncols: int = 4,
    size: float = 2.6,
    cmap: str = "gray",
    vmin=None,
    vmax=None,
    suptitle: str | None = None,
):
    """A matplotlib figure showing ``images`` (list of 2-D or HxWx3 arrays) with titles."""
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        img = np.asarray(img)
        ax.imshow(
            img, cmap=cmap if img.ndim == 2 else None, vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plotly_style(
    fig,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    height: int = 420,
):
    """Apply the book's plotly layout to ``fig`` and return it."""
    fig.update_layout(
        template="plotly_white",
        height=height,
        colorway=PALETTE,
        margin=dict(l=60, r=20, t=50 if title else 20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    if title:
        fig.update_layout(title=title)
    if xlabel:
        fig.update_xaxes(title=xlabel)
    if ylabel:
        fig.update_yaxes(title=ylabel)
    return fig


def line_figure(x, series: dict, title=None, xlabel=None, ylabel=None, markers: bool = True):
    """Interactive plotly line chart of ``series`` ({name: y values}) against ``x``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(np.asarray(y, dtype=float)),
                name=name,
                mode="lines+markers" if markers else "lines",
            )
        )
    return plotly_style(fig, title, xlabel, ylabel)


def bar_figure(categories, series: dict, title=None, xlabel=None, ylabel=None):
    """Grouped plotly bar chart: ``series`` is {name: values per category}."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Bar(x=list(categories), y=list(np.asarray(y, dtype=float)), name=name))
    fig.update_layout(barmode="group")
    return plotly_style(fig, title, xlabel, ylabel)


def _as_widget(name, spec):
    import ipywidgets as widgets

    if isinstance(spec, widgets.Widget):
        return spec
    if isinstance(spec, (list, dict)):
        return widgets.Dropdown(options=spec, description=name)
    if isinstance(spec, tuple) and 2 <= len(spec) <= 3:
        lo, hi = spec[0], spec[1]
        if all(isinstance(v, int) for v in spec):
            step = spec[2] if len(spec) == 3 else 1
            return widgets.IntSlider(
                value=(lo + hi) // 2, min=lo, max=hi, step=step, description=name
            )
        step = spec[2] if len(spec) == 3 else (hi - lo) / 10
        return widgets.FloatSlider(value=(lo + hi) / 2, min=lo, max=hi, step=step, description=name)
    raise TypeError(
        f"explore: control {name!r} must be a widget, a list of options or a (min, max[, step]) "
        f"tuple, got {spec!r}"
    )


def explore(render, **controls):
    """An ``interact``-like explorer for chapters: the controls redraw ``render(**values)`` in a
    live kernel, and the figure for the current values is drawn once, outside any Output widget, as
    the static figure of the rendered book.

    ``ipywidgets.interact`` draws inside an Output widget while the cell runs; under papermill
    (nbclient) that intermittently left the client waiting forever after the cell had finished, so
    chapters use this instead. Controls: a widget, a list (dropdown) or a (min, max[, step]) tuple.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    import inspect

    ws = {name: _as_widget(name, spec) for name, spec in controls.items()}
    # start from render's defaults, as interact
    for name, param in inspect.signature(render).parameters.items():
        if (
            name in ws
            and param.default is not inspect.Parameter.empty
            and not isinstance(controls[name], widgets.Widget)
        ):
            try:
                ws[name].value = param.default
            except Exception:  # a default outside the control's range keeps the control's own value
                pass
    out = widgets.Output()

    def draw():
        result = render(**{k: w.value for k, w in ws.items()})
        if result is not None and hasattr(result, "to_plotly_json"):
            display(result)
        return result

    def redraw(_change):  # only ever called by a reader moving a control in a live kernel
        with out:
            out.clear_output(wait=True)
            draw()
            plt.show()

    for w in ws.values():
        w.observe(redraw, names="value")
    display(widgets.VBox([*ws.values(), out]))
    return draw()
