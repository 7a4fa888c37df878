"""Training and evaluation as Section 3.2, on top of ``neurovis.core.training.fit``; the paper's
per-class metrics (precision, TPR and TNR, Eqs. 5-6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neurovis.core.training import TrainConfig, fit

from .data import make_loader
from .mffpnet import MFFPNet, deep_supervision_loss


@dataclass(frozen=True)
class TrainSettings:
    """How every network of the chapter is trained (MFFP-Net and the Table 5 baselines alike).

    ``cosine_period``: T_max (in epochs) of the cosine-annealing schedule (Section 3.2: 32).
    """

    num_epochs: int
    lr: float
    weight_decay: float = 0.05
    batch_size: int = 32
    image_size: int = 224
    cosine_period: int = 32
    clip_grad_norm: float | None = 5.0

    @classmethod
    def paper(cls) -> "TrainSettings":
        """Section 3.2: 224 crops of 256 maps, lr 1e-4, weight decay 0.05, batch 32, 100 epochs,
        cosine annealing with a period of 32 epochs."""
        return cls(
            num_epochs=100,
            lr=1e-4,
            weight_decay=0.05,
            batch_size=32,
            image_size=224,
            cosine_period=32,
        )

    @classmethod
    def small(cls, num_epochs: int = 6, image_size: int = 64, lr: float = 2e-3) -> "TrainSettings":
        """CPU-sized: smaller maps, a few epochs, a larger learning rate so that they suffice,
        one cosine half-period over the run."""
        return cls(
            num_epochs=num_epochs,
            lr=lr,
            weight_decay=0.05,
            batch_size=32,
            image_size=image_size,
            cosine_period=num_epochs,
        )


def accuracy(model, ds, device, batch_size: int = 256) -> float:
    y, p = predict(model, ds, device, batch_size)
    return float((y == p).mean())


@torch.no_grad()
def predict(model, ds, device, batch_size: int = 256):
    """(labels, predicted labels) of ``model`` (lead head for MFFP-Net) over dataset ``ds``."""
    model.eval()
    ys, ps = [], []
    for x, y in torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=0
    ):
        ps.append(model(x.to(device)).argmax(1).cpu())
        ys.append(y)
    return torch.cat(ys).numpy(), torch.cat(ps).numpy()


def train_classifier(
    model,
    train_ds,
    val_ds,
    settings: TrainSettings,
    device,
    seed: int = 0,
    aux_weights=None,
    desc: str = "train",
    checkpoint_path=None,
    progress: bool = True,
    log_epochs: bool = True,
    best_val: bool = True,
) -> dict:
    """Train ``model`` with AdamW + cosine annealing through ``core.training.fit``.

    MFFP-Net is trained with deep supervision (``deep_supervision_loss``; ``aux_weights`` overrides
    the model's A-D weights, e.g. for the Tables 1-3 ablations), any other network with plain
    cross-entropy. ``progress``: tqdm bars per step; ``log_epochs``: one printed line per epoch.
    ``best_val``: with a validation set, the model ends with the weights of its epoch of highest
    validation accuracy (the first such epoch on ties), not its last ("best_epoch", 1-based).
    Returns fit's history, with the validation accuracy per epoch ("val_acc").
    """
    import copy

    loader = make_loader(train_ds, settings.batch_size, shuffle=True, seed=seed)
    weights = None
    if isinstance(model, MFFPNet):
        weights = tuple(aux_weights if aux_weights is not None else model.config.aux_weights)

    def loss_fn(m, batch):
        x, y = (t.to(device) for t in batch)
        if weights is not None:
            lead, aux = m.forward_all(x)
            return deep_supervision_loss(lead, aux, y, weights)
        return F.cross_entropy(m(x), y)

    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.cosine_period)
    cfg = TrainConfig(
        num_epochs=settings.num_epochs,
        clip_grad_norm=settings.clip_grad_norm,
        checkpoint_path=checkpoint_path,
        progress=progress,
        desc=desc,
    )
    evaluate = (lambda m: {"val_acc": accuracy(m, val_ds, device)}) if val_ds is not None else None

    best = {"acc": -1.0, "epoch": None, "state": None}

    # one line per epoch: visible progress without per-step widget traffic
    def report(epoch, history):
        if best_val and "val_acc" in history and history["val_acc"][-1] > best["acc"]:
            best.update(
                acc=history["val_acc"][-1], epoch=epoch + 1, state=copy.deepcopy(model.state_dict())
            )
        if log_epochs:
            val = f", val acc {100 * history['val_acc'][-1]:.1f} %" if "val_acc" in history else ""
            print(
                f"{desc}: epoch {epoch + 1}/{settings.num_epochs}, "
                f"loss {history['loss'][-1]:.3f}{val}",
                flush=True,
            )

    history = fit(
        model,
        loss_fn,
        loader,
        opt,
        cfg,
        device,
        scheduler=sched,
        evaluate=evaluate,
        on_epoch_end=report,
    )
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        history["best_epoch"] = best["epoch"]
    return history


@torch.no_grad()
def head_logits(model, ds, device, batch_size: int = 256):
    """(labels, lead logits (N, K), [auxiliary logits A-D] or [] for a network without heads)."""
    model.eval()
    ys, leads, auxs = [], [], []
    for x, y in torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=0
    ):
        x = x.to(device)
        if isinstance(model, MFFPNet):
            lead, aux = model.forward_all(x)
            auxs.append([a.cpu() for a in aux])
        else:
            lead = model(x)
        leads.append(lead.cpu())
        ys.append(y)
    aux = [torch.cat([a[k] for a in auxs]) for k in range(len(auxs[0]))] if auxs else []
    return torch.cat(ys).numpy(), torch.cat(leads), aux


def per_class_metrics(y_true, y_pred, classes):
    """Per-class precision, TPR (Eq. 5) and TNR (Eq. 6), one-vs-rest, in percent (Table 6).

    TPR = TP / (TP + FN); TNR = TN / (TN + FP); precision = TP / (TP + FP) (0 when never predicted).
    Returns a DataFrame indexed by class with columns precision, TPR, TNR, support.
    """
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=range(len(classes)))
    tp = np.diag(cm).astype(float)
    fn = cm.sum(1) - tp
    fp = cm.sum(0) - tp
    tn = cm.sum() - tp - fn - fp
    div = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
    return pd.DataFrame(
        {
            "precision": 100 * div(tp, tp + fp),
            "TPR": 100 * div(tp, tp + fn),
            "TNR": 100 * div(tn, tn + fp),
            "support": cm.sum(1),
        },
        index=list(classes),
    )


def summary_metrics(y_true, y_pred) -> dict:
    """Accuracy and macro-F1 in percent."""
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "acc": 100 * float((y_true == y_pred).mean()),
        "macro_f1": 100 * float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


@torch.no_grad()
def predict_proba(model, maps, image_size: int, device) -> np.ndarray:
    """Class probabilities (N, classes) of ``model`` for raw wafer maps (evaluation transform)."""
    from .data import WaferSet, WaferTensorDataset

    ds = WaferTensorDataset(WaferSet(list(maps), np.zeros(len(maps), np.int64), ()), image_size)
    model.eval()
    x = torch.stack([ds[i][0] for i in range(len(ds))]).to(device)
    return torch.softmax(model(x), 1).cpu().numpy()


def noise_sweep(models: dict, ws, levels, image_size: int, device, seed: int = 0) -> dict:
    """Test accuracy (%) of each model ({name: model}) on ``ws`` with noise ``levels`` injected."""
    from .data import WaferTensorDataset

    out = {name: [] for name in models}
    for lv in levels:
        ds = WaferTensorDataset(ws.with_noise(lv, seed), image_size)
        for name, m in models.items():
            out[name].append(100 * accuracy(m, ds, device))
    return out
