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
# # 11 — MS-GSRC: multi-scale group sparse residual constraint for image restoration
#
# **Paper.** Ning et al., "Multi-scale group sparse residual constraint model for image
# restoration", *Frontiers in Neuroscience* 17 (2023), doi:10.3389/fnins.2023.1293161
# {cite}`ning2023msgsrc`.
#
# **Claim.** Similar patches recur not only inside an image but across its scales. Grouping each
# patch with its nearest neighbours from the image *and a down-scaled copy*, coding every group in
# its own PCA basis, and pulling the codes towards a *low-rank* estimate of the same group (a
# group-sparse *residual*), gives one model that beats BM3D, WNNM, NCSR, GSR and their successors on
# denoising, inpainting and compressed sensing (CS) — by 0.47 dB over BM3D on average in denoising
# (Table 1) and 5.4 dB over BCS in CS (Table 4).
#
# This chapter implements the whole model in `neurovis.restoration` (batched over all groups, CPU
# or GPU), chooses its free parameters by a committed search on three tuning scenes that are never
# evaluated, runs it against BM3D, scikit-image's denoisers and inpainting, interpolation and
# BCS-SPL on the same inputs, and puts the result next to the paper's tables. The verdicts come from
# the reference run (five noise seeds, `scale="reference"`, same notebook).

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
# "small": ~3 minutes on CPU, not evidence; "reference": the evidence run (5 seeds, ~45 min, one
# thread); "paper": all levels, BSD68 from data_root (GPU advised)
scale = "small"
data_root = None  # folder holding BSD68/ for scale="paper"
device = "auto"  # "auto" | "cpu" | "cuda" | "mps"
seed = 0
denoise_images = ["Starfish", "Monarch"]  # Set12 images that are also in the paper's Table 1
sigmas = [25, 50]  # noise levels; the claim is evaluated at claim_sigma
claim_sigma = 25
inpaint_images = ["Monarch"]  # the paper's "Butterfly" (Figure 5)
missing_ratios = [0.8]
cs_images = ["Airplane"]  # the paper's Figure 9 image
subrates = [0.2]
inverse_size = 128  # inpainting / CS on size×size centre crops (256 at reference scale)
ablation_images = 1  # images of the ablations (the first ones of denoise_images)
option_images = 1  # images of the Eq. 21 / multiplier options (first seed)

# %%
from neurovis.core.scale import seeds_for
from neurovis.restoration.tuning import (
    CS_EVAL,
    DENOISE_EVAL,
    INPAINT_EVAL,
    TUNING_IMAGES,
    check_disjoint,
)

seeds = seeds_for(scale, seed)  # 1 seed at small scale, 5 at reference scale
all_sigma_seeds = seeds[:1]  # seeds that run every noise level (claim_sigma: all seeds)
ablation_seeds, inverse_seeds = seeds[:1], seeds[:1]
if scale == "reference":  # the evidence run: the Set12 images outside the tuning set, 5 seeds
    denoise_images, sigmas = DENOISE_EVAL, [15, 25, 50]
    missing_ratios, subrates, inverse_size = [0.5, 0.7, 0.8], [0.1, 0.2, 0.3], 256
    ablation_images, option_images = len(DENOISE_EVAL), 3
# the paper's full protocol (Tables 1-4): every level, every embedded Table-1 image, BSD68
if scale == "paper":
    denoise_images = ["Airplane", "Flower", "Leaves", "Lena", "Monarch", "Starfish", "Peppers"]
    sigmas, inverse_size = [15, 30, 50, 75], 256
    missing_ratios, subrates = [0.5, 0.6, 0.7, 0.8], [0.1, 0.2, 0.3, 0.4]
    inpaint_images, cs_images = INPAINT_EVAL, CS_EVAL
check_disjoint(denoise_images + inpaint_images + cs_images)  # no tuning scene is ever evaluated
if claim_sigma not in sigmas:
    raise ValueError(f"claim_sigma={claim_sigma} must be one of sigmas={sigmas}")

# %%
import numpy as np
import pandas as pd
import torch
from IPython.display import HTML, display

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
from neurovis.core import claims
from neurovis.restoration import (
    MSGSRCConfig,
    PAPER_TABLE1,
    block_matching,
    embedded_images,
    folder_images,
    restore_groups,
    run_compressed_sensing,
    run_denoising,
    run_inpainting,
)
from neurovis.restoration import plots, tuning
from neurovis.restoration.baselines import WAVELET_LEVELS
from neurovis.restoration.data import BSD68_HOW, center_crop

CHAPTER = "11_restoration"
check_scale(scale)
set_threads()
rng = seed_everything(seed)
dev = choose_device(device)
plotting.apply_style()
print(environment_report(dev))

# %% [markdown]
# ## Data
#
# The embedded images are the classic grey test images (`data/embedded/restoration`, see its
# `SOURCE.md`): Set12 {cite}`zhang2017dncnn`, Set11 {cite}`kulkarni2016reconnet`, the GSR test
# images {cite}`zhang2014gsr` and two colour images of Set14, restored on their luminance as the
# paper does. Eight of the paper's twelve Table-1 images are among them; J.Bean, Lake, Lin and
# Pentagon are not public. 512-pixel images are centre-cropped to 256×256.
#
# Three scenes form the **tuning set** (Barbara, Boat, Foreman): every free parameter of MS-GSRC
# and of the baselines is chosen on them, and no evaluation set contains them (the cell above
# checks it). Denoising is evaluated on the ten other Set12 images; inpainting and CS on the
# paper's Figure 5 and 9 images (Monarch, Airplane) and, at paper scale, on its other embedded
# Table 3/4 images.

# %%
load = lambda names: {k: v.to(dev) for k, v in embedded_images(names).items()}
crop = lambda imgs: {
    k: center_crop(v, inverse_size) if inverse_size < min(v.shape) else v for k, v in imgs.items()
}
den_imgs = load(denoise_images)
inp_imgs, cs_imgs = crop(load(inpaint_images)), crop(load(cs_images))
if scale == "paper":
    den_bsd68 = {k: v.to(dev) for k, v in folder_images(data_root, "BSD68", BSD68_HOW).items()}
print("tuning set:", TUNING_IMAGES)
print("denoising evaluation:", list(den_imgs))
print("inpainting:", list(inp_imgs), "| CS:", list(cs_imgs))
shown = {
    **den_imgs,
    **{f"{k} (inpainting)": v for k, v in inp_imgs.items()},
    **{f"{k} (CS)": v for k, v in cs_imgs.items()},
}
shown = dict(list(shown.items())[:8])
plotting.image_grid(
    [v.cpu() for v in shown.values()], list(shown), ncols=4, vmin=0, vmax=255
);  # fmt: skip

# %% [markdown]
# ## Method
#
# The degradation model is $y = Hx + n$ (Eq. 1) with $H = I$ (denoising), a pixel mask
# (inpainting) or a block Gaussian projection (CS) — `neurovis.restoration.operators`. MS-GSRC
# solves (Eq. 7)
#
# $$\hat x = \arg\min_x \frac{1}{2\sigma_n^2}\|y-Hx\|_2^2 + \frac{1}{2\mu}\sum_i\|R_i x^{MS} -
#   D_iA_i\|_F^2
#   + \lambda\sum_i\|A_i - B_i\|_1 .$$
#
# **Grouping** (`block_matching`): for every reference patch, the $k$ nearest patches in a
# $W\times W$ window of the image *and* in a $\chi W\times\chi W$ window of each down-scaled copy
# ($\chi = 0.85$, …); only the original-scale members are put back at the end (Section 2.4, steps
# a–e).
#
# **Codes** (`restore_groups`): a PCA dictionary $D_i$ per group, codes $P_i = D_i^{\top}R_ix$, the
# low-rank estimate by singular-value soft-thresholding (Eq. 11, `low_rank_codes`)
#
# $$\hat B_i = U_i\,\mathrm{soft}(\Delta_i, \theta_i)\,V_i^{\top},\qquad
#   \theta_{ij} = \frac{2\sqrt2\,\beta\,\sigma_e^2}{n_{ij}+\epsilon},$$
#
# and the group-sparse residual step (Eq. 9, `group_sparse_codes`)
#
# $$\hat A_i = \mathrm{soft}(P_i - B_i,\ \tau_i) + B_i,\qquad \tau_{ij} =
#   \frac{2\sqrt2\,\alpha\,\sigma_e^2}{m_{ij}+\varepsilon}\quad\text{(Eq. 22)}.$$
#
# **Image update** by ADMM with $s = x$ and multiplier $c$ (Eq. 14–18): $s$ averages the restored
# groups (Eq. 17, `s_update`), $x$ is the closed-form fidelity step for diagonal $H$ (Eq. 18) or a
# gradient step with precomputed $H^{\top}H$, $H^{\top}y$ for CS (Eq. 19, `x_update`); the noise
# level is re-estimated each iteration, $\sigma_e = \omega\sqrt{|\sigma_n^2 - \|y - x\|^2|}$ (Eq.
# 20). Eq. 21 ($\mu = \rho\sigma_e^2$ with the threshold $2\lambda\mu$ of Eq. 9) and the multiplier
# $c$ for denoising are options (`eq21`, `dual`), ablated below. The presets
# `MSGSRCConfig.denoising(σ)`, `.inpainting(r)` and `.compressed_sensing(s)` keep the paper's
# structure (patch sizes, windows, $k$, scales) and hold the values chosen on the tuning set:

# %%
pd.DataFrame(
    {f"denoising σ={s}": vars(MSGSRCConfig.denoising(s)) for s in sigmas}
    | {f"inpainting {r:.0%}": vars(MSGSRCConfig.inpainting(r)) for r in missing_ratios}
    | {f"CS {s}": vars(MSGSRCConfig.compressed_sensing(s)) for s in subrates}
).astype(str)

# %% [markdown]
# ## Tuning on the tuning set
#
# `python -m neurovis bench restoration --tune` (module `neurovis.restoration.tuning`) chose the
# parameters above by a coordinate search on the three tuning scenes (Barbara, Boat, Foreman), one
# noise draw each: for denoising the iterations, the reference stride and the re-matching period
# at σ = 25 (the cheapest value within 0.05 dB of the best), then α, β, ω at σ = 25 and α, β at
# σ = 15 and 50; for inpainting and CS the decay of the σ_e schedule and the number of iterations
# (one 80-iteration run per decay records the PSNR after every iteration; the run stops at the
# first iteration within 0.01 dB of the peak); the wavelet baseline's depth per σ. Its committed
# record, with every trial:

# %%
tuned = tuning.load_tuning()
if tuned is None:
    raise FileNotFoundError(
        "book/results/11_restoration.tuning.json is missing: run "
        "`python -m neurovis bench restoration --tune`"
    )
prov = tuned["provenance"]
print(f"tuning run: {prov['date']}, commit {prov['commit']}, {prov['cpu']}, {prov['data']}")
rows = []
for part, rec in tuned.items():
    if isinstance(rec, dict) and "chosen" in rec:
        rows.append(
            {
                "part": part,
                "chosen": str(rec["chosen"]),
                "tuning-set PSNR (dB)": rec.get("psnr"),
                "trials": len(rec.get("trials", [])),
                "seconds": rec.get("seconds"),
            }
        )
display(HTML(pd.DataFrame(rows).set_index("part").round(3).to_html()))
for part in ("inpaint80", "cs20"):
    for t in tuned.get(part, {}).get("trials", []):
        c = t["curve"]
        print(
            f"{part}, decay {t['decay']}: peak {max(c):.2f} dB at iteration "
            f"{int(np.argmax(c)) + 1}, {c[-1]:.2f} dB after {len(c)} (tuning scene "
            f"{', '.join(tuned[part]['images'])})"
        )
if "wavelet" in tuned:
    levels = {
        f"σ={s}": v["psnr_by_levels"] for s, v in tuned["wavelet"].items() if isinstance(v, dict)
    }
    display(HTML(pd.DataFrame(levels).rename_axis("wavelet levels").round(2).to_html()))


# %% tags=["nbval-check-output"]
def agrees(part, cfg):  # the preset holds the tuning run's choice
    chosen = tuned.get(part, {}).get("chosen", {})
    if part.startswith(("inpaint", "cs")):
        return bool(chosen) and (cfg.iters, cfg.sigma_schedule[2]) == (
            chosen["iters"],
            chosen["decay"],
        )
    return bool(chosen) and all(getattr(cfg, k) == v for k, v in chosen.items())


checks = {f"denoise{s}": MSGSRCConfig.denoising(s) for s in (15, 25, 50)}
checks |= {"inpaint80": MSGSRCConfig.inpainting(0.8), "cs20": MSGSRCConfig.compressed_sensing(0.2)}
for part, cfg in checks.items():
    print(f"preset {part} = tuning result: {agrees(part, cfg)}")
wavelet = {s: v for s, v in tuned.get("wavelet", {}).items() if isinstance(v, dict)}
print(
    "wavelet levels = tuning result:",
    bool(wavelet) and all(WAVELET_LEVELS[int(s)] == v["chosen"] for s, v in wavelet.items()),
)

# %% [markdown]
# ## Denoising: MS-GSRC against BM3D and scikit-image
#
# Every method gets the same noisy image (Gaussian noise, one draw per image, level and seed). BM3D
# is the reference implementation of the `bm3d` package {cite}`dabov2007bm3d`. Every seed runs
# σ = 25 (the claim's level); the first seed also runs the other levels, the two ablations of
# the paper's contributions (first `ablation_images` images) and the two options of the model as
# written (Eq. 21, the multiplier $c$; first `option_images` images).

# %%
ABLATIONS = {
    "single-scale": lambda s: MSGSRCConfig.denoising(s).ablated(multiscale=False),
    "no low-rank (B=0)": lambda s: MSGSRCConfig.denoising(s).ablated(low_rank=False),
}


def eq21(s):  # Eq. 21 as written: µ = ρσ_e², threshold 2λµ; ρ = ζ/σ², α/(2ζ): ours at σ_e = σ
    ours = MSGSRCConfig.denoising(s)
    return MSGSRCConfig.denoising(
        s, eq21=True, rho=ours.zeta / s**2, alpha=ours.alpha / (2 * ours.zeta)
    )


OPTIONS = {
    "Eq. 21 (µ = ρσ_e²)": eq21,
    "with multiplier c": lambda s: MSGSRCConfig.denoising(s, dual=True),
}
BASELINES = ("BM3D", "wavelet (skimage)")
if scale == "small":
    BASELINES += ("NLM (skimage)", "TV (skimage)")
abl_imgs = dict(list(den_imgs.items())[:ablation_images])
opt_imgs = dict(list(den_imgs.items())[:option_images])
den_rows, den_kept = [], {}
for sd in seeds:
    for sigma in sigmas:
        if sigma != claim_sigma and sd not in all_sigma_seeds:
            continue
        rows, kept = run_denoising(den_imgs, [sigma], seed=sd, keep=True, baselines=BASELINES)
        den_rows += [r | {"seed": sd} for r in rows]
        if sd == seeds[0]:
            den_kept |= kept
        if sigma == claim_sigma and sd in ablation_seeds:
            rows = run_denoising(abl_imgs, [sigma], seed=sd, baselines=(), variants=ABLATIONS)
            den_rows += [r | {"seed": sd} for r in rows]
        if sigma == claim_sigma and sd == seeds[0]:
            rows = run_denoising(opt_imgs, [sigma], seed=sd, baselines=(), variants=OPTIONS)
            den_rows += [r | {"seed": sd} for r in rows]
den = pd.DataFrame(den_rows)
if scale == "paper":
    bsd = pd.DataFrame(run_denoising(den_bsd68, sigmas, seed=seed, baselines=("BM3D",)))

# %%
main_methods = ["MS-GSRC", *BASELINES]
main = den[den.method.isin(main_methods)]
psnr_table = main.groupby(["sigma", "image", "method"])["psnr"].mean().unstack("method")
psnr_table = psnr_table[main_methods]
display(HTML(psnr_table.round(2).to_html()))
print("mean PSNR (dB) over images and seeds, per σ:")
display(
    HTML(
        main.pivot_table(index="sigma", columns="method", values="psnr")[main_methods]
        .round(2)
        .to_html()
    )
)

# %% tags=["nbval-check-output"]
mean_at = lambda m, sigma: float(den[(den.method == m) & (den.sigma == sigma)].psnr.mean())
noisy_psnr = lambda sigma: 10 * np.log10(255**2 / sigma**2)
print(
    regression.report(
        *[
            c
            for sigma in sigmas
            for c in (
                regression.above(
                    f"MS-GSRC PSNR at σ={sigma}",
                    mean_at("MS-GSRC", sigma),
                    "the noisy input",
                    noisy_psnr(sigma),
                    margin=5.0,
                ),
                regression.above(
                    f"MS-GSRC PSNR at σ={sigma}",
                    mean_at("MS-GSRC", sigma),
                    "the wavelet baseline",
                    mean_at("wavelet (skimage)", sigma),
                    margin=0.5,
                ),
                regression.band(
                    f"MS-GSRC − BM3D PSNR at σ={sigma}",
                    mean_at("MS-GSRC", sigma) - mean_at("BM3D", sigma),
                    expected=0.1,
                    tol=0.5,
                ),
            )
        ]
    )
)

# %% [markdown]
# Noisy, BM3D and MS-GSRC side by side on the hardest level, with a zoomed crop (as in the
# paper's Figures 3–4):

# %%
name, sigma = list(den_imgs)[0], max(sigmas)
k = den_kept[(name, sigma)]
panels = {m: k[m].cpu() for m in ("noisy", "BM3D", "MS-GSRC")} | {"clean": k["clean"].cpu()}
first = den[(den.image == name) & (den.sigma == sigma) & (den.seed == seeds[0])]
scores = {r.method: (r.psnr, r.ssim) for r in first.itertuples()}
plots.comparison(panels, k["clean"], zoom=(60, 60, 96), scores=scores);  # fmt: skip

# %% [markdown]
# Convergence: PSNR of every iterate of Algorithm 1 (the noise level $\sigma_e$ falls as the
# estimate improves, Eq. 20):

# %%
plots.convergence(
    {f"{n}, σ={s}": v["MS-GSRC history"]["psnr"] for (n, s), v in list(den_kept.items())[:6]}
)

# %% [markdown]
# ## Inpainting and compressed sensing
#
# Inpainting starts from a piecewise-linear interpolation of the observed pixels (also a baseline,
# beside scikit-image's biharmonic inpainting); CS measures every 32×32 block with the same
# orthonormalised Gaussian matrix and starts, like the paper, from the BCS-SPL reconstruction
# {cite}`mun2009bcsspl`. At small scale both run on 128×128 centre crops (the 3-minute budget);
# the reference run uses the full 256×256 images.

# %%
inp_rows, inp_kept, cs_rows, cs_kept = [], {}, [], {}
for sd in inverse_seeds:
    rows, kept = run_inpainting(inp_imgs, missing_ratios, seed=sd, keep=True)
    inp_rows += [r | {"seed": sd} for r in rows]
    inp_kept |= kept
    rows, kept = run_compressed_sensing(cs_imgs, subrates, seed=sd, keep=True)
    cs_rows += [r | {"seed": sd} for r in rows]
    cs_kept |= kept
inp, cs = pd.DataFrame(inp_rows), pd.DataFrame(cs_rows)
for df, level in ((inp, "missing"), (cs, "subrate")):
    display(
        HTML(
            df.pivot_table(index=[level, "image"], columns="method", values=["psnr", "ssim"])
            .round(3)
            .to_html()
        )
    )

# %% tags=["nbval-check-output"]
inv_mean = lambda df, m: float(df[df.method == m].psnr.mean())
print(
    regression.report(
        regression.above(
            "inpainting: MS-GSRC PSNR",
            inv_mean(inp, "MS-GSRC"),
            "linear interpolation",
            inv_mean(inp, "linear interpolation"),
            margin=0.5,
        ),
        regression.above(
            "inpainting: MS-GSRC PSNR",
            inv_mean(inp, "MS-GSRC"),
            "biharmonic inpainting",
            inv_mean(inp, "biharmonic (skimage)"),
            margin=0.5,
        ),
        regression.above(
            "CS: MS-GSRC PSNR",
            inv_mean(cs, "MS-GSRC"),
            "its BCS-SPL start",
            inv_mean(cs, "BCS-SPL"),
            margin=1.0,
        ),
    )
)

# %% [markdown]
# Convergence of the long σ_e schedules (PSNR after every iteration):

# %%
plots.convergence(
    {f"inpainting {n} {r:.0%}": v["history"]["psnr"] for (n, r), v in inp_kept.items()}
    | {f"CS {n} {r}": v["history"]["psnr"] for (n, r), v in cs_kept.items()}
)

# %%
(n_i, r_i), (n_c, r_c) = next(iter(inp_kept)), next(iter(cs_kept))
ki, kc = inp_kept[(n_i, r_i)], cs_kept[(n_c, r_c)]
plots.comparison(
    {
        f"{r_i:.0%} missing": ki["observed"].cpu(),
        "interpolation": ki["linear interpolation"].cpu(),
        "MS-GSRC": ki["MS-GSRC"].cpu(),
        f"CS {r_c}: BCS-SPL": kc["BCS-SPL"].cpu(),
        "CS: MS-GSRC": kc["MS-GSRC"].cpu(),
        "clean": kc["clean"].cpu(),
    },
    None,
    ncols=3,
);  # fmt: skip

# %% [markdown]
# ## Results
#
# ### Claims
#
# The paper's central claims, evaluated with a paired bootstrap over images × seeds at σ = 25.
# The reference columns come from the committed reference run
# ([its notebook](../runs/reference/11_restoration.ipynb)); the last column is this run.

# %%
CLAIMS = [
    claims.Claim(
        "denoise-vs-bm3d",
        "MS-GSRC beats BM3D in mean PSNR (σ = 25)",
        "Table 1",
        method="denoise_psnr_msgsrc",
        baseline="denoise_psnr_bm3d",
        metric="PSNR (dB)",
        paper="+0.47 dB (σ = 30, 12 images); +0.24 dB (BSD68)",
    ),
    claims.Claim(
        "low-rank",
        "the low-rank estimate of the codes helps (vs B = 0, plain group sparsity)",
        "Section 2.4",
        method="ablation_psnr_full",
        baseline="ablation_psnr_no_low_rank",
        metric="PSNR (dB)",
        paper="the model's premise (no ablation reported)",
    ),
    claims.Claim(
        "multi-scale",
        "multi-scale grouping helps (vs single-scale grouping)",
        "Section 2.4",
        method="ablation_psnr_full",
        baseline="ablation_psnr_single_scale",
        metric="PSNR (dB)",
        paper="the model's premise (no ablation reported)",
    ),
]
ev = claims.Evidence()
for sd in seeds:
    d = den[(den.seed == sd) & (den.sigma == claim_sigma)].sort_values("image")
    per = {m: d[d.method == m].psnr.to_numpy() for m in ("MS-GSRC", "BM3D")}
    metrics = {
        "denoise_psnr_msgsrc": per["MS-GSRC"].mean(),
        "denoise_psnr_bm3d": per["BM3D"].mean(),
        "denoise_psnr_wavelet": d[d.method == "wavelet (skimage)"].psnr.mean(),
        "denoise_ssim_msgsrc": d[d.method == "MS-GSRC"].ssim.mean(),
        "denoise_ssim_bm3d": d[d.method == "BM3D"].ssim.mean(),
        "denoise_seconds_msgsrc": d[d.method == "MS-GSRC"].seconds.median(),
        "denoise_seconds_bm3d": d[d.method == "BM3D"].seconds.median(),
    }
    items = {"denoise_psnr_msgsrc": per["MS-GSRC"], "denoise_psnr_bm3d": per["BM3D"]}
    if sd in ablation_seeds:
        a = d[d.image.isin(list(abl_imgs))]
        for key, m in (
            ("full", "MS-GSRC"),
            ("no_low_rank", "no low-rank (B=0)"),
            ("single_scale", "single-scale"),
        ):
            items[f"ablation_psnr_{key}"] = a[a.method == m].psnr.to_numpy()
            metrics[f"ablation_psnr_{key}"] = items[f"ablation_psnr_{key}"].mean()
    for sigma in sigmas:
        if sigma != claim_sigma and sd in all_sigma_seeds:
            o = den[(den.seed == sd) & (den.sigma == sigma)]
            for m, key in (("MS-GSRC", "msgsrc"), ("BM3D", "bm3d")):
                metrics[f"denoise{sigma}_psnr_{key}"] = o[o.method == m].psnr.mean()
    if sd in inverse_seeds:
        for df, col, tag in ((inp, "missing", "inpaint"), (cs, "subrate", "cs")):
            for r in df[df.seed == sd].itertuples():
                level = int(round(100 * getattr(r, col)))
                key = {
                    "MS-GSRC": "" if tag == "inpaint" else "_msgsrc",
                    "linear interpolation": "_interp",
                    "biharmonic (skimage)": "_biharmonic",
                    "BCS-SPL": "_bcs",
                }[r.method]
                metrics[f"{tag}{level}_psnr_{r.image}{key}"] = r.psnr
    ev.add(sd, metrics, items=items)
evaluated = ev.evaluate_all(CLAIMS)
claims_df = claims.run_table(CHAPTER, CLAIMS, evaluated, scale)
display(HTML(claims_df.to_html()))
if scale == "small":
    print(f"this run: one seed, {len(den_imgs)} images: not evidence")

# %% [markdown]
# ### Paper vs ours
#
# The paper's numbers are per image where the image is ours too (Table 1 at σ = 50, Figures 5 and
# 9); our σ = 25 has no paper counterpart (the paper uses σ = 15, 30, 50, 75), so the paper's
# average gain over BM3D stands beside our σ = 25 claim above.

# %%
table1_s50 = {
    "Starfish": (25.59, 25.04),
    "Monarch": (26.39, 25.82),
    "Airplane": (26.23, 25.76),
    "Peppers": (26.44, 26.17),
    "Leaves": (25.79, 24.68),
    "Lena": (27.34, 26.90),
    "Flower": (26.02, 25.49),
}
paper = {
    "inpaint80_psnr_Monarch": (26.78, "Fig. 5, Butterfly"),
    "cs20_psnr_Airplane_msgsrc": (29.59, "Fig. 9"),
    "cs20_psnr_Airplane_bcs": (25.87, "Fig. 9, BCS"),
}
for sd in all_sigma_seeds:
    o = den[(den.seed == sd) & (den.sigma == 50)]
    for img in sorted(set(o.image) & set(table1_s50)):
        for m, key, j in (("MS-GSRC", "msgsrc", 0), ("BM3D", "bm3d", 1)):
            ev.add(sd, {f"psnr_s50_{img}_{key}": o[(o.method == m) & (o.image == img)].psnr.mean()})
            paper[f"psnr_s50_{img}_{key}"] = (table1_s50[img][j], "Table 1")
if scale == "paper":
    for m in ("MS-GSRC", "BM3D"):
        key = f"bsd68_psnr_{m.lower().replace('-', '')}"
        ev.add(seed, {key: float(bsd[bsd.method == m].psnr.mean())})
size = f"{inverse_size}x{inverse_size}" + (" centre crop" if inverse_size < 256 else "")
data_note = (
    f"embedded real test images (Set12 / Set11 / GSR / Set14 luminance), 256x256; "
    f"inpainting/CS on {size}; tuning scenes {list(TUNING_IMAGES)} never evaluated"
)
notes = {
    "denoise_psnr_msgsrc": f"σ={claim_sigma}, mean over {len(den_imgs)} images",
    "denoise_seconds_msgsrc": f"median per 256x256 image at σ={claim_sigma}, one thread",
    "inpaint80_psnr_Monarch": size,
    "cs20_psnr_Airplane_msgsrc": size,
}
settings = (
    {}
    if scale == "small"
    else {
        "denoise_images": list(den_imgs),
        "sigmas": sigmas,
        "seeds": seeds,
        "all_sigma_seeds": all_sigma_seeds,
        "ablation_seeds": ablation_seeds,
        "ablation_images": ablation_images,
        "option_images": option_images,
        "inverse_seeds": inverse_seeds,
        "missing_ratios": missing_ratios,
        "subrates": subrates,
        "inverse_size": inverse_size,
    }
)
results.save_evidence(
    CHAPTER,
    scale,
    ev,
    CLAIMS,
    paper=paper,
    data=data_note,
    notes=notes,
    settings=settings,
    device=dev,
)
table = results.table(CHAPTER, scale)
display(HTML(table.to_html()))
if scale == "small":
    print(f"ours (small, this run): one seed, {len(den_imgs)} images: not evidence")

# %% tags=["nbval-check-output"]
m = ev.means()
headline = {"inpaint80_psnr_Monarch", "cs20_psnr_Airplane_msgsrc", "cs20_psnr_Airplane_bcs"}
if not headline <= set(m):
    print("headline inverse cases not in this run")
# small scale: 128x128 crops (values of the committed run, float-path safe)
elif inverse_size < 256:
    print(
        regression.report(
            regression.band(
                "inpainting 80% Monarch PSNR (crop)",
                m["inpaint80_psnr_Monarch"],
                expected=24.2,
                tol=0.5,
            ),
            regression.band(
                "CS 0.2 Airplane PSNR (crop)",
                m["cs20_psnr_Airplane_msgsrc"],
                expected=24.2,
                tol=0.5,
            ),
            regression.above(
                "CS 0.2 Airplane PSNR (crop)",
                m["cs20_psnr_Airplane_msgsrc"],
                "BCS-SPL",
                m["cs20_psnr_Airplane_bcs"],
                margin=1.0,
            ),
        )
    )
else:  # full-size images: the targets
    for key, target in (("inpaint80_psnr_Monarch", 26.3), ("cs20_psnr_Airplane_msgsrc", 28.0)):
        print(
            f"{key} = {m[key]:.2f} dB: target ≥ {target} {'met' if m[key] >= target else 'not met'}"
        )

# %% [markdown]
# ## Ablations: what the model's parts bring
#
# The paper's two additions to GSRC are the multi-scale search and the low-rank estimate of the
# codes $B_i$ (their claims are in the Claims table); the model as written also has Eq. 21
# ($\mu = \rho\sigma_e^2$ in the s-step and the threshold $2\lambda\mu$, with ρ = ζ/σ² and α/(2ζ) so
# that both equal ours at the first iteration) and, for denoising, the multiplier $c$ of Eq. 16.
# Each switched on or off alone, on the same noisy images at σ = 25 (first seed):

# %%
abl = den[
    (den.sigma == claim_sigma)
    & (den.seed == seeds[0])
    & den.image.isin(list(abl_imgs))
    & den.method.isin(["MS-GSRC", *ABLATIONS, *OPTIONS])
]
abl_table = abl.pivot_table(index="image", columns="method", values="psnr")
abl_table = abl_table[["MS-GSRC", *ABLATIONS, *OPTIONS]]
gain = (abl_table.sub(abl_table["MS-GSRC"], axis=0)).drop(columns="MS-GSRC")
display(
    HTML(
        pd.concat({"PSNR (dB)": abl_table, "change vs MS-GSRC (dB)": gain}, axis=1)
        .round(3)
        .to_html()
    )
)
print("mean change vs the full model (dB):", gain.mean().round(3).to_dict())

# %% tags=["nbval-check-output"]
checks = [
    regression.above(
        "full MS-GSRC PSNR",
        abl_table["MS-GSRC"].mean(),
        "no low-rank (B=0)",
        abl_table["no low-rank (B=0)"].mean(),
        margin=0.0,
    )
]
if scale == "small":  # one image: the committed run's value
    checks.append(
        regression.band(
            "single-scale − full PSNR", gain["single-scale"].mean(), expected=-0.26, tol=0.2
        )
    )
print(regression.report(*checks))

# %% [markdown]
# ## Explore
#
# Pick an image, task and level among the runs above to compare the methods (needs a running
# kernel; the static figure below shows the same comparison).

# %%
runs = {f"denoise {n} σ={s}": v for (n, s), v in den_kept.items()}
runs |= {f"inpaint {n} {r:.0%}": v for (n, r), v in inp_kept.items()}
runs |= {f"CS {n} {r}": v for (n, r), v in cs_kept.items()}


def show(run):  # the runs above, side by side
    v = runs[run]
    keys = [m for m in v if isinstance(v[m], torch.Tensor) and v[m].ndim == 2 and m != "mask"]
    return plotting.image_grid([v[m].cpu() for m in keys], keys, ncols=len(keys), vmin=0, vmax=255)


plotting.explore(show, run=list(runs));  # fmt: skip

# %% [markdown]
# ## Performance
#
# Wall-clock time per 256×256 image at σ = 25, one thread, measured in this run on this machine, as
# a ratio to BM3D's time on the same images; where MS-GSRC spends one iteration; and, at
# reference scale, one 481×321 image (the BSD68 size; a crop of Set12's Man).

# %%
d25 = den[(den.sigma == claim_sigma) & den.method.isin(["MS-GSRC", "BM3D"])]
secs = d25.groupby("method")["seconds"].median()
quality = ("PSNR (dB)", ev.means()["denoise_psnr_msgsrc"], ev.means()["denoise_psnr_bm3d"], True)
results.record_performance(
    CHAPTER,
    scale,
    f"denoising, sigma={claim_sigma}, per 256x256 image",
    "MS-GSRC",
    "BM3D",
    secs["MS-GSRC"],
    secs["BM3D"],
    quality=quality,
)
x_t = den_kept[(list(den_imgs)[0], claim_sigma)]["noisy"]
cfg = MSGSRCConfig.denoising(claim_sigma)
bm = timing.measure(
    block_matching, x_t, cfg.patch, cfg.window, cfg.k, cfg.step, cfg.scales, warmup=0, repeats=1
)
Y = bm.result.gather(x_t)
rg = timing.measure(restore_groups, Y, float(claim_sigma), cfg, warmup=0, repeats=1)
print(
    f"median seconds per image: MS-GSRC {secs['MS-GSRC']:.1f}, BM3D {secs['BM3D']:.1f}; "
    f"ratio {secs['MS-GSRC'] / secs['BM3D']:.2f}"
)
print(
    f"one iteration: block matching {bm.median:.2f} s for {Y.shape[0]} groups of {Y.shape[2]}, "
    f"group restoration {rg.median:.2f} s; {cfg.iters} iterations, "
    f"re-matching every {cfg.rematch_every}"
)
if scale != "small":
    from neurovis.restoration import Identity, add_gaussian_noise, bm3d_denoise, msgsrc, psnr

    man = embedded_images(["Man"], size=None)["Man"]
    top, left = (man.shape[0] - 321) // 2, (man.shape[1] - 481) // 2
    big = man[top : top + 321, left : left + 481].contiguous().to(dev)
    yb = add_gaussian_noise(big, claim_sigma, torch.Generator().manual_seed(seed))
    tm = timing.measure(msgsrc, yb, Identity(big.shape, dev), cfg, warmup=0, repeats=1)
    tb = timing.measure(bm3d_denoise, yb, float(claim_sigma), warmup=0, repeats=1)
    print(
        f"481x321: MS-GSRC {tm.median:.1f} s ({psnr(tm.result.image, big):.2f} dB), "
        f"BM3D {tb.median:.1f} s ({psnr(tb.result, big):.2f} dB); "
        f"ratio {tm.median / tb.median:.2f}"
    )

# %% [markdown]
# ## Deviations and limits
#
# - **Parameters.** The paper's $(\alpha, \beta, \omega, \zeta)$ values (kept in each preset's
#   `paper` field) assume an intensity scale and normalisation of the thresholds that the paper does
#   not state; used literally in $[0, 255]$ they either leave the noise in (α = 0.015 barely
#   thresholds the residual) or stall. We keep the paper's structure (patch sizes, windows, $k$,
#   scales, Eq. 20–22 forms) and choose α, β, ω, the iterations, the reference stride, the
#   re-matching period and the σ_e schedules on the tuning set (see "Tuning"); ζ = σ²/9 (Eq. 18 then
#   feeds back 10 % of $y$ each iteration, the iterative regularisation of the GSRC/WNNM family).
# - **Eq. 21 and the multiplier for denoising.** Our default s-step is the plain average of the
#   restored groups (µ = 0) with the threshold λ of Eq. 22 (α absorbs 2µ), and denoising runs
#   without $c$; both of the paper's forms are options, ablated above on the same images.
# - **Noise level for inpainting and CS.** Eq. 20 needs $\|y - x\|$ to measure noise, which a mask
#   or a projection hides; there $\sigma_e$ follows a schedule $\max(\sigma_{end}, \sigma_0 d^t)$
#   whose decay $d$ and length were chosen on the tuning set (one scene, Boat, for cost) at 80 %
#   missing and subrate 0.2, and serve the other levels; their reference stride (4) and re-matching
#   period (3) were set for cost, not tuned.
# - **CS x-step.** Our Φ has orthonormal rows, so $H^{\top}H$ is a projector and Eq. 14's x-problem
#   has an exact solution (`BlockCS.solve_normal`); the CS preset uses it (`inner_steps=0`) instead
#   of the single gradient step of Eq. 19, which is implemented and tested for general $H$.
# - **Aggregation.** All original-scale members of a group are put back (equal weights), the
#   coarse-scale members only shape the PCA basis and the low-rank estimate.
# - **Baselines.** WNNM, NCSR, PGPD, RRC, LGSR and GSRC-NLP have no maintained Python
#   implementations; BM3D (the reference package) is the strong baseline we can run. The wavelet
#   baseline's depth is tuned on the tuning set. Our BCS baseline is BCS-SPL with a block DCT, not
#   the exact BCS of the paper's Table 4: compare its row with the paper's Figure 9 BCS value in the
#   table above (a wavelet-domain BCS-SPL did not start higher on the tuning set).
# - **Scales.** `small`: one seed, two images, inpainting and CS on 128×128 crops: not evidence.
#   `reference` (the Claims table's source): the ten Set12 images outside the tuning set, five
#   noise seeds at σ = 25, one at σ = 15 and 50; the low-rank and multi-scale ablations on all ten
#   images (one seed), the Eq. 21 and multiplier options on three; inpainting (50/70/80 %) on
#   Monarch and CS (0.1/0.2/0.3) on Airplane at full size with one mask / matrix each — sized to
#   about 45 minutes on one thread. `paper`: every level on the embedded Table-1 images and
#   BSD68 from `data_root`.
