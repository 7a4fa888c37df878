"""Degradation operators H of Eq. 1, y = Hx + n, behind one interface.

Images are 2-D float tensors in the [0, 255] range. Every operator has ``forward`` (H x),
``adjoint`` (Hᵀ y) and ``gram`` (HᵀH x); diagonal operators (identity, mask) also expose their
diagonal so the x sub-problem (Eq. 18) has a closed form.
"""

from __future__ import annotations

import math

import torch


class Operator:
    name = "operator"
    diagonal: torch.Tensor | None = None  # HᵀH as a per-pixel weight, if H is diagonal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def gram(self, x: torch.Tensor) -> torch.Tensor:
        return self.adjoint(self.forward(x))


class Identity(Operator):
    """Denoising: H = I."""

    name = "denoising"

    def __init__(self, shape, device="cpu"):
        self.diagonal = torch.ones(shape, device=device)

    def forward(self, x):
        return x

    def adjoint(self, y):
        return y


class Mask(Operator):
    """Inpainting: H keeps the observed pixels (mask == 1) and zeroes the missing ones."""

    name = "inpainting"

    def __init__(self, mask: torch.Tensor):
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {tuple(mask.shape)}")
        self.mask = mask.float()
        self.diagonal = self.mask

    @classmethod
    def random(
        cls, shape, missing_ratio: float, generator: torch.Generator | None = None, device="cpu"
    ):
        """A uniformly random mask with ``missing_ratio`` of the pixels missing (exactly)."""
        if not 0.0 <= missing_ratio < 1.0:
            raise ValueError(f"missing_ratio must be in [0, 1), got {missing_ratio}")
        n = shape[0] * shape[1]
        order = torch.randperm(n, generator=generator)
        mask = torch.ones(n)
        mask[order[: int(round(missing_ratio * n))]] = 0.0
        return cls(mask.reshape(shape).to(device))

    def forward(self, x):
        return x * self.mask

    def adjoint(self, y):
        return y * self.mask


class BlockCS(Operator):
    """Block compressed sensing: each B×B block is measured by the same Gaussian matrix Φ (m × B²)
    with orthonormal rows, m = round(subrate · B²) (Zhang et al. 2014's set-up, B = 32).

    Measurements are stored as (num_blocks, m). ``phi_gram`` = ΦᵀΦ is precomputed (Eq. 19's HᵀH).
    """

    name = "compressed sensing"

    def __init__(
        self,
        shape,
        subrate: float,
        block: int = 32,
        generator: torch.Generator | None = None,
        device="cpu",
    ):
        if not 0.0 < subrate <= 1.0:
            raise ValueError(f"subrate must be in (0, 1], got {subrate}")
        h, w = shape
        if h % block or w % block:
            raise ValueError(f"image shape {shape} must be a multiple of the CS block size {block}")
        self.shape, self.block, self.subrate = (h, w), block, subrate
        m = max(1, int(round(subrate * block * block)))
        gauss = torch.randn(block * block, m, generator=generator, dtype=torch.float64)
        # orthonormal columns -> Φ has orthonormal rows
        q, _ = torch.linalg.qr(gauss)
        self.phi = q.T.float().to(device)  # (m, B²)
        self.phi_gram = self.phi.T @ self.phi  # (B², B²) = ΦᵀΦ, a projector

    def _blocks(self, x):
        b = self.block
        h, w = self.shape
        return x.reshape(h // b, b, w // b, b).permute(0, 2, 1, 3).reshape(-1, b * b)

    def _image(self, blocks):
        b = self.block
        h, w = self.shape
        return blocks.reshape(h // b, w // b, b, b).permute(0, 2, 1, 3).reshape(h, w)

    def forward(self, x):
        return self._blocks(x) @ self.phi.T  # (num_blocks, m)

    def adjoint(self, y):
        return self._image(y @ self.phi)

    def gram(self, x):
        return self._image(self._blocks(x) @ self.phi_gram)

    def solve_normal(self, r: torch.Tensor, a: float, b: float) -> torch.Tensor:
        """Solve (a·ΦᵀΦ + b·I) x = r exactly, blockwise: ΦᵀΦ is a projector because Φ has
        orthonormal rows, so (aG + bI)⁻¹ = (I − a/(a+b)·G)/b."""
        return (r - a / (a + b) * self.gram(r)) / b

    def ar1_mmse(self, y, rho: float = 0.95):
        """Linear MMSE initial reconstruction under an AR(1) image model, R_ij = rho^dist(i, j)
        (the initial estimate of BCS-SPL; Mun and Fowler 2009)."""
        b = self.block
        idx = torch.arange(b, device=y.device, dtype=torch.float32)
        yy, xx = torch.meshgrid(idx, idx, indexing="ij")
        pos = torch.stack([yy.ravel(), xx.ravel()], 1)
        dist = torch.cdist(pos, pos)
        R = rho**dist  # (B², B²)
        phi = self.phi
        P = R @ phi.T @ torch.linalg.inv(phi @ R @ phi.T)  # (B², m)
        return self._image(y @ P.T)


def add_gaussian_noise(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """y = x + n, n ~ N(0, σ²) in the image's [0, 255] range."""
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a positive number in the [0, 255] range, got {sigma}")
    return x + sigma * torch.randn(x.shape, generator=generator).to(x.device)
