"""Tuning as code: HMHN's training choices, made on the development subjects only.

The paper gives AdamW, lr 1e-3, batch 64, dropout 0.2 and L_sum = L_att + L_mse (Eq. 10), and no
epochs or weight of L_att. Our L_mse is on BDI-II / 63 (``train.hmhn_loss``), so the weight of the
partition loss is ours to choose. The search, in two stages on one training split (seed
``TUNING_SEED``: its training subjects, the fixed development subjects of ``partition_subjects``,
which are never test subjects):

A. ``att_weight`` in ``GRID["att_weight"]`` at lr 3e-3. 0 (no partition loss) is scored for
   reference but never chosen: the method has the term.
B. ``lr`` in ``GRID["lr"]`` at the chosen weight.

Score: the development MAE of the best epoch (``core.training.KeepBest``; epochs up to
``num_epochs``, stopping after ``patience`` epochs without improvement). Each trial also records
the head variance of the development maps and the partition term's share of the loss, so the
chapter can show what the weight does. ``python -m neurovis.depression.tuning --image-size 96``
writes ``book/results/01_depression.tuning.json``; the chapter reads it.
"""

from __future__ import annotations

import argparse
import sys
import time

CHAPTER = "01_depression"
TUNING_SEED = 100  # a training split used for tuning only (its test fold is never scored here)
GRID = {"att_weight": (0.0, 0.01, 0.03, 0.1, 0.3, 1.0), "lr": (1e-3, 3e-3)}


def trial(parts, config, settings) -> dict:
    """Train once; the development score and diagnostics of the best epoch."""
    from . import analysis
    from .train import predict, train_hmhn

    t0 = time.perf_counter()
    model, hist = train_hmhn(config, parts["train"], parts["dev"], settings, desc="tuning")
    _, maps = predict(model, parts["dev"].frames, return_attention=True)
    best = hist["best_epoch"] - 1
    return {
        "att_weight": settings.att_weight,
        "lr": settings.lr,
        "dev_mae": float(hist["dev_mae"][best]),
        "best_epoch": hist["best_epoch"],
        "epochs_run": len(hist["loss"]),
        "att_share": float(hist["att_share"][best]),
        "head_variance": analysis.head_variance(maps),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def search(
    image_size: int = 96,
    widths=(8, 16, 32, 64),
    num_epochs: int = 16,
    patience: int = 4,
    batch_size: int = 32,
    intensity: float = 1.5,
    grid: dict = GRID,
    progress: bool = True,
    parts: dict | None = None,
) -> dict:
    """Stages A and B above. Returns the record (every trial, the chosen values, settings).
    ``parts``: partitions to tune on instead of the benchmark (tests)."""
    from .data import BenchmarkConfig, make_benchmark
    from .hmhn import HMHNConfig
    from .train import TrainSettings

    if parts is None:
        bench = BenchmarkConfig(image_size=image_size, intensity=intensity, seed=TUNING_SEED)
        parts, _ = make_benchmark(bench)
    config = HMHNConfig.small(image_size=image_size, widths=tuple(widths), dropout=0.2)

    def run(att_weight, lr):
        settings = TrainSettings(
            num_epochs=num_epochs,
            lr=lr,
            batch_size=batch_size,
            att_weight=att_weight,
            patience=patience,
            seed=TUNING_SEED,
            progress=False,
        )
        out = trial(parts, config, settings)
        if progress:
            print(
                f"[tuning] att_weight {att_weight:g}, lr {lr:g}: dev MAE {out['dev_mae']:.2f} "
                f"(epoch {out['best_epoch']}/{out['epochs_run']}), head variance "
                f"{out['head_variance']:.3f}, L_att share {out['att_share']:.2f}, "
                f"{out['seconds']:.0f} s",
                flush=True,
            )
        return out

    t0 = time.perf_counter()
    base_lr = 3e-3 if 3e-3 in grid["lr"] else grid["lr"][-1]
    stage_a = [run(w, base_lr) for w in grid["att_weight"]]
    candidates = [t for t in stage_a if t["att_weight"] > 0]
    weight = min(candidates, key=lambda t: t["dev_mae"])["att_weight"]
    stage_b = [
        next(t for t in stage_a if t["att_weight"] == weight) if lr == base_lr else run(weight, lr)
        for lr in grid["lr"]
    ]
    lr = min(stage_b, key=lambda t: t["dev_mae"])["lr"]
    return {
        "benchmark": {"seed": TUNING_SEED, "image_size": image_size, "intensity": intensity},
        "model": {"widths": list(widths), "batch_size": batch_size},
        "schedule": {"num_epochs": num_epochs, "patience": patience},
        "stage_a": stage_a,
        "stage_b": stage_b,
        "chosen": {"att_weight": weight, "lr": lr},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def load_tuning() -> dict | None:
    from ..core import results

    return results.load_tuning(CHAPTER)


def main(argv=None) -> int:
    from ..core import results
    from ..core.device import single_thread

    ap = argparse.ArgumentParser(prog="python -m neurovis.depression.tuning")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--patience", type=int, default=4)
    args = ap.parse_args(argv)
    with single_thread("cpu"):
        record = search(args.image_size, num_epochs=args.epochs, patience=args.patience)
    path = results.save_tuning(
        CHAPTER,
        record,
        data="development subjects (fixed, never tested) of the generated ORL benchmark, "
        f"split seed {TUNING_SEED}",
        device="cpu",
        duration_s=record["seconds"],
    )
    print(path)
    print("chosen:", record["chosen"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
