"""Tuning as code: the learning rates of the chapter's small and reference scales, chosen on the
validation scenes (never the test scenes).

The paper gives no learning rates. The search:

A. Cross-entropy: for each decoder (NIC, soft attention, the basic model, the double-layer model,
   the guide with a plain LSTM) the learning rate in ``XE_LRS`` with the best validation greedy
   CIDEr, each run trained to its best epoch (early stopping, patience 2, at most ``XE_EPOCHS``).
B. RL: the policy learning rate in ``RL_LRS`` for SCST (5 samples, mean baseline) on the
   double-layer model from its tuned cross-entropy weights, by the best validation CIDEr over
   ``RL_EPOCHS`` epochs; actor-critic uses the same policy rate.

Data, encoder and sizes are the small scale's (``setup``), seed 0. ``python -m
neurovis.captioning.tuning`` runs it and writes ``book/results/07_captioning.tuning.json``; the
chapter reads the chosen values from it and shows the trials.
"""

from __future__ import annotations

import copy
import time

import torch

CHAPTER = "07_captioning"
XE_LRS = (1e-3, 3e-3)
RL_LRS = (1e-4, 5e-4)
XE_EPOCHS, RL_EPOCHS = 8, 3
KINDS = {
    "NIC": ("nic", {}),
    "soft attention": ("soft_attention", {}),
    "basic (guide + NLSTM)": ("basic", {}),
    "double layer + attention": ("attention", {}),
    "guide + LSTM (no nesting)": ("basic", {"inner": "add"}),
}
SIZES = dict(embed=32, hidden=64, att=32, guide_channels=16)
DATA = dict(n_train=1500, n_val=150, n_test=300, image_size=48, mil_epochs=4)


def setup(seed: int = 0, data_seed: int = 0, with_test: bool = False, device="cpu") -> dict:
    """The small scale's pipeline up to the captioners: generated scenes (train / val / test from
    ``data_seed``, ``data_seed + 1``, ``data_seed + 2``), vocabulary, skip-gram vectors and the
    MIL encoder trained with ``seed``, standardised features."""
    from . import (
        CaptionerConfig,
        DenseNetEncoder,
        MILDetector,
        TrainSettings,
        Vocabulary,
        extract_features,
        generate_scenes,
        standardize,
        tokenize,
        train_mil,
        word2vec_vectors,
        word_set,
        word_targets,
    )

    d = DATA
    sizes = (d["n_train"], d["n_val"]) + ((d["n_test"],) if with_test else ())
    sets = [generate_scenes(n, d["image_size"], seed=data_seed + k) for k, n in enumerate(sizes)]
    train = sets[0]
    vocab = Vocabulary.build([c for refs in train.refs for c in refs], min_count=5, max_len=15)
    ids = vocab.encode_refs(train.refs, per_image=5)
    torch.manual_seed(seed)
    w2v = word2vec_vectors([tokenize(c) for r in train.refs for c in r], vocab, 32, seed=seed)
    D = word_set(vocab)
    torch.manual_seed(seed)
    detector = MILDetector(DenseNetEncoder("small"), len(D))
    train_mil(
        detector,
        train.images,
        word_targets(ids, D),
        TrainSettings(num_epochs=d["mil_epochs"], batch_size=32, lr=3e-3, seed=seed),
        device,
    )
    feats = standardize(*(extract_features(detector, s.images, device) for s in sets))
    cfg = CaptionerConfig.small(
        len(vocab), feats[0].regions.shape[2], len(D), feats[0].grid, **SIZES
    )
    return {
        "sets": sets,
        "vocab": vocab,
        "ids": ids,
        "w2v": w2v,
        "D": D,
        "detector": detector,
        "feats": feats,
        "cfg": cfg,
    }


def search(device="cpu", progress=print) -> dict:
    from . import CiderD, RLSettings, Reward, TrainSettings, train_captioners, train_rl

    t0 = time.time()
    s = setup(0, device=device)
    (train, val), (f_train, f_val) = s["sets"], s["feats"]
    vocab, valset = s["vocab"], None
    valset = (f_val, val.refs, vocab)
    trials, chosen, models = [], {}, {}
    for name, (kind, ablate) in KINDS.items():
        best = None
        for lr in XE_LRS:
            st = TrainSettings(num_epochs=XE_EPOCHS, batch_size=100, lr=lr, seed=0, patience=2)
            ms, hs = train_captioners(
                {name: kind}, s["cfg"].ablated(**ablate), f_train, s["ids"], st, s["w2v"],
                val=valset, device=device,
            )  # fmt: skip
            h = hs[name]
            trial = {
                "stage": "xe",
                "model": name,
                "lr": lr,
                "val_cider": max(h["val_cider"]),
                "best_epoch": h["best_epoch"][0],
                "epochs": len(h["val_cider"]),
                "curve": h["val_cider"],
            }
            trials.append(trial)
            progress(f"XE {name} lr {lr:g}: validation CIDEr {trial['val_cider']:.3f}")
            if best is None or trial["val_cider"] > best["val_cider"]:
                best, models[name] = trial, ms[name]
        chosen[f"xe_lr/{name}"] = best["lr"]
    reward = Reward(CiderD(train.refs), vocab)
    best = None
    for lr in RL_LRS:
        pol = copy.deepcopy(models["double layer + attention"])
        h = train_rl(
            pol, f_train, train.refs, reward, RLSettings(num_epochs=RL_EPOCHS, lr=lr, seed=0),
            "scst", device=device, val=valset,
        )  # fmt: skip
        trial = {
            "stage": "rl",
            "model": "double layer + SCST",
            "lr": lr,
            "val_cider": max(h["val_cider"]),
            "start_val_cider": h["start_val_cider"][0],
            "best_epoch": h["best_epoch"][0],
            "curve": h["val_cider"],
        }
        trials.append(trial)
        progress(f"RL lr {lr:g}: validation CIDEr {trial['val_cider']:.3f}")
        if best is None or trial["val_cider"] > best["val_cider"]:
            best = trial
    chosen["rl_lr"] = best["lr"]
    return {
        "grid": {"xe_lr": XE_LRS, "rl_lr": RL_LRS, "xe_epochs": XE_EPOCHS, "rl_epochs": RL_EPOCHS},
        "chosen": chosen,
        "trials": trials,
        "seconds": time.time() - t0,
    }


def main() -> int:
    from ..core import results, set_threads

    set_threads()
    record = search()
    print(
        results.save_tuning(
            CHAPTER,
            record,
            data="generated scenes, train seed 0 / validation seed 1 (small scale)",
            device="cpu",
            duration_s=record["seconds"],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
