# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — Facial depression recognition with a hybrid multi-head cross attention network (HMHN)
#
# **Paper.** Li Y., Liu Z., Zhou L., Yuan X., Shangguan Z., Hu X., Hu B., *A facial depression
# recognition method based on hybrid multi-head cross attention network*, *Frontiers in
# Neuroscience* 17, 2023, DOI
# [10.3389/fnins.2023.1188434](https://doi.org/10.3389/fnins.2023.1188434) ({cite}`li2023hmhn`).
#
# **The problem.** Estimate the severity of depression, as a Beck Depression Inventory-II score
# (BDI-II, 0–63), from video of a person's face. Clinically, depression shows in several places of
# the face at once: drooping mouth corners, lowered eyelids, frowning brows, a reduced smile.
#
# **The claim.** A CNN with a single attention head locks on one coarse face region. HMHN adds
# attention at two stages of a ResNet-18: *grid-wise attention* (GWA) and *deep feature fusion*
# (DFF) on the low-level image, and a *multi-head cross attention block* (MAB) whose heads an
# *attention fusion block* (AFB) and a *partition loss* push onto **different** regions. Trained
# end to end from scratch it reaches MAE 6.05 / RMSE 7.38 on AVEC 2013 and 6.01 / 7.60 on AVEC 2014,
# ahead of the ResNet-18 backbone (8.47 / 9.32, Table 3) and of every other end-to-end method
# (Tables 6–7); four heads work best (Figure 6), as does a 3×3 grid (Figure 7).
#
# **What this chapter does.** The AVEC data are licence-restricted, so at small scale we build a
# benchmark that keeps what the paper is about: **real faces** (ORL) carrying depression-like cues
# in **four regions at once**, whose ground truth is known, so that we can *measure* where the
# heads look instead of only looking at heat-maps. At `scale="paper"` the same code reads AVEC.

# %% tags=["colab-setup"]
# Colab only: install the companion package from the book's repository, fetch the embedded data
import os, subprocess, sys

if "google.colab" in sys.modules:
    REPO = "https://github.com/neurovis-book/neurovis"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            f"neurovis[all] @ git+{REPO}#subdirectory=companion",
        ],
        check=True,
    )
    if not os.path.isdir("/content/neurovis"):
        subprocess.run(
            ["git", "clone", "-q", "--depth", "1", REPO, "/content/neurovis"], check=True
        )
    os.environ["NEUROVIS_ROOT"] = "/content/neurovis"

# %% tags=["parameters"]
scale = "small"
data_root = None
device = "auto"
seed = 0
num_epochs = 12  # per trained variant
batch_size = 32
lr = 3e-3
widths = (8, 16, 32, 64)  # ResNet-18 stage widths (the paper's: 64, 128, 256, 512)
num_heads = 4  # cross-attention heads (k)
cue_intensity = 1.5  # strength of the rendered cues at full severity
sweeps = True  # train the head-count and grid-size sweeps (Figures 6-7)
avec_year = "2014"  # which AVEC at scale paper: 2013 or 2014

# %%
# Section 4.2: RGB faces, full ResNet-18, AdamW 1e-3, batch 64; epochs are our choice
if scale == "paper":
    num_epochs, batch_size, lr, widths = 50, 64, 1e-3, (64, 128, 256, 512)

# %%
import math
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from neurovis.core import (
    choose_device,
    seed_everything,
    set_threads,
    environment_report,
    check_scale,
    results,
    timing,
    plotting,
    regression,
)
from neurovis.depression import (
    HMHNConfig,
    HMHN,
    BenchmarkConfig,
    TrainSettings,
    make_benchmark,
    avec_partitions,
    align_face,
    load_orl,
    render_cues,
    ablation_configs,
    single_head,
    kernel_parameter_counts,
    count_parameters,
    KERNEL_SETTINGS,
    PAPER_ABLATION,
    PAPER_KERNELS,
    PAPER_SOTA,
    REGION_NAMES,
    analysis,
    plots,
)
from neurovis.depression.baselines import ridge_on_pixels
from neurovis.depression.train import (
    train_and_test,
    metrics_table,
    predict,
    mae,
    rmse,
    video_scores,
)

check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))

# %% [markdown]
# ## Data
#
# **Paper.** AVEC 2013 (150 videos of 82 subjects) and AVEC 2014 (Freeform and Northwind tasks,
# 150 videos each), each split by the organisers into training, development and test partitions,
# one BDI-II score per video. Faces are cropped and aligned on the eyes with dlib, 224×224 RGB.
#
# **Here, `scale="small"`.** The 40 subjects of the ORL / AT&T face database (AT&T Laboratories
# Cambridge; 5 grey 92×112 images per subject embedded in `data/embedded/orl-faces/`), detected
# and aligned on the eyes with OpenCV's Haar cascades (standing in for dlib). On each aligned face
# we **render** four depression-like cues, each in its own region — inner brows pulled down and
# together with a furrow, upper eyelids lowered and shadowed, cheeks sagging and flattened
# (reduced smile), mouth corners drooping — by local warps and shading
# (`neurovis.depression.render_cues`). Each video has a latent severity; each region's cue
# strength is that severity plus its own noise, and the video's BDI-II score is 63 × the mean cue
# strength. **No single region holds the score**: reading one region perfectly still leaves an
# error of about 7 BDI points; reading all four leaves almost none. Frames of a video differ by
# small pose and lighting jitter. Partitions are subject-disjoint like AVEC: 24 / 8 / 8 subjects.
# The generator is documented as such: these are real faces with **generated** labels.

# %%
if scale == "paper":
    parts = avec_partitions(data_root, avec_year, size=HMHNConfig.paper().image_size)
else:
    parts, align_report = make_benchmark(BenchmarkConfig(intensity=cue_intensity, seed=seed))
    print("alignment:", align_report)

# %% tags=["nbval-check-output"]
summary = pd.DataFrame(
    [
        {
            "subjects": len(p.subjects),
            "videos": p.num_videos,
            "frames": len(p),
            "mean BDI-II": round(float(p.video_labels().mean()), 1),
        }
        for p in parts.values()
    ],
    index=list(parts),
)
print(summary.to_string())

# %%
test_faces = {}  # one neutral aligned face per test subject, for the explorer below
if scale == "small":
    orl = load_orl(images_per_subject=1)
    test_faces = {
        s: align_face(orl[s][0], BenchmarkConfig().render_size)[0]
        for s in parts["test"].subjects[:4]
    }
    plots.samples_figure(parts["test"], n=8)
    plt.show()
    plots.cue_strength_figure(next(iter(test_faces.values())), intensity=cue_intensity)
    plt.show()

# %% [markdown]
# ## Method
#
# Every block below is a function or module of `neurovis/depression/hmhn.py`; the whole network is
# `HMHN(HMHNConfig(...))`, and switching blocks off gives the ablations.
#
# **Grid-wise attention** (Section 3.2). The image $g \in \mathbb{R}^{C\times H\times W}$ is cut
# into $h\times w$ grids (`grid`, Eq. 1), each passed through the same local grid feature
# extractor (`LocalGridFeatureExtractor`, Table 2: 1×1 conv to $Ck$ channels, BN, LeakyReLU, 1×1
# conv back to $C$, BN, LeakyReLU; Eq. 2–3):
#
# $$\hat G_{i,j} = \mathrm{LGFE}(g_{i,j}), \qquad
#   \mathrm{Att}_{q,k} = \delta\!\left(\frac{q\cdot k}{d_k}\right),\quad q=\hat G,\; k=\hat
#   G^{\top},\; d_k=\tfrac{W}{w} \qquad (4)$$
#
# $$\tilde G = \mathrm{Ungrid}\big(\mathrm{Aavp}(\mathrm{Att}_{q,k}) *
#   \mathrm{Ones}(\tfrac{H}{h},\tfrac{W}{w})\big) * g
#   \qquad (5\text{–}6)$$
#
# (`grid_attention_weights`, `GridWiseAttention`, `ungrid`). One weight per grid and channel
# rescales the image. *Read literally, Eq. 4–5 do nothing*: a softmax along the rows of
# $q\,k^\top$ makes every row sum to 1, so its average is $1/(H/h)$ for every grid (a unit test
# checks this). We take the softmax **across the $h\cdot w$ grids**, which is what "the
# relationship between different facial regions" needs.
#
# **Deep feature fusion** (Section 3.3, `DeepFeatureFusion`). Two feature transformation networks
# of the same structure (the backbone's stem) but separate weights, then a fusion network:
#
# $$\bar G = \mathrm{DFF}\big(\mathrm{FT}_1(g) + \mathrm{FT}_2(\tilde G)\big) \qquad (7)$$
#
# and $\bar G$ goes through ResNet-18's four stages (torchvision `BasicBlock`s) without pooling or
# FC.
#
# **Multi-head cross attention** (Section 3.4, `CrossAttentionHead`). Each of the $k$ heads has a
# spatial unit $H_i$ (1×1 reduction, then 3×3, 1×3 and 3×1 convolutions, ReLU, summed into a
# spatial map) and a channel unit $H'_i$ (two linear layers, a mini auto-encoder):
#
# $$S_i = \bar G \times H_i(\theta_s, \bar G), \qquad C_i = S_i \times H'_i(\theta_c, S_i), \qquad
#   i = 1..k \qquad (8\text{–}9)$$
#
# **Attention fusion and the partition loss** (Section 3.5, `attention_fusion`, `partition_loss`).
# The heads are fused and regressed to the BDI-II score; the loss adds to the regression MSE a
# term that is small when the heads differ:
#
# $$L_{sum} = L_{att} + L_{mse}, \qquad
#   L_{att} = \frac{1}{NC}\sum_{i=1}^{N}\sum_{j=1}^{C}\log\!\left(1 + \frac{k}{\sigma_{ij}^2}\right)
#   \qquad (10\text{–}11)$$
#
# with $\sigma_{ij}^2$ the variance over the $k$ heads of entry $j$ of sample $i$'s attention maps.
# We apply it to the heads' spatial maps (each divided by its mean), so it rewards heads that look
# at different places; $L_{mse}$ is in BDI-II points squared, so, as in the paper's formulation on
# raw scores, the partition term is a light regulariser next to it. AFB fuses the heads' outputs
# with a softmax over the heads, per channel.
# A video's score is the mean of its frames' scores, and we report, over the $M$ test videos,
#
# $$\mathrm{MAE} = \frac1M\sum_{j=1}^M |\hat\ell_j-\ell_j| \quad (12), \qquad
#   \mathrm{RMSE} = \sqrt{\frac1M\sum_{j=1}^M (\hat\ell_j-\ell_j)^2} \quad (13)$$
#
# (`mae`, `rmse`, `video_scores` in `neurovis/depression/train.py`).

# %%
base = (
    HMHNConfig.paper(widths=widths, num_heads=num_heads)
    if scale == "paper"
    else HMHNConfig.small(widths=widths, num_heads=num_heads)
)
settings = TrainSettings(num_epochs=num_epochs, lr=lr, batch_size=batch_size, seed=seed)
print(base)
print({name: f"{count_parameters(HMHN(cfg)):,}" for name, cfg in ablation_configs(base).items()})

# %% [markdown]
# ## Baselines, then the method
#
# All variants share the data, the seed, the optimiser (AdamW, Section 4.2) and the number of
# epochs, and are trained end to end from scratch with `neurovis.core.fit`. The baselines are the
# **ResNet-18 backbone** (Table 3, row A: global average pooling and a regression layer) and HMHN
# with a **single head** (the paper's Figure 6, k = 1; with one head there is no partition loss). A
# *mean predictor* (the training set's mean score) shows the floor any model must beat, and a *ridge
# regression on the pixels* (scikit-learn) shows what a linear model gets from the same frames.

# %%
ablations = ablation_configs(base)
central = {"ResNet-18": ablations["A: ResNet-18"], "HMHN, 1 head": single_head(base), "HMHN": base}
trained = train_and_test(central, parts, settings, dev)
mean_pred, true = video_scores(
    np.full(len(parts["test"]), parts["train"].bdi.mean()), parts["test"].video, parts["test"].bdi
)
ridge_pred, _ = ridge_on_pixels(parts["train"], parts["test"])

# %% [markdown]
# ## Results
#
# Test MAE and RMSE in BDI-II points over the test videos (Eq. 12–13), for this run's variants.
# The paper's numbers are on AVEC; ours are on the semi-synthetic ORL benchmark at small scale —
# the comparison that carries meaning is *between the rows*, not with the paper's values.
# The paper's column (Table 3, AVEC 2013) is marked as such.

# %%
steps = num_epochs * math.ceil(len(parts["train"]) / batch_size)  # optimiser steps per variant
if scale == "small":
    display(
        Markdown(
            f"**Small run:** one seed, {steps} optimiser steps per variant — a regression "
            "test and a quick look, not evidence; the reference run carries the evidence."
        )
    )
table = metrics_table(trained)
table.loc["ridge on pixels"] = [round(mae(ridge_pred, true), 1), round(rmse(ridge_pred, true), 1)]
table.loc["mean predictor"] = [round(mae(mean_pred, true), 1), round(rmse(mean_pred, true), 1)]
paper_rows = {"ResNet-18": "A: ResNet-18", "HMHN": "E: HMHN (all)"}
table["paper MAE / RMSE (AVEC 2013, Table 3)"] = [
    "{} / {}".format(*PAPER_ABLATION[paper_rows[n]]["AVEC2013"]) if n in paper_rows else ""
    for n in table.index
]
display(table)

# %% [markdown]
# The regression checks of this run (what `nbval` compares when it re-executes the chapter): each
# error in a band around the committed run's value, wide enough for another CPU's float path and
# narrow enough to catch a model that stopped learning, and every network below the mean predictor.

# %% tags=["nbval-check-output"]
mae_mean = mae(mean_pred, true)
# tol = max(3x the float-path spread measured, 10 % of the value). Test MAE of this pinned AVX2 run
# vs an AVX-512 run and a no-SIMD run: ResNet-18 8.67 / 8.0 / 8.21, 1 head 9.27 / 7.1 / 8.41, HMHN
# 8.80 / 8.8 / 9.91, ridge 5.96 on all three. A one-seed network moves by up to 2 BDI points with
# the float path; what holds on every path is that each network is below the mean predictor.
print(
    regression.report(
        regression.band("ResNet-18 test MAE", trained["ResNet-18"].mae, expected=8.7, tol=2.0),
        regression.band(
            "HMHN, 1 head test MAE", trained["HMHN, 1 head"].mae, expected=9.3, tol=6.5
        ),
        regression.band("HMHN test MAE", trained["HMHN"].mae, expected=8.8, tol=3.3),
        regression.band("ridge on pixels test MAE", mae(ridge_pred, true), expected=6.0, tol=0.6),
        *(
            regression.below(f"{name} test MAE", t.mae, "mean predictor MAE", mae_mean)
            for name, t in trained.items()
        ),
        regression.below(
            "ridge on pixels test MAE", mae(ridge_pred, true), "mean predictor MAE", mae_mean
        ),
    )
)

# %% [markdown]
# Where do the heads look? On the test faces, each head's spatial map (the $a_i$ of Eq. 8) is
# compared with the known cue regions: its share of attention inside them (a uniform map's share
# is the chance level), how many of the four regions at least one head attends to at twice the
# face-average density or more, and how many different regions the heads' favourite regions are.

# %%
test = parts["test"]
maps = {
    name: predict(t.model, test.frames, return_attention=True)[1]
    for name, t in trained.items()
    if name != "ResNet-18"
}
attention = analysis.attention_report(maps, test.masks) if test.masks is not None else None
if attention is not None:
    display(attention.round(2))
else:
    print("real data: no ground-truth cue regions")

# %% tags=["nbval-check-output"]
# HMHN's share: 0.393 / 0.37 / 0.388 (AVX2 pinned, AVX-512, no SIMD), tol 3x
if attention is not None:
    share = lambda name: attention.loc[name, "share in cue regions"]
    # the single head's share moved by 0.10 (0.27 vs 0.37): shown, not checked
    print(
        regression.report(
            regression.band(
                "HMHN share of attention in cue regions", share("HMHN"), expected=0.39, tol=0.07
            ),
            regression.above(
                "HMHN share of attention in cue regions",
                share("HMHN"),
                "a uniform map's share (chance)",
                share("uniform map (chance)"),
            ),
        )
    )

# %%
metrics = {
    "mae_hmhn": trained["HMHN"].mae,
    "rmse_hmhn": trained["HMHN"].rmse,
    "mae_resnet18": trained["ResNet-18"].mae,
    "rmse_resnet18": trained["ResNet-18"].rmse,
    "mae_single_head": trained["HMHN, 1 head"].mae,
    "rmse_single_head": trained["HMHN, 1 head"].rmse,
    "mae_mean_predictor": mae(mean_pred, true),
    "mae_ridge_pixels": mae(ridge_pred, true),
}
if attention is not None:
    metrics.update(
        attention_in_cue_regions=attention.loc["HMHN", "share in cue regions"],
        attention_in_cue_regions_single=attention.loc["HMHN, 1 head", "share in cue regions"],
        attention_chance=attention.loc["uniform map (chance)", "share in cue regions"],
        distinct_regions_covered=attention.loc["HMHN", "regions covered (of 4)"],
        distinct_regions_covered_single=attention.loc["HMHN, 1 head", "regions covered (of 4)"],
    )
data_desc = (
    f"AVEC {avec_year} (full)"
    if scale == "paper"
    else "ORL faces (embedded, real) with generated depression cues and BDI-II labels; test = 8 "
    "held-out subjects"
)
results.save(
    "01_depression",
    scale,
    metrics,
    data=data_desc,
    device=dev,
    paper={
        "mae_hmhn": (6.05, "Table 3 E1, AVEC 2013"),
        "rmse_hmhn": (7.38, "Table 3 E1, AVEC 2013"),
        "mae_resnet18": (8.47, "Table 3 A1, AVEC 2013"),
        "rmse_resnet18": (9.32, "Table 3 A1, AVEC 2013"),
        "mae_single_head": (None, "Figure 6, plotted only"),
    },
    notes={
        "mae_hmhn": "different data: paper on AVEC, ours on the ORL benchmark",
        "attention_in_cue_regions": "mean over heads and test frames; compare attention_chance",
        "distinct_regions_covered": "regions (of 4) some head attends at >= 2x face-average "
        "density",
    },
)
labels = {
    "mae_hmhn": "HMHN MAE",
    "rmse_hmhn": "HMHN RMSE",
    "mae_resnet18": "ResNet-18 MAE",
    "rmse_resnet18": "ResNet-18 RMSE",
    "mae_single_head": "HMHN 1 head MAE",
    "mae_mean_predictor": "mean predictor MAE",
}
labels.update({k: k.replace("_", " ") for k in metrics if k not in labels})
display(results.table("01_depression", scale, labels=labels))

# %% [markdown]
# **Reading the table (committed run, small scale).** Every network beats the mean predictor, so
# they learn the cues on faces they have never seen; but **HMHN does not beat the ResNet-18 backbone
# here**. How the three networks rank otherwise is not stable at this scale: on another CPU float
# path the single-head variant moves by about two BDI points (ahead of both in an AVX-512 run,
# behind both in this pinned AVX2 run), so this table cannot rank them — the checks above give the
# bands. The attention check says why the paper's mechanism has nothing to offer at this scale: the
# heads' maps put barely more of their mass in the cue regions than a uniform map, and the four
# heads mostly prefer the same region. On 6×6 feature maps of 48×48 faces, with 576 training frames
# from 24 people and a dozen epochs, the heads do not learn to localise the cues. This does not
# refute the paper (224×224 faces, 7×7 maps of a 64× wider network, AVEC), but its claims are not
# reproduced at this scale. The linear baseline is the other lesson: ridge regression on the pixels
# does better than all the small CNNs, so they are far from what the data allow (on aligned faces
# with fixed cue positions a linear read-out is well suited).

# %%
plots.prediction_scatter({name: (t.pred, t.true) for name, t in trained.items()}).show()
plotting.line_figure(
    range(1, num_epochs + 1),
    {name: t.history["dev_mae"] for name, t in trained.items()},
    title="Development videos during training",
    xlabel="epoch",
    ylabel="MAE (BDI-II)",
).show()

# %% [markdown]
# The paper's Figure 1, on our test faces: each head's spatial attention (white: the ground-truth
# cue regions). Rows go from a low to a high BDI-II score.

# %%
order = np.argsort(test.bdi, kind="stable")
pick = order[np.linspace(0, len(order) - 1, 3).round().astype(int)]
plots.attention_figure(
    test.frames[pick], maps["HMHN"][pick], titles=[f"BDI-II {test.bdi[i]:.0f}" for i in pick]
)
plt.show()
if test.masks is not None:
    plots.shares_figure(
        {n: analysis.mean_shares(m, test.masks) for n, m in maps.items()},
        analysis.chance_share(test.masks),
    ).show()

# %% [markdown]
# ## Ablations at this scale
#
# **Tables 3–4: the blocks.** Rows B–D are trained here with the same settings; A and E are the
# ResNet-18 and HMHN runs above. One seed, small data: differences of a few tenths are within
# run-to-run noise.

# %%
abl_trained = train_and_test(
    {k: v for k, v in ablations.items() if k[0] in "BCD"}, parts, settings, dev
)
abl_trained = {
    "A: ResNet-18": trained["ResNet-18"],
    **abl_trained,
    "E: HMHN (all)": trained["HMHN"],
}

# %%
from neurovis.depression.baselines import ablation_table, kernel_table, sota_table

display(ablation_table(abl_trained))  # the paper's columns: Tables 3-4, AVEC

# %% tags=["nbval-check-output"]
# tol = max(3x the float-path spread, 10 %): B 9.8 / 10.0 / 9.9, C 9.3 / 9.1 / 8.7, D 9.4 / 9.1 /
# 8.0 (AVX2 pinned / AVX-512 / no SIMD)
print(
    regression.report(
        regression.band("B: +GWA test MAE", abl_trained["B: +GWA"].mae, expected=9.8, tol=1.0),
        regression.band(
            "C: +GWA+DFF test MAE", abl_trained["C: +GWA+DFF"].mae, expected=9.3, tol=1.8
        ),
        regression.band(
            "D: +MAB+AFB test MAE", abl_trained["D: +MAB+AFB"].mae, expected=9.4, tol=4.2
        ),
    )
)

# %% [markdown]
# In the committed run none of GWA, DFF or MAB+AFB improves on the plain backbone, unlike
# Tables 3–4, where each block helps on AVEC.
#
# **Figure 6: the number of heads; Figure 7: the grid.** The paper finds four heads and a 3×3 grid
# best (on AVEC 2013 and 2014, reported as plots). We train k = 2 and 8 heads and 1×1 ("no grid")
# and 2×2 grids (k = 1, and k = 4 with a 3×3 grid, are the runs above); the paper's 4×4 and larger
# are left out to stay in the CPU budget. With `sweeps = False` this is skipped.

# %%
if sweeps:
    sweep = train_and_test(
        {
            **{f"k={k}": base.variant(num_heads=k) for k in (2, 8)},
            **{f"grid {g}x{g}": base.variant(grid=(g, g)) for g in (1, 2)},
        },
        parts,
        settings,
        dev,
    )
    sweep.update(
        {"k=1": trained["HMHN, 1 head"], "k=4": trained["HMHN"], "grid 3x3": trained["HMHN"]}
    )

# %%
if sweeps:
    heads_df = metrics_table({f"k={k}": sweep[f"k={k}"] for k in (1, 2, 4, 8)})
    grid_df = metrics_table({f"grid {g}x{g}": sweep[f"grid {g}x{g}"] for g in (1, 2, 3)})
    display(heads_df)
    display(grid_df)

# %% tags=["nbval-check-output"]
if sweeps:  # tol = max(3x the float-path spread, 10 %): k=2 9.9 / 9.8 / 9.7, k=8 9.8 / 10.7 / 9.5,
    # grid 1x1 10.5 / 9.9 / 9.9 (AVX2 pinned / AVX-512 / no SIMD). Grid 2x2 (10.8 / 8.0 / 9.3) moves
    # too much with the float path for a band: shown above, not checked.
    print(
        regression.report(
            regression.band("k=2 test MAE", sweep["k=2"].mae, expected=9.9, tol=1.0),
            regression.band("k=8 test MAE", sweep["k=8"].mae, expected=9.8, tol=2.7),
            regression.band("grid 1x1 test MAE", sweep["grid 1x1"].mae, expected=10.5, tol=1.8),
        )
    )

# %%
if sweeps:
    plotting.line_figure(
        [1, 2, 4, 8],
        {"MAE": heads_df["MAE"], "RMSE": heads_df["RMSE"]},
        title="Figure 6 at small scale",
        xlabel="cross-attention heads k",
        ylabel="test error (BDI-II)",
    ).show()
    plotting.bar_figure(
        list(grid_df.index),
        {"MAE": grid_df["MAE"], "RMSE": grid_df["RMSE"]},
        title="Figure 7 at small scale",
        xlabel="GWA grid",
        ylabel="test error (BDI-II)",
    ).show()

# %% [markdown]
# **Table 5: the kernels of the spatial attention unit.** Parameter counts for each setting, ours
# at the small width and at the paper's width (224-class input, full ResNet-18), beside the paper's
# counts and errors. At the paper's width our HMHN has 19.76 M parameters, the paper 19.72 M; the
# other settings' counts in the paper do not follow from the kernel sizes (a 7×7 branch cannot
# have fewer parameters than a 5×5 one plus the same rest), so we show our interpretation.

# %% tags=["nbval-check-output"]
print(
    kernel_table(base if scale == "small" else HMHNConfig.small(), HMHNConfig.paper()).to_string()
)

# %% [markdown]
# **Tables 6–7: the state of the art, for context.** The paper's numbers on AVEC beside ours on a
# different, easier-in-some-ways, harder-in-others benchmark: not comparable, shown only so the
# reader knows the scale of the errors in the field.

# %%
display(
    sota_table(
        {
            "HMHN": (trained["HMHN"].mae, trained["HMHN"].rmse),
            "ResNet-18": (trained["ResNet-18"].mae, trained["ResNet-18"].rmse),
        }
    )
)

# %% [markdown]
# ## Explore
#
# Pick a test subject and set the four cue strengths: the widget renders the face, and shows the
# true score (63 × the mean strength), HMHN's estimate and where each head looks. In the static
# book the widget does not respond; the figure below it shows four settings of the same thing.

# %%
if scale == "small":
    plots.cue_explorer(test_faces, trained["HMHN"].model, dev, cue_intensity)

# %%
if scale == "small":
    face = next(iter(test_faces.values()))
    plots.explore_figure(
        face,
        trained["HMHN"].model,
        [(0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 0, 1), (1, 1, 1, 1)],
        dev,
        cue_intensity,
    )
    plt.show()

# %% [markdown]
# ## Performance
#
# Measured in this run, on this machine: inference on the test frames and training time per
# variant, as ratios to the ResNet-18 backbone (median of repeated calls; training: one run each).

# %%
frames = parts["test"].frames[:256]
t_hmhn = timing.measure(predict, trained["HMHN"].model, frames, warmup=1, repeats=3)
t_res = timing.measure(predict, trained["ResNet-18"].model, frames, warmup=1, repeats=3)
t_one = timing.measure(predict, trained["HMHN, 1 head"].model, frames, warmup=1, repeats=3)
perf = pd.DataFrame(
    {
        "inference vs ResNet-18": [timing.ratio(t, t_res) for t in (t_res, t_one, t_hmhn)],
        "training vs ResNet-18": [
            timing.ratio(trained[n].seconds, trained["ResNet-18"].seconds) for n in trained
        ],
        "parameters": [count_parameters(trained[n].model) for n in trained],
    },
    index=list(trained),
)
display(perf.round(2))
results.record_performance(
    "01_depression",
    scale,
    f"inference, {len(frames)} test frames",
    "HMHN",
    "ResNet-18",
    t_hmhn,
    t_res,
    quality=("test MAE (BDI-II)", metrics["mae_hmhn"], metrics["mae_resnet18"], False),
)
print(f"ResNet-18 inference: {1e3 * t_res.median / len(frames):.2f} ms per frame")

# %% [markdown]
# ## Deviations and limits
#
# - **Data.** Not AVEC (EULA-only): real ORL faces (40 subjects, grey, 92×112) with *generated*
#   cues and labels. The benchmark tests what the paper argues — cues that live in several regions
#   at once — and lets us measure attention against ground truth, but it is not depression: the
#   cues are geometric warps and shading of our design, stronger and more regular than real
#   facial behaviour, and the subjects far fewer than AVEC's 82. Frames are 48×48 grey, not
#   224×224 RGB; the face detector is OpenCV's Haar cascade, not dlib (faces it cannot find are
#   left out and counted; when the eye cascade fails, the eyes are placed at the face box's average
#   eye positions).
# - **Network size.** ResNet-18's layout (2-2-2-2 basic blocks) at an eighth of the width
#   (8-16-32-64 channels), a 3×3 stride-2 stem without max-pooling and a last stage of stride 1,
#   so that the last feature map is 6×6 like the paper's 7×7. At the paper's size our HMHN has
#   19.76 M parameters against the paper's 19.72 M.
# - **Equations we had to interpret.** (i) Eq. 4–5 as written give a constant grid weight; we take
#   the softmax across grids (and scale by h·w). (ii) The structure of FT1/FT2 and of the fusion
#   network (Figure 3) is not given: each FT is the backbone's stem, the fusion a 3×3 conv-BN-ReLU.
#   (iii) The head outputs are fused with a softmax over heads per channel (AFB, after DAN, which
#   the MAB/AFB design follows). The partition loss is computed on the heads' spatial maps: on raw
#   head outputs (Eq. 11 read as "channels" of the head vectors) it can be lowered just by scaling
#   features up, and in our runs training then failed (training error above the mean predictor's).
#   (iv) Each head's spatial map is divided by its spatial mean (unnormalised maps made even the
#   single-head model fail to train). (v) Every frame is standardised (zero mean, unit
#   variance) and training mirrors half of each batch. (vi) 222×222 at paper scale: a 3×3 grid
#   must divide the image.
# - **Training.** Section 4.2's AdamW and batch 64, dropout 0.2; the paper's "adaptive learning
#   rate ... learning factor 0.1" is unspecified, so we use a cosine schedule, lr 3e-3, batch 32
#   and 12 epochs at small scale (more steps in the CPU budget); epochs are not given in the paper
#   (50 at paper scale is our choice).
# - **Outcome.** At this scale the paper's central claims are *not* reproduced: HMHN is not ahead of
#   the ResNet-18 backbone (its order against the single-head variant changes with the CPU's float
#   path), its heads do not concentrate on the cue
#   regions, and adding blocks does not help. We have not established whether more data,
#   resolution or training would change that; `scale="paper"` runs the paper's sizes on AVEC.
# - **What the small scale can and cannot show.** One seed, 80 test videos from 8 subjects: the
#   ordering of close variants (ablations, sweeps) is within noise; the paper's tables are on real
#   data with 50 test videos per set. The attention check is the part this benchmark adds: it is
#   exact, because we know where the cues are.
