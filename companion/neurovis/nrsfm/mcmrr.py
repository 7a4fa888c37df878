"""MCM-RR: 3D shape and motion from 2D landmarks by ALM/ADMM (Eq. 10-22), batched over frames.

Model (Eq. 1-4): S = sum_i c_i R_i B_i, W = sum_i M_i B_i with M_i = c_i R~_i (2 x 3),
M_i M_i^T = c_i^2 I_2. The convex relaxation replaces the orthogonality by the spectral norm:

    min_{M~, Z} 1/2 ||W - Z B~||_F^2 + alpha sum_i ||M_i||_2 + beta/2 ||Z D||_F^2 s.t. M~ = Z
    (Eq. 10)

with D = D-bar (x) I_3 (Eq. 11) and d_i = exp(||W - Pi B_i|| / (2 gamma^2)) (Eq. 12). beta = 0 is
Zhou et al.'s convex relaxation (CRA). All frames of a sequence are solved at once: every tensor
carries the frame as its leading dimension, and each frame keeps its own mu and stops on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.device import single_thread
from .bases import ShapeBases


OUTPUTS = ("per-basis", "sync", "refine")


@dataclass(frozen=True)
class ALMConfig:
    """Weights and stopping rule of Eq. 10-21.

    alpha: weight of the spectral norms; beta: weight of the similarity term (0 = CRA);
    gamma2: gamma^2 of Eq. 12; tol: epsilon of Eq. 21; mu_ratio: the 10 of Eq. 19 / Algorithm 1;
    max_iter: Algorithm 1's 1000; similarity: "projection" (Eq. 12 as printed, on shapes scaled to
    unit norm) or "aligned" (the basis seen from its best-fitting camera, see
    ``similarity_weights``);
    sync_iters: alternating-minimisation rounds of Eq. 22; output: how S is built from M~
    (``OUTPUTS``: "per-basis" (default, Zhou et al.'s code), "sync" (Eq. 22 only), "refine"
    (Eq. 22 then the non-convex refinement of Algorithm 1, line 20)).
    """

    alpha: float = 0.1
    beta: float = 0.0
    gamma2: float = 0.5
    tol: float = 1e-3
    mu_ratio: float = 10.0
    max_iter: int = 1000
    similarity: str = "projection"
    sync_iters: int = 20
    scaled_dual: bool = False
    relative: bool = False
    output: str = "per-basis"

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")

    @classmethod
    def cra(cls, alpha: float = 0.1, **kw) -> "ALMConfig":
        """Zhou et al.'s convex relaxation: no similarity term."""
        return cls(alpha=alpha, beta=0.0, **kw)

    @classmethod
    def mcmrr(
        cls, alpha: float = 0.1, beta: float = 0.05, gamma2: float = 0.5, **kw
    ) -> "ALMConfig":
        """Eq. 10 with the similarity term."""
        return cls(alpha=alpha, beta=beta, gamma2=gamma2, **kw)


@dataclass
class ALMResult:
    """M: (F, 2, 3K) the motion matrices M~; iterations: (F,) ADMM iterations until Eq. 21;
    history: {"delta1", "delta2", "mu"}: (T, F) arrays (NaN once a frame has stopped)."""

    M: torch.Tensor
    iterations: torch.Tensor
    history: dict = field(default_factory=dict)


@dataclass
class Reconstruction:
    """S: (F, 3, p) camera-frame 3D shapes (Eq. 1), c: (F, K), R: (F, K, 3, 3) one rotation per
    basis ("per-basis" output) or (F, 3, 3) one for all ("sync", "refine"), alm: ALMResult."""

    S: np.ndarray
    c: np.ndarray
    R: np.ndarray
    alm: ALMResult


# ---------------------------------------------------------------------------------------------
# proximal operators (Eq. 14-15)
# ---------------------------------------------------------------------------------------------


def project_l1_ball(v: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """Euclidean projection of each vector v[..., :] onto {x : ||x||_1 <= radius} (Duchi et al.
    2008, sort-based); the P_l1 of Eq. 15."""
    a = v.abs()
    inside = a.sum(-1, keepdim=True) <= radius
    u, _ = torch.sort(a, dim=-1, descending=True)
    css = u.cumsum(-1) - radius
    j = torch.arange(1, v.shape[-1] + 1, dtype=v.dtype, device=v.device)
    cond = (u - css / j) > 0
    rho = cond.to(v.dtype).cumsum(-1).argmax(-1, keepdim=True)  # last index where cond holds
    theta = css.gather(-1, rho) / (rho + 1).to(v.dtype)
    proj = torch.sign(v) * (a - theta).clamp_min(0.0)
    return torch.where(inside, v, proj)


def prox_spectral_norm(
    P: torch.Tensor, t: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin_M 1/2 ||M - P||_F^2 + t ||M||_2 for each matrix P[..., :, :] (Eq. 14-15):
    M = U diag(s - t P_l1(s / t)) V^T with U diag(s) V^T = svd(P) (Moreau: the dual of the
    spectral norm is the nuclear norm, whose unit ball is the l1 ball of singular values).

    t: scalar or a tensor broadcastable to P.shape[:-2]. Returns (M, ||M||_2).
    """
    t = torch.as_tensor(t, dtype=P.dtype, device=P.device)
    t = t.expand(P.shape[:-2]).unsqueeze(-1)
    U, s, Vh = torch.linalg.svd(P, full_matrices=False)
    s_new = s - t * project_l1_ball(s / t)
    return (U * s_new.unsqueeze(-2)) @ Vh, s_new.amax(-1)


# ---------------------------------------------------------------------------------------------
# the similarity matrix (Eq. 11-12)
# ---------------------------------------------------------------------------------------------


def _unit(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(-1, keepdim=True)
    return x / x.flatten(-2).norm(dim=-1).clamp_min(1e-12)[..., None, None]


def polar_2x3(G: torch.Tensor) -> torch.Tensor:
    """Nearest matrix with orthonormal rows to each G[..., 2, 3] (the polar factor U V^T of its
    SVD), in closed form. With A = G G^T (2 x 2), s1, s2 the singular values of G and
    s = sqrt(det A) = s1 s2: sqrt(A) = (A + s I) / (s1 + s2), so
    U V^T = A^(-1/2) G = adj(A + s I) G / (s (s1 + s2)). Needs rank(G) = 2 (clamped otherwise).
    """
    A = G @ G.mT
    a, b, c = A[..., 0, 0], A[..., 0, 1], A[..., 1, 1]
    s = torch.sqrt((a * c - b * b).clamp_min(0.0))
    tau = torch.sqrt((a + c + 2 * s).clamp_min(0.0))  # s1 + s2
    adj = torch.stack([torch.stack([c + s, -b], -1), torch.stack([-b, a + s], -1)], -2)
    return (adj @ G) / (s * tau).clamp_min(1e-300)[..., None, None]


def _polar_rows(G: torch.Tensor) -> torch.Tensor:
    """Nearest matrix with orthonormal rows (2 x 3) to each G[..., 2, 3]: ``polar_2x3``."""
    return polar_2x3(G)


def similarity_weights(
    W: torch.Tensor,
    B: torch.Tensor,
    gamma2: float,
    mode: str = "projection",
    iters: int = 10,
    relative: bool = False,
) -> torch.Tensor:
    """d_i of Eq. 12 for every frame and basis: (F, K), each >= 1.

    W: (F, 2, p), B: (K, 3, p). Both are centred and scaled to unit Frobenius norm first (the
    paper's formula compares raw W, in image units, with a unit-norm basis; without the scaling
    every d_i would be the same). ``mode="projection"``: Pi B_i, the (x, y) rows of the basis, as
    printed. ``mode="aligned"``: the basis seen from its best camera, min over 2 x 3 R with
    orthonormal rows and scale s > 0 of ||W^ - s R B^_i|| (s in closed form, R by majorise-minimise
    steps R <- polar(W^ B^T / s + R (l I - B^ B^T))), then the distance of W^ to unit(R B^_i).
    """
    if gamma2 <= 0:
        raise ValueError(f"gamma2 must be positive, got {gamma2}")
    Wn, Bn = _unit(W), _unit(B)
    if mode == "projection":
        diff = Wn[:, None] - _unit(Bn[:, :2])[None]
    elif mode == "aligned":
        WBt = torch.einsum("fap,kbp->fkab", Wn, Bn)  # (F, K, 2, 3)
        G = Bn @ Bn.mT  # (K, 3, 3)
        lmax = torch.linalg.eigvalsh(G)[..., -1]
        eye = torch.eye(3, dtype=W.dtype, device=W.device)
        R = _polar_rows(WBt)
        # min over R and s > 0 of ||W^ - s R B^||: s in closed form, R by MM
        for _ in range(iters):
            RB = torch.einsum("fkab,kbp->fkap", R, Bn)
            s = (
                (Wn[:, None] * RB).sum((-2, -1)) / (RB * RB).sum((-2, -1)).clamp_min(1e-12)
            ).clamp_min(1e-6)
            R = _polar_rows(WBt / s[..., None, None] + R @ (lmax[:, None, None] * eye - G))
        diff = Wn[:, None] - _unit(torch.einsum("fkab,kbp->fkap", R, Bn))
    else:
        raise ValueError(f"similarity mode must be 'projection' or 'aligned', got {mode!r}")
    dist = diff.flatten(-2).norm(dim=-1)
    if relative:  # distances measured from each frame's most similar basis: min_i d_i = 1
        dist = dist - dist.amin(dim=1, keepdim=True)
    return torch.exp(dist / (2.0 * gamma2))


# ---------------------------------------------------------------------------------------------
# ADMM steps (Eq. 14-20)
# ---------------------------------------------------------------------------------------------


def singular_values_2x3(P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(s1, s2, P P^T) for each P[..., 2, 3], s1 >= s2 >= 0, from the 2 x 2 Gram matrix."""
    G = P @ P.mT
    a, b, c = G[..., 0, 0], G[..., 0, 1], G[..., 1, 1]
    half, r = (a + c) / 2, torch.sqrt(((a - c) / 2) ** 2 + b**2)
    return torch.sqrt(half + r), torch.sqrt((half - r).clamp_min(0.0)), G


def project_l1_ball_2(v: torch.Tensor) -> torch.Tensor:
    """P_l1 of Eq. 15 for sorted non-negative 2-vectors v[..., :] (v1 >= v2 >= 0), in closed form:
    v itself if v1 + v2 <= 1; the vertex (1, 0) if v1 - v2 >= 1; else ((1 + v1 - v2) / 2,
    (1 - v1 + v2) / 2) (equals ``project_l1_ball`` on such vectors, without a sort)."""
    v1, v2 = v[..., 0], v[..., 1]
    gap = v1 - v2
    mid = torch.stack([(1 + gap) / 2, (1 - gap) / 2], -1)
    vertex = torch.stack([torch.ones_like(v1), torch.zeros_like(v2)], -1)
    out = torch.where((gap >= 1)[..., None], vertex, mid)
    return torch.where((v1 + v2 <= 1)[..., None], v, out)


def prox_spectral_norm_2x3(P: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Eq. 15 in closed form for 2 x 3 blocks (what the batched solver uses; equals
    ``prox_spectral_norm``). With s1 >= s2 the singular values of P and pi = P_l1(s / t)
    (``project_l1_ball_2``), the new singular values s - t pi fall in three cases (as in Zhou et
    al.'s ``prox_2norm``):

    * s1 + s2 <= t: M = 0;
    * s1 - s2 >= t: only s1 shrinks, M = P - t u1 v1^T = P - (t / s1) u1 u1^T P, with the
      projector u1 u1^T = (P P^T - s2^2 I) / (s1^2 - s2^2) (s1 > s2 here);
    * otherwise both become m = (s1 + s2 - t) / 2: M = m U V^T = m ``polar_2x3``(P).

    No SVD and no sort. P: (..., 2, 3); t: broadcastable to P.shape[:-2].
    """
    t = torch.as_tensor(t, dtype=P.dtype, device=P.device).expand(P.shape[:-2])
    s1, s2, G = singular_values_2x3(P)
    eye = torch.eye(2, dtype=P.dtype, device=P.device)
    gap = (s1 * s1 - s2 * s2).clamp_min(1e-300)[..., None, None]
    proj1 = (G - (s2 * s2)[..., None, None] * eye) / gap
    shrink_top = P - (t / s1.clamp_min(1e-300))[..., None, None] * (proj1 @ P)
    equal = ((s1 + s2 - t) / 2).clamp_min(0.0)[..., None, None] * polar_2x3(P)
    M = torch.where((s1 - s2 >= t)[..., None, None], shrink_top, equal)
    return torch.where((s1 + s2 <= t)[..., None, None], torch.zeros_like(P), M)


def update_M(Z: torch.Tensor, Y: torch.Tensor, mu: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. 14-15: M_i = prox of (alpha/mu)||.||_2 at P_i, the i-th column triple of Z - Y/mu.
    Z, Y: (F, 2, 3K); mu: (F,). Returns M~ (F, 2, 3K)."""
    F, _, k3 = Z.shape
    P = (Z - Y / mu[:, None, None]).reshape(F, 2, k3 // 3, 3).transpose(1, 2)  # (F, K, 2, 3)
    M = prox_spectral_norm_2x3(P, (alpha / mu)[:, None])
    return M.transpose(1, 2).reshape(F, 2, k3)


def update_Z(
    WBt: torch.Tensor,
    BBt: torch.Tensor,
    M: torch.Tensor,
    Y: torch.Tensor,
    mu: torch.Tensor,
    beta: float = 0.0,
    D2: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 17 as printed: Z = (W B~^T + mu M~ + Y)(B~ B~^T + mu I + beta D D^T)^-1, by one linear
    solve per frame (the reference; the solver uses the equivalent ``ZSystem``).

    WBt: (F, 2, 3K); BBt: (3K, 3K); M, Y: (F, 2, 3K); mu: (F,); D2: (F, 3K) the squared diagonal
    of D (Eq. 11) or None.
    """
    rhs = WBt + mu[:, None, None] * M + Y
    diag = mu[:, None].expand(-1, BBt.shape[0])
    if beta and D2 is not None:
        diag = diag + beta * D2
    A = BBt + torch.diag_embed(diag)
    return torch.linalg.solve(A, rhs.mT).mT


class ZSystem:
    """Eq. 17 for many frames and a changing mu, by the Woodbury identity.

    Z = rhs (B~ B~^T + Delta)^-1 with Delta = diag(mu + beta d^2) (3K x 3K, diagonal; d^2 the
    squared diagonal of D, Eq. 11) and B~ (3K x p) of rank <= p, so

        (Delta + B~ B~^T)^-1 = Delta^-1 - Delta^-1 B~ H^-1 B~^T Delta^-1,
        H = I_p + B~^T Delta^-1 B~  (p x p, eigenvalues >= 1).

    Each iteration costs two products with the shared B~ and one small p x p product per frame;
    H^-1 is refreshed (batched Cholesky) only for the frames whose mu changed. CRA (beta = 0) and
    MCM-RR run the *same* solver; the similarity term only changes Delta.
    """

    def __init__(
        self, Bt: torch.Tensor, num_frames: int, beta: float = 0.0, D2: torch.Tensor | None = None
    ):
        self.Bt = Bt  # (3K, p)
        k3, p = Bt.shape
        self.outer = torch.einsum("jp,jq->jpq", Bt, Bt).reshape(k3, p * p)  # rows b_j b_j^T
        if beta and D2 is not None:
            extra = beta * D2
        else:
            extra = torch.zeros(num_frames, k3, dtype=Bt.dtype, device=Bt.device)
        self.extra = extra  # (F, 3K)
        self.mu = torch.full((num_frames,), float("nan"), dtype=Bt.dtype, device=Bt.device)
        self.Hinv = torch.zeros(num_frames, p, p, dtype=Bt.dtype, device=Bt.device)

    def _refresh(self, index: torch.Tensor, mu: torch.Tensor) -> None:
        inv_delta = 1.0 / (self.extra[index] + mu[:, None])
        p = self.Bt.shape[1]
        eye = torch.eye(p, dtype=mu.dtype, device=mu.device)
        H = (inv_delta @ self.outer).reshape(-1, p, p) + eye
        self.Hinv[index] = torch.cholesky_inverse(torch.linalg.cholesky(H))
        self.mu[index] = mu

    def solve(
        self, rhs: torch.Tensor, mu: torch.Tensor, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Z = rhs (B~ B~^T + diag(mu + beta d^2))^-1 for rhs (F', 2, 3K), mu (F',); ``index``
        (F',) names the frames when F' < F."""
        if index is None:
            index = torch.arange(rhs.shape[0], device=rhs.device)
        changed = self.mu[index] != mu
        if bool(changed.any()):
            self._refresh(index[changed], mu[changed])
        inv_delta = 1.0 / (self.extra[index] + mu[:, None])  # (F', 3K)
        u = rhs * inv_delta[:, None, :]
        v = (u @ self.Bt) @ self.Hinv[index]  # (F', 2, p)
        return u - (v @ self.Bt.T) * inv_delta[:, None, :]


def update_mu(
    mu: torch.Tensor, delta1: torch.Tensor, delta2: torch.Tensor, ratio: float = 10.0
) -> torch.Tensor:
    """Eq. 19: mu x 2 where delta1 > ratio delta2, mu / 2 where delta2 > ratio delta1."""
    mu = torch.where(delta1 > ratio * delta2, 2 * mu, mu)
    return torch.where(delta2 > ratio * delta1, mu / 2, mu)


def solve_alm(
    W: torch.Tensor,
    bases: ShapeBases,
    config: ALMConfig,
    D2: torch.Tensor | None = None,
    record_history: bool = True,
) -> ALMResult:
    """Algorithm 1, lines 3-18, for all frames at once. W: (F, 2, p) centred observations.

    Initialisation (the paper leaves it open): mu_0 = 1 / mean|W| (Zhou et al.), Z_0 the ridge
    solution of Eq. 17 with M = Y = 0, M_0 = Z_0, Y_0 = 0. Each frame stops when delta1 and delta2
    (Eq. 20) are both below ``tol`` (Eq. 21), or after ``max_iter`` iterations.
    """
    dtype, device = W.dtype, W.device
    Bt = bases.stacked().to(device=device, dtype=dtype)  # (3K, p)
    WBt = W @ Bt.T  # (F, 2, 3K)
    F = W.shape[0]
    mu = 1.0 / W.abs().flatten(1).mean(1).clamp_min(1e-12)  # (F,)
    system = ZSystem(Bt, F, config.beta, D2)
    Z = system.solve(WBt, mu)
    M, Y = Z.clone(), torch.zeros_like(Z)
    iters = torch.full((F,), config.max_iter, dtype=torch.long, device=device)
    active = torch.arange(F, device=device)
    hist = {"delta1": [], "delta2": [], "mu": []}
    for t in range(config.max_iter):
        if active.numel() == 0:
            break
        full = active.numel() == F
        Za, Ya, mua = (Z, Y, mu) if full else (Z[active], Y[active], mu[active])
        Ma = update_M(Za, Ya, mua, config.alpha)  # Eq. 15
        rhs = (WBt if full else WBt[active]) + mua[:, None, None] * Ma + Ya
        Zn = system.solve(rhs, mua, None if full else active)  # Eq. 17
        Yn = Ya + mua[:, None, None] * (Ma - Zn)  # Eq. 18
        zn = Za.flatten(1).norm(dim=1).clamp_min(1e-12)
        d1 = (Ma - Zn).flatten(1).norm(dim=1) / zn  # Eq. 20
        d2 = (Zn - Za).flatten(1).norm(dim=1) / zn
        if config.scaled_dual:  # Zhou et al.'s code scales the dual residual by mu
            d2 = d2 * mua
        done = (d1 < config.tol) & (d2 < config.tol)  # Eq. 21
        mun = torch.where(done, mua, update_mu(mua, d1, d2, config.mu_ratio))  # Eq. 19
        if record_history:
            for key, val in (("delta1", d1), ("delta2", d2), ("mu", mua)):
                row = torch.full((F,), float("nan"), dtype=dtype, device=device)
                row[active] = val
                hist[key].append(row)
        if full:
            M, Z, Y, mu = Ma, Zn, Yn, mun
        else:
            M[active], Z[active], Y[active], mu[active] = Ma, Zn, Yn, mun
        iters[active[done]] = t + 1
        active = active[~done]
    history = {k: torch.stack(v).cpu().numpy() if v else np.zeros((0, F)) for k, v in hist.items()}
    return ALMResult(M, iters, history)


# ---------------------------------------------------------------------------------------------
# rotation synchronisation (Eq. 22) and the shape (Eq. 1)
# ---------------------------------------------------------------------------------------------


def sync_rotation(M: torch.Tensor, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 22: min_{c, R} sum_i ||M_i - c_i R||_F^2 s.t. R R^T = I_2, by alternating minimisation.

    M: (F, K, 2, 3). Given R, c_i = <M_i, R> / 2; given c, R = polar(sum_i c_i M_i). Starts from
    the polar factor of the largest M_i. Returns R (F, 2, 3) with orthonormal rows and c (F, K).
    """
    norms = M.flatten(-2).norm(dim=-1)  # (F, K)
    start = M[torch.arange(M.shape[0]), norms.argmax(1)]
    R = _polar_rows(start)
    c = torch.einsum("fkab,fab->fk", M, R) / 2
    for _ in range(iters):
        R = _polar_rows(torch.einsum("fk,fkab->fab", c, M))
        c = torch.einsum("fkab,fab->fk", M, R) / 2
    return R, c


def full_rotation(R2: torch.Tensor) -> torch.Tensor:
    """[r1; r2; r1 x r2]: (..., 2, 3) -> (..., 3, 3)."""
    return torch.cat([R2, torch.linalg.cross(R2[..., 0, :], R2[..., 1, :])[..., None, :]], dim=-2)


def compose_shape(c: torch.Tensor, R: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Eq. 1 with R_i = R for all i: S = R sum_i c_i B_i. c: (F, K), R: (F, 3, 3), B: (K, 3, p)."""
    return R @ torch.einsum("fk,kap->fap", c, B)


def compose_per_basis(M: torch.Tensor, B: torch.Tensor, zero: float = 1e-6):
    """Eq. 1 with one rotation per basis, as Zhou et al.'s code builds S when it does not refine:
    c_i = ||M_i||_2 (the spectral norm, 0 below ``zero``), R~_i = M_i / c_i, R_i = [R~_i; r_i1 x
    r_i2], S = sum_i c_i R_i B_i. Its first two rows are sum_i M_i B_i = Z B~ (Eq. 2), so the 2D
    fit of ADMM is kept exactly; depth comes from each basis's own rotation.

    M: (F, K, 2, 3); B: (K, 3, p). Returns S (F, 3, p), c (F, K), R (F, K, 3, 3).
    """
    c, _, _ = singular_values_2x3(M)
    c = torch.where(c < zero, torch.zeros_like(c), c)
    R2 = M / c.clamp_min(zero)[..., None, None]
    R2 = torch.where((c > 0)[..., None, None], R2, torch.zeros_like(M))
    R = full_rotation(R2)
    return torch.einsum("fk,fkab,kbp->fap", c, R, B), c, R


def refine(
    W: torch.Tensor,
    B: torch.Tensor,
    R: torch.Tensor,
    c: torch.Tensor,
    lam: float,
    iters: int = 50,
    rotation_steps: int = 5,
    code_steps: int = 20,
    tol: float = 1e-4,
):
    """The optional refinement of Algorithm 1 (line 20; Zhou et al.'s ``ssr2D3D_alt``): from the
    synchronised (R, c) of Eq. 22, minimise the non-convex

        f(R, c) = 1/2 ||W - R sum_i c_i B_i||_F^2 + lam ||c||_1,  R R^T = I_2

    by alternating (a) R: majorise-minimise steps on the Stiefel manifold, R <- polar(W S^T + R (l
    I - S S^T)) with l = ||S S^T||_F >= ||S S^T||_2, S = sum_i c_i B_i (each step decreases f: our
    closed-form replacement for Zhou's Manopt trust region), and (b) c: FISTA on the lasso in c with
    R fixed (step 1 / ||G||_F, G the Gram matrix). A frame stops when f changes by less than ``tol``
    (relative).

    W: (F, 2, p); B: (K, 3, p); R: (F, 2, 3); c: (F, K). Returns (R (F, 2, 3), c (F, K)).
    """
    F_, K = c.shape
    eye = torch.eye(3, dtype=W.dtype, device=W.device)
    f_old = torch.full((F_,), float("inf"), dtype=W.dtype, device=W.device)
    active = torch.ones(F_, dtype=torch.bool, device=W.device)

    def objective(R_, c_):
        S = torch.einsum("fk,kap->fap", c_, B)
        return 0.5 * ((W - R_ @ S) ** 2).sum((-2, -1)) + lam * c_.abs().sum(-1)

    for _ in range(iters):
        S = torch.einsum("fk,kap->fap", c, B)
        SSt = S @ S.mT
        lmax = torch.linalg.matrix_norm(SSt)[..., None, None]  # ||.||_F >= ||.||_2: a valid MM
        Rn = R
        for _ in range(rotation_steps):  # (a) R
            Rn = polar_2x3(W @ S.mT + Rn @ (lmax * eye - SSt))
        RB = torch.einsum("fab,kbp->fkap", Rn, B).flatten(-2)  # (F, K, 2p)
        G = RB @ RB.mT  # (F, K, K)
        Atw = (RB * W.flatten(-2)[:, None]).sum(-1)  # (F, K)
        L = torch.linalg.matrix_norm(G)[..., None].clamp_min(1e-12)  # Lipschitz bound, no eig
        x, y, t = c, c, 1.0
        for _ in range(code_steps):  # (b) c, FISTA
            g = (G @ y[..., None])[..., 0] - Atw
            z = y - g / L
            xn = torch.sign(z) * (z.abs() - lam / L).clamp_min(0.0)
            tn = (1 + (1 + 4 * t * t) ** 0.5) / 2
            y, x, t = xn + ((t - 1) / tn) * (xn - x), xn, tn
        f_new = objective(Rn, x)
        keep = active & (f_new <= objective(R, c))  # monotone safeguard
        R = torch.where(keep[:, None, None], Rn, R)
        c = torch.where(keep[:, None], x, c)
        f_now = torch.where(keep, f_new, f_old)
        active = active & keep & ((f_old - f_now).abs() > tol * f_now.abs())
        f_old = f_now
        if not bool(active.any()):
            break
    return R, c


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


def reconstruct(
    W, bases: ShapeBases, config: ALMConfig, device="cpu", record_history: bool = True
) -> Reconstruction:
    """See ``_reconstruct``; runs on one CPU thread (``single_thread``)."""
    with single_thread(device):
        return _reconstruct(W, bases, config, device, record_history)


def _reconstruct(
    W, bases: ShapeBases, config: ALMConfig, device="cpu", record_history: bool = True
) -> Reconstruction:
    """Algorithm 1: 3D shapes (F, 3, p) from 2D observations W (F, 2, p), all frames at once.

    Each frame's W is centred and scaled to unit Frobenius norm (so that alpha and beta do not
    depend on image units), solved by ALM (Eq. 13-21) and composed by Eq. 1 (``config.output``:
    "per-basis", one rotation per basis as Zhou et al.'s code; "sync", one synchronised rotation,
    Eq. 22; "refine", Eq. 22 then the non-convex refinement, ``refine``), then scaled back.
    """
    W = torch.as_tensor(np.asarray(W), dtype=torch.float64, device=device)
    if W.ndim != 3 or W.shape[1] != 2:
        raise ValueError(f"W must be (F, 2, p), got {tuple(W.shape)}")
    if W.shape[2] != bases.B.shape[2]:
        raise ValueError(f"W has {W.shape[2]} points but the shape bases have {bases.B.shape[2]}")
    W = W - W.mean(-1, keepdim=True)
    scale = W.flatten(1).norm(dim=1).clamp_min(1e-12)
    Wn = W / scale[:, None, None]
    B = bases.B.to(device=device, dtype=torch.float64)
    D2 = None
    if config.beta:
        # Eq. 12
        d = similarity_weights(Wn, B, config.gamma2, config.similarity, relative=config.relative)
        # Eq. 11: diag(D D^T)
        D2 = (d**2).repeat_interleave(3, dim=1)
    alm = solve_alm(Wn, bases, config, D2, record_history)
    K = B.shape[0]
    Mi = alm.M.reshape(-1, 2, K, 3).transpose(1, 2)  # (F, K, 2, 3)
    if config.output == "per-basis":  # Zhou's default
        S, c, R = compose_per_basis(Mi, B)  # Eq. 1
    else:
        R2, c = sync_rotation(Mi, config.sync_iters)  # Eq. 22
        if config.output == "refine":  # Algorithm 1, line 20
            R2, c = refine(Wn, B, R2, c, config.alpha)
        R = full_rotation(R2)
        S = compose_shape(c, R, B)  # Eq. 1, R_i = R
    S = S * scale[:, None, None]
    return Reconstruction(S.cpu().numpy(), (c * scale[:, None]).cpu().numpy(), R.cpu().numpy(), alm)


def reconstruct_frame_by_frame(W, bases: ShapeBases, config: ALMConfig, device="cpu") -> np.ndarray:
    """The same solver called on one frame at a time (the loop the batched solver replaces)."""
    W = np.asarray(W)
    return np.stack(
        [
            reconstruct(W[f : f + 1], bases, config, device, record_history=False).S[0]
            for f in range(len(W))
        ]
    )


# ---------------------------------------------------------------------------------------------
# errors (Eq. 23-24)
# ---------------------------------------------------------------------------------------------


def resolve_reflection(S_est: np.ndarray, S_true: np.ndarray) -> np.ndarray:
    """Weak perspective cannot tell a shape from its mirror image in depth ((c, R) and (-c, -R) give
    the same W): per frame, keep S_est or diag(1, 1, -1) S_est, whichever is closer to S_true."""
    flip = S_est * np.array([1.0, 1.0, -1.0])[:, None]
    e0 = np.linalg.norm(S_est - S_true, axis=(1, 2))
    e1 = np.linalg.norm(flip - S_true, axis=(1, 2))
    return np.where((e1 < e0)[:, None, None], flip, S_est)


def frame_errors(S_est: np.ndarray, S_true: np.ndarray, squared: bool = False) -> np.ndarray:
    """Per-frame ||S~_t - S_t||_F (the summand of Eq. 23; squared if ``squared``), after centring
    both and resolving the depth reflection. (F,)"""
    if S_est.shape != S_true.shape:
        raise ValueError(f"estimated shapes {S_est.shape} and true shapes {S_true.shape} differ")
    S_true = S_true - S_true.mean(-1, keepdims=True)
    S_est = resolve_reflection(S_est - S_est.mean(-1, keepdims=True), S_true)
    e = np.linalg.norm(S_est - S_true, axis=(1, 2))
    return e**2 if squared else e


def xi(S_est: np.ndarray, S_true: np.ndarray, squared: bool = False) -> tuple[float, float]:
    """Eq. 23: (mean, std) over frames of the 3D error ||S~_t - S_t||_F (see ``frame_errors``)."""
    e = frame_errors(S_est, S_true, squared)
    return float(e.mean()), float(e.std())


def normalized_error(S_est: np.ndarray, S_true: np.ndarray) -> float:
    """The normalised mean 3D error of NRSfM: mean_t ||S~_t - S_t||_F / ||S_t||_F."""
    S_true = S_true - S_true.mean(-1, keepdims=True)
    e = frame_errors(S_est, S_true)
    return float(np.mean(e / np.linalg.norm(S_true, axis=(1, 2))))


def xi_decrease(xi_baseline: float, xi_method: float) -> float:
    """Eq. 24: (xi_CRA - xi_MCM-RR) / xi_CRA x 100 (%)."""
    if xi_baseline <= 0:
        raise ValueError(f"baseline error must be positive, got {xi_baseline}")
    return 100.0 * (xi_baseline - xi_method) / xi_baseline
