"""Attention part proposals (APPM, Sec. 3.2, Eq. 5) and attention object localisation (AOLM, used by
the original MMAL-Net baseline, Zhang et al. 2021), on a backbone's last feature map.

Coordinates: boxes are (x1, y1, x2, y2); on the feature map in cells (x2, y2 exclusive), on the
image in pixels. A feature cell (i, j) covers image pixels [j·stride, (j+1)·stride) x [i·stride,
(i+1)·stride).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import nms, roi_align


@dataclass(frozen=True)
class APPMConfig:
    """Window shapes (h, w) in feature cells, in scale groups; ``n_per_group`` windows kept per
    group after NMS at IoU ``iou``; parts resized to ``part_size`` pixels (paper: 256)."""

    groups: tuple = (((2, 2),), ((3, 3), (2, 4), (4, 2)), ((4, 4), (3, 5), (5, 3)))
    n_per_group: tuple = (1, 2, 1)
    iou: float = 0.25
    part_size: int = 40

    def __post_init__(self):
        if len(self.groups) != len(self.n_per_group):
            raise ValueError(f"{len(self.groups)} window groups but {len(self.n_per_group)} counts")
        if not 0 < self.iou <= 1:
            raise ValueError(f"iou must be in (0, 1], got {self.iou}")

    @property
    def num_parts(self) -> int:
        return int(sum(self.n_per_group))

    @classmethod
    def small(cls) -> "APPMConfig":
        """For a 5 x 5 feature map (80 px input, stride 16): four parts of 40 px, as the four
        colours of Figure 4: one 2x2-cell window, two of 3x3 / 2x4 / 4x2 cells, one of 4x4 / 3x5 /
        5x3 cells."""
        return cls()

    @classmethod
    def paper(cls) -> "APPMConfig":
        """For a 16 x 16 feature map (512 px, stride 32), MMAL-Net's window shapes and counts scaled
        to it; parts at 256 px (Sec. 4)."""
        return cls(
            groups=(
                ((4, 4), (3, 5), (5, 3)),
                ((6, 6), (5, 7), (7, 5)),
                ((8, 8), (6, 10), (10, 6), (7, 9), (9, 7)),
            ),
            n_per_group=(2, 3, 2),
            iou=0.25,
            part_size=256,
        )


def activation_map(features: torch.Tensor) -> torch.Tensor:
    """A: the feature map aggregated over channels (B, C, h, w) -> (B, h, w)."""
    if features.ndim != 4:
        raise ValueError(f"expected features (B, C, h, w), got shape {tuple(features.shape)}")
    return features.sum(dim=1)


def window_scores(A: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Mean activation a_w of every window of ``shape`` (h_w, w_w) at stride 1 (Eq. 5):

        a_w = 1/(H_w W_w) Σ_i Σ_j A_w(i, j),

    computed for all windows at once as an average pooling over A (the fully convolutional sliding
    window of Overfeat). A: (B, h, w) -> (B, h - h_w + 1, w - w_w + 1)."""
    hw, ww = shape
    if hw > A.shape[-2] or ww > A.shape[-1]:
        raise ValueError(f"window {shape} is larger than the activation map {tuple(A.shape[-2:])}")
    return F.avg_pool2d(A[:, None], kernel_size=(hw, ww), stride=1)[:, 0]


def all_windows(A: torch.Tensor, shapes) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of every shape in ``shapes``: boxes (W, 4) in feature cells (same for the whole
    batch) and scores a_w (B, W)."""
    boxes, scores = [], []
    for hw, ww in shapes:
        s = window_scores(A, (hw, ww))
        ny, nx = s.shape[-2:]
        yy, xx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        b = torch.stack([xx, yy, xx + ww, yy + hw], -1)
        boxes.append(b.reshape(-1, 4).float())
        scores.append(s.reshape(s.shape[0], -1))
    return torch.cat(boxes).to(A.device), torch.cat(scores, 1)


def select_windows(boxes: torch.Tensor, scores: torch.Tensor, k: int, iou: float) -> torch.Tensor:
    """Indices of ``k`` windows by non-maximum suppression (torchvision's ``nms``): the most active
    window first, then the next most active one whose IoU with every kept window is <= ``iou``.
    Should fewer than ``k`` survive, the most active suppressed windows fill up the list.
    boxes (W, 4), scores (W,) -> (k,) long."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > len(scores):
        raise ValueError(f"asked for {k} windows but there are only {len(scores)}")
    keep = nms(boxes.float(), scores.float(), iou)
    if len(keep) < k:
        rest = [
            i
            for i in torch.argsort(scores, descending=True).tolist()
            if i not in set(keep.tolist())
        ]
        keep = torch.cat(
            [keep, torch.tensor(rest[: k - len(keep)], dtype=keep.dtype, device=keep.device)]
        )
    return keep[:k]


@torch.no_grad()
def propose_parts(
    features: torch.Tensor, cfg: APPMConfig, stride: int, image_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """APPM: part windows per image, ranked within each scale group by a_w after NMS.

    features (B, C, h, w) -> boxes (B, N, 4) in image pixels (clipped to the image) and their
    scores a_w (B, N); N = cfg.num_parts, ordered group by group, most active first in each."""
    A = activation_map(features.detach().float())
    out_boxes, out_scores = [], []
    for b in range(A.shape[0]):
        kb, ks = [], []
        for shapes, k in zip(cfg.groups, cfg.n_per_group):
            boxes, scores = all_windows(A[b : b + 1], shapes)
            idx = select_windows(boxes, scores[0], k, cfg.iou)
            kb.append(boxes[idx])
            ks.append(scores[0, idx])
        out_boxes.append(torch.cat(kb))
        out_scores.append(torch.cat(ks))
    boxes = (torch.stack(out_boxes) * stride).clamp(0, image_size)
    return boxes, torch.stack(out_scores)


@torch.no_grad()
def random_parts(
    batch: int,
    fmap_hw: tuple[int, int],
    cfg: APPMConfig,
    stride: int,
    image_size: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The random-crop control of APPM: for every image, ``cfg.n_per_group`` windows per scale
    group drawn uniformly (without replacement) from the same candidate windows APPM ranks (every
    shape of the group at every position of an ``fmap_hw`` feature map), so the crops have APPM's
    count and sizes but ignore the activation. -> boxes (batch, N, 4) in image pixels."""
    h, w = fmap_hw
    A = torch.zeros(1, h, w)
    out = []
    for _ in range(batch):
        kb = []
        for shapes, k in zip(cfg.groups, cfg.n_per_group):
            boxes, _ = all_windows(A, shapes)
            if k > len(boxes):
                raise ValueError(f"asked for {k} windows but there are only {len(boxes)}")
            kb.append(boxes[torch.randperm(len(boxes), generator=generator)[:k]])
        out.append(torch.cat(kb))
    return (torch.stack(out) * stride).clamp(0, image_size)


def crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop every box (B, N, 4) in pixels from ``images`` (B, 3, H, W) and resize it to ``size`` x
    ``size`` (bilinear, torchvision's ``roi_align``) -> (B·N, 3, size, size), image-major order."""
    if boxes.ndim != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != images.shape[0]:
        raise ValueError(f"boxes must be (B={images.shape[0]}, N, 4), got {tuple(boxes.shape)}")
    H, W = images.shape[-2:]
    if (
        (boxes[..., 0] < 0).any()
        or (boxes[..., 1] < 0).any()
        or (boxes[..., 2] > W).any()
        or (boxes[..., 3] > H).any()
    ):
        raise ValueError("boxes must lie inside the image; clip them first")
    rois = [b.float() for b in boxes]
    return roi_align(
        images, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True
    )


@torch.no_grad()
def aolm(features: torch.Tensor, stride: int, image_size: int) -> torch.Tensor:
    """Attention object localisation (MMAL-Net's AOLM, simplified to one feature map): cells whose
    channel-summed activation exceeds its mean, the largest 8-connected component of them, its
    bounding box in image pixels. features (B, C, h, w) -> boxes (B, 4)."""
    from scipy import ndimage

    A = activation_map(features.detach().float()).cpu().numpy()
    out = []
    for a in A:
        mask = a > a.mean()
        lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
        if n == 0:
            out.append([0, 0, a.shape[1], a.shape[0]])
            continue
        sizes = ndimage.sum(mask, lab, index=range(1, n + 1))
        ys, xs = np.nonzero(lab == 1 + int(np.argmax(sizes)))
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return (torch.tensor(out, dtype=torch.float32, device=features.device) * stride).clamp(
        0, image_size
    )
