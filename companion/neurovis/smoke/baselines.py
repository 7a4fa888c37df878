"""The other baselines of Table 1, built with timm and trained from scratch on the same data.
(PoolFormer-S12 is the first rung of the ladder in ``model``/``train``: ``SmokeFormer`` with
``SmokeFormerConfig(...).poolformer_s12()`` is timm's MetaFormer with poolformer_s12's recipe.)

At paper scale these are the paper's models (MobileNetV3, EfficientNet-B7, ViT-B/16). At small
scale they keep their architecture family at a width that trains on a CPU in seconds, stated in
``describe()``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402
from torch import nn  # noqa: E402

BASELINES = ("mobilenet_v3", "efficientnet", "vit")


def make_baseline(
    name: str, scale: str = "small", img_size: int = 64, num_classes: int = 2
) -> nn.Module:
    """A baseline classifier, randomly initialised (never pretrained: the book runs offline).

    name: one of ``BASELINES``. scale "paper": the paper's exact timm models at ``img_size``;
    "small": the same families narrowed (``describe``).
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
    if scale not in ("small", "paper"):
        raise ValueError(f"scale must be 'small' or 'paper', got {scale!r}")
    kw = dict(pretrained=False, num_classes=num_classes)
    if scale == "paper":
        arch = {
            "mobilenet_v3": "mobilenetv3_large_100",
            "efficientnet": "efficientnet_b7",
            "vit": "vit_base_patch16_224",
        }[name]
        if name == "vit":
            kw["img_size"] = img_size
        return timm.create_model(arch, **kw)
    if name == "mobilenet_v3":
        return timm.create_model("mobilenetv3_small_050", **kw)
    if name == "efficientnet":
        return timm.create_model("tinynet_e", **kw)  # EfficientNet-B0 rescaled by the TinyNet rules
    return timm.create_model(
        "vit_tiny_patch16_224",
        img_size=img_size,
        patch_size=8,
        depth=4,
        embed_dim=96,
        num_heads=3,
        **kw,
    )


def describe(name: str, scale: str = "small") -> str:
    """One line saying which model stands for the paper's baseline at this scale."""
    if scale == "paper":
        return {
            "mobilenet_v3": "timm mobilenetv3_large_100",
            "efficientnet": "timm efficientnet_b7",
            "vit": "timm vit_base_patch16 (ViT-B/16)",
        }[name]
    return {
        "mobilenet_v3": "timm mobilenetv3_small_050",
        "efficientnet": "timm tinynet_e (EfficientNet family, width x0.51, depth x0.6)",
        "vit": "timm ViT, patch 8, 4 blocks of width 96",
    }[name]
