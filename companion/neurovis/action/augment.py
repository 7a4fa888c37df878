"""Modality-specific augmentations T(.) of Eq. 7-8 (Section 4.2), batched, seeded, with a strength
knob.

Skeleton (N, C, T, V): jittering, random resized (temporal) crop, scaling, rotation, shearing.
IMU (N, T, S), S a multiple of 3 (acc, gyro, ... triplets): jittering, scaling, permutation of time
segments, 3-D rotation (the same for every triplet), shuffle of the x/y/z channels.
``strength=0`` is the identity; ``strength=1`` the default magnitudes below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """(N, 3) Euler angles (x, y, z, radians) -> (N, 3, 3) rotation matrices R = Rz Ry Rx."""
    cx, cy, cz = torch.cos(angles).unbind(-1)
    sx, sy, sz = torch.sin(angles).unbind(-1)
    o, z = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([o, z, z, z, cx, -sx, z, sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, z, sz, cz, z, z, z, o], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def _uniform(n, low, high, gen, shape=()):
    return low + (high - low) * torch.rand((n, *shape), generator=gen)


def resized_crop(
    x: torch.Tensor, min_ratio: float, gen: torch.Generator, time_dim: int
) -> torch.Tensor:
    """Random temporal crop of length ratio in [min_ratio, 1] per sample, resized back to T
    (linear)."""
    if min_ratio >= 1:
        return x
    xt = x.movedim(time_dim, -1)  # (N, ..., T)
    n, t = xt.shape[0], xt.shape[-1]
    flat = xt.reshape(n, -1, t)
    ratio = _uniform(n, min_ratio, 1.0, gen)
    start = torch.rand(n, generator=gen) * (1 - ratio)
    pos = (start[:, None] + ratio[:, None] * torch.linspace(0, 1, t)[None]) * (t - 1)  # (N, T)
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo).unsqueeze(1)
    lo, hi = lo.unsqueeze(1).expand_as(flat), hi.unsqueeze(1).expand_as(flat)
    out = flat.gather(-1, lo) * (1 - w) + flat.gather(-1, hi) * w
    return out.reshape(xt.shape).movedim(-1, time_dim)


@dataclass(frozen=True)
class SkeletonAugment:
    """T(x^s) of Eq. 7 for (N, C, T, V) skeletons (C = 2 or 3)."""

    strength: float = 1.0
    jitter: float = 0.02  # std of Gaussian noise (skeletons are in torso lengths)
    crop_min: float = 0.8  # shortest crop, as a fraction of T
    scale: float = 0.2  # scale factors in [1 - s, 1 + s], per axis
    rotate_deg: float = 20.0  # max angle about each axis (only the in-plane axis for C = 2)
    shear: float = 0.2  # off-diagonal shear coefficients in [-s, s]

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (2, 3):
            raise ValueError(f"SkeletonAugment expects (N, C=2|3, T, V), got {tuple(x.shape)}")
        s = float(self.strength)
        if s == 0:
            return x
        n, c = x.shape[:2]
        x = resized_crop(x, 1 - s * (1 - self.crop_min), gen, time_dim=2)
        if c == 3:
            ang = _uniform(n, -1, 1, gen, (3,)) * math.radians(self.rotate_deg * s)
            rot = rotation_matrices(ang)
        else:
            a = _uniform(n, -1, 1, gen) * math.radians(self.rotate_deg * s)
            rot = torch.stack([torch.cos(a), -torch.sin(a), torch.sin(a), torch.cos(a)], -1).view(
                n, 2, 2
            )
        shear = _uniform(n, -1, 1, gen, (c, c)) * (self.shear * s)
        shear = shear * (1 - torch.eye(c)) + torch.eye(c)
        scale = torch.diag_embed(_uniform(n, 1 - self.scale * s, 1 + self.scale * s, gen, (c,)))
        m = scale @ shear @ rot  # (N, C, C)
        x = torch.einsum("nij,njtv->nitv", m, x)
        return x + torch.randn(x.shape, generator=gen) * (self.jitter * s)


@dataclass(frozen=True)
class IMUAugment:
    """T(x^i) of Eq. 8 for (N, T, S) inertial signals, S a multiple of 3."""

    strength: float = 1.0
    jitter: float = 0.05  # std of Gaussian noise (signals are z-scored)
    scale: float = 0.2  # per-channel factors in [1 - s, 1 + s]
    permute_p: float = 0.5  # probability of permuting time segments (times strength)
    segments: int = 4  # number of segments for the permutation
    rotate_deg: float = 30.0  # max angle about each axis, the same rotation for every triplet
    shuffle_p: float = 0.3  # probability of shuffling x/y/z (times strength)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if x.ndim != 3 or x.shape[2] % 3:
            raise ValueError(
                f"IMUAugment expects (N, T, S) with S a multiple of 3, got {tuple(x.shape)}"
            )
        s = float(self.strength)
        if s == 0:
            return x
        n, t, ch = x.shape
        # permutation of time segments
        do_perm = torch.rand(n, generator=gen) < self.permute_p * s
        if do_perm.any():
            bounds = torch.linspace(0, t, self.segments + 1).long().tolist()
            segs = [torch.arange(bounds[k], bounds[k + 1]) for k in range(self.segments)]
            order = torch.argsort(torch.rand(n, self.segments, generator=gen), dim=1)
            perm_idx = torch.stack(
                [
                    torch.cat([segs[k] for k in order[i].tolist()])
                    if do_perm[i]
                    else torch.arange(t)
                    for i in range(n)
                ]
            )  # (N, T)
            x = x.gather(1, perm_idx.unsqueeze(-1).expand_as(x))
        # rotation of every (x, y, z) triplet, then channel shuffle of the axes
        trip = x.reshape(n, t, ch // 3, 3)
        rot = rotation_matrices(_uniform(n, -1, 1, gen, (3,)) * math.radians(self.rotate_deg * s))
        trip = torch.einsum("nij,ntkj->ntki", rot, trip)
        do_shuf = torch.rand(n, generator=gen) < self.shuffle_p * s
        axes = torch.where(
            do_shuf[:, None],
            torch.argsort(torch.rand(n, 3, generator=gen), 1),
            torch.arange(3).expand(n, 3),
        )
        trip = trip.gather(3, axes[:, None, None, :].expand_as(trip))
        x = trip.reshape(n, t, ch)
        x = x * _uniform(n, 1 - self.scale * s, 1 + self.scale * s, gen, (1, ch))
        return x + torch.randn(x.shape, generator=gen) * (self.jitter * s)
