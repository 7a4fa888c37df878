"""The improved PoolFormer of Wang et al. (2023): convolutional tokenizer (Fig. 2), MetaFormer
encoder blocks whose token mixer is the multi-branch RepConvNeXt block during training (Fig. 3C,
4B, 5) and a single depthwise convolution at inference (Fig. 6B), sequence pooling and a linear
classifier (Sec. 2.5).

The paper gives the blocks as figures, not equations; where it is silent the choices are ours and
are listed in the chapter's "Deviations" section (branch kernel sizes 7/3/1 + identity, GroupNorm
pre-norm and layer scale as in PoolFormer, no positional embedding).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn
import torch.nn.functional as F


@dataclass(frozen=True)
class SmokeFormerConfig:
    """Sizes of the improved PoolFormer. ``mixer``: "repconvnext" (ours) or "pool" (PoolFormer's
    average-pool-minus-identity, the ablation of Table 2) or "conv" (one plain depthwise conv of
    the same kernel, trained as such: the RepVGG ablation)."""

    img_size: int = 64
    dim: int = 48
    depth: int = 4  # L, the number of encoder blocks
    mlp_ratio: float = 4.0
    kernel_size: int = 7  # ConvNeXt's large depthwise kernel
    small_kernel: int = 3
    mixer: str = "repconvnext"
    num_classes: int = 2
    layer_scale_init: float = 1e-2

    def __post_init__(self):
        if self.mixer not in ("repconvnext", "pool", "conv"):
            raise ValueError(f"mixer must be 'repconvnext', 'pool' or 'conv', got {self.mixer!r}")
        if (
            self.kernel_size % 2 == 0
            or self.small_kernel % 2 == 0
            or self.small_kernel > self.kernel_size
        ):
            raise ValueError(
                f"kernel sizes must be odd with small_kernel <= kernel_size, got "
                f"{self.kernel_size}, {self.small_kernel}"
            )
        if self.dim % 2:
            raise ValueError(
                f"dim must be even (the tokenizer's first conv has dim/2 channels), got {self.dim}"
            )

    @classmethod
    def small(cls, **kw) -> "SmokeFormerConfig":
        """The CPU-sized setting of the chapter (64 px inputs, 4 blocks of width 48)."""
        return cls(**kw)

    @classmethod
    def paper(cls, **kw) -> "SmokeFormerConfig":
        """The paper's setting (Sec. 3.3): 224x224 inputs and L = 10 encoder blocks."""
        return cls(**{"img_size": 224, "dim": 256, "depth": 10, **kw})


# ----------------------------------------------------------------------------------- tokenizer
class ResidualBlock(nn.Module):
    """ResNet basic block (He et al. 2016) used inside the tokenizer (Fig. 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.body(x))

    def fold_batchnorm(self) -> None:
        """In place, eval mode: each conv + BN pair becomes one conv with bias (RepVGG fold)."""
        layers, mods = [], list(self.body)
        i = 0
        while i < len(mods):
            m = mods[i]
            if (
                isinstance(m, nn.Conv2d)
                and i + 1 < len(mods)
                and isinstance(mods[i + 1], nn.BatchNorm2d)
            ):
                if m.bias is not None:
                    raise ValueError("fold_batchnorm expects bias-free convs before each BatchNorm")
                w, b = fuse_conv_bn(m.weight, mods[i + 1])
                conv = nn.Conv2d(
                    m.in_channels,
                    m.out_channels,
                    m.kernel_size,
                    m.stride,
                    m.padding,
                    groups=m.groups,
                    bias=True,
                ).to(w.device, w.dtype)
                conv.weight.data.copy_(w.detach())
                conv.bias.data.copy_(b.detach())
                layers.append(conv)
                i += 2
            else:
                layers.append(m)
                i += 1
        self.body = nn.Sequential(*layers)


class ConvTokenizer(nn.Module):
    """Convolutional patching (Sec. 2.2, Fig. 2): conv, GELU, max-pool, residual block, conv.

    (B, 3, H, W) -> (B, dim, H/4, W/4) token grid (the "flatten" of Fig. 2 is a view: tokens stay on
    their 2-D grid so that the convolutional token mixer can see their neighbours, Fig. 4 step 1-2).
    """

    def __init__(self, dim: int, in_chans: int = 3):
        super().__init__()
        half = dim // 2
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, half, 3, stride=2, padding=1),
            nn.GELU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.res = ResidualBlock(half)
        self.proj = nn.Conv2d(half, dim, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.stem[0].in_channels:
            raise ValueError(
                f"expected images (B, {self.stem[0].in_channels}, H, W), got {tuple(x.shape)}"
            )
        return self.proj(self.res(self.stem(x)))


# ----------------------------------------------------------------------------------- mixers
def fuse_conv_bn(kernel: Tensor, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Fold an eval-mode BatchNorm into the bias-free conv before it (RepVGG, Fig. 5):
    BN(W*x) = (γ/σ)·W*x + (β − μγ/σ) with σ = sqrt(var + eps). Returns (kernel', bias')."""
    std = (bn.running_var + bn.eps).sqrt()
    t = bn.weight / std
    return kernel * t.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * t


def _pad_to(kernel: Tensor, size: int) -> Tensor:
    p = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, [p, p, p, p])


class RepConvNeXtMixer(nn.Module):
    """The multi-branch ConvNeXt-like token mixer used in training (Fig. 3C, 5):

        y = BN_k(DW_k x) + BN_s(DW_s x) + BN_1(DW_1 x) + BN_id(x)

    with depthwise kernels k (7, ConvNeXt's), s (3) and 1. ``reparameterize()`` returns the single
    depthwise k x k convolution with bias that computes the same y in eval mode (Fig. 6B).
    Input and output (B, C, h, w).
    """

    def __init__(self, channels: int, kernel_size: int = 7, small_kernel: int = 3):
        super().__init__()
        self.channels, self.kernel_size = channels, kernel_size

        def branch(k):
            return nn.Sequential(
                nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=False),
                nn.BatchNorm2d(channels),
            )

        self.large = branch(kernel_size)
        self.small = branch(small_kernel)
        self.point = branch(1)
        self.identity = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.large(x) + self.small(x) + self.point(x) + self.identity(x)

    def fused_kernel_bias(self) -> tuple[Tensor, Tensor]:
        """(C, 1, k, k) kernel and (C,) bias of the equivalent single conv (RepVGG-style merge):
        each branch's BN folded into its kernel, kernels zero-padded to k x k and summed, the
        identity branch a centred delta kernel."""
        k = self.kernel_size
        total_w, total_b = 0, 0
        for br in (self.large, self.small, self.point):
            w, b = fuse_conv_bn(br[0].weight, br[1])
            total_w, total_b = total_w + _pad_to(w, k), total_b + b
        delta = torch.zeros(self.channels, 1, k, k, dtype=total_w.dtype, device=total_w.device)
        delta[:, 0, k // 2, k // 2] = 1.0
        w, b = fuse_conv_bn(delta, self.identity)
        return total_w + w, total_b + b

    def reparameterize(self) -> nn.Conv2d:
        """The single-path mixer: one depthwise conv (Fig. 6B). Call in eval mode (BN statistics
        frozen)."""
        w, b = self.fused_kernel_bias()
        conv = nn.Conv2d(
            self.channels,
            self.channels,
            self.kernel_size,
            padding=self.kernel_size // 2,
            groups=self.channels,
            bias=True,
        ).to(w.device, w.dtype)
        conv.weight.data.copy_(w.detach())
        conv.bias.data.copy_(b.detach())
        return conv


class PoolMixer(nn.Module):
    """PoolFormer's token mixer (Yu et al. 2022, Fig. 3B): AvgPool_3x3(x) − x."""

    def __init__(self, pool_size: int = 3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, 1, pool_size // 2, count_include_pad=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(x) - x


class ScaledMixer(nn.Module):
    """``layer_scale · mixer(x)``; the scale folds into a fused conv (one conv per mixer)."""

    def __init__(self, mixer: nn.Module, channels: int, init: float):
        super().__init__()
        self.mixer = mixer
        self.scale = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale.reshape(1, -1, 1, 1) * self.mixer(x)


# ----------------------------------------------------------------------------------- encoder
class MetaFormerBlock(nn.Module):
    """MetaFormer encoder block (Fig. 3A): x + s1·Mixer(Norm(x)), then x + s2·MLP(Norm(x)).

    Norm is GroupNorm with one group (PoolFormer's choice); the channel MLP is 1x1 convs with
    GELU (the inverted bottleneck of ConvNeXt, Fig. 4B). Shape (B, C, h, w) -> same.
    """

    def __init__(self, cfg: SmokeFormerConfig):
        super().__init__()
        c = cfg.dim
        if cfg.mixer == "repconvnext":
            mixer = RepConvNeXtMixer(c, cfg.kernel_size, cfg.small_kernel)
        elif cfg.mixer == "pool":
            mixer = PoolMixer()
        else:
            mixer = nn.Conv2d(c, c, cfg.kernel_size, padding=cfg.kernel_size // 2, groups=c)
        self.norm1 = nn.GroupNorm(1, c)
        self.token_mixer = ScaledMixer(mixer, c, cfg.layer_scale_init)
        self.norm2 = nn.GroupNorm(1, c)
        hidden = int(c * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.GELU(), nn.Conv2d(hidden, c, 1))
        self.scale2 = nn.Parameter(torch.full((c,), float(cfg.layer_scale_init)))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.token_mixer(self.norm1(x))
        return x + self.scale2.reshape(1, -1, 1, 1) * self.mlp(self.norm2(x))


class SequencePooling(nn.Module):
    """Sequence pooling (Sec. 2.5, as in CCT): z = softmax(g(X))ᵀ X over the n tokens.

    (B, n, C) -> (B, C); g is a linear map C -> 1.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.attn = nn.Linear(dim, 1)

    def forward(self, tokens: Tensor) -> Tensor:
        w = torch.softmax(self.attn(tokens), dim=1)  # (B, n, 1)
        return (w * tokens).sum(dim=1)


class SmokeFormer(nn.Module):
    """The improved PoolFormer (Fig. 1): ConvTokenizer -> L MetaFormer blocks -> LayerNorm ->
    sequence pooling -> linear classifier. (B, 3, H, W) -> (B, num_classes) logits."""

    def __init__(self, cfg: SmokeFormerConfig = SmokeFormerConfig()):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = ConvTokenizer(cfg.dim)
        self.blocks = nn.Sequential(*[MetaFormerBlock(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim)
        self.pool = SequencePooling(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear,)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        t = self.blocks(self.tokenizer(x))  # (B, C, h, w)
        return self.norm(t.flatten(2).transpose(1, 2))  # (B, n, C)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.features(x)))

    def reparameterize(self) -> "SmokeFormer":
        """A single-path copy for inference (Sec. 2.4): every RepConvNeXt mixer, with its layer
        scale, becomes one depthwise conv, and the tokenizer's BNs fold into their convs.
        The copy is in eval mode; ``self`` is unchanged."""
        fused = copy.deepcopy(self).eval()
        fused.tokenizer.res.fold_batchnorm()
        for blk in fused.blocks:
            tm = blk.token_mixer
            if isinstance(tm, ScaledMixer) and isinstance(tm.mixer, RepConvNeXtMixer):
                conv = tm.mixer.reparameterize()
                s = tm.scale.detach()
                conv.weight.data.mul_(s.reshape(-1, 1, 1, 1))
                conv.bias.data.mul_(s)
                blk.token_mixer = conv
        return fused


def count_convs(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def relative_max_error(a: Tensor, b: Tensor) -> float:
    """max |a − b| / max |b|: the re-parameterisation check of the chapter."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
