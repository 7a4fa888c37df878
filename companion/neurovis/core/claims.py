"""A paper's central claims as data, and their verdicts computed from a run's seeds.

A chapter lists its claims once::

    CLAIMS = [Claim("denoise-vs-bm3d", "MS-GSRC beats BM3D in mean PSNR", "Table 1",
                    method="denoise_psnr_msgsrc", baseline="denoise_psnr_bm3d", metric="PSNR (dB)",
                    paper="+0.47 dB (12 images)")]

collects each seed's metrics (and, where the comparison is paired per test item, the per-item
values) in an ``Evidence``, and evaluates: effect = method - baseline (signed so that positive is
the paper's direction), its paired bootstrap 95% CI (``stats.paired_bootstrap_ci``), n, and the
verdict from the CI (``stats.verdict``). ``results.save_evidence`` writes them to the chapter's
results file; ``table`` renders the chapter's Claims table; the claims ledger page lists them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import stats


@dataclass(frozen=True)
class Claim:
    """One central claim of a paper: ``method`` beats ``baseline`` on a metric.

    ``method``/``baseline`` name metrics of the run (keys given to ``Evidence.add``);
    ``higher_is_better`` is the metric's direction; ``paper`` is the paper's reported figure for
    this comparison (shown as the paper's, never as ours); ``metric`` a readable name.
    """

    id: str
    text: str
    source: str
    method: str
    baseline: str
    higher_is_better: bool = True
    metric: str = ""
    paper: str = ""

    def __post_init__(self):
        for f in ("id", "text", "source", "method", "baseline"):
            if not isinstance(getattr(self, f), str) or not getattr(self, f).strip():
                raise ValueError(f"claim {self.id!r}: field {f!r} must be a non-empty string")
        if self.method == self.baseline:
            raise ValueError(
                f"claim {self.id!r}: method and baseline are the same metric {self.method!r}"
            )


@dataclass
class Evidence:
    """Per-seed metrics of one run (any scale), and optional per-item values for paired tests."""

    per_seed: dict = field(default_factory=dict)  # metric -> {seed: value}
    items: dict = field(default_factory=dict)  # metric -> {seed: 1-D array over test items}

    def add(self, seed: int, metrics: dict, items: dict | None = None) -> None:
        """Record seed ``seed``: ``metrics`` {name: number}; ``items`` {name: per-test-item values},
        the same test items in the same order for every metric of that seed."""
        seed = int(seed)
        for name, value in metrics.items():
            v = float(value)
            if not np.isfinite(v):
                raise ValueError(f"seed {seed}, metric {name!r}: {value} is not finite")
            self.per_seed.setdefault(name, {})[seed] = v
        for name, values in (items or {}).items():
            a = np.asarray(values, dtype=float).ravel()
            if a.size == 0 or not np.all(np.isfinite(a)):
                raise ValueError(f"seed {seed}, per-item {name!r}: empty or non-finite values")
            self.items.setdefault(name, {})[seed] = a

    @property
    def seeds(self) -> list[int]:
        return sorted(
            {s for d in self.per_seed.values() for s in d}
            | {s for d in self.items.values() for s in d}
        )

    def summary(self) -> dict:
        """{metric: {mean, sd, n, values}} over seeds (seed order)."""
        return {name: stats.mean_sd([d[s] for s in sorted(d)]) for name, d in self.per_seed.items()}

    def means(self) -> dict:
        return {name: s["mean"] for name, s in self.summary().items()}

    def _paired(self, claim: Claim):
        """Paired values for ``claim``: per (seed, item) when both have per-item values for the
        same seeds, else per seed. Returns (method values, baseline values, unit)."""
        m_items, b_items = self.items.get(claim.method), self.items.get(claim.baseline)
        if m_items and b_items and sorted(m_items) == sorted(b_items):
            for s in m_items:
                if m_items[s].shape != b_items[s].shape:
                    raise ValueError(
                        f"claim {claim.id!r}, seed {s}: {claim.method} has {m_items[s].size} "
                        f"items, {claim.baseline} has {b_items[s].size}"
                    )
            seeds = sorted(m_items)
            return (
                np.concatenate([m_items[s] for s in seeds]),
                np.concatenate([b_items[s] for s in seeds]),
                "test items × seeds",
            )
        missing = [k for k in (claim.method, claim.baseline) if k not in self.per_seed]
        if missing:
            raise KeyError(
                f"claim {claim.id!r}: no values recorded for {missing}; recorded: "
                f"{sorted(self.per_seed)}"
            )
        m, b = self.per_seed[claim.method], self.per_seed[claim.baseline]
        seeds = sorted(set(m) & set(b))
        if not seeds:
            raise ValueError(
                f"claim {claim.id!r}: {claim.method} and {claim.baseline} share no seed"
            )
        return np.array([m[s] for s in seeds]), np.array([b[s] for s in seeds]), "seeds"

    def evaluate(self, claim: Claim, seed: int = 0) -> dict:
        """The claim's effect, 95% CI, n and verdict (see module docstring). Per-item claims get
        the two-level bootstrap over seeds and items (``stats.two_level_bootstrap_ci``;
        ``ci_method`` says so, and ``seed_effects`` lists each seed's mean difference)."""
        m, b, unit = self._paired(claim)
        n_seeds = len(
            set(self.per_seed.get(claim.method, {})) | set(self.items.get(claim.method, {}))
        )
        extra = {}
        if unit == "test items × seeds":
            seeds = sorted(self.items[claim.method])
            sign = 1.0 if claim.higher_is_better else -1.0
            diffs = [
                sign * (self.items[claim.method][s] - self.items[claim.baseline][s]) for s in seeds
            ]
            res = stats.two_level_bootstrap_ci(diffs, seed=seed)
            extra = {
                "ci_method": "two-level bootstrap: seeds, then test items "
                + ("(crossed)" if res["crossed"] else "(nested)"),
                "seed_effects": res["seed_effects"],
            }
        else:
            res = stats.paired_bootstrap_ci(
                m, b, higher_is_better=claim.higher_is_better, seed=seed
            )
            extra = {"ci_method": "bootstrap over seeds (BCa)"}
        return {
            **asdict(claim),
            "effect": res["effect"],
            "ci": res["ci"],
            "n": res["n"],
            "n_seeds": n_seeds,
            "unit": unit,
            **extra,
            "verdict": stats.verdict(res["ci"], n_seeds if unit == "seeds" else res["n"]),
        }

    def evaluate_all(self, claims: list[Claim]) -> list[dict]:
        for c in claims:
            if not isinstance(c, Claim):
                raise TypeError(f"claims must be core.claims.Claim objects, got {type(c).__name__}")
        ids = [c.id for c in claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"claim ids must be unique, got {ids}")
        return [self.evaluate(c) for c in claims]


def pooled_items_ci(c: dict) -> bool:
    """True for a per-item claim evaluated before the two-level bootstrap (no ``ci_method``): its
    CI pooled the seeds' test items as if independent, so it may be too narrow when the effect
    varies between seeds; its run must be repeated for a CI that holds that spread."""
    return c.get("unit") == "test items × seeds" and "ci_method" not in c


POOLED_NOTE = "CI pooled items over seeds: may be too narrow, rerun"


def _effect_text(c: dict, decimals: int) -> str:
    lo, hi = c["ci"]
    if c["n"] < 2:  # a single pair has no CI
        return f"{c['effect']:+.{decimals}f} (n=1, no CI)"
    return (
        f"{c['effect']:+.{decimals}f} [{lo:+.{decimals}f}, {hi:+.{decimals}f}], n={c['n']} "
        f"({c['unit']})"
    )


def table(chapter: str, claims: list[Claim], small: list[dict] | None = None, decimals: int = 2):
    """The chapter's Claims table (a pandas DataFrame): claim | paper | ours (reference: effect
    [95% CI], n) | verdict | ours (small, this run). The reference columns come from the committed
    ``<chapter>.reference.json``; a run older than the chapter's code is marked stale."""
    import pandas as pd

    from . import results

    ref = results.load(chapter, "reference")
    ref_claims = {c["id"]: c for c in (ref or {}).get("claims", [])}
    stale = bool(ref) and results.is_stale(ref)
    small_by_id = {c["id"]: c for c in (small or [])}
    rows = []
    for cl in claims:
        r = ref_claims.get(cl.id)
        if r is None:
            ours, verdict = "no reference run committed", "not run"
        else:
            n_seeds = r["n_seeds"]  # the seeds of this claim's metrics, not of the whole run
            ours = _effect_text(r, decimals) + f"; {n_seeds} seed{'s' if n_seeds != 1 else ''}"
            verdict = r["verdict"] + (" (stale: code changed since)" if stale else "")
            verdict += f" ({POOLED_NOTE})" if pooled_items_ci(r) else ""
        s = small_by_id.get(cl.id)
        rows.append(
            {
                "claim": f"{cl.text} [{cl.source}]",
                "paper": cl.paper or "—",
                "ours (reference)": ours,
                "verdict": verdict,
                "ours (small, this run)": _effect_text(s, decimals) if s else "—",
            }
        )
    df = pd.DataFrame(rows).set_index("claim")
    if ref:
        p = ref["provenance"]
        df.attrs["reference"] = f"{p['date'][:10]}, {p['device']}, commit {p['commit']}"
    return df


def run_table(chapter: str, claims: list[Claim], evaluated: list[dict], scale: str, decimals=2):
    """The Claims table a chapter shows for ``evaluated`` (``Evidence.evaluate_all`` of this run).

    At small scale it is ``table`` (the committed reference run's verdicts beside this run's
    effects); at reference or paper scale, this run is the evidence, so the table is this run's own
    evaluation: claim | paper | ours (<scale>, this run) | verdict."""
    import pandas as pd

    if scale == "small":
        return table(chapter, claims, small=evaluated, decimals=decimals)
    return pd.DataFrame(
        [
            {
                "claim": f"{c['text']} [{c['source']}]",
                "paper": c["paper"],
                f"ours ({scale}, this run)": _effect_text(c, decimals),
                "verdict": c["verdict"],
            }
            for c in evaluated
        ]
    ).set_index("claim")
