"""Targeted desmoking, the use the paper motivates (Sec. 1, 5): classify every frame, dehaze only
the frames flagged smoky. The dehazer is the dark channel prior of He, Sun & Tang (CVPR 2009 /
TPAMI 2011) with a guided-filter refinement (He et al., ECCV 2010), the classic prior that
desmoking work (e.g. Salazar-Colores 2020, Pan 2022) builds on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core import timing


def dark_channel(img: np.ndarray, patch: int) -> np.ndarray:
    """min over colour channels and a patch x patch window: (H, W, 3) -> (H, W)."""
    return cv2.erode(img.min(axis=2), np.ones((patch, patch), np.uint8))


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter (He et al. 2010): local linear model q = a·I + b, box means."""

    def box(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1))

    mi, ms = box(guide), box(src)
    cov = box(guide * src) - mi * ms
    var = box(guide * guide) - mi * mi
    a = cov / (var + eps)
    b = ms - a * mi
    return box(a) * guide + box(b)


def dehaze_dcp(
    img: np.ndarray, omega: float = 0.95, t_min: float = 0.1, patch: int | None = None
) -> np.ndarray:
    """Dark-channel-prior dehazing of an RGB image in [0, 1] (float) or uint8: scene radiance
    J = (I − A) / max(t, t_min) + A with transmission t = 1 − ω·dark(I / A), refined by a guided
    filter, and airlight A the mean colour of the brightest 0.1 % dark-channel pixels.
    Returns float32 RGB in [0, 1]."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {img.shape}")
    x = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    h, w = x.shape[:2]
    patch = patch or max(3, (min(h, w) // 17) | 1)  # 15 px at 256 px
    dark = dark_channel(x, patch)
    k = max(1, int(dark.size * 0.001))
    idx = np.argpartition(dark.ravel(), -k)[-k:]
    A = np.maximum(x.reshape(-1, 3)[idx].mean(axis=0), 1e-3)
    t = 1.0 - omega * dark_channel(x / A, patch)
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
    t = guided_filter(grey, t.astype(np.float32), radius=max(2, patch * 2), eps=1e-3)
    t = np.maximum(t, t_min)[..., None]
    return np.clip((x - A) / t + A, 0, 1).astype(np.float32)


@dataclass
class PipelineReport:
    """Compute of 'dehaze every frame' vs 'classify every frame, dehaze the flagged ones'."""

    n_frames: int
    n_flagged: int
    dehaze_s_per_frame: float
    classify_s_per_frame: float

    @property
    def flagged_fraction(self) -> float:
        return self.n_flagged / self.n_frames

    @property
    def all_frames_s(self) -> float:
        return self.n_frames * self.dehaze_s_per_frame

    @property
    def targeted_s(self) -> float:
        return self.n_frames * self.classify_s_per_frame + self.n_flagged * self.dehaze_s_per_frame

    @property
    def saved_fraction(self) -> float:
        """1 − targeted / all-frames: the share of compute the classifier saves (negative =
        costs)."""
        return 1.0 - self.targeted_s / self.all_frames_s


def saved_fraction(flagged_fraction, classify_s: float, dehaze_s: float):
    """The same saving as a function of the flagged fraction p: 1 − (c + p·d) / d."""
    return 1.0 - (classify_s + np.asarray(flagged_fraction) * dehaze_s) / dehaze_s


def targeted_pipeline(
    frames: np.ndarray, flags: np.ndarray, classify_s_per_frame: float, repeats: int = 3
) -> tuple[np.ndarray, PipelineReport]:
    """Dehaze the frames where ``flags`` is True (others pass through), and time the dehazer on
    this clip's frames (median per-frame time of ``repeats`` passes over up to 10 frames).
    frames: (T, H, W, 3) uint8. Returns (output frames float32 in [0, 1], report)."""
    frames = np.asarray(frames)
    flags = np.asarray(flags, dtype=bool)
    if frames.ndim != 4 or len(frames) != len(flags):
        raise ValueError(
            f"need frames (T, H, W, 3) and T flags, got {frames.shape} and {flags.shape}"
        )
    sample = frames[:10]
    t = timing.measure(lambda: [dehaze_dcp(f) for f in sample], warmup=1, repeats=repeats)
    out = np.stack(
        [dehaze_dcp(f) if fl else f.astype(np.float32) / 255.0 for f, fl in zip(frames, flags)]
    )
    return out, PipelineReport(
        len(frames), int(flags.sum()), t.median / len(sample), classify_s_per_frame
    )
