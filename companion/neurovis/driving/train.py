"""Training and evaluation (Sec. 4.2): augmentation, Adam with poly decay, the MSAAM loss through
the core ``fit`` loop; logits, segmentation scores, anomaly scores, FLOPs and inference time."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..core import seed_everything, timing
from ..core.training import KeepBest, TrainConfig, fit
from .baselines import ClassStats, anomaly_scores
from .data import IGNORE, MEAN, SegSet, normalize
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
    variance: str = "alpha"  # Eq. 7's variance: "alpha" (as printed) or "maps" (attention maps)
    # power p of median-frequency balancing (median(f) / f_c)^p; 0 = off
    class_weights: float = 0.0
    clip_grad_norm: float | None = 5.0
    backbone: str = "resnet-narrow"
    output_stride: int = 8
    pretrained: bool = False
    fuse_layers: tuple = (1,)  # encoder layers fused into the decoder (Sec. 3.2)
    patience: int | None = None  # early stop after this many epochs without a better val mIoU

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
    def reference(cls, **kw) -> "TrainSettings":
        """The evidence setting: CamVid at 240x180, output stride 8 (a 23x30 encoder grid on a
        full frame, 15x20 on a 120x160 crop), layers 1-3 fused, trained until the validation mIoU
        has not improved for ``patience`` epochs (at most ``num_epochs``)."""
        return replace(
            cls(
                num_epochs=40,
                batch_size=8,
                lr=3e-3,
                crop=(120, 160),
                scale_range=(0.75, 1.5),
                class_weights=0.5,
                output_stride=8,
                fuse_layers=(1, 2, 3),
                patience=6,
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
                fuse_layers=(1, 2, 3),
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
        fuse_layers=settings.fuse_layers,
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
    batch for the scale and per image for flip, brightness and crop position, on the device the
    batch lives on (the random draws come from the CPU generator ``gen``). x uint8 (B,3,H,W), y
    (B,H,W). The rescaling keeps the aspect ratio; where the rescaled image is smaller than the
    crop, it is padded (images with the ImageNet mean, labels with ``IGNORE``), never stretched.
    Returns float images (0..255) and long labels."""
    b, dev = x.shape[0], x.device
    x = x.float()
    flip = (torch.rand(b, generator=gen) < 0.5).to(dev)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    y = torch.where(flip[:, None, None], y.flip(-1), y)
    lo, hi = settings.scale_range
    s = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * float(torch.rand(1, generator=gen)))
    ch, cw = settings.crop
    H, W = max(round(x.shape[2] * s), 1), max(round(x.shape[3] * s), 1)
    x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)
    y = F.interpolate(y[:, None].float(), size=(H, W), mode="nearest")[:, 0].long()
    jitter = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * settings.brightness
    x = (x + jitter.to(dev)).clamp(0, 255)
    if H < ch or W < cw:  # pad (bottom/right), keeping the aspect ratio
        ph, pw = max(ch - H, 0), max(cw - W, 0)
        fill = (MEAN.to(dev) * 255).expand(b, 3, H + ph, W + pw).clone()
        fill[:, :, :H, :W] = x
        x = fill
        y = F.pad(y, (0, pw, 0, ph), value=IGNORE)
        H, W = H + ph, W + pw
    oy = torch.randint(0, H - ch + 1, (b,), generator=gen).tolist()
    ox = torch.randint(0, W - cw + 1, (b,), generator=gen).tolist()
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
    on_epoch_end=None,
) -> dict:
    """Train ``model`` on ``train`` with the MSAAM loss (plain cross-entropy when the model has no
    MSAAM) using the core ``fit`` loop; returns its history (loss, ce, var, evaluate's metrics).

    Augmentation runs on ``device``. ``checkpoint_path``: save after every epoch and resume from
    there (core ``fit``). ``on_epoch_end``: e.g. a ``core.training.KeepBest`` on ``val_mIoU``
    (``evaluate`` must log it)."""
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
        x, y = augment(batch[0].to(device), batch[1].to(device), settings, gen)
        logits, out = m(normalize(x), return_attention=True)
        loss, logs = msaam_loss(
            logits,
            y,
            out,
            settings.lam if out is not None else 0.0,
            weight=weights,
            reading=settings.variance,
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
    return fit(
        model,
        loss_fn,
        loader,
        opt,
        cfg,
        device,
        scheduler=sched,
        evaluate=evaluate,
        on_epoch_end=on_epoch_end,
    )


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


@torch.no_grad()
def image_confusions(model, data: SegSet, device="cpu", batch_size: int = 16) -> torch.Tensor:
    """Per-image confusion matrices (N, K, K) of ``model`` on ``data``, the arg-max taken batch by
    batch on the device (no test set's logits are ever held: Cityscapes val would need ~20 GB)."""
    model.eval().to(device)
    K = len(data.classes)
    out = []
    for i in range(0, len(data), batch_size):
        pred = model(normalize(data.images[i : i + batch_size].to(device))).argmax(1).cpu()
        for p, t in zip(pred, data.labels[i : i + batch_size]):
            out.append(confusion_matrix(p, t, K))
    return torch.stack(out)


def evaluate_segmentation(model, data: SegSet, groups: dict, device="cpu") -> dict:
    """Held-out segmentation scores (``segmentation_scores``) of ``model`` on ``data``."""
    cm = image_confusions(model, data, device).sum(0)
    return segmentation_scores(cm, data.classes, groups)


def train_kept_best(
    seed: int,
    msaam: bool,
    settings: TrainSettings,
    train: SegSet,
    val: SegSet,
    groups: dict,
    device="cpu",
    checkpoint_path=None,
) -> dict:
    """One model of a run: seeded, built by ``build_model``, trained by ``train_segmenter`` with
    the validation mIoU after every epoch, kept at its best validation epoch (early stop after
    ``settings.patience`` epochs without a better one). Returns its best weights (``state``, on
    the CPU), ``history``, ``best_epoch`` (1-based), ``best_value`` and ``seconds``: one job of
    ``core.parallel.map_in_processes``."""
    seed_everything(seed)
    model = build_model(len(train.classes), settings, msaam=msaam)
    keep = KeepBest(model, "val_mIoU", mode="max", patience=settings.patience)
    name = "DeepLabv3+ + MSAAM" if msaam else "DeepLabv3+"
    with timing.Stopwatch() as sw:
        hist = train_segmenter(
            model,
            train,
            settings,
            device,
            seed=seed,
            desc=f"{name}, seed {seed}",
            evaluate=lambda m: {"val_mIoU": evaluate_segmentation(m, val, groups, device)["mIoU"]},
            checkpoint_path=checkpoint_path,
            on_epoch_end=keep,
        )
    keep.restore()
    return {
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": hist,
        "best_epoch": keep.best_epoch + 1,
        "best_value": keep.best_value,
        "seconds": sw.seconds,
    }


def load_trained(result: dict, num_classes: int, settings: TrainSettings, msaam: bool, device):
    """The model of a ``train_kept_best`` result, on ``device``, in evaluation mode."""
    model = build_model(num_classes, settings, msaam=msaam)
    model.load_state_dict(result["state"])
    return model.to(device).eval()


def per_image_iou(cms: torch.Tensor, classes: list, among: list | None = None):
    """Per-image mean IoU (%) over the classes of ``among`` (default: all) present in the image's
    ground truth, from per-image confusions (N, K, K). Images without any such class are NaN."""
    import numpy as np

    cm = cms.double().numpy()
    tp = np.diagonal(cm, axis1=1, axis2=2)
    gt, pr = cm.sum(2), cm.sum(1)
    keep = np.zeros(len(classes), bool)
    keep[[classes.index(c) for c in (among or classes)]] = True
    present = (gt > 0) & keep
    iou = np.where(present, 100 * tp / np.maximum(gt + pr - tp, 1), np.nan)
    with np.errstate(invalid="ignore"):
        return np.where(present.any(1), np.nansum(iou, 1) / np.maximum(present.sum(1), 1), np.nan)


@torch.no_grad()
def saturation(model, images: torch.Tensor, device="cpu", batch_size: int = 16) -> dict:
    """Share of saturated MSAAM gates (``msaam.gate_saturation``) over ``images``: {"channel",
    "spatial"} in [0, 1], plus the alpha mean and sd (3,) over the images."""
    from .msaam import gate_saturation

    model.eval().to(device)
    tot, alphas = {}, []
    for i in range(0, len(images), batch_size):
        _, out = model(normalize(images[i : i + batch_size].to(device)), return_attention=True)
        for k, v in gate_saturation(out).items():
            tot[k] = tot.get(k, 0) + v
        alphas.append(out.alpha.cpu())
    a = torch.cat(alphas)
    return {
        "channel": tot["channel"] / tot["channel_n"],
        "spatial": tot["spatial"] / tot["spatial_n"],
        "alpha_mean": a.mean(0).tolist(),
        "alpha_sd": a.std(0).tolist(),
    }


#: the anomaly-attribution variants (``variant_logits``)
VARIANTS = ("baseline", "baseline, matched temperature", "MSAAM", "MSAAM, gamma = 0")


@torch.no_grad()
def variant_logits(msaam_model, baseline_model, images, device="cpu", batch_size: int = 16):
    """Yield, batch by batch, {variant: logits (B, K, H, W) on the CPU} for the attribution of the
    anomaly gain: the baseline; the baseline's logits times the MSAAM model's output factor
    1 + gamma CoAH on the same image (a per-pixel logit temperature matched to MSAAM's); MSAAM; and
    MSAAM without its output rescaling (gamma = 0). One forward pass per model and batch."""
    msaam_model.eval().to(device)
    baseline_model.eval().to(device)
    was = msaam_model.rescale
    msaam_model.rescale = False
    try:
        for i in range(0, len(images), batch_size):
            x = normalize(images[i : i + batch_size].to(device))
            raw, out = msaam_model(x, return_attention=True)
            factor = msaam_model.rescaling(out, x.shape[-2:])
            base = baseline_model(x)
            yield {
                "baseline": base.float().cpu(),
                "baseline, matched temperature": (base * factor).float().cpu(),
                "MSAAM": (raw * factor).float().cpu(),
                "MSAAM, gamma = 0": raw.float().cpu(),
            }
    finally:
        msaam_model.rescale = was


def variant_class_stats(msaam_model, baseline_model, data: SegSet, device="cpu") -> dict:
    """SML statistics (``ClassStats``) of every variant of ``variant_logits``, from the training
    images' logits, in one pass over them."""
    K = len(data.classes)
    sums = {v: ClassStats.sums(K) for v in VARIANTS}
    for batch in variant_logits(msaam_model, baseline_model, data.images, device):
        for v, lg in batch.items():
            ClassStats.accumulate(sums[v], lg)
    return {v: ClassStats.from_sums(s) for v, s in sums.items()}


def evaluate_attribution(
    msaam_model,
    baseline_model,
    images: torch.Tensor,
    anomaly_masks: torch.Tensor,
    stats: dict,
    device="cpu",
    pixel_stride: int = 1,
) -> tuple[dict, dict]:
    """Every anomaly score of every variant (``VARIANTS``) on pasted-anomaly images.

    Returns ({variant: {score: {AUROC, AP, FPR95}}} over all pixels (every ``pixel_stride``-th row
    and column), {variant: {score: {"AUROC", "AP": per-image values (%)}}}) — the per-image values
    over the images holding both anomaly and normal pixels, in image order, for paired CIs."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    sub = (slice(None), slice(None, None, pixel_stride), slice(None, None, pixel_stride))
    masks = anomaly_masks[sub]
    scores: dict = {}
    for batch in variant_logits(msaam_model, baseline_model, images, device, 16):
        for v, lg in batch.items():
            for name, sc in anomaly_scores(lg, stats[v]).items():
                scores.setdefault(v, {}).setdefault(name, []).append(sc[sub])
    pooled, per_image = {}, {}
    m = masks.numpy()
    usable = [j for j in range(len(m)) if (m[j] == 1).any() and (m[j] == 0).any()]
    for v, by_score in scores.items():
        pooled[v], per_image[v] = {}, {}
        for name, parts in by_score.items():
            s = torch.cat(parts).numpy()
            pooled[v][name] = anomaly_metrics(s, m)
            per = (
                [(m[j] == 1)[m[j] != IGNORE] for j in usable],
                [s[j][m[j] != IGNORE] for j in usable],
            )
            per_image[v][name] = {
                "AUROC": np.array([100 * roc_auc_score(y, x) for y, x in zip(*per)]),
                "AP": np.array([100 * average_precision_score(y, x) for y, x in zip(*per)]),
            }
    return pooled, per_image


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
    """{score name: {AUROC, AP, FPR95}} of every anomaly score on anomaly images (a real benchmark
    or pasted objects), over every ``pixel_stride``-th row and column (1 = all pixels)."""
    sub = (slice(None), slice(None, None, pixel_stride), slice(None, None, pixel_stride))
    scores: dict = {}
    # score maps batch by batch: full-size logits of a test set are large
    for i in range(0, len(images), 16):
        for name, s in anomaly_scores(predict(model, images[i : i + 16], device), stats).items():
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
