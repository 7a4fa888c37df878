"""HMHN: Hybrid Multi-head cross attention Network (Li et al., Front. Neurosci. 2023, Section 3).

Stage 1: Grid-Wise Attention (GWA, Eq. 1-6) and Deep Feature Fusion (DFF, Eq. 7) in front of a
ResNet-18 trunk without pooling / FC. Stage 2: Multi-head cross Attention Block (MAB, Eq. 8-9:
k heads, each a spatial unit then a channel unit) and Attention Fusion Block (AFB) trained with
the partition loss (Eq. 10-11) plus the MSE of the BDI-II regression.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

#: Table 5 kernel settings of the spatial attention unit: (1x1 reduction?, branch kernels).
KERNEL_SETTINGS = {
    "standard": (False, ((3, 3),)),
    "(1x7, 7x7, 7x1)": (True, ((7, 7), (1, 7), (7, 1))),
    "(1x5, 5x5, 5x1)": (True, ((5, 5), (1, 5), (5, 1))),
    "(3x1, 1x3)": (True, ((1, 3), (3, 1))),
    "(3x3, 1x3, 3x1)": (True, ((3, 3), (1, 3), (3, 1))),
}


@dataclass(frozen=True)
class HMHNConfig:
    """Architecture of HMHN and of its ablations (Tables 3-5, Figures 6-7).

    use_gwa / use_dff / num_heads select the ablation: num_heads = 0 is the plain backbone head
    (global average pooling + FC). ``grid`` = (h, w) of Eq. 1; (1, 1) is "no grid".
    """

    in_channels: int = 1
    image_size: int = 48
    widths: tuple[int, int, int, int] = (16, 32, 64, 128)
    strides: tuple[int, int, int, int] = (1, 2, 2, 1)
    stem: str = "small"  # "small": 3x3 conv, stride 2; "imagenet": 7x7 s2 + max-pool
    use_gwa: bool = True
    use_dff: bool = True
    grid: tuple[int, int] = (3, 3)
    lgfe_expansion: int = 4  # the k of Table 2 (C -> Ck -> C)
    # "grids" (ours) or "rows" (Eq. 4 read literally; degenerate)
    gwa_softmax: str = "grids"
    num_heads: int = 4
    kernels: str = "(3x3, 1x3, 3x1)"
    # hidden width of the channel unit's mini auto-encoder: C / 16
    channel_reduction: int = 16
    dropout: float = 0.2

    def __post_init__(self):
        if self.use_dff and not self.use_gwa:
            raise ValueError(
                "use_dff=True needs use_gwa=True: DFF fuses the image with GWA's output (Eq. 7)"
            )
        if self.num_heads < 0:
            raise ValueError(f"num_heads must be >= 0, got {self.num_heads}")
        if self.kernels not in KERNEL_SETTINGS:
            raise ValueError(
                f"kernels must be one of {list(KERNEL_SETTINGS)}, got {self.kernels!r}"
            )
        if self.stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet', got {self.stem!r}")
        h, w = self.grid
        if self.image_size % h or self.image_size % w:
            raise ValueError(f"grid {self.grid} does not divide image_size {self.image_size}")

    @classmethod
    def paper(cls, **kw) -> "HMHNConfig":
        """Section 4.2: RGB faces, full ResNet-18, 3x3 grid, 4 heads, (3x3, 1x3, 3x1) kernels.

        222x222 instead of 224x224: a 3x3 grid must divide the image (224 is not a multiple of 3);
        the last feature map is still 7x7."""
        base = dict(
            in_channels=3,
            image_size=222,
            widths=(64, 128, 256, 512),
            strides=(1, 2, 2, 2),
            stem="imagenet",
        )
        base.update(kw)
        return cls(**base)

    @classmethod
    def small(cls, **kw) -> "HMHNConfig":
        """CPU-sized: 48x48 grey, ResNet-18 (2-2-2-2 basic blocks) 4x narrower, same 6x6 last
        map."""
        return cls(**kw)

    def variant(self, **kw) -> "HMHNConfig":
        return replace(self, **kw)


# ------------------------------------------------------------------------------------------
# Grid-wise attention (Section 3.2)
# ------------------------------------------------------------------------------------------
def grid(x: Tensor, h: int, w: int) -> Tensor:
    """Eq. 1: split images (B, C, H, W) into h x w grids -> (B, h*w, C, H/h, W/w), row-major."""
    B, C, H, W = x.shape
    if H % h or W % w:
        raise ValueError(f"grid: a {h}x{w} grid does not divide an image of {H}x{W}")
    x = x.reshape(B, C, h, H // h, w, W // w)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(B, h * w, C, H // h, W // w)


def ungrid(g: Tensor, h: int, w: int) -> Tensor:
    """The inverse of ``grid`` (used in Eq. 6): (B, h*w, C, H/h, W/w) -> (B, C, H, W)."""
    B, n, C, a, b = g.shape
    if n != h * w:
        raise ValueError(f"ungrid: {n} grids cannot be laid out as {h}x{w}")
    return g.reshape(B, h, w, C, a, b).permute(0, 3, 1, 4, 2, 5).reshape(B, C, h * a, w * b)


class LocalGridFeatureExtractor(nn.Module):
    """LGFE (Table 2, Eq. 2-3): 1x1 conv C->Ck, BN, LeakyReLU, 1x1 conv Ck->C, BN, LeakyReLU,
    shared by every grid."""

    def __init__(self, channels: int, expansion: int = 4):
        super().__init__()
        hidden = channels * expansion
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(0.1),
        )

    def forward(self, g: Tensor) -> Tensor:
        B, n, C, a, b = g.shape
        return self.net(g.reshape(B * n, C, a, b)).reshape(B, n, C, a, b)


def grid_attention_weights(G_hat: Tensor, softmax_over: str = "grids") -> Tensor:
    """Eq. 4-5: one weight per grid and channel, (B, hw, C), from LGFE features (B, hw, C, a, b).

    Att = softmax(q k^T / d_k) with q = G_hat (a x b per channel), k its transpose, d_k = W/w = b,
    then adaptive average pooling to a scalar. ``softmax_over="rows"`` is Eq. 4 read literally
    (softmax along each row of the a x a matrix): every row then sums to 1 and the pooled weight is
    the constant 1/a for every grid, so GWA would do nothing. ``"grids"`` (default, ours) takes the
    softmax across the h*w grids, so the weights compare facial regions; they are multiplied by
    h*w so that uniform attention is the identity.
    """
    n, b = G_hat.shape[1], G_hat.shape[-1]
    scores = G_hat @ G_hat.transpose(-1, -2) / b
    if softmax_over == "rows":
        return F.softmax(scores, dim=-1).mean(dim=(-1, -2))
    if softmax_over != "grids":
        raise ValueError(f"softmax_over must be 'grids' or 'rows', got {softmax_over!r}")
    return F.softmax(scores, dim=1).mean(dim=(-1, -2)) * n


class GridWiseAttention(nn.Module):
    """GWA (Eq. 1-6): G~ = Ungrid(Aavp(Att) * Ones(H/h, W/w)) * g. Returns (G~, weights (B, hw,
    C))."""

    def __init__(
        self,
        channels: int,
        grid_hw: tuple[int, int] = (3, 3),
        expansion: int = 4,
        softmax_over: str = "grids",
    ):
        super().__init__()
        self.h, self.w = grid_hw
        self.lgfe = LocalGridFeatureExtractor(channels, expansion)
        self.softmax_over = softmax_over

    def forward(self, g: Tensor) -> tuple[Tensor, Tensor]:
        G = grid(g, self.h, self.w)  # Eq. 1
        G_hat = self.lgfe(G)  # Eq. 2-3
        weights = grid_attention_weights(G_hat, self.softmax_over)  # Eq. 4-5 (Aavp)
        G_tilde = weights[..., None, None].expand_as(G)  # * Ones(H/h, W/w)
        return ungrid(G_tilde, self.h, self.w) * g, weights  # Eq. 6


# ------------------------------------------------------------------------------------------
# Deep feature fusion and the ResNet-18 trunk (Section 3.3)
# ------------------------------------------------------------------------------------------
def _stem(in_ch: int, out_ch: int, kind: str) -> nn.Sequential:
    if kind == "imagenet":
        return nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 7, 2, 3, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, 2, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
    )


class DeepFeatureFusion(nn.Module):
    """DFF (Eq. 7): G_bar = DFF(FT1(g) + FT2(G~)); FT1 and FT2 share their structure (the
    backbone's stem) but not their parameters; the fusion network is a 3x3 conv-BN-ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stem: str = "small"):
        super().__init__()
        self.ft1 = _stem(in_ch, out_ch, stem)
        self.ft2 = _stem(in_ch, out_ch, stem)
        self.fuse = nn.Sequential(
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, g: Tensor, G_tilde: Tensor) -> Tensor:
        return self.fuse(self.ft1(g) + self.ft2(G_tilde))


def resnet18_layers(widths=(64, 128, 256, 512), strides=(1, 2, 2, 2)) -> nn.Sequential:
    """ResNet-18's four stages (2 torchvision BasicBlocks each), no pooling or FC (Section 3.3)."""
    layers, inplanes = [], widths[0]
    for planes, stride in zip(widths, strides):
        down = None
        if stride != 1 or inplanes != planes:
            down = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )
        layers.append(
            nn.Sequential(BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes))
        )
        inplanes = planes
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------------------
# Multi-head cross attention (Section 3.4) and attention fusion (Section 3.5)
# ------------------------------------------------------------------------------------------
class SpatialAttentionUnit(nn.Module):
    """H_i of Eq. 8: 1x1 reduction, then parallel (3x3, 1x3, 3x1) convs (Table 5 settings), summed,
    ReLU, summed over channels into a spatial map a_i (B, 1, H, W); S_i = G_bar * a_i.

    The map is divided by its spatial mean (our addition): a_i then says where the head looks
    relative to elsewhere (mean 1), and its scale cannot run away (unnormalised, training diverged
    in our runs).
    """

    def __init__(self, channels: int, kernels: str = "(3x3, 1x3, 3x1)"):
        super().__init__()
        reduce, shapes = KERNEL_SETTINGS[kernels]
        mid = channels // 2 if reduce else channels
        self.reduce = (
            nn.Sequential(nn.Conv2d(channels, mid, 1, bias=False), nn.BatchNorm2d(mid))
            if reduce
            else nn.Identity()
        )
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(mid, channels, k, padding=(k[0] // 2, k[1] // 2), bias=False),
                nn.BatchNorm2d(channels),
            )
            for k in shapes
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = self.reduce(x)
        a = F.relu(sum(branch(y) for branch in self.branches)).sum(dim=1, keepdim=True)
        a = a / (a.mean(dim=(-1, -2), keepdim=True) + 1e-6)
        return x * a, a


class ChannelAttentionUnit(nn.Module):
    """H'_i of Eq. 9: a mini auto-encoder of two linear layers on the pooled S_i;
    C_i = pool(S_i) * sigmoid(H'_i)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.encode = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, S: Tensor) -> Tensor:
        pooled = S.mean(dim=(-1, -2))
        return pooled * self.encode(pooled)


class CrossAttentionHead(nn.Module):
    """One head of the MAB: spatial unit then channel unit. Returns (C_i (B, C), a_i (B, 1, H,
    W))."""

    def __init__(self, channels: int, kernels: str = "(3x3, 1x3, 3x1)", reduction: int = 16):
        super().__init__()
        self.spatial = SpatialAttentionUnit(channels, kernels)
        self.channel = ChannelAttentionUnit(channels, reduction)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        S, a = self.spatial(x)  # Eq. 8
        return self.channel(S), a  # Eq. 9


def attention_fusion(heads: Tensor) -> Tensor:
    """AFB fusion of the k head outputs (B, k, C) into one (B, C): per channel, a softmax over the
    heads weighs each head's response (a single head passes through unchanged)."""
    if heads.shape[1] == 1:
        return heads[:, 0]
    return (F.softmax(heads, dim=1) * heads).sum(dim=1)


def partition_loss(heads: Tensor, eps: float = 1e-8) -> Tensor:
    """Eq. 11: L_att = 1/(NC) sum_i sum_j log(1 + k / sigma_ij^2).

    heads: (N, k, C) the k heads' attention maps, C entries each; sigma_ij^2 is the variance over
    the k heads of entry j of sample i (population variance). Small when the heads differ, large
    when they coincide. A single head has no partition loss (0). HMHN applies it to the spatial
    maps a_i of Eq. 8 (C = H' W' positions, each map of mean 1), so it rewards heads that look at
    different places and cannot be lowered by scaling features.
    """
    if heads.ndim != 3:
        raise ValueError(
            f"partition_loss: expected (N, k, C) head outputs, got shape {tuple(heads.shape)}"
        )
    k = heads.shape[1]
    if k == 1:
        return heads.new_zeros(())
    var = heads.var(dim=1, unbiased=False)
    return torch.log1p(k / (var + eps)).mean()


class HMHN(nn.Module):
    """The full network and its ablations (Tables 3-4): predicts a normalised BDI-II score per
    frame.

    forward(x) -> prediction (B,); forward(x, return_attention=True) -> dict with "pred",
    "heads" (B, k, C) head outputs (Eq. 9), "maps" (B, k, H', W') per-head spatial
    attention, "grid_weights". Every image is first standardised (zero mean, unit variance; our
    addition, it removes the global lighting changes between frames).
    """

    def __init__(self, config: HMHNConfig = HMHNConfig()):
        super().__init__()
        self.config = cfg = config
        w0, c = cfg.widths[0], cfg.widths[-1]
        self.gwa = (
            GridWiseAttention(cfg.in_channels, cfg.grid, cfg.lgfe_expansion, cfg.gwa_softmax)
            if cfg.use_gwa
            else None
        )
        if cfg.use_dff:
            self.dff = DeepFeatureFusion(cfg.in_channels, w0, cfg.stem)
        else:
            self.dff = None
            self.stem = _stem(cfg.in_channels, w0, cfg.stem)
        self.trunk = resnet18_layers(cfg.widths, cfg.strides)
        self.heads = nn.ModuleList(
            CrossAttentionHead(c, cfg.kernels, cfg.channel_reduction) for _ in range(cfg.num_heads)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c, 1)
        nn.init.constant_(self.fc.bias, 0.35)  # about the mean normalised BDI-II score

    def features(self, x: Tensor):
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"HMHN expects (B, {cfg.in_channels}, H, W) images, got {tuple(x.shape)}"
            )
        grid_weights = None
        x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        if self.gwa is not None:
            G_tilde, grid_weights = self.gwa(x)
            z = self.dff(x, G_tilde) if self.dff is not None else self.stem(G_tilde)
        else:
            z = self.stem(x)
        return self.trunk(z), grid_weights

    def forward(self, x: Tensor, return_attention: bool = False):
        G_bar, grid_weights = self.features(x)
        if self.heads:
            outs = [head(G_bar) for head in self.heads]
            heads = torch.stack([o[0] for o in outs], dim=1)
            maps = torch.cat([o[1] for o in outs], dim=1)
            fused = attention_fusion(heads)
        else:
            heads, maps = None, None
            fused = G_bar.mean(dim=(-1, -2))
        pred = self.fc(self.dropout(fused)).squeeze(-1)
        if return_attention:
            return {"pred": pred, "heads": heads, "maps": maps, "grid_weights": grid_weights}
        return pred


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
