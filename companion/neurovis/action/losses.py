"""The paper's losses (Eq. 5-6 and Eq. 11-16) and the baselines' (Barlow Twins, NT-Xent, CMC).

All take embeddings z of shape (N, D), N the batch, D the embedding dimension.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(z1: torch.Tensor, z2: torch.Tensor, name: str):
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"{name}: expected two (N, D) embeddings of the same shape, got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError(f"{name}: needs a batch of at least 2 samples, got {z1.shape[0]}")


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


# --------------------------------------------------------------------------- unimodal (Section 3.3)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The cross-correlation matrix C of Eq. 5, (D, D).

    C_ij = sum_b z_bi z'_bj / (sqrt(sum_b z_bi^2) sqrt(sum_b z'_bj^2)): a cosine along the batch,
    taken literally (no mean removal, unlike Barlow Twins' batch-standardised version; on
    zero-mean embeddings the two coincide up to the factor of the variance estimator).
    """
    _check_pair(z1, z2, "cross_correlation")
    num = z1.T @ z2
    den = (
        z1.pow(2).sum(0).clamp_min(eps).sqrt()[:, None]
        * z2.pow(2).sum(0).clamp_min(eps).sqrt()[None, :]
    )
    return num / den


def cross_correlation_loss(z1: torch.Tensor, z2: torch.Tensor, beta: float = 5e-3) -> torch.Tensor:
    """L_c of Eq. 6: sum_i (1 - C_ii)^2 + beta * sum_i sum_{j != i} C_ij^2, with C from Eq. 5."""
    c = cross_correlation(z1, z2)
    return (1 - torch.diagonal(c)).pow(2).sum() + beta * off_diagonal(c).pow(2).sum()


# ------------------------------------------------------------------------- multimodal (Section 3.4)


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """v(Z) of Eq. 11 with Std of Eq. 12: mean over dimensions of max(0, gamma - sqrt(Var(z_j) +
    eps)).

    Var is the unbiased variance along the batch (Algorithm 1: ``z.var(dim=0)``).
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"variance_term: expected (N >= 2, D) embeddings, got {tuple(z.shape)}")
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def invariance_term(zs: torch.Tensor, zi: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """s(Z^s, Z^i) of Eq. 13, the mean squared distance between the paired embeddings.

    ``reduction="mean"``: Algorithm 1's ``mse_loss`` (mean over N and D, VICReg's convention);
    ``"sum"``: Eq. 13 as printed, (1/N) sum_j ||z^s_j - z^i_j||^2 = D times the former.
    """
    _check_pair(zs, zi, "invariance_term")
    if reduction == "mean":
        return F.mse_loss(zs, zi)
    if reduction == "sum":
        return (zs - zi).pow(2).sum(1).mean()
    raise ValueError(f"invariance_term: reduction must be 'mean' or 'sum', got {reduction!r}")


def covariance_matrix(z: torch.Tensor) -> torch.Tensor:
    """C(Z) of Eq. 15: (1 / (N - 1)) sum_j (z_j - z_bar)(z_j - z_bar)^T, (D, D)."""
    zc = z - z.mean(dim=0)
    return zc.T @ zc / (z.shape[0] - 1)


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """c(Z) of Eq. 14: (1/d) sum_{i != j} C(Z)_ij^2."""
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"covariance_term: expected (N >= 2, D) embeddings, got {tuple(z.shape)}")
    return off_diagonal(covariance_matrix(z)).pow(2).sum() / z.shape[1]


def vicreg_loss(
    zs: torch.Tensor,
    zi: torch.Tensor,
    lam: float = 25.0,
    mu: float = 25.0,
    nu: float = 1.0,
    branch_reduction: str = "sum",
    invariance_reduction: str = "mean",
    gamma: float = 1.0,
    eps: float = 1e-4,
):
    """L(Z^s, Z^i) of Eq. 16 = lam * s + mu * [v(Z^s) + v(Z^i)] + nu * [c(Z^s) + c(Z^i)].

    ``branch_reduction="sum"`` follows Eq. 16 and Algorithm 1 (the two branches' variance terms are
    added); ``"mean"`` averages them as the VICReg reference code does (equivalent to halving mu).
    Returns (loss, {"invariance", "variance", "covariance"}) with the unweighted terms as floats.
    """
    if branch_reduction not in ("sum", "mean"):
        raise ValueError(
            f"vicreg_loss: branch_reduction must be 'sum' or 'mean', got {branch_reduction!r}"
        )
    s = invariance_term(zs, zi, invariance_reduction)
    v = variance_term(zs, gamma, eps) + variance_term(zi, gamma, eps)
    if branch_reduction == "mean":
        v = v / 2
    c = covariance_term(zs) + covariance_term(zi)
    loss = lam * s + mu * v + nu * c
    return loss, {
        "invariance": float(s.detach()),
        "variance": float(v.detach()),
        "covariance": float(c.detach()),
    }


# ---------------------------------------------------------------------------------------- baselines


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021): batch-standardised cross-correlation driven to
    identity."""
    _check_pair(z1, z2, "barlow_twins_loss")
    n = z1.shape[0]
    c = (
        F.batch_norm(z1, None, None, training=True).T
        @ F.batch_norm(z2, None, None, training=True)
        / n
    )
    return (torch.diagonal(c) - 1).pow(2).sum() + lambd * off_diagonal(c).pow(2).sum()


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent (Chen et al. 2020): 2N-way softmax, positives are the other view, others
    negatives."""
    _check_pair(z1, z2, "nt_xent_loss")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


def cmc_loss(zs: torch.Tensor, zi: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """CMC (Tian et al. 2020), two modalities: symmetric cross-modal InfoNCE with in-batch
    negatives.

    Sample j of one modality must pick sample j of the other among the N candidates, both ways.
    """
    _check_pair(zs, zi, "cmc_loss")
    logits = F.normalize(zs, dim=1) @ F.normalize(zi, dim=1).T / temperature
    target = torch.arange(zs.shape[0], device=zs.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
