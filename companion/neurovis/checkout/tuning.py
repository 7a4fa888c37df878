"""The choices the paper leaves open, made on the validation trays by this committed search.

``python -m neurovis.checkout.tuning [--scale small|reference]`` trains, at seed 0 and the scale's
budget, the detector on single-product images and on the matched copy-paste trays with each
learning rate of the linear-scaling grid ``LR_PER_16`` (rate per 16 images; at batch 4 the rate is
a quarter of it), keeping each run's best validation epoch, and keeps per training set the rate
with the highest validation AP50 (ties: the lower rate). It also picks the colour-blob baseline's
foreground thresholds (saturation, darkness) from ``BLOB_GRID`` by validation AP50. The test trays
are never scored here. The record goes to ``book/results/09_checkout.tuning.json``
(``core.results.save_tuning``), which the chapter reads and shows.
"""

from __future__ import annotations

import itertools
import time

from ..core import results, seed_everything, set_threads
from .baselines import ColourBlobDetector
from .data import copy_paste
from .detector import predict, to_coco_detections
from .experiment import Budget, chapter_data, copy_paste_batch, detector_config, train_kept_best
from .metrics import coco_evaluate

CHAPTER = "09_checkout"
LR_PER_16 = (0.01, 0.02, 0.04)  # around the linear-scaling rule's 0.02 (Goyal et al. 2017)
BLOB_GRID = {"sat": (0.15, 0.25, 0.35), "dark": (0.35, 0.5, 0.6)}


def _val_ap50(val_set, preds) -> float:
    return coco_evaluate(val_set.coco, to_coco_detections(val_set, preds))["ap50"]


def tune(scale: str = "small", device="cpu", seed: int = 0, lrs=LR_PER_16) -> dict:
    """Run the search; returns the record (``chosen`` and every trial)."""
    set_threads()
    seed_everything(seed)
    t0 = time.perf_counter()
    budget = Budget.for_scale(scale)
    train, val, _ = chapter_data(budget, seed)
    sets = {"single": train, "copy_paste": copy_paste(train, seed=seed)}
    trials, chosen = [], {}
    for name, data in sets.items():
        rows = []
        batch = 4 if name == "single" else copy_paste_batch(train, data)
        for per16 in lrs:
            cfg = detector_config(budget, len(data), per16, batch)
            try:
                run = train_kept_best(data, val, cfg, device, seed)
                ap50, best, curve = (
                    run.history["val_ap50"][run.best_epoch - 1],
                    run.best_epoch,
                    [round(v, 4) for v in run.history["val_ap50"]],
                )
            except FloatingPointError as e:  # diverged: recorded (val_ap50 None), never chosen
                ap50, best, curve = None, 0, str(e)[:120]
            rows.append(
                {"training": name, "batch_size": batch, "lr_per_16": per16, "lr": cfg.lr,
                 "val_ap50": ap50,
                 "best_epoch": best, "val_ap50_curve": curve}
            )  # fmt: skip
        ok = [r for r in rows if r["val_ap50"] is not None]
        if not ok:
            raise FloatingPointError(f"every learning rate of {list(lrs)} diverged on {name}")
        pick = max(ok, key=lambda r: (round(r["val_ap50"], 4), -r["lr_per_16"]))
        chosen[f"lr_per_16_{name}"] = pick["lr_per_16"]
        trials += rows
    blob_rows = []
    for sat, dark in itertools.product(BLOB_GRID["sat"], BLOB_GRID["dark"]):
        b = ColourBlobDetector(sat=sat, dark=dark).fit(train)
        blob_rows.append({"sat": sat, "dark": dark, "val_ap50": _val_ap50(val, b.predict(val))})
    best = max(blob_rows, key=lambda r: round(r["val_ap50"], 4))
    chosen |= {"blob_sat": best["sat"], "blob_dark": best["dark"]}
    return {
        "scale": scale,
        "criterion": "highest validation AP50 at the best epoch (seed 0); baseline: validation "
        "AP50",
        "grid": {"lr_per_16": list(lrs), **{k: list(v) for k, v in BLOB_GRID.items()}},
        "budget": budget.__dict__,
        "chosen": chosen,
        "trials": trials,
        "baseline_trials": blob_rows,
        "duration_s": round(time.perf_counter() - t0, 1),
    }


def main(argv=None):
    results.tuning_cli(
        CHAPTER,
        tune,
        "generated RPC-like set: seed 0's training images and the frozen validation trays",
        argv,
        default_scale="reference",
    )


if __name__ == "__main__":
    main()
