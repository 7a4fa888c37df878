"""Statistics of the evidence layer, on scipy and statsmodels (nothing hand-rolled).

- ``mean_sd``: mean ± sample sd over seeds;
- ``paired_bootstrap_ci``: the mean paired difference and its bootstrap 95% CI
  (``scipy.stats.bootstrap``, BCa), over seeds;
- ``two_level_bootstrap_ci``: the same when the pairs are test items of several seeds: seeds and
  items resampled (a cluster bootstrap), so the CI holds the spread between seeds too;
- ``mcnemar``: two paired classifiers on the same items (``statsmodels``' exact/χ² test);
- ``wilcoxon``: paired per-item errors (``scipy.stats.wilcoxon``);
- ``verdict``: a claim's verdict from the CI of its effect, signed so that positive is the paper's
  direction.
"""

from __future__ import annotations

import numpy as np

VERDICTS = ("reproduced", "contradicted", "inconclusive")


def _vector(name: str, values) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    if a.size == 0:
        raise ValueError(f"{name}: no values")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: non-finite values {a[~np.isfinite(a)][:3].tolist()}")
    return a


def mean_sd(values) -> dict:
    """``{mean, sd, n, values}``; sd is the sample sd (ddof=1), 0 for a single value."""
    a = _vector("values", values)
    sd = float(np.std(a, ddof=1)) if a.size > 1 else 0.0
    return {"mean": float(a.mean()), "sd": sd, "n": int(a.size), "values": [float(x) for x in a]}


def paired_bootstrap_ci(
    method,
    baseline,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict:
    """Effect = mean(method - baseline), signed so that positive means the method is better; its
    paired bootstrap CI (BCa, ``scipy.stats.bootstrap`` resampling pairs).

    ``method`` and ``baseline`` are paired: one value per seed, or one per (seed, test item).
    Returns ``{effect, ci: [low, high], n}``. With one pair, or all differences equal, the CI is
    the single point (no spread to resample); ``verdict`` treats a one-pair CI as inconclusive.
    """
    from scipy import stats

    a, b = _vector("method", method), _vector("baseline", baseline)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {b.size}")
    d = (a - b) if higher_is_better else (b - a)
    effect = float(d.mean())
    if d.size < 2 or np.ptp(d) == 0:
        return {"effect": effect, "ci": [effect, effect], "n": int(d.size)}
    res = stats.bootstrap(
        (d,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa degenerates on tiny samples: percentile
        res = stats.bootstrap(
            (d,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"effect": effect, "ci": [low, high], "n": int(d.size)}


def two_level_bootstrap_ci(
    diffs_by_seed,
    crossed: bool | None = None,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict:
    """Mean paired difference over seeds x test items and its two-level bootstrap CI.

    ``diffs_by_seed``: one 1-D array of per-item differences (method - baseline, signed so that
    positive is better) per seed. Each resample draws the seeds with replacement and the items
    with replacement, and takes the mean over the drawn seeds of each seed's mean over the drawn
    items; the percentile interval of those means is the CI. Pooling the seeds' items into one
    sample instead treats them as independent and gives too narrow a CI when the effect varies
    between seeds (training runs). ``crossed``: the same items in the same order in every seed
    (one item draw shared by the seeds); default: crossed when every seed has the same number of
    items (with independent items per seed a shared draw changes nothing in expectation), else
    nested (each seed's items drawn on their own). Returns ``{effect, ci, n, n_seeds,
    seed_effects, crossed}``; effect = the mean of the seeds' mean differences.
    """
    ds = [_vector(f"seed {k} differences", d) for k, d in enumerate(diffs_by_seed)]
    if not ds:
        raise ValueError("two_level_bootstrap_ci: no seeds")
    sizes = {d.size for d in ds}
    if crossed is None:
        crossed = len(sizes) == 1
    elif crossed and len(sizes) != 1:
        raise ValueError(f"crossed items need equal item counts per seed, got {sorted(sizes)}")
    S = len(ds)
    seed_effects = np.array([d.mean() for d in ds])
    effect = float(seed_effects.mean())
    n = int(sum(d.size for d in ds))
    if all(np.ptp(d) == 0 for d in ds) and np.ptp(seed_effects) == 0:
        return {
            "effect": effect,
            "ci": [effect, effect],
            "n": n,
            "n_seeds": S,
            "seed_effects": seed_effects.tolist(),
            "crossed": bool(crossed),
        }
    rng = np.random.default_rng(seed)
    est = np.empty(n_resamples)
    chunk = 2000
    for lo in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - lo)
        if crossed:
            N = ds[0].size
            counts = rng.multinomial(N, np.full(N, 1 / N), size=b)  # (b, N)
            per_seed = counts @ np.stack(ds).T / N  # (b, S): each seed's mean over the drawn items
        else:
            per_seed = np.stack(
                [
                    rng.multinomial(d.size, np.full(d.size, 1 / d.size), size=b) @ d / d.size
                    for d in ds
                ],
                axis=1,
            )
        seed_counts = rng.multinomial(S, np.full(S, 1 / S), size=b)  # (b, S)
        est[lo : lo + b] = (per_seed * seed_counts).sum(axis=1) / S
    alpha = (1 - confidence) / 2
    low, high = np.quantile(est, [alpha, 1 - alpha])
    return {
        "effect": effect,
        "ci": [float(low), float(high)],
        "n": n,
        "n_seeds": S,
        "seed_effects": seed_effects.tolist(),
        "crossed": bool(crossed),
    }


def verdict(ci, n: int) -> str:
    """``reproduced`` (CI above 0), ``contradicted`` (CI below 0) or ``inconclusive`` (CI holds 0,
    or fewer than 2 paired values: a single run has no CI)."""
    low, high = ci
    if n < 2:
        return "inconclusive"
    if low > 0:
        return "reproduced"
    if high < 0:
        return "contradicted"
    return "inconclusive"


def mcnemar(correct_a, correct_b, exact: bool | None = None) -> dict:
    """McNemar's test of two classifiers on the same items (``statsmodels``).

    ``correct_a``/``correct_b``: booleans per item. ``exact=None`` uses the exact binomial test when
    the discordant pairs number fewer than 25, else the χ² test with continuity correction.
    Returns ``{statistic, pvalue, a_only, b_only, n}``.
    """
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    a = np.asarray(correct_a, dtype=bool).ravel()
    b = np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"paired per-item correctness needs equal, non-zero lengths, got {a.size} and {b.size}"
        )
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    discordant = table[0, 1] + table[1, 0]
    if exact is None:
        exact = discordant < 25
    res = sm_mcnemar(table, exact=exact, correction=True)
    return {
        "statistic": float(res.statistic),
        "pvalue": float(res.pvalue),
        "a_only": int(table[0, 1]),
        "b_only": int(table[1, 0]),
        "n": int(a.size),
    }


def wilcoxon(errors_a, errors_b) -> dict:
    """Wilcoxon signed-rank test of paired per-item errors (``scipy.stats.wilcoxon``, two-sided).
    Returns ``{statistic, pvalue, median_difference, n}`` (difference = a - b)."""
    from scipy import stats

    a, b = _vector("errors_a", errors_a), _vector("errors_b", errors_b)
    if a.shape != b.shape:
        raise ValueError(f"paired errors need equal lengths, got {a.size} and {b.size}")
    d = a - b
    if np.all(d == 0):
        return {"statistic": 0.0, "pvalue": 1.0, "median_difference": 0.0, "n": int(a.size)}
    res = stats.wilcoxon(a, b)
    return {
        "statistic": float(res.statistic),
        "pvalue": float(res.pvalue),
        "median_difference": float(np.median(d)),
        "n": int(a.size),
    }
