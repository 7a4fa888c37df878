"""The comparisons: pixel anomaly scores that need no extra training or outlier data (MSP, max
logit, entropy, energy, standardized max logits; the rows of the paper's Table 6), each computed
from a segmentation network's logits with or without MSAAM, and the plain DeepLabv3+ baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .msaam import DeepLabV3Plus


def deeplab_baseline(num_classes: int, **kw) -> DeepLabV3Plus:
    """The same DeepLabv3+ without MSAAM (the paper's comparison at equal budget)."""
    return DeepLabV3Plus(num_classes, msaam=False, **kw)


def msp_score(logits: Tensor) -> Tensor:
    """1 - max softmax probability (Hendrycks & Gimpel 2017). logits (B, K, H, W) -> (B, H, W)."""
    return 1 - torch.softmax(logits.float(), 1).amax(1)


def max_logit_score(logits: Tensor) -> Tensor:
    """- max logit (Hendrycks et al. 2022)."""
    return -logits.float().amax(1)


def entropy_score(logits: Tensor) -> Tensor:
    """Entropy of the softmax over classes."""
    logp = torch.log_softmax(logits.float(), 1)
    return -(logp.exp() * logp).sum(1)


def energy_score(logits: Tensor, T: float = 1.0) -> Tensor:
    """Free energy -T logsumexp(logits / T) (Liu et al. 2020): higher = more anomalous."""
    return -T * torch.logsumexp(logits.float() / T, 1)


@dataclass
class ClassStats:
    """Per-class mean and standard deviation of the max logit over training pixels predicted as
    that class (Jung et al. 2021), for standardized max logits."""

    mean: Tensor  # (K,)
    std: Tensor  # (K,)

    @classmethod
    def fit(cls, logits_batches, num_classes: int) -> "ClassStats":
        """``logits_batches``: an iterable of (B, K, H, W) logits on training images."""
        sums = cls.sums(num_classes)
        for lg in logits_batches:
            cls.accumulate(sums, lg)
        return cls.from_sums(sums)

    @staticmethod
    def sums(num_classes: int) -> list:
        """Empty running sums [sum, sum of squares, count] per class (float64)."""
        return [torch.zeros(num_classes, dtype=torch.float64) for _ in range(3)]

    @staticmethod
    def accumulate(sums: list, lg: Tensor) -> None:
        """Add one batch of logits (B, K, H, W) to ``sums``."""
        s, s2, n = sums
        K = len(s)
        m, c = lg.float().amax(1), lg.argmax(1)
        s += torch.bincount(c.flatten(), m.flatten().double(), K)
        s2 += torch.bincount(c.flatten(), (m.double() ** 2).flatten(), K)
        n += torch.bincount(c.flatten(), minlength=K).double()

    @classmethod
    def from_sums(cls, sums: list) -> "ClassStats":
        s, s2, n = sums
        mean = s / n.clamp_min(1)
        std = (s2 / n.clamp_min(1) - mean**2).clamp_min(0).sqrt()
        # a class never predicted keeps mean 0, std 1 (its pixels then get plain max logits)
        mean[n == 0], std[n < 2] = 0.0, 1.0
        return cls(mean.float(), std.float().clamp_min(1e-3))


def sml_score(logits: Tensor, stats: ClassStats) -> Tensor:
    """- standardized max logit (L_max - mu_c) / sigma_c, c = argmax class (Jung et al. 2021)."""
    m, c = logits.float().amax(1), logits.argmax(1)
    return -(m - stats.mean.to(m.device)[c]) / stats.std.to(m.device)[c]


SCORES = {
    "MSP": msp_score,
    "Max logits": max_logit_score,
    "Entropy": entropy_score,
    "Energy": energy_score,
    "SML": sml_score,
}


def anomaly_scores(logits: Tensor, stats: ClassStats | None) -> dict[str, Tensor]:
    """Every score of ``SCORES`` for ``logits`` (SML only when ``stats`` is given)."""
    return {
        name: (fn(logits, stats) if name == "SML" else fn(logits))
        for name, fn in SCORES.items()
        if name != "SML" or stats is not None
    }
