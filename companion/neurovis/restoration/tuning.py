"""Tuning as code: MS-GSRC's free parameters and the baselines' knobs, chosen on images that no
evaluation set contains.

The paper gives (α, β, ω, ζ) per noise level, missing ratio and subrate, but not the intensity
scale and normalisation its thresholds assume; used literally on [0, 255] images they fail (see
the chapter). So we choose them here, by a coordinate search on a *tuning set* of three scenes
(Barbara, Boat, Foreman) that shares no scene with the evaluation sets: Set12 without Barbara and
Boat for denoising, the paper's embedded Table-3/4 and Figure 5/9 images without Foreman for
inpainting and compressed sensing (``check_disjoint`` enforces it).

``python -m neurovis bench restoration --tune`` runs the search and writes
``book/results/11_restoration.tuning.json`` (every trial, the chosen values, provenance); the
presets ``MSGSRCConfig.denoising / .inpainting / .compressed_sensing`` hold the chosen values and
the chapter shows the file and checks that the two agree.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import torch

# Scene of every embedded image name used anywhere in the chapter (a scene may be in several sets).
SCENES = {
    "Barbara": "barbara",
    "Barbara256": "barbara",
    "barbara": "barbara",
    "09": "barbara",
    "Boat": "boat",
    "boats": "boat",
    "10": "boat",
    "Foreman": "foreman",
    "foreman": "foreman",
}

# The tuning set: one copy of each tuning scene (paths inside data/embedded/restoration).
TUNING_IMAGES = {"Barbara": "Set12/09.png", "Boat": "Set12/10.png", "Foreman": "Set11/foreman.tif"}

# Evaluation sets (no tuning scene): Set12 minus Barbara and Boat for denoising; the paper's
# inpainting (Table 3, Figure 5) and CS (Table 4, Figures 7-9) images that are embedded.
DENOISE_EVAL = [
    "Cameraman",
    "House",
    "Peppers",
    "Starfish",
    "Monarch",
    "Airplane",
    "Parrot",
    "Lena",
    "Man",
    "Couple",
]
INPAINT_EVAL = ["Monarch", "House", "Lena", "Peppers", "Leaves"]
CS_EVAL = ["Airplane", "Leaves", "House", "Lena", "Monarch"]

TUNING_FILE = "11_restoration.tuning.json"


def scene(name: str) -> str:
    return SCENES.get(name, name.lower())


def check_disjoint(evaluation: list[str], tuning: list[str] | None = None) -> None:
    """Raise if an evaluation image shows a scene of the tuning set."""
    tuned = {scene(n) for n in (tuning or TUNING_IMAGES)}
    overlap = sorted(n for n in evaluation if scene(n) in tuned)
    if overlap:
        raise ValueError(
            f"evaluation images {overlap} show tuning scenes {sorted(tuned)}: choose others"
        )


def tuning_images(size: int = 256) -> dict[str, torch.Tensor]:
    from .data import embedded_images

    return {
        name: next(iter(embedded_images([rel], size=size).values()))
        for name, rel in TUNING_IMAGES.items()
    }


def coordinate_search(
    evaluate,
    start: dict,
    grid: dict,
    speed_keys=(),
    speed_tol: float = 0.05,
    min_gain: float = 0.01,
    log: list | None = None,
    known: list | None = None,
):
    """Maximise ``evaluate(params) -> (score, seconds)`` one key of ``grid`` at a time (one sweep,
    in ``grid``'s order), starting from ``start``. A value replaces the current one when it scores
    ``min_gain`` higher; for ``speed_keys`` (iterations, stride, ...) the fastest value is kept
    whose score is within ``speed_tol`` of the best score seen so far (so the speed choices
    together cost at most ``speed_tol``). Every trial is appended to ``log``; ``known``: trials
    of an earlier run of the same code ({"params", "score", "seconds"}), reused, not recomputed."""
    log = [] if log is None else log
    cache = {tuple(sorted(t["params"].items())): (t["score"], t["seconds"]) for t in (known or [])}

    def score(p):
        key = tuple(sorted(p.items()))
        if key not in cache:
            cache[key] = evaluate(dict(p))
        log.append({"params": dict(p), "score": cache[key][0], "seconds": cache[key][1]})
        return cache[key]

    best = dict(start)
    seen = score(best)[0]
    for k, values in grid.items():
        trials = {v: score({**best, k: v}) for v in dict.fromkeys([best[k], *values])}
        seen = max(seen, max(sc for sc, _ in trials.values()))
        if k in speed_keys:
            ok = [v for v, (sc, _) in trials.items() if sc >= seen - speed_tol]
            best[k] = min(ok, key=lambda v: trials[v][1]) if ok else best[k]
        else:
            cand = max(trials, key=lambda v: trials[v][0])
            if trials[cand][0] >= trials[best[k]][0] + min_gain:
                best[k] = cand
    return best, score(best)[0], log


def _mean_psnr_denoise(images, sigma, make_cfg, seed):
    from .msgsrc import msgsrc, psnr
    from .operators import Identity, add_gaussian_noise

    scores, t0 = [], time.perf_counter()
    for i, (name, x) in enumerate(images.items()):
        y = add_gaussian_noise(x, sigma, torch.Generator().manual_seed(10_000 + seed * 100 + i))
        scores.append(psnr(msgsrc(y, Identity(x.shape), make_cfg()).image, x))
    return sum(scores) / len(scores), (time.perf_counter() - t0) / len(images)


DENOISE_GRID = {
    "iters": [-2, -1],
    "step": [4],
    "rematch_every": [3],
    "alpha": [0.7, 1.4],
    "beta": [-0.5, 0.5],
    "omega": [0.35, 0.55],
}


def tune_denoising(
    sigma: float,
    images: dict | None = None,
    seed: int = 0,
    grid: dict | None = None,
    start: dict | None = None,
    known: list | None = None,
):
    """Coordinate search of the denoising preset at ``sigma`` on the tuning set. ``grid``: key ->
    candidate values; for beta and iters the candidates are offsets from the current preset;
    ``start``: the starting values (default: the preset's); ``known``: earlier trials to reuse."""
    from .msgsrc import MSGSRCConfig

    images = images or tuning_images()
    check_disjoint([], list(images))
    base = MSGSRCConfig.denoising(sigma)
    grid = dict(grid or DENOISE_GRID)
    start = start or {k: getattr(base, k) for k in grid}
    for rel in ("beta", "iters"):
        if rel in grid:
            grid[rel] = sorted({start[rel] + d for d in grid[rel] if start[rel] + d > 0})

    def evaluate(p):
        return _mean_psnr_denoise(images, sigma, lambda: replace(base, **p), seed)

    best, score, log = coordinate_search(
        evaluate, start, grid, known=known, speed_keys=("iters", "step", "rematch_every")
    )
    return {"sigma": sigma, "start": start, "chosen": best, "psnr": score, "trials": log}


def tune_wavelet_levels(
    sigmas, images: dict | None = None, levels=(1, 2, 3, 4, 5), seed: int = 0
) -> dict:
    """The wavelet baseline's decomposition depth per σ on the tuning set (mean PSNR)."""
    from .baselines import wavelet_denoise
    from .msgsrc import psnr
    from .operators import add_gaussian_noise

    images = images or tuning_images()
    out = {}
    for sigma in sigmas:
        table = {}
        for lv in levels:
            vals = []
            for i, (name, x) in enumerate(images.items()):
                g = torch.Generator().manual_seed(10_000 + seed * 100 + i)
                y = add_gaussian_noise(x, sigma, g)
                vals.append(psnr(wavelet_denoise(y, sigma, levels=lv), x))
            table[lv] = sum(vals) / len(vals)
        out[str(int(sigma))] = {
            "psnr_by_levels": {str(k): v for k, v in table.items()},
            "chosen": max(table, key=table.get),
        }
    return out


def _inverse_run(task, x, level, cfg, seed, i):
    from .baselines import bcs_spl, interpolate_missing
    from .msgsrc import msgsrc
    from .operators import BlockCS, Mask

    g = torch.Generator().manual_seed(10_000 + seed * 100 + i)
    if task == "inpainting":
        op = Mask.random(x.shape, level, g)
        y = op.forward(x)
        x0 = interpolate_missing(y, op)
    else:
        op = BlockCS(x.shape, level, generator=g)
        y = op.forward(x)
        x0 = bcs_spl(y, op)
    return msgsrc(y, op, cfg, x0=x0, clean=x)


def tune_inverse(
    task: str,
    level: float,
    images: dict | None = None,
    seed: int = 0,
    decays=(0.93, 0.96),
    max_iters: int = 80,
    tol: float = 0.01,
    known: list | None = None,
) -> dict:
    """The σ_e schedule σ_e(t) = max(end, start·decayᵗ) of the inpainting or CS preset at ``level``
    (missing ratio / subrate) on the tuning set: for each decay, one run of ``max_iters``
    iterations records the PSNR after every iteration (a shorter run is a prefix of it); the decay
    whose curve peaks highest wins, and the run stops at the first iteration within ``tol`` dB of
    that peak. ``known``: trials of an earlier run of the same code, reused."""
    from .msgsrc import MSGSRCConfig

    images = images or tuning_images()
    check_disjoint([], list(images))
    make = MSGSRCConfig.inpainting if task == "inpainting" else MSGSRCConfig.compressed_sensing
    base = make(level)
    start_sigma, end_sigma = base.sigma_schedule[:2]
    curves, trials = {}, []
    reuse = {(t["decay"], t["iters"]): t for t in (known or [])}
    for decay in decays:
        if (decay, max_iters) in reuse:
            curves[decay] = reuse[(decay, max_iters)]["curve"]
            trials.append(reuse[(decay, max_iters)])
            continue
        cfg = replace(base, iters=max_iters, sigma_schedule=(start_sigma, end_sigma, decay))
        t0, per_image = time.perf_counter(), []
        for i, x in enumerate(images.values()):
            per_image.append(_inverse_run(task, x, level, cfg, seed, i).history["psnr"])
        curve = [sum(v) / len(v) for v in zip(*per_image)]
        curves[decay] = curve
        trials.append(
            {
                "decay": decay,
                "iters": max_iters,
                "final_psnr": curve[-1],
                "best_psnr": max(curve),
                "curve": [round(v, 3) for v in curve],
                "seconds_per_image": (time.perf_counter() - t0) / len(images),
            }
        )
    decay = max(curves, key=lambda d: max(curves[d]))
    curve = curves[decay]
    iters = next(t + 1 for t, v in enumerate(curve) if v >= max(curve) - tol)
    return {
        "task": task,
        "level": level,
        "schedule": [start_sigma, end_sigma],
        "tol": tol,
        "chosen": {"decay": decay, "iters": iters},
        "psnr": curve[iters - 1],
        "trials": trials,
        "images": list(images),
    }


def save_tuning(record: dict, device=None) -> "Path":  # noqa: F821
    """Write the tuning record with provenance to ``<results>/11_restoration.tuning.json``."""
    from ..core import results

    prov = results._provenance(
        device, None, "tuning set: " + ", ".join(TUNING_IMAGES.values()), "11_restoration"
    )
    out = results.results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / TUNING_FILE
    path.write_text(
        json.dumps(
            {
                "chapter": "11_restoration",
                "kind": "tuning",
                "tuning_images": TUNING_IMAGES,
                **record,
                "provenance": prov,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    return path


def load_tuning() -> dict | None:
    from ..core import results

    return results._read(TUNING_FILE)
