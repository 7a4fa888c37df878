"""Baselines of Table 2 on the same data and encoders: supervised (per modality and fused), SimCLR
and Barlow Twins per modality, Barlow Twins and CMC across modalities; plus a control the paper
does not have: the same linear evaluation on randomly initialised, untrained encoders.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import nn

from ..core.training import TrainConfig, fit
from .encoders import SupervisedModel
from .losses import barlow_twins_loss, cmc_loss, nt_xent_loss
from .ssl import (
    ActionConfig,
    _augmenters,
    build_encoder,
    make_loader,
    pretrain_multimodal,
    recompute_batch_norm,
    pretrain_unimodal,
    scores,
)

UNIMODAL_BASELINES = {"simclr": partial(nt_xent_loss, temperature=0.5), "barlow": barlow_twins_loss}
MULTIMODAL_BASELINES = {"barlow": barlow_twins_loss, "cmc": partial(cmc_loss, temperature=0.1)}


def pretrain_baseline(
    method: str, modalities, skeleton, imu, cfg: ActionConfig, device, seed: int = 0
):
    """Pre-train a baseline: ``simclr``/``barlow`` on one modality, ``barlow``/``cmc`` on both."""
    modalities = list(modalities)
    if len(modalities) == 1:
        if method not in UNIMODAL_BASELINES:
            raise ValueError(f"unimodal baselines are {list(UNIMODAL_BASELINES)}, got {method!r}")
        return pretrain_unimodal(
            modalities[0],
            skeleton,
            imu,
            cfg,
            device,
            seed,
            loss=UNIMODAL_BASELINES[method],
            desc=f"{method} {modalities[0]}",
        )
    if method not in MULTIMODAL_BASELINES:
        raise ValueError(f"multimodal baselines are {list(MULTIMODAL_BASELINES)}, got {method!r}")
    lr = {"barlow": cfg.lr_barlow, "cmc": cfg.lr_cmc}[method]
    if lr is not None:
        cfg = cfg.with_(lr_multimodal=lr)
    return pretrain_multimodal(
        skeleton,
        imu,
        cfg,
        device,
        seed,
        loss=MULTIMODAL_BASELINES[method],
        desc=f"{method} skeleton+imu",
    )


def random_encoders(
    modalities,
    cfg: ActionConfig,
    skeleton: torch.Tensor,
    imu: torch.Tensor,
    device="cpu",
    seed: int = 0,
) -> dict:
    """The control: untrained encoders with the same initialisation as the pre-trained ones, whose
    batch-norm statistics are re-estimated on the unlabelled training inputs ``skeleton``/``imu``
    (no labels, no gradients). Without that step batch norm keeps its initial statistics (mean 0,
    variance 1), which squashes the features to a near-constant vector."""
    torch.manual_seed(seed)
    enc = {
        m: build_encoder(m, cfg, x.shape[1] if m == "skeleton" else x.shape[2], skeleton.shape[3])
        for m, x in (("skeleton", skeleton), ("imu", imu))
        if m in modalities
    }
    for m, e in enc.items():
        recompute_batch_norm(e, skeleton if m == "skeleton" else imu, device, cfg.batch_multimodal)
    return enc


def train_supervised(
    modalities,
    train: tuple,
    test: tuple,
    num_classes: int,
    cfg: ActionConfig,
    device,
    seed: int = 0,
    index=None,
    augment: bool = True,
    progress: bool | None = None,
):
    """Encoders + fusion classifier trained end to end with cross-entropy from random weights.

    train/test: (skeleton, imu, labels) tensors; index: optional labelled subset of train.
    Returns (model, {"acc", "f1", "pred"}) on the test split.
    """
    modalities = list(modalities)
    skel, imu, y = train
    if index is not None:
        idx = torch.as_tensor(np.asarray(index))
        skel, imu, y = skel[idx], imu[idx], y[idx]
    torch.manual_seed(seed)
    in_ch = {"skeleton": skel.shape[1], "imu": imu.shape[2]}
    model = SupervisedModel(
        {m: build_encoder(m, cfg, in_ch[m], skel.shape[3]) for m in modalities},
        num_classes,
        cfg.fusion_dim,
    )
    aug, _ = _augmenters(cfg, seed)
    dev = torch.device(device)
    ce = nn.CrossEntropyLoss()

    def loss_fn(model, batch):
        inputs = {"skeleton": batch[0], "imu": batch[1]}
        if augment:
            inputs = {m: aug(m, inputs[m]) for m in modalities}
        return ce(model({m: inputs[m].to(dev) for m in modalities}), batch[2].to(dev))

    loader = make_loader(skel, imu, y, batch_size=cfg.batch_supervised, seed=seed)
    opt, sched = cfg.optimizer(model.parameters(), cfg.lr_supervised, cfg.epochs_supervised)
    show = cfg.progress if progress is None else progress
    fit(
        model,
        loss_fn,
        loader,
        opt,
        TrainConfig(
            cfg.epochs_supervised, progress=show, desc=f"supervised {'+'.join(modalities)}"
        ),
        dev,
        scheduler=sched,
    )
    model.eval()
    ts, ti, ty = test
    with torch.no_grad():
        pred = torch.cat(
            [
                model({"skeleton": ts[i : i + 256].to(dev), "imu": ti[i : i + 256].to(dev)})
                .argmax(1)
                .cpu()
                for i in range(0, len(ty), 256)
            ]
        ).numpy()
    return model, {**scores(ty.numpy(), pred), "pred": pred}
