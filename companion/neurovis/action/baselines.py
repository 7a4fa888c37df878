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
    modalities, cfg: ActionConfig, in_channels: dict, num_joints: int, seed: int = 0
) -> dict:
    """Untrained encoders with the same initialisation as the pre-trained ones (the control)."""
    torch.manual_seed(seed)
    return {m: build_encoder(m, cfg, in_channels[m], num_joints) for m in modalities}


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
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr_supervised)
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
