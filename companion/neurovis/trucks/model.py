"""The improved MMAL-Net (Figure 2): frontal, side and part branches; its losses (Eq. 1-4).

Every branch is a ResNet feature extractor with an FC classifier (Sec. 3.1): ResNet-50 at paper
scale, a narrow 4-block ResNet (timm) at small scale. As in MMAL-Net, the branches share the
backbone and the FC layer by default (``shared=True``); ``shared=False`` gives the frontal and side
views their own backbones (the part branch shares the side one), since frontal and side photos look
different.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .appm import APPMConfig, crop_and_resize, propose_parts, random_parts

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of images in [0, 1] (B, 3, H, W)."""
    return (x - MEAN.to(x.device)) / STD.to(x.device)


@contextmanager
def frozen_bn_stats(module: nn.Module):
    """Batch norm layers of ``module`` normalise with the batch's statistics (in training mode) but
    do not update their running statistics inside this block. Used for the part images: the part
    branch is dropped at test time, so the running statistics must describe whole photos, not zoomed
    parts."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


@dataclass(frozen=True)
class NetConfig:
    """Backbone and input sizes. ``small()``: 80 px photos, 40 px parts, a 4-block ResNet (one basic
    block per stage) of widths 24-192 with output stride 16 (a 5 x 5 map for APPM). ``paper()``: 512
    px photos, 256 px parts, ResNet-50 with output stride 32 (16 x 16 map) (Sec. 4)."""

    image_size: int = 80
    arch: str = "small"  # "small" | "resnet50"
    channels: tuple = (24, 48, 96, 192)
    output_stride: int = 16
    pretrained: bool = False  # ImageNet weights (paper); needs them cached or online
    appm: APPMConfig = field(default_factory=APPMConfig.small)
    shared: bool = True

    @classmethod
    def small(cls, **kw) -> "NetConfig":
        return cls(**kw)

    @classmethod
    def paper(cls, **kw) -> "NetConfig":
        kw = {
            "image_size": 512,
            "arch": "resnet50",
            "output_stride": 32,
            "appm": APPMConfig.paper(),
            **kw,
        }
        return cls(**kw)


class ResNetClassifier(nn.Module):
    """A ResNet feature extractor + global average pooling + FC. ``forward`` returns the logits and
    the last feature map (for APPM / AOLM). This alone is the plain ResNet baseline."""

    def __init__(self, num_classes: int, cfg: NetConfig):
        super().__init__()
        import timm
        from timm.models.resnet import BasicBlock, ResNet

        if cfg.arch == "small":
            self.backbone = ResNet(
                BasicBlock,
                (1, 1, 1, 1),
                num_classes=0,
                global_pool="",
                channels=cfg.channels,
                stem_width=cfg.channels[0],
                output_stride=cfg.output_stride,
            )
            width = cfg.channels[-1]
        elif cfg.arch == "resnet50":
            self.backbone = timm.create_model(
                "resnet50",
                pretrained=cfg.pretrained,
                num_classes=0,
                global_pool="",
                output_stride=cfg.output_stride,
            )
            width = self.backbone.num_features
        else:
            raise ValueError(f"arch must be 'small' or 'resnet50', got {cfg.arch!r}")
        self.stride = cfg.output_stride
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.backbone(normalize(x))
        return self.fc(fmap.mean(dim=(2, 3))), fmap


class ImprovedMMAL(nn.Module):
    """Frontal, side and part branches (Figure 2). ``forward(front, side)`` returns a dict with the
    logits of each branch (``front``, ``side``: (B, K); ``part``: (B, N, K)) and the part boxes
    (B, N, 4) APPM chose on the side image's activation map. In eval mode (or with
    ``parts=False``) the part branch is dropped, as at test time in the paper."""

    PART_SOURCES = ("appm", "random")

    def __init__(self, num_classes: int, cfg: NetConfig, part_source: str = "appm", seed: int = 0):
        super().__init__()
        if part_source not in self.PART_SOURCES:
            raise ValueError(f"part_source must be one of {self.PART_SOURCES}, got {part_source!r}")
        self.cfg, self.part_source = cfg, part_source
        # the random-crop control's windows (not part of the state dict)
        self._part_gen = torch.Generator().manual_seed(seed)
        self.front_net = ResNetClassifier(num_classes, cfg)
        self.side_net = self.front_net if cfg.shared else ResNetClassifier(num_classes, cfg)

    def forward(self, front: torch.Tensor, side: torch.Tensor, parts: bool | None = None) -> dict:
        parts = self.training if parts is None else parts
        if self.cfg.shared:  # one pass for both views
            logits, fmap = self.front_net(torch.cat([front, side]))
            out = {"front": logits[: len(front)], "side": logits[len(front) :]}
            side_map = fmap[len(front) :]
        else:
            out = {"front": self.front_net(front)[0]}
            out["side"], side_map = self.side_net(side)
        if parts:
            out["part"], out["part_boxes"] = self.part_branch(side, side_map)
        return out

    def part_branch(self, side: torch.Tensor, side_map: torch.Tensor):
        """APPM on the side branch's feature map (or, with ``part_source="random"``, random
        windows of APPM's count and sizes), crops of the side image, their logits (B, N, K)."""
        a = self.cfg.appm
        if self.part_source == "appm":
            boxes, _ = propose_parts(side_map, a, self.side_net.stride, side.shape[-1])
        else:
            boxes = random_parts(
                len(side),
                tuple(side_map.shape[-2:]),
                a,
                self.side_net.stride,
                side.shape[-1],
                self._part_gen,
            ).to(side.device)
        crops = crop_and_resize(side, boxes, a.part_size)
        with frozen_bn_stats(self.side_net):
            logits, _ = self.side_net(crops)
        return logits.view(len(side), a.num_parts, -1), boxes

    @torch.no_grad()
    def predict_proba(self, front: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities of a set: the mean of the frontal and side branches' softmax (the
        part branch is not used at test time); with ``side=None``, the frontal branch alone."""
        if side is None:
            return F.softmax(self.front_net(front)[0], -1)
        out = self.forward(front, side, parts=False)
        return 0.5 * (F.softmax(out["front"], -1) + F.softmax(out["side"], -1))


def improved_mmal_loss(
    out: dict, y: torch.Tensor, use_parts: bool = True
) -> tuple[torch.Tensor, dict]:
    """L_total = L_frontal + L_side + L_part (Eq. 4), with

        L_frontal = -log P_f(c)   (Eq. 1),   L_side = -log P_s(c)   (Eq. 2),
        L_part    = -(1/N) Σ_n log P_p(n)(c)   (Eq. 3, the mean over the N part images),

    each averaged over the batch. Returns the total and the three terms (floats) for logging."""
    l_f = F.cross_entropy(out["front"], y)
    l_s = F.cross_entropy(out["side"], y)
    terms = {"L_frontal": l_f, "L_side": l_s}
    total = l_f + l_s
    if use_parts and "part" in out:
        B, N, K = out["part"].shape
        l_p = F.cross_entropy(out["part"].reshape(B * N, K), y.repeat_interleave(N))
        terms["L_part"] = l_p
        total = total + l_p
    return total, {k: float(v.detach()) for k, v in terms.items()}
