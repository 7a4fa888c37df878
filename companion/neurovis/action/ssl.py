"""The method: unimodal (Section 3.3, Figure 3) and multimodal (Section 3.4, Figure 4, Algorithm 1)
contrastive self-supervised pre-training, then fine-tuning of a fusion classifier on frozen
encoders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..core.training import TrainConfig, fit
from .augment import IMUAugment, SkeletonAugment
from .encoders import FusionClassifier, IMUEncoder, SkeletonEncoder, projection_head
from .losses import cross_correlation_loss, vicreg_loss

MODALITIES = ("skeleton", "imu")


@dataclass(frozen=True)
class ActionConfig:
    """Sizes and training settings. ``paper()`` is Table 1 (UTD-MHAD) and Section 4.2; ``small()`` a
    CPU-sized version of the same protocol (narrower encoders, fewer epochs)."""

    num_steps: int = 50  # every sequence resampled to 50 steps (Section 4.2)
    # channel multiplier of the HCN encoder (1 = 64/32/32/64/128/256)
    skeleton_width: float = 1.0
    imu_width: float = 1.0  # channel multiplier of the IMU encoder (1 = 32/64/128)
    imu_layers: int = 2  # Transformer layers of the IMU encoder (N x in Figure 1)
    proj_hidden: int = 256  # projection head g: hidden and output sizes
    proj_dim: int = 256
    # fine-tuning fusion layers map each modality to 256 (Section 4.2)
    fusion_dim: int = 256
    epochs_unimodal: int = 100  # Table 1
    lr_unimodal: float = 1e-2
    batch_unimodal: int = 128
    epochs_multimodal: int = 200
    lr_multimodal: float = 1e-3
    batch_multimodal: int = 256
    epochs_finetune: int = 100  # Section 4.2: 100 fine-tuning epochs
    lr_finetune: float = 1e-3
    batch_finetune: int = 64
    epochs_supervised: int = 100
    lr_supervised: float = 1e-3
    batch_supervised: int = 64
    lam: float = 25.0  # Eq. 16: invariance weight lambda
    mu: float = 25.0  # Eq. 16: variance weight mu  (lambda = mu > 1, Section 3.4)
    nu: float = 1.0  # Eq. 16: covariance weight (phi = 1)
    branch_reduction: str = "sum"  # Eq. 16 adds the two branches' variance terms
    beta: float = 5e-3  # Eq. 6: weight of the off-diagonal term
    # learning rates of the multimodal baselines (None: lr_multimodal), tuned like ours
    lr_barlow: float | None = None
    lr_cmc: float | None = None
    augment_strength: float = 1.0
    # learning-rate schedule of every training run: "cosine" (annealed to 0 over the run, per
    # epoch) or "constant" (the paper names none)
    schedule: str = "cosine"
    progress: bool = True

    @classmethod
    def paper(cls, dataset: str = "utd-mhad") -> "ActionConfig":
        if dataset == "utd-mhad":
            return cls()
        if dataset == "mmact":  # Table 1, MMAct columns
            return cls(
                lr_unimodal=1e-3, batch_unimodal=96, lr_multimodal=1e-4, batch_multimodal=128
            )
        raise ValueError(f"dataset must be 'utd-mhad' or 'mmact', got {dataset!r}")

    @classmethod
    def reference(cls, tuned: dict | None = None) -> "ActionConfig":
        """The reference run: the paper's protocol on the complete UTD-MHAD, at the width and
        epochs that 5 seeds of every Table 2 row afford on one CPU thread in 45 minutes (the
        paper's full-width encoders cost 8x more per step), then ``tuned`` (the values chosen on
        the validation subject by ``action.tuning``) applied on top."""
        cfg = cls(
            skeleton_width=0.25,
            imu_width=0.25,
            imu_layers=1,
            proj_hidden=256,
            proj_dim=256,
            fusion_dim=128,
            epochs_unimodal=40,
            lr_unimodal=3e-3,
            batch_unimodal=128,
            epochs_multimodal=40,
            lr_multimodal=3e-3,
            batch_multimodal=128,
            epochs_finetune=60,
            lr_finetune=3e-3,
            batch_finetune=64,
            epochs_supervised=40,
            lr_supervised=3e-3,
            batch_supervised=64,
        )
        return cfg.with_(**(tuned or {}))

    @classmethod
    def small(cls) -> "ActionConfig":
        return cls(
            skeleton_width=0.25,
            imu_width=0.25,
            imu_layers=1,
            proj_hidden=128,
            proj_dim=128,
            fusion_dim=64,
            epochs_unimodal=8,
            lr_unimodal=3e-3,
            batch_unimodal=64,
            epochs_multimodal=12,
            lr_multimodal=3e-3,
            batch_multimodal=64,
            epochs_finetune=60,
            lr_finetune=3e-3,
            batch_finetune=64,
            epochs_supervised=12,
            lr_supervised=3e-3,
            batch_supervised=32,
        )

    def with_(self, **kw) -> "ActionConfig":
        return replace(self, **kw)

    def optimizer(self, params, lr: float, epochs: int):
        """Adam (Table 1) and the configured schedule: (optimizer, scheduler or None)."""
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        opt = torch.optim.Adam(params, lr=lr)
        if self.schedule == "constant":
            return opt, None
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))


def build_encoder(
    modality: str, cfg: ActionConfig, in_channels: int, num_joints: int = 20
) -> nn.Module:
    """f_theta_s (HCN, Figure 2) or f_theta_i (conv + Transformer, Figure 1) at the configured
    width."""
    if modality == "skeleton":
        return SkeletonEncoder(in_channels, num_joints, width=cfg.skeleton_width)
    if modality == "imu":
        return IMUEncoder(in_channels, width=cfg.imu_width, num_layers=cfg.imu_layers)
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")


class SSLModel(nn.Module):
    """Encoders f and projection heads g for the pre-training stage (Figures 3A and 4A)."""

    def __init__(self, encoders: dict, proj_hidden: int, proj_dim: int):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.projectors = nn.ModuleDict(
            {m: projection_head(e.out_dim, proj_hidden, proj_dim) for m, e in encoders.items()}
        )

    def embed(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """z = g(f(x)) (Eq. 1-4, 9-10)."""
        return self.projectors[modality](self.encoders[modality](x))


def make_loader(*tensors, batch_size: int, seed: int, shuffle: bool = True):
    """Seeded single-process DataLoader; drops a last batch of one (batch norm needs two)."""
    from torch.utils.data import DataLoader, TensorDataset

    n = len(tensors[0])
    bs = max(2, min(batch_size, n))
    return DataLoader(
        TensorDataset(*tensors),
        batch_size=bs,
        shuffle=shuffle,
        num_workers=0,
        drop_last=(n % bs == 1),
        generator=torch.Generator().manual_seed(seed),
    )


def _inputs(batch, device):
    skel, imu = batch[0].to(device), batch[1].to(device)
    return {"skeleton": skel, "imu": imu}


def _augmenters(cfg: ActionConfig, seed: int):
    gen = torch.Generator().manual_seed(seed + 1)
    aug = {
        "skeleton": SkeletonAugment(cfg.augment_strength),
        "imu": IMUAugment(cfg.augment_strength),
    }
    return (lambda m, x: aug[m](x.cpu(), gen)), gen


def new_ssl_model(
    modalities, cfg: ActionConfig, in_channels: dict, num_joints: int, seed: int
) -> SSLModel:
    torch.manual_seed(seed)
    encoders = {m: build_encoder(m, cfg, in_channels[m], num_joints) for m in modalities}
    return SSLModel(encoders, cfg.proj_hidden, cfg.proj_dim)


def pretrain_unimodal(
    modality: str,
    skeleton: torch.Tensor,
    imu: torch.Tensor,
    cfg: ActionConfig,
    device,
    seed: int = 0,
    loss: Callable | None = None,
    desc: str = "pretrain",
):
    """Figure 3A: two augmented views of one modality through the same f and g, loss L_c (Eq. 6).

    ``loss(z1, z2)`` defaults to the cross-correlation loss of Eq. 5-6; baselines pass theirs.
    Returns (SSLModel, history).
    """
    loss = loss or partial(cross_correlation_loss, beta=cfg.beta)
    model = new_ssl_model(
        [modality],
        cfg,
        {"skeleton": skeleton.shape[1], "imu": imu.shape[2]},
        skeleton.shape[3],
        seed,
    )
    augment, _ = _augmenters(cfg, seed)
    dev = torch.device(device)

    def loss_fn(model, batch):
        x = batch[0] if modality == "skeleton" else batch[1]
        v1, v2 = augment(modality, x).to(dev), augment(modality, x).to(dev)
        return loss(model.embed(modality, v1), model.embed(modality, v2))

    loader = make_loader(skeleton, imu, batch_size=cfg.batch_unimodal, seed=seed)
    opt, sched = cfg.optimizer(model.parameters(), cfg.lr_unimodal, cfg.epochs_unimodal)
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(cfg.epochs_unimodal, progress=cfg.progress, desc=desc),
        dev,
        scheduler=sched,
    )
    return model, hist


def pretrain_multimodal(
    skeleton: torch.Tensor,
    imu: torch.Tensor,
    cfg: ActionConfig,
    device,
    seed: int = 0,
    loss: Callable | None = None,
    desc: str = "pretrain",
):
    """Algorithm 1 / Figure 4A: x^s and x^i of the same recording, augmented (Eq. 7-8), encoded by
    their own f (Eq. 9-10) and g, and pulled together with the VICReg loss of Eq. 16.

    ``loss(zs, zi)`` -> loss or (loss, terms); defaults to ``vicreg_loss`` with cfg's weights.
    Returns (SSLModel, history); history carries the per-epoch VICReg terms for the default loss.
    """
    loss = loss or partial(
        vicreg_loss, lam=cfg.lam, mu=cfg.mu, nu=cfg.nu, branch_reduction=cfg.branch_reduction
    )
    model = new_ssl_model(
        MODALITIES,
        cfg,
        {"skeleton": skeleton.shape[1], "imu": imu.shape[2]},
        skeleton.shape[3],
        seed,
    )
    augment, _ = _augmenters(cfg, seed)
    dev = torch.device(device)

    def loss_fn(model, batch):
        zs = model.embed("skeleton", augment("skeleton", batch[0]).to(dev))
        zi = model.embed("imu", augment("imu", batch[1]).to(dev))
        return loss(zs, zi)

    loader = make_loader(skeleton, imu, batch_size=cfg.batch_multimodal, seed=seed)
    opt, sched = cfg.optimizer(model.parameters(), cfg.lr_multimodal, cfg.epochs_multimodal)
    hist = fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(cfg.epochs_multimodal, progress=cfg.progress, desc=desc),
        dev,
        scheduler=sched,
    )
    return model, hist


@torch.no_grad()
def recompute_batch_norm(encoder: nn.Module, x: torch.Tensor, device, batch_size: int = 128):
    """Re-estimate every batch-norm layer's running mean and variance from inputs ``x`` (no labels,
    no gradients, no weight change): the statistics a network uses at test time, here as the
    plain average over the batches of ``x`` (momentum None). Dropout stays off. Returns the
    encoder, in eval mode."""
    dev = torch.device(device)
    encoder.to(dev).eval()
    bns = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = the mean over batches
        m.train()
    n = len(x)
    bs = max(2, min(batch_size, n))
    for i in range(0, n - n % bs if n % bs == 1 else n, bs):  # no batch of one
        encoder(x[i : i + bs].to(dev))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return encoder.eval()


@torch.no_grad()
def extract_features(
    encoders, skeleton: torch.Tensor, imu: torch.Tensor, device, batch_size: int = 256
) -> dict:
    """Hidden features h = f(x) of the frozen encoders (Figures 3B, 4B), {modality: (N, D) CPU
    tensor}."""
    dev = torch.device(device)
    out = {}
    for m, enc in dict(encoders).items():
        enc.eval().to(dev)
        x = skeleton if m == "skeleton" else imu
        out[m] = torch.cat(
            [enc(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
        )
    return out


def scores(y_true, y_pred) -> dict:
    """Accuracy and macro F1, in %, as in Table 2 (scikit-learn)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "acc": 100.0 * accuracy_score(y_true, y_pred),
        "f1": 100.0 * f1_score(y_true, y_pred, average="macro", zero_division=0),
    }


def linear_eval(
    train_feats: dict,
    train_labels: torch.Tensor,
    test_feats: dict,
    test_labels: torch.Tensor,
    num_classes: int,
    cfg: ActionConfig,
    device,
    seed: int = 0,
    index=None,
    modalities=None,
    progress: bool = False,
) -> dict:
    """Fine-tuning on frozen features (Section 4.2-4.3.1): per-modality BN + ReLU fusion layers,
    concatenation, linear classifier, trained with cross-entropy; scored on the test split.

    index: optional subset of labelled training samples (semi-supervised, Section 4.3.2).
    Returns {"acc", "f1", "pred"} (pred: numpy test predictions).
    """
    modalities = list(modalities or train_feats)
    idx = torch.as_tensor(np.arange(len(train_labels)) if index is None else np.asarray(index))
    torch.manual_seed(seed)
    head = FusionClassifier(
        [train_feats[m].shape[1] for m in modalities], num_classes, cfg.fusion_dim
    )
    dev = torch.device(device)
    loader = make_loader(
        *[train_feats[m][idx] for m in modalities],
        train_labels[idx],
        batch_size=cfg.batch_finetune,
        seed=seed,
    )
    ce = nn.CrossEntropyLoss()

    def loss_fn(model, batch):
        *feats, y = [b.to(dev) for b in batch]
        return ce(model(*feats), y)

    opt, sched = cfg.optimizer(head.parameters(), cfg.lr_finetune, cfg.epochs_finetune)
    fit(
        head,
        loss_fn,
        loader,
        opt,
        TrainConfig(cfg.epochs_finetune, progress=progress, desc="fine-tune"),
        dev,
        scheduler=sched,
    )
    head.eval()
    with torch.no_grad():
        pred = head(*[test_feats[m].to(dev) for m in modalities]).argmax(1).cpu().numpy()
    return {**scores(test_labels.numpy(), pred), "pred": pred}
