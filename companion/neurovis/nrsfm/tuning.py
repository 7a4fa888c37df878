"""Tuning as code: every free parameter of CRA, its ablations and MCM-RR, chosen on validation
frames cut from the training frames (``data.validation_benchmarks``), never on test frames.

The paper gives none of K, lambda, tau, alpha, beta, gamma^2. The search, in stages (a coordinate
search; each stage keeps what the previous chose):

A. lambda and alpha *per method*: the l1 dictionary (CRA, tau = 1) and the elastic-net dictionary
   (CRA-EN, tau < 1) each get their own lambda (and tau) and ADMM weight alpha, scored without the
   similarity term. Dictionaries are trained to convergence (``BasisConfig.rel_tol``).
B. beta and gamma^2 of the similarity term (Eq. 10-12) for MCM-RR on the chosen elastic-net
   dictionary, on a grid wide enough that beta d^2 reaches ||B~ B~^T||_2 (each trial records both,
   so the table shows whether the term was tested, not idle). beta = 0 is shown for reference but
   never chosen: the method has the term.
C. K in {16, 64, 128}: CRA and CRA-EN with the chosen lambda and alpha (tuned at K = 16).

Score: the mean over sequences of the normalised 3D error on the validation frames (unit-free, so
the Akhter sequences, in their own units, weigh as much as the CMU ones). ``python -m
neurovis.nrsfm.tuning`` runs it and writes ``book/results/02_nrsfm.tuning.json``; ``Hyper``'s
defaults hold the chosen values and the chapter shows the record and checks the two agree.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from .baselines import Hyper
from .bases import learn_shape_bases
from .data import load_embedded, validation_benchmarks
from .mcmrr import normalized_error, reconstruct, similarity_weights

TUNING_FILE = "02_nrsfm.tuning.json"
GRID = {
    "lam": (0.005, 0.01, 0.02, 0.05, 0.1),
    "tau_en": (0.8, 0.5, 0.2),
    "alpha": (0.003, 0.01, 0.03),
    "beta": (0.0, 1e-3, 1e-2, 0.1, 1.0, 10.0),
    "gamma2": (0.05, 0.2, 1.0),
    "num_bases": (16, 64, 128),
}


class Validation:
    """Validation problems and a cache of their dictionaries, keyed by (sequence, K, lam, tau)."""

    def __init__(self, benchmarks: dict, seed: int = 0, progress: bool = True):
        self.benchmarks = benchmarks
        self.seed = seed
        self.progress = progress
        self._bases: dict = {}
        self.basis_log: list = []

    def bases(self, name: str, hyper: Hyper, elastic: bool, lam: float | None = None):
        bcfg = hyper.basis_config(elastic, lam)
        key = (name, bcfg.num_bases, bcfg.lam, bcfg.tau)
        if key not in self._bases:
            t0 = time.perf_counter()
            b = learn_shape_bases(self.benchmarks[name].train_shapes, bcfg, seed=self.seed)
            self._bases[key] = b
            self.basis_log.append(
                {
                    "sequence": name,
                    "K": bcfg.num_bases,
                    "lam": bcfg.lam,
                    "tau": bcfg.tau,
                    "iterations": b.iterations,
                    "converged": b.converged,
                    "active_codes": b.active_codes(),
                    "seconds": time.perf_counter() - t0,
                }
            )
        return self._bases[key]

    def score(
        self, hyper: Hyper, elastic: bool, similarity: bool, lam: float | None = None
    ) -> dict:
        """Mean normalised error over the sequences, and per sequence, of one configuration."""
        per = {}
        for name, b in self.benchmarks.items():
            rec = reconstruct(
                b.test.W,
                self.bases(name, hyper, elastic, lam),
                hyper.alm_config(similarity, elastic),
                record_history=False,
            )
            per[name] = normalized_error(rec.S, b.test.shapes)
        return {"score": float(np.mean(list(per.values()))), "per_sequence": per}


def similarity_scale(val: Validation, hyper: Hyper) -> dict:
    """How strong the similarity term is against the data term, on the validation frames:
    median over frames and sequences of beta * mean_i d_i^2, and the mean ||B~ B~^T||_2."""
    d2, norms = [], []
    for name, b in val.benchmarks.items():
        B = val.bases(name, hyper, True).B
        W = torch.as_tensor(b.test.W) - torch.as_tensor(b.test.W).mean(-1, keepdim=True)
        W = W / W.flatten(1).norm(dim=1)[:, None, None]
        d = similarity_weights(W, B, hyper.gamma2, hyper.similarity, relative=hyper.relative)
        d2.append((d**2).mean(1))
        Bt = B.reshape(-1, B.shape[-1])
        norms.append(float(torch.linalg.matrix_norm(Bt @ Bt.T, ord=2)))
    return {
        "beta_d2": float(hyper.beta * torch.cat(d2).median()),
        "bbt_norm": float(np.mean(norms)),
    }


def search(
    benchmarks: dict | None = None, seed: int = 0, grid: dict = GRID, progress: bool = True
) -> dict:
    """Run stages A-C (module docstring) on ``validation_benchmarks`` of the embedded sequences
    (seed ``seed``'s cameras). Returns the record: every trial, the chosen values, seconds."""
    t_start = time.perf_counter()
    if benchmarks is None:
        benchmarks = load_embedded(np.random.default_rng(seed))
    val = Validation(validation_benchmarks(benchmarks, seed=seed + 1), seed=seed, progress=progress)
    base = Hyper(num_bases=grid["num_bases"][0])
    say = (lambda *a: print(*a, flush=True)) if progress else (lambda *a: None)

    # A. lambda (and tau) and alpha per dictionary family, without the similarity term
    trials_a = []
    for elastic, taus in ((False, (1.0,)), (True, grid["tau_en"])):
        for tau in taus:
            for lam in grid["lam"]:
                for alpha in grid["alpha"]:
                    h = replace(base, lam=lam, alpha=alpha, lam_en=lam, tau=tau, alpha_en=alpha)
                    r = val.score(h, elastic, similarity=False)
                    trials_a.append(
                        {
                            "family": "elastic net" if elastic else "l1",
                            "lam": lam,
                            "tau": tau,
                            "alpha": alpha,
                            **r,
                        }
                    )
                    fam = trials_a[-1]["family"]
                    say(f"A {fam} lam={lam} tau={tau} alpha={alpha}: {r['score']:.4f}")
    best_l1 = min((t for t in trials_a if t["family"] == "l1"), key=lambda t: t["score"])
    best_en = min((t for t in trials_a if t["family"] == "elastic net"), key=lambda t: t["score"])
    chosen = replace(
        base,
        lam=best_l1["lam"],
        alpha=best_l1["alpha"],
        lam_en=best_en["lam"],
        tau=best_en["tau"],
        alpha_en=best_en["alpha"],
    )
    # the lambda-tau-matched control: l1 dictionary at lam_en * tau, with alpha_en (as CONTROL)
    control = {
        "lam": chosen.lam_en * chosen.tau,
        "alpha": chosen.alpha_en,
        **val.score(
            replace(chosen, alpha=chosen.alpha_en), False, False, lam=chosen.lam_en * chosen.tau
        ),
    }

    # B. beta and gamma^2 of the similarity term, on MCM-RR
    trials_b = []
    for gamma2 in grid["gamma2"]:
        for beta in grid["beta"]:
            h = replace(chosen, beta=beta, gamma2=gamma2)
            r = val.score(h, True, similarity=beta > 0)
            trials_b.append({"beta": beta, "gamma2": gamma2, **similarity_scale(val, h), **r})
            bd2 = trials_b[-1]["beta_d2"]
            say(f"B beta={beta} gamma2={gamma2}: {r['score']:.4f} (beta d2 {bd2:.3g})")
    best_b = min((t for t in trials_b if t["beta"] > 0), key=lambda t: t["score"])
    chosen = replace(chosen, beta=best_b["beta"], gamma2=best_b["gamma2"])

    # C. the number of bases, both dictionary families, with the values chosen at K = 16
    trials_c = []
    fewest = min(len(b.train_shapes) for b in val.benchmarks.values())
    for K in grid["num_bases"]:
        h = replace(chosen, num_bases=K)
        row = {"K": K}
        if K > fewest:  # Eq. 5 needs K <= the number of training shapes (yoga's is the smallest)
            trials_c.append({**row, "skipped": f"K > {fewest} training shapes of a sequence"})
            say(f"C K={K}: skipped, a sequence has only {fewest} training shapes")
            continue
        for elastic, name in ((False, "CRA"), (True, "CRA-EN")):
            r = val.score(h, elastic, similarity=False)
            row[name] = r["score"]
            row[f"{name} per sequence"] = r["per_sequence"]
        row["mean"] = (row["CRA"] + row["CRA-EN"]) / 2
        trials_c.append(row)
        say(f"C K={K}: CRA {row['CRA']:.4f} CRA-EN {row['CRA-EN']:.4f}")
    best_k = min((t for t in trials_c if "mean" in t), key=lambda t: t["mean"])["K"]
    chosen = replace(chosen, num_bases=best_k)
    fields = ("num_bases", "lam", "alpha", "lam_en", "tau", "alpha_en", "beta", "gamma2")
    return {
        "grid": {k: list(v) for k, v in grid.items()},
        "seed": seed,
        "validation": {n: len(b.test) for n, b in val.benchmarks.items()},
        "stage_a": trials_a,
        "control": control,
        "stage_b": trials_b,
        "stage_c": trials_c,
        "bases": val.basis_log,
        "chosen": {f: getattr(chosen, f) for f in fields},
        "seconds": time.perf_counter() - t_start,
    }


def save_tuning(record: dict, device=None):
    """Write the record with provenance to ``<results>/02_nrsfm.tuning.json``."""
    from ..core import results

    prov = results._provenance(
        device,
        record.get("seconds"),
        "validation frames: the last 20% of each embedded training set",
        "02_nrsfm",
    )
    out = results.results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / TUNING_FILE
    path.write_text(
        json.dumps(
            {"chapter": "02_nrsfm", "kind": "tuning", **record, "provenance": prov},
            indent=2,
            default=str,
        )
        + "\n"
    )
    return path


def load_tuning() -> dict | None:
    from ..core import results

    return results._read(TUNING_FILE)


def main(argv=None) -> int:
    from ..core.device import single_thread

    with single_thread("cpu"):
        record = search()
    print(save_tuning(record, "cpu"))
    print("chosen:", record["chosen"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
