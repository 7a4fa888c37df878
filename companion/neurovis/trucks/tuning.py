"""The learning rate of every model, chosen on the validation split by this committed search.

``python -m neurovis.trucks.tuning [--scale small|reference]`` trains each model of the chapter
with each learning rate of ``LRS`` (seed 0, the scale's step budget, the full training sets) and
keeps, per model, the rate with the lowest best-round validation NLL (ties: the lower rate). The
pre-trained variant is tuned on its fine-tuning rate, its backbone pre-trained once with the
ResNet's chosen rate. The test sets are never scored here. The record goes to
``book/results/06_trucks.tuning.json`` (``core.results.save_tuning``), which the chapter reads.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..core import choose_device, results, seed_everything, set_threads
from .data import SMALL_CLASSES, embedded_trucks, other_classes, split_sets
from .model import NetConfig
from .train import METHODS, TrainSettings, fit_method, pretrain_backbone

CHAPTER = "06_trucks"
LRS = (0.01, 0.03, 0.1)
# the chapter's fixed data choices (a split seed independent of the training seeds)
SPLIT = {"image_size": 80, "n_test_sets": 8, "n_val_sets": 3, "split_seed": 0}


def chapter_data(classes=SMALL_CLASSES, image_size=80, n_test_sets=8, n_val_sets=3, split_seed=0):
    """The chapter's embedded data: the image table of the four models and its training,
    validation and test sets, split once by ``split_seed`` (the same for every training seed)."""
    table = embedded_trucks(classes, image_size)
    train, val, test = split_sets(
        table.labels, n_test_sets, n_val_sets, np.random.default_rng(split_seed)
    )
    return table, train, val, test


def settings_for(scale: str) -> TrainSettings:
    return TrainSettings.reference() if scale == "reference" else TrainSettings.small()


def tune(scale: str = "small", lrs=LRS, methods=METHODS, device="cpu", seed: int = 0) -> dict:
    """Run the search; returns the record (``chosen`` {method: lr} and every trial)."""
    set_threads()
    seed_everything(seed)
    t0 = time.perf_counter()
    table, train, val, _ = chapter_data(**SPLIT)
    val = val.all_pairs()  # every ordered pair of validation photos, as in the chapter
    cfg = NetConfig.small(image_size=SPLIT["image_size"])
    st = settings_for(scale)
    trials, chosen = [], {}
    order = [m for m in methods if m != "improved_mmal_pretrained"] + [
        m for m in methods if m == "improved_mmal_pretrained"
    ]
    init = None
    for m in order:
        if m == "improved_mmal_pretrained" and init is None:
            other = embedded_trucks(other_classes(SMALL_CLASSES), SPLIT["image_size"])
            init, _ = pretrain_backbone(
                other, cfg, st, device, seed, lr=chosen.get("resnet", st.lr)
            )
        rows = []
        for lr in lrs:
            run = fit_method(m, table, train, val, cfg, st, device, seed, lr=lr, init=init)
            h = run.history
            rows.append(
                {
                    "method": m,
                    "lr": lr,
                    "val_nll": float(min(h["val_nll"])),
                    "val_acc": float(h["val_acc"][run.best_round]),
                    "best_round": run.best_round + 1,
                    "seconds": round(run.seconds, 1),
                }
            )
        best = min(rows, key=lambda r: (round(r["val_nll"], 4), r["lr"]))
        chosen[m] = best["lr"]
        trials += rows
    return {
        "scale": scale,
        "criterion": "lowest validation NLL at the best round (seed 0)",
        "grid": {"lr": list(lrs)},
        "settings": {"steps": st.steps, "batch_size": st.batch_size, "warmup": st.warmup},
        "chosen": chosen,
        "trials": trials,
        "duration_s": round(time.perf_counter() - t0, 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small", choices=("small", "reference"))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    dev = choose_device(args.device)
    rec = tune(args.scale, device=dev)
    path = results.save_tuning(
        CHAPTER,
        rec,
        data="Stanford Cars, 4 pickup/van models (embedded), training and validation sets only",
        device=dev,
        duration_s=rec["duration_s"],
    )
    print(rec["chosen"], "->", path)


if __name__ == "__main__":
    main()
