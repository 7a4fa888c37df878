"""The improved PoolFormer of Wang et al. (2023), built as the paper builds it: PoolFormer-S12
(timm's ``MetaFormer``: four stages of depths (2, 2, 6, 2), widths (64, 128, 320, 512), GroupNorm,
GELU channel MLP, layer scale) with the pooling token mixer swapped for the multi-branch
RepConvNeXt block during training (Fig. 3C, 4B, 5), re-parameterised to one depthwise convolution
for inference (Fig. 6B); then, as separate additions, the convolutional tokenizer (Sec. 2.2, Fig. 2)
in place of PoolFormer's 7x7 stride-4 stem and sequence pooling (Sec. 2.5) in place of global
average pooling.

The paper gives the blocks as figures, not equations; where it is silent the choices are ours and
are listed in the chapter's "Deviations" section (branch kernel sizes 7/3/1 + identity, each with
batch norm; the tokenizer's widths).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
import os

import torch
from torch import Tensor, nn
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from timm.models.metaformer import GroupNorm1, MetaFormer, Pooling  # noqa: E402

S12_DEPTHS = (2, 2, 6, 2)
S12_DIMS = (64, 128, 320, 512)


@dataclass(frozen=True)
class SmokeFormerConfig:
    """One model of the chapter's ladder (Table 2). PoolFormer-S12's stages (``depths``, ``dims``)
    and recipe; ``mixer``: "pool" (PoolFormer's AvgPool − identity) or "repconvnext" (the paper's
    multi-branch mixer); ``tokenizer``: the paper's convolutional tokenizer instead of the 7x7
    stride-4 stem; ``seq_pool``: sequence pooling instead of global average pooling.

    ``paper()`` is the full model at the paper's input (224 px) and PoolFormer-S12's widths;
    ``small()`` the same stages at a quarter of the widths (the CPU scale of the chapter)."""

    img_size: int = 64
    dims: tuple = tuple(d // 4 for d in S12_DIMS)
    depths: tuple = S12_DEPTHS
    mixer: str = "repconvnext"
    tokenizer: bool = True
    seq_pool: bool = True
    kernel_size: int = 7  # ConvNeXt's large depthwise kernel
    small_kernel: int = 3
    num_classes: int = 2
    layer_scale_init: float = 1e-5  # poolformer_s12's

    def __post_init__(self):
        if self.mixer not in ("repconvnext", "pool"):
            raise ValueError(f"mixer must be 'repconvnext' or 'pool', got {self.mixer!r}")
        if (
            self.kernel_size % 2 == 0
            or self.small_kernel % 2 == 0
            or self.small_kernel > self.kernel_size
        ):
            raise ValueError(
                f"kernel sizes must be odd with small_kernel <= kernel_size, got "
                f"{self.kernel_size}, {self.small_kernel}"
            )
        if len(self.dims) != len(self.depths) or not self.dims:
            raise ValueError(f"dims {self.dims} and depths {self.depths} must match in length")
        if self.dims[0] % 2:
            raise ValueError(
                f"dims[0] must be even (the tokenizer's first conv has dims[0]/2 channels), got "
                f"{self.dims[0]}"
            )

    @classmethod
    def small(cls, **kw) -> "SmokeFormerConfig":
        """PoolFormer-S12's stages at a quarter of its widths, 64 px inputs (CPU scale)."""
        return cls(**kw)

    @classmethod
    def paper(cls, **kw) -> "SmokeFormerConfig":
        """The paper's setting (Sec. 3.3): 224x224 inputs, PoolFormer-S12's widths."""
        return cls(**{"img_size": 224, "dims": S12_DIMS, **kw})

    def poolformer_s12(self) -> "SmokeFormerConfig":
        """PoolFormer-S12 at this config's sizes: pooling mixer, stem, average pooling."""
        return replace(self, mixer="pool", tokenizer=False, seq_pool=False)


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

    (B, 3, H, W) -> (B, dim, H/4, W/4): the same token grid as PoolFormer's stride-4 stem, which it
    replaces (the "flatten" of Fig. 2 is a view: tokens stay on their 2-D grid so that the
    convolutional token mixer can see their neighbours, Fig. 4 step 1-2).
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


# ----------------------------------------------------------------------------------- mixer
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

    def __init__(self, dim: int, kernel_size: int = 7, small_kernel: int = 3, **kwargs):
        super().__init__()  # ``kwargs``: what timm's MetaFormerBlock passes to every mixer
        channels = dim
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


class SeqPoolHead(nn.Module):
    """LayerNorm over the last stage's tokens, sequence pooling, linear classifier (Sec. 2.5).
    (B, C, h, w) -> (B, num_classes)."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pool = SequencePooling(dim)
        self.fc = nn.Linear(dim, num_classes)
        for m in (self.pool.attn, self.fc):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.norm(x.flatten(2).transpose(1, 2))))


class SmokeFormer(nn.Module):
    """A model of the ladder (Fig. 1): timm's MetaFormer with PoolFormer-S12's recipe
    (``self.net``), its mixer, stem and head chosen by ``cfg``. (B, 3, H, W) -> (B, num_classes)
    logits.

    With ``SmokeFormerConfig(...).poolformer_s12()`` at ``paper()`` sizes, ``self.net`` is exactly
    timm's ``poolformer_s12`` (same modules and parameter shapes)."""

    def __init__(self, cfg: SmokeFormerConfig = SmokeFormerConfig()):
        super().__init__()
        self.cfg = cfg
        rep = cfg.mixer == "repconvnext"
        mixer_kw = dict(kernel_size=cfg.kernel_size, small_kernel=cfg.small_kernel) if rep else {}
        self.net = MetaFormer(
            depths=tuple(cfg.depths),
            dims=tuple(cfg.dims),
            token_mixers=RepConvNeXtMixer if rep else Pooling,
            downsample_norm=None,
            mlp_act=nn.GELU,
            mlp_bias=True,
            norm_layers=GroupNorm1,
            layer_scale_init_values=cfg.layer_scale_init,
            res_scale_init_values=None,
            use_mlp_head=False,
            num_classes=cfg.num_classes,
            **mixer_kw,
        )
        if cfg.tokenizer:
            self.net.stem = ConvTokenizer(cfg.dims[0])
        self.head = SeqPoolHead(cfg.dims[-1], cfg.num_classes) if cfg.seq_pool else None
        if self.head is not None:
            self.net.head = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(x.shape)}")
        feats = self.net.forward_features(x)
        return self.head(feats) if self.head is not None else self.net.forward_head(feats)

    def mixers(self):
        """The (block, token mixer) pairs of every MetaFormer block."""
        return [(blk, blk.token_mixer) for st in self.net.stages for blk in st.blocks]

    def reparameterize(self) -> "SmokeFormer":
        """A single-path copy for inference (Sec. 2.4): every RepConvNeXt mixer, with its block's
        layer scale, becomes one depthwise conv, and the tokenizer's BNs fold into their convs.
        The copy is in eval mode; ``self`` is unchanged."""
        fused = copy.deepcopy(self).eval()
        if isinstance(fused.net.stem, ConvTokenizer):
            fused.net.stem.res.fold_batchnorm()
        for blk, tm in fused.mixers():
            if isinstance(tm, RepConvNeXtMixer):
                conv = tm.reparameterize()
                if not isinstance(blk.layer_scale1, nn.Identity):
                    s = blk.layer_scale1.scale.detach()
                    conv.weight.data.mul_(s.reshape(-1, 1, 1, 1))
                    conv.bias.data.mul_(s)
                    blk.layer_scale1 = nn.Identity()
                blk.token_mixer = conv
        return fused


def count_convs(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def forward_flops(model: nn.Module, img_size: int, batch: int = 1) -> int:
    """FLOPs of one forward pass on ``batch`` images of ``img_size`` px, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, one
    multiply-add = 2 FLOPs; pooling, norms and activations are not counted, as in fvcore)."""
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    model.eval()
    x = torch.zeros(batch, 3, img_size, img_size, dtype=next(model.parameters()).dtype)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    model.train(was)
    return int(counter.get_total_flops())


def relative_max_error(a: Tensor, b: Tensor) -> float:
    """max |a − b| / max |b|: the re-parameterisation check of the chapter."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
