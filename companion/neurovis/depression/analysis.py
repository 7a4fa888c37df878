"""Checks of where HMHN's heads look, against the benchmark's ground-truth cue regions (Figure 1
and Section 5.6 turned into numbers)."""

from __future__ import annotations

import numpy as np


def attention_shares(maps, masks) -> np.ndarray:
    """Share of each head's attention mass in each cue region.

    maps: (N, k, h, w) non-negative spatial attention maps (the a_i of Eq. 8); masks: (N, R, S, S)
    boolean region masks. The maps are upsampled bilinearly to S x S and normalised to sum 1.
    Returns (N, k, R).
    """
    import torch
    import torch.nn.functional as F

    maps = np.asarray(maps, dtype=np.float32)
    masks = np.asarray(masks, dtype=bool)
    if maps.ndim != 4 or masks.ndim != 4 or len(maps) != len(masks):
        raise ValueError(
            f"expected maps (N, k, h, w) and masks (N, R, S, S) with the same N, got "
            f"{maps.shape} and {masks.shape}"
        )
    S = masks.shape[-1]
    up = F.interpolate(
        torch.from_numpy(maps).clamp_min(0), size=(S, S), mode="bilinear", align_corners=False
    ).numpy()
    up = up / np.maximum(up.sum(axis=(-1, -2), keepdims=True), 1e-12)
    return np.einsum("nkxy,nrxy->nkr", up, masks.astype(np.float32))


def share_in_cue_regions(maps, masks) -> float:
    """Mean (over frames and heads) share of attention inside the union of the cue regions."""
    union = np.asarray(masks, bool).any(axis=1, keepdims=True)
    return float(attention_shares(maps, union).mean())


def chance_share(masks) -> float:
    """The share a uniform map would put inside the cue regions (their mean area fraction)."""
    return float(np.asarray(masks, bool).any(axis=1).mean())


def enrichment(maps, masks) -> np.ndarray:
    """(N, k, R): each head's attention density in each region relative to the face average
    (1 = uniform, 2 = twice as dense as a uniform map)."""
    area = np.asarray(masks, bool).mean(axis=(-1, -2))[:, None, :]
    return attention_shares(maps, masks) / np.maximum(area, 1e-12)


def regions_covered(maps, masks, threshold: float = 2.0) -> np.ndarray:
    """(N,) how many cue regions at least one head attends to at >= ``threshold`` times the
    face-average density."""
    return (enrichment(maps, masks).max(axis=1) >= threshold).sum(axis=1)


def top_regions(maps, masks) -> np.ndarray:
    """(N, k) index of the region each head attends to most densely."""
    return enrichment(maps, masks).argmax(axis=2)


def distinct_top_regions(maps, masks) -> np.ndarray:
    """(N,) number of different regions among the heads' top regions (at most k)."""
    return np.array([len(set(row)) for row in top_regions(maps, masks)])


def attention_report(maps_by_model: dict, masks, threshold: float = 2.0):
    """A table per model: mean share of attention inside the cue regions, how many regions the
    heads cover (>= ``threshold`` x face-average density) and how many distinct top regions."""
    import pandas as pd

    rows = {}
    for name, maps in maps_by_model.items():
        rows[name] = {
            "share in cue regions": share_in_cue_regions(maps, masks),
            "regions covered (of 4)": float(regions_covered(maps, masks, threshold).mean()),
            "distinct top regions": float(distinct_top_regions(maps, masks).mean()),
        }
    rows["uniform map (chance)"] = {
        "share in cue regions": chance_share(masks),
        "regions covered (of 4)": 0.0,
        "distinct top regions": float("nan"),
    }
    return pd.DataFrame(rows).T


def mean_shares(maps, masks) -> np.ndarray:
    """(k, R) share of each head's attention per region, averaged over frames."""
    return attention_shares(maps, masks).mean(axis=0)


def head_variance(maps) -> float:
    """How different the heads' maps are: per frame and position, the variance over the k heads
    of the maps each divided by its own spatial mean (what the partition loss of Eq. 11 sees),
    averaged. 0 when all heads look at the same places; undefined (NaN) for one head."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4:
        raise ValueError(f"expected maps (N, k, h, w), got shape {maps.shape}")
    if maps.shape[1] < 2:
        return float("nan")
    m = maps / np.maximum(maps.mean(axis=(-1, -2), keepdims=True), 1e-12)
    return float(m.var(axis=1).mean())


def attention_on_distractors(maps, distractor_masks) -> float:
    """Mean share (over frames and heads) of attention inside the distractor marks' discs."""
    return share_in_cue_regions(maps, np.asarray(distractor_masks, bool)[:, None])
