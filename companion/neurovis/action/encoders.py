"""The feature encoders f of Section 3.2 (Figures 1-2), projection heads g and the fusion
classifier.

IMU encoder (Figure 1, after CSSHAR): 3 temporal convolution blocks (kernel 3, channels 32/64/128,
batch norm, ReLU), then a Transformer encoder with 2-head self-attention and layer norm; the hidden
feature h is the mean over time. Skeleton encoder (Figure 2, HCN of Li et al. 2018): a "joint" and
a "motion" stream, each conv 1x1 -> conv 3x1 -> transpose (joints become channels) -> conv 3x3 ->
conv 3x3, concatenated, then two conv 3x3 blocks; output channels 64/32/32/64/128/256; h is the
global average of the last block; ``batch_norm`` adds batch norm after every convolution (our
choice: the original HCN has none, and without it the encoder learns far too slowly for the
small-scale budget). ``width`` scales every channel count (1.0 = the paper's).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _w(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


class IMUEncoder(nn.Module):
    """f_theta_i: (N, T, S) inertial signals -> (N, D) hidden features h^i (Eq. 10)."""

    def __init__(
        self,
        in_channels: int = 6,
        width: float = 1.0,
        num_layers: int = 2,
        num_heads: int = 2,
        dropout: float = 0.1,
        max_len: int = 512,
    ):
        super().__init__()
        chans = [in_channels] + [_w(c, width) for c in (32, 64, 128)]
        blocks = []
        for a, b in zip(chans[:-1], chans[1:]):
            blocks += [nn.Conv1d(a, b, 3, padding=1), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*blocks)
        d = chans[-1]
        if d % num_heads:
            raise ValueError(f"IMU feature width {d} is not divisible by num_heads={num_heads}")
        layer = nn.TransformerEncoderLayer(
            d, num_heads, dim_feedforward=2 * d, dropout=dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        pe = torch.zeros(max_len, d)
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)
        self.in_channels, self.out_dim = in_channels, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[2] != self.in_channels:
            raise ValueError(f"IMUEncoder expects (N, T, {self.in_channels}), got {tuple(x.shape)}")
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (N, T, D)
        h = self.transformer(h + self.pe[: h.shape[1]])
        return self.norm(h.mean(dim=1))


class _HCNStream(nn.Module):
    """conv1 (1x1) -> conv2 (3x1) -> transpose joints to channels -> conv3 (3x3) -> conv4 (3x3)."""

    def __init__(
        self, in_channels: int, num_joints: int, width: float, dropout: float, batch_norm: bool
    ):
        super().__init__()
        c1, c2, c3, c4 = (_w(c, width) for c in (64, 32, 32, 64))
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.point = nn.Sequential(
            nn.Conv2d(in_channels, c1, 1),
            bn(c1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, (3, 1), padding=(1, 0)),
            bn(c2),
        )
        self.cooc = nn.Sequential(
            nn.Conv2d(num_joints, c3, 3, padding=1),
            bn(c3),
            nn.MaxPool2d(2),
            nn.Conv2d(c3, c4, 3, padding=1),
            bn(c4),
            nn.Dropout2d(dropout),
            nn.MaxPool2d(2),
        )

    def forward(self, x):  # (N, C, T, V)
        h = self.point(x)  # (N, c2, T, V)
        h = h.permute(0, 3, 2, 1).contiguous()  # transpose: (N, V, T, c2), joints as channels
        return self.cooc(h)


class SkeletonEncoder(nn.Module):
    """f_theta_s: two-stream hierarchical co-occurrence network, (N, C, T, V) -> (N, D) h^s (Eq.
    1-2, 9)."""

    def __init__(
        self,
        in_channels: int = 3,
        num_joints: int = 20,
        width: float = 1.0,
        dropout: float = 0.1,
        batch_norm: bool = True,
    ):
        super().__init__()
        self.joint = _HCNStream(in_channels, num_joints, width, dropout, batch_norm)
        self.motion = _HCNStream(in_channels, num_joints, width, dropout, batch_norm)
        c4, c5, c6 = (_w(c, width) for c in (64, 128, 256))
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * c4, c5, 3, padding=1),
            bn(c5),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(c5, c6, 3, padding=1),
            bn(c6),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.in_channels, self.num_joints, self.out_dim = in_channels, num_joints, c6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[3] != self.num_joints:
            raise ValueError(
                f"SkeletonEncoder expects (N, {self.in_channels}, T, {self.num_joints}), got "
                f"{tuple(x.shape)}"
            )
        # frame-to-frame displacement, last = 0
        motion = torch.diff(x, dim=2, append=x[:, :, -1:])
        return self.fuse(torch.cat([self.joint(x), self.motion(motion)], dim=1))


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """g_theta: the MLP projector of Eq. 3-4 / Section 3.4 (Linear-BN-ReLU-Linear)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim),
    )


class FusionClassifier(nn.Module):
    """Fine-tuning head (Section 4.2): per modality Linear -> BN -> ReLU to ``fusion_dim``, concat,
    linear.

    in_dims: feature size of each modality, in the order the features are passed to ``forward``.
    """

    def __init__(self, in_dims: list[int], num_classes: int, fusion_dim: int = 256):
        super().__init__()
        self.fusion = nn.ModuleList(
            nn.Sequential(
                nn.Linear(d, fusion_dim), nn.BatchNorm1d(fusion_dim), nn.ReLU(inplace=True)
            )
            for d in in_dims
        )
        self.classifier = nn.Linear(fusion_dim * len(in_dims), num_classes)

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        if len(features) != len(self.fusion):
            raise ValueError(
                f"FusionClassifier built for {len(self.fusion)} modalities, got {len(features)}"
            )
        return self.classifier(torch.cat([f(h) for f, h in zip(self.fusion, features)], dim=1))


class SupervisedModel(nn.Module):
    """Encoders trained end to end with the fusion classifier (the supervised baselines of Table
    2)."""

    def __init__(self, encoders: dict, num_classes: int, fusion_dim: int = 256):
        super().__init__()
        self.modalities = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.head = FusionClassifier(
            [e.out_dim for e in encoders.values()], num_classes, fusion_dim
        )

    def forward(self, inputs: dict) -> torch.Tensor:
        return self.head(*[self.encoders[m](inputs[m]) for m in self.modalities])
