"""Multivariate (adaptive) autoregressive models: simulation, Schwarz order selection and the
Kalman-filter estimate of the time-varying coefficients of Eq. 4.

Eq. 4 of the paper: ``X(t) = sum_{j=1..p} w(j, t) X(t - j) + eta(t)``. Here a coefficient array
``W`` has shape ``(..., T, p, n, n)``: ``W[..., t, j-1]`` is ``w(j, t)`` (row = target, column =
source), so ``W[t, j-1, i, k] != 0`` means node k drives node i at lag j.

The Kalman filter treats every trial as one more observation of the same coefficient matrix at
time t (the multi-trial "general linear Kalman filter" of Milde et al., 2010, with the random-walk
state and adaptive measurement noise of Schlögl's MVAAR). It is vectorised over trials, channels
and any leading batch (subjects x surrogates): the only Python loop is over time samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "single_thread",
    "one_thread",
    "simulate_var",
    "stationary_var_fit",
    "select_order_bic",
    "KalmanConfig",
    "kalman_mvar",
    "kalman_mvar_numpy",
    "kalman_mvar_loop",
    "is_stable",
    "baccala_example",
]


class single_thread:
    """Run torch and BLAS on one thread inside the block (restored after). The Kalman filter and
    the source analysis issue many small LAPACK/BLAS calls; they gain little from threads and, on a
    shared machine, lose up to 10x to thread oversubscription (measured here: 5.7 s vs 57 s for
    201 Kalman fits, 1.8 s vs 12.7 s for mne's REST)."""

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        self._n = torch.get_num_threads()
        torch.set_num_threads(1)
        self._pool = threadpool_limits(1)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self._n)
        self._pool.unregister()
        return False


def one_thread(fn):
    """Decorator: run ``fn`` inside :class:`single_thread`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_thread():
            return fn(*args, **kwargs)

    return wrapper


def _check_data(X, name="X", min_len=None):
    X = np.asarray(X) if not torch.is_tensor(X) else X
    if X.ndim < 3:
        raise ValueError(
            f"{name}: expected (..., trials, samples, channels), got shape {tuple(X.shape)}"
        )
    bad = ~torch.isfinite(X) if torch.is_tensor(X) else ~np.isfinite(X)
    if bad.any():
        raise ValueError(
            f"{name}: contains {int(bad.sum())} NaN/inf values; clean or reject those epochs first"
        )
    if min_len is not None and X.shape[-2] < min_len:
        raise ValueError(
            f"{name}: epochs of {X.shape[-2]} samples are too short for a model of order "
            f"{min_len - 1}; need at least {min_len} samples"
        )
    return X


def is_stable(W: np.ndarray) -> bool:
    """True if the VAR with lag matrices ``W`` (p, n, n) has all companion eigenvalues inside
    |z|<1."""
    W = np.asarray(W)
    p, n, _ = W.shape
    comp = np.zeros((n * p, n * p))
    comp[:n] = np.concatenate(list(W), axis=1)
    comp[n:, :-n] = np.eye(n * (p - 1))
    return bool(np.max(np.abs(np.linalg.eigvals(comp))) < 1)


def simulate_var(
    W: np.ndarray, n_trials: int, rng: np.random.Generator, noise_std=1.0, burn_in: int = 200
) -> np.ndarray:
    """Simulate Eq. 4 with given coefficients.

    W: (p, n, n) stationary or (T, p, n, n) time-varying lag matrices. noise_std: scalar or (n,).
    Returns X: (n_trials, T, n). A time-varying model is started from ``burn_in`` samples of its
    first coefficient matrix, so every trial begins in its stationary state.
    """
    W = np.asarray(W, dtype=float)
    if W.ndim == 3:
        raise ValueError(
            "simulate_var: a stationary W needs a length; pass np.broadcast_to(W, (T, *W.shape))"
        )
    T, p, n, _ = W.shape
    sd = np.broadcast_to(np.asarray(noise_std, dtype=float), (n,))
    total = burn_in + T
    E = rng.standard_normal((n_trials, total, n)) * sd
    X = np.zeros((n_trials, total, n))
    Wfull = np.concatenate([np.broadcast_to(W[0], (burn_in, p, n, n)), W], axis=0)
    for t in range(total):
        acc = E[:, t].copy()
        for j in range(1, p + 1):
            if t - j >= 0:
                acc += X[:, t - j] @ Wfull[t, j - 1].T
        X[:, t] = acc
    return X[:, burn_in:]


def baccala_example() -> tuple[np.ndarray, np.ndarray]:
    """Baccalá & Sameshima (2001, Biol. Cybern., Example 4): a 5-channel stationary VAR(3).

    Returns (W (3, 5, 5), noise variances (5,)). x1 drives x2, x3, x4; x4 and x5 feed back on
    each other; nothing drives x1.
    """
    W = np.zeros((3, 5, 5))
    s2 = np.sqrt(2)
    W[0, 0, 0] = 0.95 * s2
    W[1, 0, 0] = -0.9025
    W[1, 1, 0] = 0.5
    W[2, 2, 0] = -0.4
    W[1, 3, 0] = -0.5
    W[0, 3, 3] = 0.25 * s2
    W[0, 3, 4] = 0.25 * s2
    W[0, 4, 3] = -0.25 * s2
    W[0, 4, 4] = 0.25 * s2
    return W, np.ones(5)


def _lagged(X: np.ndarray, p: int):
    """Regressors for Eq. 4: Y (trials*(T-p), n) and Z (trials*(T-p), n*p), lags ordered 1..p."""
    K, T, n = X.shape
    Y = X[:, p:].reshape(-1, n)
    Z = np.concatenate([X[:, p - j : T - j] for j in range(1, p + 1)], axis=2).reshape(-1, n * p)
    return Y, Z


def stationary_var_fit(X: np.ndarray, p: int):
    """Least-squares fit of a stationary VAR(p) pooled over trials.

    X: (trials, T, n). Returns (W (p, n, n), residual covariance (n, n)).
    """
    X = _check_data(np.asarray(X, dtype=float), min_len=p + 2)
    n = X.shape[-1]
    Y, Z = _lagged(X, p)
    B, *_ = np.linalg.lstsq(Z, Y, rcond=None)  # (n*p, n)
    resid = Y - Z @ B
    sigma = resid.T @ resid / len(Y)
    W = B.T.reshape(n, p, n).transpose(1, 0, 2)
    return W, sigma


def select_order_bic(X: np.ndarray, max_order: int = 10) -> tuple[int, np.ndarray]:
    """The model order p of Eq. 4 by the Schwarz Bayesian criterion (Schwarz, 1978).

    BIC(p) = ln det Sigma_p + ln(N) * p * n^2 / N with N the number of fitted samples; all orders
    are fitted on the same samples (the first ``max_order`` of each trial are dropped). Returns (p,
    BIC values for p = 1..max_order).
    """
    X = _check_data(np.asarray(X, dtype=float), min_len=max_order + 2)
    K, T, n = X.shape
    bics = []
    for p in range(1, max_order + 1):
        Xp = X[:, max_order - p :]
        W, sigma = stationary_var_fit(Xp, p)
        N = K * (T - max_order)
        _, logdet = np.linalg.slogdet(sigma)
        bics.append(logdet + np.log(N) * p * n * n / N)
    bics = np.array(bics)
    return int(np.argmin(bics)) + 1, bics


@dataclass(frozen=True)
class KalmanConfig:
    """Kalman MVAAR settings. ``uc``: update coefficient (random-walk variance of the coefficients
    and forgetting rate of the measurement noise, Schlögl's UC); ``p``: model order (Eq. 4)."""

    p: int = 3
    uc: float = 0.02
    p0: float = 1.0

    def __post_init__(self):
        if self.p < 1:
            raise ValueError(f"model order p must be >= 1, got {self.p}")
        if not 0 < self.uc < 1:
            raise ValueError(f"update coefficient uc must be in (0, 1), got {self.uc}")


def kalman_mvar(
    X, config: KalmanConfig = KalmanConfig(), dtype=torch.float64, device=None
) -> np.ndarray:
    """Time-varying coefficients w(j, t) of Eq. 4 by a multi-trial Kalman filter, batched.

    X: (..., trials, T, n) array (leading dims = independent data sets, e.g. subjects x surrogates).
    Returns W: (..., T, p, n, n); the first p samples repeat the first estimate.

    Per sample t (all trials observe the same state W_t, rows share one covariance P):
      P- = P + q I;   P = (P-^{-1} + Z^T Z / r)^{-1};   W^T += P Z^T (Y - Z W^T) / r
    which equals the usual gain form K = P- Z^T (Z P- Z^T + r I)^{-1} (Woodbury) but inverts an (n p
    x n p) matrix instead of a (trials x trials) one. q = uc * trace(P)/(n p), r is tracked with
    forgetting uc from the a-priori prediction error. The (n p x n p) inversions are batched
    Cholesky factorisations (torch.linalg.cholesky / cholesky_inverse); ``device`` (e.g. "cuda")
    runs the whole filter there.
    """
    with single_thread():
        return _kalman_mvar(X, config, dtype, device)


def _kalman_mvar(X, config: KalmanConfig, dtype, device=None) -> np.ndarray:
    Xt = torch.as_tensor(
        np.ascontiguousarray(_check_data(X, min_len=config.p + 2)), dtype=dtype, device=device
    )
    *lead, K, T, n = Xt.shape
    p = config.p
    d = n * p
    Xb = Xt.reshape(-1, K, T, n)
    B = Xb.shape[0]
    kw = {"dtype": dtype, "device": Xt.device}
    Wt = torch.zeros(B, d, n, **kw)  # W^T
    P = torch.eye(d, **kw).expand(B, d, d) * config.p0
    r = Xb[:, :, : p + 8].var(dim=(1, 2), correction=0).mean(-1).clamp_min(1e-12)  # (B,)
    eye = torch.eye(d, **kw)
    out = torch.zeros(B, T, d, n, **kw)
    uc = config.uc
    for t in range(p, T):
        z = Xb[:, :, t - p : t].flip(2).reshape(B, K, d)  # [x_{t-1}, ..., x_{t-p}] (B, K, d)
        y = Xb[:, :, t]  # (B, K, n)
        q = uc * torch.diagonal(P, dim1=1, dim2=2).mean(-1)
        Pm = P + q[:, None, None] * eye
        E = y - z @ Wt  # a-priori errors (B, K, n)
        r = (1 - uc) * r + uc * E.pow(2).mean(dim=(1, 2))
        A = (
            torch.cholesky_inverse(torch.linalg.cholesky(Pm))
            + z.transpose(1, 2) @ z / r[:, None, None]
        )
        L = torch.linalg.cholesky(0.5 * (A + A.transpose(1, 2)))
        P = torch.cholesky_inverse(L)
        Wt = Wt + P @ (z.transpose(1, 2) @ E) / r[:, None, None]
        out[:, t] = Wt
    out[:, :p] = out[:, p : p + 1]
    W = out.reshape(B, T, p, n, n).transpose(-1, -2)  # W^T blocks -> (T, p, n_target, n_source)
    # out[..., (j-1)*n + k, i] is the weight of x_k(t-j) on x_i(t): reshape gives [t, j, k, i]
    return W.reshape(*lead, T, p, n, n).cpu().numpy()


def kalman_mvar_numpy(X, config: KalmanConfig = KalmanConfig()) -> np.ndarray:
    """The filter of :func:`kalman_mvar` written in numpy, vectorised over trials and data sets
    exactly as the torch version (one Python loop over samples, batched np.linalg inversions):
    the fair baseline of the speed comparison. Same input and output."""
    X = np.asarray(_check_data(X, min_len=config.p + 2), dtype=float)
    *lead, K, T, n = X.shape
    p, uc = config.p, config.uc
    d = n * p
    Xb = X.reshape(-1, K, T, n)
    B = len(Xb)
    Wt = np.zeros((B, d, n))
    P = np.broadcast_to(np.eye(d) * config.p0, (B, d, d)).copy()
    r = Xb[:, :, : p + 8].var(axis=(1, 2)).mean(-1).clip(1e-12)
    out = np.zeros((B, T, d, n))
    eye = np.eye(d)
    for t in range(p, T):
        z = Xb[:, :, t - p : t][:, :, ::-1].reshape(B, K, d)
        y = Xb[:, :, t]
        q = uc * np.trace(P, axis1=1, axis2=2) / d
        Pm = P + q[:, None, None] * eye
        E = y - z @ Wt
        r = (1 - uc) * r + uc * (E**2).mean(axis=(1, 2))
        zt = z.transpose(0, 2, 1)
        A = np.linalg.inv(Pm) + zt @ z / r[:, None, None]
        P = np.linalg.inv(0.5 * (A + A.transpose(0, 2, 1)))
        Wt = Wt + P @ (zt @ E) / r[:, None, None]
        out[:, t] = Wt
    out[:, :p] = out[:, p : p + 1]
    W = out.reshape(B, T, p, n, n).swapaxes(-1, -2)
    return W.reshape(*lead, T, p, n, n)


def kalman_mvar_loop(X, config: KalmanConfig = KalmanConfig()) -> np.ndarray:
    """The same filter as :func:`kalman_mvar` for one data set, written as the textbook loop:
    per sample and per trial a sequential Kalman update with the gain form (the baseline for the
    speed comparison; equal to the batched filter up to rounding)."""
    X = np.asarray(_check_data(X, min_len=config.p + 2), dtype=float)
    if X.ndim != 3:
        raise ValueError(f"kalman_mvar_loop: expected (trials, T, n), got {X.shape}")
    K, T, n = X.shape
    p, uc = config.p, config.uc
    d = n * p
    Wt = np.zeros((d, n))
    P = np.eye(d) * config.p0
    r = X[:, : p + 8].var(axis=(0, 1)).mean()
    out = np.zeros((T, d, n))
    for t in range(p, T):
        Pm = P + uc * np.trace(P) / d * np.eye(d)
        zs = [np.concatenate([X[k, t - j] for j in range(1, p + 1)]) for k in range(K)]
        err2 = 0.0
        for k in range(K):
            e = X[k, t] - zs[k] @ Wt
            err2 += float(e @ e)
        r = (1 - uc) * r + uc * err2 / (K * n)
        for k in range(K):  # sequential processing of the K observations
            z = zs[k]
            e = X[k, t] - z @ Wt
            s = z @ Pm @ z + r
            g = Pm @ z / s
            Wt = Wt + np.outer(g, e)
            Pm = Pm - np.outer(g, z @ Pm)
        P = Pm
        out[t] = Wt
    out[:p] = out[p]
    return out.reshape(T, p, n, n).transpose(0, 1, 3, 2)
