"""Experiment drivers shared by the chapter and the benchmark: degrade, restore with MS-GSRC and
the baselines on the same input, score (PSNR, SSIM) and time."""

from __future__ import annotations

import time

import torch

from .baselines import DENOISERS, bcs_spl, biharmonic_inpaint, interpolate_missing
from .msgsrc import MSGSRCConfig, msgsrc, psnr
from .operators import BlockCS, Identity, Mask, add_gaussian_noise


def ssim(x: torch.Tensor, ref: torch.Tensor) -> float:
    """SSIM (Wang et al. 2004) via scikit-image, data range 255."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            x.detach().cpu().double().numpy(), ref.detach().cpu().double().numpy(), data_range=255.0
        )
    )


def _score(method, image, out, clean, seconds, **extra):
    return {
        "image": image,
        "method": method,
        "psnr": psnr(out, clean),
        "ssim": ssim(out, clean),
        "seconds": seconds,
        **extra,
    }


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def run_denoising(
    images: dict,
    sigmas,
    seed: int = 0,
    baselines=("BM3D",),
    variants: dict | None = None,
    keep: bool = False,
):
    """Rows of {image, sigma, method, psnr, ssim, seconds} for MS-GSRC (and ``variants``: name ->
    function(sigma) -> MSGSRCConfig) and the named ``baselines`` on identical noisy inputs.
    With ``keep``, also return {(image, sigma): {"noisy", "clean", method: restored, "history"}}."""
    rows, kept = [], {}
    variants = variants or {"MS-GSRC": MSGSRCConfig.denoising}
    for sigma in sigmas:
        for i, (name, x) in enumerate(images.items()):
            g = torch.Generator().manual_seed(seed * 1000 + i * 10 + int(sigma))
            y = add_gaussian_noise(x, sigma, g)
            store = {"noisy": y, "clean": x}
            for label, make_cfg in variants.items():
                res, sec = _timed(msgsrc, y, Identity(x.shape, x.device), make_cfg(sigma), clean=x)
                rows.append(_score(label, name, res.image, x, sec, sigma=sigma))
                store[label], store[label + " history"] = res.image, res.history
            for b in baselines:
                out, sec = _timed(DENOISERS[b], y, sigma)
                rows.append(_score(b, name, out, x, sec, sigma=sigma))
                store[b] = out
            kept[(name, sigma)] = store
    return (rows, kept) if keep else rows


def _run_inverse(
    images: dict,
    levels,
    key: str,
    seed: int,
    make_op,
    start: tuple,
    make_cfg,
    keep: bool,
    extra,
    others: tuple = (),
):
    """Shared driver of the inpainting and CS experiments: for every level and image, build the
    operator, measure y = Hx, compute the baseline that also starts MS-GSRC, then run MS-GSRC.
    start: (baseline label, function(y, op) -> x0); others: more (label, function(y, op)) baselines;
    extra(y, op) -> additional arrays to keep."""
    rows, kept = [], {}
    base_label, base_fn = start
    for level in levels:
        for i, (name, x) in enumerate(images.items()):
            g = torch.Generator().manual_seed(seed * 1000 + i * 10 + int(100 * level))
            op = make_op(x, level, g)
            y = op.forward(x)
            x0, sec0 = _timed(base_fn, y, op)
            rows.append(_score(base_label, name, x0, x, sec0, **{key: level}))
            more = {}
            for label, fn in others:
                more[label], sec1 = _timed(fn, y, op)
                rows.append(_score(label, name, more[label], x, sec1, **{key: level}))
            res, sec = _timed(msgsrc, y, op, make_cfg(level), x0=x0, clean=x)
            rows.append(_score("MS-GSRC", name, res.image, x, sec + sec0, **{key: level}))
            kept[(name, level)] = {
                **extra(y, op),
                "clean": x,
                base_label: x0,
                **more,
                "MS-GSRC": res.image,
                "history": res.history,
            }
    return (rows, kept) if keep else rows


def run_inpainting(images: dict, ratios, seed: int = 0, keep: bool = False, make_cfg=None):
    """Rows for MS-GSRC (started from the linear interpolation), the interpolation and
    scikit-image's biharmonic inpainting on random masks with ``ratios`` missing."""
    return _run_inverse(
        images,
        ratios,
        "missing",
        seed,
        lambda x, r, g: Mask.random(x.shape, r, g, device=x.device),
        ("linear interpolation", interpolate_missing),
        make_cfg or MSGSRCConfig.inpainting,
        keep,
        lambda y, op: {"observed": y, "mask": op.mask},
        others=(("biharmonic (skimage)", biharmonic_inpaint),),
    )


def run_compressed_sensing(
    images: dict, subrates, seed: int = 0, keep: bool = False, make_cfg=None
):
    """Rows for MS-GSRC (started from BCS-SPL, as the paper) and BCS-SPL at each subrate."""
    return _run_inverse(
        images,
        subrates,
        "subrate",
        seed,
        lambda x, s, g: BlockCS(x.shape, s, generator=g, device=x.device),
        ("BCS-SPL", bcs_spl),
        make_cfg or MSGSRCConfig.compressed_sensing,
        keep,
        lambda y, op: {},
    )
