"""The evaluation protocols of Section 4.3-4.4, so that each notebook cell is one call:
Table 2 entries (pre-train, then linear evaluation on frozen encoders), the semi-supervised sweep
(Figure 5) and the zero-shot setting (Tables 3-4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .baselines import pretrain_baseline, random_encoders, train_supervised
from .data import label_fraction
from .ssl import ActionConfig, extract_features, linear_eval, pretrain_multimodal, pretrain_unimodal

LABELS = {"imu": "IMU", "skeleton": "Skeleton", "skeleton+imu": "IMU+Skeleton"}


@dataclass
class Entry:
    """One row of Table 2: a method on a modality set, scored on the test split."""

    method: str
    modalities: tuple
    acc: float
    f1: float
    pred: np.ndarray
    test_features: dict = field(default_factory=dict)
    train_features: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    encoders: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return (
            f"{self.method}_{'imu_skeleton' if len(self.modalities) == 2 else self.modalities[0]}"
        )


def _mods(modalities) -> tuple:
    mods = tuple(sorted(modalities, key=["skeleton", "imu"].index))
    if not mods or any(m not in ("skeleton", "imu") for m in mods):
        raise ValueError(
            f"modalities must be a non-empty subset of ('skeleton', 'imu'), got {modalities!r}"
        )
    return mods


def pretrain(method: str, modalities, train: tuple, cfg: ActionConfig, device, seed: int = 0):
    """Pre-train ``method`` ("ours", "simclr", "barlow", "cmc") on the unlabelled training
    recordings."""
    mods = _mods(modalities)
    skel, imu = train[0], train[1]
    if method == "ours":
        if len(mods) == 1:
            return pretrain_unimodal(mods[0], skel, imu, cfg, device, seed, desc=f"ours {mods[0]}")
        return pretrain_multimodal(skel, imu, cfg, device, seed, desc="ours skeleton+imu")
    return pretrain_baseline(method, mods, skel, imu, cfg, device, seed)


def evaluate_ssl(
    method: str,
    modalities,
    train: tuple,
    test: tuple,
    num_classes: int,
    cfg: ActionConfig,
    device,
    seed: int = 0,
) -> Entry:
    """Pre-train (or, for ``method="random"``, draw untrained encoders), freeze, fine-tune the
    fusion classifier on all labelled training samples, and score on the test split (Section
    4.3.1)."""
    mods = _mods(modalities)
    if method == "random":
        enc = random_encoders(
            mods,
            cfg,
            {"skeleton": train[0].shape[1], "imu": train[1].shape[2]},
            train[0].shape[3],
            seed,
        )
        hist = {}
    else:
        model, hist = pretrain(method, mods, train, cfg, device, seed)
        enc = {m: model.encoders[m] for m in mods}
    ftr = extract_features(enc, train[0], train[1], device)
    fte = extract_features(enc, test[0], test[1], device)
    r = linear_eval(ftr, train[2], fte, test[2], num_classes, cfg, device, seed, modalities=mods)
    return Entry(method, mods, r["acc"], r["f1"], r["pred"], fte, ftr, hist, enc)


def evaluate_supervised(
    modalities,
    train: tuple,
    test: tuple,
    num_classes: int,
    cfg: ActionConfig,
    device,
    seed: int = 0,
) -> Entry:
    """The supervised baselines of Table 2: the same encoders and head trained end to end."""
    mods = _mods(modalities)
    model, r = train_supervised(mods, train, test, num_classes, cfg, device, seed)
    return Entry("supervised", mods, r["acc"], r["f1"], r["pred"], encoders=dict(model.encoders))


def semi_supervised(
    entries: dict,
    train: tuple,
    test: tuple,
    num_classes: int,
    cfg: ActionConfig,
    device,
    fractions=(0.01, 0.05, 0.1, 0.25, 0.5),
    repeats: int = 3,
    seed: int = 0,
    supervised_min_steps: int = 0,
) -> dict:
    """Figure 5: for each labelled fraction p and repeat, the same random labelled subset is used to
    fine-tune every pre-trained entry (frozen encoders) and to train the supervised model from
    scratch.

    entries: {name: Entry} of pre-trained multimodal methods. Returns
    {name: {"acc": [[per repeat] per fraction], "f1": [...]}} including "Supervised".
    """
    out = {name: {"acc": [], "f1": []} for name in [*entries, "Supervised"]}
    mods = ("skeleton", "imu")
    for p in fractions:
        per = {name: {"acc": [], "f1": []} for name in out}
        for r in range(repeats):
            rng = np.random.default_rng([seed, r, int(round(p * 1e4))])
            idx = label_fraction(train[2].numpy(), p, rng)
            run_seed = seed + 1000 * r + int(round(p * 1000))
            for name, e in entries.items():
                res = linear_eval(
                    e.train_features,
                    train[2],
                    e.test_features,
                    test[2],
                    num_classes,
                    cfg,
                    device,
                    run_seed,
                    index=idx,
                    modalities=e.modalities,
                )
                per[name]["acc"].append(res["acc"])
                per[name]["f1"].append(res["f1"])
            steps_per_epoch = max(1, math.ceil(len(idx) / cfg.batch_supervised))
            epochs = max(cfg.epochs_supervised, math.ceil(supervised_min_steps / steps_per_epoch))
            _, res = train_supervised(
                mods,
                train,
                test,
                num_classes,
                cfg.with_(epochs_supervised=epochs),
                device,
                run_seed,
                index=idx,
                progress=False,
            )
            per["Supervised"]["acc"].append(res["acc"])
            per["Supervised"]["f1"].append(res["f1"])
        for name in out:
            out[name]["acc"].append(per[name]["acc"])
            out[name]["f1"].append(per[name]["f1"])
    return out


def zero_shot(
    hidden_actions,
    data_train,
    train: tuple,
    test: tuple,
    num_classes: int,
    cfg: ActionConfig,
    device,
    seed: int = 0,
    modalities=("skeleton", "imu"),
) -> Entry:
    """Tables 3-4: pre-train without any recording of ``hidden_actions`` (1-based action ids), then
    fine-tune on all labelled classes and test on all classes. Entry.pred covers the full test
    split."""
    hidden = np.asarray(hidden_actions) - 1
    keep = torch.as_tensor(~np.isin(data_train.labels, hidden))
    sub = (train[0][keep], train[1][keep], train[2][keep])
    mods = _mods(modalities)
    model, hist = pretrain("ours", mods, sub, cfg, device, seed)
    enc = {m: model.encoders[m] for m in mods}
    ftr = extract_features(enc, train[0], train[1], device)
    fte = extract_features(enc, test[0], test[1], device)
    r = linear_eval(ftr, train[2], fte, test[2], num_classes, cfg, device, seed, modalities=mods)
    return Entry("ours_zero_shot", mods, r["acc"], r["f1"], r["pred"], fte, ftr, hist, enc)


def class_accuracy(y_true, y_pred, actions) -> float:
    """Accuracy (%) on the test recordings of the 1-based ``actions``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    mask = np.isin(y_true, np.asarray(actions) - 1)
    return float(100.0 * (y_pred[mask] == y_true[mask]).mean())


def embedding_std(model_or_entry, train: tuple, cfg: ActionConfig, device) -> float:
    """Mean per-dimension std of the projected skeleton embeddings z on the training set: near 0 =
    collapse."""
    enc = model_or_entry.encoders if hasattr(model_or_entry, "encoders") else model_or_entry
    feats = extract_features({"skeleton": enc["skeleton"]}, train[0], train[1], device)["skeleton"]
    return float(feats.std(0).mean())


# ------------------------------------------------------------------------- tables and key results

# Table 2 (UTD-MHAD columns): (accuracy, F1) in %, as reported
PAPER_TABLE2 = {
    ("supervised", "imu"): (79.77, 79.59),
    ("supervised", "skeleton"): (93.49, 93.43),
    ("simclr", "imu"): (64.65, 64.64),
    ("simclr", "skeleton"): (92.09, 91.87),
    ("barlow", "imu"): (58.60, 57.69),
    ("barlow", "skeleton"): (88.84, 88.24),
    ("barlow", "imu_skeleton"): (91.63, 91.72),
    ("cmc", "imu_skeleton"): (95.12, 95.08),
    ("ours", "imu"): (75.58, 75.93),
    ("ours", "skeleton"): (86.05, 86.23),
    ("ours", "imu_skeleton"): (96.06, 96.96),
    ("supervised", "imu_skeleton"): (96.51, 96.36),
}
METHOD_NAMES = {
    "supervised": "Supervised",
    "simclr": "SimCLR",
    "barlow": "Barlow Twins",
    "cmc": "CMC",
    "ours": "Ours",
    "random": "Untrained encoders (control)",
}
ROW_ORDER = [
    ("supervised", "imu"),
    ("supervised", "skeleton"),
    ("simclr", "imu"),
    ("simclr", "skeleton"),
    ("barlow", "imu"),
    ("barlow", "skeleton"),
    ("barlow", "imu_skeleton"),
    ("cmc", "imu_skeleton"),
    ("ours", "imu"),
    ("ours", "skeleton"),
    ("ours", "imu_skeleton"),
    ("supervised", "imu_skeleton"),
    ("random", "imu"),
    ("random", "skeleton"),
    ("random", "imu_skeleton"),
]
MOD_NAMES = {"imu": "IMU", "skeleton": "Skeleton", "imu_skeleton": "IMU+Skeleton"}


def table2_frame(entries: dict):
    """Table 2 side by side: paper accuracy / F1 and ours, one row per method and modality."""
    import pandas as pd

    rows = []
    for method, mod in ROW_ORDER:
        e = entries.get(f"{method}_{mod}")
        if e is None:
            continue
        p = PAPER_TABLE2.get((method, mod), (np.nan, np.nan))
        rows.append(
            {
                "method": f"{METHOD_NAMES[method]} ({MOD_NAMES[mod]})",
                "acc (paper)": p[0],
                "acc (ours)": e.acc,
                "F1 (paper)": p[1],
                "F1 (ours)": e.f1,
            }
        )
    return pd.DataFrame(rows).set_index("method")


PAPER = {
    "acc_ours_imu_skeleton": (96.06, "Table 2"),
    "f1_ours_imu_skeleton": (96.96, "Table 2"),
    "acc_supervised_imu_skeleton": (96.51, "Table 2"),
    "acc_barlow_imu_skeleton": (91.63, "Table 2"),
    "acc_cmc_imu_skeleton": (95.12, "Table 2"),
    "acc_ours_skeleton": (86.05, "Table 2"),
    "acc_ours_imu": (75.58, "Table 2"),
    "acc_supervised_imu": (79.77, "Table 2"),
    "acc_supervised_skeleton": (93.49, "Table 2"),
    "semi_acc_ours_10pct": (None, "Figure 5A (plotted only)"),
    "semi_acc_supervised_10pct": (None, "Figure 5A (plotted only)"),
    "zero_shot_acc_ours_imu_skeleton": (96.05, "Table 3, action 5 hidden"),
}
METRIC_LABELS = {
    "acc_ours_imu_skeleton": "Ours, IMU+Skeleton: accuracy (%)",
    "f1_ours_imu_skeleton": "Ours, IMU+Skeleton: F1 (%)",
    "acc_ours_skeleton": "Ours, Skeleton: accuracy (%)",
    "acc_ours_imu": "Ours, IMU: accuracy (%)",
    "acc_supervised_imu_skeleton": "Supervised, IMU+Skeleton: accuracy (%)",
    "acc_supervised_skeleton": "Supervised, Skeleton: accuracy (%)",
    "acc_supervised_imu": "Supervised, IMU: accuracy (%)",
    "acc_barlow_imu_skeleton": "Barlow Twins, IMU+Skeleton: accuracy (%)",
    "acc_cmc_imu_skeleton": "CMC, IMU+Skeleton: accuracy (%)",
    "acc_random_imu_skeleton": "Untrained encoders, IMU+Skeleton: accuracy (%)",
    "semi_acc_ours_10pct": "10% labels, ours: accuracy (%)",
    "semi_acc_supervised_10pct": "10% labels, supervised: accuracy (%)",
    "zero_shot_acc_ours_imu_skeleton": "Zero-shot pre-training, IMU+Skeleton: accuracy (%)",
}
NOTES = {
    "acc_random_imu_skeleton": "control not in the paper: same fine-tuning on untrained encoders",
    "semi_acc_ours_10pct": "mean over repeats; frozen encoders, fusion head on 10% of the labels",
    "semi_acc_supervised_10pct": "mean over repeats; encoders trained from scratch on the same 10%",
    "zero_shot_acc_ours_imu_skeleton": "small scale hides actions 1, 2, 5 together; paper hides "
    "one at a time",
}


def key_metrics(entries: dict, semi: dict, index_10pct: int) -> dict:
    """The chapter's recorded metrics (Table 2 rows, semi-supervised at 10% labels)."""
    m = {}
    for key in (
        "ours_imu_skeleton",
        "ours_skeleton",
        "ours_imu",
        "supervised_imu_skeleton",
        "supervised_skeleton",
        "supervised_imu",
        "barlow_imu_skeleton",
        "cmc_imu_skeleton",
        "random_imu_skeleton",
    ):
        if key in entries:
            m[f"acc_{key}"] = entries[key].acc
    m["f1_ours_imu_skeleton"] = entries["ours_imu_skeleton"].f1
    m["semi_acc_ours_10pct"] = float(np.mean(semi["Ours"]["acc"][index_10pct]))
    m["semi_acc_supervised_10pct"] = float(np.mean(semi["Supervised"]["acc"][index_10pct]))
    return m


def fused_features(entry: Entry) -> np.ndarray:
    """Test features of an entry, concatenated over its modalities (z-scored per modality)."""
    parts = []
    for m in entry.modalities:
        f = entry.test_features[m].numpy()
        parts.append((f - f.mean(0)) / (f.std(0) + 1e-8))
    return np.concatenate(parts, axis=1)


def time_steps(
    train: tuple, cfg: ActionConfig, device, seed: int, timing, batch_size: int = 64
) -> dict:
    """Median time of one pre-training step (ours / CMC / Barlow Twins) and of inference, with
    ratios."""
    from functools import partial

    from torch import nn

    from .encoders import SupervisedModel
    from .losses import barlow_twins_loss, cmc_loss, vicreg_loss
    from .ssl import build_encoder, new_ssl_model

    dev = torch.device(device)
    skel, imu = train[0][:batch_size].to(dev), train[1][:batch_size].to(dev)
    model = new_ssl_model(
        ("skeleton", "imu"),
        cfg,
        {"skeleton": skel.shape[1], "imu": imu.shape[2]},
        skel.shape[3],
        seed,
    ).to(dev)

    def step(loss):
        model.zero_grad(set_to_none=True)
        out = loss(model.embed("skeleton", skel), model.embed("imu", imu))
        (out[0] if isinstance(out, tuple) else out).backward()

    t = {
        "pre-train step, ours (VICReg)": timing.measure(
            step, partial(vicreg_loss, lam=cfg.lam, mu=cfg.mu, nu=cfg.nu)
        ),
        "pre-train step, CMC": timing.measure(step, cmc_loss),
        "pre-train step, Barlow Twins": timing.measure(step, barlow_twins_loss),
    }
    torch.manual_seed(seed)
    sup = (
        SupervisedModel(
            {
                m: build_encoder(m, cfg, c, skel.shape[3])
                for m, c in (("skeleton", skel.shape[1]), ("imu", imu.shape[2]))
            },
            27,
            cfg.fusion_dim,
        )
        .to(dev)
        .eval()
    )
    model.eval()
    with torch.no_grad():
        t["inference, frozen encoders"] = timing.measure(
            lambda: [model.encoders[m](x) for m, x in (("skeleton", skel), ("imu", imu))]
        )
        t["inference, supervised network"] = timing.measure(
            lambda: sup({"skeleton": skel, "imu": imu})
        )
    base = t["pre-train step, CMC"]
    ratios = {
        "ours / CMC (pre-train step)": timing.ratio(t["pre-train step, ours (VICReg)"], base),
        "ours / Barlow Twins (pre-train step)": timing.ratio(
            t["pre-train step, ours (VICReg)"], t["pre-train step, Barlow Twins"]
        ),
        "frozen encoders / supervised (inference)": timing.ratio(
            t["inference, frozen encoders"], t["inference, supervised network"]
        ),
    }
    del nn
    return {"medians": {k: v.median for k, v in t.items()}, "ratios": ratios}
