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
# # 04 — Skeleton + IMU self-supervised action recognition (VICReg across modalities)
#
# **Paper.** Yang, Ren, Yuan, Xu and Zhou, "Contrastive self-supervised representation learning
# without negative samples for multimodal human action recognition", *Frontiers in Neuroscience* 17
# (2023), doi:10.3389/fnins.2023.1225312 {cite}`yang2023multimodal`.
#
# **Claim.** Two modality-specific encoders — a convolution + Transformer network for inertial
# signals (IMU) and a two-stream hierarchical co-occurrence network (HCN) for skeleton sequences —
# can be pre-trained *without labels and without negative samples* by pulling the skeleton and
# IMU embeddings of the same recording together with the VICReg loss (variance, invariance,
# covariance). Frozen, with only a small fusion classifier trained on labels, the multimodal
# representation beats each single modality and, with few labels (< 25 %), beats a supervised
# network trained on the same labels. Data: UTD-MHAD (27 actions, 8 subjects; real, embedded here)
# and MMAct (at paper scale only).

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
# "small": embedded UTD-MHAD, CPU-sized encoders; "paper": Table 1 settings, data_root
scale = "small"
data_root = None  # paper scale: folder holding UTD-MHAD/ and MMAct/ (see data/README.md)
device = "auto"
seed = 0
label_fractions = [0.01, 0.05, 0.10, 0.25, 0.50]  # Figure 5
semi_repeats = 3  # repeats per fraction (paper: 10)
# hidden action ids (1-based); the paper hides [1], [2] and [5] one at a time
zero_shot_hidden = [[1, 2, 5]]
run_ablations = True

# %%
if scale == "paper":
    semi_repeats = 10
    zero_shot_hidden = [[1], [2], [5]]

# %% [markdown]
# ## Setup

# %%
import math
import numpy as np
import pandas as pd
import torch
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
from neurovis.action import (
    ActionConfig,
    UTD_ACTIONS,
    imu_statistics,
    to_tensors,
    utd_split,
    vicreg_loss,
    variance_term,
    covariance_term,
    invariance_term,
)
from neurovis.action.data import load_dataset, mmact_available, mmact_split
from neurovis.action import protocol, plots

check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))
cfg = ActionConfig.paper() if scale == "paper" else ActionConfig.small()

# %% [markdown]
# ## Data: UTD-MHAD, skeleton and inertial recordings (real)
#
# The complete skeleton (Kinect, 20 joints x 3-D) and inertial (wrist sensor, 3-axis accelerometer
# + 3-axis gyroscope at 50 Hz) modalities of UTD-MHAD (Chen, Jafari and Kehtarnavaz, ICIP 2015):
# 27 actions x 8 subjects x 4 trials, 861 recordings (three are absent upstream), embedded in
# `data/embedded/utd-mhad/` in their published `.mat` format (see its `SOURCE.md`). As in the
# paper (Section 4.2) every sequence is resampled to 50 steps and each skeleton is expressed in the
# frame of its first frame (origin at the first frame's hip centre, unit = first frame's torso
# length); IMU channels are z-scored with training-set statistics. Protocol: subjects 1, 3, 5, 7
# train, subjects 2, 4, 6, 8 test — every number below is on the 430 test recordings.

# %%
data = load_dataset("utd-mhad", scale, data_root, num_steps=cfg.num_steps)
data_train, data_test = utd_split(data)
imu_mean, imu_std = imu_statistics(data_train.imu)
train, test = to_tensors(data_train, imu_mean, imu_std), to_tensors(data_test, imu_mean, imu_std)
print(
    f"{len(data)} recordings, {data.num_classes} actions | train {len(data_train)} (subjects "
    f"{sorted(set(data_train.subjects.tolist()))}) | test {len(data_test)} (subjects "
    f"{sorted(set(data_test.subjects.tolist()))})"
)
print(f"skeleton {tuple(train[0].shape[1:])} (C, T, V) | IMU {tuple(train[1].shape[1:])} (T, S)")

# %%
fig = plots.sample_figure(data, [int(np.flatnonzero(data.labels == a)[0]) for a in (0, 12, 23)])

# %% [markdown]
# ## Method
#
# **Encoders** (Section 3.2). IMU: three temporal convolution blocks (kernel 3, 32/64/128
# channels, batch norm, ReLU) and a Transformer encoder with 2-head self-attention
# (`IMUEncoder`, Figure 1). Skeleton: the two-stream HCN — a *joint* stream on the coordinates and
# a *motion* stream on frame differences, each 1x1 conv -> 3x1 conv -> transpose so that joints
# become channels -> two 3x3 convs, then concatenation and two more 3x3 conv blocks; output
# channels 64/32/32/64/128/256 (`SkeletonEncoder`, Figure 2). A projection MLP $g$ maps the hidden
# feature $h=f(x)$ to the embedding $z=g(h)$.
#
# **Unimodal pre-training** (Section 3.3, `pretrain_unimodal`). Two augmented views of the same
# recording give $Z, Z'$; their cross-correlation along the batch (`cross_correlation`)
#
# $$C_{ij} = \frac{\sum_b z_{b,i} z'_{b,j}}{\sqrt{\sum_b z_{b,i}^2}\sqrt{\sum_b z'^2_{b,j}}} \qquad
#   (5)$$
#
# is driven to the identity (`cross_correlation_loss`):
#
# $$\mathcal{L}_c = \sum_i (1 - C_{ii})^2 + \beta \sum_i \sum_{j\neq i} C_{ij}^2 . \qquad (6)$$
#
# **Multimodal pre-training** (Section 3.4, Algorithm 1, `pretrain_multimodal`). The skeleton and
# IMU of the same recording, each augmented by its own $T$ (Eq. 7-8, `SkeletonAugment`,
# `IMUAugment`), go through their own encoders and heads to $Z^s, Z^i$. The loss (`vicreg_loss`)
# combines a hinge on the standard deviation of every embedding dimension (`variance_term`),
#
# $$v(Z) = \frac{1}{d}\sum_{j=1}^{d} \max\big(0, \gamma - \mathrm{Std}(z_j, \epsilon)\big), \quad
#   \mathrm{Std}(x,\epsilon)=\sqrt{\mathrm{Var}(x)+\epsilon} \qquad (11\text{-}12)$$
#
# the mean squared distance between paired embeddings (`invariance_term`),
#
# $$s(Z^s, Z^i) = \frac{1}{N}\sum_j \lVert z^s_j - z^i_j \rVert_2^2 \qquad (13)$$
#
# and the squared off-diagonal covariances (`covariance_term`),
#
# $$c(Z) = \frac{1}{d}\sum_{i\neq j} [C(Z)]_{i,j}^2, \quad C(Z)=\frac{1}{N-1}\sum_j (z_j-\bar
#   z)(z_j-\bar z)^\top \qquad (14\text{-}15)$$
#
# $$\mathcal{L}(Z^s, Z^i) = \lambda\, s(Z^s,Z^i) + \mu\,[v(Z^s)+v(Z^i)] + \nu\,[c(Z^s)+c(Z^i)] .
#   \qquad (16)$$
#
# We follow Algorithm 1 for $s$ (PyTorch's `mse_loss`, i.e. Eq. 13 divided by $d$) and Eq. 16 for
# the variance: the two branches' terms are **added**, not averaged as in the VICReg reference
# code (the ablation below runs the averaged variant); $\gamma=1$, $\epsilon=10^{-4}$,
# $\lambda=\mu=25$, $\nu=1$. The tests check these terms against hand-computed values and against
# the `lightly` library.
#
# **Fine-tuning / linear evaluation** (Section 4.2, `linear_eval`). Encoders frozen; per modality
# a fusion layer (linear, batch norm, ReLU) to 256 units (64 at small scale), concatenation, one
# linear classifier trained with cross-entropy.
#
# Below: the three VICReg terms on a batch that has collapsed to one point, and on a healthy one.

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(seed)
collapsed, healthy = torch.ones(64, 32) * 0.5, torch.randn(64, 32, generator=g)
rows = {
    name: {
        "variance v(Z)": variance_term(z).item(),
        "covariance c(Z)": covariance_term(z).item(),
        "invariance s(Z, Z+noise)": invariance_term(
            z, z + 0.1 * torch.randn(64, 32, generator=g)
        ).item(),
    }
    for name, z in [("collapsed", collapsed), ("healthy N(0, 1)", healthy)]
}
print(pd.DataFrame(rows).T.round(2).to_string())

# %%
fig = plots.augmentation_figure(
    data_train.skeleton[0], data_train.imu[0], [0.0, 0.5, 1.0, 2.0], seed=seed
)

# %% [markdown]
# ## Baselines, then the method, trained live
#
# Settings (Table 1 at paper scale): pre-training epochs, learning rate, batch size per setting.
# At small scale the encoders are 1/4 as wide, the IMU Transformer has one layer, and every
# pre-training runs a few epochs on 2 CPU cores — same protocol, same test subjects.

# %% tags=["nbval-check-output"]
settings = pd.DataFrame(
    {
        "learning rate": [cfg.lr_unimodal, cfg.lr_unimodal, cfg.lr_multimodal],
        "epochs": [cfg.epochs_unimodal, cfg.epochs_unimodal, cfg.epochs_multimodal],
        "batch size": [cfg.batch_unimodal, cfg.batch_unimodal, cfg.batch_multimodal],
    },
    index=["IMU", "Skeleton", "IMU+Skeleton"],
)
print(f"scale={scale}: pre-training settings (paper: Table 1, UTD-MHAD)\n{settings.to_string()}")
print(
    f"encoder widths: skeleton x{cfg.skeleton_width}, IMU x{cfg.imu_width}; fine-tuning "
    f"{cfg.epochs_finetune} epochs"
)

# %% [markdown]
# **Supervised** (end to end, random initialisation, same encoders and fusion head) and a control
# the paper does not report: the same linear evaluation on **untrained** encoders, which says how
# much of a frozen-encoder score is due to pre-training at all.

# %%
entries = {}
for mods in (["imu"], ["skeleton"], ["skeleton", "imu"]):
    e = protocol.evaluate_supervised(mods, train, test, data.num_classes, cfg, dev, seed)
    entries[e.key] = e
    entries[f"random_{e.key.split('_', 1)[1]}"] = protocol.evaluate_ssl(
        "random", mods, train, test, data.num_classes, cfg, dev, seed
    )

# %% [markdown]
# **Self-supervised baselines**: SimCLR (NT-Xent) and Barlow Twins per modality; Barlow Twins and
# CMC (cross-modal InfoNCE) across modalities.

# %%
for method, mods in [
    ("simclr", ["imu"]),
    ("simclr", ["skeleton"]),
    ("barlow", ["imu"]),
    ("barlow", ["skeleton"]),
    ("barlow", ["skeleton", "imu"]),
    ("cmc", ["skeleton", "imu"]),
]:
    e = protocol.evaluate_ssl(method, mods, train, test, data.num_classes, cfg, dev, seed)
    entries[e.key] = e

# %% [markdown]
# **Ours**: unimodal pre-training with Eq. 5-6 on each modality, and multimodal VICReg (Eq. 16).

# %%
for mods in (["imu"], ["skeleton"], ["skeleton", "imu"]):
    e = protocol.evaluate_ssl("ours", mods, train, test, data.num_classes, cfg, dev, seed)
    entries[e.key] = e
ours = entries["ours_imu_skeleton"]
fig = plots.vicreg_terms_figure(ours.history)
fig.show()

# %% [markdown]
# ## Results: Table 2 (UTD-MHAD columns), paper vs ours

# %%
pre_steps = cfg.epochs_multimodal * math.ceil(len(data_train) / cfg.batch_multimodal)
ft_steps = cfg.epochs_finetune * math.ceil(len(data_train) / cfg.batch_finetune)
if scale == "small":
    display(
        Markdown(
            f"**Small run:** one seed, {pre_steps} optimiser steps of multimodal pre-training "
            f"and {ft_steps} of fine-tuning — a regression test and a quick look, not evidence; "
            "the reference run carries the evidence."
        )
    )
table2 = protocol.table2_frame(entries)
print(
    f"test accuracy / macro F1 (%), {len(data_test)} test recordings of subjects 2, 4, 6, 8, "
    f"scale={scale}"
)
display(table2.round(1))  # the paper's columns: Table 2, UTD-MHAD

# %% [markdown]
# The regression checks of this run (what `nbval` compares when it re-executes the chapter): test
# accuracies in a band around the committed run's value, wide enough for another CPU's float path
# and narrow enough to catch a model that stopped learning, and the orderings that the reading
# below rests on, each with a margin.

# %% tags=["nbval-check-output"]
chance = 100 / data.num_classes
ours_acc = lambda key: table2.loc[key, "acc (ours)"]
# expected: the run before the float path was pinned (AVX-512); tol: 10 % of the value, which covers
# the float-path spread of one-seed accuracies measured in chapters 01 and 06 (up to 5 points)
T2 = [
    ("Ours (IMU+Skeleton)", 84.7),
    ("Ours (IMU)", 67.2),
    ("Ours (Skeleton)", 59.3),
    ("Supervised (IMU+Skeleton)", 86.0),
    ("CMC (IMU+Skeleton)", 87.4),
    ("Barlow Twins (IMU+Skeleton)", 87.0),
]
print(
    regression.report(
        *(
            regression.band(
                f"{key} test accuracy (%)", ours_acc(key), expected=e, tol=round(0.1 * e, 1)
            )
            for key, e in T2
        ),
        regression.above(
            "lowest accuracy of a trained method (%)",
            min(ours_acc(key) for key in table2.index if not key.startswith("Untrained")),
            "chance (%)",
            chance,
            margin=20,
        ),
        regression.above(
            "Ours (IMU+Skeleton) accuracy (%)",
            ours_acc("Ours (IMU+Skeleton)"),
            "Ours (IMU) accuracy (%)",
            ours_acc("Ours (IMU)"),
            margin=8,
        ),
        regression.above(
            "Ours (IMU+Skeleton) accuracy (%)",
            ours_acc("Ours (IMU+Skeleton)"),
            "Ours (Skeleton) accuracy (%)",
            ours_acc("Ours (Skeleton)"),
            margin=8,
        ),
        regression.above(
            "Ours (IMU+Skeleton) accuracy (%)",
            ours_acc("Ours (IMU+Skeleton)"),
            "untrained encoders (IMU+Skeleton) accuracy (%)",
            ours_acc("Untrained encoders (control) (IMU+Skeleton)"),
            margin=4,
        ),
    )
)

# %% [markdown]
# **Reading Table 2 at this scale** (the stored run; every "ours" number is computed above, on the
# 430 test recordings). Most accuracies are well below the paper's (by up to 36 points for the
# skeleton models; our IMU-only SimCLR and Barlow Twins happen to be above it): quarter-width
# encoders trained for a dozen epochs on a CPU. What carries over: (i) for our method the fused
# IMU+Skeleton representation beats each single modality by a wide margin — the paper's first
# claim; (ii) pre-training matters: the same frozen-encoder protocol on untrained encoders scores
# far lower, especially for the skeleton. What does not carry over here: our VICReg model does not
# beat CMC, multimodal Barlow Twins or the supervised network; these differ by 1-3 points,
# i.e. 6-12 of the 430 test recordings, from one seed. The skeleton encoder is the weak
# part at small scale (the supervised skeleton network is 30 points below the paper's).

# %% [markdown]
# ### Semi-supervised (Figure 5)
#
# A random fraction $p$ of the labelled training recordings; the pre-trained encoders stay
# frozen and only the fusion classifier sees the labels, while the supervised model trains its
# encoders from scratch on the same subset (with at least 100 optimisation steps, so that tiny
# subsets are not under-trained). Repeated with different subsets; bands are 95 % Student-t
# intervals over the repeats.

# %%
semi = protocol.semi_supervised(
    {
        "Ours": ours,
        "Barlow Twins": entries["barlow_imu_skeleton"],
        "CMC": entries["cmc_imu_skeleton"],
    },
    train,
    test,
    data.num_classes,
    cfg,
    dev,
    fractions=label_fractions,
    repeats=semi_repeats,
    seed=seed,
    supervised_min_steps=100,
)
fig = plots.semi_supervised_figure(label_fractions, {k: v["acc"] for k, v in semi.items()})
fig.show()

# %%
semi_table = pd.DataFrame(
    {name: [np.mean(a) for a in v["acc"]] for name, v in semi.items()},
    index=[f"{100 * p:g}%" for p in label_fractions],
)
print(f"mean test accuracy (%) over {semi_repeats} repeats, IMU+Skeleton")
display(semi_table.round(1))

# %% tags=["nbval-check-output"]
SEMI = [
    ("Ours", "10%", 57.0),
    ("Supervised", "10%", 61.8),
    ("Ours", "50%", 82.6),
    ("Supervised", "50%", 83.1),
]
print(
    regression.report(  # expected and tol as for Table 2: the AVX-512 run, 10 % of the value
        *(
            regression.band(
                f"{name}, {frac} of the labels: test accuracy (%)",
                semi_table.loc[frac, name],
                expected=e,
                tol=round(0.1 * e, 1),
            )
            for name, frac, e in SEMI
        ),
        *(
            regression.above(
                f"{name}, 1% of the labels: test accuracy (%)",
                semi_table.loc["1%", name],
                "chance (%)",
                chance,
            )
            for name in semi_table.columns
        ),
    )
)

# %% [markdown]
# In the stored run the paper's second claim is **not** reproduced: with 10 % of the labels the
# supervised network (given at least 100 optimisation steps) is ahead of the frozen self-supervised
# encoders, and with 1 % of the labels (4 recordings for 27 actions) every method is at 11-12 %
# (chance: 3.7 %). The paper's encoders were pre-trained for 100-200 epochs at full width; ours for
# 12 epochs at a quarter of the width, which leaves far less to transfer. The paper-scale run
# (`scale="paper"`) is the test of this claim.

# %% [markdown]
# ### Zero-shot (Table 3): actions hidden from pre-training
#
# The multimodal encoders are pre-trained without any recording of the hidden actions, then
# frozen; the classifier is fine-tuned on all 27 actions. At small scale one run hides actions
# 1, 2 and 5 together (swipe left, swipe right, throw) — a harder setting than the paper's one
# action at a time.

# %%
zero = {
    tuple(h): protocol.zero_shot(h, data_train, train, test, data.num_classes, cfg, dev, seed)
    for h in zero_shot_hidden
}

# %%
rows = []
for h, e in zero.items():
    rows.append(
        {
            "hidden actions": str(list(h)),
            "accuracy": e.acc,
            "F1": e.f1,
            "acc. on hidden actions": protocol.class_accuracy(test[2], e.pred, h),
            "same, encoders that saw them": protocol.class_accuracy(test[2], ours.pred, h),
        }
    )
display(pd.DataFrame(rows).set_index("hidden actions").round(1))

# %% tags=["nbval-check-output"]
print(
    regression.report(  # expected and tol as for Table 2: the AVX-512 run, 10 % of the value
        *(
            regression.band(f"hidden {list(h)}: test accuracy (%)", e.acc, expected=82.6, tol=8.3)
            for h, e in zero.items()
        ),
        *(
            regression.above(
                f"hidden {list(h)}: accuracy on the hidden actions (%)",
                protocol.class_accuracy(test[2], e.pred, h),
                "chance (%)",
                chance,
                margin=20,
            )
            for h, e in zero.items()
        ),
    )
)

# %% [markdown]
# Hiding actions from pre-training costs little: the fine-tuned classifier recognises the hidden
# actions about as well as with encoders that saw them, consistent with the paper's Table 3
# (there: 96.05 % with action 5 hidden vs 96.06 % without). At small scale this rests on 48 test
# recordings of the three hidden actions.

# %% [markdown]
# ### Recorded results: paper vs ours

# %%
h_key = tuple(zero_shot_hidden[0])
i10 = label_fractions.index(0.10) if 0.10 in label_fractions else len(label_fractions) // 2
metrics = protocol.key_metrics(entries, semi, i10)
metrics["zero_shot_acc_ours_imu_skeleton"] = zero[h_key].acc
results.save(
    "04_action",
    scale,
    metrics,
    paper=protocol.PAPER,
    device=dev,
    notes=protocol.NOTES,
    data=(
        "UTD-MHAD skeleton + inertial, real, complete (embedded), cross-subject test (subjects "
        "2,4,6,8)"
        if scale == "small"
        else "UTD-MHAD (full, data_root)"
    ),
)
display(results.table("04_action", scale, labels=protocol.METRIC_LABELS, decimals=1))

# %%
fig = plotting.bar_figure(
    table2.index.tolist(),
    {"ours (this run)": table2["acc (ours)"], "paper (Table 2)": table2["acc (paper)"]},
    "Table 2, UTD-MHAD: test accuracy",
    None,
    "accuracy (%)",
)
fig.show()

# %% [markdown]
# ### t-SNE of the learned representations (Figure 6) and confusion matrix (Figure 7)
#
# Frozen test-set features of Barlow Twins and of our method, per modality and fused
# (scikit-learn's t-SNE; colours are the 27 actions).

# %%
panels = {
    f"{name} ({protocol.LABELS[m]})": protocol.fused_features(
        entries[f"{key}_{m.replace('skeleton+imu', 'imu_skeleton')}"]
    )
    for name, key in (("Barlow Twins", "barlow"), ("Ours", "ours"))
    for m in ("imu", "skeleton", "skeleton+imu")
}
fig = plots.tsne_figure(panels, data_test.labels, seed=seed)

# %%
fig = plots.confusion_figure(
    test[2].numpy(),
    ours.pred,
    UTD_ACTIONS,
    f"Ours (IMU+Skeleton), UTD-MHAD test subjects, scale={scale}: accuracy {ours.acc:.1f}%",
)

# %% [markdown]
# ## Ablations at this scale
#
# The variance term of Eq. 16 removed, and the variance term averaged over the two branches (the
# VICReg reference code) instead of summed (Eq. 16, Algorithm 1). The embedding std is the mean
# per-dimension standard deviation of the frozen skeleton features: a value near 0 means collapse.

# %%
ablations = {"Eq. 16 (ours)": ours}
if run_ablations:
    for name, kw in [
        ("no variance (mu=0)", dict(mu=0.0)),
        ("variance averaged over branches", dict(branch_reduction="mean")),
    ]:
        ablations[name] = protocol.evaluate_ssl(
            "ours", ["skeleton", "imu"], train, test, data.num_classes, cfg.with_(**kw), dev, seed
        )

# %%
abl = pd.DataFrame(
    {
        name: {
            "accuracy": e.acc,
            "F1": e.f1,
            "skeleton feature std": float(e.test_features["skeleton"].std(0).mean()),
            "final variance term": e.history["variance"][-1],
        }
        for name, e in ablations.items()
    }
).T
display(abl.round(2))

# %% tags=["nbval-check-output"]
if run_ablations:  # expected and tol as for Table 2: the AVX-512 run, 10 % of the value
    # the collapsed model (no variance term) moves most: 51.2 (AVX2, pinned) vs 54.7 (AVX-512) vs
    # 48.8 (no SIMD); its band is centred on the pinned run with tol = 3x the largest spread
    ABL = [
        ("Eq. 16 (ours)", 84.7, 8.5),
        ("no variance (mu=0)", 51.2, 10.5),
        ("variance averaged over branches", 77.7, 7.8),
    ]
    print(
        regression.report(
            *(
                regression.band(
                    f"{name}: test accuracy (%)", abl.loc[name, "accuracy"], expected=e, tol=t
                )
                for name, e, t in ABL
            ),
            regression.above(
                "Eq. 16 (ours) accuracy (%)",
                abl.loc["Eq. 16 (ours)", "accuracy"],
                "no variance (mu=0) accuracy (%)",
                abl.loc["no variance (mu=0)", "accuracy"],
                margin=15,
            ),
            regression.band(
                "no variance (mu=0): final variance term (collapse: near 2)",
                abl.loc["no variance (mu=0)", "final variance term"],
                expected=1.96,
                tol=0.2,
            ),
        )
    )

# %% [markdown]
# Without the variance term the accuracy drops by about 30 points: nothing keeps the embeddings from
# shrinking towards a constant, the failure VICReg's hinge (Eq. 11) exists to prevent (the frozen
# *encoder* features keep their spread; the collapse is in the projected embeddings: the unweighted
# variance term ends near 1.98, its value for two fully collapsed branches). Averaging the two
# branches' variance terms, as the VICReg reference code does, also costs several points here
# compared with Eq. 16's sum.

# %% [markdown]
# ## Explore: augmentations
#
# The pre-training only ever sees augmented views (Eq. 7-8). Move the sliders to see a recording
# (any action, any training subject) under the skeleton and IMU augmentations at a chosen
# strength; the static figure after it shows strengths 0, 0.5, 1 and 2 for a fixed recording.

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt


def show_augmentation(action=1, strength=1.0):
    i = int(np.flatnonzero(data_train.labels == action - 1)[0])
    plots.augmentation_figure(data_train.skeleton[i], data_train.imu[i], [0.0, strength], seed=seed)
    plt.show()


plotting.explore(
    show_augmentation,
    action=widgets.IntSlider(1, 1, 27),
    strength=widgets.FloatSlider(1.0, min=0, max=3, step=0.25),
);  # fmt: skip

# %%
fig = plots.augmentation_figure(
    data_train.skeleton[100], data_train.imu[100], [0.0, 0.5, 1.0, 2.0], seed=seed + 1
)

# %% [markdown]
# ## Performance
#
# Cost of one pre-training step (forward, loss, backward) on a batch of the training set, our
# VICReg against the CMC and Barlow Twins baselines (same encoders), and inference of the frozen
# multimodal encoders against the supervised network — measured here, as ratios.

# %%
perf = protocol.time_steps(train, cfg, dev, seed, timing)
results.record_performance(
    "04_action",
    scale,
    "one pre-training step (batch 64)",
    "ours (VICReg)",
    "CMC",
    perf["medians"]["pre-train step, ours (VICReg)"],
    perf["medians"]["pre-train step, CMC"],
    quality=(
        "test accuracy (%)",
        metrics["acc_ours_imu_skeleton"],
        metrics["acc_cmc_imu_skeleton"],
        True,
    ),
)
print(pd.Series(perf["ratios"]).round(2).to_string())
print({k: f"{v * 1e3:.1f} ms" for k, v in perf["medians"].items()})

# %% [markdown]
# ## MMAct (paper scale only)
#
# MMAct (Kong et al., ICCV 2019; 2-D keypoints of the challenge release and phone IMU) is not
# embedded (licence). With `scale="paper"` and `data_root` holding `MMAct/`, the cell below runs
# ours and the supervised baseline on the cross-subject and cross-scene protocols (Table 2's
# MMAct columns) with Table 1's MMAct settings.

# %%
if scale == "paper" and mmact_available(data_root):  # MMAct is optional: absent, UTD-MHAD only
    mm = load_dataset("mmact", scale, data_root, num_steps=cfg.num_steps)
    mm_cfg = ActionConfig.paper("mmact")
    for proto in ("cross_subject", "cross_scene"):
        a, b = mmact_split(mm, proto)
        mu_, sd_ = imu_statistics(a.imu)
        tr_, te_ = to_tensors(a, mu_, sd_), to_tensors(b, mu_, sd_)
        o = protocol.evaluate_ssl(
            "ours", ["skeleton", "imu"], tr_, te_, mm.num_classes, mm_cfg, dev, seed
        )
        s_ = protocol.evaluate_supervised(
            ["skeleton", "imu"], tr_, te_, mm.num_classes, mm_cfg, dev, seed
        )
        print(
            f"MMAct {proto}: ours {o.acc:.2f}% / F1 {o.f1:.2f}; supervised {s_.acc:.2f}% / F1 "
            f"{s_.f1:.2f}"
        )
else:
    print(
        "MMAct runs at scale='paper' only, when data_root holds MMAct/ (see data/README.md); not "
        "run here."
    )

# %% [markdown]
# ## Deviations and limits
#
# - **Scale.** At `scale="small"` the encoders are a quarter as wide (HCN 16/8/8/16/32/64, IMU
#   8/16/32 channels), the IMU Transformer has one layer, the fusion layers 64 units, and every
#   network trains for a few epochs (unimodal 8, multimodal 12, supervised 12, fine-tuning 60) on 2
#   CPU cores instead of Table 1's 100-200 epochs on a GPU. All numbers are therefore far below the
#   paper's in absolute terms; what this scale can show is the *ordering* of methods on the real
#   test subjects, not the paper's accuracies. `scale="paper"` uses Table 1's settings.
# - **Unimodal "ours" (Eq. 5-6).** The paper describes unimodal pre-training with the
#   cross-correlation of Eq. 5, which (as printed) is a cosine along the batch *without* mean
#   removal, and also lists Barlow Twins as a separate baseline. We implement Eq. 5 literally (so it
#   differs from our Barlow Twins baseline, which standardises the batch); the discussion of
#   Table 2 in the paper (collapse "when calculating the standard deviation and variance") hints
#   that their unimodal runs may have used VICReg terms instead — the text does not settle it.
# - **Eq. 13 vs Algorithm 1.** Eq. 13 sums the squared distance over dimensions; Algorithm 1 uses
#   `mse_loss`, which also averages over dimensions (a factor $d$). We follow Algorithm 1 (and
#   VICReg), with $\lambda=\mu=25$, $\nu=1$ (the paper only says $\lambda=\mu>1$, $\nu=1$).
# - **Variance over branches.** Eq. 16 and Algorithm 1 add $v(Z^s)+v(Z^i)$; the VICReg reference
#   code (and `lightly`) average them. We add them, and the ablation shows the averaged variant.
# - **Unspecified details, our choices.** Resampling is linear interpolation; skeleton
#   normalisation subtracts the first frame's hip centre and divides by its torso length; IMU
#   channels are z-scored with training statistics; augmentation magnitudes are ours (see
#   `SkeletonAugment`, `IMUAugment`); the projection head is Linear-BN-ReLU-Linear (256 at paper
#   scale); the IMU Transformer uses sinusoidal positions, pre-norm layers and mean pooling, with
#   2 layers at paper scale; the HCN gets **batch norm after every convolution** (the original HCN
#   has none; without it the skeleton encoder barely learns in the small budget) and global average
#   pooling instead of HCN's flatten + fully connected layer.
# - **Fine-tuning** is done on features of the frozen encoders computed once, without augmentation.
# - **Semi-supervised.** The paper does not say whether pre-training also used only a fraction of
#   the data; we pre-train on all (unlabelled) training recordings and vary the labelled fraction.
#   The supervised model gets at least 100 optimisation steps on each subset. Repeats: 3 here, 10 in
#   the paper; the 95% intervals are Student-t intervals over repeats.
# - **Zero-shot.** At small scale actions 1, 2 and 5 are hidden together in one run; the paper
#   (Table 3) hides one action at a time (the paper-scale setting here).
# - **Not reproduced at small scale:** MMAct (not embedded: its licence forbids redistribution; the
#   loader for its published layout is tested on fixtures and runs at `scale="paper"`), the
#   per-class zero-shot table for the unimodal encoders, CMC-CMKM (a reproduced row of Table 2).
# - **Control.** The "untrained encoders" rows are not in the paper: they measure what the frozen
#   fine-tuning protocol reaches with no pre-training at all, so that a pre-training gain is a real
#   gain.
