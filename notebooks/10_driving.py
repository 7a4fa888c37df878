# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 — MSAAM: multi-scale adaptive attention for driving scenes
#
# **Paper.** D. Liu, D. Zhang, L. Wang, J. Wang, "Semantic segmentation of autonomous driving scenes
# based on multi-scale adaptive attention mechanism", *Frontiers in Neuroscience* 17 (2023) 1291674,
# doi:10.3389/fnins.2023.1291674 {cite}`liu2023msaam`.
#
# **Claim.** Human attention filters a scene by scale, place and feature. Putting the same three
# filters at the end of a DeepLabv3+ encoder — pyramid-pooling *scale* attention, CBAM-style
# *spatial* and *channel* attention, mixed by weights that a small GRU network adapts per image,
# trained with a loss that rewards contrasted attention — segments the safety-critical classes
# (signs, cars, pedestrians, cyclists: "Group 3") better, and makes the usual uncertainty scores
# (MSP, max logit, entropy, energy, standardized max logits) better at finding unknown obstacles on
# the road, at almost no extra cost. Reported: CamVid mIoU 55.87 and Group-3 IoUs 62.5–91.6 (Tables
# 1–2), Cityscapes mIoU 71.46 (Tables 3–4), anomaly AUROC 98.79 / AP 68.46 / FPR95 5.72 (Table 5),
# gains from adding MSAAM to each score (Table 6).
#
# This chapter implements MSAAM, DeepLabv3+, the anomaly scores and the auxiliary hierarchical
# representation in `neurovis.driving`, trains DeepLabv3+ with and without MSAAM from scratch on the
# real CamVid images, pastes COCO objects onto CamVid roads as anomalies (the Fishyscapes-Static
# recipe), and sets every measured number beside the paper's.

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
# "small": embedded CamVid at 160x120, CPU, ~4 minutes; "paper": full CamVid 480x360 (GPU)
scale = "small"
data_root = None  # folder holding CamVid/ (SegNet layout) or cityscapes/ for scale="paper"
# scale="paper": "camvid" (480x360, Tables 1-2) or "cityscapes" (1024x512, Tables 3-4)
paper_dataset = "camvid"
device = "auto"  # "auto" | "cpu" | "cuda" | "mps"
seed = 0
num_epochs = 10  # epochs per model (the paper: 80)
lam = 0.1  # lambda of the MSAAM loss (Eq. 7)
anomaly_height = (0.1, 0.25)  # pasted object height, as a fraction of the image height
pixel_stride = 2  # anomaly metrics on every 2nd row/column (all pixels at paper scale)
# scale="paper": e.g. "RoadAnomaly21", a SegmentMeIfYouCan-layout folder under data_root
anomaly_benchmark = None

# %%
# Sec. 4.2.1: ResNet-101, output stride 8, 80 epochs, batch 8, 512x512 crops
if scale == "paper":
    num_epochs, pixel_stride = 80, 1

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from neurovis.core import (
    check_scale,
    choose_device,
    environment_report,
    plotting,
    regression,
    results,
    seed_everything,
    set_threads,
    timing,
)
from neurovis.driving import (
    CAMVID_GROUPS,
    CITYSCAPES_GROUPS,
    TrainSettings,
    build_model,
    class_stats,
    confusion_matrix,
    embedded_camvid,
    embedded_coco_objects,
    evaluate_anomalies,
    evaluate_segmentation,
    gflops,
    hierarchical_representation,
    inference_time,
    load_anomaly_benchmark,
    load_cityscapes,
    paper_camvid,
    paste_anomalies,
    predict,
    segmentation_scores,
    train_segmenter,
)
from neurovis.driving.data import PAPER_ANOMALY, PAPER_MSAAM_GAINS, PAPER_SEGMENTATION
from neurovis.driving import plots
from neurovis.driving.baselines import anomaly_scores

CHAPTER = "10_driving"
check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))

# %% [markdown]
# ## Data
#
# **CamVid** {cite}`brostow2009camvid` with the SegNet split {cite}`badrinarayanan2017segnet`: all
# 367 training, 101 validation and 233 test images of Cambridge street scenes, 11 classes plus void.
# The embedded copy (`data/embedded/camvid`, see its `SOURCE.md`) is the real data downscaled to
# 160×120 (the paper trains at 480×360, which `scale="paper"` reads from `data_root`;
# `paper_dataset="cityscapes"` reads Cityscapes {cite}`cordts2016cityscapes`, `leftImg8bit` and
# `gtFine` with the 19 train ids, at 1024×512).
#
# **Anomalies.** CamVid has no unknown objects, so we make them as Fishyscapes Static
# {cite}`blum2021fishyscapes` does: a COCO object {cite}`lin2014coco` of a category CamVid does not
# have (animals, furniture, luggage…; no people, vehicles or street furniture), cut out along its
# instance polygon from the embedded COCO-mini, is pasted on each test image *entirely on road
# pixels*, and its mask is the pixel-exact anomaly label (void stays void).

# %%
dataset = "camvid" if scale == "small" else paper_dataset
if scale == "small":
    train, val, test = (embedded_camvid(s) for s in ("train", "val", "test"))
elif dataset == "camvid":
    train, val, test = (paper_camvid(data_root, s) for s in ("train", "val", "test"))
else:  # Cityscapes test labels are withheld: evaluate on val, as the paper does
    train, val = (load_cityscapes(data_root, s, size=(1024, 512)) for s in ("train", "val"))
    test = val
groups = CAMVID_GROUPS if dataset == "camvid" else CITYSCAPES_GROUPS
objects = embedded_coco_objects("val2017")
anom_images, anom_masks, pasted = paste_anomalies(
    test.images,
    test.labels,
    objects,
    np.random.default_rng(seed),
    height_frac=anomaly_height,
    road_id=train.classes.index("Road"),
)
print(
    f"CamVid train/val/test: {len(train)}/{len(val)}/{len(test)} images of "
    f"{tuple(train.images.shape[2:])}; {len(objects)} COCO cut-outs; "
    f"{sum(p is not None for p in pasted)} test images with a pasted anomaly, "
    f"{100 * float((anom_masks == 1).float().mean()):.2f}% of pixels"
)
plots.samples(train.images, train.labels, train.names, anom_images[0], anom_masks[0]);  # fmt: skip

# %% [markdown]
# ## Method
#
# DeepLabv3+ {cite}`chen2018deeplabv3plus` (`DeepLabV3Plus`: a timm ResNet encoder with dilated last
# stages, torchvision's ASPP, a decoder that fuses the stride-4 features) carries MSAAM at the end
# of its encoder (`MSAAM`, Fig. 2). On the encoder features $F_{in}$:
#
# **Scale attention** (`PyramidScaleAttention`, Eq. 1–2): pyramid pooling $P_i$ at 1, 2, 3 and 6
# bins, one 1×1 convolution $\omega_i$ per level, a softmax over positions (the pixels compete for
# a constant sum of attention):
#
# $$f^{sc}(F_{in}) = F_{in} + F_{in}\odot \mathrm{PSA}(F_{in}),\qquad
#   \mathrm{PSA}(F_{in}) = \mathrm{softmax}\Big(\sum_{i=1}^{N}\omega_i * P_i(F_{in})\Big).$$
#
# **Spatial attention** (`SpatialAttention`, Eq. 3): a non-local aggregation followed by CBAM's 7×7
# spatial gate {cite}`woo2018cbam`, and **channel attention** (`ChannelAttention`, Eq. 4):
#
# $$f^{sp}(F) = \sigma\Big(\mathrm{Conv}_{7\times7}\Big(\tfrac{1}{C(F)}\sum_{\forall j}
#   f(F_i,F_j)\,g(F_j)\Big)\Big),
#   \qquad f^{c}(F_{in}) = F_{in}\odot\sigma\big(W_3\,\delta(W_2\,\delta(W_1F_{in})) + b_3\big).$$
#
# **Adaptive weights** (`AdaptiveWeights`, Eq. 5–6): a GRU reads the three branches' pooled
# descriptors and a softmax turns its state into weights that sum to one,
#
# $$h_t = \mathrm{GRU}\big(W_{sc}f^{sc} + W_{sp}f^{sp} + W_cf^{c},\ h_{t-1}\big),\qquad
#   (\alpha_{sc},\alpha_{sp},\alpha_c) = \mathrm{softmax}(W_h h_t);$$
#
# the encoder output is $\alpha_{sc}f^{sc} + \alpha_{sp}f^{sp} + \alpha_cf^{c}$, and the combined
# attention map (CoAH, Eq. 11 below) also weights the decoder's low-level features and the final
# logits ("the network's predictive output is combined with MSAAM's attention map").
#
# **MSAAM loss** (`msaam_loss`, Eq. 7) adds the variances of the three attentions, which the paper
# wants *large* (a contrasted attention), so we subtract them:
#
# $$\mathcal L = \mathrm{CrossEntropy}(Y,\hat Y) - \lambda\,\big(\mathrm{Var}(\alpha_{sc}) +
#   \mathrm{Var}(\alpha_{sp}) + \mathrm{Var}(\alpha_c)\big).$$
#
# **Anomaly scores** (`neurovis.driving.baselines`), all from the logits of one network, no
# outlier data: $1-\max_k p_k$ (MSP {cite}`hendrycks2017msp`), $-\max_k l_k$ (max logit
# {cite}`hendrycks2022maxlogit`), the softmax entropy, the energy $-\log\sum_k e^{l_k}$
# {cite}`liu2020energy` and standardized max logits $-(\max_k l_k-\mu_c)/\sigma_c$ with class-wise
# statistics of the training images (SML {cite}`jung2021sml`).
#
# The small setting (`TrainSettings.small()`) against the paper's (`TrainSettings.paper()`):

# %%
settings = (
    TrainSettings.small(num_epochs=num_epochs, lam=lam)
    if scale == "small"
    else TrainSettings.paper(num_epochs=num_epochs, lam=lam)
)
pd.DataFrame(
    {"this run": vars(settings), "paper (Sec. 4.2.1)": vars(TrainSettings.paper())}
).astype(str)

# %% [markdown]
# ## Baseline, then the method
#
# The same DeepLabv3+ without MSAAM, then with it, trained from scratch with the same seed, data
# order, augmentation (flips, rescaling, ±10 brightness, crops), Adam with poly decay and number of
# epochs. The held-out validation mIoU is measured after every epoch.

# %%
val_miou = lambda m: {"val_mIoU": evaluate_segmentation(m, val, groups, dev)["mIoU"]}
bl, ms = "DeepLabv3+", "DeepLabv3+ + MSAAM"
models, history = {}, {}
for name, with_msaam in ((bl, False), (ms, True)):
    seed_everything(seed)
    models[name] = build_model(len(train.classes), settings, msaam=with_msaam)
    with timing.Stopwatch() as sw:
        history[name] = train_segmenter(
            models[name], train, settings, dev, seed=seed, desc=name, evaluate=val_miou
        )
    print(
        f"{name}: {sum(p.numel() for p in models[name].parameters()) / 1e6:.2f} M parameters, "
        f"trained in {sw.seconds:.0f} s"
    )

# %%
plotting.line_figure(
    range(1, num_epochs + 1),
    {n: h["val_mIoU"] for n, h in history.items()},
    title="Validation mIoU (%) after each epoch (CamVid val, held out)",
    xlabel="epoch",
    ylabel="mIoU (%)",
)

# %% [markdown]
# ## Results
#
# ### Segmentation (Tables 1–2 layout, CamVid test set)

# %%
seg = {n: evaluate_segmentation(m, test, groups, dev) for n, m in models.items()}
order = [c for cs in groups.values() for c in cs]
groups_of = {c: g for g, cs in groups.items() for c in cs}
iou = pd.DataFrame({n: s["iou"] for n, s in seg.items()}).T[order]
iou.columns = pd.MultiIndex.from_tuples([(groups_of[c], c) for c in iou.columns])
summary = pd.DataFrame(
    {
        n: {g: s[g] for g in groups} | {"ClassAvg": s["ClassAvg"], "mIoU": s["mIoU"]}
        for n, s in seg.items()
    }
).T

# %%
print(f"per-class IoU (%), {dataset} {'val' if dataset == 'cityscapes' else 'test'}:")
display(iou.round(1))
print("group mean IoU, ClassAvg (mean class accuracy) and mIoU (%):")
display(summary.round(1))

# %% [markdown]
# Regression checks (the book's test re-runs the chapter on other machines, whose float path moves
# a trained model's third digit: the checks hold within bands, the tables show this run's numbers).
# The trivial yardstick is the training set's most frequent class predicted at every pixel:

# %% tags=["nbval-check-output"]
K = len(train.classes)
known = train.labels[train.labels != 255].long().flatten()
majority = int(torch.bincount(known, minlength=K).argmax())
everywhere = torch.full_like(test.labels, majority)
trivial = segmentation_scores(confusion_matrix(everywhere, test.labels, K), train.classes, groups)
print(
    f"majority class of the training pixels: {train.classes[majority]}, "
    f"test mIoU {trivial['mIoU']:.1f} %"
)
# tol: ~10 % of the value; float-path spread 32.8 vs 32.4 and 29.5 vs 30.0 (AVX2 vs AVX-512)
print(
    regression.report(
        regression.band(f"test mIoU (%), {bl}", seg[bl]["mIoU"], expected=32.8, tol=3.5),
        regression.band(f"test mIoU (%), {ms}", seg[ms]["mIoU"], expected=29.5, tol=3.5),
        *[
            regression.above(
                f"test mIoU (%), {n}",
                seg[n]["mIoU"],
                "the majority class's",
                trivial["mIoU"],
                margin=15,
            )
            for n in seg
        ],
        *[
            regression.above(
                f"test Group 3 IoU (%), {n}",
                seg[n]["Group 3"],
                "the majority class's",
                trivial["Group 3"],
                margin=5,
            )
            for n in seg
        ],
    )
)

# %%
plotting.bar_figure(
    order,
    {n: [s["iou"][c] for c in order] for n, s in seg.items()},
    title="Per-class IoU on the held-out images (this run)",
    ylabel="IoU (%)",
)

# %% [markdown]
# Segmentations (the paper's Figure 4), with the SML anomaly map of the MSAAM model on the same
# image carrying a pasted object:

# %%
idx = [i for i, p in enumerate(pasted) if p is not None][:2]
lg = {n: predict(m, anom_images[idx], dev) for n, m in models.items()}
stats = {n: class_stats(m, train, dev) for n, m in models.items()}
for j, i in enumerate(idx):
    sml_map = anomaly_scores(lg[ms][j : j + 1], stats[ms])["SML"][0]
    plots.segmentations(
        anom_images[i],
        test.labels[i],
        {n: l[j].argmax(0) for n, l in lg.items()},
        sml_map,
        anom_masks[i],
        title=f"{test.names[i]}: pasted {pasted[i]['category']}",
    );  # fmt: skip

# %% [markdown]
# ### Anomaly segmentation (Tables 5–6)
#
# AUROC, AP (positives: pasted-object pixels; void excluded) and FPR95 (the false-positive rate at
# the first threshold where 95% of anomaly pixels are found), computed with scikit-learn's ROC
# curve, for every score with and without MSAAM.

# %%
anom = {
    n: evaluate_anomalies(m, anom_images, anom_masks, stats[n], dev, pixel_stride)
    for n, m in models.items()
}
anom_table = pd.concat({n: pd.DataFrame(a).T for n, a in anom.items()}, axis=1)
gain = anom_table[ms] - anom_table[bl]
# a real road-anomaly benchmark as well (SegmentMeIfYouCan layout)
if scale == "paper" and anomaly_benchmark:
    bx, bm, _ = load_anomaly_benchmark(
        data_root, anomaly_benchmark, size=tuple(test.images.shape[:1:-1])
    )
    display(
        pd.concat(
            {
                n: pd.DataFrame(evaluate_anomalies(m, bx, bm, stats[n], dev)).T
                for n, m in models.items()
            },
            axis=1,
        )
    )

# %%
print("anomaly metrics (%) on CamVid test with pasted COCO objects:")
display(anom_table.round(1))
print("gain from adding MSAAM (Table 6; FPR95: lower is better):")
display(gain.round(1))

# %% [markdown]
# A score that ranks pixels at random has AUROC 50 % and AP equal to the share of anomaly pixels:

# %% tags=["nbval-check-output"]
chance_ap = 100 * float(
    (anom_masks[:, ::pixel_stride, ::pixel_stride] == 1).sum()
    / (anom_masks[:, ::pixel_stride, ::pixel_stride] != 255).sum()
)
# tol: 3 x the float-path spread measured, 75.6 (AVX2) vs 78.4 (AVX-512). SML moved 62.1 vs 68.5:
# too float-path-sensitive at this budget for a band.
print(
    regression.report(
        regression.band(
            f"energy AUROC (%), {ms}", anom[ms]["Energy"]["AUROC"], expected=75.6, tol=8.5
        ),
        *[
            regression.above(
                f"energy AUROC (%), {n}", anom[n]["Energy"]["AUROC"], "chance (50)", 50, margin=10
            )
            for n in anom
        ],
        *[
            regression.above(
                f"energy AP (%), {n}",
                anom[n]["Energy"]["AP"],
                "chance (anomaly pixel share)",
                chance_ap,
                margin=1,
            )
            for n in anom
        ],
    )
)

# %% [markdown]
# ### Cost (Table 7)
#
# GFLOPs of one forward pass counted by torch's `FlopCounterMode` (a multiply-add = 2 FLOPs), at
# this run's resolution and, on the meta device (no compute), for the paper's configuration
# (ResNet-101, output stride 8, a 2048×1024 Cityscapes frame).

# %%
H, W = test.images.shape[2:]
flops = {n: gflops(m, (H, W)) for n, m in models.items()}
with torch.device("meta"):  # the paper's networks, built without memory or compute
    paper_nets = {
        n: build_model(19, TrainSettings.paper(pretrained=False), msaam=w)
        for n, w in ((bl, False), (ms, True))
    }
flops_paper = {n: gflops(m, (1024, 2048), device="meta") for n, m in paper_nets.items()}
cost = pd.DataFrame(
    {f"GFLOPs at {W}x{H} (this run)": flops, "GFLOPs, paper config at 2048x1024": flops_paper}
)

# %% tags=["nbval-check-output"]
print(cost.round(2).to_string())
print(
    "extra GFLOPs from MSAAM (%):",
    {k: round(100 * float(v[ms] / v[bl] - 1), 1) for k, v in cost.items()},
)

# %% [markdown]
# ### Paper vs ours
#
# The paper has no "DeepLabv3+ without MSAAM" row; for our baseline we show its SML row (SML scores
# a plain DeepLabv3+ without retraining). Paper segmentation rows are CamVid test (Tables 1–2;
# Cityscapes val, Tables 3–4, for a Cityscapes run); its anomaly rows are Table 5, on a benchmark
# the paper does not name. Ours: the CamVid test set (with pasted COCO objects for anomalies),
# trained from scratch at 160×120 for a few minutes.

# %%
P, src = PAPER_SEGMENTATION[dataset], PAPER_SEGMENTATION[dataset]["source"]
key = lambda c: c.lower().replace(" ", "_")
metrics, paper = {}, {}
for tag, name, row in (("msaam", ms, "MSAAM"), ("baseline", bl, "SML")):
    for m_, v in (("miou", "mIoU"), ("classavg", "ClassAvg")):
        metrics[f"{m_}_{tag}"], paper[f"{m_}_{tag}"] = seg[name][v], (P[row][v], f"{src}, {row}")
    metrics[f"group3_iou_{tag}"] = seg[name]["Group 3"]
    paper[f"group3_iou_{tag}"] = (
        float(np.mean([P[row][c] for c in groups["Group 3"]])),
        f"{src}, {row}, mean",
    )
    for m_ in ("AUROC", "AP", "FPR95"):
        metrics[f"{m_.lower()}_sml_{tag}"] = anom[name]["SML"][m_]
        paper[f"{m_.lower()}_sml_{tag}"] = (PAPER_ANOMALY[row][m_], f"Table 5, {row}")
    for c in order:
        metrics[f"iou_{key(c)}_{tag}"], paper[f"iou_{key(c)}_{tag}"] = (
            seg[name]["iou"][c],
            (P[row][c], f"{src}, {row}"),
        )
for score, g in PAPER_MSAAM_GAINS.items():  # Table 6: gains from adding MSAAM to each score
    for m_ in ("AUROC", "AP", "FPR95"):
        metrics[f"gain_{m_.lower()}_{key(score)}"] = float(gain.loc[score, m_])
        paper[f"gain_{m_.lower()}_{key(score)}"] = (g[m_], "Table 6")
metrics |= {
    "gflops_msaam": flops[ms],
    "gflops_baseline": flops[bl],
    "gflops_paper_config_msaam": flops_paper[ms],
    "gflops_paper_config_baseline": flops_paper[bl],
}
paper["gflops_paper_config_msaam"] = (2117.01, "Table 7")
notes = {
    "miou_msaam": f"{dataset}, {len(train.classes)} classes",
    "group3_iou_msaam": ", ".join(groups["Group 3"]),
    "auroc_sml_msaam": "ours: pasted COCO objects on roads",
    "fpr95_sml_msaam": "FPR at TPR 95%",
    "gflops_msaam": f"one {W}x{H} frame",
    "gflops_paper_config_msaam": "ResNet-101 OS8, 2048x1024, meta device",
}
data_note = {
    "small": "CamVid SegNet split (embedded, real, 160x120) + COCO-mini val2017 cut-outs "
    "(embedded, real)",
    "paper": f"{dataset} from data_root + COCO-mini val2017 cut-outs",
}[scale]
results.save(CHAPTER, scale, metrics, paper=paper, data=data_note, notes=notes, device=dev)

# %%
keys = [k for k in metrics if not k.startswith(("iou_", "gain_"))]
table = results.table(CHAPTER, scale, labels={k: k for k in keys}, decimals=1)
n_steps = num_epochs * (len(train) // settings.batch_size)  # per model; last partial batch dropped
print(
    f"{scale.capitalize()} run: one seed, {n_steps:,} optimiser steps per model"
    + (
        " — a regression test and a quick look, not evidence; the reference run carries the "
        "evidence."
        if scale == "small"
        else "."
    )
)
display(table.drop(columns=[c for c in table.columns if c.startswith("ours (paper")]))

# %% [markdown]
# Per-class IoU beside the paper's (Tables 1–2 layout; paper rows: MSAAM and SML):

# %%
per_class = results.table(
    CHAPTER,
    scale,
    labels={
        f"iou_{key(c)}_{t}": f"{groups_of[c]} | {c} | {t}"
        for c in order
        for t in ("msaam", "baseline")
    },
    decimals=1,
)
per_class.drop(columns="notes")

# %% [markdown]
# Gains from adding MSAAM to each score (Table 6; ours: MSAAM model minus baseline, so a negative
# FPR95 gain is an improvement — the paper lists positive FPR95 "gains" and does not say which sign
# it means):

# %%
results.table(
    CHAPTER,
    scale,
    labels={
        f"gain_{m_.lower()}_{key(sc)}": f"{sc} + MSAAM: {m_}"
        for sc in PAPER_MSAAM_GAINS
        for m_ in ("AUROC", "AP", "FPR95")
    },
    decimals=2,
).drop(columns="notes")

# %% [markdown]
# **Reading the small-scale run.** The gains from MSAAM in the anomaly table above are not stable at
# this budget: with one seed their signs change with the CPU's float path (a run of this chapter on
# AVX-512 kernels improved all five scores; the pinned AVX2 run improves only some), so the small
# run cannot speak to the paper's Table 6 — the reference run, over several seeds, can. The
# segmentation itself, Group 3 included, is *not* better than the plain DeepLabv3+ in this run,
# unlike Tables 1–2. Both networks are small and trained for minutes from scratch,
# far from the paper's absolute numbers; MSAAM adds under 1% GFLOPs here and about 2.4% in the
# paper's configuration (the target was at most 10%).

# %% [markdown]
# ## Ablations at this scale
#
# The paper's ablation (Table 6) is the with/without comparison above. Two more that cost no
# training: the final fusion of the logits with the attention map switched off in the trained MSAAM
# model ($\gamma = 0$), and the learned fusion weights $\alpha$ — do they differ between images, as
# the adaptive weighting intends? Scaling a pixel's logits by $(1+\gamma\,\mathrm{CoAH}) > 0$ cannot
# change their arg-max, so the output fusion leaves the segmentation as it is and acts only on the
# confidence that the anomaly scores read.

# %%
m = models[ms]
gamma = m.gamma.data.clone()
m.gamma.data.zero_()
seg_nofuse = evaluate_segmentation(m, test, groups, dev)
anom_nofuse = evaluate_anomalies(
    m, anom_images, anom_masks, class_stats(m, train, dev), dev, pixel_stride
)["SML"]
m.gamma.data.copy_(gamma)
_, alpha, _ = predict(m, test.images, dev, attention=True)

# %%
abl = pd.DataFrame(
    {
        "MSAAM (full)": {
            "mIoU": seg[ms]["mIoU"],
            "Group 3": seg[ms]["Group 3"],
            "SML AUROC": anom[ms]["SML"]["AUROC"],
        },
        "MSAAM, no output fusion (gamma=0)": {
            "mIoU": seg_nofuse["mIoU"],
            "Group 3": seg_nofuse["Group 3"],
            "SML AUROC": anom_nofuse["AUROC"],
        },
    }
).T
display(abl.round(1))
print(
    f"learned gamma = {float(gamma):.2f}; alpha (scale, spatial, channel) over the test images: "
    f"mean {alpha.mean(0).numpy().round(2)}, std {alpha.std(0).numpy().round(3)}"
)

# %% tags=["nbval-check-output"]
# the output fusion cannot change an arg-max (see above): the mIoU must not move
print(
    regression.report(
        regression.band(
            "mIoU without the output fusion minus with it",
            seg_nofuse["mIoU"] - seg[ms]["mIoU"],
            expected=0,
            tol=0.05,
        ),
        regression.below(
            "largest std of alpha over the test images",
            float(alpha.std(0).max()),
            "0.05 (a fixed mix)",
            0.05,
        ),
    )
)

# %% [markdown]
# ## Explore: the auxiliary hierarchical representation (Figure 3)
#
# For a test image: the scale, spatial and channel highlights (Eq. 8–10)
#
# $$\mathrm{ScAH}_{ij} = \sum_s\alpha_{sc}f^{sc}_{s,ij},\qquad \mathrm{SpAH}_{ij} =
#   \alpha_{sp}f^{sp}_{ij},\qquad
#   \mathrm{CAH}_{ij} = \sum_c\alpha_c f^c_{c,ij},$$
#
# their combination
# $\mathrm{CoAH} = \alpha_{sc}\mathrm{ScAH} + \alpha_{sp}\mathrm{SpAH} + \alpha_c\mathrm{CAH}$ (Eq.
# 11, `highlights`), and the rectangle of highest average attention (Eq. 12)
#
# $$AW = \frac{1}{(x_2-x_1+1)(y_2-y_1+1)}\sum_{i=x_1}^{x_2}\sum_{j=y_1}^{y_2}\mathrm{CoAH}_{ij},$$
#
# found exactly over every rectangle with sides at least a quarter of the map
# (`max_average_rectangle`; without a minimum size the answer is always a single pixel). Pick an
# image (needs a running kernel; the static figure shows the first).


# %%
def show(image=0):  # Figure 3 for one CamVid test image (with its pasted object)
    r = hierarchical_representation(models[ms], anom_images[image], dev)
    a = r["alpha"]
    return plots.attention(
        anom_images[image],
        {k: r[k] for k in ("ScAH", "SpAH", "CAH", "CoAH")},
        r["rect"],
        title=f"{test.names[image]}: alpha = ({a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f})",
    )


plotting.explore(show, image=(0, len(test) - 1));  # fmt: skip

# %% [markdown]
# ## Performance
#
# Inference time of one frame (batch 1) measured in this run on this machine, MSAAM against the
# same network without it (the paper's Table 7 reports 61.06 ms for MSAAM on its GPU).

# %%
t = {n: inference_time(m, (H, W), dev, repeats=20) for n, m in models.items()}
results.record_performance(
    CHAPTER,
    scale,
    f"inference, one {W}x{H} frame",
    ms,
    bl,
    t[ms],
    t[bl],
    quality=("test mIoU (%)", metrics["miou_msaam"], metrics["miou_baseline"], True),
)
print(
    {n: f"{1000 * v.median:.1f} ms" for n, v in t.items()},
    f"| MSAAM / baseline time ratio: {timing.ratio(t[ms], t[bl]):.2f}",
)

# %% [markdown]
# ## Deviations and limits
#
# - **Scale.** 160×120 images, a narrow ResNet (one BasicBlock per stage, 16–128 channels, output
#   stride 16) trained from scratch for a few epochs instead of an ImageNet-pretrained ResNet-101 at
#   output stride 8 for 80 epochs: absolute numbers are far below the paper's; the chapter shows the
#   comparison at an equal budget, and `scale="paper"` runs the paper's setting.
# - **One seed.** Differences of a point or two between the two models are within what another seed
#   could change at this scale; the paper reports single runs too.
# - **Anomaly data.** The paper's anomaly benchmark is not named (it trains on Cityscapes; Table 5
#   matches Fishyscapes-style results). Ours is a Fishyscapes-Static-like set on CamVid: one COCO
#   object per test image, pasted without blending, 10–25% of the image height. Our AUROC/AP/FPR95
#   are not comparable in absolute terms with Table 5. `load_anomaly_benchmark` reads
#   SegmentMeIfYouCan-style sets from `data_root` for a paper-scale evaluation. At small scale the
#   metrics use every second row and column (about 1.1 M pixels).
# - **SML** without the boundary suppression and dilated smoothing of the original method.
# - **Ambiguities we resolved.** (1) Eq. 7 writes $+\lambda\,\mathrm{Var}$ but the text wants a
#   *higher* variance: we subtract it; the variances are of the three attention maps over their
#   elements (pixels for scale and spatial, channels for channel), all in [0, 1]. (2) The PSA
#   softmax is scaled by its maximum so the map lies in (0, 1] (a raw softmax over thousands of
#   pixels would make $F\odot\mathrm{PSA}$ vanish). (3) Eq. 5's "time" $t$: the GRU iterates twice
#   on the same pooled descriptors from $h_0 = 0$. (4) "Combined with the attention map": logits are
#   scaled by $(1+\gamma\,\mathrm{CoAH})$ with a learned $\gamma$ (initialised at 0), and the
#   decoder's low-level features by $(1+\mathrm{CoAH})$. (5) Eq. 3's non-local term pools its keys
#   to at most 1024 positions on large maps. (6) The sums over scales and channels in Eq. 8 and 10
#   are means.
# - **The paper's own numbers.** Its CamVid MSAAM row (Tables 1–2) lists per-class IoUs whose mean
#   is 78.6, yet reports mIoU 55.87; we show both as printed.
# - **GFLOPs.** torch counts a multiply-add as 2 FLOPs; the paper's 2117 GFLOPs for ResNet-101
#   DeepLabv3+ with MSAAM is close to half our 4262 for the same configuration at 2048×1024, so the
#   paper most likely counts multiply-accumulates. The relative cost of MSAAM is what compares.
# - **Adaptive weights.** At this scale the learned $\alpha$ hardly vary from image to image (see
#   the standard deviations in the ablation): the GRU learned a fixed mix, not a per-image choice.
# - **Class balance.** At small scale the cross-entropy uses square-root median-frequency class
#   weights (for both models); the paper does not say.
# - **Baselines.** Synboost, SynthCP and Meta-OoD need extra networks or outlier training and are
#   not run; their paper rows are in the paper's Tables 1–5.
