"""Baselines: a plain ResNet classifier on one photo, and the original single-image MMAL-Net
(Zhang et al. 2021: raw, object and part branches sharing one backbone and FC layer)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .appm import aolm, crop_and_resize, propose_parts
from .model import NetConfig, ResNetClassifier, frozen_bn_stats


class PlainResNet(nn.Module):
    """The ResNet classifier alone, trained and tested on single photos."""

    def __init__(self, num_classes: int, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.net = ResNetClassifier(num_classes, cfg)

    def forward(self, x: torch.Tensor) -> dict:
        return {"raw": self.net(x)[0]}

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.net(x)[0], -1)


class MMALNet(nn.Module):
    """The original MMAL-Net on one photo: the raw branch sees the photo; AOLM boxes the object on
    the raw feature map and the object branch sees that crop (resized to the input size); APPM
    proposes parts on the object branch's feature map, cropped from the object image, for the part
    branch. Loss: the sum of the three cross-entropies. At test time the part branch is dropped and
    the object branch predicts (the accuracy Zhang et al. report)."""

    def __init__(self, num_classes: int, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.net = ResNetClassifier(num_classes, cfg)

    def forward(self, x: torch.Tensor, parts: bool | None = None) -> dict:
        parts = self.training if parts is None else parts
        S = x.shape[-1]
        raw, fmap = self.net(x)
        obj_boxes = aolm(fmap, self.net.stride, S)
        obj_img = crop_and_resize(x, obj_boxes[:, None], S)
        obj, obj_map = self.net(obj_img)
        out = {"raw": raw, "object": obj, "object_boxes": obj_boxes}
        if parts:
            a = self.cfg.appm
            boxes, _ = propose_parts(obj_map, a, self.net.stride, S)
            with frozen_bn_stats(self.net):  # parts do not shape the test-time statistics
                logits, _ = self.net(crop_and_resize(obj_img, boxes, a.part_size))
            out["part"], out["part_boxes"] = logits.view(len(x), a.num_parts, -1), boxes
        return out

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.forward(x, parts=False)["object"], -1)


def mmal_loss(out: dict, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L = L_raw + L_object + L_part (MMAL-Net), L_part the mean over parts, as in Eq. 3."""
    terms = {"L_raw": F.cross_entropy(out["raw"], y)}
    if "object" in out:
        terms["L_object"] = F.cross_entropy(out["object"], y)
    if "part" in out:
        B, N, K = out["part"].shape
        terms["L_part"] = F.cross_entropy(out["part"].reshape(B * N, K), y.repeat_interleave(N))
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}
