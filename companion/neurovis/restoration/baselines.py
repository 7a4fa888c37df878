"""Baselines run on the same inputs as MS-GSRC: BM3D (the ``bm3d`` package), scikit-image's
non-local means, TV and wavelet denoisers, interpolation for inpainting, BCS-SPL for CS, and the
ablated single-scale variants of MS-GSRC itself."""

from __future__ import annotations

import numpy as np
import torch

from .operators import BlockCS, Mask


def _np(x):
    return (
        x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, float)
    )


def _tensor(a, like):
    return torch.as_tensor(np.clip(a, 0, 255), dtype=like.dtype, device=like.device)


def bm3d_denoise(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """BM3D (Dabov et al. 2007, the `bm3d` package), run on [0, 1] images with σ/255."""
    import bm3d

    return _tensor(bm3d.bm3d(_np(y) / 255.0, sigma / 255.0) * 255.0, y)


def nlm_denoise(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """scikit-image non-local means with its recommended settings for known σ."""
    from skimage.restoration import denoise_nl_means

    s = sigma / 255.0
    out = denoise_nl_means(
        _np(y) / 255.0, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True
    )
    return _tensor(out * 255.0, y)


def tv_denoise(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """scikit-image TV (Chambolle) with weight proportional to σ."""
    from skimage.restoration import denoise_tv_chambolle

    return _tensor(denoise_tv_chambolle(_np(y) / 255.0, weight=1.1 * sigma / 255.0) * 255.0, y)


# Decomposition depth of the wavelet baseline per σ, chosen on the tuning set
# (``tuning.tune_wavelet_levels``; book/results/11_restoration.tuning.json).
WAVELET_LEVELS = {15: 4, 25: 4, 50: 4}


def wavelet_denoise(y: torch.Tensor, sigma: float, levels: int | None = None) -> torch.Tensor:
    """scikit-image BayesShrink wavelet denoising (db8, soft) with ``levels`` decomposition levels
    (default: the tuned ``WAVELET_LEVELS`` at the nearest σ)."""
    from skimage.restoration import denoise_wavelet

    if levels is None:
        levels = WAVELET_LEVELS[min(WAVELET_LEVELS, key=lambda s: abs(s - sigma))]
    out = denoise_wavelet(
        _np(y) / 255.0,
        sigma=sigma / 255.0,
        wavelet="db8",
        mode="soft",
        method="BayesShrink",
        wavelet_levels=levels,
        rescale_sigma=True,
    )
    return _tensor(out * 255.0, y)


DENOISERS = {
    "BM3D": bm3d_denoise,
    "NLM (skimage)": nlm_denoise,
    "TV (skimage)": tv_denoise,
    "wavelet (skimage)": wavelet_denoise,
}


def interpolate_missing(y: torch.Tensor, op: Mask) -> torch.Tensor:
    """Inpainting baseline and MS-GSRC's initial estimate: piecewise-linear (Delaunay) interpolation
    of the observed pixels, nearest-neighbour outside their convex hull."""
    from scipy.interpolate import griddata

    mask = _np(op.mask) > 0.5
    h, w = mask.shape
    pts = np.argwhere(mask)
    vals = _np(y)[mask]
    grid = np.mgrid[0:h, 0:w].reshape(2, -1).T
    lin = griddata(pts, vals, grid, method="linear")
    near = griddata(pts, vals, grid, method="nearest")
    out = np.where(np.isnan(lin), near, lin).reshape(h, w)
    out[mask] = vals
    return _tensor(out, y)


def biharmonic_inpaint(y: torch.Tensor, op: Mask) -> torch.Tensor:
    """Inpainting baseline: scikit-image's biharmonic inpainting of the missing pixels."""
    from skimage.restoration import inpaint_biharmonic

    mask = _np(op.mask) < 0.5
    return _tensor(inpaint_biharmonic(_np(y) / 255.0, mask) * 255.0, y)


def bcs_spl(
    y: torch.Tensor, op: BlockCS, iters: int = 60, lam: float = 1.5, tol: float = 1e-4
) -> torch.Tensor:
    """BCS-SPL (Mun and Fowler 2009) with a block DCT: AR(1) linear-MMSE start, then alternating
    Wiener smoothing, projection onto {x : Φx_b = y_b}, hard thresholding of block-DCT coefficients
    at λ·σ̂·√(2 log K), and a second projection, until the iterate stops changing."""
    from scipy.fft import dctn, idctn
    from scipy.signal import wiener

    b = op.block
    x = op.ar1_mmse(y)
    Hty = op.adjoint(y)

    def project(z):
        return z - op.gram(z) + Hty  # Φ has orthonormal rows: z + Φᵀ(y − Φz)

    prev = x
    for _ in range(iters):
        xs = project(torch.as_tensor(wiener(_np(x), 3), dtype=x.dtype))
        h, w = xs.shape
        blocks = _np(xs).reshape(h // b, b, w // b, b).transpose(0, 2, 1, 3)
        coef = dctn(blocks, axes=(2, 3), norm="ortho")
        sig = np.median(np.abs(coef[..., b // 2 :, b // 2 :])) / 0.6745
        coef[np.abs(coef) < lam * sig * np.sqrt(2 * np.log(coef.size))] = 0.0
        back = idctn(coef, axes=(2, 3), norm="ortho").transpose(0, 2, 1, 3).reshape(h, w)
        x = project(torch.as_tensor(back, dtype=xs.dtype))
        if (x - prev).norm() / prev.norm().clamp_min(1e-12) < tol:
            break
        prev = x
    return x.clamp(0, 255)
