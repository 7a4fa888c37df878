"""Image encoder (Section 2.1): DenseNet features (CNN-e) and the MIL visual-word detector with a
noisy-OR over regions (Eq. 2-3), trained from the captions' words as weak, image-level labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

STOPWORDS = frozenset("a an the is are of to on in with and there it its sits shapes".split())


def word_set(vocab, max_words: int = 1200) -> list[int]:
    """The MIL word set D (Section 2.1): the most common content words of the vocabulary (the paper:
    1,200 common words), as vocabulary ids (special tokens and stop words left out)."""
    ids = [i for i, w in enumerate(vocab.words) if i >= 4 and w not in STOPWORDS]
    return ids[:max_words]


def word_targets(ids: torch.Tensor, words: list[int]) -> torch.Tensor:
    """Bag labels y (Eq. 1): (N, |D|) with 1 where word w occurs in any reference of the image.
    ``ids``: (N, R, L) encoded references."""
    flat = ids.reshape(ids.shape[0], -1)
    w = torch.tensor(words, dtype=flat.dtype)
    return (flat.unsqueeze(-1) == w).any(1).float()


def noisy_or(x: torch.Tensor, dim: int = -1, eps: float = 1e-6) -> torch.Tensor:
    """P_w = 1 - prod_j (1 - x_ij^w) over the regions j of a bag (Eq. 2), computed in log space."""
    return 1.0 - torch.exp(torch.log1p(-x.clamp(0.0, 1.0 - eps)).sum(dim))


class DenseNetEncoder(nn.Module):
    """CNN-e: torchvision's DenseNet (from scratch) returning the last dense block's feature map (B,
    C, h, w); ``small`` is a narrow two-block DenseNet for 48-px scenes, ``densenet121`` the
    paper's."""

    def __init__(self, arch: str = "small"):
        super().__init__()
        from torchvision.models import DenseNet, densenet121

        if arch == "small":
            net = DenseNet(growth_rate=12, block_config=(3, 3), num_init_features=24, bn_size=2)
        elif arch == "densenet121":
            net = densenet121(weights=None)
        else:
            raise ValueError(f"arch must be 'small' or 'densenet121', got {arch!r}")
        self.features = net.features
        self.channels = net.classifier.in_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        return torch.relu(self.features(images))


class MILDetector(nn.Module):
    """Visual-word detector: x_ij^w = sigmoid(W_w^T theta(b_ij) + b_w) per region (Eq. 3, a 1x1 conv
    on the encoder's map, after one hidden 1x1 layer playing the role of VGG's fc7), then the
    noisy-OR over the regions of the image (Eq. 2)."""

    def __init__(self, encoder: DenseNetEncoder, num_words: int, hidden: int = 128):
        super().__init__()
        self.encoder = encoder
        self.theta = nn.Sequential(nn.Conv2d(encoder.channels, hidden, 1), nn.ReLU())
        self.word = nn.Conv2d(hidden, num_words, 1)
        # start with rare region detections (x ~ 1/100): with x ~ 0.5 the noisy-OR of many regions
        # is saturated at 1 and its gradient vanishes
        nn.init.constant_(self.word.bias, -4.6)

    def forward(self, images: torch.Tensor):
        """Returns (feature map A (B, C, h, w), region word probabilities x (B, |D|, h, w), P_w (B,
        |D|))."""
        A = self.encoder(images)
        x = torch.sigmoid(self.word(self.theta(A)))
        return A, x, noisy_or(x.flatten(2), dim=-1)


@dataclass
class Features:
    """What the frozen encoder gives the captioners, per image: ``regions`` (N, h*w, C) region
    features, ``mil`` (N, |D|, h, w) region word probabilities restricted to each image's top-k
    words, ``probs`` (N, |D|) the noisy-OR word probabilities, ``grid`` (h, w)."""

    regions: torch.Tensor
    mil: torch.Tensor
    probs: torch.Tensor
    grid: tuple

    def __len__(self):
        return self.regions.shape[0]

    def batch(self, idx) -> dict:
        return {"regions": self.regions[idx], "mil": self.mil[idx]}

    def standardized(self, mean: torch.Tensor, std: torch.Tensor) -> "Features":
        """Region features standardised per channel (``mean``, ``std`` from the training images)."""
        return Features((self.regions - mean) / std, self.mil, self.probs, self.grid)

    def to(self, device) -> "Features":
        return Features(
            self.regions.to(device), self.mil.to(device), self.probs.to(device), self.grid
        )


def top_k_mask(probs: torch.Tensor, k: int = 10) -> torch.Tensor:
    """(N, |D|) 0/1 mask of each image's ``k`` most probable words (Section 2.1: the top 10)."""
    k = min(k, probs.shape[1])
    mask = torch.zeros_like(probs)
    return mask.scatter_(1, probs.topk(k, dim=1).indices, 1.0)


@torch.no_grad()
def extract_features(
    detector: MILDetector, images, device="cpu", batch_size: int = 128, top_k: int = 10
) -> Features:
    """Run the frozen encoder + MIL detector over ``images`` (a tensor or a Dataset of images)."""
    detector.eval().to(device)
    regs, mils, probs = [], [], []
    loader = torch.utils.data.DataLoader(
        images, batch_size=batch_size, shuffle=False, num_workers=0
    )
    for x in loader:
        A, xw, P = detector(x.to(device))
        regs.append(A.flatten(2).transpose(1, 2).cpu())
        mils.append((xw * top_k_mask(P, top_k)[:, :, None, None]).cpu())
        probs.append(P.cpu())
    return Features(torch.cat(regs), torch.cat(mils), torch.cat(probs), tuple(A.shape[2:]))


def standardize(train: Features, *others: Features) -> list[Features]:
    """Standardise the region features of ``train`` and ``others`` with the training set's
    per-channel mean and standard deviation (the DenseNet's ReLU outputs range over an order of
    magnitude)."""
    mean, std = train.regions.mean((0, 1)), train.regions.std((0, 1)) + 1e-5
    return [f.standardized(mean, std) for f in (train, *others)]
