"""Training and evaluation of HMHN and its baselines (Section 4.2), metrics (Eq. 12-13)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from ..core.training import TrainConfig, fit
from .data import BDI_MAX
from .hmhn import HMHN, HMHNConfig, partition_loss


def mae(pred, target) -> float:
    """Eq. 12: mean absolute error over the M videos."""
    pred, target = _pair(pred, target)
    return float(np.mean(np.abs(pred - target)))


def rmse(pred, target) -> float:
    """Eq. 13: root mean squared error over the M videos."""
    pred, target = _pair(pred, target)
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def _pair(pred, target):
    pred = np.asarray(pred, dtype=np.float64).ravel()
    target = np.asarray(target, dtype=np.float64).ravel()
    if pred.shape != target.shape or pred.size == 0:
        raise ValueError(
            f"need as many predictions as labels (> 0), got {pred.shape} and {target.shape}"
        )
    return pred, target


def video_scores(frame_pred, video_ids, frame_bdi):
    """Aggregate frame predictions per video (mean), as the paper scores one BDI-II per video.

    Returns (predicted, true) BDI-II per video, ordered by video id.
    """
    frame_pred, video_ids, frame_bdi = map(np.asarray, (frame_pred, video_ids, frame_bdi))
    ids = np.unique(video_ids)
    pred = np.array([frame_pred[video_ids == v].mean() for v in ids])
    true = np.array([frame_bdi[video_ids == v][0] for v in ids])
    return pred, true


@dataclass(frozen=True)
class TrainSettings:
    """Section 4.2: AdamW, initial lr 1e-3, batch 64, dropout 0.2 (in HMHNConfig); L_sum = L_mse +
    att_weight * L_att (Eq. 10 has weight 1; ours is chosen on the development subjects by
    ``neurovis.depression.tuning``, since our L_mse is on BDI-II / 63, see ``hmhn_loss``).

    With a development partition, the returned model is the epoch of lowest development MAE
    (``core.training.KeepBest``), and ``patience`` (epochs without improvement) stops training
    early; ``num_epochs`` is then the ceiling.
    """

    num_epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-2
    att_weight: float = 0.01
    patience: int | None = None
    seed: int = 0
    progress: bool = True

    def __post_init__(self):
        if self.att_weight < 0:
            raise ValueError(f"att_weight must be >= 0, got {self.att_weight}")


def make_loader(frames, bdi, batch_size: int, seed: int, shuffle: bool = True) -> DataLoader:
    """A seeded, single-process DataLoader over (frame, BDI-II / 63) pairs."""
    x = torch.as_tensor(np.asarray(frames, dtype=np.float32))
    y = torch.as_tensor(np.asarray(bdi, dtype=np.float32)) / BDI_MAX
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=gen,
        num_workers=0,
        drop_last=False,
    )


def hmhn_loss(model, batch, att_weight: float = 0.01, flip: bool = True):
    """Eq. 10: L_sum = L_mse + att_weight * L_att, with L_mse on the normalised score BDI-II / 63
    (the model predicts it). On raw scores (points squared, 46-400 here) the partition term, a few
    units, would be a rounding error and could not move the heads; on the normalised scale it is
    the same order, and ``att_weight`` (chosen on the development subjects) sets its share.

    ``flip``: mirror a random half of the batch (the cues are left-right symmetric) and move every
    frame by a random shift of up to 2 pixels. The partition loss sees the heads' spatial maps.
    Logs ``mse`` (normalised), ``att`` and ``att_share`` (the weighted L_att's share of L_sum).
    """
    x, y = batch
    if flip:
        mirror = torch.rand(len(x)) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        theta = torch.zeros(len(x), 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = (torch.rand(len(x), 2) * 2 - 1) * (2 * 2 / x.shape[-1])
        x = F.grid_sample(
            x,
            F.affine_grid(theta, list(x.shape), align_corners=False),
            padding_mode="border",
            align_corners=False,
        )
    x, y = x.to(next(model.parameters()).device), y.to(next(model.parameters()).device)
    out = model(x, return_attention=True)
    l_mse = F.mse_loss(out["pred"], y)
    l_att = (
        partition_loss(out["maps"].flatten(2)) if out["maps"] is not None else l_mse.new_zeros(())
    )
    total = l_mse + att_weight * l_att
    share = float(att_weight * l_att.detach() / total.detach().clamp_min(1e-12))
    return total, {"mse": l_mse.item(), "att": float(l_att.detach()), "att_share": share}


@torch.no_grad()
def predict(model, frames, batch_size: int = 256, device=None, return_attention: bool = False):
    """BDI-II predictions (N,) for frames (N, C, H, W); with ``return_attention`` also the per-head
    spatial maps (N, k, H', W') (None for a model without heads)."""
    model.eval()
    device = device or next(model.parameters()).device
    preds, maps = [], []
    x_all = torch.as_tensor(np.asarray(frames, dtype=np.float32))
    for i in range(0, len(x_all), batch_size):
        out = model(x_all[i : i + batch_size].to(device), return_attention=True)
        preds.append(out["pred"].cpu())
        if out["maps"] is not None:
            maps.append(out["maps"].cpu())
    pred = (torch.cat(preds).numpy() * BDI_MAX).clip(0, BDI_MAX)
    if return_attention:
        return pred, (torch.cat(maps).numpy() if maps else None)
    return pred


def evaluate_videos(model, part) -> dict:
    """Video-level MAE / RMSE of ``model`` on a partition (``FaceVideos``)."""
    p, t = video_scores(predict(model, part.frames), part.video, part.bdi)
    return {"mae": mae(p, t), "rmse": rmse(p, t)}


def train_hmhn(
    config: HMHNConfig,
    train,
    dev=None,
    settings: TrainSettings = TrainSettings(),
    device="cpu",
    desc: str = "HMHN",
):
    """Train HMHN (or an ablation) end to end from scratch with ``neurovis.core.fit``.

    train / dev: ``FaceVideos`` partitions. Returns (model, history) with the development
    partition's video MAE / RMSE per epoch in the history when ``dev`` is given; the model is then
    the best development epoch's (``history["best_epoch"]``, 1-based).
    """
    from ..core.training import KeepBest

    torch.manual_seed(settings.seed)
    model = HMHN(config)
    loader = make_loader(train.frames, train.bdi, settings.batch_size, settings.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.num_epochs)
    evaluate = (
        (lambda m: {f"dev_{k}": v for k, v in evaluate_videos(m, dev).items()})
        if dev is not None
        else None
    )
    keep = KeepBest(model, "dev_mae", "min", settings.patience) if dev is not None else None
    history = fit(
        model,
        lambda m, b: hmhn_loss(m, b, settings.att_weight),
        loader,
        opt,
        TrainConfig(num_epochs=settings.num_epochs, progress=settings.progress, desc=desc),
        device,
        scheduler=sched,
        evaluate=evaluate,
        on_epoch_end=keep,
    )
    if keep is not None:
        keep.restore()
        history["best_epoch"] = keep.best_epoch + 1
    model.eval()
    return model, history


@dataclass
class Trained:
    """A trained variant: the model, its training history, seconds it took, and its test videos."""

    model: torch.nn.Module
    history: dict
    seconds: float
    pred: np.ndarray  # predicted BDI-II per test video
    true: np.ndarray  # true BDI-II per test video

    @property
    def mae(self) -> float:
        return mae(self.pred, self.true)

    @property
    def rmse(self) -> float:
        return rmse(self.pred, self.true)


def train_and_test(
    configs: dict, parts: dict, settings: TrainSettings = TrainSettings(), device="cpu"
) -> dict:
    """Train every {name: HMHNConfig} on parts["train"] (monitoring parts["dev"]) with the same
    seed and settings, and score it on the test videos. Returns {name: Trained}."""
    from ..core.timing import Stopwatch

    out = {}
    for name, cfg in configs.items():
        with Stopwatch() as sw:
            model, history = train_hmhn(
                cfg, parts["train"], parts.get("dev"), settings, device, desc=name
            )
        pred, true = video_scores(
            predict(model, parts["test"].frames), parts["test"].video, parts["test"].bdi
        )
        out[name] = Trained(model, history, sw.seconds, pred, true)
    return out


def metrics_table(trained: dict, decimals: int = 1):
    """A pandas table: test MAE / RMSE (Eq. 12-13) per variant, rounded."""
    import pandas as pd

    return pd.DataFrame(
        {"MAE": [t.mae for t in trained.values()], "RMSE": [t.rmse for t in trained.values()]},
        index=list(trained),
    ).round(decimals)
