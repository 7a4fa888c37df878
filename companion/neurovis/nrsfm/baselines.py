"""CRA (Zhou et al. 2015) and the ablations of Table 3, and the experiment that runs them.

Written from the CRA paper, not ported: CRA is the same ALM as MCM-RR (Eq. 13-21) with l1-only
shape bases (tau = 1 in Eq. 5) and no similarity term (beta = 0 in Eq. 10).

    method   bases (Eq. 5)          similarity term (Eq. 10-12)
    CRA      l1 (tau = 1)           no
    CRA-EN   elastic net (tau < 1)  no
    CRA-SC   l1 (tau = 1)           yes
    MCM-RR   elastic net (tau < 1)  yes
    CRA (λτ) l1 at lam_en * tau     no     (control: the elastic net's l1 weight, no l2 term)

Each method has its own dictionary weight lambda and ADMM weight alpha (``Hyper``), chosen on
validation frames by ``neurovis.nrsfm.tuning``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from .bases import BasisConfig, ShapeBases, learn_shape_bases
from .data import Benchmark
from .mcmrr import ALMConfig, Reconstruction, frame_errors, reconstruct

METHODS = ("CRA", "CRA-EN", "CRA-SC", "MCM-RR")
#: The lambda-tau-matched control: CRA whose l1 dictionary has the elastic net's l1 weight
#: lambda_en * tau (Eq. 5), so that "the elastic net helps" is not just "a smaller l1 weight helps".
CONTROL = "CRA (λτ)"


@dataclass(frozen=True)
class Hyper:
    """The hyper-parameters of the methods, chosen on validation frames cut from the training
    frames, never on test frames, by ``neurovis.nrsfm.tuning`` (its record is
    ``book/results/02_nrsfm.tuning.json``; the chapter checks that these defaults match it).

    ``num_bases``: K (Eq. 5) for every dictionary. l1 dictionary (CRA, CRA-SC): ``lam``, ADMM
    weight ``alpha``. Elastic-net dictionary (CRA-EN, MCM-RR): ``lam_en``, ``tau``, ``alpha_en``.
    Similarity (CRA-SC, MCM-RR): ``beta``, ``gamma2`` (Eq. 10-12). ``output``: how S is composed
    (``mcmrr.OUTPUTS``).
    """

    num_bases: int = 64
    lam: float = 0.01
    alpha: float = 0.01
    lam_en: float = 0.02
    tau: float = 0.8
    alpha_en: float = 0.01
    basis_iterations: int = 3000
    basis_rel_tol: float = 1e-6
    max_train_shapes: int | None = 3000
    beta: float = 1e-3
    gamma2: float = 0.2
    similarity: str = "aligned"
    relative: bool = True
    tol: float = 1e-3
    max_iter: int = 1000
    scaled_dual: bool = True
    output: str = "per-basis"

    def basis_config(self, elastic: bool, lam: float | None = None) -> BasisConfig:
        lam = lam if lam is not None else (self.lam_en if elastic else self.lam)
        return BasisConfig(
            num_bases=self.num_bases,
            lam=lam,
            tau=self.tau if elastic else 1.0,
            iterations=self.basis_iterations,
            rel_tol=self.basis_rel_tol,
            max_train_shapes=self.max_train_shapes,
        )

    def alm_config(self, similarity: bool, elastic: bool = False) -> ALMConfig:
        return ALMConfig(
            alpha=self.alpha_en if elastic else self.alpha,
            beta=self.beta if similarity else 0.0,
            gamma2=self.gamma2,
            tol=self.tol,
            max_iter=self.max_iter,
            similarity=self.similarity,
            relative=self.relative,
            scaled_dual=self.scaled_dual,
            output=self.output,
        )

    def method(self, name: str) -> tuple[BasisConfig, ALMConfig]:
        """(bases config, ALM config) of one of ``METHODS`` or the control ``CONTROL``."""
        if name == CONTROL:  # l1 dictionary with the elastic net's l1 weight and ADMM weight
            return (
                self.basis_config(False, lam=self.lam_en * self.tau),
                self.alm_config(False, elastic=True),
            )
        flags = {
            "CRA": (False, False),
            "CRA-EN": (True, False),
            "CRA-SC": (False, True),
            "MCM-RR": (True, True),
        }
        if name not in flags:
            raise ValueError(f"unknown method {name!r}; expected one of {METHODS + (CONTROL,)}")
        elastic, sim = flags[name]
        return self.basis_config(elastic), self.alm_config(sim, elastic)


@dataclass
class MethodResult:
    """One method on one sequence: S (F, 3, p), per-frame errors ||S~ - S||_F and
    ||S~ - S||_F / ||S||_F (``relative``), their mean (``normalized``), mean ADMM iterations and
    the wall-clock seconds of the batched solve."""

    method: str
    S: np.ndarray
    errors: np.ndarray
    normalized: float
    iterations: float
    seconds: float
    recon: Reconstruction | None = None
    relative: np.ndarray | None = None

    @property
    def xi(self) -> float:
        return float(self.errors.mean())

    @property
    def xi_std(self) -> float:
        return float(self.errors.std())


@dataclass
class Experiment:
    """Results of ``run_experiment``: results[sequence][method], bases[sequence][(lam, tau)]
    (``basis`` picks a method's bases)."""

    results: dict = field(default_factory=dict)
    bases: dict = field(default_factory=dict)
    hyper: Hyper | None = None

    def basis(self, sequence: str, method: str) -> ShapeBases:
        """The shape bases ``method`` used on ``sequence``."""
        bcfg, _ = self.hyper.method(method)
        return self.bases[sequence][(bcfg.lam, bcfg.tau)]

    def table(self, unit_scale: dict | None = None):
        """Tables 1-3 layout: a DataFrame, one row per sequence, 'xi mean +- std' per method, and
        the decrease xi_p of MCM-RR vs CRA (Eq. 24). ``unit_scale`` {sequence: factor} converts
        units."""
        import pandas as pd

        rows = {}
        for seq, by_method in self.results.items():
            f = (unit_scale or {}).get(seq, 1.0)
            row = {m: f"{r.xi * f:.2f} ± {r.xi_std * f:.2f}" for m, r in by_method.items()}
            if "CRA" in by_method and "MCM-RR" in by_method:
                row["ξp (%)"] = round(
                    100 * (by_method["CRA"].xi - by_method["MCM-RR"].xi) / by_method["CRA"].xi, 1
                )
            rows[seq] = row
        return pd.DataFrame(rows).T

    def normalized_table(self):
        """Normalised mean 3D error (mean_t ||S~_t - S_t|| / ||S_t||), sequences x methods."""
        import pandas as pd

        return pd.DataFrame(
            {seq: {m: r.normalized for m, r in bm.items()} for seq, bm in self.results.items()}
        ).T


def run_experiment(
    benchmarks: dict[str, Benchmark],
    hyper: Hyper = Hyper(),
    methods=METHODS,
    device="cpu",
    seed: int = 0,
    progress: bool = True,
    keep_recon: tuple = ("CRA", "MCM-RR"),
) -> Experiment:
    """Learn the bases of each sequence (l1 and elastic net, once each) and run every method."""
    from tqdm.auto import tqdm

    exp = Experiment(hyper=hyper)
    jobs = [(s, m) for s in benchmarks for m in methods]
    bar = tqdm(jobs, desc="NRSfM", disable=not progress)
    for seq_name, method in bar:
        bar.set_postfix_str(f"{seq_name} {method}")
        bench = benchmarks[seq_name]
        bcfg, acfg = hyper.method(method)
        key = (bcfg.lam, bcfg.tau)
        cache = exp.bases.setdefault(seq_name, {})
        if key not in cache:
            cache[key] = learn_shape_bases(bench.train_shapes, bcfg, seed=seed)
        t0 = time.perf_counter()
        rec = reconstruct(bench.test.W, cache[key], acfg, device=device)
        secs = time.perf_counter() - t0
        errors = frame_errors(rec.S, bench.test.shapes)
        truth = bench.test.shapes - bench.test.shapes.mean(-1, keepdims=True)
        relative = errors / np.linalg.norm(truth, axis=(1, 2))
        exp.results.setdefault(seq_name, {})[method] = MethodResult(
            method,
            rec.S,
            errors,
            float(relative.mean()),
            float(rec.alm.iterations.float().mean()),
            secs,
            rec if method in keep_recon else None,
            relative,
        )
    return exp


def with_similarity(hyper: Hyper, mode: str, relative: bool) -> Hyper:
    """The same hyper-parameters with another similarity of Eq. 12 (for the ablation)."""
    return replace(hyper, similarity=mode, relative=relative)


# ---------------------------------------------------------------------------------------------
# the paper's reported numbers (shown beside ours, never used as ours)
# ---------------------------------------------------------------------------------------------

#: Table 1 of the paper: mu and sigma of xi per CMU category for PMP, CNR, PND2, CRA, MCM-RR.
PAPER_TABLE1 = {
    "walk": {
        "PMP": (97.06, 17.35),
        "CNR": (78.28, 15.70),
        "PND2": (104.20, 26.13),
        "CRA": (38.98, 19.64),
        "MCM-RR": (35.37, 18.49),
    },
    "run": {
        "PMP": (119.37, 31.37),
        "CNR": (65.92, 23.69),
        "PND2": (124.54, 28.82),
        "CRA": (55.69, 18.13),
        "MCM-RR": (52.64, 17.05),
    },
    "jump": {
        "PMP": (102.22, 30.74),
        "CNR": (61.66, 40.35),
        "PND2": (84.64, 41.80),
        "CRA": (57.08, 41.56),
        "MCM-RR": (44.56, 27.30),
    },
    "climb": {
        "PMP": (119.08, 39.39),
        "CNR": (69.36, 30.21),
        "PND2": (87.72, 56.04),
        "CRA": (58.87, 24.73),
        "MCM-RR": (50.25, 25.88),
    },
    "box": {
        "PMP": (252.61, 41.28),
        "CNR": (82.83, 33.65),
        "PND2": (146.91, 45.17),
        "CRA": (72.90, 30.64),
        "MCM-RR": (65.28, 26.82),
    },
    "dance": {
        "PMP": (118.24, 35.34),
        "CNR": (105.73, 38.81),
        "PND2": (118.52, 62.07),
        "CRA": (102.36, 44.93),
        "MCM-RR": (83.59, 34.88),
    },
    "sit": {
        "PMP": (96.31, 32.77),
        "CNR": (69.58, 42.18),
        "PND2": (73.20, 32.47),
        "CRA": (75.68, 36.29),
        "MCM-RR": (62.72, 26.79),
    },
    "basketball": {
        "PMP": (121.26, 44.83),
        "CNR": (67.63, 38.97),
        "PND2": (105.38, 72.17),
        "CRA": (63.66, 27.92),
        "MCM-RR": (57.57, 22.96),
    },
}
#: Table 3 of the paper: the ablation CRA-EN and CRA-SC (CRA and MCM-RR as in Table 1).
PAPER_TABLE3 = {
    "walk": {"CRA-EN": (36.56, 19.18), "CRA-SC": (38.64, 19.03)},
    "run": {"CRA-EN": (52.60, 16.70), "CRA-SC": (56.06, 18.03)},
    "jump": {"CRA-EN": (46.61, 33.79), "CRA-SC": (56.42, 39.52)},
    "climb": {"CRA-EN": (49.99, 25.53), "CRA-SC": (58.99, 24.88)},
    "box": {"CRA-EN": (65.32, 27.64), "CRA-SC": (73.02, 30.10)},
    "dance": {"CRA-EN": (85.23, 35.63), "CRA-SC": (101.49, 44.01)},
    "sit": {"CRA-EN": (63.12, 26.79), "CRA-SC": (74.92, 34.80)},
    "basketball": {"CRA-EN": (57.81, 22.58), "CRA-SC": (63.28, 28.29)},
}


def paper_tables():
    """The paper's Tables 1-3 as one DataFrame: 'mu ± sigma' per method and category, and the
    decrease xi_p of Table 2 recomputed from Table 1 by Eq. 24."""
    import pandas as pd

    rows = {}
    for cat, t1 in PAPER_TABLE1.items():
        row = {m: f"{mu:.2f} ± {sd:.2f}" for m, (mu, sd) in {**t1, **PAPER_TABLE3[cat]}.items()}
        row["ξp (%)"] = round(100 * (t1["CRA"][0] - t1["MCM-RR"][0]) / t1["CRA"][0], 2)
        rows[cat] = row
    cols = ["PMP", "CNR", "PND2", "CRA", "CRA-EN", "CRA-SC", "MCM-RR", "ξp (%)"]
    return pd.DataFrame(rows).T[cols]


def paper_means() -> dict:
    """The paper's means over its eight categories (of Table 1's CRA and MCM-RR mu, and of xi_p)."""
    cra = np.mean([t["CRA"][0] for t in PAPER_TABLE1.values()])
    mcm = np.mean([t["MCM-RR"][0] for t in PAPER_TABLE1.values()])
    dec = np.mean(
        [100 * (t["CRA"][0] - t["MCM-RR"][0]) / t["CRA"][0] for t in PAPER_TABLE1.values()]
    )
    return {"xi_mean_cra": float(cra), "xi_mean_mcmrr": float(mcm), "xi_decrease_pct": float(dec)}


def paper_decrease(method: str, baseline: str = "CRA") -> dict:
    """The paper's relative decrease of xi (Eq. 24, %) of ``method`` vs ``baseline`` per category,
    from Tables 1 and 3 (e.g. ``paper_decrease("CRA-EN")`` for the elastic-net ablation)."""
    out = {}
    for cat, t1 in PAPER_TABLE1.items():
        row = {**t1, **PAPER_TABLE3[cat]}
        out[cat] = 100 * (row[baseline][0] - row[method][0]) / row[baseline][0]
    return out


def paper_decrease_text(method: str, baseline: str = "CRA") -> str:
    """'a to b % lower (n of 8 categories)' from ``paper_decrease``."""
    d = paper_decrease(method, baseline)
    lower = sum(v > 0 for v in d.values())
    return (
        f"ξ {min(d.values()):+.1f} to {max(d.values()):+.1f} % lower "
        f"({lower} of {len(d)} categories lower)"
    )
