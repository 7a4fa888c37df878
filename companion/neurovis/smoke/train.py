"""Training, prediction and the paper's metrics (Eq. 3-4) for the smoke classifiers.

Every network is trained with ``neurovis.core.training.fit``; the recipe follows Sec. 3.3: Adam at
an initial learning rate of 1e-3 with exponential decay, random horizontal flips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..core import timing
from ..core.training import KeepBest, TrainConfig, fit
from .data import SmokeSet

MEAN, STD = 0.5, 0.25
CHANNELS_LAST = torch.channels_last


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the network's input scale."""
    return (x - MEAN) / STD


@dataclass(frozen=True)
class TrainSettings:
    """How every classifier is trained (the same budget for all)."""

    num_epochs: int = 8
    lr: float = 1e-3
    lr_decay: float = 0.8  # exponential decay per epoch (Sec. 3.3)
    batch_size: int = 32
    weight_decay: float = 0.05
    clip_grad_norm: float | None = 5.0

    @classmethod
    def paper(cls) -> "TrainSettings":
        """Sec. 3.3: 50 epochs, lr 1e-3 with exponential decay."""
        return cls(num_epochs=50, lr_decay=0.95)


def confusion_counts(y_true, y_pred) -> dict[str, int]:
    """TP, FN, FP, TN with smoke (1) as the positive class (Sec. 4.1)."""
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    bad = set(np.unique(np.concatenate([y_true, y_pred]))) - {0, 1}
    if bad:
        raise ValueError(f"labels must be 0 (smoke-free) or 1 (smoke), got {sorted(bad)}")
    from sklearn.metrics import confusion_matrix

    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {"TP": int(tp), "FN": int(fn), "FP": int(fp), "TN": int(tn)}


def acc_sens(y_true, y_pred) -> dict[str, float]:
    """Acc = (TP+TN)/(TP+FN+FP+TN) (Eq. 3), Sens = TP/(TP+FN) (Eq. 4), and specificity TN/(TN+FP),
    in percent (nan where a denominator is zero)."""
    c = confusion_counts(y_true, y_pred)
    total = sum(c.values())
    pos, neg = c["TP"] + c["FN"], c["TN"] + c["FP"]
    return {
        "acc": 100.0 * (c["TP"] + c["TN"]) / total if total else float("nan"),
        "sens": 100.0 * c["TP"] / pos if pos else float("nan"),
        "spec": 100.0 * c["TN"] / neg if neg else float("nan"),
    }


@torch.no_grad()
def predict_proba(model: nn.Module, images, device="cpu", batch_size: int = 64) -> np.ndarray:
    """P(smoke) for images (N, 3, S, S) in [0, 1] (numpy or tensor); the model is put in eval
    mode."""
    model.eval().to(device)
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images (N, 3, S, S), got shape {tuple(x.shape)}")
    out = []
    for i in range(0, len(x), batch_size):
        xb = normalize(x[i : i + batch_size].to(device)).contiguous(memory_format=CHANNELS_LAST)
        logits = model(xb)
        out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    return torch.cat(out).numpy()


def evaluate(
    model: nn.Module, data: SmokeSet, device="cpu", threshold: float = 0.5
) -> dict[str, float]:
    """Held-out Acc / Sens / Spec (%) of ``model`` on ``data``."""
    return acc_sens(data.labels, predict_proba(model, data.images, device) >= threshold)


def train_classifier(
    model: nn.Module,
    train: SmokeSet,
    val: SmokeSet,
    settings: TrainSettings,
    device,
    seed: int = 0,
    desc: str = "train",
    progress: bool = True,
    num_epochs: int | None = None,
) -> dict:
    """Train ``model`` (cross-entropy, AdamW, exponential lr decay, random horizontal flips) with
    the core ``fit`` loop for ``num_epochs`` (default ``settings.num_epochs``). After every epoch
    the validation loss, Acc, Sens and Spec go into the returned history; at the end the model
    holds the weights of its **best-validation epoch** (lowest validation cross-entropy), whose
    index is ``history["best_epoch"]`` (0-based)."""
    x, y = train.tensors()
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=settings.batch_size,
        shuffle=True,
        generator=gen,
        num_workers=0,
    )

    def loss_fn(m, batch):
        xb, yb = (t.to(device) for t in batch)
        flip = torch.rand(len(xb), generator=gen) < 0.5  # random horizontal flip (Sec. 3.3)
        xb = torch.where(flip.to(device)[:, None, None, None], xb.flip(-1), xb)
        logits = m(normalize(xb).contiguous(memory_format=CHANNELS_LAST))
        return F.cross_entropy(logits, yb)

    # channels-last: the depthwise convolutions' backward is several times faster on a CPU
    model.to(memory_format=CHANNELS_LAST)
    val_y = torch.as_tensor(val.labels)

    def evaluate_val(m):
        p = torch.from_numpy(predict_proba(m, val.images, device)).double()
        p_true = torch.where(val_y == 1, p, 1 - p).clamp_min(1e-12)
        metrics = acc_sens(val.labels, p.numpy() >= 0.5)
        return {
            "val_loss": float(-p_true.log().mean()),
            **{f"val_{k}": v for k, v in metrics.items()},
        }

    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=settings.lr_decay)
    cfg = TrainConfig(
        num_epochs=num_epochs or settings.num_epochs,
        clip_grad_norm=settings.clip_grad_norm,
        desc=desc,
        progress=progress,
    )
    keep = KeepBest(model, "val_loss", mode="min")
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        cfg,
        device,
        scheduler=sched,
        evaluate=evaluate_val,
        on_epoch_end=keep,
    )
    keep.restore()
    hist["best_epoch"] = keep.best_epoch
    return hist


def measure_fps(
    model: nn.Module, img_size: int, device="cpu", n_frames: int = 30, repeats: int = 5
) -> timing.Timing:
    """Frames per second at batch 1 (one frame after another, as in a video stream).
    Returns the Timing of ``n_frames`` single-frame forward passes; fps = n_frames / median."""
    model.eval().to(device)
    x = torch.rand(1, 3, img_size, img_size, device=device)

    @torch.no_grad()
    def run():
        for _ in range(n_frames):
            model(normalize(x))

    return timing.measure(run, warmup=1, repeats=repeats)


def fps(t: timing.Timing, n_frames: int = 30) -> float:
    return n_frames / t.median


# ----------------------------------------------------------------------------------- experiments
LADDER = ("poolformer_s12", "pf_multibranch", "pf_multibranch_tok", "ours")
LADDER_LABELS = {
    "poolformer_s12": "PoolFormer-S12",
    "pf_multibranch": "+ multi-branch mixer",
    "pf_multibranch_tok": "+ conv tokenizer",
    "ours": "+ sequence pooling (ours)",
}
MODEL_NAMES = LADDER + ("mobilenet_v3", "efficientnet", "vit")


def model_config(name: str, scale: str = "small", img_size: int = 64):
    """The SmokeFormerConfig of a ladder model (Table 2): PoolFormer-S12, + the multi-branch
    mixer, + the convolutional tokenizer, + sequence pooling (= ours, the paper's full model)."""
    from .model import SmokeFormerConfig

    if name not in LADDER:
        raise ValueError(f"{name!r} is not a ladder model; choose from {LADDER}")
    make = SmokeFormerConfig.paper if scale == "paper" else SmokeFormerConfig.small
    full = make(img_size=img_size)
    return {
        "poolformer_s12": full.poolformer_s12(),
        "pf_multibranch": replace(full.poolformer_s12(), mixer="repconvnext"),
        "pf_multibranch_tok": replace(full, seq_pool=False),
        "ours": full,
    }[name]


def build_model(name: str, scale: str = "small", img_size: int = 64) -> nn.Module:
    """A fresh classifier: a ladder model (``LADDER``, ``model_config``) or a Table-1 baseline
    (``neurovis.smoke.baselines``)."""
    from .baselines import make_baseline
    from .model import SmokeFormer

    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES}")
    if name in LADDER:
        return SmokeFormer(model_config(name, scale, img_size))
    return make_baseline(name, "paper" if scale == "paper" else "small", img_size=img_size)


def matched_epochs(name: str, reference: str, num_epochs: int, scale: str, img_size: int) -> int:
    """Epochs for ``name`` to spend at least the training FLOPs that ``reference`` spends in
    ``num_epochs`` on the same data (the compute-matched comparison). A training step costs about
    3x the forward FLOPs for both, so the forward ratio decides (torch's FlopCounterMode miscounts
    the backward of grouped convolutions, counting the input gradient once per group)."""
    import math

    from .model import forward_flops

    f = forward_flops(build_model(name, scale, img_size), img_size)
    f_ref = forward_flops(build_model(reference, scale, img_size), img_size)
    return int(math.ceil(num_epochs * f_ref / f - 1e-9))


@dataclass
class Run:
    """One trained classifier (best-validation weights): its history, held-out test metrics (%),
    P(smoke) on the test set, parameter count, forward GFLOPs per image, training time (s)."""

    name: str
    seed: int
    model: nn.Module
    history: dict
    metrics: dict
    n_params: int
    seconds: float
    gflops: float = float("nan")
    epochs: int = 0
    test_proba: np.ndarray | None = None


def fit_model(
    name: str,
    train: SmokeSet,
    val: SmokeSet,
    test: SmokeSet,
    settings: TrainSettings,
    device,
    seed: int = 0,
    scale: str = "small",
    img_size: int = 64,
    progress: bool = True,
    num_epochs: int | None = None,
    label: str | None = None,
) -> Run:
    """Build ``name`` with weights seeded by ``seed``, train it on ``train`` (best-validation
    checkpoint on ``val``) and evaluate on the held-out ``test``. ``label`` names the run (default
    ``name``), e.g. for a compute-matched rerun with other ``num_epochs``."""
    import time

    from .model import count_params, forward_flops

    torch.manual_seed(seed)
    model = build_model(name, scale, img_size)
    n_params = count_params(model)
    gflops = forward_flops(model, img_size) / 1e9
    t0 = time.perf_counter()
    hist = train_classifier(
        model,
        train,
        val,
        settings,
        device,
        seed=seed,
        desc=f"{label or name} s{seed}",
        progress=progress,
        num_epochs=num_epochs,
    )
    secs = time.perf_counter() - t0
    proba = predict_proba(model, test.images, device)
    metrics = acc_sens(test.labels, proba >= 0.5)
    return Run(
        label or name,
        seed,
        model,
        hist,
        metrics,
        n_params,
        secs,
        gflops,
        num_epochs or settings.num_epochs,
        proba,
    )


def summarize(runs: list[Run]) -> "pandas.DataFrame":  # noqa: F821
    """Per model: seeds, parameters, forward GFLOPs per image, epochs, training seconds (mean), and
    held-out Acc / Sens / Spec (%, mean and sd over seeds, rounded to 0.1)."""
    import pandas as pd

    rows = {}
    for name in dict.fromkeys(r.name for r in runs):
        rs = [r for r in runs if r.name == name]
        row = {
            "seeds": len(rs),
            "params (k)": round(rs[0].n_params / 1e3),
            "GFLOPs": round(rs[0].gflops, 4),
            "epochs": rs[0].epochs,
            "train s": round(float(np.mean([r.seconds for r in rs]))),
        }
        for k in ("acc", "sens", "spec"):
            vals = np.array([r.metrics[k] for r in rs])
            row[f"{k} %"] = round(float(vals.mean()), 1)
            row[f"{k} sd"] = round(float(vals.std()), 1)
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
