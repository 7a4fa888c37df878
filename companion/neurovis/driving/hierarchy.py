"""The auxiliary hierarchical representation (Liu et al., Sec. 4.4, Eq. 8-12): per-branch attention
highlights, their combination, and the rectangle of highest average attention."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _unit(x: Tensor) -> Tensor:
    """Divide each map (B, 1, h, w) by its per-image maximum (maps are non-negative)."""
    return x / (x.amax(dim=(2, 3), keepdim=True) + 1e-6)


def highlights(
    alpha: Tensor, scale_levels: Tensor, spatial_map: Tensor, channel_features: Tensor
) -> dict:
    """ScAH (Eq. 8), SpAH (Eq. 9), CAH (Eq. 10) and CoAH (Eq. 11), each (B, 1, h, w).

    alpha: (B, 3) GRU weights (alpha_sc, alpha_sp, alpha_c); scale_levels: (B, N, h, w) the pyramid
    levels' logit maps w_s * P_s(F) (each turned into its spatial-softmax attention f^sc_s, scaled
    to (0, 1]); spatial_map: (B, 1, h, w) M_sp; channel_features: (B, C, h, w) f^c(F).
    The sums over scales and channels are taken as means (the same up to the constants N and C)
    and CAH is scaled by its maximum, so all three lie in [0, alpha].
    """
    if alpha.ndim != 2 or alpha.shape[1] != 3:
        raise ValueError(f"alpha must be (B, 3), got {tuple(alpha.shape)}")
    b, n, h, w = scale_levels.shape
    f_sc = torch.softmax(scale_levels.flatten(2), dim=2).view(b, n, h, w)
    f_sc = f_sc / f_sc.amax(dim=(2, 3), keepdim=True)
    a_sc, a_sp, a_c = (alpha[:, i, None, None, None] for i in range(3))
    scah = a_sc * f_sc.mean(1, keepdim=True)  # Eq. 8
    spah = a_sp * spatial_map  # Eq. 9
    cah = a_c * _unit(channel_features.clamp_min(0).mean(1, keepdim=True))  # Eq. 10
    coah = a_sc * scah + a_sp * spah + a_c * cah  # Eq. 11
    return {"ScAH": scah, "SpAH": spah, "CAH": cah, "CoAH": coah}


def max_average_rectangle(weights, min_h: int = 1, min_w: int = 1):
    """The rectangle [y1..y2] x [x1..x2] (inclusive) of highest average weight AW (Eq. 12), found
    exactly by evaluating every rectangle of height >= min_h and width >= min_w with 2-D prefix sums
    (the paper leaves the search to "a greedy algorithm or another optimization technique").

    Without a minimum size the answer is always the single largest pixel, so give one (e.g. a
    quarter of the map). Ties go to the first rectangle in (y1, y2, x1, x2) order.
    Returns (y1, x1, y2, x2, average).
    """
    m = np.asarray(weights, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"weights must be a non-empty 2-D map, got shape {m.shape}")
    H, W = m.shape
    if not (1 <= min_h <= H and 1 <= min_w <= W):
        raise ValueError(
            f"min_h, min_w = {min_h}, {min_w} must lie in [1, {H}] x [1, {W}] for a {H}x{W} map"
        )
    S = np.zeros((H + 1, W + 1))
    S[1:, 1:] = m.cumsum(0).cumsum(1)
    y1, y2 = np.triu_indices(H, k=min_h - 1)  # y2 - y1 >= min_h - 1, in (y1, y2) order
    x1, x2 = np.triu_indices(W, k=min_w - 1)
    best = (-np.inf, 0, 0)
    for s in range(0, len(y1), 256):  # chunks of row pairs keep memory bounded
        a, b = y1[s : s + 256, None], y2[s : s + 256, None] + 1
        tot = S[b, x2 + 1] - S[a, x2 + 1] - S[b, x1] + S[a, x1]
        avg = tot / ((b - a) * (x2 - x1 + 1))
        k = int(np.argmax(avg))
        if avg.flat[k] > best[0] + 1e-12:
            best = (float(avg.flat[k]), s + k // avg.shape[1], k % avg.shape[1])
    avg, p, q = best
    return int(y1[p]), int(x1[q]), int(y2[p]), int(x2[q]), avg


@torch.no_grad()
def hierarchical_representation(model, image: Tensor, device="cpu", min_frac: float = 0.25) -> dict:
    """The auxiliary hierarchical representation of one uint8 image (3, H, W) under an MSAAM model:
    {"ScAH", "SpAH", "CAH", "CoAH"} as (H, W) numpy maps (bilinearly upsampled from the encoder
    grid), "alpha" (3,) and "rect" (y1, x1, y2, x2) in image pixels: the rectangle of highest
    average CoAH (Eq. 12), searched exactly on the encoder grid with sides >= ``min_frac`` of it."""
    import torch.nn.functional as F

    from .data import normalize

    if getattr(model, "msaam", None) is None:
        raise ValueError("hierarchical_representation needs a model with MSAAM (msaam=True)")
    model.eval().to(device)
    _, out = model(normalize(image[None].to(device)), return_attention=True)
    h = highlights(out.alpha, out.scale_levels, out.spatial_map, out.channel_features)
    H, W = image.shape[-2:]
    maps = {
        k: F.interpolate(v, size=(H, W), mode="bilinear", align_corners=False)[0, 0].cpu().numpy()
        for k, v in h.items()
    }
    co = h["CoAH"][0, 0].cpu().numpy()
    gh, gw = co.shape
    y1, x1, y2, x2, _ = max_average_rectangle(
        co, max(1, round(min_frac * gh)), max(1, round(min_frac * gw))
    )
    sy, sx = H / gh, W / gw
    rect = (int(y1 * sy), int(x1 * sx), int((y2 + 1) * sy) - 1, int((x2 + 1) * sx) - 1)
    return {**maps, "alpha": out.alpha[0].cpu().numpy(), "rect": rect}
