"""Multi-scale non-local grouping (Section 2.4, steps a–b): for every reference patch, the k most
similar patches from a W×W window of the image and a χW×χW window of each down-scaled copy.

Everything is tensor code: patch distances for all reference patches at once, one window offset
per batch row, with integral images for the original scale and gathered dot products for the
coarse scales; ``topk`` picks the k nearest over all scales together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def extract_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """All overlapping patch×patch patches of a 2-D image as rows: (num_positions, patch²),
    positions in row-major order over the (H-p+1)×(W-p+1) grid."""
    return F.unfold(x[None, None], patch).squeeze(0).T.contiguous()


def reference_grid(size: int, patch: int, step: int) -> torch.Tensor:
    """Top-left coordinates of reference patches along one axis, always including the last one."""
    last = size - patch
    coords = list(range(0, last + 1, step))
    if coords[-1] != last:
        coords.append(last)
    return torch.tensor(coords)


def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Down-scaled copy (bicubic with anti-aliasing) of a 2-D image."""
    h, w = x.shape
    size = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    return F.interpolate(
        x[None, None], size=size, mode="bicubic", antialias=True, align_corners=False
    )[0, 0]


@dataclass
class Groups:
    """The result of block matching.

    ref_index: (G,) index of each reference patch in the original-scale patch table.
    index: (G, k) indices of the group members in the concatenated patch table
        [original-scale patches, then each coarse scale's patches]; column 0 is the reference.
    num_fine: number of original-scale patch positions (indices below it are original-scale).
    scale_offsets: start index of every scale's block in the concatenated table.
    """

    ref_index: torch.Tensor
    index: torch.Tensor
    num_fine: int
    scale_offsets: list
    scales: tuple
    patch: int

    @property
    def is_fine(self) -> torch.Tensor:
        return self.index < self.num_fine

    def patch_table(self, x: torch.Tensor) -> torch.Tensor:
        """Patch rows of ``x`` at every scale, in the order the indices refer to."""
        tables = [extract_patches(x, self.patch)]
        for s in self.scales[1:]:
            tables.append(extract_patches(resize(x, s), self.patch))
        return torch.cat(tables, 0)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """Group matrices Y_i = R_i x^MS, stacked: (G, patch², k)."""
        return self.patch_table(x)[self.index].transpose(1, 2)


def _box_sums(img: torch.Tensor, patch: int, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Sum of ``img`` (B, H, W) over patch×patch squares with top-left (ys, xs), via integral
    images."""
    b, h, w = img.shape
    ii = torch.zeros(b, h + 1, w + 1, dtype=img.dtype, device=img.device)
    ii[:, 1:, 1:] = img.cumsum(1).cumsum(2)
    y0, x0 = ys[:, None], xs[None, :]
    y1, x1 = y0 + patch, x0 + patch
    return (ii[:, y1, x1] - ii[:, y0, x1] - ii[:, y1, x0] + ii[:, y0, x0]).reshape(b, -1)


def _fine_distances(x, patch, ry, rx, half, chunk=64):
    """Squared distances from every reference patch to the patches at each offset of a
    (2·half+1)² window: (num_refs, num_offsets) and the candidates' flat positions."""
    h, w = x.shape
    ph, pw = h - patch + 1, w - patch + 1
    d = torch.arange(-half, half + 1, device=x.device)
    oy, ox = torch.meshgrid(d, d, indexing="ij")
    oy, ox = oy.ravel(), ox.ravel()
    xp = F.pad(x[None, None], (half, half, half, half), mode="constant", value=0.0)[0, 0]
    out = []
    for start in range(0, len(oy), chunk):
        sy, sx = oy[start : start + chunk], ox[start : start + chunk]
        shifted = torch.stack(
            [
                xp[half + a : half + a + h, half + b : half + b + w]
                for a, b in zip(sy.tolist(), sx.tolist())
            ]
        )
        out.append(_box_sums((shifted - x[None]) ** 2, patch, ry, rx))
    dist = torch.cat(out, 0).T  # (refs, offsets)
    cy = ry[:, None, None] + oy[None, None, :]  # (ny, 1, O)
    cx = rx[None, :, None] + ox[None, None, :]  # (1, nx, O)
    valid = ((cy >= 0) & (cy < ph)) & ((cx >= 0) & (cx < pw))
    pos = (cy.clamp(0, ph - 1) * pw + cx.clamp(0, pw - 1)).reshape(-1, len(oy))
    dist = torch.where(valid.reshape(-1, len(oy)), dist, torch.full_like(dist, float("inf")))
    return dist, pos


def _coarse_distances(ref_patches, ry, rx, xc, patch, scale, half, chunk=32):
    """Squared distances from original-scale reference patches to the patches of a down-scaled
    copy ``xc`` in a (2·half+1)² window around each reference's scaled position."""
    hc, wc = xc.shape
    ph, pw = hc - patch + 1, wc - patch + 1
    table = extract_patches(xc, patch)  # (ph*pw, n)
    tnorm = (table**2).sum(1)
    cy0 = (ry.float() * scale).round().long().clamp(0, ph - 1)
    cx0 = (rx.float() * scale).round().long().clamp(0, pw - 1)
    cy0 = cy0[:, None].expand(len(ry), len(rx)).reshape(-1)
    cx0 = cx0[None, :].expand(len(ry), len(rx)).reshape(-1)
    d = torch.arange(-half, half + 1, device=xc.device)
    oy, ox = torch.meshgrid(d, d, indexing="ij")
    oy, ox = oy.ravel(), ox.ravel()
    cy, cx = cy0[:, None] + oy[None], cx0[:, None] + ox[None]  # (refs, O)
    valid = (cy >= 0) & (cy < ph) & (cx >= 0) & (cx < pw)
    pos = cy.clamp(0, ph - 1) * pw + cx.clamp(0, pw - 1)
    rnorm = (ref_patches**2).sum(1)
    dist = torch.empty(pos.shape, dtype=ref_patches.dtype, device=xc.device)
    for start in range(0, pos.shape[1], chunk):
        p = pos[:, start : start + chunk]
        dots = torch.einsum("rn,ron->ro", ref_patches, table[p])
        dist[:, start : start + chunk] = rnorm[:, None] + tnorm[p] - 2 * dots
    dist = torch.where(valid, dist.clamp_min(0), torch.full_like(dist, float("inf")))
    return dist, pos, ph * pw


def block_matching(
    x: torch.Tensor, patch: int, window: int, k: int, step: int = 3, scales: tuple = (1.0,)
) -> Groups:
    """Group the k nearest patches of every reference patch over all ``scales``.

    x: (H, W) image; window: W of the W×W search window (χW at scale χ); step: stride of the
    reference grid; scales: (1, χ, ...) with 1 first. Returns Groups whose column 0 is the
    reference patch itself (distance 0).
    """
    if x.ndim != 2:
        raise ValueError(f"block matching needs a 2-D image, got shape {tuple(x.shape)}")
    if scales[0] != 1.0 or any(not 0 < s < 1 for s in scales[1:]):
        raise ValueError(f"scales must start with 1 and then lie in (0, 1), got {scales}")
    h, w = x.shape
    if min(h, w) < patch:
        raise ValueError(f"image {tuple(x.shape)} is smaller than the patch size {patch}")
    ry, rx = (
        reference_grid(h, patch, step).to(x.device),
        reference_grid(w, patch, step).to(x.device),
    )
    half = window // 2
    dist, pos = _fine_distances(x, patch, ry, rx, half)
    # offset (0, 0): the reference leads its group
    dist[:, half * (2 * half + 1) + half] = -1.0
    pw = w - patch + 1
    ref_index = (ry[:, None] * pw + rx[None, :]).reshape(-1)
    num_fine = (h - patch + 1) * pw
    dists, poss, offsets = [dist], [pos], [0]
    offset = num_fine
    if len(scales) > 1:
        ref_patches = extract_patches(x, patch)[ref_index]
        for s in scales[1:]:
            xc = resize(x, s)
            if min(xc.shape) < patch:
                raise ValueError(
                    f"scale {s} makes the image {tuple(xc.shape)} smaller than the patch {patch}"
                )
            dc, pc, count = _coarse_distances(
                ref_patches, ry, rx, xc, patch, s, max(1, int(round(s * half)))
            )
            dists.append(dc)
            poss.append(pc + offset)
            offsets.append(offset)
            offset += count
    dist, pos = torch.cat(dists, 1), torch.cat(poss, 1)
    kk = min(k, dist.shape[1])
    _, order = torch.topk(dist, kk, dim=1, largest=False)
    index = torch.gather(pos, 1, order)
    return Groups(ref_index, index, num_fine, offsets, tuple(scales), patch)
