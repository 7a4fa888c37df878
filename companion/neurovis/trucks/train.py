"""Training and evaluation of the improved MMAL-Net and its baselines on the same sets, with the
book's training loop (``neurovis.core.training.fit``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.training import TrainConfig, fit
from .baselines import MMALNet, PlainResNet, mmal_loss
from .data import ImageTable, SetDataset, Sets, SingleDataset
from .model import ImprovedMMAL, NetConfig, improved_mmal_loss

METHODS = ("improved_mmal", "improved_mmal_noparts", "mmal", "resnet")
LABELS = {
    "improved_mmal": "improved MMAL-Net (ours)",
    "improved_mmal_noparts": "improved MMAL-Net, no part branch",
    "mmal": "MMAL-Net (single photo)",
    "resnet": "ResNet (single photo)",
}


@dataclass(frozen=True)
class TrainSettings:
    """SGD with momentum 0.9 and weight decay (Sec. 4). ``small()``: from scratch, lr 0.05 with a
    cosine decay, batch 16 (sets) / 32 (photos), 20 epochs. ``paper()``: ImageNet-initialised, lr
    0.001, x0.1 after 60 epochs, batch 6, 100 epochs (the paper gives no epoch count)."""

    num_epochs: int = 20
    # sets per batch; single-photo baselines get twice as many photos
    batch_size: int = 16
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # "cosine" | "step60"
    optimizer: str = "sgd"  # "sgd" | "adamw"
    augment: bool = True

    @classmethod
    def small(cls, **kw) -> "TrainSettings":
        return cls(**kw)

    @classmethod
    def paper(cls, **kw) -> "TrainSettings":
        return cls(
            **{
                "num_epochs": 100,
                "batch_size": 6,
                "lr": 0.001,
                "weight_decay": 1e-4,
                "schedule": "step60",
                **kw,
            }
        )


def augment(x: torch.Tensor, gen: torch.Generator, min_area: float = 0.5) -> torch.Tensor:
    """Random horizontal flip and a random resized crop per photo (area ``min_area``-1 of the photo,
    aspect 3/4-4/3, resized back with ``roi_align``); seeded by ``gen`` so that a run is
    reproducible."""
    from torchvision.ops import roi_align

    B, _, H, W = x.shape
    flip = torch.rand(B, generator=gen) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    area = min_area + (1 - min_area) * torch.rand(B, generator=gen)
    logr = (torch.rand(B, generator=gen) - 0.5) * 2 * 0.2877  # log(4/3)
    w = (W * torch.sqrt(area * logr.exp())).clamp(max=W)
    h = (H * torch.sqrt(area / logr.exp())).clamp(max=H)
    x1 = (W - w) * torch.rand(B, generator=gen)
    y1 = (H - h) * torch.rand(B, generator=gen)
    boxes = torch.stack([torch.arange(B, dtype=torch.float), x1, y1, x1 + w, y1 + h], 1).to(
        x.device
    )
    return roi_align(
        x, boxes, output_size=(H, W), spatial_scale=1.0, sampling_ratio=2, aligned=True
    )


def build(method: str, num_classes: int, cfg: NetConfig):
    if method in ("improved_mmal", "improved_mmal_noparts"):
        return ImprovedMMAL(num_classes, cfg)
    if method == "mmal":
        return MMALNet(num_classes, cfg)
    if method == "resnet":
        return PlainResNet(num_classes, cfg)
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


@dataclass
class Trained:
    """A trained model with its per-epoch history (loss, held-out accuracy %) and training
    seconds."""

    method: str
    model: torch.nn.Module
    history: dict
    seconds: float
    n_train_sets: int


def fit_method(
    method: str,
    table: ImageTable,
    train: Sets,
    test: Sets,
    cfg: NetConfig,
    settings: TrainSettings,
    device,
    seed: int = 0,
    track: bool = True,
) -> Trained:
    """Train ``method`` on the training sets (the single-photo baselines on both photos of every
    set, the same images) and evaluate the held-out sets after every epoch (``track=True``) or once
    at the end; ``history["test_acc"]`` holds the held-out accuracies (%)."""
    device = torch.device(device)
    torch.manual_seed(seed)
    model = build(method, len(table.classes), cfg)
    gen = torch.Generator().manual_seed(seed)
    two_view = method.startswith("improved")
    if two_view:
        ds, bs = SetDataset(table, train), settings.batch_size
    else:
        ds, bs = SingleDataset(table, train.images()), 2 * settings.batch_size
    loader = torch.utils.data.DataLoader(
        ds, batch_size=bs, shuffle=True, generator=gen, num_workers=0, drop_last=len(ds) > bs
    )
    aug = (lambda x: augment(x, gen)) if settings.augment else (lambda x: x)

    def loss_fn(m, batch):
        if two_view:
            front, side, y = batch
            front, side, y = aug(front).to(device), aug(side).to(device), y.to(device)
            out = m(front, side, parts=method == "improved_mmal")
            return improved_mmal_loss(out, y)
        x, y = batch
        x, y = aug(x).to(device), y.to(device)
        return mmal_loss(m(x), y)

    if settings.optimizer == "sgd":
        opt = torch.optim.SGD(
            model.parameters(),
            lr=settings.lr,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
        )
    elif settings.optimizer == "adamw":
        opt = torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {settings.optimizer!r}")
    if settings.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.num_epochs)
    elif settings.schedule == "step60":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=60, gamma=0.1)
    else:
        raise ValueError(f"schedule must be 'cosine' or 'step60', got {settings.schedule!r}")
    score = lambda m: {"test_acc": accuracy(predict(m, method, table, test, device), test.labels)}
    t0 = time.perf_counter()
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(num_epochs=settings.num_epochs, clip_grad_norm=5.0, desc=method),
        device,
        scheduler=sched,
        evaluate=score if track else None,
    )
    seconds = time.perf_counter() - t0
    if not track:
        hist["test_acc"] = [score(model)["test_acc"]]
    return Trained(method, model, hist, seconds, len(train))


def batch_images(table: ImageTable, idx) -> torch.Tensor:
    return torch.stack([table[int(i)] for i in idx])


@torch.no_grad()
def photo_probs(net_fn, table: ImageTable, photos, device, batch_size: int = 64) -> torch.Tensor:
    """Softmax outputs (len(photos), K) of ``net_fn`` (photos -> logits) on the given photos."""
    out = []
    for s in range(0, len(photos), batch_size):
        x = batch_images(table, photos[s : s + batch_size]).to(device)
        out.append(F.softmax(net_fn(x), -1).cpu())
    return torch.cat(out)


@torch.no_grad()
def predict_proba(
    model, method: str, table: ImageTable, sets: Sets, device, views: str = "auto"
) -> np.ndarray:
    """Class probabilities (M, K) for every set. ``views``: "auto" (the improved model uses both
    photos, the baselines the frontal one), "front" (frontal photo only) or "both" (for a baseline:
    the mean of its probabilities on the two photos, a late fusion).

    Every photo goes through the network once: the improved model's set prediction is the mean of
    the frontal branch's softmax on photo 1 and the side branch's on photo 2 (the part branch is not
    used at test time), so it decomposes over photos, and many sets can share photos cheaply."""
    if views not in ("auto", "front", "both"):
        raise ValueError(f"views must be 'auto', 'front' or 'both', got {views!r}")
    model.eval().to(device)
    photos, inv = np.unique(sets.pairs, return_inverse=True)
    inv = inv.reshape(sets.pairs.shape)
    if method.startswith("improved"):
        pf = photo_probs(lambda x: model.front_net(x)[0], table, photos, device)
        if views == "front":
            return pf[inv[:, 0]].numpy()
        ps = (
            pf
            if model.cfg.shared
            else photo_probs(lambda x: model.side_net(x)[0], table, photos, device)
        )
        return (0.5 * (pf[inv[:, 0]] + ps[inv[:, 1]])).numpy()
    p = photo_probs(lambda x: torch.log(model.predict_proba(x)), table, photos, device)
    if views == "both":
        return (0.5 * (p[inv[:, 0]] + p[inv[:, 1]])).numpy()
    return p[inv[:, 0]].numpy()


def predict(model, method, table, sets, device, views: str = "auto") -> np.ndarray:
    return predict_proba(model, method, table, sets, device, views).argmax(1)


def accuracy(pred, y) -> float:
    """Top-1 accuracy in %."""
    pred, y = np.asarray(pred), np.asarray(y)
    if pred.shape != y.shape or len(y) == 0:
        raise ValueError(
            f"pred {pred.shape} and labels {y.shape} must be non-empty and of the same shape"
        )
    return float(100.0 * (pred == y).mean())


def light_as_heavy(y, pred, heavy) -> int:
    """How many light-duty vehicles were recognised as a heavy-duty model (the dangerous error:
    a higher weight limit hides an overload). ``heavy``: (K,) 1 for heavy-duty classes."""
    heavy = np.asarray(heavy)
    y, pred = np.asarray(y), np.asarray(pred)
    return int(((heavy[y] == 0) & (heavy[pred] == 1)).sum())


def heavy_as_light(y, pred, heavy) -> int:
    """Heavy-duty vehicles recognised as light-duty (a false overload alarm, not a hidden one)."""
    heavy = np.asarray(heavy)
    y, pred = np.asarray(y), np.asarray(pred)
    return int(((heavy[y] == 1) & (heavy[pred] == 0)).sum())


def evaluate_runs(
    runs: dict, table: ImageTable, test: Sets, heavy, device
) -> tuple["pandas.DataFrame", dict]:  # noqa: F821
    """Held-out accuracy (%) of every trained run ({method: Trained}) on the test sets, as each
    method is meant to be used (ours: both photos; baselines: the frontal photo), and the share (%)
    of light-duty sets recognised as a heavy-duty model and vice versa; returns the table and the
    confusion matrices (counts)."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    heavy = np.asarray(heavy)
    n_light, n_heavy = int((heavy[test.labels] == 0).sum()), int((heavy[test.labels] == 1).sum())
    rows, cms = {}, {}
    K = len(table.classes)
    for method, run in runs.items():
        pred = predict(run.model, method, table, test, device)
        cms[method] = confusion_matrix(test.labels, pred, labels=list(range(K)))
        rows[LABELS.get(method, method)] = {
            "acc %": accuracy(pred, test.labels),
            "light as heavy %": 100.0 * light_as_heavy(test.labels, pred, heavy) / max(n_light, 1),
            "heavy as light %": 100.0 * heavy_as_light(test.labels, pred, heavy) / max(n_heavy, 1),
            "train s": run.seconds,
        }
    return pd.DataFrame.from_dict(rows, orient="index"), cms


def few_shot(
    methods,
    n_sets: list[int],
    table: ImageTable,
    train: Sets,
    test: Sets,
    cfg: NetConfig,
    settings: TrainSettings,
    device,
    seed: int = 0,
    done: dict | None = None,
) -> "pandas.DataFrame":  # noqa: F821
    """Held-out accuracy (%) against the number of training sets per class (Figure 6): every method
    trained on the first n sets of every class, for each n; ``done`` ({(method, n): Trained}) reuses
    runs already trained. Rows: n; columns: methods."""
    import pandas as pd

    done = dict(done or {})
    acc = {}
    for n in n_sets:
        sub = train.per_class(n)
        for m in methods:
            run = done.get((m, n)) or fit_method(
                m, table, sub, test, cfg, settings, device, seed, track=False
            )
            acc.setdefault(LABELS.get(m, m), {})[n] = run.history["test_acc"][-1]
    return pd.DataFrame(acc).rename_axis("training sets per class")
