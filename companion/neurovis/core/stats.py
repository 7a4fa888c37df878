"""Statistics of the evidence layer, on scipy and statsmodels (nothing hand-rolled).

- ``mean_sd``: mean ± sample sd over seeds;
- ``paired_bootstrap_ci``: the mean paired difference and its bootstrap 95% CI
  (``scipy.stats.bootstrap``, BCa), over seeds or over test items pooled across seeds;
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
