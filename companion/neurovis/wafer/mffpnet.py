"""MFFP-Net (Chen et al. 2023, Section 2): backbone Conv1-Conv4, a multi-scale branch of three MFF
modules, a global branch, feature fusion, four auxiliary classifiers A-D and a lead head.

Widths follow the paper at ``width=1`` (Conv4 -> 128 channels, MFF 128 -> 256 -> 512 -> 1024,
Conv5 128 -> 128, Conv6 128 -> 256); smaller ``width`` scales every channel count for CPU runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

#: Auxiliary-classifier weights (A, B, C, D) the paper found best (Table 3).
PAPER_AUX_WEIGHTS = (1.0, 1.4, 1.0, 0.3)


class ConvBNSwish(nn.Sequential):
    """k x k convolution, Batch Normalization, Swish (SiLU): the paper's conv unit (Figures 2,
    4)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU()
        )


class MFF(nn.Module):
    """Multi-Feature Fusion module (Figure 3, Eqs. 1-4): C channels in, 2C out, spatial size halved.

    y1 = F_1x1(x)                    C -> C/2          (Eq. 1; branch of one convolution)
    y2 = F^1_3x3(y1)                 C/2 -> C/2        (Eq. 2; branch of two convolutions)
    y3 = F^3_3x3(F^2_3x3(y2))        C/2 -> C -> C     (Eq. 3; branch of four convolutions)
    F_output = MaxPool(Concat(y1, y2, y3))             C/2 + C/2 + C = 2C   (Eq. 4)
    """

    def __init__(self, channels: int, out_conv: bool = False):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(
                f"MFF needs an even channel count C >= 2 (it halves C), got {channels}"
            )
        c, h = channels, channels // 2
        self.f1x1 = ConvBNSwish(c, h, 1)
        self.f1 = ConvBNSwish(h, h, 3)
        self.f2 = ConvBNSwish(h, c, 3)
        self.f3 = ConvBNSwish(c, c, 3)
        # the text's "feature maps with 2C channels pass through the convolution layer": not in
        # Eqs. 1-4; off by default, counted in the parameter table
        self.out = ConvBNSwish(2 * c, 2 * c, 3) if out_conv else nn.Identity()
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.out_channels = 2 * c

    def forward(self, x):
        y1 = self.f1x1(x)  # Eq. 1
        y2 = self.f1(y1)  # Eq. 2
        y3 = self.f3(self.f2(y2))  # Eq. 3
        return self.pool(self.out(torch.cat([y1, y2, y3], dim=1)))  # Eq. 4


@dataclass(frozen=True)
class MFFPNetConfig:
    """MFFP-Net hyper-parameters. ``width`` scales channels (1.0 = the paper's), ``dropout`` before
    the lead head; ``aux_weights`` are the loss weights of classifiers A-D (Tables 1-3)."""

    num_classes: int = 8
    width: float = 1.0
    dropout: float = 0.2
    aux_weights: tuple = PAPER_AUX_WEIGHTS
    mff_out_conv: bool = False  # a 3x3 conv on each MFF's 2C concatenation (parameter table)

    @classmethod
    def paper(cls, num_classes: int = 8) -> "MFFPNetConfig":
        """The paper's network (Section 2, weights 1 : 1.4 : 1 : 0.3 from Table 3)."""
        return cls(num_classes=num_classes, width=1.0)

    @classmethod
    def small(cls, num_classes: int = 8, width: float = 0.25) -> "MFFPNetConfig":
        """A CPU-sized network: every channel count times ``width``."""
        return cls(num_classes=num_classes, width=width)


class MFFPNet(nn.Module):
    """Multi-Feature Fusion Perceptual Network (Figure 1).

    forward(x) -> lead-head logits (N, classes); ``forward_all(x)`` -> (lead, [A, B, C, D]) for
    training with deep supervision. ``x``: (N, 3, H, W); at H = W = 224 Conv4 outputs 28x28x128.
    Auxiliary classifier A sits on the global branch (Conv6, 2c channels), B, C, D on the outputs
    of MFF 1, 2, 3 (2c, 4c, 8c); the lead head classifies the concatenation of the four
    globally-average-pooled features (feature-level fusion, 256 + 256 + 512 + 1024 at width 1).
    """

    def __init__(self, config: MFFPNetConfig = MFFPNetConfig(), in_channels: int = 3):
        super().__init__()
        self.config = config
        c = max(8, int(round(128 * config.width / 8)) * 8)  # Conv4 width (128 in the paper)
        # Conv1-Conv4 (Figure 2): stride 8 in all
        self.backbone = nn.Sequential(
            ConvBNSwish(in_channels, c // 4, 3, 2),
            ConvBNSwish(c // 4, c // 2, 3, 2),
            ConvBNSwish(c // 2, c // 2, 3, 1),
            ConvBNSwish(c // 2, c, 3, 2),
        )
        oc = config.mff_out_conv
        self.mff = nn.ModuleList([MFF(c, oc), MFF(2 * c, oc), MFF(4 * c, oc)])  # multi-scale
        self.global_branch = nn.Sequential(
            nn.MaxPool2d(2, ceil_mode=True),
            ConvBNSwish(c, c, 3),  # Conv5
            ConvBNSwish(c, 2 * c, 1),
        )  # Conv6
        dims = [2 * c, 2 * c, 4 * c, 8 * c]
        self.aux = nn.ModuleList([nn.Linear(d, config.num_classes) for d in dims])  # A, B, C, D
        self.lead = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(sum(dims), config.num_classes)
        )
        self.feature_dims = dims

    def features(self, x):
        """The four fused feature maps: [global (A), MFF1 (B), MFF2 (C), MFF3 (D)]."""
        if x.ndim != 4:
            raise ValueError(f"MFFPNet expects (N, C, H, W) input, got shape {tuple(x.shape)}")
        f = self.backbone(x)
        g = self.global_branch(f)
        m1 = self.mff[0](f)
        m2 = self.mff[1](m1)
        m3 = self.mff[2](m2)
        return [g, m1, m2, m3]

    def forward_all(self, x):
        pooled = [t.mean(dim=(2, 3)) for t in self.features(x)]  # GAP
        aux = [head(p) for head, p in zip(self.aux, pooled)]
        return self.lead(torch.cat(pooled, dim=1)), aux

    def forward(self, x):
        return self.forward_all(x)[0]


def deep_supervision_loss(lead_logits, aux_logits, target, aux_weights=PAPER_AUX_WEIGHTS):
    """L = CE(lead) + sum_k w_k CE(aux_k), k = A, B, C, D (Section 2.4; weights from Tables 1-3).

    Returns (loss, {"lead": ..., "A": ..., ...}) with the unweighted per-head losses for logging.
    """
    if len(aux_logits) != len(aux_weights):
        raise ValueError(f"{len(aux_logits)} auxiliary outputs but {len(aux_weights)} weights")
    lead = F.cross_entropy(lead_logits, target)
    parts = {"lead": float(lead.detach())}
    loss = lead
    for name, logits, w in zip("ABCD", aux_logits, aux_weights):
        ce = F.cross_entropy(logits, target)
        parts[name] = float(ce.detach())
        if w:
            loss = loss + w * ce
    return loss, parts


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the paper reports 48.09 M for MFFP-Net, Section 3.2)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mff_map_sizes(image_size: int) -> list[int]:
    """Side of the feature maps after Conv4 and after MFF 1, 2, 3 for ``image_size`` inputs
    (3x3 convolutions with padding 1 at strides 2, 2, 1, 2, then ceil-mode 2x2 max pools):
    224 -> 28, 14, 7, 4 (the paper's), 112 -> 14, 7, 4, 2, 64 -> 8, 4, 2, 1."""
    n = int(image_size)
    for _ in range(3):  # the three stride-2 convolutions
        n = (n - 1) // 2 + 1
    sizes = [n]
    for _ in range(3):
        n = -(-n // 2)
        sizes.append(n)
    return sizes


def fused_proba(lead_logits, aux_logits, weights=PAPER_AUX_WEIGHTS) -> torch.Tensor:
    """Decision-level fusion at test time (our reading of Sections 2.2 and 2.4): the lead head's
    and the auxiliary heads' class probabilities averaged with weights (1, w_A, w_B, w_C, w_D), the
    loss weights the heads were trained with. Returns (N, classes) probabilities."""
    w = torch.tensor((1.0, *map(float, weights)))
    if len(aux_logits) + 1 != len(w):
        raise ValueError(f"{len(aux_logits)} auxiliary outputs but {len(w) - 1} weights")
    if w.sum() <= 0:
        raise ValueError(f"fusion weights must have a positive sum, got {tuple(w.tolist())}")
    probs = torch.stack([torch.softmax(t, 1) for t in (lead_logits, *aux_logits)])
    return (w.to(probs)[:, None, None] * probs).sum(0) / w.sum()


def parameter_table(num_classes: int = 8):
    """MFFP-Net's parameter count under readings of the paper's description, beside its 48.09 M
    (Section 3.2). Returns a DataFrame: reading, Conv4 width C, parameters (M)."""
    import pandas as pd

    rows = []

    def add(reading, cfg):
        net = MFFPNet(cfg)
        c = net.backbone[-1][0].out_channels
        rows.append(
            {"reading": reading, "Conv4 width C": c, "parameters (M)": count_parameters(net) / 1e6}
        )

    add("ours: Eqs. 1-4, C = 128 (Section 2.1)", MFFPNetConfig(num_classes=num_classes))
    add(
        "+ a 3x3 conv on each MFF's 2C concatenation (Section 2.3's text)",
        MFFPNetConfig(num_classes=num_classes, mff_out_conv=True),
    )
    # the Conv4 width at which each reading reaches the paper's count: every channel count is a
    # multiple of C, so the count is exactly quadratic in C; fit it on three small widths
    for out_conv, name in ((False, "ours"), (True, "+ MFF output conv")):
        cs = np.array([8.0, 16.0, 24.0])
        ns = [
            count_parameters(MFFPNet(MFFPNetConfig(num_classes, c / 128, mff_out_conv=out_conv)))
            for c in cs
        ]
        quad = np.polyfit(cs, ns, 2)
        c = float(max(np.roots(quad - np.array([0, 0, 48.09e6])).real))
        rows.append(
            {
                "reading": f"{name}, widened until it reaches 48.09 M",
                "Conv4 width C": round(c),
                "parameters (M)": float(np.polyval(quad, round(c))) / 1e6,
            }
        )
    rows.append({"reading": "paper (Section 3.2)", "Conv4 width C": 128, "parameters (M)": 48.09})
    return pd.DataFrame(rows).set_index("reading")
