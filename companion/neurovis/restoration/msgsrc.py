"""MS-GSRC (Ning et al. 2023): multi-scale group sparse residual constraint with low-rank codes.

One function per sub-problem, batched over all groups, and one driver (Algorithm 1):

    x̂ = argmin 1/(2σ²)‖y − Hx‖² + 1/(2µ) Σ‖R_i x^MS − D_i A_i‖²_F + λ Σ‖A_i − B_i‖₁      (Eq. 7)

Images are 2-D float tensors in [0, 255]; the same code runs on CPU and GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from .grouping import Groups, block_matching, extract_patches
from .operators import Operator

SQRT8 = 2.0 * math.sqrt(2.0)

# σ_e schedules of inpainting and CS (decay per iteration, iterations), chosen on the tuning set by
# ``tuning.tune_inverse`` (book/results/11_restoration.tuning.json)
INPAINT_DECAY, INPAINT_ITERS = 0.96, 31
# denoising: α, β, ω per σ bracket (σ ≤ 15, ≤ 30, > 30), chosen on the tuning set at σ = 15, 25, 50;
# the speed knobs (iterations, reference stride, re-matching period) chosen at σ = 25 serve σ ≤ 30
# (``tuning.tune_denoising``)
_SPEED_25 = dict(iters=5, step=4, rematch_every=2)
DENOISE_TUNED = {
    15: dict(alpha=1.0, beta=1.75, omega=0.45, **_SPEED_25),
    25: dict(alpha=1.0, beta=2.0, omega=0.45, **_SPEED_25),
    50: dict(alpha=1.0, beta=2.5, omega=0.45, iters=8, step=4, rematch_every=2),
}
CS_DECAY, CS_ITERS = 0.96, 20


# --------------------------------------------------------------------------------------------
# configuration and the paper's presets (Section 4)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MSGSRCConfig:
    """Parameters of MS-GSRC. The paper's presets are the named constructors.

    patch: √m (patch side); window: W of the W×W search window; k: patches per group;
    scales: (1, χ) scale factors of the multi-scale search; step: stride of reference patches;
    iters: outer iterations of Algorithm 1; alpha, beta: sparsity / low-rank weights of Eq. 22;
    omega: noise re-estimation factor of Eq. 20; zeta: ADMM penalty of Eq. 14–19 (in the image's
    [0, 255] units); sigma: noise std σ_n of y (Eq. 1);
    eq21, rho: with ``eq21`` the model as written: µ = ρσ_e² (Eq. 21) enters the s-step (Eq. 17)
    and the threshold of Eq. 9 is 2λµ; without it (our default) the s-step is the plain average of
    the restored groups (µ = 0) and the threshold is λ of Eq. 22 itself (α absorbs 2µ);
    dual: keep the multiplier c of Eq. 16 (None: on for inpainting and CS, off for denoising);
    sigma_schedule: the σ_e schedule used when y is not a noisy image (inpainting, CS: Eq. 20
    needs ‖y − x‖ to measure noise, which a mask or projection hides): (start, end) geometric
    over ``iters``, or (start, end, decay): σ_e = max(end, start·decayᵗ), so that a longer run
    extends a shorter one;
    low_rank / multiscale: switch the paper's two contributions off for the ablations;
    rematch_every: block matching is redone every this many iterations.
    """

    task: str = "denoising"
    patch: int = 7
    window: int = 31
    k: int = 70
    scales: tuple = (1.0, 0.85)
    step: int = 3
    iters: int = 8
    alpha: float = 1.0
    beta: float = 1.0
    omega: float = 0.6
    zeta: float = 0.1
    rho: float = 0.0
    eq21: bool = False
    dual: bool | None = None
    sigma: float = 25.0
    sigma_schedule: tuple | None = None
    gamma: float | None = None
    inner_steps: int = 1
    low_rank: bool = True
    multiscale: bool = True
    rematch_every: int = 2
    eps: float = 1e-8
    paper: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if (
            self.patch < 2
            or self.k < 2
            or self.window < self.patch
            or self.iters < 1
            or self.step < 1
        ):
            raise ValueError(
                f"invalid MS-GSRC sizes: patch={self.patch}, window={self.window}, k={self.k}, "
                f"iters={self.iters}, step={self.step}"
            )
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0 (noise std in [0, 255] units), got {self.sigma}")
        if self.scales[0] != 1.0 or any(not 0 < s < 1 for s in self.scales[1:]):
            raise ValueError(f"scales must be (1, χ, ...) with 0 < χ < 1, got {self.scales}")
        if self.eq21 and not self.rho > 0:
            raise ValueError(f"eq21=True needs rho > 0 (µ = ρσ_e², Eq. 21), got rho={self.rho}")

    @property
    def use_dual(self) -> bool:
        return self.task != "denoising" if self.dual is None else bool(self.dual)

    @property
    def search_scales(self) -> tuple:
        return self.scales if self.multiscale else (1.0,)

    # ---- presets --------------------------------------------------------------------------
    @classmethod
    def denoising(cls, sigma: float, **overrides) -> "MSGSRCConfig":
        """Section 4.1: W = 30, patch 6/7/9 for σ ≤ 15 / ≤ 30 / ≤ 75, k = 70/110/120 for σ ≤ 30 / ≤
        50 / ≤ 75, scales [1, 0.8] / [1, 0.85] / [1, 0.9] for σ ≤ 15 / ≤ 50 / ≤ 75; the paper's (α,
        β, ω, ζ) are kept in ``paper`` (see the chapter for why ours differ)."""
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        patch = 6 if sigma <= 15 else 7 if sigma <= 30 else 9
        k = 70 if sigma <= 30 else 110 if sigma <= 50 else 120
        scales = (1.0, 0.8) if sigma <= 15 else (1.0, 0.85) if sigma <= 50 else (1.0, 0.9)
        paper = {
            "alpha, beta, omega, zeta": (0.03, 1.75, 0.81, 0.085)
            if sigma <= 15
            else (0.015, 1.8, 0.86, 0.07)
            if sigma <= 30
            else (0.05, 2.2, 0.81, 0.12)
            if sigma <= 50
            else (0.006, 2, 0.86, 0.05)
        }
        tuned = DENOISE_TUNED[15 if sigma <= 15 else 25 if sigma <= 30 else 50]
        # ζ = σ²/9 makes Eq. 18 feed back δ = ζ/(ζ+σ²) = 0.1 of y each iteration (iterative
        # regularization)
        cfg = dict(
            task="denoising",
            sigma=float(sigma),
            patch=patch,
            k=k,
            scales=scales,
            window=31,
            zeta=sigma**2 / 9,
            paper=paper,
            **tuned,
        )
        if sigma > 50:
            cfg["iters"] = 10
        cfg.update(overrides)
        return cls(**cfg)

    @classmethod
    def inpainting(cls, missing_ratio: float, **overrides) -> "MSGSRCConfig":
        """Section 4.2: patch 7, W = 25, k = 60, scales [1, 0.85], σ = √2; paper (ω, ζ, α, β) =
        (0.0002, 0.0001, 1.5, 15) at 80 % missing, (0.0001, 0.0001, 1.5, 15) otherwise."""
        if not 0 < missing_ratio < 1:
            raise ValueError(f"missing_ratio must be in (0, 1), got {missing_ratio}")
        paper = {
            "omega, zeta, alpha, beta": (0.0002, 0.0001, 1.5, 15)
            if missing_ratio >= 0.8
            else (0.0001, 0.0001, 1.5, 15)
        }
        cfg = dict(
            task="inpainting",
            sigma=math.sqrt(2),
            patch=7,
            window=25,
            k=60,
            scales=(1.0, 0.85),
            iters=INPAINT_ITERS,
            sigma_schedule=(20.0, 2.0, INPAINT_DECAY),
            alpha=1.0,
            beta=1.0,
            zeta=50.0,
            step=4,
            rematch_every=3,
            paper=paper,
        )
        cfg.update(overrides)
        return cls(**cfg)

    @classmethod
    def compressed_sensing(cls, subrate: float, **overrides) -> "MSGSRCConfig":
        """Section 4.3: patch 8, k = 80, W = 25, scales [1, 0.75]; paper (ζ, ω, α, β) per subrate
        0.1/0.2/0.3/0.4 = (0.004, 2e-5, 0.6, 25), (0.0014, 5e-5, 0.9, 15), (0.0015, 1e-5, 0.5, 10),
        (0.0015, 1e-5, 1.4, 6)."""
        if not 0 < subrate <= 1:
            raise ValueError(f"subrate must be in (0, 1], got {subrate}")
        table = {
            0.1: (0.004, 0.00002, 0.6, 25),
            0.2: (0.0014, 0.00005, 0.9, 15),
            0.3: (0.0015, 0.00001, 0.5, 10),
            0.4: (0.0015, 0.00001, 1.4, 6),
        }
        nearest = min(table, key=lambda s: abs(s - subrate))
        start = 30.0 if subrate < 0.2 else 20.0 if subrate < 0.35 else 12.0
        cfg = dict(
            task="compressed sensing",
            sigma=math.sqrt(2),
            patch=8,
            window=25,
            k=80,
            scales=(1.0, 0.75),
            iters=CS_ITERS,
            sigma_schedule=(start, 1.5, CS_DECAY),
            alpha=1.0,
            beta=1.0,
            zeta=50.0,
            step=4,
            inner_steps=0,
            rematch_every=3,
            paper={"zeta, omega, alpha, beta": table[nearest]},
        )
        cfg.update(overrides)
        return cls(**cfg)

    def ablated(
        self, low_rank: bool | None = None, multiscale: bool | None = None
    ) -> "MSGSRCConfig":
        return replace(
            self,
            low_rank=self.low_rank if low_rank is None else low_rank,
            multiscale=self.multiscale if multiscale is None else multiscale,
        )


# --------------------------------------------------------------------------------------------
# the sub-problems
# --------------------------------------------------------------------------------------------
def soft_threshold(x: torch.Tensor, tau) -> torch.Tensor:
    """Soft(x, τ) = sign(x)·max(|x| − τ, 0), elementwise (Eq. 9), computed as x − clip(x, −τ, τ)
    (the same numbers, one pass fewer). τ ≥ 0: a number or a tensor that broadcasts against x."""
    if not isinstance(tau, torch.Tensor):
        tau = torch.tensor(float(tau), dtype=x.dtype, device=x.device)
    return x - torch.clamp(x, min=-tau, max=tau)


def singular_value_threshold(M: torch.Tensor, tau) -> torch.Tensor:
    """U·Soft(Σ, τ)·Vᵀ for a batch of matrices (Eq. 6 and 11). M: (..., n, k); tau broadcasts
    against the singular values (..., min(n, k))."""
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    return (U * soft_threshold(S, tau).unsqueeze(-2)) @ Vh


def pca_dictionary(Yc: torch.Tensor):
    """PCA dictionary D_i of each centred group (Algorithm 1, line 9): the eigenvectors of Y_i Y_iᵀ,
    strongest first. Yc: (G, n, k). Returns D (G, n, n) orthonormal and the eigenvalues (G, n)."""
    evals, evecs = torch.linalg.eigh(Yc @ Yc.transpose(1, 2))
    return evecs.flip(-1), evals.flip(-1).clamp_min(0.0)


def low_rank_codes(
    P: torch.Tensor, evals: torch.Tensor, sigma_e: float, beta: float, eps: float
) -> torch.Tensor:
    """B_i by singular-value soft-thresholding of the codes (Eq. 10–11) with the adaptive θ of
    Eq. 22.

    In the PCA basis the rows of P_i = D_iᵀY_i are orthogonal, so P_i's singular values are the
    square roots δ_ij of the eigenvalues and SVT reduces to scaling row j by max(δ_ij − θ_ij,
    0)/δ_ij — the same result as ``singular_value_threshold(P, θ)`` without a batched SVD. θ_ij =
    2√2·β·σ_e² / (n_ij + ϵ), with n_ij = √max(δ_ij²/k − σ_e², 0) the estimated std of the clean
    signal along component j.
    """
    k = P.shape[-1]
    delta = evals.sqrt()
    n_ij = torch.sqrt(torch.clamp(evals / k - sigma_e**2, min=0.0))
    theta = SQRT8 * beta * sigma_e**2 / (n_ij + eps)
    scale = torch.clamp(delta - theta, min=0.0) / (delta + eps)
    return P * scale.unsqueeze(-1)


def group_sparse_codes(
    P: torch.Tensor, B: torch.Tensor, sigma_e: float, alpha: float, eps: float, two_mu: float = 1.0
) -> torch.Tensor:
    """A_i = Soft(P_i − B_i, 2λµ) + B_i (Eq. 9) with λ_ij = 2√2·α·σ_e² / (m_ij + ε) (Eq. 22),
    m_ij the estimated std of the residual R_i = P_i − B_i along component j; ``two_mu`` = 2µ
    (1: the threshold is λ itself)."""
    R = P - B
    m_ij = R.pow(2).mean(-1, keepdim=True).sqrt()
    tau = (two_mu * SQRT8 * alpha * sigma_e**2) / (m_ij + eps)
    return soft_threshold(R, tau) + B


def restore_groups(Y: torch.Tensor, sigma_e: float, cfg: MSGSRCConfig) -> torch.Tensor:
    """Algorithm 1, lines 8–12 for all groups at once: D_i by PCA, B_i (Eq. 11), A_i (Eq. 9),
    and the restored groups D_i A_i (+ the group mean). Y: (G, n, k) -> (G, n, k)."""
    mean = Y.mean(-1, keepdim=True)
    Yc = Y - mean
    D, evals = pca_dictionary(Yc)
    P = D.transpose(1, 2) @ Yc
    if cfg.low_rank:
        B = low_rank_codes(P, evals, sigma_e, cfg.beta, cfg.eps)
    # GSRC without the low-rank term: the residual is taken against B = 0 (plain group sparsity)
    else:
        B = torch.zeros_like(P)
    two_mu = 2.0 * cfg.rho * sigma_e**2 if cfg.eq21 else 1.0
    A = group_sparse_codes(P, B, sigma_e, cfg.alpha, cfg.eps, two_mu)
    return D @ A + mean


def aggregate(groups: Groups, X: torch.Tensor, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ R_iᵀ D_i A_i and Σ R_iᵀR_i (a per-pixel count) over the original-scale patches of every
    group (Section 2.4, step e). X: (G, n, k). Returns (sum image, weight image)."""
    h, w = shape
    p = groups.patch
    ph, pw = h - p + 1, w - p + 1
    fine = groups.is_fine.reshape(-1)
    idx = groups.index.reshape(-1)[fine]
    patches = X.transpose(1, 2).reshape(-1, p * p)[fine]
    cols = torch.zeros(ph * pw, p * p, dtype=X.dtype, device=X.device)
    cnt = torch.zeros(ph * pw, dtype=X.dtype, device=X.device)
    cols.index_add_(0, idx, patches)
    cnt.index_add_(0, idx, torch.ones_like(idx, dtype=X.dtype))
    fold = torch.nn.functional.fold
    num = fold(cols.T[None], (h, w), p)[0, 0]
    den = fold(cnt[None, None].expand(1, p * p, -1).contiguous(), (h, w), p)[0, 0]
    return num, den


def s_update(x, c, num, den, mu: float, zeta: float):
    """Eq. 17: s = (µI + ζΣR_iᵀR_i)⁻¹(µx − µc + ζΣR_iᵀD_iA_i); ΣR_iᵀR_i is diagonal (patch
    counts)."""
    return (mu * (x - c) + zeta * num) / (mu + zeta * den).clamp_min(1e-12)


def x_update(
    op: Operator,
    y,
    s,
    c,
    x,
    sigma: float,
    zeta: float,
    gamma: float | None = None,
    Hty: torch.Tensor | None = None,
    steps: int = 1,
):
    """The data-fidelity step (``steps=0``: exact solve, for operators with ``solve_normal``).
    Diagonal H (identity, mask): Eq. 18 in closed form, x = (ζHᵀH + σ²I)⁻¹(ζHᵀy + σ²s + σ²c).
    Otherwise one gradient step (Eq. 19), x ← x − γ((HᵀHx − Hᵀy)/σ² + (x − s − c)/ζ), with Hᵀy
    precomputed and γ = 1/L by default."""
    if op.diagonal is not None:
        return (zeta * op.adjoint(y) + sigma**2 * (s + c)) / (zeta * op.diagonal + sigma**2)
    Hty = op.adjoint(y) if Hty is None else Hty
    if steps == 0 and hasattr(op, "solve_normal"):  # exact minimiser of Eq. 14 when H allows it
        return op.solve_normal(Hty / sigma**2 + (s + c) / zeta, 1.0 / sigma**2, 1.0 / zeta)
    step = gamma if gamma is not None else 1.0 / (1.0 / sigma**2 + 1.0 / zeta)
    for _ in range(steps):
        x = x - step * ((op.gram(x) - Hty) / sigma**2 + (x - s - c) / zeta)
    return x


def scheduled_sigma(schedule: tuple, t: int, iters: int) -> float:
    """σ_e at iteration t of a (start, end) geometric schedule over ``iters`` iterations, or of a
    (start, end, decay) schedule: max(end, start·decayᵗ)."""
    if len(schedule) == 3:
        start, end, decay = schedule
        return max(float(end), float(start) * float(decay) ** t)
    start, end = schedule
    return start * (end / start) ** (t / max(1, iters - 1))


def noise_level(y, x, sigma: float, omega: float, first: bool) -> float:
    """Eq. 20: σ_e = ω·√|σ_n² − ‖y − x‖²/N| (σ_e = σ_n at the first iteration, where x = y)."""
    if first:
        return float(sigma)
    return float(omega * torch.sqrt(torch.abs(sigma**2 - (y - x).pow(2).mean())))


# --------------------------------------------------------------------------------------------
# the driver (Algorithm 1)
# --------------------------------------------------------------------------------------------
@dataclass
class Restoration:
    image: torch.Tensor
    history: dict


def _check_image(name, img):
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(img).__name__}")
    if img.ndim != 2:
        raise ValueError(f"{name} must be a 2-D grey image, got shape {tuple(img.shape)}")
    if not torch.is_floating_point(img):
        raise TypeError(f"{name} must be a floating-point image in [0, 255], got dtype {img.dtype}")
    if not torch.isfinite(img).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def msgsrc(
    y: torch.Tensor,
    op: Operator,
    cfg: MSGSRCConfig,
    x0: torch.Tensor | None = None,
    clean: torch.Tensor | None = None,
    progress: bool = False,
) -> Restoration:
    """Restore x from y = Hx + n (Algorithm 1). ``x0``: initial estimate (default y for denoising,
    Hᵀy otherwise). ``clean``: if given, the PSNR of every iterate is recorded in the history.
    Returns the restored image (clipped to [0, 255]) and the history (σ_e, PSNR per iteration)."""
    from tqdm.auto import tqdm

    if cfg.task == "denoising":
        _check_image("y", y)
    x = (y if cfg.task == "denoising" else op.adjoint(y)) if x0 is None else x0
    _check_image("x0", x)
    x = x.clone()
    shape = x.shape
    s = x.clone()
    c = torch.zeros_like(x)
    Hty = op.adjoint(y)
    history = {"sigma_e": [], "psnr": []}
    groups = None
    for t in range(cfg.iters):
        if cfg.sigma_schedule is None:
            sigma_e = noise_level(y, x, cfg.sigma, cfg.omega, first=(t == 0))
        else:
            sigma_e = scheduled_sigma(cfg.sigma_schedule, t, cfg.iters)
        sigma_e = max(sigma_e, 1e-3)
        if cfg.task != "denoising" or t > 0:
            # Eq. 18 / 19
            x = x_update(op, y, s, c, x, cfg.sigma, cfg.zeta, cfg.gamma, Hty, cfg.inner_steps)
        r = x - c  # the s-step's input
        if groups is None or t % cfg.rematch_every == 0:
            groups = block_matching(r, cfg.patch, cfg.window, cfg.k, cfg.step, cfg.search_scales)
        X = restore_groups(groups.gather(r), sigma_e, cfg)  # Eq. 9-11
        num, den = aggregate(groups, X, shape)
        mu = cfg.rho * sigma_e**2 if cfg.eq21 else 0.0  # Eq. 21
        s = s_update(x, c, num, den, mu, cfg.zeta)  # Eq. 17
        if cfg.use_dual:
            c = c - (x - s)  # Eq. 16
        history["sigma_e"].append(sigma_e)
        if clean is not None:
            est = (
                s
                if cfg.task == "denoising"
                else x_update(op, y, s, c, x, cfg.sigma, cfg.zeta, cfg.gamma, Hty, cfg.inner_steps)
            )
            history["psnr"].append(psnr(est.clamp(0, 255), clean))
        if progress:
            tqdm.write(
                f"iter {t + 1}/{cfg.iters}: sigma_e={sigma_e:.2f}"
                + (f", PSNR={history['psnr'][-1]:.2f}" if clean is not None else "")
            )
    x = (
        s
        if cfg.task == "denoising"
        else x_update(op, y, s, c, x, cfg.sigma, cfg.zeta, cfg.gamma, Hty, cfg.inner_steps)
    )
    return Restoration(x.clamp(0, 255), history)


def psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR (dB) for [0, 255] images."""
    mse = (x.double() - ref.double()).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)
