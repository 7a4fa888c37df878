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
# # 02 — MCM-RR: 3D shape from 2D sequences with elastic-net shape bases and ALM/ADMM
#
# **Paper.** Chen X. et al., a multiple-constraint estimation algorithm (MCM-RR) for the 3D shape
# of a 2D image sequence, *Frontiers in Neuroscience*, 2023 (our copy of the paper states no DOI)
# ({cite}`chen2023mcmrr`). Its baseline, CRA: Zhou X., Zhu M., Leonardos S., Daniilidis K.,
# *Sparse representation for 3D shape estimation: a convex relaxation approach*, IEEE TPAMI 2017
# (CVPR 2015) ({cite}`zhou2015cra`).
#
# **The problem.** Non-rigid structure from motion: given only the 2D positions of $p$ landmarks
# (joints of a moving person) in each frame, recover their 3D positions. Each frame's shape is a
# combination of a few learned *shape bases*, seen through an unknown camera.
#
# **The claim.** Two constraints added to CRA reduce the 3D error on CMU motion capture:
# (1) shape bases learned with an **elastic net** ($\ell_1 + \ell_2$) on non-negative codes
# instead of the $\ell_1$ alone, and (2) a **similarity term** that penalises bases unlike the 2D
# observation. Over eight CMU categories the mean 3D error $\xi$ drops by 5.5–21.9 % versus CRA
# (Tables 1–2); each constraint alone helps, the elastic net more (Table 3).
#
# **What this chapter does.** It implements all of it (bases, ALM/ADMM, rotation
# synchronisation, CRA and the two ablations), batched over the frames of a sequence, and runs it
# on real CMU-derived sequences shipped with the book: two 15-joint sequences in Zhou et al.'s
# format (acrobatics, basketball) and the four 41-point Akhter et al. benchmarks (drink, pickup,
# stretch, yoga).

# %% tags=["colab-setup"]
import os, subprocess, sys  # Colab only: install the companion package from the book's repository, fetch the embedded data
if "google.colab" in sys.modules:
    REPO = "https://github.com/neurovis-book/neurovis"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"neurovis[all] @ git+{REPO}#subdirectory=companion"], check=True)
    if not os.path.isdir("/content/neurovis"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", REPO, "/content/neurovis"], check=True)
    os.environ["NEUROVIS_ROOT"] = "/content/neurovis"

# %% tags=["parameters"]
scale = "small"
data_root = None
device = "auto"
seed = 0
num_bases = 16          # K shape bases (Eq. 5)
basis_iterations = 100  # iterations of the elastic-net solver
test_stride = {"basketball": 4, "drink": 2, "pickup": 2, "stretch": 2, "yoga": 2}  # every k-th test frame
loop_frames = 40        # frames solved one at a time for the batched-vs-loop timing

# %%
if scale == "paper":  # the paper's eight CMU categories, every test frame, longer basis learning
    test_stride, basis_iterations, loop_frames = {}, 300, 200

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import ipywidgets as widgets
from neurovis.core import (choose_device, seed_everything, set_threads, environment_report, check_scale,
                           results, timing, plotting)
from neurovis.nrsfm import (Hyper, METHODS, run_experiment, paper_tables, learn_shape_bases, BasisConfig,
                            reconstruct, reconstruct_frame_by_frame, load_embedded, load_paper_categories)
from neurovis.nrsfm import baselines, plots
from neurovis.nrsfm.data import validation_benchmarks

check_scale(scale); set_threads(); rng = seed_everything(seed); dev = choose_device(device)
plotting.apply_style(); print(environment_report(dev))

# %% [markdown]
# ## Data
#
# All sequences come from the CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), in
# two published NRSfM layouts (see `data/embedded/nrsfm/SOURCE.md`):
#
# * **Zhou et al.'s format** (the data layout of the CRA code, here from the `thanhhvnqb/CMNN`
#   repository): 15 joints per frame, in metres. *acrobatics*: 2,422 training frames and 1,212
#   test frames (separate files). *basketball*: only a 6,548-frame test file is public, so we
#   split it **in time**: the first half trains the bases, the second half is the test. The 2D
#   input is the orthographic projection from a seeded random camera per frame (azimuth uniform,
#   elevation within ±30°), as in Zhou et al.'s protocol.
# * **Akhter et al.'s benchmark** (NeurIPS 2008): 41 points, with their own 2D tracks `W` and
#   cameras `Rs`. Each sequence is split in time: the first half trains the bases, the second half
#   is the test.
#
# At `scale="small"` the basketball test frames are subsampled ×4 and the Akhter ones ×2 (the
# acrobatics test keeps all 1,212 frames: it is the speed target). At `scale="paper"` the
# loader reads the paper's eight CMU categories from `data_root` (Zhou's `.mat` files or raw
# ASF/AMC) and keeps every frame.

# %% tags=["nbval-check-output"]
if scale == "paper":
    benchmarks = load_paper_categories(data_root, rng)
else:
    benchmarks = load_embedded(rng, test_stride)
print(pd.DataFrame({n: {"points": b.test.shapes.shape[2], "train shapes": len(b.train_shapes),
                        "test frames": len(b.test), "split": b.split} for n, b in benchmarks.items()}).T.to_string())

# %% [markdown]
# Two test frames of each kind: the 3D ground truth (camera frame; depth is what NRSfM must
# recover) and the 2D observation the methods see.

# %%
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, name in zip(axes.reshape(2, 2), ("acrobatics", "drink")):
    seq = benchmarks.get(name, next(iter(benchmarks.values()))).test
    S = seq.shapes[len(seq) // 2]
    for a, b in seq.edges:
        ax[0].plot(S[0, [a, b]], -S[1, [a, b]], "k-", lw=1); ax[1].plot(S[2, [a, b]], -S[1, [a, b]], "k-", lw=1)
    ax[0].scatter(S[0], -S[1], s=8); ax[1].scatter(S[2], -S[1], s=8, color="C1")
    ax[0].set_title(f"{seq.name}: 2D input (x, y)"); ax[1].set_title(f"{seq.name}: hidden depth (z, y)")
    [a_.set_aspect("equal") for a_ in ax]
fig.tight_layout()

# %% [markdown]
# ## Method
#
# **Shape-space model** ({func}`neurovis.nrsfm.mcmrr.compose_shape`). A shape $S\in\mathbb R^{3\times p}$
# is a combination of $K$ bases $B_i$, each rotated; under weak perspective the 2D observation is
#
# $$ S=\sum_{i=1}^K c_i R_i B_i \quad (1), \qquad W=\sum_{i=1}^K M_i B_i \quad (2),
#    \qquad M_i=c_i\tilde R_i \quad (3), \qquad M_i M_i^\top=c_i^2 I_2 \quad (4). $$
#
# **Shape bases by the elastic net** ({func}`neurovis.nrsfm.bases.learn_shape_bases`). From the
# aligned training shapes $A\in\mathbb R^{3p\times F}$ (each centred, Procrustes-aligned, scaled
# to unit norm):
#
# $$ \min_{N,X}\ \tfrac12\|A-NX\|_F^2+\lambda\big(\tau\|X\|_1+(1-\tau)\|X\|_2^2\big)
#    \ \ \text{s.t. } \|N_i\|\le 1,\ X_{ij}\ge 0 \quad (5) $$
#
# $\tau=1$ is the $\ell_1$ dictionary of CRA. The paper solves (5) by plain gradient steps (6)–(9)
# with fixed step sizes, which decrease the objective only when the steps are small enough for the
# data at hand (nothing in the paper sets them); we use proximal alternating
# linearised minimisation (a majorise–minimise step in $X$ — monotone FISTA on the
# non-negative soft-threshold prox — then a projected step in $N$ with step $1/\|XX^\top\|_2$), whose objective
# provably never increases. The paper's steps are kept as `method="gradient"` and compared below.
#
# **Penalised least squares with the similarity term** ({func}`neurovis.nrsfm.mcmrr.solve_alm`):
#
# $$ \min_{\tilde M,Z}\ \tfrac12\|W-Z\tilde B\|_F^2+\alpha\sum_i\|M_i\|_2+\tfrac\beta2\|ZD\|_2^2
#    \ \ \text{s.t. } \tilde M=Z \quad (10),\qquad D=\bar D\otimes I_3 \quad (11),\qquad
#    d_i=\exp\Big(\frac{\|W-\Pi B_i\|}{2\gamma^2}\Big) \quad (12) $$
#
# The spectral norm $\|M_i\|_2$ is the convex relaxation of the orthogonality (4). The similarity
# $d_i$ ({func}`neurovis.nrsfm.mcmrr.similarity_weights`) makes bases unlike the observation
# expensive. ADMM on the augmented Lagrangian (13) alternates
#
# $$ M_i^{t+1}=U\,\mathrm{diag}\Big(\Sigma-\frac\alpha\mu P_{\ell_1}\Big(\frac{\mu\Sigma}{\alpha}\Big)\Big)V^\top,\ \
#    U\Sigma V^\top=\mathrm{svd}(P_i^t) \quad (14\text{–}15) $$
#
# ({func}`~neurovis.nrsfm.mcmrr.prox_spectral_norm`: the prox of the spectral norm through the
# projection of the singular values onto the unit $\ell_1$ ball, {func}`~neurovis.nrsfm.mcmrr.project_l1_ball`;
# for $2\times3$ blocks it needs only a $2\times2$ eigen-decomposition, {func}`~neurovis.nrsfm.mcmrr.prox_spectral_norm_2x3`),
#
# $$ Z^{t+1}=\big(W\tilde B^\top+\mu\tilde M^{t+1}+Y^t\big)\big(\tilde B\tilde B^\top+\mu I+\beta DD^\top\big)^{-1}
#    \quad (17),\qquad Y^{t+1}=Y^t+\mu(\tilde M^{t+1}-Z^{t+1}) \quad (18) $$
#
# ({func}`~neurovis.nrsfm.mcmrr.update_Z`; the solver eigen-decomposes $\tilde B\tilde B^\top+\beta DD^\top$
# once so that each iteration costs two small products, {class}`~neurovis.nrsfm.mcmrr.ZSystem`), and adapts $\mu$:
#
# $$ \mu^{t+1}=\begin{cases}2\mu^t & \delta_1>10\,\delta_2\\ \mu^t/2 & \delta_2>10\,\delta_1\end{cases} \ (19),\quad
#    \delta_1=\frac{\|\tilde M^{t+1}-Z^{t+1}\|_F}{\|Z^t\|_F},\ \delta_2=\frac{\|Z^{t+1}-Z^t\|_F}{\|Z^t\|_F} \ (20),
#    \quad \text{stop when } \delta_1<\epsilon \,\&\, \delta_2<\epsilon \ (21). $$
#
# **Rotation synchronisation** ({func}`~neurovis.nrsfm.mcmrr.sync_rotation`), then $S$ by (1):
#
# $$ \min_{c,\bar R}\sum_i\|M_i-c_i\bar R\|_F^2 \ \ \text{s.t. } \bar R\bar R^\top=I_2 \quad (22) $$
#
# **Errors** ({func}`~neurovis.nrsfm.mcmrr.xi`, {func}`~neurovis.nrsfm.mcmrr.xi_decrease`):
#
# $$ \xi=\frac1F\sum_t\|\tilde S_t-S_t\|_F \quad (23),\qquad \xi_p=\frac{\xi_{\rm CRA}-\xi_{\rm MCM\text{-}RR}}{\xi_{\rm CRA}}\times100\% \quad (24) $$
#
# (Eq. 23 is printed with a square; see *Deviations*.) Every frame is solved at once: all tensors
# carry the frame as their leading dimension, each frame has its own $\mu$ and stops on its own.

# %% [markdown]
# ### The basis solver: the paper's gradient steps vs the monotone proximal scheme
#
# On the acrobatics training shapes, the objective (5) per iteration for both solvers (same
# initial bases). With our small fixed steps ($\varphi_1=0.05$, $\varphi_2=5\cdot10^{-4}$) the
# gradient steps happen to decrease too, but more slowly; the proximal scheme needs no step to be
# tuned (its steps are the inverse Lipschitz constants) and carries the guarantee.

# %%
train_acro = benchmarks[next(iter(benchmarks))].train_shapes
curves = {}
for method in ("palm", "gradient"):
    cfg = BasisConfig(num_bases=num_bases, tau=0.5, iterations=basis_iterations, method=method, max_train_shapes=1000)
    curves[{"palm": "proximal (monotone)", "gradient": "paper's gradient steps (Eq. 8-9)"}[method]] = learn_shape_bases(train_acro, cfg, seed=seed).objective
plots.objective_curves(curves, "Elastic-net objective (Eq. 5), first training set")

# %% tags=["nbval-check-output"]
obj = np.array(curves["proximal (monotone)"])
print(f"proximal: objective {obj[0]:.2f} -> {obj[-1]:.2f}, never increases: {bool((np.diff(obj) <= 1e-9 * obj[0]).all())}")
g = np.array(curves["paper's gradient steps (Eq. 8-9)"])
print(f"gradient: objective {g[0]:.2f} -> {g[-1]:.2f}, increases at {int((np.diff(g) > 0).sum())} of {len(g) - 1} steps")

# %% [markdown]
# ## Baseline (CRA), ablations and MCM-RR, solved live
#
# The four methods of the paper's Table 3 share one set of hyper-parameters
# ({class}`~neurovis.nrsfm.baselines.Hyper`): $K=16$ bases, $\lambda=0.05$, $\alpha=0.01$,
# elastic-net $\tau=0.5$, similarity $\beta=10^{-4}$, $\gamma^2=0.1$, $\epsilon=10^{-3}$. The paper
# gives none of them. We chose them **on validation frames cut from the training frames**
# ({func}`~neurovis.nrsfm.data.validation_benchmarks`, never the test frames): first $\alpha$ and
# $\lambda$ for CRA (grid $\alpha\in\{0.005,0.01,0.02\}$, $\lambda\in\{0.05,0.1\}$), then, with
# those fixed, $\tau\in\{0.9,0.8,0.5\}$ and $(\beta,\gamma^2)$ on a small grid for the two
# constraints. CRA-EN uses the elastic-net bases alone, CRA-SC the similarity term alone.

# %%
hyper = Hyper(num_bases=num_bases, basis_iterations=basis_iterations)
experiment = run_experiment(benchmarks, hyper, device=dev, seed=seed)

# %% [markdown]
# ## Results
#
# *Small run: one seed and the small embedded/simulated sets — the regression test and a quick
# look, not evidence. The reference run (5 seeds, `--scale reference`) carries the evidence; the
# [claims ledger](../claims.md) shows whether it has been run for this chapter.*
#
# **The paper's Tables 1–3** (as reported: eight CMU categories, units not stated):

# %%
paper_tables()

# %% [markdown]
# **Ours, same layout** ($\xi$ = mean ± std over test frames of $\|\tilde S_t-S_t\|_F$: in cm for
# the 15-joint CMU sequences, in the data's own units for the Akhter ones; $\xi_p$ by Eq. 24):

# %% tags=["nbval-check-output"]
cm = {n: 100.0 for n, b in benchmarks.items() if b.test.shapes.shape[2] == 15}
ours = experiment.table(unit_scale=cm)
print(ours.to_string())

# %% [markdown]
# **Normalised mean 3D error** $\frac1F\sum_t\|\tilde S_t-S_t\|_F/\|S_t\|_F$ (unit-free, the
# common NRSfM measure):

# %% tags=["nbval-check-output"]
norm = experiment.normalized_table()
norm.loc["mean"] = norm.mean()
print(norm.round(3).to_string())

# %% [markdown]
# **Reading the tables.** In the committed run (seed 0, CPU) MCM-RR is *not* better than CRA on
# average: its ξ is lower on basketball (about 6 %) and stretch (about 5 %), about equal on pickup and yoga, and higher on
# drink (4 %) and acrobatics (about 20 %), so the mean ξp is about −2 %, not the paper's +5 to +22 %.
# The elastic-net bases carry the whole difference (CRA-EN ≈ MCM-RR, CRA-SC ≈ CRA, as in the
# paper's Table 3, where the similarity term alone moves CRA by about 1 %). On acrobatics the
# elastic net hurts on the validation frames too: one τ for every sequence, chosen by the mean
# validation error, suits some sequences and not others (see the τ ablation below).

# %%
cmu = [n for n in benchmarks if n in cm]
xi_seq = {n: {m: r.xi * cm.get(n, 1.0) for m, r in experiment.results[n].items()} for n in benchmarks}
decrease = {n: 100 * (v["CRA"] - v["MCM-RR"]) / v["CRA"] for n, v in xi_seq.items()}
metrics = {
    "xi_mean_cra": float(np.mean([xi_seq[n]["CRA"] for n in cmu])),
    "xi_mean_mcmrr": float(np.mean([xi_seq[n]["MCM-RR"] for n in cmu])),
    "xi_decrease_pct": float(np.mean(list(decrease.values()))),
    "normalized_error_cra": float(norm.loc["mean", "CRA"]), "normalized_error_mcmrr": float(norm.loc["mean", "MCM-RR"]),
    **{f"xi_decrease_pct_{n}": float(v) for n, v in decrease.items()},
}

# %% [markdown]
# ## Performance
#
# MCM-RR vs CRA, and the batched solver vs a frame-by-frame loop of the *same* solver, timed in
# this run on the first test sequence (all its frames batched; the loop on `loop_frames` frames,
# per-frame rate compared).

# %%
seq0 = next(iter(benchmarks))
W0, bases_l1, bases_en = benchmarks[seq0].test.W, experiment.bases[seq0][False], experiment.bases[seq0][True]
t_cra = timing.measure(reconstruct, W0, bases_l1, hyper.alm_config(False), dev, False, warmup=0, repeats=1)
t_mcm = timing.measure(reconstruct, W0, bases_en, hyper.alm_config(True), dev, False, warmup=0, repeats=1)
t_loop = timing.measure(reconstruct_frame_by_frame, W0[:loop_frames], bases_en, hyper.alm_config(True), dev, warmup=0, repeats=1)
fps = {"MCM-RR batched": len(W0) / t_mcm.median, "CRA batched": len(W0) / t_cra.median,
       "MCM-RR frame by frame": loop_frames / t_loop.median}
metrics.update(frames_per_second_mcmrr=fps["MCM-RR batched"], frames_per_second_cra=fps["CRA batched"],
               batched_speedup=fps["MCM-RR batched"] / fps["MCM-RR frame by frame"])
print(f"{seq0}: {len(W0)} frames; MCM-RR {t_mcm.median:.1f} s ({fps['MCM-RR batched']:.0f} frames/s), "
      f"CRA {t_cra.median:.1f} s; MCM-RR/CRA time ratio {timing.ratio(t_mcm, t_cra):.2f}; "
      f"batched is {metrics['batched_speedup']:.1f}x faster per frame than the loop")

# %%
plotting.bar_figure(list(fps), {"frames per second": list(fps.values())},
                    title=f"Speed on {seq0} ({dev}, this run)", ylabel="frames / s")

# %% [markdown]
# ### Recorded results: paper vs ours

# %%
pm = baselines.paper_means()
results.save("02_nrsfm", scale, metrics,
             paper={"xi_mean_cra": (pm["xi_mean_cra"], "Table 1, CRA, mean of 8 categories"),
                    "xi_mean_mcmrr": (pm["xi_mean_mcmrr"], "Table 1, MCM-RR, mean of 8 categories"),
                    "xi_decrease_pct": (pm["xi_decrease_pct"], "Table 2, mean of 8 categories")},
             data=("CMU mocap, embedded real subsets: acrobatics + basketball (Zhou et al. format, random views), "
                   "drink/pickup/stretch/yoga (Akhter et al.)" if scale == "small" else f"CMU mocap, 8 categories from {data_root}"),
             notes={"xi_mean_cra": "ours: mean over the 15-joint CMU sequences, cm; paper: units not stated",
                    "xi_mean_mcmrr": "as xi_mean_cra",
                    "xi_decrease_pct": "Eq. 24, ours: mean over all our sequences",
                    "frames_per_second_mcmrr": f"batched, {seq0}, {dev}"},
             device=dev)
results.record_performance("02_nrsfm", scale, f"reconstruction, {seq0} ({len(W0)} frames)", "MCM-RR", "CRA", t_mcm, t_cra,
                           quality=("normalised error", metrics["normalized_error_mcmrr"], metrics["normalized_error_cra"], False))
labels = {"xi_mean_cra": "ξ CRA", "xi_mean_mcmrr": "ξ MCM-RR", "xi_decrease_pct": "ξp (%) MCM-RR vs CRA",
          "normalized_error_cra": "normalised error CRA", "normalized_error_mcmrr": "normalised error MCM-RR"}

# %%
table = results.table("02_nrsfm", scale, labels=labels)
display(table)

# %% tags=["nbval-check-output"]
print(table.iloc[:, :2].to_string())   # paper | ours (this run): deterministic solvers, stable on any CPU

# %% [markdown]
# ### Reconstructions: ground truth vs CRA vs MCM-RR
#
# An interactive viewer (drag to rotate; the slider picks the frame) of the acrobatics test
# sequence from three viewpoints, like the paper's Figure 2; then the error of each frame.

# %%
seq = benchmarks[seq0].test
res = experiment.results[seq0]
frames = list(range(0, len(seq), max(1, len(seq) // 16)))[:16]
plots.viewer_3d(seq.shapes, {"CRA": res["CRA"].S, "MCM-RR": res["MCM-RR"].S}, seq.edges, frames,
                title=f"{seq0}: ground truth (o) vs reconstructions (+)")

# %%
plots.errors_per_frame(seq.frames, {m: r.errors * cm.get(seq0, 1.0) for m, r in res.items()},
                       title=f"{seq0}: 3D error per test frame", ylabel="‖S̃ − S‖_F (cm)")

# %% [markdown]
# **Convergence of ADMM.** The residuals $\delta_1$ (primal), $\delta_2$ (change of $Z$) and the
# penalty $\mu$ (Eqs. 19–20) for the frame with the median iteration count; and how many iterations the
# frames needed.

# %%
alm = res["MCM-RR"].recon.alm
it = alm.iterations.numpy()
median_frame = int(np.argsort(it)[len(it) // 2])
plots.admm_residuals(alm.history, median_frame, title=f"{seq0}, frame {seq.frames[median_frame]}: ADMM residuals (MCM-RR)")

# %% tags=["nbval-check-output"]
print(f"iterations to meet Eq. 21 (MCM-RR, {seq0}): median {int(np.median(it))}, max {int(it.max())}, "
      f"all frames converged: {bool((it < hyper.max_iter).all())}")

# %% [markdown]
# ## Ablations at this scale
#
# Table 3's ablation (CRA-EN, CRA-SC) is part of the main tables above. Three more questions, on
# every 4th acrobatics test frame: how much the **elastic-net weight** $\tau$ matters, whether the
# **similarity as printed** in Eq. 12 (the raw $x,y$ rows $\Pi B_i$ of each basis) works as well as
# the one we use (the basis seen from its best-fitting camera), and what the paper's $\delta_2$
# (Eq. 20) vs Zhou et al.'s $\mu$-scaled dual residual changes.

# %%
from dataclasses import replace
sub = {seq0: benchmarks[seq0]}
sub[seq0] = baselines.Benchmark(benchmarks[seq0].test.subset(slice(None, None, 4)), benchmarks[seq0].train_shapes, "")
variants = {"MCM-RR (ours)": hyper, "τ = 0.8": replace(hyper, tau=0.8), "τ = 0.2": replace(hyper, tau=0.2),
            "Eq. 12 as printed (Π B_i)": replace(hyper, similarity="projection", relative=False),
            "β = 10⁻³": replace(hyper, beta=1e-3),
            "δ2 as in Eq. 20 (no μ)": replace(hyper, scaled_dual=False)}
abl = {k: run_experiment(sub, h, methods=("MCM-RR",), device=dev, seed=seed, progress=False).results[seq0]["MCM-RR"]
       for k, h in variants.items()}

# %% tags=["nbval-check-output"]
print(pd.DataFrame({k: {"ξ (cm)": round(r.xi * cm.get(seq0, 1.0), 2), "normalised error": round(r.normalized, 3),
                        "mean ADMM iterations": round(r.iterations)} for k, r in abl.items()}).T.to_string())

# %% [markdown]
# ## Explore
#
# Pick a sequence and a frame: ground truth (o) against CRA and MCM-RR (+), three viewpoints.
# (The widget needs a running kernel; the static figure below shows one frame of each kind.)

# %%
def show(sequence=seq0, frame=0):
    s, r = benchmarks[sequence].test, experiment.results[sequence]
    f = min(frame, len(s) - 1)
    plots.three_views(s.shapes[f], {"CRA": r["CRA"].S[f], "MCM-RR": r["MCM-RR"].S[f]}, s.edges,
                      title=f"{sequence}, test frame {s.frames[f]}")
    plt.show()

plotting.explore(show, sequence=list(benchmarks), frame=widgets.IntSlider(0, 0, 150, 1));

# %%
for name in list(benchmarks)[:3:2]:
    s, r = benchmarks[name].test, experiment.results[name]
    f = int(np.argmax(r["CRA"].errors - r["MCM-RR"].errors))  # the frame MCM-RR improves most
    plots.three_views(s.shapes[f], {"CRA": r["CRA"].S[f], "MCM-RR": r["MCM-RR"].S[f]}, s.edges,
                      title=f"{name}, test frame {s.frames[f]} (largest gain of MCM-RR over CRA)")

# %% [markdown]
# The learned bases of the first sequence: $\ell_1$ (CRA) and elastic net (MCM-RR).

# %%
plots.bases_figure(experiment.bases[seq0][False].B.numpy(), seq.edges, title="ℓ1 bases (CRA)");
plots.bases_figure(experiment.bases[seq0][True].B.numpy(), seq.edges, title="elastic-net bases (MCM-RR)");

# %% [markdown]
# ## Deviations and limits
#
# * **Data.** The paper uses eight CMU categories (walk, run, jump, climb, box, dance, sit,
#   basketball) in Zhou et al.'s files; only basketball (test file) and acrobatics are public in
#   reach, plus Akhter et al.'s four sequences. Our basketball bases are learned from the first
#   half of its frames (the second half is the test), the Akhter bases likewise. The paper does
#   not say how its 2D inputs were made; we use orthographic projections from seeded random
#   cameras (Zhou format) and Akhter et al.'s own tracks. `scale="paper"` reads the eight
#   categories (`.mat` or ASF/AMC) from `data_root`; it has not been run here (no data).
# * **Units of ξ.** Eq. 23 prints $\|\tilde S_t-S_t\|_F^2$ but the reported values (tens, with
#   σ of the same order) read like the un-squared norm; we report the un-squared norm (cm for the
#   15-joint data), after resolving the depth reflection every weak-perspective method has
#   (per frame, $S$ or its mirror image, whichever is closer). The paper's numbers cannot be
#   compared to ours in absolute terms (other categories, other units, other inputs); ξp and the
#   ranking of the four methods can.
# * **Eq. 6** has the sign of the data term reversed and writes $I_{KF}$ for the all-ones matrix;
#   the plain gradient steps (8–9) ignore the constraints of (5). We project after them in the
#   `"gradient"` variant and use a monotone proximal scheme by default (curve above).
# * **Eq. 12** compares $W$ (image units, arbitrary camera) with $\Pi B_i$ (unit-norm basis,
#   canonical frame), which makes every $d_i$ nearly the same. We scale both to unit norm, compare
#   $W$ with each basis seen from its best-fitting orthographic camera, and measure distances from
#   the closest basis (so the closest has $d_i=1$). The printed version is in the ablation.
# * **Hyper-parameters** ($K$, $\lambda$, $\tau$, $\alpha$, $\beta$, $\gamma^2$, $\epsilon$, the
#   initialisation) are not given in the paper; ours were chosen on validation frames cut from
#   the training frames (grid above), once for all sequences. With the selected $\beta$ the
#   similarity term is weak: on validation, larger $\beta$ made the mean error worse. The
#   difference between MCM-RR and CRA comes from the elastic net, and its sign depends on the
#   sequence; the paper's claim of a 5–22 % lower ξ is **not reproduced** on our data at this
#   scale (mean ξp about −2 %).
# * **μ schedule.** We scale $\delta_2$ by $\mu$ as Zhou et al.'s CRA code does (the dual
#   residual of ADMM): same accuracy, about half the iterations (ablation above). Initialisation
#   (not given): $\mu_0=1/\mathrm{mean}|W|$, $Z_0$ the ridge solution of (17), $M_0=Z_0$, $Y_0=0$;
#   each frame's $W$ is centred and scaled to unit norm (so α and β do not depend on image units).
# * **Refinement.** Only the rotation synchronisation (22) is run after ADMM (as in Algorithm 1);
#   Zhou et al.'s optional non-convex refinement of $c$ and $R$ on $W$ is not.
# * **Small scale.** One seed, six sequences, subsampled test frames; differences of a few percent
#   between methods are within what another choice of cameras or split could change.
