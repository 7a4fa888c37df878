"""The comparisons of the paper: its ablations (Tables 3-5, Figures 6-7) as HMHN variants, and its
reported numbers for context (Tables 3-7), quoted, never used as ours."""

from __future__ import annotations

from .hmhn import KERNEL_SETTINGS, HMHN, HMHNConfig, count_parameters


def resnet18_baseline(base: HMHNConfig) -> HMHNConfig:
    """A: the ResNet-18 backbone with global average pooling and a regression FC."""
    return base.variant(use_gwa=False, use_dff=False, num_heads=0)


def single_head(base: HMHNConfig) -> HMHNConfig:
    """HMHN with one cross-attention head (no partition loss: its variance is undefined)."""
    return base.variant(num_heads=1)


def ablation_configs(base: HMHNConfig) -> dict[str, HMHNConfig]:
    """Tables 3-4 rows A-E."""
    return {
        "A: ResNet-18": resnet18_baseline(base),
        "B: +GWA": base.variant(use_dff=False, num_heads=0),
        "C: +GWA+DFF": base.variant(num_heads=0),
        "D: +MAB+AFB": base.variant(use_gwa=False, use_dff=False),
        "E: HMHN (all)": base,
    }


def kernel_parameter_counts(base: HMHNConfig) -> dict[str, int]:
    """Table 5: parameters of HMHN for every kernel setting of the spatial attention unit."""
    return {name: count_parameters(HMHN(base.variant(kernels=name))) for name in KERNEL_SETTINGS}


# ---- the paper's reported numbers (AVEC 2013 / AVEC 2014 test sets), for context only ----
#: Tables 3 and 4: (MAE, RMSE)
PAPER_ABLATION = {
    "A: ResNet-18": {"AVEC2013": (8.47, 9.32), "AVEC2014": (8.38, 9.13)},
    "B: +GWA": {"AVEC2013": (7.68, 8.31), "AVEC2014": (7.57, 8.47)},
    "C: +GWA+DFF": {"AVEC2013": (7.49, 8.29), "AVEC2014": (7.41, 8.46)},
    "D: +MAB+AFB": {"AVEC2013": (6.88, 7.91), "AVEC2014": (6.90, 8.13)},
    "E: HMHN (all)": {"AVEC2013": (6.05, 7.38), "AVEC2014": (6.01, 7.60)},
}
#: Table 5: params (M), AVEC 2013 (MAE, RMSE), AVEC 2014 (MAE, RMSE)
PAPER_KERNELS = {
    "standard": (29.33, (6.07, 7.43), (6.09, 7.66)),
    "(1x7, 7x7, 7x1)": (26.57, (6.16, 7.49), (6.19, 7.78)),
    "(1x5, 5x5, 5x1)": (22.63, (6.14, 7.51), (6.12, 7.71)),
    "(3x1, 1x3)": (17.78, (6.21, 7.56), (6.27, 7.83)),
    "(3x3, 1x3, 3x1)": (19.72, (6.05, 7.38), (6.01, 7.60)),
}
#: Tables 6 and 7, a selection: method -> (AVEC 2013 MAE, RMSE, AVEC 2014 MAE, RMSE); None = not
#: reported
PAPER_SOTA = {
    "Valstar et al. 2013/2014 (LPQ / LGBP-TOP baseline)": (10.88, 13.61, 8.86, 10.86),
    "Zhu et al. 2017 (optical flow, 2D-CNN)": (7.58, 9.82, 7.47, 9.55),
    "Zhou et al. 2020 (2D-CNN)": (6.20, 8.28, 6.21, 8.39),
    "De Melo et al. 2020 (two-stream)": (5.96, 7.97, 6.20, 7.94),
    "Niu et al. 2022 (2D-CNN)": (6.12, 7.49, 6.01, 7.56),
    "He et al. 2021a (2D-CNN, attention; end-to-end)": (6.59, 8.39, 6.51, 8.30),
    "Liu et al. 2023 (PRA-Net; end-to-end)": (6.08, 7.59, 6.04, 7.98),
    "HMHN (paper)": (6.05, 7.38, 6.01, 7.60),
}


def ablation_table(trained: dict, decimals: int = 1):
    """Ours (test MAE / RMSE per variant) beside the paper's Tables 3-4 (AVEC 2013 / 2014)."""
    import pandas as pd

    rows = {}
    for name, t in trained.items():
        paper = PAPER_ABLATION.get(name, {})
        rows[name] = {
            "ours MAE": round(t.mae, decimals),
            "ours RMSE": round(t.rmse, decimals),
            "paper AVEC2013 MAE / RMSE": "{} / {}".format(*paper["AVEC2013"]) if paper else "",
            "paper AVEC2014 MAE / RMSE": "{} / {}".format(*paper["AVEC2014"]) if paper else "",
        }
    return pd.DataFrame(rows).T


def kernel_table(small: HMHNConfig, paper: HMHNConfig):
    """Table 5: parameters of each kernel setting, ours at both sizes, beside the paper's count."""
    import pandas as pd

    ours_small = kernel_parameter_counts(small)
    ours_paper = kernel_parameter_counts(paper)
    return pd.DataFrame(
        {
            "ours, small (k params)": {k: round(v / 1e3, 1) for k, v in ours_small.items()},
            "ours, paper size (M params)": {k: round(v / 1e6, 2) for k, v in ours_paper.items()},
            "paper (M params)": {k: v[0] for k, v in PAPER_KERNELS.items()},
            "paper AVEC2013 MAE / RMSE": {
                k: "{} / {}".format(*v[1]) for k, v in PAPER_KERNELS.items()
            },
        }
    )


def sota_table(ours: dict):
    """Tables 6-7 (a selection) with our numbers on *our* benchmark appended, clearly labelled."""
    import pandas as pd

    df = pd.DataFrame(
        PAPER_SOTA, index=["AVEC2013 MAE", "AVEC2013 RMSE", "AVEC2014 MAE", "AVEC2014 RMSE"]
    ).T
    for name, (m, r) in ours.items():
        df.loc[f"{name} — ours, semi-synthetic ORL benchmark (not AVEC)"] = [
            round(m, 2),
            round(r, 2),
            None,
            None,
        ]
    return df


def ridge_on_pixels(train, test, alphas=None):
    """A linear baseline: ridge regression (scikit-learn, alpha by cross-validation) from the
    standardised pixels of a frame to its BDI-II score; frames averaged per test video.
    Returns (predicted, true) BDI-II per test video."""
    import numpy as np
    from sklearn.linear_model import RidgeCV

    from .train import video_scores

    def flat(frames):
        x = frames.reshape(len(frames), -1)
        return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)

    alphas = np.logspace(-1, 5, 13) if alphas is None else alphas
    model = RidgeCV(alphas=alphas).fit(flat(train.frames), train.bdi)
    pred = np.clip(model.predict(flat(test.frames)), 0, 63)
    return video_scores(pred, test.video, test.bdi)
