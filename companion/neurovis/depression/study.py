"""One seed of the chapter's experiment: a benchmark split, every variant trained on it, and the
per-test-subject values the claims are paired on (``core.claims.Evidence`` items).

Seed k builds the benchmark with seed k (test fold k mod 4 of ``data.partition_subjects``, the
fixed development subjects for early stopping) and trains every variant from scratch with seed k.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import analysis
from .baselines import ablation_configs, resnet18_baseline, ridge_on_pixels, single_head
from .data import BenchmarkConfig, make_benchmark
from .hmhn import HMHNConfig
from .train import TrainSettings, Trained, mae, predict, rmse, train_hmhn, video_scores

#: The central comparison: name -> (how to derive the config from HMHN's, partition loss on?)
CENTRAL = {
    "HMHN": (lambda base: base, True),
    "HMHN, no partition loss": (lambda base: base, False),
    "HMHN, 1 head": (single_head, False),
    "ResNet-18": (resnet18_baseline, False),
}
#: Tables 3-4 rows B-D (A is ResNet-18 and E is HMHN above)
ABLATIONS = ("B: +GWA", "C: +GWA+DFF", "D: +MAB+AFB")
#: metric-key names of the variants (``mae_<slug>``, ``head_variance_<slug>``, ...)
SLUGS = {
    "HMHN": "hmhn",
    "HMHN, no partition loss": "no_partition",
    "HMHN, 1 head": "single_head",
    "ResNet-18": "resnet18",
    "B: +GWA": "abl_b_gwa",
    "C: +GWA+DFF": "abl_c_gwa_dff",
    "D: +MAB+AFB": "abl_d_mab_afb",
    "ridge on pixels": "ridge_pixels",
    "mean predictor": "mean_predictor",
}
#: attention diagnostics -> metric-key prefix
ATTENTION_KEYS = {
    "share": "attention_in_cue_regions",
    "covered": "regions_covered",
    "distinct": "distinct_regions",
    "head_variance": "head_variance",
    "on_distractors": "attention_on_distractors",
}


@dataclass
class SeedRun:
    """What one seed produced: the partitions, the trained variants, the per-subject test MAE
    (``subject_mae``: name -> (n_test_subjects,)), the attention diagnostics of every variant with
    heads (name -> per-subject arrays), and the seed's summary metrics."""

    seed: int
    parts: dict
    trained: dict
    subjects: np.ndarray
    subject_mae: dict
    attention: dict
    metrics: dict


def per_subject_mae(pred_videos, true_videos, video_subject) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, MAE of each subject's videos): the unit the claims are paired on (videos of one
    person are not independent)."""
    subjects = np.unique(video_subject)
    err = np.abs(np.asarray(pred_videos) - np.asarray(true_videos))
    return subjects, np.array([err[video_subject == s].mean() for s in subjects])


def _per_subject(values, frame_subject, subjects) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.array([values[frame_subject == s].mean() for s in subjects])


def attention_by_subject(maps, part, subjects) -> dict:
    """Per test subject: share of attention in the cue regions, chance (a uniform map), regions
    covered at >= 2x the face-average density, distinct top regions, share on the distractors,
    and the head variance (NaN for one head)."""
    fs = part.subject
    out = {
        "share": _per_subject(
            analysis.attention_shares(maps, part.masks.any(axis=1, keepdims=True))[..., 0].mean(1),
            fs,
            subjects,
        ),
        "chance": _per_subject(part.masks.any(axis=1).mean(axis=(-1, -2)), fs, subjects),
        "covered": _per_subject(analysis.regions_covered(maps, part.masks), fs, subjects),
        "distinct": _per_subject(analysis.distinct_top_regions(maps, part.masks), fs, subjects),
        "head_variance": np.array(
            [analysis.head_variance(maps[fs == s]) for s in subjects], dtype=float
        ),
    }
    if part.distractor_masks is not None and part.distractor_masks.any():
        d = analysis.attention_shares(maps, part.distractor_masks[:, None])[..., 0].mean(1)
        out["on_distractors"] = _per_subject(d, fs, subjects)
    return out


def run_seed(
    seed: int,
    bench: BenchmarkConfig,
    base: HMHNConfig,
    settings: TrainSettings,
    ablations: bool = True,
    device="cpu",
    progress=None,
    aligned: dict | None = None,
    parts: dict | None = None,
) -> SeedRun:
    """Train and score every variant on seed ``seed``'s split. ``progress(name)`` is called after
    each variant (the runner's console lines); ``aligned``: faces instead of ORL (tests);
    ``parts``: this seed's partitions when already built (``make_benchmark`` with this seed)."""
    from ..core.timing import Stopwatch

    if parts is None:
        parts, _ = make_benchmark(replace(bench, seed=seed), aligned)
    test = parts["test"]
    variants = {name: (make(base), part) for name, (make, part) in CENTRAL.items()}
    if ablations:
        abl = ablation_configs(base)
        variants.update({name: (abl[name], False) for name in ABLATIONS})
    trained, subject_mae, attention = {}, {}, {}
    video_subject = np.array([test.subject[test.video == v][0] for v in np.unique(test.video)])
    subjects = np.unique(video_subject)
    for name, (cfg, with_partition) in variants.items():
        s = replace(settings, seed=seed, att_weight=settings.att_weight if with_partition else 0.0)
        with Stopwatch() as sw:
            model, history = train_hmhn(cfg, parts["train"], parts["dev"], s, device, desc=name)
        frame_pred, maps = predict(model, test.frames, return_attention=True)
        pred, true = video_scores(frame_pred, test.video, test.bdi)
        trained[name] = Trained(model, history, sw.seconds, pred, true)
        subject_mae[name] = per_subject_mae(pred, true, video_subject)[1]
        if maps is not None:
            attention[name] = attention_by_subject(maps, test, subjects)
        if progress is not None:
            progress(name)
    ridge_pred, true = ridge_on_pixels(parts["train"], test)
    subject_mae["ridge on pixels"] = per_subject_mae(ridge_pred, true, video_subject)[1]
    mean_pred = np.full(len(true), parts["train"].video_labels().mean())
    subject_mae["mean predictor"] = per_subject_mae(mean_pred, true, video_subject)[1]
    metrics = {}
    for name, t in trained.items():
        metrics[f"mae_{SLUGS[name]}"] = t.mae
        metrics[f"rmse_{SLUGS[name]}"] = t.rmse
        metrics[f"best_epoch_{SLUGS[name]}"] = t.history["best_epoch"]
    metrics["mae_ridge_pixels"] = mae(ridge_pred, true)
    metrics["rmse_ridge_pixels"] = rmse(ridge_pred, true)
    metrics["mae_mean_predictor"] = mae(mean_pred, true)
    metrics["attention_chance"] = float(next(iter(attention.values()))["chance"].mean())
    for name, att in attention.items():
        for key, prefix in ATTENTION_KEYS.items():
            if key in att and np.isfinite(att[key]).all():
                metrics[f"{prefix}_{SLUGS[name]}"] = float(att[key].mean())
    return SeedRun(seed, parts, trained, subjects, subject_mae, attention, metrics)
