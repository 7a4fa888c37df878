"""Shape bases from 3D training shapes by the elastic-net sparse model (Eq. 5-9).

    min_{N, X} 1/2 ||A - N X||_F^2 + lam (tau ||X||_1 + (1 - tau) ||X||_F^2)
    s.t. ||N_i||_2 <= 1 (columns), X >= 0                                               (Eq. 5)

A (3p x F) holds the Procrustes-aligned, centred training shapes (one column per frame, each
scaled to unit norm so that ``lam`` does not depend on the data's units). ``tau = 1`` is the pure
l1 (lasso) dictionary of Zhou et al., the bases of the CRA baseline.

Two solvers:
* ``"palm"`` (default): proximal alternating linearised minimisation. The X step is a proximal
  gradient step with step 1/L_X (L_X = ||N^T N||_2 + 2 lam (1 - tau)), whose prox is
  max(0, . - step lam tau); the N step is a projected gradient step with step 1/||X X^T||_2 and
  projection onto the unit ball, column by column. Each step is a majorise-minimise step, so the
  objective never increases (Bolte, Sabach & Teboulle 2014). The X step can take several
  FISTA iterations with a monotone safeguard (MFISTA, Beck & Teboulle 2009).
* ``"gradient"``: the paper's plain gradient steps (Eq. 6-9) with fixed steps phi1, phi2, followed
  by the projections the constraints of Eq. 5 need; no descent guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.device import single_thread
from .data import center, procrustes_align


@dataclass(frozen=True)
class BasisConfig:
    """Elastic-net dictionary learning (Eq. 5). ``tau=1``: the l1-only dictionary (CRA).

    The solver stops when the objective's relative change over one iteration falls below
    ``rel_tol`` or after ``iterations`` iterations (``ShapeBases.converged`` says which)."""

    num_bases: int = 16
    lam: float = 0.05
    tau: float = 0.5
    iterations: int = 3000  # the cap; the run stops earlier on ``rel_tol``
    rel_tol: float = 1e-6  # stop when |f_t - f_(t-1)| / f_t < rel_tol (0: run the cap)
    method: str = "palm"  # "palm" (monotone) | "gradient" (the paper's Eq. 8-9)
    inner_x: int = 5  # MFISTA iterations per X step ("palm")
    phi1: float = 0.05  # the paper's fixed steps ("gradient")
    phi2: float = 0.0005
    max_train_shapes: int | None = 3000

    @classmethod
    def lasso(cls, **kw) -> "BasisConfig":
        """Zhou et al.'s l1 dictionary, the bases of CRA (tau = 1)."""
        return cls(tau=1.0, **kw)

    @classmethod
    def elastic_net(cls, tau: float = 0.5, **kw) -> "BasisConfig":
        """The MCM-RR bases (Eq. 5 with 0 < tau < 1)."""
        return cls(tau=tau, **kw)


@dataclass
class ShapeBases:
    """B: (K, 3, p) shape bases B_i (columns of N re-arranged); X: (K, F) training codes;
    objective: Eq. 5 after each iteration; mean_norm: the training shapes' mean norm."""

    B: torch.Tensor
    X: torch.Tensor
    objective: list = field(default_factory=list)
    config: BasisConfig | None = None
    converged: bool = False

    @property
    def iterations(self) -> int:
        return len(self.objective) - 1

    def active_codes(self, threshold: float = 1e-8) -> float:
        """Mean number of non-zero training codes per frame (the sparsity of X)."""
        return float((self.X > threshold).sum(0).double().mean())

    @property
    def num_bases(self) -> int:
        return self.B.shape[0]

    def stacked(self) -> torch.Tensor:
        """B~ = [B_1; ...; B_K], (3K, p) (Eq. 10)."""
        return self.B.reshape(-1, self.B.shape[-1])


def training_matrix(shapes: np.ndarray, max_shapes: int | None = None) -> torch.Tensor:
    """A (3p x F) from 3D training shapes (F, 3, p): centred, Procrustes-aligned to a common frame,
    each scaled to unit Frobenius norm. ``max_shapes`` keeps evenly spaced frames."""
    if shapes.ndim != 3 or shapes.shape[1] != 3:
        raise ValueError(f"training shapes must be (F, 3, p), got {shapes.shape}")
    if max_shapes is not None and len(shapes) > max_shapes:
        shapes = shapes[np.linspace(0, len(shapes) - 1, max_shapes).round().astype(int)]
    X = procrustes_align(center(shapes))
    X = X / np.linalg.norm(X, axis=(1, 2), keepdims=True)
    F, _, p = X.shape
    # column f = (x_1 y_1 z_1 ... )? keep B_i as (3, p) blocks: row-major (3, p) flattening
    return torch.as_tensor(X.reshape(F, 3 * p).T.copy(), dtype=torch.float64)


def elastic_net_objective(
    A: torch.Tensor, N: torch.Tensor, X: torch.Tensor, lam: float, tau: float
) -> float:
    """Eq. 5: 1/2 ||A - N X||_F^2 + lam (tau ||X||_1 + (1 - tau) ||X||_F^2)."""
    R = A - N @ X
    return float(0.5 * (R * R).sum() + lam * (tau * X.abs().sum() + (1 - tau) * (X * X).sum()))


def project_columns_unit_ball(N: torch.Tensor) -> torch.Tensor:
    """Projection onto {||N_i|| <= 1 for every column i} (the constraint of Eq. 5)."""
    return N / N.norm(dim=0, keepdim=True).clamp_min(1.0)


def prox_nonneg_l1(V: torch.Tensor, t: float) -> torch.Tensor:
    """prox of t ||X||_1 + indicator(X >= 0): max(V - t, 0)."""
    return (V - t).clamp_min(0.0)


def _spectral_sq(M: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(M, ord=2)) ** 2


def learn_shape_bases(
    shapes: np.ndarray, config: BasisConfig = BasisConfig(), seed: int = 0
) -> ShapeBases:
    """Learn K shape bases from 3D training shapes (F, 3, p) by Eq. 5; returns ShapeBases with the
    objective of Eq. 5 after every iteration (non-increasing for ``method="palm"``)."""
    if config.method not in ("palm", "gradient"):
        raise ValueError(f"method must be 'palm' or 'gradient', got {config.method!r}")
    if not 0.0 <= config.tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {config.tau}")
    with single_thread("cpu"):
        A = training_matrix(shapes, config.max_train_shapes)
        return learn_from_matrix(A, shapes.shape[2], config, seed)


def learn_from_matrix(
    A: torch.Tensor, num_points: int, config: BasisConfig, seed: int = 0
) -> ShapeBases:
    """Eq. 5 on a given A (3p x F); see ``learn_shape_bases``."""
    K, lam, tau = config.num_bases, config.lam, config.tau
    F = A.shape[1]
    if K > F:
        raise ValueError(f"num_bases={K} exceeds the number of training shapes ({F})")
    g = torch.Generator().manual_seed(seed)
    N = A[:, torch.randperm(F, generator=g)[:K]].clone()  # init: K training shapes
    N = project_columns_unit_ball(N)
    X = (N.T @ A).clamp_min(0.0) / K
    hist = [elastic_net_objective(A, N, X, lam, tau)]
    converged = False
    for _ in range(config.iterations):
        if config.method == "gradient":
            # Eq. 6 (with the sign of the data term's gradient and the all-ones matrix for I_KF)
            gX = -N.T @ (A - N @ X) + lam * (tau * torch.ones_like(X) + 2 * (1 - tau) * X)
            X = (X - config.phi1 * gX).clamp_min(0.0)  # Eq. 8, then X >= 0
            gN = -(A - N @ X) @ X.T  # Eq. 7
            # Eq. 9, then ||N_i|| <= 1
            N = project_columns_unit_ball(N - config.phi2 * gN)
        else:
            X = _x_step_mfista(A, N, X, lam, tau, config.inner_x)
            L_N = max(_spectral_sq(X), 1e-12)
            N = project_columns_unit_ball(N + (A - N @ X) @ X.T / L_N)
        hist.append(elastic_net_objective(A, N, X, lam, tau))
        if config.rel_tol > 0 and abs(hist[-2] - hist[-1]) < config.rel_tol * abs(hist[-1]):
            converged = True
            break
    B = N.T.reshape(K, 3, num_points).contiguous()
    return ShapeBases(B, X, hist, config, converged)


def _x_step_mfista(A, N, X, lam, tau, iters):
    """Monotone FISTA on the X sub-problem (N fixed): smooth part 1/2||A - NX||^2 +
    lam (1-tau) ||X||^2, nonsmooth part lam tau ||X||_1 + [X >= 0]. Never increases Eq. 5."""
    NtN, NtA = N.T @ N, N.T @ A
    L = _spectral_sq(N) + 2 * lam * (1 - tau)
    step = 1.0 / max(L, 1e-12)

    def f(Xv):
        R = A - N @ Xv
        return 0.5 * (R * R).sum() + lam * (tau * Xv.sum() + (1 - tau) * (Xv * Xv).sum())

    x_best, f_best = X, f(X)
    y, t = X, 1.0
    for _ in range(max(iters, 1)):
        grad = NtN @ y - NtA + 2 * lam * (1 - tau) * y
        z = prox_nonneg_l1(y - step * grad, step * lam * tau)
        fz = f(z)
        x_prev = x_best
        if fz <= f_best:
            x_best, f_best = z, fz
        t_new = (1 + (1 + 4 * t * t) ** 0.5) / 2
        y = x_best + (t / t_new) * (z - x_best) + ((t - 1) / t_new) * (x_best - x_prev)
        t = t_new
    return x_best


def elastic_net_codes(
    A: torch.Tensor,
    N: torch.Tensor,
    lam: float,
    tau: float,
    iters: int = 2000,
    X0: torch.Tensor | None = None,
) -> torch.Tensor:
    """The codes X of Eq. 5 for a fixed dictionary N (the X step run to convergence):
    argmin_{X >= 0} 1/2 ||A - N X||_F^2 + lam (tau ||X||_1 + (1 - tau) ||X||_F^2), column by
    column the non-negative elastic net. A: (3p, F), N: (3p, K). Returns X (K, F)."""
    if A.ndim != 2 or N.ndim != 2 or A.shape[0] != N.shape[0]:
        raise ValueError(
            f"A (3p, F) and N (3p, K) must share their rows, got {tuple(A.shape)}, {tuple(N.shape)}"
        )
    X = X0 if X0 is not None else torch.zeros(N.shape[1], A.shape[1], dtype=A.dtype)
    return _x_step_mfista(A, N, X, lam, tau, iters)
