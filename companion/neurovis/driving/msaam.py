"""The method: DeepLabv3+ with the Multi-Scale Adaptive Attention Mechanism (MSAAM) at the end of
the encoder (Liu et al., Section 3, Eq. 1-7).

Shapes: images (B, 3, H, W) normalised; encoder features F_in (B, C, h, w) with h = H /
output_stride.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


# --------------------------------------------------------------------------------------------
# the three attention branches
# --------------------------------------------------------------------------------------------
class PyramidScaleAttention(nn.Module):
    """Scale-wise attention f^sc (Eq. 1) with the Pyramid Pooling Attention PSA (Eq. 2).

    PSA(F) = softmax( sum_i w_i * P_i(F) ): P_i average-pools F to ``bins[i]`` x ``bins[i]`` cells
    (upsampled back), w_i is a 1x1 convolution to one logit map per pyramid level, and the softmax
    runs over the h*w positions, so the pixels compete for a constant sum of attention (Sec. 3.2).
    We rescale the softmax by its maximum so the map lies in (0, 1] (see the chapter's deviations);
    f^sc(F) = F + F (.) PSA(F).

    forward returns (f_sc (B,C,h,w), attention (B,1,h,w), per-level maps (B,N,h,w) = w_i * P_i(F)).
    """

    def __init__(self, channels: int, bins=(1, 2, 3, 6)):
        super().__init__()
        if not bins:
            raise ValueError("PyramidScaleAttention needs at least one pyramid level")
        self.bins = tuple(int(b) for b in bins)
        self.w = nn.ModuleList(nn.Conv2d(channels, 1, 1) for _ in self.bins)

    def forward(self, x: Tensor):
        h, w = x.shape[-2:]
        levels = [
            F.interpolate(
                conv(F.adaptive_avg_pool2d(x, b)), size=(h, w), mode="bilinear", align_corners=False
            )
            for b, conv in zip(self.bins, self.w)
        ]
        # (B, N, h, w): w_i * P_i(F)
        levels = torch.cat(levels, dim=1)
        # Eq. 2, sums to one per image
        a = torch.softmax(levels.sum(1).flatten(1), dim=1).view(-1, 1, h, w)
        att = a / a.amax(dim=(2, 3), keepdim=True)
        return x + x * att, att, levels


class SpatialAttention(nn.Module):
    """Spatial attention f^sp (Eq. 3): a non-local aggregation (1/C(F)) sum_j f(F_i, F_j) g(F_j)
    (embedded Gaussian f, so C(F) is the softmax normaliser) followed, as in CBAM, by
    sigma(Conv7x7([mean_c; max_c])) giving a map M_sp in (0, 1); f^sp(F) = F (.) M_sp.

    On large feature maps the positions j are average-pooled to at most ``max_keys`` (a
    pooled-key non-local block), which keeps the cost linear in h*w.
    forward returns (f_sp (B,C,h,w), M_sp (B,1,h,w)).
    """

    def __init__(
        self, channels: int, embed: int | None = None, kernel: int = 7, max_keys: int = 1024
    ):
        super().__init__()
        e = embed or max(channels // 8, 16)
        self.theta, self.phi, self.g = (nn.Conv2d(channels, e, 1) for _ in range(3))
        self.out = nn.Conv2d(e, channels, 1)
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)
        self.max_keys = max_keys

    def forward(self, x: Tensor):
        b, c, h, w = x.shape
        kv = x
        if h * w > self.max_keys:
            s = math.ceil(math.sqrt(h * w / self.max_keys))
            kv = F.adaptive_avg_pool2d(x, (max(h // s, 1), max(w // s, 1)))
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, hw, e)
        k = self.phi(kv).flatten(2)  # (B, e, n)
        v = self.g(kv).flatten(2).transpose(1, 2)  # (B, n, e)
        rel = torch.softmax(q @ k / k.shape[1] ** 0.5, dim=-1)  # f(F_i, F_j) / C(F)
        y = x + self.out((rel @ v).transpose(1, 2).reshape(b, -1, h, w))
        m = torch.sigmoid(
            self.conv(torch.cat([y.mean(1, keepdim=True), y.amax(1, keepdim=True)], 1))
        )
        return x * m, m


class ChannelAttention(nn.Module):
    """Channel attention f^c (Eq. 4): f^c(F) = F (.) sigma(W3 delta(W2 delta(W1 F)) + b3), W_k as
    1x1 convolutions on the globally average- and max-pooled descriptors (CBAM), summed before
    sigma.

    forward returns (f_c (B,C,h,w), M_c (B,C,1,1)).
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        r = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, r, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(r, r, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(r, channels, 1),
        )

    def forward(self, x: Tensor):
        m = torch.sigmoid(
            self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        )
        return x * m, m


class AdaptiveWeights(nn.Module):
    """The weight-adaptive fusion network (Eq. 5-6).

    x = W_sc pool(f^sc) + W_sp pool(f^sp) + W_c pool(f^c); h_t = GRU(x, h_{t-1}) for t = 1..steps
    (h_0 = 0); (alpha_sc, alpha_sp, alpha_c) = softmax(W_h h_T). Returns alpha (B, 3), rows sum to
    one.
    """

    def __init__(self, channels: int, hidden: int = 32, steps: int = 2):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.W = nn.ModuleList(nn.Linear(channels, hidden, bias=False) for _ in range(3))
        self.gru = nn.GRUCell(hidden, hidden)
        self.head = nn.Linear(hidden, 3)
        self.steps = steps

    def forward(self, f_sc: Tensor, f_sp: Tensor, f_c: Tensor) -> Tensor:
        x = sum(
            W(F.adaptive_avg_pool2d(f, 1).flatten(1)) for W, f in zip(self.W, (f_sc, f_sp, f_c))
        )
        h = x.new_zeros(x.shape[0], self.gru.hidden_size)
        for _ in range(self.steps):
            h = self.gru(x, h)
        return torch.softmax(self.head(h), dim=1)


@dataclass
class MSAAMOutput:
    """What MSAAM hands on: fused features and everything the loss (Eq. 7) and the auxiliary
    hierarchical representation (Eq. 8-12) need."""

    features: Tensor  # (B, C, h, w)  alpha_sc f^sc + alpha_sp f^sp + alpha_c f^c
    alpha: Tensor  # (B, 3)        (alpha_sc, alpha_sp, alpha_c), Eq. 6
    scale_map: Tensor  # (B, 1, h, w)  PSA attention, Eq. 2
    scale_levels: Tensor  # (B, N, h, w)  per-level maps w_i * P_i(F)
    spatial_map: Tensor  # (B, 1, h, w)  M_sp, Eq. 3
    channel_weights: Tensor  # (B, C, 1, 1) M_c, Eq. 4
    channel_features: Tensor  # (B, C, h, w) f^c(F)
    attention: Tensor  # (B, 1, h, w)  CoAH (Eq. 11), normalised to [0, 1]


class MSAAM(nn.Module):
    """Multi-Scale Adaptive Attention Mechanism (Fig. 2): scale -> spatial and channel attention,
    fused with the GRU weights; also returns the combined attention map (CoAH, Eq. 11)."""

    def __init__(self, channels: int, bins=(1, 2, 3, 6), hidden: int = 32, steps: int = 2):
        super().__init__()
        self.scale = PyramidScaleAttention(channels, bins)
        self.spatial = SpatialAttention(channels)
        self.channel = ChannelAttention(channels)
        self.weights = AdaptiveWeights(channels, hidden, steps)

    def forward(self, x: Tensor) -> MSAAMOutput:
        f_sc, sc_map, levels = self.scale(x)
        # spatial and channel attention follow the scale layer
        f_sp, sp_map = self.spatial(f_sc)
        f_c, c_w = self.channel(f_sc)
        alpha = self.weights(f_sc, f_sp, f_c)
        a = alpha[:, :, None, None, None]
        fused = a[:, 0] * f_sc + a[:, 1] * f_sp + a[:, 2] * f_c
        from .hierarchy import highlights

        co = highlights(alpha, levels, sp_map, f_c)["CoAH"]
        lo, hi = co.amin(dim=(2, 3), keepdim=True), co.amax(dim=(2, 3), keepdim=True)
        return MSAAMOutput(
            fused, alpha, sc_map, levels, sp_map, c_w, f_c, (co - lo) / (hi - lo + 1e-6)
        )


VARIANCE_READINGS = ("alpha", "maps")


def attention_variance(out: MSAAMOutput, reading: str = "alpha") -> Tensor:
    """The variance term Var(alpha_sc) + Var(alpha_sp) + Var(alpha_c) of Eq. 7, per batch (a
    scalar), in one of two readings:

    - ``"alpha"`` (Eq. 7 as printed): the variance of the three GRU weights (alpha_sc, alpha_sp,
      alpha_c) of each image (Eq. 6), "a higher variance implies that the model has allocated
      significantly different weights across different scales, spaces, or channels"; at most 2/9
      (one weight 1, two 0), averaged over the batch.
    - ``"maps"`` (our first reading): the variance of each branch's attention values over the
      elements it distributes attention across: the PSA map over pixels (scale), M_sp over pixels
      (spatial), M_c over channels (channel); all lie in [0, 1], so each variance is at most 1/4.
      Rewarding it drives the sigmoid gates to 0 or 1 (saturation, see ``gate_saturation``).
    """
    if reading == "alpha":
        return out.alpha.var(dim=1, unbiased=False).mean()
    if reading != "maps":
        raise ValueError(f"reading must be one of {VARIANCE_READINGS}, got {reading!r}")
    v_sc = out.scale_map.flatten(1).var(dim=1, unbiased=False)
    v_sp = out.spatial_map.flatten(1).var(dim=1, unbiased=False)
    v_c = out.channel_weights.flatten(1).var(dim=1, unbiased=False)
    return (v_sc + v_sp + v_c).mean()


def gate_saturation(out: MSAAMOutput, eps: float = 0.05) -> dict:
    """Share of saturated sigmoid gates (value < ``eps`` or > 1 - ``eps``, where a sigmoid passes
    less than ~5% of its largest gradient): ``channel`` over M_c (B x C values), ``spatial`` over
    M_sp (B x h x w values). Returns {"channel": n_saturated, "channel_n": n, ...} counts, so
    batches add up."""
    res = {}
    for k, g in (("channel", out.channel_weights), ("spatial", out.spatial_map)):
        g = g.detach()
        res[k] = int(((g < eps) | (g > 1 - eps)).sum())
        res[f"{k}_n"] = g.numel()
    return res


def msaam_loss(
    logits: Tensor,
    target: Tensor,
    out: MSAAMOutput | None,
    lam: float = 0.1,
    ignore_index: int = 255,
    weight: Tensor | None = None,
    reading: str = "alpha",
) -> tuple[Tensor, dict]:
    """MSAAM loss (Eq. 7): CrossEntropy(Y, Y_hat) - lambda (Var(a_sc) + Var(a_sp) + Var(a_c)).

    The paper writes "+ lambda Var" but says a higher variance is "something we wish to encourage";
    we follow the text: the variance is rewarded (subtracted). ``reading``: which variance
    (``attention_variance``; ``"alpha"`` is Eq. 7 as printed). ``out=None`` (no MSAAM) or lam = 0
    gives plain cross-entropy; ``weight``: optional per-class weights of the cross-entropy.
    Returns (loss, {"ce": ..., "var": ...}).
    """
    if logits.shape[-2:] != target.shape[-2:]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in size"
        )
    if lam < 0:
        raise ValueError(f"lambda must be >= 0 (the variance is rewarded), got {lam}")
    ce = F.cross_entropy(logits, target.long(), weight=weight, ignore_index=ignore_index)
    if out is None or lam == 0:
        return ce, {"ce": float(ce.detach())}
    var = attention_variance(out, reading)
    return ce - lam * var, {"ce": float(ce.detach()), "var": float(var.detach())}


# --------------------------------------------------------------------------------------------
# DeepLabv3+
# --------------------------------------------------------------------------------------------
def make_backbone(name: str = "resnet-narrow", output_stride: int = 16, pretrained: bool = False):
    """A timm ResNet with ``output_stride`` (dilated last stages). ``"resnet-narrow"``: one
    BasicBlock per stage with 16-32-64-128 channels (the small scale); ``"resnet101"`` (the paper's,
    Sec. 4.2.1, output stride 8) or any timm ResNet name. Returns (model, [channels of layer1,
    layer2, layer3, layer4])."""
    import timm
    from timm.models.resnet import BasicBlock, ResNet

    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    if name == "resnet-narrow":
        m = ResNet(
            BasicBlock,
            [1, 1, 1, 1],
            channels=(16, 32, 64, 128),
            stem_width=16,
            num_classes=0,
            output_stride=output_stride,
        )
    else:
        m = timm.create_model(
            name, pretrained=pretrained, num_classes=0, output_stride=output_stride
        )
    ch = [i["num_chs"] for i in m.feature_info]
    return m, ch[1:]


class DeepLabV3Plus(nn.Module):
    """DeepLabv3+ (Chen et al. 2018): ResNet encoder, ASPP (torchvision's), a decoder fusing
    skip features; with ``msaam=True`` MSAAM sits at the end of the encoder (Sec. 4.2.1).

    Multi-layer fusion (Sec. 3.2: "we then select multi-layer, multi-scale features generated by
    the encoder and fuse them with the attention map"): the decoder takes the ASPP output and the
    features of every encoder layer in ``fuse_layers`` (1 = layer1, stride 4, DeepLabv3+'s usual
    skip; 2, 3 = deeper layers), each projected by a 1x1 convolution to ``low_channels`` and
    resized to stride 4; with MSAAM each is weighted by (1 + CoAH). The baseline gets the same
    skips without the weighting, so the comparison isolates the attention.

    Output rescaling (Sec. 3.2: "the network's predictive output is combined with MSAAM's
    attention map"): logits (.) (1 + gamma CoAH), gamma = softplus(g) - 1 > -1 learned (0 at
    initialisation), so the factor stays positive and never flips a pixel's logits; ``rescale =
    False`` switches it off (gamma = 0) without touching the weights; ``set_gamma`` rejects
    gamma <= -1.

    forward(x) -> logits (B, K, H, W); forward(x, return_attention=True) -> (logits,
    MSAAMOutput|None).
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = "resnet-narrow",
        output_stride: int = 16,
        msaam: bool = True,
        aspp_channels: int = 64,
        low_channels: int = 24,
        pretrained: bool = False,
        msaam_hidden: int = 32,
        fuse_layers=(1,),
    ):
        super().__init__()
        from torchvision.models.segmentation.deeplabv3 import ASPP

        self.fuse_layers = tuple(int(i) for i in fuse_layers)
        if not self.fuse_layers or not set(self.fuse_layers) <= {1, 2, 3}:
            raise ValueError(f"fuse_layers must be a non-empty subset of (1, 2, 3): {fuse_layers}")
        self.encoder, chans = make_backbone(backbone, output_stride, pretrained)
        c_high = chans[-1]
        self.msaam = MSAAM(c_high, hidden=msaam_hidden) if msaam else None
        rates = (12, 24, 36) if output_stride == 8 else (6, 12, 18)
        self.aspp = ASPP(c_high, rates, out_channels=aspp_channels)
        self.skips = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(chans[i - 1], low_channels, 1, bias=False),
                nn.BatchNorm2d(low_channels),
                nn.ReLU(inplace=True),
            )
            for i in self.fuse_layers
        )
        c_in = aspp_channels + low_channels * len(self.fuse_layers)
        self.decoder = nn.Sequential(
            nn.Conv2d(c_in, aspp_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(aspp_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(aspp_channels, aspp_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(aspp_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(aspp_channels, num_classes, 1),
        )
        # gamma = softplus(g) - 1, g initialised so that gamma = 0
        self.gamma_raw = nn.Parameter(torch.tensor(math.log(math.e - 1))) if msaam else None
        self.rescale = True
        self.num_classes = num_classes
        self.output_stride = output_stride

    @property
    def gamma(self) -> Tensor | None:
        """The weight of the attention in the output rescaling (> -1), None without MSAAM."""
        return None if self.gamma_raw is None else F.softplus(self.gamma_raw) - 1

    def set_gamma(self, value: float) -> None:
        """Set gamma; values <= -1 would make 1 + gamma CoAH <= 0 (logits flipped) and are
        rejected."""
        if self.gamma_raw is None:
            raise ValueError("this model has no MSAAM, hence no gamma")
        if not value > -1:
            raise ValueError(f"gamma must be > -1 (1 + gamma CoAH must stay positive), got {value}")
        with torch.no_grad():  # inverse softplus of value + 1
            self.gamma_raw.copy_(torch.tensor(float(value) + 1).expm1().log())

    def encode(self, x: Tensor) -> list[Tensor]:
        """[layer1, layer2, layer3, layer4] features."""
        e = self.encoder
        x = e.maxpool(e.act1(e.bn1(e.conv1(x))))
        feats = [e.layer1(x)]
        for layer in (e.layer2, e.layer3, e.layer4):
            feats.append(layer(feats[-1]))
        return feats

    def rescaling(self, out: "MSAAMOutput", size) -> Tensor:
        """The output factor 1 + gamma CoAH at ``size`` (B, 1, H, W)."""
        att = F.interpolate(out.attention, size=size, mode="bilinear", align_corners=False)
        return 1 + self.gamma * att

    def forward(self, x: Tensor, return_attention: bool = False):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got shape {tuple(x.shape)}")
        size = x.shape[-2:]
        feats = self.encode(x)
        high, out = feats[-1], None
        if self.msaam is not None:
            out = self.msaam(high)
            high = out.features
        s4 = feats[0].shape[-2:]
        y = [F.interpolate(self.aspp(high), size=s4, mode="bilinear", align_corners=False)]
        att4 = (
            None
            if out is None
            else F.interpolate(out.attention, size=s4, mode="bilinear", align_corners=False)
        )
        for i, proj in zip(self.fuse_layers, self.skips):
            f = proj(feats[i - 1])
            if f.shape[-2:] != s4:
                f = F.interpolate(f, size=s4, mode="bilinear", align_corners=False)
            # fuse the multi-layer features with the attention map (Sec. 3.2)
            y.append(f if att4 is None else f * (1 + att4))
        logits = F.interpolate(
            self.decoder(torch.cat(y, 1)), size=size, mode="bilinear", align_corners=False
        )
        # final integrated prediction: logits scaled where attention is high
        if out is not None and self.rescale:
            logits = logits * self.rescaling(out, size)
        return (logits, out) if return_attention else logits
