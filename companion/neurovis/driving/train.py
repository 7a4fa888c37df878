"""Training and evaluation (Sec. 4.2): augmentation, Adam with poly decay, the MSAAM loss through
the core ``fit`` loop; logits, segmentation scores, anomaly scores, FLOPs and inference time."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..core import timing
from ..core.training import TrainConfig, fit
from .baselines import ClassStats, anomaly_scores
from .data import IGNORE, SegSet, normalize
from .metrics import anomaly_metrics, confusion_matrix, segmentation_scores
from .msaam import DeepLabV3Plus, msaam_loss


@dataclass(frozen=True)
class TrainSettings:
    """How a segmenter is trained. ``small()``: the CPU setting of this chapter; ``paper()``: Sec.
    4.2.1."""

    num_epochs: int = 8
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-5
    poly_power: float = 0.9
    crop: tuple = (96, 128)  # (H, W) random crop
    scale_range: tuple = (0.5, 2.0)  # random rescaling
    brightness: float = 10.0  # +- jitter in 0..255 units
    lam: float = 0.1  # lambda of the MSAAM loss (Eq. 7)
    # power p of median-frequency balancing (median(f) / f_c)^p; 0 = off
    class_weights: float = 0.0
    clip_grad_norm: float | None = 5.0
    backbone: str = "resnet-narrow"
    output_stride: int = 8
    pretrained: bool = False

    @classmethod
    def small(cls, **kw) -> "TrainSettings":
        return replace(
            cls(
                num_epochs=10,
                batch_size=8,
                lr=3e-3,
                crop=(96, 128),
                scale_range=(0.75, 1.5),
                class_weights=0.5,
                output_stride=16,
            ),
            **kw,
        )

    @classmethod
    def paper(cls, **kw) -> "TrainSettings":
        """ResNet-101, output stride 8, 80 epochs, batch 8, 512x512 crops, scale 0.5-2, brightness
        +-10, Adam 3e-4 with weight decay 1e-5 and poly(0.9) decay (Sec. 4.2.1)."""
        return replace(
            cls(
                num_epochs=80,
                batch_size=8,
                lr=3e-4,
                crop=(512, 512),
                scale_range=(0.5, 2.0),
                backbone="resnet101",
                output_stride=8,
                pretrained=True,
                class_weights=0.0,
            ),
            **kw,
        )


def build_model(num_classes: int, settings: TrainSettings, msaam: bool) -> DeepLabV3Plus:
    """DeepLabv3+ with (``msaam=True``) or without MSAAM, sized by ``settings``."""
    wide = settings.backbone != "resnet-narrow"
    return DeepLabV3Plus(
        num_classes,
        backbone=settings.backbone,
        output_stride=settings.output_stride,
        msaam=msaam,
        aspp_channels=256 if wide else 48,
        low_channels=48 if wide else 16,
        pretrained=settings.pretrained,
        msaam_hidden=64 if wide else 32,
    )


def median_frequency_weights(
    labels: torch.Tensor, num_classes: int, power: float = 1.0
) -> torch.Tensor:
    """Median-frequency balancing (Eigen & Fergus 2015, SegNet's CamVid setting): w_c = (median(f) /
    f_c)^power."""
    counts = torch.bincount(
        labels[labels != IGNORE].long().flatten(), minlength=num_classes
    ).double()
    f = counts / counts.sum()
    w = torch.where(f > 0, (f[f > 0].median() / f.clamp_min(1e-12)) ** power, torch.zeros_like(f))
    return w.float()


def augment(x: torch.Tensor, y: torch.Tensor, settings: TrainSettings, gen: torch.Generator):
    """Random horizontal flip, rescaling, brightness jitter and crop (Sec. 4.2.1), one draw per
    batch for the scale and per image for flip, brightness and crop position. x uint8 (B,3,H,W), y
    (B,H,W)."""
    b = x.shape[0]
    x = x.float()
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    y = torch.where(flip[:, None, None], y.flip(-1), y)
    lo, hi = settings.scale_range
    s = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * float(torch.rand(1, generator=gen)))
    ch, cw = settings.crop
    H, W = max(round(x.shape[2] * s), ch), max(round(x.shape[3] * s), cw)
    x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)
    y = F.interpolate(y[:, None].float(), size=(H, W), mode="nearest")[:, 0].long()
    x = (x + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * settings.brightness).clamp(0, 255)
    oy = torch.randint(0, H - ch + 1, (b,), generator=gen)
    ox = torch.randint(0, W - cw + 1, (b,), generator=gen)
    xs = torch.stack([x[i, :, oy[i] : oy[i] + ch, ox[i] : ox[i] + cw] for i in range(b)])
    ys = torch.stack([y[i, oy[i] : oy[i] + ch, ox[i] : ox[i] + cw] for i in range(b)])
    return xs, ys


def train_segmenter(
    model: DeepLabV3Plus,
    train: SegSet,
    settings: TrainSettings,
    device,
    seed: int = 0,
    desc: str = "train",
    evaluate=None,
    checkpoint_path=None,
) -> dict:
    """Train ``model`` on ``train`` with the MSAAM loss (plain cross-entropy when the model has no
    MSAAM) using the core ``fit`` loop; returns its history (loss, ce, var, evaluate's metrics)."""
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(train.images, train.labels),
        batch_size=settings.batch_size,
        shuffle=True,
        generator=gen,
        num_workers=0,
        drop_last=True,
    )
    weights = (
        median_frequency_weights(train.labels, len(train.classes), settings.class_weights).to(
            device
        )
        if settings.class_weights
        else None
    )

    def loss_fn(m, batch):
        x, y = augment(*batch, settings, gen)
        x, y = normalize(x.to(device)), y.to(device)
        logits, out = m(x, return_attention=True)
        loss, logs = msaam_loss(
            logits, y, out, settings.lam if out is not None else 0.0, weight=weights
        )
        return loss, logs

    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: (1 - e / settings.num_epochs) ** settings.poly_power
    )
    cfg = TrainConfig(
        num_epochs=settings.num_epochs,
        clip_grad_norm=settings.clip_grad_norm,
        desc=desc,
        checkpoint_path=checkpoint_path,
    )
    return fit(model, loss_fn, loader, opt, cfg, device, scheduler=sched, evaluate=evaluate)


@torch.no_grad()
def predict(
    model: DeepLabV3Plus,
    images: torch.Tensor,
    device="cpu",
    batch_size: int = 16,
    attention: bool = False,
):
    """Logits (N, K, H, W) on the CPU for uint8 images (N, 3, H, W); with ``attention=True`` also
    the MSAAM outputs' alpha (N, 3) and CoAH map (N, 1, h, w) (None for a model without MSAAM)."""
    model.eval().to(device)
    logits, alphas, maps = [], [], []
    for i in range(0, len(images), batch_size):
        lg, out = model(normalize(images[i : i + batch_size].to(device)), return_attention=True)
        logits.append(lg.float().cpu())
        if out is not None:
            alphas.append(out.alpha.cpu()), maps.append(out.attention.cpu())
    lg = torch.cat(logits)
    if not attention:
        return lg
    return lg, (torch.cat(alphas) if alphas else None), (torch.cat(maps) if maps else None)


def evaluate_segmentation(model, data: SegSet, groups: dict, device="cpu") -> dict:
    """Held-out segmentation scores (``segmentation_scores``) of ``model`` on ``data``."""
    pred = predict(model, data.images, device).argmax(1)
    return segmentation_scores(
        confusion_matrix(pred, data.labels, len(data.classes)), data.classes, groups
    )


def class_stats(model, data: SegSet, device="cpu", batch_size: int = 32) -> ClassStats:
    """SML statistics from the training images' logits."""

    def batches():
        for i in range(0, len(data), batch_size):
            yield predict(model, data.images[i : i + batch_size], device, batch_size)

    return ClassStats.fit(batches(), len(data.classes))


def evaluate_anomalies(
    model,
    images: torch.Tensor,
    anomaly_masks: torch.Tensor,
    stats: ClassStats | None,
    device="cpu",
    pixel_stride: int = 1,
) -> dict:
    """{score name: {AUROC, AP, FPR95}} of every anomaly score on pasted-anomaly images, over every
    ``pixel_stride``-th row and column (1 = all pixels)."""
    sub = (slice(None), slice(None, None, pixel_stride), slice(None, None, pixel_stride))
    scores: dict = {}
    # score maps batch by batch: full-size logits of a test set are large
    for i in range(0, len(images), 32):
        for name, s in anomaly_scores(predict(model, images[i : i + 32], device), stats).items():
            scores.setdefault(name, []).append(s[sub])
    masks = anomaly_masks[sub].numpy()
    return {name: anomaly_metrics(torch.cat(s).numpy(), masks) for name, s in scores.items()}


def gflops(model, size=(120, 160), device="cpu") -> float:
    """GFLOPs (multiply-adds counted as 2 FLOPs, torch's FlopCounterMode) of one forward pass on a
    (1, 3, H, W) image. Runs on the meta device, so paper-sized models cost no compute."""
    import copy
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model).to("meta").eval() if device == "meta" else model.eval()
    x = torch.zeros(1, 3, *size, device="meta" if device == "meta" else device)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m(x)
    return fc.get_total_flops() / 1e9


def inference_time(model, size=(120, 160), device="cpu", repeats: int = 5) -> timing.Timing:
    """Wall-clock time of one forward pass on a (1, 3, H, W) image (batch 1, as on a car)."""
    model.eval().to(device)
    x = torch.zeros(1, 3, *size, device=device)

    @torch.no_grad()
    def run():
        return model(x)

    return timing.measure(run, warmup=2, repeats=repeats)
