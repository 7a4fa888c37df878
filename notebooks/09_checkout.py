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
# # 09 — Faster R-CNN for product checkout in intelligent vending machines
#
# **Paper.** Jianqiao Xu, Zhifeng Chen and Wei Fu, "Research on product detection and recognition
# methods for intelligent vending machines", *Frontiers in Neuroscience* 17 (2023),
# doi:10.3389/fnins.2023.1288908 {cite}`xu2023vending`.
#
# **Claim.** A vending machine can settle the bill from one camera image: a Faster R-CNN (Ren et al.
# 2017) with a ResNet-50 backbone, trained on *single-product* images taken from several viewpoints
# (the RPC retail-checkout set of Wei et al. 2019, arXiv:1901.07249) and tested on multi-product
# "checkout" trays at easy, medium and hard clutter, reaches AP = 0.59 and AP50 = 0.65 (COCO
# metrics, Table 1, epoch 40), with APs = APm = 0 because every product is large, at a speed
# acceptable for the machine. The images are shrunk about four times before training to fit an 8 GB
# GPU, and the predicted boxes multiplied back by four before scoring (Section 3.1).
#
# This chapter builds the paper's detector from torchvision's Faster R-CNN (`neurovis.checkout`),
# adding only what the paper specifies (its anchors, RPN sampling, cross-boundary rule and RoI max
# pooling), trains it from scratch on a generated RPC-like checkout set, scores it with pycocotools
# and with RPC's own checkout metrics, and compares it with a classical colour-blob pipeline.

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
# "small": generated RPC-like set, mini ResNet, CPU, ~3 minutes; "paper": RPC + ResNet-50 (GPU)
scale = "small"
# paper scale: folder holding RPC's instances_{train,val,test}2019.json and images
data_root = None
device = "auto"
seed = 0
num_classes = 8  # paper (RPC): 200
img_size = 112  # network input side; paper: ~450 (1,800-px photos shrunk ~4x)
factor = 4  # camera pixels per network pixel (the paper's "multiplied by four")
# single-product training images, cycling the four camera views; paper: 48,000 (RPC train)
n_train = 480
# checkout images per clutter level for validation; paper: 6,000 in all (RPC val)
n_val = 30
n_test = 40  # checkout images per clutter level for test; paper: 24,000 in all (RPC test)
# paper: 40 (Table 1 reports epochs 20-40); learning rate / 10 for the last epoch
num_epochs = 6
val_curve_images = None  # validation images scored after each epoch (None: all)
# ablation: also train on copy-paste trays made from the training images (RPC's remedy)
train_copy_paste = True

# %%
# Section 3-4: RPC, ResNet-50 from ImageNet weights, ~450-px inputs, 40 epochs, batch 4
if scale == "paper":
    num_classes, img_size, num_epochs, val_curve_images, train_copy_paste = 200, 448, 40, 600, False

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from neurovis.core import (
    check_scale,
    choose_device,
    embedded_path,
    environment_report,
    plotting,
    regression,
    results,
    seed_everything,
    set_threads,
    timing,
)
from neurovis import checkout as co
from neurovis.checkout import plots

CHAPTER = "09_checkout"
check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))

# %% [markdown]
# ## Data
#
# RPC {cite}`wei2019rpc` cannot be downloaded here, so the small scale uses a **generated** set with
# RPC's structure (`neurovis.checkout.data.generate`, seeded, made in this run):
#
# - a catalogue of products (packages, cans, bottles, pouches) whose classes share shapes or colours
#   and differ in body colour, label band and logo, so that neither cue alone names them;
# - **training**: one product per image at a random place and rotation, seen by RPC's four cameras
#   (top, 45°, 30°, horizontal — a foreshortening of the product), like RPC's single-product
#   training set;
# - **validation / test**: checkout trays seen from above at three clutter levels — *easy* 2–3
#   products that do not touch, *medium* 4–5 with up to 15 % of a product hidden, *hard* 6–8 with up
#   to 40 %;
# - COCO-format JSON with 1-based category ids and a `level` field per image, as RPC's
#   `instances_*2019.json`; boxes tight around each product's full outline in *camera* pixels
#   ($4\times$ the network's), so that the paper's shrink-then-multiply-by-four protocol applies.
#
# At `scale="paper"` the same code reads RPC from `data_root` (`co.load_rpc`).

# %%
if scale == "paper":
    train_set, val_set, test_set = (
        co.load_rpc(data_root, s, img_size) for s in ("train", "val", "test")
    )
    data_note = "RPC (full, from data_root)"
else:
    train_set = co.generate("train", n_train, num_classes, img_size, factor, seed=seed)
    val_set = co.generate("val", n_val, num_classes, img_size, factor, seed=seed)
    test_set = co.generate("test", n_test, num_classes, img_size, factor, seed=seed)
    data_note = "generated RPC-like checkout set (seeded, made in this run)"
names = {c["id"]: c["name"] for c in train_set.coco["categories"]}
for s in (train_set, val_set, test_set):
    print(
        f"{s.name}: {len(s)} images, {len(s.coco['annotations'])} products, levels "
        f"{dict(pd.Series(s.levels).value_counts())}"
    )

# %%
plots.samples(
    train_set, list(range(8)), names, [im.get("camera", "") for im in train_set.coco["images"][:8]]
);  # fmt: skip

# %%
first = {lv: test_set.levels.index(lv) for lv in co.LEVELS}
plots.samples(test_set, list(first.values()), names, [f"test, {lv}" for lv in first]);  # fmt: skip

# %% [markdown]
# **The COCO pipeline on real annotations.** The same loader, validator and pycocotools evaluation
# read the real MS COCO boxes of the embedded COCO-MINI subset {cite}`lin2014coco`
# (`data/embedded/coco-mini`, 79 val2017 images): scoring the ground truth as detections must give
# AP = 1.

# %% tags=["nbval-check-output"]
coco_real = co.load_coco_json(embedded_path("coco-mini", "annotations", "instances_val2017.json"))
gt_dets = [
    {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
    for a in coco_real["annotations"]
]
r = co.coco_evaluate(coco_real, gt_dets)
print(
    f"COCO-MINI val2017: {len(coco_real['images'])} images, {len(coco_real['annotations'])} boxes; "
    f"ground truth as detections: AP {r['ap']:.3f}, AP50 {r['ap50']:.3f}, AR100 {r['ar100']:.3f}"
)

# %% [markdown]
# ## Method
#
# **Backbone** (Section 3.2). The paper picks ResNet-50 over VGG16 for its larger receptive field,
# computed layer by layer from the output back to the input (Eq. 1, `co.receptive_field`):
#
# $$RF_i = (RF_{i-1} - 1)\cdot \mathrm{Stride}_i + \mathrm{Ksize}_i .$$
#
# The paper's 483 for ResNet-50 is the original network (stride in each stage's first 1×1
# convolution); torchvision's ResNet-50 puts the stride in the 3×3 convolution and sees 427 pixels.
# At small scale the backbone is a mini ResNet with the same anatomy (7×7/2 convolution, 3×3/2 max
# pooling, residual stages) and output stride 8, so that a 112-px image gives a 14×14 feature map
# and $9\times14\times14 = 1{,}764$ anchors — the paper's "approximately 1.7k".

# %% tags=["nbval-check-output"]
print(pd.Series(co.receptive_fields(), name="receptive field (px), Eq. 1").to_string())

# %% [markdown]
# **Region proposal network** (Section 3.3.1, `co.build_detector`, `co.CrossBoundaryRPN`). Nine
# anchors per feature-map point: sizes 128, 256, 512 (scaled with the image: 32, 64, 128 at 112 px)
# × ratios 1:2, 2:1, 1:1. Anchors that cross the image boundary are ignored; 64 of the rest are
# sampled, up to half positive, negatives filling the rest. The RPN loss (torchvision's
# `RegionProposalNetwork`) is
#
# $$L_{cls} = \begin{cases}-\log p & y = 1\\ -\log(1-p) & y = 0\end{cases}\ \text{(Eq. 2)},\qquad
# \mathrm{smooth}_{L1}(x) = \begin{cases}0.5x^2 & |x|<1\\ |x|-0.5 & \text{else}\end{cases}\
# \text{(Eq. 3)},$$
#
# $$L_{RPN} = \frac{1}{N_{cls}}\sum_i L_{cls} + \lambda\frac{1}{N_{reg}}\sum_i
#   p_i^{*}\,\mathrm{smooth}_{L1}(t_i^{*}-t_i)\ \text{(Eq. 4–5)}.$$
#
# **RoI pooling** (Section 3.3.2, `co.RoIMaxPool`): each proposal's region of the last feature map
# is cut into 7×7 cells and max-pooled, flattened and fed to the fully connected classification and
# box-regression heads; 64 RoIs per image are sampled for training. The whole detector's loss is
# `co.detection_loss`; it trains with SGD (momentum 0.9, weight decay $10^{-4}$, learning rate
# divided by 10 late in training) at batch 4 (Section 4.2) through the book's `fit`.
#
# How many of the anchors the cross-boundary rule removes at this image size:

# %%
cfg = (
    co.DetectorConfig.paper(num_classes)
    if scale == "paper"
    else co.DetectorConfig.small(
        num_classes, img_size, num_epochs=num_epochs, lr_milestones=(num_epochs - 1,)
    )
)
torch.manual_seed(seed)
model = co.build_detector(cfg)
print(
    f"{cfg.backbone}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; anchors "
    f"{cfg.anchor_sizes} x ratios {cfg.aspect_ratios}"
)
co.anchor_summary(model, img_size)

# %% [markdown]
# **Checkout metrics** (Wei et al. 2019, `co.checkout_metrics`). From the predicted and true count
# tables $P_{i,k}$, $G_{i,k}$ (products of class $k$ in image $i$, $N$ images, $K$ classes),
# counting the detections whose score passes a threshold chosen on *validation* images
# (`co.choose_threshold`):
#
# $$\mathrm{cAcc} = \frac1N\sum_i \delta\Big(\sum_k |P_{i,k}-G_{i,k}|,\,0\Big),\qquad
#   \mathrm{ACD} = \frac1N\sum_i\sum_k |P_{i,k}-G_{i,k}|,$$
#
# $$\mathrm{mCCD} = \frac1K\sum_k\frac{\sum_i |P_{i,k}-G_{i,k}|}{\sum_i G_{i,k}},\qquad
#   \mathrm{mCIoU} = \frac1K\sum_k\frac{\sum_i \min(P_{i,k},G_{i,k})}{\sum_i
#   \max(P_{i,k},G_{i,k})}.$$
#
# ## Baseline, then the method
#
# The baseline is the classical pipeline a vending machine could run without a detector network:
# foreground = pixels unlike the light tray, connected blobs, each blob named by the $k$ nearest
# colour histograms of the single-product training images (`co.ColourBlobDetector`: scikit-image +
# scikit-learn).

# %%
baseline = co.ColourBlobDetector().fit(train_set)
base_val = co.to_coco_detections(val_set, baseline.predict(val_set))
base_test = co.to_coco_detections(test_set, baseline.predict(test_set))

# %% [markdown]
# Faster R-CNN, trained from scratch on the single-product images; validation AP after every epoch:

# %%
with timing.Stopwatch() as train_clock:
    history = co.train_detector(
        model,
        train_set,
        cfg,
        dev,
        seed=seed,
        evaluate=co.val_evaluator(
            val_set if val_curve_images is None else val_set.subset(first=val_curve_images), dev
        ),
    )
preds_val, preds_test = co.predict(model, val_set, dev), co.predict(model, test_set, dev)
det_val, det_test = (
    co.to_coco_detections(val_set, preds_val),
    co.to_coco_detections(test_set, preds_test),
)

# %%
curve = pd.DataFrame(
    {
        "train loss": history["loss"],
        "val AP": history["val_ap"],
        "val AP50": history["val_ap50"],
        "val AP75": history["val_ap75"],
    },
    index=pd.RangeIndex(1, len(history["loss"]) + 1, name="epoch"),
)
display(curve.round(2))

# %% [markdown]
# Regression checks of the training (the book's test re-runs this chapter on other machines, whose
# float path moves the third digit of a trained model: these checks hold within bands, the table
# above shows this run's numbers):

# %% tags=["nbval-check-output"]
val_ap50 = history["val_ap50"]
print(
    regression.report(  # tol: 3 x the float-path spread measured, 0.31 (AVX2) vs 0.24 (SSE4.1)
        regression.band("val AP50 after the last epoch", val_ap50[-1], expected=0.31, tol=0.21),
        regression.above(
            "val AP50 after the last epoch",
            val_ap50[-1],
            "after the first epoch",
            val_ap50[0],
            margin=0.1,
        ),
    )
)

# %%
plots.over_epochs(history)

# %% [markdown]
# ## Results
#
# **COCO metrics on the test trays** (pycocotools, boxes multiplied by the downscale factor and
# scored in camera pixels, as in the paper), for the detector and the baseline, over all test images
# and per clutter level:

# %%
ap_det, ap_base = co.ap_by_level(test_set, det_test), co.ap_by_level(test_set, base_test)
cols = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100"]
ap_both = pd.concat({"Faster R-CNN": ap_det[cols], "colour-blob baseline": ap_base[cols]})
# a size range without ground-truth boxes is scored -1 by pycocotools: such columns are dropped
display(ap_both.loc[:, (ap_both != -1).any()].rename_axis(["test trays", "level"]).round(2))

# %% tags=["nbval-check-output"]
# tol: 3 x the float-path spread measured, AVX2 vs SSE4.1: AP50 0.29 vs 0.23, easy 0.76 vs 0.70. The
# detector's lead over the colour blobs on easy trays (0.76 vs 0.59 here) is too close to that
# spread to be checked.
det50 = ap_det["ap50"]
print(
    regression.report(
        regression.band("Faster R-CNN test AP50", det50["all"], expected=0.29, tol=0.18),
        regression.band(
            "Faster R-CNN test AP50, easy trays", det50["easy"], expected=0.76, tol=0.18
        ),
        regression.above(
            "Faster R-CNN AP50, easy trays",
            det50["easy"],
            "medium trays",
            det50["medium"],
            margin=0.2,
        ),
        regression.above(
            "Faster R-CNN AP50, medium trays",
            det50["medium"],
            "hard trays",
            det50["hard"],
            margin=0.1,
        ),
    )
)

# %% [markdown]
# **Checkout metrics** at the score threshold that maximises checkout accuracy on the validation
# trays (each method gets its own threshold; the test set never chooses anything):

# %%
thr_det, cacc_curve = co.threshold_on_validation(val_set, det_val)
thr_base, _ = co.threshold_on_validation(val_set, base_val)
chk_det, chk_base = (
    co.checkout_by_level(test_set, det_test, thr_det),
    co.checkout_by_level(test_set, base_test, thr_base),
)
print(f"threshold chosen on validation: Faster R-CNN {thr_det:.2f}, baseline {thr_base:.2f}")
display(pd.concat({"Faster R-CNN": chk_det, "colour blobs": chk_base}, axis=1).round(2))

# %% tags=["nbval-check-output"]
print(
    regression.report(  # tol: 3 x the float-path spread measured, 0.25 (AVX2) vs 0.30 (SSE4.1)
        regression.band(
            "Faster R-CNN checkout accuracy, easy trays",
            chk_det.loc["easy", "cacc"],
            expected=0.25,
            tol=0.15,
        ),
        regression.above(
            "Faster R-CNN mCIoU",
            chk_det.loc["all", "mciou"],
            "an empty bill's (0)",
            0.0,
            margin=0.05,
        ),
    )
)

# %% [markdown]
# **Reading the tables.** The detector learns: on easy trays its AP50 is far above chance and above
# the baseline's, and it orders the levels as the paper's Figures 6–8 suggest, easy > medium > hard.
# But trained on single products it finds few products on crowded trays, so whole bills are rarely
# right beyond the easy level — the paper's own "missed detections in multi-object scenarios". The
# ablations below show why and what fixes it.

# %%
plots.threshold_curve(np.round(np.arange(0.05, 0.96, 0.05), 2), cacc_curve, thr_det)

# %%
plots.per_level(
    list(co.LEVELS),
    {
        "Faster R-CNN AP50": ap_det.loc[list(co.LEVELS), "ap50"],
        "colour blobs AP50": ap_base.loc[list(co.LEVELS), "ap50"],
        "Faster R-CNN cAcc": chk_det.loc[list(co.LEVELS), "cacc"],
        "colour blobs cAcc": chk_base.loc[list(co.LEVELS), "cacc"],
    },
    "AP50 and cAcc",
)

# %% [markdown]
# **Detections per clutter level** (the paper's Figures 6–8): coloured boxes are the detections
# above the validation threshold with their scores, dashed black boxes the ground truth.

# %%
rows = [i for lv in co.LEVELS for i in [r for r, l in enumerate(test_set.levels) if l == lv][:2]]
plots.detections(
    test_set, preds_test, rows, thr_det, names, [f"{test_set.levels[i]} (test {i})" for i in rows]
);  # fmt: skip

# %% [markdown]
# ## Paper vs ours
#
# The paper's numbers are on RPC with an ImageNet-initialised ResNet-50 after 40 epochs (Table 1);
# ours on the generated set with a mini ResNet trained from scratch for a few epochs. They are side
# by side to show the protocol, not as a like-for-like comparison.

# %%
speed = {
    "images_per_second": co.images_per_second(model, test_set, dev, batch_size=1),
    "images_per_second_batch8": co.images_per_second(
        model, test_set, dev, batch_size=8, n_images=32
    ),
    "baseline_images_per_second": co.baseline_images_per_second(baseline, test_set),
}
metrics = {
    k: float(ap_det.loc["all", k])
    for k in ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar100"]
}
metrics |= {f"ap50_{lv}": float(ap_det.loc[lv, "ap50"]) for lv in co.LEVELS}
metrics |= {
    "checkout_acc": float(chk_det.loc["all", "cacc"]),
    "acd": float(chk_det.loc["all", "acd"]),
    "mccd": float(chk_det.loc["all", "mccd"]),
    "mciou": float(chk_det.loc["all", "mciou"]),
    "threshold": thr_det,
    "ap50_baseline": float(ap_base.loc["all", "ap50"]),
    "checkout_acc_baseline": float(chk_base.loc["all", "cacc"]),
    **speed,
    "train_seconds": train_clock.seconds,
}
paper = {
    "ap": (0.5921, "Table 1, epoch 40"),
    "ap50": (0.6484, "Table 1, epoch 40"),
    "ap75": (0.5866, "Table 1, epoch 40"),
    "ap_small": (0.0, "Table 1"),
    "ap_medium": (0.0, "Table 1"),
    "ap_large": (0.5921, "Table 1, epoch 40"),
}
notes = {
    "ap_small": "-1 = no ground truth in that size range (pycocotools)",
    "ap_medium": "-1 = no ground truth in that size range",
    "checkout_acc": f"threshold {thr_det:.2f} chosen on validation",
    "images_per_second": f"batch 1, {dev}, this machine",
    "ap50_baseline": "colour blobs + k-NN histograms",
    "train_seconds": f"{cfg.num_epochs} epochs, {dev}",
}
results.save(CHAPTER, scale, metrics, paper=paper, data=data_note, notes=notes, device=dev)

# %%
labels = {
    "ap": "AP",
    "ap50": "AP50",
    "ap75": "AP75",
    "ap_small": "AP small",
    "ap_medium": "AP medium",
    "ap_large": "AP large",
    "ar100": "AR100",
    "ap50_easy": "AP50 easy",
    "ap50_medium": "AP50 medium",
    "ap50_hard": "AP50 hard",
    "checkout_acc": "checkout accuracy (cAcc)",
    "acd": "ACD",
    "mccd": "mCCD",
    "mciou": "mCIoU",
    "ap50_baseline": "AP50, colour-blob baseline",
    "checkout_acc_baseline": "cAcc, colour-blob baseline",
}
table = results.table(CHAPTER, scale, labels=labels)
n_steps = cfg.num_epochs * -(-len(train_set) // cfg.batch_size)  # of the detector above
print(
    f"{scale.capitalize()} run: one seed, {n_steps:,} optimiser steps"
    + (
        " — a regression test and a quick look, not evidence; the reference run carries the "
        "evidence."
        if scale == "small"
        else "."
    )
)
display(table.drop(columns=[c for c in table.columns if c.startswith("ours (paper")]))

# %% [markdown]
# ## Ablations at this scale
#
# **Training data: single products (the paper) or checkout-like trays?** The detector above finds
# products on easy trays but misses most of them on medium and hard ones. Its proposals are not the
# problem (the RPN's boxes cover the products); its classification head, which during training saw
# every product alone on the tray and every partial view of one as background, calls a product
# touched by others "background". Wei et al.'s remedy for RPC is to synthesise checkout images from
# the single-product ones. `co.copy_paste` does the simplest version — cut each training product out
# (pixels unlike the empty tray), paste 2–8 of them on an empty tray, overlapping — and the same
# detector is trained on those trays with the same settings and budget (no test tray is used):

# %%
if train_copy_paste:
    cp_set = co.copy_paste(train_set, n_train, seed=seed)
    torch.manual_seed(seed)
    model_cp = co.build_detector(cfg)
    history_cp = co.train_detector(
        model_cp, cp_set, cfg, dev, seed=seed, evaluate=co.val_evaluator(val_set, dev)
    )
    det_val_cp = co.to_coco_detections(val_set, co.predict(model_cp, val_set, dev))
    preds_test_cp = co.predict(model_cp, test_set, dev)
    det_test_cp = co.to_coco_detections(test_set, preds_test_cp)
    thr_cp, _ = co.threshold_on_validation(val_set, det_val_cp)
    ap_cp, chk_cp = (
        co.ap_by_level(test_set, det_test_cp),
        co.checkout_by_level(test_set, det_test_cp, thr_cp),
    )

# %%
if train_copy_paste:
    both = pd.concat(
        {
            "single products (paper)": pd.concat(
                [ap_det[["ap", "ap50"]], chk_det[["cacc", "acd"]]], axis=1
            ),
            "copy-paste trays": pd.concat([ap_cp[["ap", "ap50"]], chk_cp[["cacc", "acd"]]], axis=1),
        },
        axis=1,
    )
    print(f"validation thresholds: single {thr_det:.2f}, copy-paste {thr_cp:.2f}")
    display(both.round(2))

# %% tags=["nbval-check-output"]
if train_copy_paste:
    print(
        regression.report(  # float-path spread 0.94 (AVX2) vs 0.93 (SSE4.1): tol = 10 % floor
            regression.band(
                "copy-paste training: test AP50", ap_cp.loc["all", "ap50"], expected=0.94, tol=0.1
            ),
            regression.above(
                "copy-paste training: test AP50, hard trays",
                ap_cp.loc["hard", "ap50"],
                "single-product training's",
                ap_det.loc["hard", "ap50"],
                margin=0.3,
            ),
        )
    )

# %%
if train_copy_paste:
    display(
        plotting.line_figure(
            range(1, cfg.num_epochs + 1),
            {
                "single products: val AP50": history["val_ap50"],
                "copy-paste trays: val AP50": history_cp["val_ap50"],
            },
            title="validation AP50 after each epoch",
            xlabel="epoch",
            ylabel="AP50",
        )
    )
    plots.detections(
        test_set,
        preds_test_cp,
        rows,
        thr_cp,
        names,
        [f"copy-paste model, {test_set.levels[i]}" for i in rows],
    );  # fmt: skip

# %% [markdown]
# Three more questions the paper raises, answered without retraining.
#
# **Why APs = APm = 0 in Table 1?** Because the boxes are scored in the photos' own pixels (after
# the multiply-by-four), where every product is larger than COCO's 96² "large" limit. Scoring the
# same detections in the network's shrunken pixels moves them into the small and medium ranges:

# %%
f = test_set.factor  # camera pixels per network pixel (4 here; about 4 for RPC)
det_net = [{**d, "bbox": [v / f for v in d["bbox"]]} for d in det_test]
coco_net = {
    **test_set.coco,
    "images": [
        {**im, "width": im["width"] / f, "height": im["height"] / f}
        for im in test_set.coco["images"]
    ],
    "annotations": [
        {**a, "bbox": [v / f for v in a["bbox"]], "area": a["area"] / f**2}
        for a in test_set.coco["annotations"]
    ],
}
size_abl = pd.DataFrame(
    {
        "camera pixels (x4, paper)": co.coco_evaluate(test_set.coco, det_test),
        "network pixels": co.coco_evaluate(coco_net, det_net),
    }
).T
display(size_abl[["ap", "ap50", "ap_small", "ap_medium", "ap_large"]].round(2))

# %% [markdown]
# The ground truth of the test trays by COCO size range (small < 32², medium < 96² ≤ large, in
# pixels²) in the two frames, and a check that only the size ranges move (IoU does not depend
# on the frame, so the overall AP must not):


# %% tags=["nbval-check-output"]
def by_size(coco):
    areas = pd.Series([a["area"] for a in coco["annotations"]])
    ranges = pd.cut(
        areas, [0, 32**2, 96**2, np.inf], right=False, labels=["small", "medium", "large"]
    )
    return ranges.value_counts().sort_index().to_dict()


sizes = {"camera pixels (x4, paper)": by_size(test_set.coco), "network pixels": by_size(coco_net)}
print(pd.DataFrame(sizes).T.rename_axis(columns="ground-truth boxes").to_string())
ap_shift = size_abl.loc["network pixels", "ap"] - size_abl.loc["camera pixels (x4, paper)", "ap"]
print(
    regression.report(
        regression.band(
            "AP in network pixels minus AP in camera pixels", ap_shift, expected=0, tol=0.01
        )
    )
)

# %% [markdown]
# **How many proposals does the detector need at test time?** The RPN keeps its top-$n$ boxes after
# NMS; fewer proposals are faster, too few miss products in crowded trays:

# %%
abl_rows, keep_n = [], model.rpn._post_nms_top_n["testing"]
for n in (5, 15, keep_n, 4 * keep_n):
    model.rpn._post_nms_top_n["testing"] = n
    d = co.to_coco_detections(test_set, co.predict(model, test_set, dev))
    abl_rows.append(
        {
            "proposals": n,
            **co.ap_by_level(test_set, d)["ap50"].to_dict(),
            "cAcc": co.checkout_by_level(test_set, d, thr_det).loc["all", "cacc"],
        }
    )
model.rpn._post_nms_top_n["testing"] = keep_n

# %%
display(
    pd.DataFrame(abl_rows)
    .set_index("proposals")
    .round(2)
    .add_prefix("AP50 ")
    .rename(columns={"AP50 cAcc": "cAcc"})
)

# %% [markdown]
# **Does choosing the threshold on validation matter?** Checkout accuracy on the test trays at the
# validation-chosen threshold against fixed thresholds:

# %%
thr_abl = pd.DataFrame(
    {
        f"{t:.2f}" + (" (validation)" if t == thr_det else ""): co.checkout_by_level(
            test_set, det_test, t
        )["cacc"]
        for t in sorted({0.3, 0.5, 0.9, thr_det})
    }
).T
display(thr_abl.round(2))

# %% [markdown]
# The copy-paste model's numbers join the chapter's results record:

# %%
if train_copy_paste:
    metrics |= {
        "ap_copy_paste": float(ap_cp.loc["all", "ap"]),
        "ap50_copy_paste": float(ap_cp.loc["all", "ap50"]),
        "ap50_hard_copy_paste": float(ap_cp.loc["hard", "ap50"]),
        "checkout_acc_copy_paste": float(chk_cp.loc["all", "cacc"]),
    }
    notes |= {
        "ap50_copy_paste": "ablation: trained on copy-paste trays (Wei et al.'s remedy, not this "
        "paper's)",
        "checkout_acc_copy_paste": f"threshold {thr_cp:.2f} chosen on validation",
    }
    results.save(CHAPTER, scale, metrics, paper=paper, data=data_note, notes=notes, device=dev)
    labels |= {
        "ap_copy_paste": "AP, copy-paste training",
        "ap50_copy_paste": "AP50, copy-paste training",
        "ap50_hard_copy_paste": "AP50 hard, copy-paste training",
        "checkout_acc_copy_paste": "cAcc, copy-paste training",
    }
results.table(CHAPTER, scale, labels=labels)

# %% [markdown]
# ## Explore
#
# Pick a clutter level, a test tray and a score threshold to see the detections (needs a running
# kernel; the static figure below shows the current values).

# %%
trained = {"single products (paper)": preds_test} | (
    {"copy-paste trays": preds_test_cp} if train_copy_paste else {}
)


def show(training="single products (paper)", level="hard", index=0, threshold=round(thr_det, 2)):
    rows_lv = [r for r, l in enumerate(test_set.levels) if l == level]
    i = rows_lv[min(index, len(rows_lv) - 1)]
    return plots.detections(
        test_set,
        trained[training],
        [i],
        threshold,
        names,
        [f"{training}: {level} tray {index}, threshold {threshold:.2f}"],
        size=4.5,
    )


plotting.explore(
    show,
    training=list(trained),
    level=list(co.LEVELS),
    index=(0, n_test - 1),
    threshold=(0.05, 0.95, 0.05),
);  # fmt: skip

# %% [markdown]
# ## Performance
#
# Inference speed measured in this run (median of 3 timed passes after a warm-up, on the device
# above), the detector against the colour-blob baseline on the same images:

# %%
results.record_performance(
    CHAPTER,
    scale,
    "inference, one test tray (batch 1)",
    "Faster R-CNN",
    "colour blobs + k-NN",
    1 / speed["images_per_second"],
    1 / speed["baseline_images_per_second"],
    quality=(
        "checkout accuracy (cAcc)",
        metrics["checkout_acc"],
        metrics["checkout_acc_baseline"],
        True,
    ),
)
print(
    f"Faster R-CNN: {speed['images_per_second']:.1f} images/s at batch 1, "
    f"{speed['images_per_second_batch8']:.1f} at batch 8 | "
    f"colour blobs: {speed['baseline_images_per_second']:.1f} images/s"
)
print(
    f"time per image, detector / baseline: "
    f"{timing.ratio(1 / speed['images_per_second'], 1 / speed['baseline_images_per_second']):.2f}"
    f"x; training took {train_clock.seconds:.0f} s for {cfg.num_epochs} epochs ({len(train_set)} "
    f"images, batch {cfg.batch_size})"
)

# %% [markdown]
# ## Deviations and limits
#
# - **Data.** RPC is not reachable here; the small scale runs on a generated set with RPC's
#   structure (single-product training images from four viewpoints, checkout trays at three clutter
#   levels, COCO JSON with 1-based ids and levels), 8 classes instead of 200, flat rendered products
#   instead of photographs. Its numbers say that the protocol and the detector work, not what RPC
#   would give. `scale="paper"` reads RPC's published files through the same code (`co.load_rpc`,
#   tested on a fixture in RPC's format); it has not been run for this book.
# - **Backbone and initialisation.** The paper starts ResNet-50 from ImageNet weights; weights
#   cannot be downloaded here, so the small scale trains a mini ResNet (stride 8, 2 M parameters)
#   from scratch for 6 epochs. `DetectorConfig.paper()` is the paper's ResNet-50 (with
#   `pretrained_backbone=True`). The paper's 7×7×2048 RoI features imply RoI pooling on the last
#   stage (C5, stride 32), which we follow.
# - **What the paper leaves open** and we chose: the learning rate (0.02 small, 0.01 paper), weight
#   decay ($10^{-4}$), the decay schedule (÷10 for the last of 6 epochs; at 30 and 36 of 40), the
#   IoU thresholds of the RPN (Ren et al.'s 0.7 / 0.3), gradient clipping at norm 10 (training from
#   scratch), the image-size ratio of the anchors (scaled with the image at small scale).
# - **Losses.** torchvision's RPN normalises both terms of Eq. 5 by the number of sampled anchors
#   and uses a smooth-L1 with $\beta = 1/9$ for the box term; the paper's $N_{reg}$ and $\lambda$
#   are not given. The paper's "multiply by four" is applied to the predicted boxes before scoring,
#   not inside the loss (the network regresses boxes in its own pixels).
# - **Cross-boundary anchors.** With the paper's anchors on a 14×14 map most anchors cross the
#   border (all of the largest size), so the RPN trains on the rest; at inference all anchors
#   propose, clipped.
# - **Clutter.** Trained on single products only (the paper's protocol), the detector loses most of
#   its AP on medium and hard trays, where products touch and hide each other, and the colour-blob
#   baseline is about as good on checkout accuracy (and better at strict IoU: its boxes hug the
#   blobs). The copy-paste ablation shows where the gap lies (the training data, not the detector)
#   and closes much of it; it is Wei et al.'s remedy, not this paper's, and is reported apart. How
#   the paper reaches AP50 = 0.65 on RPC's cluttered test images from single-product training is not
#   explained (ImageNet initialisation and real photographs surely help); the paper's own conclusion
#   mentions "missed detections in multi-object scenarios".
# - **Validation.** Our validation trays are generated with the same clutter levels as the test
#   trays (RPC's val split plays that role); they choose the checkout threshold and draw the
#   per-epoch curve, never the test set.
# - **Speed.** Measured on this machine's CPU with one thread at small scale; the paper reports no
#   number for its RTX 3070.
