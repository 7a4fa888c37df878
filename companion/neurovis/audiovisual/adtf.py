"""The adaptive directed transfer function (Eq. 5-8), phase-randomised surrogates and the
time-varying network (Section 2.9, Figure 5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

__all__ = [
    "normalize_trials",
    "innovation_sd",
    "integrated_adtf_numpy",
    "transfer_matrix_t",
    "transfer_matrix",
    "adtf",
    "integrated_adtf",
    "phase_randomize",
    "ADTFConfig",
    "ADTFResult",
    "adtf_with_surrogates",
    "group_network",
    "edge_onsets",
    "tonic_edges",
    "network_events",
    "edge_labels",
    "dtf_analytic",
]


def _as_tensor(W) -> torch.Tensor:
    return (
        W.to(torch.float64) if torch.is_tensor(W) else torch.as_tensor(np.asarray(W, dtype=float))
    )


def transfer_matrix(W, freqs: np.ndarray, sfreq: float) -> np.ndarray:
    """H(f, t) of Eq. 5-6 as a numpy array (..., F, n, n); see :func:`transfer_matrix_t`."""
    return transfer_matrix_t(W, freqs, sfreq).cpu().numpy()


def transfer_matrix_t(W, freqs: np.ndarray, sfreq: float) -> torch.Tensor:
    """H(f, t) = Lambda(f, t)^{-1} with Lambda(f, t) = I - sum_j w(j, t) e^{-i 2 pi f j / fs} (Eq.
    5-6).

    W: (..., p, n, n) lag matrices (any leading dims, e.g. time), numpy or torch (its device is
    kept). Returns H: (..., F, n, n) complex128 torch tensor; the n x n inversions are one batched
    LU solve (torch.linalg.solve), on the GPU when W is there.
    """
    W = _as_tensor(W)
    *lead, p, n, _ = W.shape
    f = torch.as_tensor(np.asarray(freqs, dtype=float), device=W.device)
    lags = torch.arange(1, p + 1, dtype=torch.float64, device=W.device)
    ang = -2 * np.pi * f[:, None] * lags[None, :] / sfreq  # (F, p)
    Wf = W.reshape(-1, p, n * n)
    # sum_j w(j) e^{-i 2 pi f j / fs} as two real matrix products (much faster than complex einsum)
    A = torch.complex(torch.cos(ang) @ Wf, torch.sin(ang) @ Wf)  # (M, F, n*n)
    eye = torch.eye(n, dtype=torch.complex128, device=W.device)
    Lam = eye - A.reshape(*lead, len(f), n, n)
    return torch.linalg.solve(Lam, eye.expand_as(Lam))


def adtf(W, freqs: np.ndarray, sfreq: float) -> np.ndarray:
    """Normalised ADTF gamma^2_ij(f, t) = |H_ij|^2 / sum_k |H_ik|^2 (Eq. 7): the share of node i's
    inflow at frequency f coming from node j; every row sums to 1. Shape (..., F, n, n), numpy."""
    H2 = transfer_matrix_t(W, freqs, sfreq).abs() ** 2
    return (H2 / H2.sum(dim=-1, keepdim=True)).cpu().numpy()


def integrated_adtf(W, freqs: np.ndarray, sfreq: float, chunk: int = 4096) -> np.ndarray:
    """Band-integrated ADTF theta^2_ij(t) = sum_{f=f1..f2} gamma^2_ij(f, t) / (f2 - f1) (Eq. 8).

    ``freqs`` are the integration frequencies (1 Hz steps from f1 to f2 in the chapter); the sum is
    divided by the band's width, so for 1 Hz steps the result is about the band's mean ADTF.
    W: (..., p, n, n) numpy or torch (computed in torch, batched, ``chunk`` coefficient sets at a
    time to bound memory). Returns (..., n, n) numpy.
    """
    freqs = np.asarray(freqs, dtype=float)
    if freqs.ndim != 1 or len(freqs) < 2:
        raise ValueError(f"freqs: need at least two integration frequencies, got {freqs}")
    W = _as_tensor(W)
    *lead, p, n, _ = W.shape
    flat = W.reshape(-1, p, n, n)
    out = []
    for k in range(0, flat.shape[0], chunk):
        H2 = transfer_matrix_t(flat[k : k + chunk], freqs, sfreq).abs() ** 2
        out.append((H2 / H2.sum(dim=-1, keepdim=True)).sum(dim=-3) / (freqs[-1] - freqs[0]))
    return torch.cat(out).reshape(*lead, n, n).cpu().numpy()


def integrated_adtf_numpy(W: np.ndarray, freqs: np.ndarray, sfreq: float) -> np.ndarray:
    """The same Eq. 5-8 in numpy (np.linalg.inv per (t, f)): the baseline of the speed comparison
    and the cross-check of the torch version. (..., p, n, n) -> (..., n, n)."""
    W = np.asarray(W, dtype=float)
    *lead, p, n, _ = W.shape
    f = np.asarray(freqs, dtype=float)
    ang = -2 * np.pi * f[:, None] * np.arange(1, p + 1)[None, :] / sfreq
    Wf = W.reshape(-1, p, n * n)
    A = (np.cos(ang) @ Wf) + 1j * (np.sin(ang) @ Wf)
    H2 = np.abs(np.linalg.inv(np.eye(n) - A.reshape(*lead, len(f), n, n))) ** 2
    return (H2 / H2.sum(axis=-1, keepdims=True)).sum(axis=-3) / (f[-1] - f[0])


def dtf_analytic(W: np.ndarray, freqs: np.ndarray, sfreq: float) -> np.ndarray:
    """The DTF of a known stationary VAR (W: (p, n, n)), the reference for tests. (F, n, n)."""
    return adtf(np.asarray(W)[None], freqs, sfreq)[0]


def phase_randomize(X: np.ndarray, n_surrogates: int, rng: np.random.Generator) -> np.ndarray:
    """Phase-randomised surrogates (Wilke et al., 2008): every channel of every trial gets its own
    uniformly random Fourier phases, its amplitude spectrum is kept exactly, so all cross-channel
    (causal) structure is destroyed while each spectrum stays.

    X: (trials, T, n). Returns (n_surrogates, trials, T, n).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 3:
        raise ValueError(f"phase_randomize: expected (trials, T, n), got shape {X.shape}")
    T = X.shape[1]
    F = np.fft.rfft(X, axis=1)
    ph = rng.uniform(0, 2 * np.pi, size=(n_surrogates, *F.shape))
    ph[:, :, 0] = 0.0  # keep the mean real
    if T % 2 == 0:
        ph[:, :, -1] = 0.0  # and the Nyquist bin
    return np.fft.irfft(np.abs(F)[None] * np.exp(1j * (np.angle(F)[None] + ph)), n=T, axis=2)


@dataclass(frozen=True)
class ADTFConfig:
    """ADTF analysis settings: band (f1, f2) in Hz for Eq. 8, surrogates, alpha (Bonferroni over the
    n(n-1) directed edges), analysis window (s; it starts before the stimulus so that tonic edges
    can be told from appearing ones) and the decimation of time points."""

    band: tuple = (1.0, 30.0)
    n_surrogates: int = 200
    alpha: float = 0.05
    window: tuple = (-0.1, 0.9)
    step: int = 2
    pool_time: bool = True

    @property
    def freqs(self) -> np.ndarray:
        return np.arange(self.band[0], self.band[1] + 0.5, 1.0)


@dataclass
class ADTFResult:
    """theta: (subjects, times, n, n) integrated ADTF; threshold: same shape, the subject's
    surrogate threshold; times: (times,) seconds."""

    theta: np.ndarray
    threshold: np.ndarray
    times: np.ndarray
    surrogate_theta: np.ndarray | None = None


def innovation_sd(X: np.ndarray, order: int = 4) -> np.ndarray:
    """Per-channel standard deviation of the one-step prediction error of a stationary VAR(order)
    fitted by least squares to every data set, all trials pooled.

    X: (..., trials, T, n). Returns (..., 1, 1, n) (broadcasts against X)."""
    X = np.asarray(X, dtype=float)
    *lead, K, T, n = X.shape
    if T <= order + 1:
        raise ValueError(f"innovation_sd: {T} samples cannot fit a VAR of order {order}")
    Xb = X.reshape(-1, K, T, n)
    unit = Xb.std(axis=(1, 2), keepdims=True).clip(1e-300)  # fit in unit scale
    Xb = Xb / unit
    Y = Xb[:, :, order:].reshape(len(Xb), -1, n)
    Z = np.concatenate([Xb[:, :, order - j : T - j] for j in range(1, order + 1)], axis=3)
    Z = Z.reshape(len(Xb), -1, n * order)
    G = Z.transpose(0, 2, 1) @ Z
    G += 1e-9 * np.trace(G, axis1=1, axis2=2)[:, None, None] * np.eye(n * order)
    B = np.linalg.solve(G, Z.transpose(0, 2, 1) @ Y)
    sd = np.sqrt(((Y - Z @ B) ** 2).mean(axis=1)) * unit[:, 0, 0]  # (M, n)
    sd = sd.clip(1e-12 * unit[:, 0, 0])
    return sd.reshape(*lead, 1, 1, n)


def normalize_trials(
    X: np.ndarray, times: np.ndarray | None = None, baseline=(None, 0.0), order: int = 4
) -> np.ndarray:
    """Normalisation before Eq. 4 ("the model was normalized", Section 2.9) that keeps the
    transfer's magnitude.

    1. the ensemble mean (the evoked part) is removed at every sample (across trials; a single
       trial loses its time mean instead);
    2. every channel is divided by ONE number: the innovation sd of a stationary VAR(``order``) over
       the pre-stimulus ``baseline`` (s; the whole epoch when ``times`` is None or the baseline is
       too short).

    Dividing by the across-trial sd at every sample (the former version) rescales each channel
    differently at every time point, which is not a transform the MVAR can absorb: on a planted
    time-varying MVAR it pulled theta(V1->STG) from the analytic 0.39 to 0.12. A constant
    per-channel scale is, and choosing it as the innovation sd makes the DTF independent of each
    ROI's arbitrary gain (the inverse's units) and equal to the analytic one for unit innovations.

    X: (..., trials, T, n). Returns the same shape.
    """
    X = np.asarray(X, dtype=float)
    K, T, n = X.shape[-3:]
    Xc = X - (X.mean(axis=-2, keepdims=True) if K < 2 else X.mean(axis=-3, keepdims=True))
    seg = Xc
    if times is not None:
        if len(times) != T:
            raise ValueError(f"normalize_trials: times has {len(times)} samples, X has {T}")
        lo = -np.inf if baseline[0] is None else baseline[0]
        k = (np.asarray(times) >= lo) & (np.asarray(times) <= baseline[1])
        if K * (k.sum() - order) >= 10 * n * order:
            seg = Xc[..., k, :]
    return Xc / innovation_sd(seg, order)


def _standardize(X, times=None):
    """Back-compatible name of :func:`normalize_trials`."""
    return normalize_trials(X, times)


def adtf_with_surrogates(
    X: np.ndarray,
    times: np.ndarray,
    sfreq: float,
    kalman,
    config: ADTFConfig,
    rng: np.random.Generator,
    keep_surrogates: bool = False,
) -> ADTFResult:
    """Integrated ADTF of every subject and its surrogate threshold (Section 2.9).

    X: (subjects, trials, T, n) ROI source time courses. ``kalman`` a KalmanConfig. Subjects and
    their surrogates go through the Kalman filter as one batch. The threshold for edge i<-j is the
    (1 - alpha / (n (n-1))) quantile of the surrogates' theta^2_ij, per time point, or pooled over
    the analysis window when ``config.pool_time`` (surrogates are stationary, so pooling gives a
    usable Bonferroni quantile with fewer than 200 surrogates).
    """
    from .mvar import kalman_mvar

    X = np.asarray(X, dtype=float)
    if X.ndim != 4:
        raise ValueError(
            f"adtf_with_surrogates: expected (subjects, trials, T, n), got shape {X.shape}"
        )
    if len(times) != X.shape[2]:
        raise ValueError(f"times has {len(times)} samples but X has {X.shape[2]}")
    S, K, T, n = X.shape
    Xn = normalize_trials(X, times)
    # (S, B, K, T, n)
    sur = np.stack([phase_randomize(Xn[s], config.n_surrogates, rng) for s in range(S)])
    # (S, 1+B, K, T, n)
    batch = np.concatenate([Xn[:, None], normalize_trials(sur, times)], axis=1)
    # (S, 1+B, T, p, n, n)
    W = kalman_mvar(batch, kalman)
    idx = np.where((times >= config.window[0] - 1e-9) & (times <= config.window[1] + 1e-9))[0][
        :: config.step
    ]
    # (S, 1+B, t, n, n)
    theta = integrated_adtf(W[:, :, idx], config.freqs, sfreq)
    q = 1 - config.alpha / (n * (n - 1))
    sur_theta = theta[:, 1:]
    if config.pool_time:
        thr = np.quantile(sur_theta.reshape(S, -1, n, n), q, axis=1)[:, None].repeat(len(idx), 1)
    else:
        thr = np.quantile(sur_theta, q, axis=1)
    return ADTFResult(theta[:, 0], thr, times[idx], sur_theta if keep_surrogates else None)


def group_network(res: ADTFResult, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Group-level edges: a one-sided Wilcoxon signed-rank test across subjects of
    theta^2_ij(t) - threshold_ij(t) > 0, Bonferroni over the n(n-1) edges.

    Returns (significant (times, n, n) bool with a False diagonal, p-values (times, n, n)).
    """
    d = res.theta - res.threshold
    S, Tn, n, _ = d.shape
    if S < 5:
        raise ValueError(
            f"group_network: a signed-rank test across {S} subjects cannot reach significance; "
            f"need >= 5"
        )
    flat = d.reshape(S, -1)
    pv = np.ones(flat.shape[1])
    nz = np.any(flat != 0, axis=0)
    pv[nz] = stats.wilcoxon(flat[:, nz], alternative="greater", axis=0).pvalue
    pv = pv.reshape(Tn, n, n)
    sig = pv < alpha / (n * (n - 1))
    sig[:, np.arange(n), np.arange(n)] = False
    pv[:, np.arange(n), np.arange(n)] = np.nan
    return sig, pv


def _runs(x: np.ndarray):
    """(start, length) of every run of True in a 1-D bool array."""
    out, start = [], None
    for t, v in enumerate(list(x) + [False]):
        if v and start is None:
            start = t
        elif not v and start is not None:
            out.append((start, t - start))
            start = None
    return out


def edge_onsets(
    sig: np.ndarray, times: np.ndarray, min_duration: float = 0.04, stimulus: float = 0.0
) -> np.ndarray:
    """Onset time (s) of every edge: the start of its first significant run that begins after the
    ``stimulus`` and lasts ``min_duration``; NaN if none. Runs that begin before the stimulus are
    *tonic* (present before anything happened: ongoing coupling or volume conduction) and are not
    an appearance -- the paper shows "the connection time points only when it changed".
    sig: (times, n, n) -> (n, n)."""
    Tn, n, _ = sig.shape
    dt = np.median(np.diff(times)) if Tn > 1 else 1.0
    need = max(1, int(round(min_duration / dt)) + 1)
    on = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            for start, length in _runs(sig[:, i, j]):
                if times[start] > stimulus and length >= need:
                    on[i, j] = times[start]
                    break
    return on


def tonic_edges(
    sig: np.ndarray, times: np.ndarray, min_duration: float = 0.04, stimulus: float = 0.0
) -> np.ndarray:
    """(n, n) bool: edges significant for ``min_duration`` before the stimulus (see edge_onsets)."""
    Tn, n, _ = sig.shape
    dt = np.median(np.diff(times)) if Tn > 1 else 1.0
    need = max(1, int(round(min_duration / dt)) + 1)
    out = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(n):
            out[i, j] = any(times[s] <= stimulus and ln >= need for s, ln in _runs(sig[:, i, j]))
    return out


def edge_labels(names, i, j) -> str:
    return f"{names[j]}→{names[i]}"


def network_events(onsets: np.ndarray, names) -> list[tuple[float, str]]:
    """Edges in the order they appear: [(onset s, 'source→target'), ...] (Figure 5's numbering)."""
    n = len(names)
    ev = [
        (float(onsets[i, j]), edge_labels(names, i, j))
        for i in range(n)
        for j in range(n)
        if i != j and np.isfinite(onsets[i, j])
    ]
    return sorted(ev)
