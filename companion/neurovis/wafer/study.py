"""One seed of the chapter's comparison: MFFP-Net, ResNet-18, MFFP-Net without deep supervision
and the auxiliary-weight ablations (Tables 1-3), trained on the same frozen generated maps and
evaluated on the same test maps, clean and with injected noise.

The maps, their split and the injected noise are fixed (data seed); the seed changes the networks'
initialisation, the order of the batches and the random crops and flips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .baselines import make_baseline
from .data import WaferTensorDataset
from .mffpnet import PAPER_AUX_WEIGHTS, MFFPNet, MFFPNetConfig, fused_proba
from .train import TrainSettings, head_logits, train_classifier

#: Ablation rows: Table 1 (one auxiliary classifier at a time, then all four equal) and a reduced
#: Tables 2-3 grid (D at 0 and 0.3 with B = 1; B at 1.4 is the paper's row, trained anyway).
ABLATIONS = {
    "A only (1, 0, 0, 0)": (1.0, 0.0, 0.0, 0.0),
    "B only (0, 1, 0, 0)": (0.0, 1.0, 0.0, 0.0),
    "C only (0, 0, 1, 0)": (0.0, 0.0, 1.0, 0.0),
    "D only (0, 0, 0, 1)": (0.0, 0.0, 0.0, 1.0),
    "equal (1, 1, 1, 1)": (1.0, 1.0, 1.0, 1.0),
    "D = 0.3 (1, 1, 1, 0.3)": (1.0, 1.0, 1.0, 0.3),
    "D = 0 (1, 1, 1, 0)": (1.0, 1.0, 1.0, 0.0),
}
#: The paper's accuracy for each ablation row (Tables 1-3), for the chapter's table.
PAPER_ABLATIONS = {
    "A only (1, 0, 0, 0)": 84.58,
    "B only (0, 1, 0, 0)": 92.21,
    "C only (0, 0, 1, 0)": 88.02,
    "D only (0, 0, 0, 1)": 79.60,
    "equal (1, 1, 1, 1)": 94.56,
    "D = 0.3 (1, 1, 1, 0.3)": 95.73,
    "D = 0 (1, 1, 1, 0)": 95.07,
}


@dataclass(frozen=True)
class StudyConfig:
    """What one seed trains and how it is evaluated.

    ``noise_within``/``noise_beyond``: injected levels inside / beyond the training maps'
    background noise range; ``ablations``: rows of ``ABLATIONS`` to train, on ``ablation_seeds``.
    """

    settings: TrainSettings
    width: float = 0.25  # MFFP-Net and ResNet-18 channel multiplier
    noise_within: tuple = (0.05, 0.1)
    noise_beyond: tuple = (0.15, 0.2, 0.25)
    noise_seed: int = 12345  # the injected noise field, the same for every model and seed
    ablations: tuple = tuple(ABLATIONS)
    ablation_seeds: tuple = (0,)
    progress: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def noise_levels(self) -> tuple:
        return (0.0, *self.noise_within, *self.noise_beyond)


def _correct(labels, logits_or_proba) -> np.ndarray:
    return (np.asarray(logits_or_proba.argmax(1)) == labels).astype(float)


def run_seed(seed: int, train_set, val_set, test_set, cfg: StudyConfig, device) -> dict:
    """Train and evaluate every network of one seed. Returns ``{"metrics": {name: value},
    "items": {name: per-test-item values}, "noise_correct": {model: {level: 0/1 per item}},
    "models": {...}, "histories": {...}, "train_seconds": {...}}``."""
    k = len(train_set.classes)
    s = cfg.settings
    train_ds = WaferTensorDataset(train_set, s.image_size, train=True)
    val_ds = WaferTensorDataset(val_set, s.image_size)
    test_dss = {
        lv: WaferTensorDataset(
            test_set.with_noise(lv, cfg.noise_seed) if lv else test_set, s.image_size
        )
        for lv in cfg.noise_levels
    }
    y = test_set.labels

    def train(name, make, aux_weights=None):
        torch.manual_seed(seed)
        net = make()
        t0 = time.perf_counter()
        hist = train_classifier(
            net,
            train_ds,
            val_ds,
            s,
            device,
            seed=seed,
            aux_weights=aux_weights,
            desc=f"seed {seed}, {name}",
            progress=cfg.progress,
            log_epochs=False,
        )
        dt = time.perf_counter() - t0
        print(
            f"seed {seed}, {name}: best val acc {100 * max(hist['val_acc']):.1f} % at epoch "
            f"{hist.get('best_epoch')}/{s.num_epochs}, {dt:.0f} s",
            flush=True,
        )
        return net, hist, dt

    mffp = lambda: MFFPNet(MFFPNetConfig(num_classes=k, width=cfg.width))  # noqa: E731
    models, histories, seconds = {}, {}, {}
    for name, make, w in (
        ("MFFP-Net", mffp, PAPER_AUX_WEIGHTS),
        ("ResNet-18", lambda: make_baseline("resnet18", k, width=cfg.width), None),
        ("MFFP-Net, lead only", mffp, (0.0, 0.0, 0.0, 0.0)),
    ):
        models[name], histories[name], seconds[name] = train(name, make, w)

    metrics, items, noise_correct = {}, {}, {}
    # clean test maps: the lead heads, every auxiliary head, decision-level fusion
    _, lead, aux = head_logits(models["MFFP-Net"], test_dss[0.0], device)
    items["mffp_correct"] = _correct(y, lead)
    items["fusion_correct"] = _correct(y, fused_proba(lead, aux, PAPER_AUX_WEIGHTS))
    items["resnet_correct"] = _correct(
        y, head_logits(models["ResNet-18"], test_dss[0.0], device)[1]
    )
    items["lead_only_correct"] = _correct(
        y, head_logits(models["MFFP-Net, lead only"], test_dss[0.0], device)[1]
    )
    metrics["acc_mffpnet"] = 100 * items["mffp_correct"].mean()
    metrics["acc_resnet18"] = 100 * items["resnet_correct"].mean()
    metrics["acc_fusion"] = 100 * items["fusion_correct"].mean()
    metrics["acc_aux_none"] = 100 * items["lead_only_correct"].mean()
    metrics["acc_aux_paper"] = metrics["acc_mffpnet"]
    for h, a in zip("ABCD", aux):
        metrics[f"acc_head_{h}"] = 100 * _correct(y, a).mean()

    # injected noise: the same noisy maps for both networks
    for name, key in (("MFFP-Net", "mffpnet"), ("ResNet-18", "resnet18")):
        noise_correct[name] = {}
        for lv, ds in test_dss.items():
            c = _correct(y, head_logits(models[name], ds, device)[1])
            noise_correct[name][lv] = c
            metrics[f"acc_{key}_noise_{lv:g}"] = 100 * c.mean()
        short = "mffp" if key == "mffpnet" else "resnet"
        for part, levels in (("within", cfg.noise_within), ("beyond", cfg.noise_beyond)):
            change = (
                np.mean([noise_correct[name][lv] for lv in levels], 0) - noise_correct[name][0.0]
            )
            items[f"{short}_noise_change_{part}"] = change
            metrics[f"acc_change_{key}_noise_{part}"] = 100 * change.mean()

    # ablations (Tables 1-3) on the ablation seeds
    if seed in cfg.ablation_seeds:
        for row in cfg.ablations:
            net, _, seconds[row] = train(row, mffp, ABLATIONS[row])
            _, lead_r, aux_r = head_logits(net, test_dss[0.0], device)
            metrics[f"acc_ablation {row}"] = 100 * _correct(y, lead_r).mean()
            metrics[f"acc_ablation_fusion {row}"] = (
                100 * _correct(y, fused_proba(lead_r, aux_r, ABLATIONS[row])).mean()
            )
    for name, h in histories.items():
        metrics[f"best_epoch {name}"] = float(h.get("best_epoch", s.num_epochs))
    return {
        "metrics": metrics,
        "items": items,
        "noise_correct": noise_correct,
        "models": models,
        "histories": histories,
        "train_seconds": seconds,
    }
