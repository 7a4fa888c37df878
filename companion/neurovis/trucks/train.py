"""Training and evaluation of the improved MMAL-Net and its baselines on the same sets, with the
book's training loop (``neurovis.core.training.fit``)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..core.training import KeepBest, TrainConfig, fit
from .baselines import MMALNet, PlainResNet, mmal_loss
from .data import ImageTable, SetDataset, Sets, SingleDataset
from .model import ImprovedMMAL, NetConfig, improved_mmal_loss

METHODS = (
    "improved_mmal",
    "improved_mmal_noparts",
    "improved_mmal_random",
    "improved_mmal_pretrained",
    "mmal",
    "resnet",
)
LABELS = {
    "improved_mmal": "improved MMAL-Net (ours)",
    "improved_mmal_noparts": "ours without part branch",
    "improved_mmal_random": "ours, random crops for parts",
    "improved_mmal_pretrained": "ours, pre-trained backbone",
    "mmal": "MMAL-Net",
    "resnet": "ResNet",
}
TWO_VIEW = (
    "improved_mmal",
    "improved_mmal_noparts",
    "improved_mmal_random",
    "improved_mmal_pretrained",
)


@dataclass(frozen=True)
class TrainSettings:
    """A fixed budget of ``steps`` optimiser steps for every training-set size (batches drawn with
    replacement), evaluated on the validation sets every ``eval_every`` steps (one "round"); SGD
    with momentum 0.9 and weight decay (Sec. 4); a linear warmup over the first ``warmup`` fraction
    of the steps, then a cosine decay to 0 (``schedule="cosine"``) or x0.1 at 60 % of the steps
    (``"step"``, the paper's decay). ``lr`` is the default; the chapter's learning rates are chosen
    on validation (``trucks.tuning``). ``pretrain_steps``: steps of the pre-training substitute.

    ``small()``: 60 steps, batch 8 sets (16 photos); ``reference()``: 240 steps (what five seeds
    of the chapter's seven trainings afford in the reference run's 90 minutes on 2 CPU cores);
    ``paper(steps)``: batch 6, lr 0.001, step decay, no warmup (the paper's settings)."""

    steps: int = 60
    eval_every: int = 10
    batch_size: int = 8  # sets per batch; single-photo models get the same photos (2x as many)
    lr: float = 0.03
    warmup: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # "cosine" | "step"
    optimizer: str = "sgd"  # "sgd" | "adamw"
    augment: bool = True
    pretrain_steps: int = 40

    def __post_init__(self):
        if self.steps < 1 or self.eval_every < 1 or self.steps % self.eval_every:
            raise ValueError(
                f"steps ({self.steps}) must be a positive multiple of eval_every "
                f"({self.eval_every})"
            )
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be a fraction in [0, 1), got {self.warmup}")
        if self.schedule not in ("cosine", "step"):
            raise ValueError(f"schedule must be 'cosine' or 'step', got {self.schedule!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}")

    @property
    def rounds(self) -> int:
        return self.steps // self.eval_every

    @classmethod
    def small(cls, **kw) -> "TrainSettings":
        return cls(**kw)

    @classmethod
    def reference(cls, **kw) -> "TrainSettings":
        return cls(**{"steps": 240, "eval_every": 12, "pretrain_steps": 240, **kw})

    @classmethod
    def paper(cls, steps: int, **kw) -> "TrainSettings":
        every = max(1, steps // 100)
        return cls(
            **{
                "steps": every * max(1, steps // every),
                "eval_every": every,
                "batch_size": 6,
                "lr": 0.001,
                "warmup": 0.0,
                "weight_decay": 1e-4,
                "schedule": "step",
                "pretrain_steps": 0,
                **kw,
            }
        )


def lr_at(step: int, settings: TrainSettings, lr: float | None = None) -> float:
    """The learning rate of optimiser step ``step`` (0-based): linear warmup from lr/W to lr over
    the first W = warmup x steps, then cosine to 0 or x0.1 at 60 % of the steps."""
    lr = settings.lr if lr is None else lr
    total = settings.steps
    warm = int(round(settings.warmup * total))
    if step < warm:
        return lr * (step + 1) / warm
    if settings.schedule == "step":
        return lr * (0.1 if step >= 0.6 * total else 1.0)
    t = (step - warm) / max(1, total - warm)
    return 0.5 * lr * (1 + math.cos(math.pi * t))


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


def build(method: str, num_classes: int, cfg: NetConfig, seed: int = 0):
    if method in TWO_VIEW:
        return ImprovedMMAL(
            num_classes,
            cfg,
            part_source="random" if method.endswith("random") else "appm",
            seed=seed,
        )
    if method == "mmal":
        return MMALNet(num_classes, cfg)
    if method == "resnet":
        return PlainResNet(num_classes, cfg)
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


@dataclass
class Trained:
    """A trained model (the weights of its best validation round) with its history per round
    (training loss, validation NLL and accuracy %), the best round, its learning rate and
    training seconds."""

    method: str
    model: torch.nn.Module
    history: dict
    seconds: float
    n_train_sets: int
    lr: float = 0.0
    best_round: int = 0


def _optimizer(params, settings: TrainSettings, lr: float):
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    return torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay)


def _loader(ds, batch_size: int, settings: TrainSettings, gen: torch.Generator):
    """Batches drawn with replacement, ``eval_every`` of them per round: the number of optimiser
    steps does not depend on the training-set size."""
    sampler = torch.utils.data.RandomSampler(
        ds, replacement=True, num_samples=settings.eval_every * batch_size, generator=gen
    )
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=0)


def val_scores(model, method: str, table: ImageTable, val: Sets, device) -> dict:
    """Validation NLL (mean over the validation sets) and accuracy (%), each method as it is
    meant to be used (ours on both photos, the baselines on the frontal photo)."""
    p = predict_proba(model, method, table, val, device)
    nll = float(-np.log(np.clip(p[np.arange(len(val)), val.labels], 1e-12, None)).mean())
    return {"val_nll": nll, "val_acc": accuracy(p.argmax(1), val.labels)}


def fit_method(
    method: str,
    table: ImageTable,
    train: Sets,
    val: Sets,
    cfg: NetConfig,
    settings: TrainSettings,
    device,
    seed: int = 0,
    lr: float | None = None,
    init: dict | None = None,
) -> Trained:
    """Train ``method`` for ``settings.steps`` optimiser steps on the training sets (the
    single-photo models on both photos of every set, the same images), score the validation sets
    after every round and keep the weights of the round with the lowest validation NLL
    (``core.training.KeepBest``). ``init``: backbone weights to start from (the pre-training
    substitute, ``pretrain_backbone``), required by ``improved_mmal_pretrained``. The test sets are
    not seen here."""
    if method == "improved_mmal_pretrained" and init is None:
        raise ValueError("improved_mmal_pretrained needs init= (weights from pretrain_backbone)")
    device = torch.device(device)
    lr = settings.lr if lr is None else float(lr)
    torch.manual_seed(seed)
    model = build(method, len(table.classes), cfg, seed)
    if init is not None:
        net = model.front_net if method in TWO_VIEW else model.net
        net.backbone.load_state_dict(init)
    gen = torch.Generator().manual_seed(seed)
    two_view = method in TWO_VIEW
    if two_view:
        ds, bs = SetDataset(table, train), settings.batch_size
    else:
        ds, bs = SingleDataset(table, train.images()), 2 * settings.batch_size
    loader = _loader(ds, bs, settings, gen)
    aug = (lambda x: augment(x, gen)) if settings.augment else (lambda x: x)
    opt = _optimizer(model.parameters(), settings, lr)
    step = [0]

    def loss_fn(m, batch):
        for g in opt.param_groups:  # the schedule, per optimiser step
            g["lr"] = lr_at(step[0], settings, lr)
        step[0] += 1
        if two_view:
            front, side, y = batch
            front, side, y = aug(front).to(device), aug(side).to(device), y.to(device)
            out = m(front, side, parts=method != "improved_mmal_noparts")
            return improved_mmal_loss(out, y)
        x, y = batch
        x, y = aug(x).to(device), y.to(device)
        return mmal_loss(m(x), y)

    keep = KeepBest(model, "val_nll", mode="min")
    t0 = time.perf_counter()
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(num_epochs=settings.rounds, clip_grad_norm=5.0, desc=method),
        device,
        evaluate=lambda m: val_scores(m, method, table, val, device),
        on_epoch_end=keep,
    )
    keep.restore()
    seconds = time.perf_counter() - t0
    return Trained(method, model.eval(), hist, seconds, len(train), lr, int(keep.best_epoch))


def pretrain_backbone(
    table: ImageTable, cfg: NetConfig, settings: TrainSettings, device, seed: int = 0, lr=None
) -> tuple[dict, dict]:
    """The pre-training substitute for ImageNet weights: a plain ResNet classifier trained on every
    photo of ``table`` (other classes than the test models) for ``settings.pretrain_steps`` steps
    (batches of 2 x batch_size photos, warmup + cosine), no selection on any split. Returns the
    backbone's state dict (for ``fit_method(init=...)``) and the loss history."""
    if settings.pretrain_steps < 1:
        raise ValueError("pretrain_steps must be >= 1")
    device = torch.device(device)
    lr = settings.lr if lr is None else float(lr)
    every = max(1, settings.pretrain_steps // 10)  # 10 logged rounds
    pre = replace(settings, steps=10 * every, eval_every=every)
    torch.manual_seed(seed)
    model = PlainResNet(len(table.classes), cfg)
    gen = torch.Generator().manual_seed(seed + 10_000)
    ds = SingleDataset(table, np.arange(len(table)))
    loader = _loader(ds, 4 * settings.batch_size, pre, gen)
    opt = _optimizer(model.parameters(), pre, lr)
    step = [0]

    def loss_fn(m, batch):
        for g in opt.param_groups:
            g["lr"] = lr_at(step[0], pre, lr)
        step[0] += 1
        x, y = batch
        x, y = augment(x, gen).to(device), y.to(device)
        return F.cross_entropy(m(x)["raw"], y)

    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(num_epochs=pre.rounds, clip_grad_norm=5.0, desc="pre-train"),
        device,
    )
    return {k: v.detach().clone() for k, v in model.net.backbone.state_dict().items()}, hist


def plateaued(history: dict, key: str = "val_nll", tail: float = 0.25, tol: float = 0.02) -> bool:
    """True when the last ``tail`` of the rounds did not lower ``key`` (a loss) by more than ``tol``
    below its best before them: the curve has flattened before the budget ends."""
    v = np.asarray(history[key], float)
    k = max(1, int(round(tail * len(v))))
    if len(v) <= k:
        return False
    return bool(v[-k:].min() >= v[:-k].min() - tol)


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
    entries: dict, table: ImageTable, test: Sets, heavy, device
) -> tuple["pandas.DataFrame", dict, dict]:  # noqa: F821
    """Score the test sets once: ``entries`` {row name: (Trained, views)} with ``views`` as in
    ``predict_proba`` ("auto": ours on both photos, a baseline on the frontal photo; "both": a
    baseline's late fusion of both photos). Returns the table (accuracy %, % of light-duty sets
    recognised as heavy-duty and vice versa), the confusion matrices (counts) and the per-set
    correctness {row name: bool array}."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    heavy = np.asarray(heavy)
    n_light, n_heavy = int((heavy[test.labels] == 0).sum()), int((heavy[test.labels] == 1).sum())
    rows, cms, correct = {}, {}, {}
    K = len(table.classes)
    for name, (run, views) in entries.items():
        pred = predict(run.model, run.method, table, test, device, views)
        cms[name] = confusion_matrix(test.labels, pred, labels=list(range(K)))
        correct[name] = pred == test.labels
        rows[name] = {
            "acc %": accuracy(pred, test.labels),
            "light as heavy %": 100.0 * light_as_heavy(test.labels, pred, heavy) / max(n_light, 1),
            "heavy as light %": 100.0 * heavy_as_light(test.labels, pred, heavy) / max(n_heavy, 1),
            "lr": run.lr,
            "best round": run.best_round + 1,
            "train s": run.seconds,
        }
    return pd.DataFrame.from_dict(rows, orient="index"), cms, correct


def photo_items(sets: Sets, correct) -> np.ndarray:
    """Per-photo accuracy (%) over the test sets whose frontal photo it is (sorted by photo index):
    the test items of the claims' bootstrap, one per held-out photo."""
    correct = np.asarray(correct, float)
    photos = np.unique(sets.pairs[:, 0])
    return np.array([100.0 * correct[sets.pairs[:, 0] == a].mean() for a in photos])


def few_shot(
    method: str,
    n_sets: list[int],
    table: ImageTable,
    train: Sets,
    val: Sets,
    cfg: NetConfig,
    settings: TrainSettings,
    device,
    seed: int = 0,
    lr: float | None = None,
    init: dict | None = None,
    done: dict | None = None,
) -> dict:
    """Figure 6: ``method`` trained on the first n sets of every class, for each n, with the same
    step budget and validation sets; ``done`` ({n: Trained}) reuses runs already trained.
    Returns {n: Trained}."""
    out = dict(done or {})
    for n in n_sets:
        if n not in out:
            out[n] = fit_method(
                method, table, train.per_class(n), val, cfg, settings, device, seed, lr, init
            )
    return out
