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
# # 06 — Truck model recognition with an improved MMAL-Net, and the overload check built on it
#
# **Paper.** Sun, Su, Yan, Gao, Sun and Liu, "Truck model recognition for an automatic overload
# detection system based on the improved MMAL-Net", *Frontiers in Neuroscience* 17 (2023),
# doi:10.3389/fnins.2023.1243847 {cite}`sun2023truck`. It improves MMAL-Net {cite}`zhang2021mmal`.
#
# **Claim.** A weigh-in-motion station measures a truck's weight, but the legal limit depends on the
# truck's *model*, and the licence plate that should tell the model is often dirty, damaged or
# cloned. The paper recognises the model from the station's cameras with an improved MMAL-Net: a
# **frontal** branch and a **side** branch (two photos of the same truck), plus a **part** branch
# that classifies regions the attention part proposal module (APPM) cuts out of the side photo; the
# three cross-entropies are summed for training and the part branch is dropped at test time. It
# reports 95.03 % on Stanford Cars (Table 1) and, on its own four truck models, 85 % accuracy with
# 20 training sets per model rising to 100 % with 50 (Figure 6), with no light-duty truck taken for
# a heavy-duty one — the error that would hide an overload. The recognised model's rated load, the
# station's weight and the plate registry then give the verdict (Figure 1).
#
# This chapter builds the three-branch network, APPM and the original MMAL-Net in
# `neurovis.trucks`, trains them and a plain ResNet from scratch on the same real photos, and runs
# the overload check over a simulated stream of weigh-station events.

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
# "small": 4 embedded Stanford Cars models, CPU, ~3 minutes; "paper": full data (GPU)
scale = "small"
data_root = None  # paper scale: folder holding stanford_cars/ (devkit layout) or truck_sets/
device = "auto"
seed = 0
# Stanford Cars ids: F-150 Reg. Cab, Ram C/V (light); F-450, Sprinter (heavy)
classes = [113, 174, 106, 88]
image_size = 80  # paper: 512 (parts 256); ours: parts at half the photo size
n_test_sets = 8  # test sets per model (paper: 20)
few_shot = [4, 8]  # training sets per model below the full set (paper: 20, 30, 40 and 50)
num_epochs = 25  # paper: lr decay after 60 epochs, total not given (we take 100)
# enforcement tolerance of the overload check (fraction over the rated weight)
tolerance = 0.05
run_ablations = True  # no part branch (trained), one photo only, baselines with two photos
# paper scale: "stanford_cars" (Table 1) or "truck_sets" (the paper's own kind)
paper_dataset = "stanford_cars"
# paper scale: ImageNet ResNet-50 weights as in the paper (needs them cached or online)
pretrained = False

# %%
# Sec. 4: 512 px photos, 256 px parts, ResNet-50 (ImageNet weights where they can be had)
if scale == "paper":
    image_size, num_epochs, few_shot = 512, 100, [5, 10, 15]

# %% [markdown]
# ## Setup

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

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
from neurovis import trucks
from neurovis.trucks import plots

CHAPTER = "06_trucks"
check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))

# %% [markdown]
# ## Data
#
# The paper's truck photos (frontal + side sets of FAW J7, Shaanxi Delong X3000, Dongfeng Dorica D6
# and JAC Junling V6) are not public. The book embeds the 26 pickup, van and cab classes of
# **Stanford Cars** {cite}`krause2013cars` (1,093 real photos of its training split,
# `data/embedded/trucks`, see its `SOURCE.md`); the photos are already cropped to the vehicle. As in
# the paper's own experiment we take **four models, two light-duty and two heavy-duty** — a light
# and a heavy pickup of one maker, a light and a heavy cargo van — so that every light model has a
# heavy look-alike. Light / heavy is a class attribute from the model registry (`trucks.registry`:
# heavy-duty above 8,500 lb gross vehicle weight rating, the US federal boundary).
#
# **Sets.** Stanford Cars has one photo per car, mostly three-quarter views, and no view labels. A
# "set" here is two *different* photos of the same model; the first plays the frontal, the second
# the side photo. Per model, 16 photos are held out; the training sets pair the other photos (no
# photo in two sets). The single-photo baselines train on exactly the same photos. We test on
# **every** ordered pair of held-out photos of one model (16 × 15 = 240 sets per model): each photo
# is then the frontal photo of as many sets as any other, so a baseline's accuracy over these sets
# is its per-photo accuracy, and ours is averaged over all the pairings rather than one draw. The
# weigh-station stream below uses the 8 disjoint held-out pairs per model, one vehicle each.

# %%
if scale == "paper":
    table, train_sets, test_sets, heavy = trucks.data.paper_data(
        data_root, paper_dataset, image_size, rng
    )
    data_note = f"{paper_dataset} (full, from data_root)"
else:
    table = trucks.embedded_trucks(classes, image_size)
    train_sets, test_sets = trucks.make_sets(table.labels, n_test_sets, rng)
    heavy = trucks.duty_vector(table)
    data_note = (
        f"Stanford Cars, {len(classes)} pickup/van models (embedded real subset), sets of two "
        f"photos"
    )
eval_sets = test_sets.all_pairs()  # every ordered pair of held-out photos of one model
n_train = int(np.bincount(train_sets.labels).min())
summary = pd.DataFrame(
    {
        "model": table.classes,
        "duty": np.where(heavy == 1, "heavy", "light"),
        "photos": np.bincount(table.labels),
        "train sets": np.bincount(train_sets.labels),
        "held-out photos": 2 * np.bincount(test_sets.labels),
        "test sets": np.bincount(eval_sets.labels),
    }
)
print(summary.to_string() if scale == "small" else summary.describe().to_string())

# %%
plots.sample_sets(
    table,
    train_sets,
    heavy,
    per_class=1,
    title="one training set per model: two photos of the same model",
);  # fmt: skip

# %% [markdown]
# ## Method
#
# **Branches and losses** (Sec. 3.1, Figure 2; `ImprovedMMAL`, `improved_mmal_loss`). The frontal
# photo and the side photo each go through a ResNet and an FC layer; APPM cuts $N$ part images
# out of the side photo, which go through the part branch. With $c$ the true model and $P_f, P_s,
# P_{p(n)}$ the softmax outputs,
#
# $$L_{frontal} = -\log P_f(c) \quad (1) \qquad L_{side} = -\log P_s(c) \quad (2) \qquad
#   L_{part} = -\frac{1}{N}\sum_{n=1}^{N} \log P_{p(n)}(c) \quad (3)$$
#
# $$L_{total} = L_{frontal} + L_{side} + L_{part} \quad (4)$$
#
# As in MMAL-Net the branches share the backbone and FC weights (`NetConfig.shared`; the paper does
# not say). At test time the part branch is dropped and the set is classified by the mean of the
# frontal and side softmax outputs (`ImprovedMMAL.predict_proba`).
#
# **APPM** (Sec. 3.2, Figure 3; `propose_parts`). The side branch's last feature map is summed over
# channels into the activation map $A$; every window $w$ of a few shapes slides over it at stride 1
# — all at once as an average pooling, the fully convolutional sliding window of Overfeat — and
# gets its mean activation
#
# $$a_w = \frac{1}{H_w W_w}\sum_{i=1}^{H_w}\sum_{j=1}^{W_w} A_w(i, j) \quad (5)$$
#
# (`window_scores`). Within each scale group, non-maximum suppression (`select_windows`,
# torchvision's `nms`) keeps the most active window, then the next most active one that overlaps the
# kept ones by IoU ≤ 0.25, and so on; the windows are mapped to pixels and cropped and resized from
# the side photo (`crop_and_resize`, `roi_align`). **Original MMAL-Net** (`MMALNet`, the baseline):
# raw photo → AOLM object box (largest connected region of above-mean activation, `aolm`) → object
# branch on the crop → APPM parts of the object image; it predicts with the object branch.

# %%
net_cfg = (
    trucks.NetConfig.paper(pretrained=pretrained)
    if scale == "paper"
    else trucks.NetConfig.small(image_size=image_size)
)
settings = (
    trucks.TrainSettings.paper(num_epochs=num_epochs)
    if scale == "paper"
    else trucks.TrainSettings.small(num_epochs=num_epochs)
)
demo = trucks.ImprovedMMAL(len(table.classes), net_cfg).train()
with torch.no_grad():
    out = demo(torch.rand(2, 3, image_size, image_size), torch.rand(2, 3, image_size, image_size))
print(
    {k: tuple(v.shape) for k, v in out.items()},
    "| feature map",
    tuple(demo.front_net(torch.rand(1, 3, image_size, image_size))[1].shape),
)
print(
    "APPM window groups (cells):", net_cfg.appm.groups, "kept per group:", net_cfg.appm.n_per_group
)

# %% [markdown]
# ## Baselines, then the method
#
# Same photos, same budget: every model is trained from scratch (no ImageNet weights can be had
# here) for `num_epochs` epochs with SGD (momentum 0.9, weight decay, Sec. 4) and a cosine learning
# rate, random flips and shifts, through the book's training loop; the held-out test sets are
# scored after every epoch. The plain ResNet and MMAL-Net see one photo at a time, twice as many
# per batch, so every model sees every training photo once per epoch.

# %%
methods = ["resnet", "mmal", "improved_mmal"]
runs = {
    m: trucks.fit_method(m, table, train_sets, eval_sets, net_cfg, settings, dev, seed)
    for m in methods
}
plots.learning_curves({trucks.LABELS[m]: r for m, r in runs.items()})

# %% [markdown]
# ## Results
#
# Held-out accuracy on the test sets (each method as it is meant to be used: ours on both photos,
# the baselines on the frontal photo), and the errors across the light / heavy boundary.

# %%
acc_table, cms = trucks.train.evaluate_runs(runs, table, eval_sets, heavy, dev)

# %% tags=["nbval-check-output"]
print(
    f"{len(eval_sets)} test sets from {2 * len(test_sets)} held-out photos, {n_train} training "
    f"sets per model"
)

# %%
# optimiser steps per model
steps = settings.num_epochs * max(1, len(train_sets) // settings.batch_size)
if scale == "small":
    display(
        Markdown(
            f"**Small run:** one seed, {steps} optimiser steps per model — a regression test "
            "and a quick look, not evidence; the reference run carries the evidence."
        )
    )
display(acc_table[["acc %", "light as heavy %", "heavy as light %"]].round(1))

# %% [markdown]
# The regression checks of this run (what `nbval` compares when it re-executes the chapter): each
# accuracy in a band around the committed run's value, wide enough for another CPU's float path and
# narrow enough to catch a model that stopped learning, and above chance (25 %) with a margin.

# %% tags=["nbval-check-output"]
chance = 100 / len(table.classes)
acc = lambda m: float(acc_table.loc[trucks.LABELS[m], "acc %"])
# tol = 3x the largest float-path spread measured among the three: AVX2 (pinned) vs AVX-512 run
# 55.2 vs 60.2 (ours), 48.4 vs 43.8 (MMAL-Net), 39.1 vs 39.1 (ResNet). The light-as-heavy share
# moved by 13 points between those runs, too much for a band: it is shown above, not checked.
print(
    regression.report(
        regression.band(
            "improved MMAL-Net accuracy (%)", acc("improved_mmal"), expected=55.2, tol=15
        ),
        regression.band("MMAL-Net accuracy (%)", acc("mmal"), expected=48.4, tol=15),
        regression.band("ResNet accuracy (%)", acc("resnet"), expected=39.1, tol=15),
        regression.above(
            "improved MMAL-Net accuracy (%)", acc("improved_mmal"), "chance (%)", chance, margin=15
        ),
        *(
            regression.above(
                f"{trucks.LABELS[m]} accuracy (%)", acc(m), "chance (%)", chance, margin=5
            )
            for m in ("mmal", "resnet")
        ),
        regression.above(
            "improved MMAL-Net accuracy (%)",
            acc("improved_mmal"),
            "ResNet accuracy (%)",
            acc("resnet"),
            margin=5,
        ),
    )
)

# %% [markdown]
# At this scale the improved MMAL-Net is clearly ahead of both single-photo baselines (chance is
# 25 %) and takes the fewest light-duty sets for heavy-duty ones — the paper's ordering — but all
# three are far from the paper's accuracies (no ImageNet weights, 80 px, about 100 training photos
# per model; see the limits at the end). The hard pair is the one with the duty boundary inside it:
# the F-150 and the F-450 Super Duty share the maker's face.
#
# Confusion matrices (Figure 7, here as % of each true model's test sets) with the light / heavy
# boundary in red; the shaded block holds the dangerous errors, light-duty trucks recognised as
# heavy-duty:

# %%
plots.confusion_grid(
    {trucks.LABELS[m]: cms[m] for m in methods}, table.classes, heavy
);  # fmt: skip

# %% [markdown]
# **Part windows** (Figure 4): the windows APPM picks on side photos of test sets with the trained
# model, in APPM's order (red: the most active window of the first scale group, then orange and
# yellow for the second group, green for the third).

# %%
ours = runs["improved_mmal"].model.eval()
pick = np.concatenate(
    [np.flatnonzero(test_sets.labels == c)[:1] for c in range(min(4, len(table.classes)))]
)
side = torch.stack([table[int(i)] for i in test_sets.pairs[pick, 1]]).to(dev)
with torch.no_grad():
    boxes, scores = trucks.propose_parts(
        ours.side_net(side)[1], net_cfg.appm, ours.side_net.stride, image_size
    )
plots.part_windows(
    side.cpu(),
    boxes.cpu(),
    scores.cpu(),
    titles=[table.classes[test_sets.labels[i]][:26] for i in pick],
);  # fmt: skip

# %% [markdown]
# **Few-shot curve** (Figure 6): the same three models trained on the first $n$ training sets of
# every model, tested on the same test sets.

# %%
done = {(m, n_train): r for m, r in runs.items()}
curve = trucks.train.few_shot(
    methods,
    sorted(set(few_shot) | {n_train}),
    table,
    train_sets,
    eval_sets,
    net_cfg,
    settings,
    dev,
    seed,
    done=done,
)

# %%
display(curve.round(1))

# %% tags=["nbval-check-output"]
# Each point moved by up to 7 points between float paths (AVX2 vs AVX-512 run), and with the fewest
# sets every network is near chance: the check is that every network is above chance from 8 sets on.
print(
    regression.report(
        *(
            regression.above(
                f"{c} accuracy with {n} sets per model (%)",
                curve.loc[n, c],
                "chance (%)",
                chance,
                margin=5,
            )
            for n in curve.index
            if n >= 8
            for c in curve.columns
        ),
    )
)

# %%
plots.few_shot_curve(curve.index, {c: curve[c].values for c in curve.columns})

# %% [markdown]
# With 4 sets per model every network trained from scratch is near chance; the improved network
# pulls ahead only once it has more sets. The paper's 85 % at 20 sets rests on ImageNet weights,
# which make the few-shot regime a fine-tuning problem; from scratch it is not one, and this curve
# cannot show the paper's robustness to few samples.

# %% [markdown]
# ## The overload check (Figure 1)
#
# Every test set becomes a vehicle at a weigh station (`simulate_stream`): its real model is the
# set's model; its weight is drawn so that about 30 % are overloaded; its plate is registered to its
# real model, except for 15 % cloned or swapped plates registered to another model. The station
# record (plate, measured weight, axle count, time) and the model recognised from the two photos
# give the verdict (`overload_verdict`): overloaded above the model's rated gross weight × (1 +
# tolerance), "within tolerance" between the two, "unknown model" if the model is not in the
# registry; a plate whose registered model differs from the recognised one is flagged for review.
# Vehicles are processed one at a time, as they arrive; the latency is recognition + rules.

# %%
registry = {s.model: s for s in trucks.STANFORD_TRUCKS.values()}
# one vehicle per held-out pair
vehicles = test_sets.pairs[[table.classes[c] in registry for c in test_sets.labels]]
records, plates, truth = trucks.simulate_stream(
    [table.classes[table.labels[a]] for a, _ in vehicles], registry, rng, tolerance
)


# the two camera photos of this vehicle through the improved MMAL-Net (batch 1)
def recognise(event_id):
    a, b = (table[int(i)][None].to(dev) for i in vehicles[event_id])
    return table.classes[int(ours.predict_proba(a, b).argmax())]


recognise(0)  # warm-up
verdicts, latency_ms = trucks.run_stream(records, recognise, registry, plates, tolerance)
stream = trucks.score_stream(verdicts, truth, registry)

# %%
display(pd.Series({k: round(v, 1) for k, v in stream.items()}, name="stream").to_frame())

# %% tags=["nbval-check-output"]
# the stream itself (not trained): vehicles, overloaded and cloned plates
print({k: stream[k] for k in ("events", "overloaded", "cloned_plates")})
# Recognition of the 32 vehicles moved by 3 vehicles between float paths (46.9 vs 56.2 %, AVX2 vs
# AVX-512 run); the verdicts did not (81.2 % both). tol: 4 of 32 vehicles, 1 of the cloned plates.
print(
    regression.report(
        regression.band(
            "verdicts correct when recognised (%)",
            stream["decisions_correct_when_recognised_pct"],
            expected=100,
            tol=0.5,
        ),
        regression.above("vehicles recognised (%)", stream["recognised_pct"], "chance (%)", chance),
        regression.band(
            "verdicts correct (%)", stream["decisions_correct_pct"], expected=81.2, tol=12.5
        ),
        regression.band(
            "cloned plates flagged (%)",
            stream["clones_flagged_pct"],
            expected=100,
            tol=100 / max(1, stream["cloned_plates"]),
        ),
    )
)

# %% [markdown]
# Every verdict on a correctly recognised vehicle is right, and every cloned plate is flagged (as
# the targets require); the wrong verdicts all come from misrecognised vehicles, and a light-duty
# truck taken for a heavy-duty one can hide an overload — the paper's point about Figure 7. A
# misrecognition also flags an honest plate ("false plate alarms"), which costs a manual check,
# not a wrong fine.

# %%
events = trucks.verdict_table(verdicts, truth, records)
cols = [
    "time",
    "plate",
    "measured_kg",
    "recognised",
    "limit_kg",
    "status",
    "plate_mismatch",
    "review",
    "true model",
    "true status",
]
display(events[cols].head(12))
print(
    f"per-vehicle latency: median {np.median(latency_ms):.1f} ms, 95th percentile "
    f"{np.percentile(latency_ms, 95):.1f} ms"
)

# %% [markdown]
# ## Results: paper vs ours
#
# The paper's Stanford Cars number (Table 1) is for 196 classes, ImageNet-initialised ResNet-50 at
# 512 px; its few-shot numbers (Sec. 4, Figure 6) for its own four truck models with 20 and 50
# training sets. Ours are four Stanford Cars models from scratch at 80 px on a CPU: the comparison
# that carries over is the *order* of the methods and the light / heavy errors, not the values.

# %%
acc = lambda m: float(acc_table.loc[trucks.LABELS[m], "acc %"])
metrics = {
    "acc_improved_mmal": acc("improved_mmal"),
    "acc_mmal": acc("mmal"),
    "acc_resnet": acc("resnet"),
    f"acc_improved_mmal_{min(curve.index)}_sets": float(
        curve.iloc[0][trucks.LABELS["improved_mmal"]]
    ),
    "light_as_heavy_errors": stream["light_as_heavy"],
    "light_as_heavy_pct": float(acc_table.loc[trucks.LABELS["improved_mmal"], "light as heavy %"]),
    "overload_decisions_correct_pct": stream["decisions_correct_pct"],
    "overload_decisions_correct_when_recognised_pct": stream[
        "decisions_correct_when_recognised_pct"
    ],
    "plate_clones_flagged_pct": stream["clones_flagged_pct"],
    "overload_latency_ms": float(np.median(latency_ms)),
}
paper = {
    "acc_improved_mmal": (95.03, "Table 1, Stanford Cars"),
    "light_as_heavy_errors": (0, "Fig. 7, 40 and 50 sets, 80 test sets"),
    f"acc_improved_mmal_{min(curve.index)}_sets": (85.0, "Sec. 4, 20 sets per model"),
}
notes = {
    "acc_improved_mmal": f"{len(eval_sets)} test sets (all pairs of {2 * len(test_sets)} held-out "
    f"photos), {n_train} training sets per model",
    "acc_mmal": "per held-out photo, object branch",
    "acc_resnet": "per held-out photo",
    "light_as_heavy_errors": f"in the station stream ({len(records)} vehicles)",
    "light_as_heavy_pct": "% of light-duty test sets",
    f"acc_improved_mmal_{min(curve.index)}_sets": f"{min(curve.index)} training sets per model",
    "overload_latency_ms": "median per vehicle, recognition + rules, batch 1, this machine",
}
results.save(CHAPTER, scale, metrics, paper=paper, data=data_note, notes=notes, device=dev)

# %%
labels = {
    "acc_improved_mmal": "accuracy, improved MMAL-Net (%)",
    "acc_mmal": "accuracy, MMAL-Net (%)",
    "acc_resnet": "accuracy, ResNet (%)",
    f"acc_improved_mmal_{min(curve.index)}_sets": "accuracy, fewest training sets (%)",
    "light_as_heavy_errors": "light-duty recognised as heavy-duty (vehicles)",
    "light_as_heavy_pct": "light-duty recognised as heavy-duty (% of sets)",
    "overload_decisions_correct_pct": "overload verdicts correct (%)",
    "overload_decisions_correct_when_recognised_pct": "verdicts correct when recognised (%)",
    "plate_clones_flagged_pct": "cloned plates flagged (%)",
    "overload_latency_ms": "latency per vehicle (ms)",
}
table_pv = results.table(
    CHAPTER,
    scale,
    labels={k: v for k, v in labels.items() if k != "overload_latency_ms"},
    decimals=1,
)
display(table_pv.drop(columns=[c for c in table_pv.columns if c.startswith("ours (paper")]))

# %%
results.table(CHAPTER, scale, labels=labels, decimals=1)

# %% [markdown]
# ## Ablations
#
# What each part of the improved network brings, at this scale: the same network trained without
# the part branch ($L_{frontal} + L_{side}$ only); the trained network fed one photo only; and the
# single-photo baselines given both photos of a test set (mean of their two softmax outputs) — which
# separates the gain of a second photo from the gain of the architecture.

# %%
if run_ablations:
    runs["improved_mmal_noparts"] = trucks.fit_method(
        "improved_mmal_noparts",
        table,
        train_sets,
        eval_sets,
        net_cfg,
        settings,
        dev,
        seed,
        track=False,
    )
    ev = lambda m, views="auto": trucks.accuracy(
        trucks.predict(runs[m].model, m, table, eval_sets, dev, views), eval_sets.labels
    )
    ablation = pd.Series(
        {
            "improved MMAL-Net (both photos)": ev("improved_mmal"),
            "improved MMAL-Net, frontal photo only": ev("improved_mmal", "front"),
            "improved MMAL-Net without part branch (both photos)": ev("improved_mmal_noparts"),
            "ResNet, both photos averaged": ev("resnet", "both"),
            "MMAL-Net, both photos averaged": ev("mmal", "both"),
        },
        name="held-out acc %",
    )

# %%
if run_ablations:
    display(ablation.round(1).to_frame())

# %% tags=["nbval-check-output"]
# these moved by up to 8 points between float paths (AVX2 vs AVX-512 run): no bands
if run_ablations:
    print(
        regression.report(
            *(
                regression.above(f"{name} (%)", ablation[name], "chance (%)", chance, margin=10)
                for name in ablation.index
            ),
        )
    )

# %% [markdown]
# Both a second photo and the part branch contribute: ours on one photo, and ours trained without
# the part branch, each lose a good part of the gain, and the baselines given the same two photos
# gain too but stay below the full model.
#
# The tolerance is a policy parameter: the same stream judged with no tolerance and with 10 %
# (recognition unchanged; "truth" recomputed with each tolerance):

# %%
rows = {}
for tol in (0.0, tolerance, 0.10):
    v_t = [
        trucks.overload_verdict(r, v.recognised, registry, plates, tol)
        for r, v in zip(records, verdicts)
    ]
    t_t = [
        trucks.StreamTruth(
            t.true_model,
            t.plate_cloned,
            trucks.overload_verdict(r, t.true_model, registry, plates, tol).status,
        )
        for r, t in zip(records, truth)
    ]
    s = trucks.score_stream(v_t, t_t)
    rows[f"tolerance {tol:.0%}"] = {
        k: s[k]
        for k in ("overloaded", "missed_overloads", "false_overloads", "decisions_correct_pct")
    }

# %%
display(pd.DataFrame(rows).T.round(1))

# %% tags=["nbval-check-output"]
print({name: r["overloaded"] for name, r in rows.items()})  # the stream's truth, not trained

# %% [markdown]
# ## Explore
#
# Pick a station event and a tolerance: the two photos with the part windows APPM chose on the side
# photo, the recognised model and the verdict (needs a running kernel; the static figure below shows
# the first event).


# %%
def show_event(event=0, tolerance=tolerance):
    i = int(event)
    a, b = (table[int(j)][None].to(dev) for j in vehicles[i])
    with torch.no_grad():
        bx, sc = trucks.propose_parts(
            ours.side_net(b)[1], net_cfg.appm, ours.side_net.stride, image_size
        )
    v = trucks.overload_verdict(records[i], verdicts[i].recognised, registry, plates, tolerance)
    title = (
        f"recognised: {v.recognised[:30]}\n{v.measured_kg:.0f} kg, limit {v.limit_kg or 0:.0f} kg: "
        f"{v.status}" + (", PLATE MISMATCH" if v.plate_mismatch else "")
    )
    return plots.part_windows(
        torch.cat([a, b]).cpu(),
        torch.cat([torch.zeros(1, bx.shape[1], 4), bx.cpu()]),
        titles=[f"event {i}, plate {v.plate}: photo 1", title],
        ax_size=3.8,
    )


plotting.explore(show_event, event=(0, len(records) - 1), tolerance=(0.0, 0.2, 0.01));  # fmt: skip

# %% [markdown]
# ## Performance
#
# Inference time at batch 1 (one vehicle after another), measured in this run on this machine:
# the improved MMAL-Net on its two photos against the plain ResNet on one photo and MMAL-Net (raw +
# AOLM + object branch) on one photo; and the training time of each model above.

# %%
x1, x2 = (table[int(i)][None].to(dev) for i in test_sets.pairs[0])
t_ours = timing.measure(ours.predict_proba, x1, x2, warmup=2, repeats=20)
t_res = timing.measure(runs["resnet"].model.predict_proba, x1, warmup=2, repeats=20)
t_mmal = timing.measure(runs["mmal"].model.predict_proba, x1, warmup=2, repeats=20)
results.record_performance(
    CHAPTER,
    scale,
    "inference, one vehicle (two photos vs one)",
    "improved MMAL-Net",
    "ResNet",
    t_ours,
    t_res,
    quality=("held-out accuracy (%)", metrics["acc_improved_mmal"], metrics["acc_resnet"], True),
)
print(
    f"improved MMAL-Net / ResNet inference time: {timing.ratio(t_ours, t_res):.2f}x; "
    f"MMAL-Net / ResNet: {timing.ratio(t_mmal, t_res):.2f}x"
)
print(
    f"training time ratio vs ResNet: improved "
    f"{runs['improved_mmal'].seconds / runs['resnet'].seconds:.2f}x, "
    f"MMAL-Net {runs['mmal'].seconds / runs['resnet'].seconds:.2f}x"
)
print(
    f"ms per vehicle: improved {1e3 * t_ours.median:.1f}, ResNet {1e3 * t_res.median:.1f}, "
    f"MMAL-Net {1e3 * t_mmal.median:.1f}"
)

# %% [markdown]
# ## Deviations and limits
#
# - **Data.** The paper's frontal + side truck sets are not public. Our sets are two different
#   photos of the same Stanford Cars model (mostly three-quarter views, already cropped to the
#   vehicle), so "frontal" and "side" are roles, not views: the gain we can measure is that of a
#   second photo plus the part branch, not the complementarity of a real side view. Four models,
#   about 40 photos each: 12–13 training sets and 16 held-out photos per model (paper: 50 and 20
#   sets). All 240 ordered pairs of held-out photos per model are scored, which removes the luck of
#   one pairing but not that of 64 held-out photos and one seed: differences of a few points are
#   within noise, and the few-shot points below 8 sets are near chance for every model.
# - **No ImageNet weights.** The paper fine-tunes an ImageNet ResNet-50 at 512 px; nothing can be
#   downloaded here, so every model is trained from scratch, narrow (one basic block per stage,
#   widths 24–192) and at 80 px, for 25 epochs. That costs most of the accuracy: fine-grained models
#   from scratch on ~100 photos stay far below the paper's 85–100 %, and the Table 1 number is
#   context only. `scale="paper"` uses ResNet-50 at 512 / 256 px, with the paper's ImageNet
#   initialisation when run with `pretrained=True` where the weights can be downloaded.
# - **Ambiguities.** The paper does not say whether the branches share weights (we share them, as
#   MMAL-Net does), how frontal and side outputs are combined at test time (we average the two
#   softmax outputs), whether Eq. 3 averages or sums over parts (we average), the APPM window
#   shapes, counts and NMS threshold (we take MMAL-Net's, scaled to our 5 × 5 map: four parts, as
#   the four colours of Figure 4), or the number of epochs (we take 100 at paper scale, decaying at
#   60). How the two-photo network was evaluated on single-photo Stanford Cars (Table 1) is not
#   said: at paper scale our test sets pair two test photos of one class.
# - **AOLM** (for the MMAL-Net baseline) uses one feature map (MMAL-Net intersects the masks of the
#   last two blocks); the photos are already object crops, so the object branch gains little.
# - **Overload check.** The weigh-station stream is simulated (weights, plates, times); the model
#   registry's gross weight ratings are nominal values for a common configuration of each model, not
#   verified spec-sheet data, and every model here has two axles. The verdicts are correct whenever
#   the model is recognised correctly by construction of the rules (tested on hand-made boundary
#   cases); the interesting numbers are the errors a *mis*recognition causes. A cloned plate goes
#   unflagged only if the network recognises exactly the model the plate is registered to.
