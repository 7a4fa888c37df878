"""Tuning as code: the MSAAM loss's lambda and its variance reading (Eq. 7), chosen on CamVid's
validation split (never on test).

Eq. 7 names the variance of the three GRU weights alpha (``reading="alpha"``, as printed); our
first implementation read it as the variance of the attention maps (``reading="maps"``), which
drives the sigmoid gates into saturation. The search trains the MSAAM model once per (reading,
lambda) with lambda in ``LAMBDAS`` (lambda = 0 is plain cross-entropy, the same for both
readings), keeps each run's best-validation epoch (``core.training.KeepBest``), and records its
validation mIoU, the share of saturated channel and spatial gates on the validation images, and
the spread of alpha over them. The chosen (reading, lambda) is the best validation mIoU.

``python -m neurovis.driving.tuning`` runs it (small setting, one seed: ~5 CPU-minutes alone on one
thread) and writes ``book/results/10_driving.tuning.json`` through ``core.results.save_tuning``;
the chapter reads the choice from there and shows every trial.
"""

from __future__ import annotations

import time
from dataclasses import replace

from .train import TrainSettings, load_trained, saturation, train_kept_best

CHAPTER = "10_driving"
LAMBDAS = (0.0, 0.01, 0.1)
READINGS = ("alpha", "maps")


def trials(lambdas=LAMBDAS, readings=READINGS) -> list[tuple[str, float]]:
    """(reading, lambda) pairs of the search; lambda = 0 once (the reading does not matter)."""
    out = [(readings[0], 0.0)] if 0.0 in lambdas else []
    return out + [(r, float(lam)) for r in readings for lam in lambdas if lam != 0]


def run_trial(train, val, groups, settings: TrainSettings, device="cpu", seed: int = 0) -> dict:
    """Train one MSAAM model with ``settings`` (its lam and variance), keep its best-validation
    epoch, and return its validation mIoU, gate saturation and alpha spread."""
    run = train_kept_best(seed, True, settings, train, val, groups, device)
    model = load_trained(run, len(train.classes), settings, True, device)
    sat = saturation(model, val.images, device)
    return {
        "reading": settings.variance,
        "lam": settings.lam,
        "val_mIoU": run["best_value"],
        "best_epoch": run["best_epoch"],
        "val_mIoU_per_epoch": run["history"]["val_mIoU"],
        "saturation_channel": sat["channel"],
        "saturation_spatial": sat["spatial"],
        "alpha_mean": sat["alpha_mean"],
        "alpha_sd": sat["alpha_sd"],
        "gamma": float(model.gamma.detach()),
        "seconds": run["seconds"],
    }


def search(train, val, groups, settings: TrainSettings, device="cpu", seed: int = 0) -> dict:
    """Every trial of ``trials()`` and the choice (best validation mIoU)."""
    rows = [
        run_trial(train, val, groups, replace(settings, variance=r, lam=lam), device, seed)
        for r, lam in trials()
    ]
    best = max(rows, key=lambda r: r["val_mIoU"])
    return {
        "selection": "best validation mIoU (CamVid val, best epoch of each run), one seed",
        "seed": seed,
        "settings": {k: str(v) for k, v in vars(settings).items()},
        "trials": rows,
        "chosen": {"reading": best["reading"], "lam": best["lam"]},
    }


def main(device="cpu", seed: int = 0):
    from ..core import choose_device, set_threads
    from ..core.results import save_tuning
    from .data import CAMVID_GROUPS, embedded_camvid

    set_threads()
    dev = choose_device(device)
    train, val = embedded_camvid("train"), embedded_camvid("val")
    t0 = time.time()
    record = search(train, val, CAMVID_GROUPS, TrainSettings.small(), dev, seed)
    path = save_tuning(
        CHAPTER,
        record,
        data="CamVid SegNet split (embedded, real, 160x120): train to fit, val to choose",
        device=dev,
        duration_s=time.time() - t0,
    )
    print(f"chosen {record['chosen']}; wrote {path}")
    return record


if __name__ == "__main__":
    main()
