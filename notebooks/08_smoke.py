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
# # 08 — Surgical smoke classification with an improved PoolFormer
#
# **Paper.** Wang et al., *Endoscopic smoke image classification with an improved Poolformer*
# ({cite}`wang2023smoke`), Frontiers in Neuroscience 17:1273686, 2023,
# DOI [10.3389/fnins.2023.1273686](https://doi.org/10.3389/fnins.2023.1273686).
#
# **Claim.** Desmoking every frame of an endoscopic video wastes compute and degrades smoke-free
# frames; a fast classifier should first say *which* frames hold smoke. The paper builds it on
# PoolFormer: a convolutional tokenizer, MetaFormer encoder blocks whose token mixer is a
# ConvNeXt-like **multi-branch** convolution during training, **re-parameterised into a single
# path** for inference (RepVGG-style), sequence pooling and a linear classifier. On 5,000 Hamlyn
# frames with Blender-rendered smoke it reports 95.9 % accuracy and 83.5 % sensitivity at
# 87.1 fps, +2.3 % accuracy and +8.2 % sensitivity over PoolFormer-S12 at 6.4 fps less.
#
# This chapter rebuilds the model and its re-parameterisation, composites rendered smoke onto
# **real** laparoscopic frames as the paper does, trains the model and the paper's baselines from
# scratch, tests the classifiers on **real** smoky video (DeSmoke-LAP) they never saw, and runs
# the targeted-desmoking pipeline the paper motivates.

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
# "small": embedded real frames + rendered smoke, CPU; "paper": Hamlyn frames from data_root
scale = "small"
data_root = None  # paper scale: folder holding hamlyn/ (videos or frames; see data/README.md)
device = "auto"
seed = 0
img_size = 64  # paper: 224
n_train = 400  # paper: 3,800 (4:1 smoke-free to smoke)
n_test = 200  # paper: 1,200
num_epochs = 8  # paper: 50
seeds = [0, 1]  # seeds for ours and PoolFormer-S12 (paper: averages of 5 runs)
run_ablations = True  # our architecture with PoolFormer's mixer / with one plain depthwise conv

# %%
if scale == "paper":
    img_size, n_train, n_test, num_epochs, seeds = 224, 3800, 1200, 50, [0, 1, 2, 3, 4]

# %% [markdown]
# ## Setup

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from scipy.stats import spearmanr
from neurovis.core import (
    choose_device,
    seed_everything,
    set_threads,
    environment_report,
    check_scale,
    regression,
    results,
    timing,
    plotting,
)
from neurovis import smoke
from neurovis.smoke import plots

check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))

# %% [markdown]
# ## Data: real laparoscopic frames, rendered smoke, real smoky clips
#
# The paper's Hamlyn frames are not public in reach, so at small scale the book embeds two real
# sets (see `data/embedded/*/SOURCE.md`):
#
# * `lap_frames/`: 256x256 frames of one real laparoscopic scene from Salazar-Colores et al.
#   ({cite}`salazar2020desmoking`). Several of them *do* contain real smoke, so we sort them by
#   their mean dark channel (`haze_score`): the 13 clearest are the smoke-free **base frames**,
#   the 7 haziest a same-scene **real-smoke test**, the 5 in between are left out.
# * `desmoke_lap/`: the 10 real smoky clips (50 frames each) of DeSmoke-LAP
#   ({cite}`pan2022desmoke`), from Cholec80 cholecystectomies: the **out-of-distribution** test.

# %%
clear, real_smoky = smoke.load_lap_frames("clear"), smoke.load_lap_frames("smoky")
clips = smoke.load_smoky_clips()
print("haze score, base frames:", {k: round(smoke.haze_score(v), 3) for k, v in clear.items()})
print(
    "haze score, real smoky frames:",
    {k: round(smoke.haze_score(v), 3) for k, v in real_smoky.items()},
)
print(f"{len(clips)} real smoky clips x {len(next(iter(clips.values())))} frames")
fig = plotting.image_grid(
    [clear[4], clear[24], real_smoky[16], real_smoky[20]]
    + [c[25] for c in list(clips.values())[:4]],
    ["base 4", "base 24", "real smoke 16", "real smoke 20"] + list(clips)[:4],
    ncols=4,
)

# %% [markdown]
# **Rendered smoke (Eq. 1-2).** The paper renders smoke in Blender with a random intensity
# $T_{rand}$, density $D_{rand}$ and position $P_{rand}$, with local colour and transparency, and
# fuses it with the clear frame:
#
# $$I_{smoke}(x, y) = \mathrm{Render}(T_{rand}, D_{rand}, P_{rand}) \qquad (1)$$
#
# $$I_{s}(x, y) = I_{original}(x, y) \oplus I_{smoke}(x, y) \qquad (2)$$
#
# We render procedurally (`render_smoke`): transparency $\alpha = T \cdot g_P \cdot s_D(n)$, a
# Gaussian plume $g_P$ centred at $P$ times a smooth threshold of multi-octave noise $n$
# (`fractal_noise`) that lets a fraction $\approx D$ of it through, with a light, locally tinted
# colour $c$; the fusion $\oplus$ is transparency blending
# $I_s = (1-\alpha) I_{original} + \alpha c$ (`composite`), which keeps the image range. Train and
# test sets are crops of *different* base frames (`small_split`: frames 4, 8, 12, 24 are test only),
# 4:1 smoke-free to smoke as in the paper.

# %%
if scale == "paper":
    train_set, test_set = smoke.paper_split(data_root, img_size, rng)
    data_note = "Hamlyn frames (full, from data_root) + rendered smoke"
else:
    train_set, test_set = smoke.small_split(img_size, n_train, n_test, rng)
    data_note = "real laparoscopic frames (embedded, Salazar-Colores) + rendered smoke (generated)"
print(
    f"train {len(train_set)} ({train_set.labels.sum()} smoke) | test {len(test_set)} "
    f"({test_set.labels.sum()} smoke) "
    f"| {img_size} px | base frames train {sorted(set(train_set.frame_ids.tolist()))} test "
    f"{sorted(set(test_set.frame_ids.tolist()))}"
)
fig = plots.sample_grid(
    test_set, 4, "held-out samples: smoke-free (top) and rendered smoke (bottom)"
)

# %% [markdown]
# ## Method
#
# **Tokenizer** (Sec. 2.2, Fig. 2; `ConvTokenizer`): conv, GELU, max-pool, a ResNet basic block,
# and a conv that yields the token grid (stride 4 overall). **Encoder** (Sec. 2.3, Fig. 3A;
# `MetaFormerBlock`), $L$ blocks of
#
# $$X' = X + s_1 \odot \mathrm{Mixer}(\mathrm{Norm}(X)), \qquad Y = X' + s_2 \odot
#   \mathrm{MLP}(\mathrm{Norm}(X')).$$
#
# PoolFormer's mixer is $\mathrm{AvgPool}(X) - X$ (`PoolMixer`). The paper's RepConvNeXt mixer
# (Fig. 3C, 5; `RepConvNeXtMixer`) is, during training, a sum of depthwise branches, each with
# batch norm:
#
# $$\mathrm{Mixer}(X) = \mathrm{BN}_7(W_7 \ast X) + \mathrm{BN}_3(W_3 \ast X) + \mathrm{BN}_1(W_1
#   \ast X) + \mathrm{BN}_{id}(X).$$
#
# **Single path** (Sec. 2.4, Fig. 6; `RepConvNeXtMixer.reparameterize`,
# `SmokeFormer.reparameterize`). In eval mode each
# $\mathrm{BN}(W \ast X) = \tfrac{\gamma}{\sigma} W \ast X + \beta - \tfrac{\mu\gamma}{\sigma}$
# (`fuse_conv_bn`); kernels are zero-padded to 7x7 and summed, the identity is a centred delta
# kernel and the layer scale $s_1$ multiplies the result, so each mixer becomes **one** depthwise
# 7x7 convolution with bias. **Head** (Sec. 2.5; `SequencePooling`):
# $z = \mathrm{softmax}(X g)^\top X$, then a linear classifier. **Metrics** (Sec. 4.1; `acc_sens`),
# smoke positive:
#
# $$\mathrm{Acc} = \frac{TP + TN}{TP + FN + FP + TN} \quad (3) \qquad \mathrm{Sens} = \frac{TP}{TP
#   + FN} \quad (4)$$

# %%
model_demo = smoke.build_model("ours", scale, img_size).eval()
for m in model_demo.modules():  # non-trivial BN statistics, so that the check means something
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.normal_(0, 0.5)
        m.running_var.uniform_(0.5, 2.0)
        m.weight.data.normal_(1, 0.3)
        m.bias.data.normal_(0, 0.3)
fused_demo = model_demo.reparameterize()
x = torch.randn(8, 3, img_size, img_size)
with torch.no_grad():
    err32 = smoke.relative_max_error(fused_demo(x), model_demo(x))
    err64 = smoke.relative_max_error(
        model_demo.double().reparameterize()(x.double()), model_demo.double()(x.double())
    )
print(f"single path vs multi-branch, max|diff|/max|out|: float32 {err32:.1e}, float64 {err64:.1e}")

# %% tags=["nbval-check-output"]
print(
    f"convs: multi-branch {smoke.count_convs(model_demo)}, single path "
    f"{smoke.count_convs(fused_demo)} | "
    f"float32 error <= 1e-5: {err32 <= 1e-5} | float64 error <= 1e-10: {err64 <= 1e-10}"
)

# %% [markdown]
# ## Baselines, then the method
#
# All models are trained from scratch on the same data with the same budget (Sec. 3.3: Adam-type
# optimiser at an initial learning rate of 1e-3 with exponential decay, random horizontal flips;
# `fit_model` uses the book's training loop). At small scale the baselines keep their families at
# CPU widths (`baselines.describe`). PoolFormer-S12 and ours are repeated over `seeds`.

# %%
settings = (
    smoke.TrainSettings.paper() if scale == "paper" else smoke.TrainSettings(num_epochs=num_epochs)
)
runs = []
for name in ["mobilenet_v3", "efficientnet", "vit"]:
    runs.append(
        smoke.fit_model(
            name, train_set, test_set, settings, dev, seed=seeds[0], scale=scale, img_size=img_size
        )
    )
for s in seeds:
    runs.append(
        smoke.fit_model(
            "poolformer_s12",
            train_set,
            test_set,
            settings,
            dev,
            seed=s,
            scale=scale,
            img_size=img_size,
        )
    )
for s in seeds:
    runs.append(
        smoke.fit_model(
            "ours", train_set, test_set, settings, dev, seed=s, scale=scale, img_size=img_size
        )
    )

# %%
from neurovis.smoke.baselines import describe

for name in ["mobilenet_v3", "efficientnet", "vit", "poolformer_s12"]:
    print(f"{name:<15} {describe(name, scale)}")
plots.training_curves(runs, "test_sens")

# %% [markdown]
# ## Results
#
# Held-out accuracy, sensitivity and specificity (%) on the test crops of unseen base frames,
# averaged over seeds where there are several (`sd`: standard deviation over seeds).

# %%
table1 = smoke.summarize(runs)
display(table1[["seeds", "params (k)", "acc %", "acc sd", "sens %", "sens sd", "spec %"]])

# %% [markdown]
# Regression checks (the book's test re-runs the chapter on other machines, whose float path moves
# a trained model's third digit: the checks hold within bands, the table shows this run's numbers).
# Trivial yardsticks: calling every crop smoke-free (the majority class) scores the test set's
# smoke-free share in accuracy and 0 % in sensitivity; flagging crops at random at the smoke rate
# finds that share of the smoke.

# %% tags=["nbval-check-output"]
majority_acc = 100 * float((test_set.labels == 0).mean())
smoke_rate = 100 * float(test_set.labels.mean())
acc, sens = table1["acc %"], table1["sens %"]
print(
    regression.report(
        regression.band("Acc, ours (mean over seeds)", acc["ours"], expected=94.8, tol=3),
        regression.band("Sens, ours (mean over seeds)", sens["ours"], expected=85.0, tol=10),
        *[
            regression.above(f"Acc, {n}", acc[n], "the majority class's", majority_acc, margin=4)
            for n in table1.index
        ],
        *[
            regression.above(
                f"Sens, {n}", sens[n], "random flagging at the smoke rate", smoke_rate, margin=15
            )
            for n in table1.index
        ],
        regression.above(
            "Sens, ours", sens["ours"], "PoolFormer-S12's", sens["poolformer_s12"], margin=15
        ),
    )
)

# %% [markdown]
# At this scale ours is ahead of the narrowed PoolFormer-S12 in accuracy and, by a wide margin,
# in sensitivity, with several times fewer parameters: the direction of Table 1 and Sec. 4.3
# holds. The values are not comparable with the paper's (one scene, rendered smoke, 64 px, 8
# epochs); the ablations below ask *where* the gain comes from.
#
# **Frame rate** (batch 1, one frame after another as in a video stream), measured here for every
# model, the multi-branch and the single-path versions of ours in the same run.

# %%
best = {r.name: r for r in runs if r.seed == seeds[0]}
ours_mb = best["ours"].model.eval()
ours_sp = ours_mb.reparameterize()
fps_t = {
    name: smoke.measure_fps(r.model, img_size, dev) for name, r in best.items() if name != "ours"
}
fps_t["ours (multi-branch)"] = smoke.measure_fps(ours_mb, img_size, dev)
fps_t["ours (single path)"] = smoke.measure_fps(ours_sp, img_size, dev)
fps_val = {k: smoke.fps(t) for k, t in fps_t.items()}
print(
    {k: round(v) for k, v in fps_val.items()},
    f"| single path "
    f"{1 / timing.ratio(fps_t['ours (single path)'], fps_t['ours (multi-branch)']):.2f}x faster",
)

# %% [markdown]
# **Real smoke.** Each classifier (seed 0) on every frame of the 10 real smoky DeSmoke-LAP clips,
# and on the 7 real smoky frames of the training scene. All these frames hold smoke, so the
# flagged fraction is the sensitivity. Because no smoke-free frames of those clips exist here,
# a high number alone could also mean "flags unfamiliar scenes"; the rank correlation of
# $P(\mathrm{smoke})$ with the frame's dark-channel haze score tells the two apart.

# %%
clip_names = [k for k, c in clips.items() for _ in c]
clip_frames = np.concatenate(list(clips.values()))
clip_x = smoke.to_model_input(clip_frames, img_size)
real_x = smoke.to_model_input(np.stack(list(real_smoky.values())), img_size)
haze = np.array([smoke.haze_score(f) for f in clip_frames])
real_probs = {name: smoke.predict_proba(r.model, clip_x, dev) for name, r in best.items()}
same_scene = {name: smoke.predict_proba(r.model, real_x, dev) for name, r in best.items()}

# %%
# shown, not checked: the per-model numbers move with the float path
real_table = pd.DataFrame(
    {
        "sens, DeSmoke-LAP clips %": {k: 100 * (p >= 0.5).mean() for k, p in real_probs.items()},
        "sens, same-scene real smoke %": {
            k: 100 * (p >= 0.5).mean() for k, p in same_scene.items()
        },
        "Spearman(P, haze score)": {k: spearmanr(p, haze).statistic for k, p in real_probs.items()},
    }
).round(
    {
        "sens, DeSmoke-LAP clips %": 1,
        "sens, same-scene real smoke %": 1,
        "Spearman(P, haze score)": 2,
    }
)
display(real_table)

# %% tags=["nbval-check-output"]
ours_real = real_table.loc["ours"]
print(
    regression.report(
        regression.band(
            "Sens on the DeSmoke-LAP clips, ours",
            ours_real["sens, DeSmoke-LAP clips %"],
            expected=57.2,
            tol=15,
        ),
        regression.above(
            "Spearman(P(smoke), haze score), ours",
            ours_real["Spearman(P, haze score)"],
            "no relation (0)",
            0,
            margin=0.5,
        ),
    )
)

# %% [markdown]
# Ours flags the largest share of the real smoky frames and its $P(\mathrm{smoke})$ rises with
# the haze score almost monotonically (scatter below): the frames it misses are those whose dark
# channel is as low as that of the smoke-free training frames, i.e. light smoke. Trained on
# rendered smoke over one scene, the classifier transfers to real smoke in other patients only
# partly; PoolFormer-S12 transfers least.

# %%
plots.clip_heatmap({k: real_probs["ours"][np.array(clip_names) == k] for k in clips})

# %%
fig = plots.haze_scatter(haze, real_probs["ours"], clip_names)

# %% [markdown]
# ## Beyond the paper: targeted desmoking on the real clips
#
# The pipeline the paper argues for: classify each frame with the single-path model, dehaze only
# the flagged ones with the dark channel prior ({cite}`he2011dcp`, `dehaze_dcp`), pass the others
# through. Saved compute $= 1 - (c + p\,d)/d$ for classification time $c$, dehazing time $d$ per
# frame and flagged fraction $p$, all measured here. The real clips are all smoky, so they are the
# *worst* case; the held-out test stream (20 % smoke, as in the paper's data) is the typical one.
# Dehazing a smoke-free frame is not free either: it changes the frame (PSNR below), which is the
# paper's second argument for classifying first.

# %%
classify_s = fps_t["ours (single path)"].median / 30
flags = real_probs["ours"] >= 0.5
outputs, report = smoke.targeted_pipeline(clip_frames, flags, classify_s)
test_flag = (smoke.predict_proba(ours_sp, test_set.images, dev) >= 0.5).mean()
from skimage.metrics import peak_signal_noise_ratio as psnr

psnr_clear = np.mean([psnr(v / 255.0, smoke.dehaze_dcp(v), data_range=1.0) for v in clear.values()])
print(
    f"dehaze {1e3 * report.dehaze_s_per_frame:.1f} ms/frame, classify {1e3 * classify_s:.1f} "
    f"ms/frame"
)
print(
    f"DeSmoke-LAP: {report.n_flagged}/{report.n_frames} flagged, saved "
    f"{100 * report.saved_fraction:.0f} %; "
    f"test stream: {100 * test_flag:.0f} % flagged, saved "
    f"{100 * smoke.saved_fraction(test_flag, classify_s, report.dehaze_s_per_frame):.0f} %"
)

# %%
print(
    f"flagged: DeSmoke-LAP clips {100 * flags.mean():.1f} %, "
    f"held-out test stream {100 * test_flag:.1f} %"
)

# %% tags=["nbval-check-output"]
print(f"PSNR of a dehazed smoke-free frame vs itself: {psnr_clear:.2f} dB")  # no training involved
print(
    regression.report(
        regression.band("held-out test stream flagged (%)", 100 * test_flag, expected=18.5, tol=5)
    )
)

# %%
plots.savings_curve(
    classify_s,
    report.dehaze_s_per_frame,
    {"real smoky clips": flags.mean(), "test stream (20 % smoke)": test_flag},
)

# %%
first = np.array(clip_names) == list(clips)[0]
fig = plots.pipeline_examples(
    clip_frames[first], outputs[first], flags[first], real_probs["ours"][first]
)

# %% [markdown]
# ## Results table: paper vs ours
#
# Paper numbers: Table 1 (Acc, Sens, fps of the baselines and ours) and Sec. 4.3, which gives
# PoolFormer-S12 and the multi-branch model only as differences from ours (Table 2 is not in the
# text we have): PoolFormer-S12 = ours − (2.3 %, 8.2 %, −6.4 fps), multi-branch = PoolFormer-S12
# + (2.8 %, 9.6 %, −26.3 fps). Their fps are on a 2080 Ti GPU at 224 px; ours on this run's device
# at `img_size`, so compare ratios, not values.

# %%
mean = lambda name, k: float(table1.loc[name, f"{k} %"])
metrics = {
    f"{k}_{n}": mean(n, k)
    for n in ["ours", "poolformer_s12", "mobilenet_v3", "efficientnet", "vit"]
    for k in ["acc", "sens"]
}
metrics.update(
    {
        "sens_real_smoke_ours": float(real_table.loc["ours", "sens, DeSmoke-LAP clips %"]),
        "sens_real_smoke_poolformer_s12": float(
            real_table.loc["poolformer_s12", "sens, DeSmoke-LAP clips %"]
        ),
        "sens_same_scene_smoke_ours": float(
            real_table.loc["ours", "sens, same-scene real smoke %"]
        ),
        "fps_single_path": fps_val["ours (single path)"],
        "fps_multi_branch": fps_val["ours (multi-branch)"],
        "fps_poolformer_s12": fps_val["poolformer_s12"],
        "speedup_single_path": fps_val["ours (single path)"] / fps_val["ours (multi-branch)"],
        "reparam_max_rel_diff": err32,
        "reparam_max_rel_diff_f64": err64,
        "desmoke_saved_real_clips": 100 * report.saved_fraction,
        "desmoke_saved_test_stream": 100
        * float(smoke.saved_fraction(test_flag, classify_s, report.dehaze_s_per_frame)),
    }
)

# %%
paper = {
    "acc_ours": (95.9, "Table 1"),
    "sens_ours": (83.5, "Table 1"),
    "fps_single_path": (87.1, "Table 1"),
    "acc_mobilenet_v3": (93.9, "Table 1"),
    "sens_mobilenet_v3": (78.6, "Table 1"),
    "acc_efficientnet": (94.3, "Table 1, B7"),
    "sens_efficientnet": (80.3, "Table 1, B7"),
    "acc_vit": (94.5, "Table 1, B/16"),
    "sens_vit": (80.8, "Table 1, B/16"),
    "acc_poolformer_s12": (93.6, "Sec. 4.3"),
    "sens_poolformer_s12": (75.3, "Sec. 4.3"),
    "fps_poolformer_s12": (93.5, "Sec. 4.3"),
    "fps_multi_branch": (67.2, "Sec. 4.3"),
    "speedup_single_path": (87.1 / 67.2, "Sec. 4.3"),
}
notes = {
    "sens_real_smoke_ours": "real DeSmoke-LAP clips, never trained on",
    "fps_single_path": f"batch 1, {img_size} px, {dev}",
    "speedup_single_path": "same run, same device",
    "reparam_max_rel_diff": "random input, eval mode, float32",
}
results.save("08_smoke", scale, metrics, paper=paper, data=data_note, notes=notes, device=dev)

# %%
labels = {
    "acc_ours": "Acc, ours %",
    "sens_ours": "Sens, ours %",
    "acc_poolformer_s12": "Acc, PoolFormer-S12 %",
    "sens_poolformer_s12": "Sens, PoolFormer-S12 %",
    "acc_mobilenet_v3": "Acc, MobileNetV3 %",
    "sens_mobilenet_v3": "Sens, MobileNetV3 %",
    "acc_efficientnet": "Acc, EfficientNet %",
    "sens_efficientnet": "Sens, EfficientNet %",
    "acc_vit": "Acc, ViT %",
    "sens_vit": "Sens, ViT %",
    "sens_real_smoke_ours": "Sens on real smoky clips, ours %",
    "fps_single_path": "fps, ours single path",
    "fps_multi_branch": "fps, ours multi-branch",
    "fps_poolformer_s12": "fps, PoolFormer-S12",
    "speedup_single_path": "single path / multi-branch speed",
    "reparam_max_rel_diff": "re-param. max rel. diff",
}
n_steps = settings.num_epochs * -(-len(train_set) // settings.batch_size)  # per model and seed
print(
    f"{scale.capitalize()} run: {len(seeds)} seeds for ours and PoolFormer-S12, one for the "
    f"other baselines, {n_steps:,} optimiser steps per model"
    + (
        " — a regression test and a quick look, not evidence; the reference run carries the "
        "evidence."
        if scale == "small"
        else "."
    )
)
display(results.table("08_smoke", scale, labels=labels))

# %%
fig = plotting.bar_figure(
    ["accuracy", "sensitivity"],
    {n: [mean(n, "acc"), mean(n, "sens")] for n in table1.index},
    title="Held-out Acc and Sens (this run)",
    ylabel="%",
)
fig

# %% [markdown]
# ## Ablations at this scale
#
# Table 2 of the paper separates the mixer from the single path. The single path changes no
# prediction (it is exact, above), so its ablation is the speed. For the mixer we train our own
# architecture with PoolFormer's pooling mixer (`ours_pool`) and with one plain depthwise 7x7
# convolution trained as such (`ours_conv`, the same inference-time model as the single path,
# without the training-time branches: the RepVGG question).

# %%
if run_ablations:
    abl = [r for r in runs if r.name == "ours" and r.seed == seeds[0]]
    for name in ["ours_pool", "ours_conv"]:
        abl.append(
            smoke.fit_model(
                name,
                train_set,
                test_set,
                settings,
                dev,
                seed=seeds[0],
                scale=scale,
                img_size=img_size,
            )
        )

# %%
if run_ablations:
    table_abl = smoke.summarize(abl)
    display(table_abl[["params (k)", "acc %", "sens %", "spec %"]])

# %% tags=["nbval-check-output"]
if run_ablations:
    acc_abl = table_abl["acc %"]
    print(
        regression.report(
            *[
                regression.above(
                    f"Acc, {n}", acc_abl[n], "the majority class's", majority_acc, margin=4
                )
                for n in table_abl.index
            ],
            *[
                regression.band(
                    f"Acc, {n} minus ours", acc_abl[n] - acc_abl["ours"], expected=0, tol=3
                )
                for n in ["ours_pool", "ours_conv"]
            ],
        )
    )

# %% [markdown]
# **What the ablation says.** Inside our architecture the three mixers end within a few test
# images of each other: at this scale the RepConvNeXt mixer is *not* what makes ours better than
# PoolFormer-S12. The gain comes from the rest of the paper's design (convolutional tokenizer,
# one token resolution, sequence pooling); the paper's +9.6 % sensitivity from the mixer alone
# (Sec. 4.3) is not reproduced here. What the single path buys is speed, exactly (above) and for
# free (below).

# %% [markdown]
# ## Explore
#
# Render smoke onto a real held-out base frame with your own intensity $T$, density $D$ and
# position $P$, and see what the classifiers make of it (needs a running kernel; the static figure
# below shows a sweep over $T$ and $D$).

# %%
models = {"ours": ours_sp, "PF-S12": best["poolformer_s12"].model}
test_frames = {k: v for k, v in clear.items() if k in smoke.TEST_CLEAR_FRAMES}
plots.smoke_widget(test_frames, models, img_size)

# %%
fig = plots.smoke_sweep_figure(clear[8], models, img_size)

# %% [markdown]
# ## Performance
#
# Timings of this run (batch 1, `img_size` px, this machine's `device`), as ratios to the
# multi-branch model: below 1 is faster.

# %%
base = fps_t["ours (multi-branch)"]
perf = pd.DataFrame(
    {
        "fps": {k: round(v, 1) for k, v in fps_val.items()},
        "time / multi-branch": {k: round(timing.ratio(t, base), 2) for k, t in fps_t.items()},
    }
)
display(perf)
results.record_performance(
    "08_smoke",
    scale,
    f"inference, {img_size}px frames",
    "ours (single path)",
    "PoolFormer-S12",
    fps_t["ours (single path)"],
    fps_t["poolformer_s12"],
    quality=("test accuracy (%)", metrics["acc_ours"], metrics["acc_poolformer_s12"], True),
)
print(
    f"training time (s, this run): "
    + ", ".join(f"{r.name} s{r.seed} {r.seconds:.0f}" for r in runs)
)

# %% [markdown]
# ## Deviations and limits
#
# * **Data.** The paper composites Blender smoke onto 5,000 Hamlyn frames of many scenes; here
#   smoke is rendered procedurally (noise plume, Eq. 1-2 as transparency blending) onto crops of
#   13 real frames of *one* scene (9 for training, 4 held out), at 64 px instead of 224. The
#   in-distribution numbers are therefore about this scene and this renderer; they are not
#   comparable in value with the paper's. The base frames were chosen by a dark-channel threshold
#   because the upstream "clear" frames contain real smoke (see `lap_frames/SOURCE.md`).
# * **Real smoke** is the honest test. The DeSmoke-LAP clips come from other patients, other
#   scenes and another camera; there are no smoke-free frames from those clips here, so their
#   sensitivity cannot be paired with a specificity. Read it with the haze correlation.
# * **Architecture.** The paper shows the blocks as figures only. Our choices: branch kernels
#   7 / 3 / 1 + identity, each with BN; PoolFormer's GroupNorm pre-norm and layer scale; no
#   positional embedding (the convolutional mixer sees positions); stride-4 tokenizer; sequence
#   pooling then one linear layer. Small scale: width 48, $L$ = 4 (paper: $L$ = 10, 224 px).
# * **Baselines** are timm models trained from scratch (no pretrained weights offline); at small
#   scale narrowed versions (MobileNetV3-Small 0.5, TinyNet-E for EfficientNet, a 4-block ViT,
#   PoolFormer-S12 at a quarter width). The paper used EfficientNet-B7 and ViT-B/16.
# * **Protocol.** The paper reports 10-fold cross-validation and averages of 5 runs; here one
#   split, 2 seeds for PoolFormer-S12 and ours, one for the other baselines, 8 epochs. The
#   PoolFormer-S12 and multi-branch reference numbers are derived from Sec. 4.3's differences.
# * **Speed.** The paper's fps are on a GPU at 224 px; ours are batch-1 on this run's device at
#   64 px on a shared machine, so only the ratios are meaningful. On a CPU at batch 1 the
#   single path removes three convolutions, four BNs and three additions per block.
