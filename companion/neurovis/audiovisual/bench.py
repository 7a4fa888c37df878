"""Calibration of the network statistics on null networks
(``python -m neurovis bench audiovisual``).

The group network's threshold (an effect-size floor on the subjects' mean baseline change of the
integrated ADTF, :func:`network.calibrated_network`) is chosen on simulated groups whose plant has
NO edges (:meth:`PlantedNetwork.null`), passed through the same pipeline as the chapter's groups:
the simulation head, scalp EEG, Section 2.7 preprocessing, the inverse head and LCMV, ROI
waveforms, the Kalman ADTF. Each null group gives one number, the largest change any edge holds
for a whole 40 ms run after the stimulus (:func:`network.run_statistic`); the threshold is the
ceil((R + 1)(1 - alpha))-th smallest of the R numbers, so a new null group reports any edge with
probability <= alpha (family-wise over the 12 edges and all time points). The seeds (10_000 + r)
are disjoint from the chapter's. The record, with every replicate and a leave-one-out estimate of
the family-wise false-positive rate, goes to ``book/results/05_audiovisual.tuning.json``; the
chapter loads and shows it and never changes it.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

CHAPTER = "05_audiovisual"
SEED0 = 10_000


@dataclass(frozen=True)
class NullDesign:
    """The group design the threshold is calibrated for (it must match the chapter's)."""

    n_subjects: int = 15
    n_trials: int = 50
    method: str = "LCMV"
    leakage: str = "none"
    uc: float = 0.02
    max_order: int = 4
    field: str = "LVF"
    alpha: float = 0.05


def null_statistic(design: NullDesign, seed: int, head=None, sim_head=None) -> dict:
    """One null group through the whole pipeline -> {"seed", "statistic", "order", "seconds"}."""
    from . import eeg
    from .network import PlantedNetwork, change_network
    from .rois import TABLE1

    t0 = time.perf_counter()
    head = eeg.make_head_model() if head is None else head
    sim_head = eeg.make_simulation_head() if sim_head is None else sim_head
    rng = np.random.default_rng(seed)
    rois = TABLE1[design.field]
    study = eeg.simulate_study(
        head,
        PlantedNetwork.null(),
        rois,
        design.n_subjects,
        design.n_trials,
        rng,
        method=design.method,
        sim_head=sim_head,
        leakage=design.leakage,
    )
    fit = change_network(
        study.X, study.times, study.sfreq, np.inf, uc=design.uc, max_order=design.max_order
    )
    return {
        "seed": seed,
        "statistic": fit["statistic"],
        "order": fit["order"],
        "seconds": time.perf_counter() - t0,
    }


def threshold_from_null(stats, alpha: float = 0.05) -> float:
    """The ceil((R + 1)(1 - alpha))-th smallest of R null statistics (the exact max-statistic
    threshold: a new exchangeable null exceeds it with probability <= alpha)."""
    s = np.sort(np.asarray(stats, dtype=float))
    k = math.ceil((len(s) + 1) * (1 - alpha))
    if k > len(s):
        raise ValueError(
            f"{len(s)} null replicates cannot give a threshold at alpha={alpha}; "
            f"need at least {math.ceil(1 / alpha) - 1}"
        )
    return float(s[k - 1])


def leave_one_out_fwer(stats, alpha: float = 0.05) -> float:
    """The family-wise false-positive rate estimated by leaving each null replicate out of the
    calibration and testing it against the threshold of the others."""
    s = np.asarray(stats, dtype=float)
    hits = [s[r] > threshold_from_null(np.delete(s, r), alpha) for r in range(len(s))]
    return float(np.mean(hits))


def calibrate(
    n_replicates: int = 50, design: NullDesign = NullDesign(), progress: bool = True
) -> dict:
    from tqdm.auto import tqdm

    from . import eeg

    head, sim_head = eeg.make_head_model(), eeg.make_simulation_head()
    reps = [
        null_statistic(design, SEED0 + r, head, sim_head)
        for r in tqdm(range(n_replicates), desc="null networks", disable=not progress)
    ]
    stats = [r["statistic"] for r in reps]
    return {
        "design": asdict(design),
        "n_replicates": n_replicates,
        "seeds": [r["seed"] for r in reps],
        "replicates": reps,
        "threshold": threshold_from_null(stats, design.alpha),
        "loo_fwer": leave_one_out_fwer(stats, design.alpha),
    }


DATA = "null networks simulated by neurovis.audiovisual.bench"


def save_tuning(record: dict, duration_s: float | None = None) -> "Path":  # noqa: F821
    """Write the calibration ``record`` as the chapter's tuning record (core.results)."""
    from ..core import results

    return results.save_tuning(CHAPTER, record, data=DATA, duration_s=duration_s)


def load_tuning() -> dict | None:
    from ..core import results

    return results.load_tuning(CHAPTER)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m neurovis bench audiovisual", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--replicates", type=int, default=50)
    args = ap.parse_args(argv)
    from .mvar import single_thread

    t0 = time.perf_counter()
    with single_thread():
        rec = calibrate(args.replicates)
    path = save_tuning(rec, duration_s=time.perf_counter() - t0)
    print(
        f"threshold {rec['threshold']:.4f} from {rec['n_replicates']} null networks "
        f"(leave-one-out FWER {rec['loo_fwer']:.3f}) -> {path}"
    )
    return 0
