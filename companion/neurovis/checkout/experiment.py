"""The chapter's experiment in a few calls, shared by the notebook and the validation search
(``tuning``): the data of a scale and seed, a detector trained and kept at its best validation
epoch, and everything measured on the test trays (COCO AP per level, class-agnostic AP, RPN
recall, checkout metrics at a validation-chosen threshold, each tray's bill right or wrong).

The benchmark is frozen: validation and test trays come from the generator with data seed 0 at
every training seed; only the single-product training images, the initial weights and the data
order change with the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..core.training import KeepBest
from .baselines import ColourBlobDetector
from .data import generate
from .detector import DetectorConfig, build_detector, predict, to_coco_detections, train_detector
from .evaluate import (
    ap_by_level,
    checkout_by_level,
    checkout_correct,
    class_agnostic_ap,
    rpn_recall,
    threshold_on_validation,
    val_evaluator,
)

BENCHMARK_SEED = 0  # the validation and test trays, the same for every training seed


@dataclass(frozen=True)
class Budget:
    """Sizes of a run. ``small``: the CPU regression run (~4 min); ``reference``: the evidence run
    (5 seeds, 100 test trays per level)."""

    n_train: int = 480  # single-product training images (RPC: 48,000)
    n_val: int = 30  # validation trays per level (RPC: 6,000 in all)
    n_test: int = 40  # test trays per level (RPC: 24,000 in all)
    num_epochs: int = 6
    num_classes: int = 8  # RPC: 200
    img_size: int = 112  # network input side (the paper: ~450)
    factor: int = 4  # camera pixels per network pixel (the paper's "multiplied by four")

    @classmethod
    def small(cls, **kw) -> "Budget":
        return replace(cls(), **kw)

    @classmethod
    def reference(cls, **kw) -> "Budget":
        return replace(cls(n_train=1440, n_val=50, n_test=100, num_epochs=10), **kw)

    @classmethod
    def for_scale(cls, scale: str) -> "Budget":
        if scale not in ("small", "reference"):
            raise ValueError(f"no generated-data budget for scale {scale!r} (paper reads RPC)")
        return cls.small() if scale == "small" else cls.reference()


def training_set(budget: Budget, seed: int):
    """The seed's single-product training images (RPC's train split)."""
    b = budget
    return generate("train", b.n_train, b.num_classes, b.img_size, b.factor, seed=seed)


def benchmark(budget: Budget):
    """(val, test): the frozen validation and test trays (``BENCHMARK_SEED``), ``n_val`` and
    ``n_test`` per clutter level."""
    b = budget
    val = generate("val", b.n_val, b.num_classes, b.img_size, b.factor, seed=BENCHMARK_SEED)
    test = generate("test", b.n_test, b.num_classes, b.img_size, b.factor, seed=BENCHMARK_SEED)
    return val, test


def chapter_data(budget: Budget, seed: int):
    """(train, val, test): ``training_set`` of the seed and the frozen ``benchmark``."""
    return (training_set(budget, seed), *benchmark(budget))


def detector_config(
    budget: Budget, n_images: int, lr_per_16: float = 0.02, batch_size: int = 4, **kw
) -> DetectorConfig:
    """The small-scale detector for ``budget`` trained on ``n_images`` per epoch at ``batch_size``:
    the learning rate by the linear-scaling rule from the rate per 16 images, a linear warmup over
    the first 10 % of the optimiser steps, the rate divided by 10 for the last 20 % of the
    epochs."""
    steps = budget.num_epochs * -(-n_images // batch_size)
    last = max(int(round(0.8 * budget.num_epochs)), 1)
    return DetectorConfig.small(
        budget.num_classes,
        budget.img_size,
        num_epochs=budget.num_epochs,
        lr_milestones=(last,),
        batch_size=batch_size,
        lr=DetectorConfig.scaled_lr(batch_size, lr_per_16),
        warmup_iters=max(int(round(0.1 * steps)), 1),
        **kw,
    )


def copy_paste_batch(train_set, cp_set, batch_size: int = 4) -> int:
    """The copy-paste model's batch size: as many trays per step as the single-product model has
    images per step divided by the products per tray (4 images of one product ~ 1 tray of 4), so
    that both models see the same product instances per step, the same number of steps, and every
    training product the same number of times."""
    per_tray = len(cp_set.coco["annotations"]) / len(cp_set)
    return max(int(round(batch_size / per_tray)), 1)


@dataclass
class Trained:
    """A trained detector with its history and the epoch validation chose (1-based)."""

    model: torch.nn.Module
    history: dict
    best_epoch: int
    steps: int


def train_kept_best(train_set, val_set, cfg: DetectorConfig, device, seed: int) -> Trained:
    """Train ``cfg``'s detector from seed ``seed`` on ``train_set``, score the validation trays
    (AP50) after every epoch and keep the best epoch's weights (``core.training.KeepBest``)."""
    torch.manual_seed(seed)
    model = build_detector(cfg)
    keep = KeepBest(model, "val_ap50", mode="max")
    history = train_detector(
        model,
        train_set,
        cfg,
        device,
        seed=seed,
        evaluate=val_evaluator(val_set, device),
        on_epoch_end=keep,
    )
    keep.restore()
    steps = cfg.num_epochs * -(-len(train_set) // cfg.batch_size)
    return Trained(model, history, keep.best_epoch + 1, steps)


def measure(val_set, test_set, val_preds, test_preds, model=None, device="cpu") -> dict:
    """Everything the chapter reports for one method on the test trays, from its network-pixel
    predictions on the validation and test trays: COCO AP per level (``ap``), class-agnostic AP
    (``agnostic``), the checkout threshold chosen on validation, checkout metrics per level and
    each tray's bill right (1) or wrong (0), and, for a detector, its RPN recall@0.5."""
    det_val = to_coco_detections(val_set, val_preds)
    det_test = to_coco_detections(test_set, test_preds)
    thr, curve = threshold_on_validation(val_set, det_val)
    out = {
        "dets": det_test,
        "preds": test_preds,
        "ap": ap_by_level(test_set, det_test),
        "agnostic": class_agnostic_ap(test_set, det_test),
        "threshold": thr,
        "val_curve": curve,
        "checkout": checkout_by_level(test_set, det_test, thr),
        "correct": checkout_correct(test_set, det_test, thr),
    }
    if model is not None:
        out["rpn_recall"] = rpn_recall(model, test_set, device)
    return out


def measure_detector(trained: Trained, val_set, test_set, device) -> dict:
    m = trained.model
    return measure(
        val_set, test_set, predict(m, val_set, device), predict(m, test_set, device), m, device
    )


def measure_baseline(baseline: ColourBlobDetector, val_set, test_set) -> dict:
    return measure(val_set, test_set, baseline.predict(val_set), baseline.predict(test_set))


def level_items(test_set, values: np.ndarray, level: str | None) -> np.ndarray:
    """``values`` (one per test tray) restricted to one clutter level (all for None)."""
    keep = np.array([level is None or lv == level for lv in test_set.levels])
    return np.asarray(values)[keep]
