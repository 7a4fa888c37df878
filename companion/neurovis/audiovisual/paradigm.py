"""The cue-target paradigm and its behavioural analysis (Sections 2.2-2.3 and 3.1, Figure 3).

A visual cue (box, 50 ms) in the left or right visual field (LVF/RVF), then after a stimulus
onset asynchrony (SOA) of 100 ms or 800 ms a 1000 Hz tone (200 ms) in the left or right auditory
field; the participant presses the key on the tone's side. Valid: tone on the cue's side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "PAPER_RT",
    "RT_WINDOW_MS",
    "BehaviourConfig",
    "simulate_trials",
    "exclude_trials",
    "condition_means",
    "rm_anova",
    "paired_tests",
    "CONDITION_LABELS",
]

# Section 3.1: mean +- SD (ms) over the 15 participants, pooled over the cue's visual field.
PAPER_RT = {
    ("long", "valid"): (277.79, 17.91),
    ("long", "invalid"): (268.94, 19.33),
    ("short", "valid"): (273.80, 20.87),
    ("short", "invalid"): (291.91, 20.76),
}
CONDITION_LABELS = {
    ("long", "valid"): "lv",
    ("long", "invalid"): "liv",
    ("short", "valid"): "sv",
    ("short", "invalid"): "siv",
}
RT_WINDOW_MS = (200.0, 900.0)  # Section 2.3: RTs outside are excluded
SOA_MS = {"short": 100, "long": 800}


@dataclass(frozen=True)
class BehaviourConfig:
    """Simulation of the behavioural data. Subject means: the paper's condition means plus a
    subject offset (SD ``subject_sd``) and a subject x condition residual (SD ``residual_sd``),
    chosen so the total spread matches the paper's ~20 ms SDs. Trial RTs: ex-Gaussian around the
    subject mean, plus anticipations (< 200 ms), lapses (> 900 ms) and wrong-key errors."""

    n_subjects: int = 15
    trials_per_cell: int = 40
    subject_sd: float = 18.0
    residual_sd: float = 7.0
    trial_sd: float = 30.0
    trial_tau: float = 25.0
    p_anticipation: float = 0.02
    p_lapse: float = 0.02
    p_error: float = 0.03


def simulate_trials(config: BehaviourConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Trial table (simulated, labelled as such): subject, field, validity, soa, rt (ms),
    correct."""
    rows = []
    for s in range(config.n_subjects):
        offset = rng.normal(0, config.subject_sd)
        for field in ("LVF", "RVF"):
            for (soa, validity), (mean, _) in PAPER_RT.items():
                mu = mean + offset + rng.normal(0, config.residual_sd)
                n = config.trials_per_cell
                rt = (
                    mu
                    + rng.normal(0, config.trial_sd, n)
                    + rng.exponential(config.trial_tau, n)
                    - config.trial_tau
                )
                u = rng.random(n)
                rt = np.where(u < config.p_anticipation, rng.uniform(100, 199, n), rt)
                rt = np.where(
                    (u >= config.p_anticipation) & (u < config.p_anticipation + config.p_lapse),
                    rng.uniform(901, 1200, n),
                    rt,
                )
                correct = rng.random(n) >= config.p_error
                rows.append(
                    pd.DataFrame(
                        {
                            "subject": s,
                            "field": field,
                            "validity": validity,
                            "soa": soa,
                            "soa_ms": SOA_MS[soa],
                            "rt": rt,
                            "correct": correct,
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def exclude_trials(trials: pd.DataFrame, window=RT_WINDOW_MS) -> tuple[pd.DataFrame, dict]:
    """Section 2.3: drop wrong or missed key presses and RTs < 200 ms or > 900 ms.

    Returns (kept trials, counts of each exclusion)."""
    need = {"subject", "field", "validity", "soa", "rt", "correct"}
    if not need <= set(trials.columns):
        raise ValueError(f"trials: missing columns {sorted(need - set(trials.columns))}")
    if (
        trials["rt"].isna().any()
        and not (~trials.loc[trials["rt"].isna(), "correct"].astype(bool)).all()
    ):
        raise ValueError("trials: a trial marked correct has no RT")
    err = ~trials["correct"].astype(bool)
    fast = trials["rt"] < window[0]
    slow = trials["rt"] > window[1]
    keep = ~(err | fast | slow)
    return trials[keep].copy(), {
        "errors": int(err.sum()),
        "rt < 200 ms": int((fast & ~err).sum()),
        "rt > 900 ms": int((slow & ~err).sum()),
        "kept": int(keep.sum()),
        "total": len(trials),
    }


def condition_means(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean RT per subject x field x validity x SOA (the ANOVA's cells)."""
    return trials.groupby(["subject", "field", "validity", "soa"], as_index=False)["rt"].mean()


def rm_anova(means: pd.DataFrame) -> pd.DataFrame:
    """Repeated-measures ANOVA, field x validity x SOA (statsmodels AnovaRM): F, df, p per
    effect."""
    from statsmodels.stats.anova import AnovaRM

    res = AnovaRM(means, depvar="rt", subject="subject", within=["field", "validity", "soa"]).fit()
    t = res.anova_table.rename(
        columns={"F Value": "F", "Num DF": "df1", "Den DF": "df2", "Pr > F": "p"}
    )
    t.index = [i.replace(":", " x ") for i in t.index]
    return t


def paired_tests(means: pd.DataFrame) -> pd.DataFrame:
    """Paired t-tests of Figure 3 on the field-pooled condition means: valid vs invalid at each
    SOA, long vs short at each validity. Columns: comparison, mean difference (ms), t, p."""
    pooled = means.groupby(["subject", "soa", "validity"])["rt"].mean().unstack(["soa", "validity"])
    pairs = [
        (("long", "invalid"), ("long", "valid")),
        (("short", "invalid"), ("short", "valid")),
        (("long", "invalid"), ("short", "invalid")),
        (("long", "valid"), ("short", "valid")),
    ]
    rows = []
    for a, b in pairs:
        r = stats.ttest_rel(pooled[a], pooled[b])
        rows.append(
            {
                "comparison": f"{CONDITION_LABELS[a]} vs {CONDITION_LABELS[b]}",
                "difference (ms)": float((pooled[a] - pooled[b]).mean()),
                "t": float(r.statistic),
                "p": float(r.pvalue),
            }
        )
    return pd.DataFrame(rows)
