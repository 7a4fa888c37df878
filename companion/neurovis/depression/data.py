"""Data for the HMHN chapter (Li et al., Front. Neurosci. 2023).

* Face pipeline: OpenCV Haar-cascade face and eye detection, then a similarity transform that puts
  the eyes at fixed positions (Section 4.2.1 uses dlib for the same step).
* Semi-synthetic benchmark: real ORL faces carrying depression-like cues rendered in four facial
  regions (furrowed brows, lowered eyelids, sagging cheeks / reduced smile, drooping mouth
  corners), with strengths that follow a latent severity mapped to a BDI-II score 0-63 (Table 1).
  Short "videos" per subject, subject-disjoint train / development / test partitions like AVEC.
* Paper scale: AVEC 2013 / 2014 loaders (videos -> frames -> aligned faces, BDI-II label files,
  the challenge partitions) from a user's data root.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import DataNotFoundError, embedded_path, require_data_root
from ..core.data import DataIntegrityError

EMBEDDED_NAME = "orl-faces"
BDI_MAX = 63
#: Table 1: BDI-II cut-off scores -> severity level.
BDI_BANDS = ((0, 13, "none or minimal"), (14, 19, "mild"), (20, 28, "moderate"), (29, 63, "severe"))
#: Canonical eye centres (fractions of the output side) after alignment.
CANONICAL_EYES = ((1 / 3, 0.375), (2 / 3, 0.375))
#: Ground-truth cue regions, boxes (x0, y0, x1, y1) in fractions of the aligned face.
CUE_REGIONS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "brows": ((0.17, 0.16, 0.83, 0.31),),
    "eyes": ((0.17, 0.31, 0.83, 0.45),),
    "cheeks": ((0.10, 0.50, 0.36, 0.66), (0.64, 0.50, 0.90, 0.66)),
    "mouth": ((0.27, 0.66, 0.73, 0.85),),
}
REGION_NAMES = tuple(CUE_REGIONS)


class FaceNotFoundError(ValueError):
    """The face detector found no face: the image is rejected instead of passing a wrong crop."""


def bdi_band(score: float) -> str:
    """Severity level of a BDI-II score (Table 1)."""
    if not 0 <= score <= BDI_MAX:
        raise ValueError(f"BDI-II scores lie in 0..{BDI_MAX}, got {score}")
    for lo, hi, name in BDI_BANDS:
        if score <= hi + 0.5:
            return name
    return BDI_BANDS[-1][2]


# ---------------------------------------------------------------------------------------------
# Face detection and eye-based alignment (OpenCV Haar cascades stand in for the paper's dlib)
# ---------------------------------------------------------------------------------------------
_CASCADES: dict = {}


def _cascade(name: str):
    import cv2

    # tiny images; and OpenCV's thread pool beside torch's stalled a Jupyter kernel once
    cv2.setNumThreads(1)
    if name not in _CASCADES:
        path = Path(cv2.data.haarcascades) / name
        clf = cv2.CascadeClassifier(str(path))
        if clf.empty():
            raise RuntimeError(
                f"{path}: OpenCV Haar cascade missing; install opencv-python-headless<5 "
                "(the 5.x wheels no longer ship cv2.data.haarcascades)"
            )
        _CASCADES[name] = clf
    return _CASCADES[name]


def to_gray_uint8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """A 2-D uint8 grey image from a grey or BGR array (uint8, or float in [0, 1])."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(
            img if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255).astype(np.uint8),
            cv2.COLOR_BGR2GRAY,
        )
    if img.ndim != 2:
        raise ValueError(
            f"{source}: expected a grey (H, W) or BGR (H, W, 3) image, got shape {img.shape}"
        )
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return img


def detect_face(gray: np.ndarray, source: str = "image") -> tuple[int, int, int, int]:
    """The largest frontal face (x, y, w, h) found by OpenCV's Haar cascade.

    Raises FaceNotFoundError naming ``source`` when there is none.
    """
    gray = to_gray_uint8(gray, source)
    side = min(gray.shape)
    faces = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=1.05, minNeighbors=4, minSize=(max(24, side // 4),) * 2
    )
    if len(faces) == 0:
        raise FaceNotFoundError(
            f"{source}: no face found by OpenCV's frontal-face Haar cascade "
            f"(image {gray.shape[1]}x{gray.shape[0]}); rejected rather than cropped blindly"
        )
    x, y, w, h = max(faces, key=lambda r: r[2] * r[3])
    return int(x), int(y), int(w), int(h)


def detect_eyes(gray: np.ndarray, box: tuple[int, int, int, int]):
    """Left and right eye centres (image coordinates) inside face ``box``, or None if not both
    found."""
    x, y, w, h = box
    roi = gray[y : y + int(0.6 * h), x : x + w]
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(
        roi, scaleFactor=1.05, minNeighbors=3, minSize=(max(6, w // 10),) * 2
    )
    left = [e for e in eyes if e[0] + e[2] / 2 < w / 2]
    right = [e for e in eyes if e[0] + e[2] / 2 >= w / 2]
    if not left or not right:
        return None
    centre = lambda e: (x + e[0] + e[2] / 2, y + e[1] + e[3] / 2)  # noqa: E731
    le = centre(max(left, key=lambda e: e[2] * e[3]))
    re_ = centre(max(right, key=lambda e: e[2] * e[3]))
    if abs(le[1] - re_[1]) > 0.25 * w:  # an eyebrow or nostril taken for an eye
        return None
    return le, re_


def align_face(
    image: np.ndarray, size: int = 96, source: str = "image", keep_color: bool = False
) -> tuple[np.ndarray, bool]:
    """Detect, then rotate/scale/crop so the eyes land on ``CANONICAL_EYES`` (Section 4.2.1).

    Returns (face, eyes_found): face is (size, size) float32 in [0, 1] (or (size, size, 3) BGR when
    ``keep_color`` and the input is colour; detection always runs on grey). When the eye cascade
    does not find both eyes, the eyes are placed at the face box's average eye positions (eyes_found
    False). Raises FaceNotFoundError when no face is found.
    """
    import cv2

    gray = to_gray_uint8(image, source)
    box = detect_face(gray, source)
    eyes = detect_eyes(gray, box)
    found = eyes is not None
    if not found:
        x, y, w, h = box
        eyes = ((x + 0.31 * w, y + 0.39 * h), (x + 0.69 * w, y + 0.39 * h))
    (lx, ly), (rx, ry) = eyes
    (cl, cy), (cr, _) = CANONICAL_EYES
    angle = np.degrees(np.arctan2(ry - ly, rx - lx))
    scale = (cr - cl) * size / max(np.hypot(rx - lx, ry - ly), 1e-6)
    M = cv2.getRotationMatrix2D(((lx + rx) / 2, (ly + ry) / 2), angle, scale)
    M[0, 2] += (cl + cr) / 2 * size - (lx + rx) / 2
    M[1, 2] += cy * size - (ly + ry) / 2
    src = np.asarray(image) if keep_color and np.asarray(image).ndim == 3 else gray
    if src.dtype != np.uint8:
        src = (np.clip(src, 0, 1) * 255).astype(np.uint8)
    face = cv2.warpAffine(
        src, M, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )
    return face.astype(np.float32) / 255.0, found


def load_orl(
    root: Path | None = None, images_per_subject: int | None = None
) -> dict[str, list[np.ndarray]]:
    """ORL / AT&T faces: {"s1": [grey uint8 images (112, 92)], ...} from ``root`` (default:
    embedded).

    The published format: one folder per subject ``s<N>/`` holding ``<k>.pgm`` files.
    """
    import cv2

    root = Path(root) if root is not None else embedded_path(EMBEDDED_NAME, "orl")
    folders = sorted(
        (p for p in root.glob("s*") if p.is_dir() and p.name[1:].isdigit()),
        key=lambda p: int(p.name[1:]),
    )
    if not folders:
        raise DataNotFoundError(
            f"{root}: no ORL subject folders s1..s40 (each holding <k>.pgm images)"
        )
    faces = {}
    for folder in folders:
        files = sorted(folder.glob("*.pgm"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
        if not files:
            raise DataIntegrityError(f"{folder}: no .pgm images in this ORL subject folder")
        imgs = []
        for f in files[:images_per_subject]:
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise DataIntegrityError(f"{f}: not a readable PGM image")
            imgs.append(img)
        faces[folder.name] = imgs
    return faces


# ---------------------------------------------------------------------------------------------
# Depression-like cues (the generator)
# ---------------------------------------------------------------------------------------------
# (centre x, y, displacement dx, dy, sigma) in fractions of the side; shading: (x, y, sx, sy, amp)
_WARPS = {
    "brows": [(0.37, 0.25, 0.035, 0.05, 0.06), (0.63, 0.25, -0.035, 0.05, 0.06)],
    "eyes": [(1 / 3, 0.345, 0.0, 0.04, 0.045), (2 / 3, 0.345, 0.0, 0.04, 0.045)],
    "cheeks": [(0.23, 0.57, 0.0, 0.05, 0.06), (0.77, 0.57, 0.0, 0.05, 0.06)],
    "mouth": [(0.36, 0.75, 0.0, 0.06, 0.045), (0.64, 0.75, 0.0, 0.06, 0.045)],
}
_SHADES = {
    "brows": [(0.5, 0.26, 0.025, 0.05, 0.45)],
    "eyes": [(1 / 3, 0.36, 0.08, 0.035, 0.35), (2 / 3, 0.36, 0.08, 0.035, 0.35)],
    "cheeks": [(0.23, 0.58, 0.07, 0.05, 0.3), (0.77, 0.58, 0.07, 0.05, 0.3)],
    "mouth": [(0.35, 0.76, 0.035, 0.03, 0.4), (0.65, 0.76, 0.035, 0.03, 0.4)],
}


#: One mark of each region: (warp, shade) of its first component, as offsets from the warp's
#: centre. A distractor is such a mark placed elsewhere on the face.
MARK_KINDS = tuple(
    (
        name,
        _WARPS[name][0][2:],
        (
            _SHADES[name][0][0] - _WARPS[name][0][0],
            _SHADES[name][0][1] - _WARPS[name][0][1],
            *_SHADES[name][0][2:],
        ),
    )
    for name in ("brows", "eyes", "cheeks", "mouth")
)


def distractor_sites(margin: float = 0.05, step: float = 0.02) -> np.ndarray:
    """(M, 2) candidate centres (x, y, fractions of the side) for distractor marks: points of the
    aligned face (the ellipse centred at (0.5, 0.52) with half-axes 0.4 and 0.47, which holds the
    face of an ORL image after ``align_face``) at least ``margin`` away from every cue region
    (``CUE_REGIONS``): forehead, temples, nose, jaw and chin."""
    xs = np.arange(0.08, 0.92 + 1e-9, step)
    ys = np.arange(0.05, 0.99 + 1e-9, step)
    pts = np.array([(x, y) for y in ys for x in xs])
    keep = ((pts[:, 0] - 0.5) / 0.4) ** 2 + ((pts[:, 1] - 0.52) / 0.47) ** 2 <= 1
    for boxes in CUE_REGIONS.values():
        for x0, y0, x1, y1 in boxes:
            dx = np.maximum(np.maximum(x0 - pts[:, 0], pts[:, 0] - x1), 0)
            dy = np.maximum(np.maximum(y0 - pts[:, 1], pts[:, 1] - y1), 0)
            keep &= np.hypot(dx, dy) >= margin
    return pts[keep]


def render_cues(face: np.ndarray, strengths, intensity: float = 1.0, distractors=()) -> np.ndarray:
    """Render the four depression-like cues (and optional distractor marks) on an aligned face.

    face: (S, S) float in [0, 1], aligned with ``align_face``. strengths: 4 values in [0, 1], one
    per region of ``REGION_NAMES`` (brows, eyes, cheeks, mouth). Each cue is a local geometric
    warp (inner brows pulled down and together, upper eyelids lowered, cheeks sagging, mouth
    corners drooping) plus local darkening (brow furrow, eyelid shadow, flat cheeks, mouth-corner
    shadow). Zero strength returns the face unchanged; the change grows monotonically with strength.
    ``intensity`` scales every warp and shading (the benchmark's signal-to-identity ratio).
    ``distractors``: (kind, x, y, strength) marks: the warp and shading of one component of cue
    ``MARK_KINDS[kind]``, centred at (x, y) (fractions of the side), at ``strength`` in [0, 1].
    """
    import cv2

    face = np.asarray(face, dtype=np.float32)
    if face.ndim != 2 or face.shape[0] != face.shape[1]:
        raise ValueError(
            f"render_cues: expected a square (S, S) aligned face, got shape {face.shape}"
        )
    c = np.asarray(strengths, dtype=np.float32).ravel()
    if not 0 < intensity <= 2:
        raise ValueError(f"render_cues: intensity must lie in (0, 2], got {intensity}")
    if c.shape != (len(REGION_NAMES),) or (c < 0).any() or (c > 1).any():
        raise ValueError(
            f"render_cues: expected {len(REGION_NAMES)} strengths in [0, 1] "
            f"({', '.join(REGION_NAMES)}), got {strengths}"
        )
    warps, shades = [], []  # (x, y, dx, dy, sigma, strength), (x, y, sx, sy, amp, strength)
    for r, name in enumerate(REGION_NAMES):
        if c[r] > 0:
            warps += [(*w, c[r]) for w in _WARPS[name]]
            shades += [(*h, c[r]) for h in _SHADES[name]]
    for kind, x, y, strength in distractors:
        if not 0 <= strength <= 1 or not 0 <= kind < len(MARK_KINDS):
            raise ValueError(
                f"render_cues: a distractor needs a kind in 0..{len(MARK_KINDS) - 1} and a "
                f"strength in [0, 1], got ({kind}, {x}, {y}, {strength})"
            )
        _, (ddx, ddy, sig), (ox, oy, sx, sy, amp) = MARK_KINDS[kind]
        warps.append((x, y, ddx, ddy, sig, strength))
        shades.append((x + ox, y + oy, sx, sy, amp, strength))
    if not warps:
        return face.copy()
    S = face.shape[0]
    yy, xx = (np.mgrid[0:S, 0:S].astype(np.float32) + 0.5) / S
    dx = np.zeros((S, S), np.float32)
    dy = np.zeros((S, S), np.float32)
    shade = np.ones((S, S), np.float32)
    for px, py, ddx, ddy, sig, k in warps:
        g = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sig**2))
        dx += intensity * k * ddx * g
        dy += intensity * k * ddy * g
    for px, py, sx, sy, amp, k in shades:
        shade *= 1 - k * min(0.9, intensity * amp) * np.exp(
            -((xx - px) ** 2 / (2 * sx**2) + (yy - py) ** 2 / (2 * sy**2))
        )
    # backward map: the pixel at x shows what was at x - d (content moves by +d)
    map_x = (xx - dx) * S - 0.5
    map_y = (yy - dy) * S - 0.5
    warped = cv2.remap(
        face, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return np.clip(warped * shade, 0, 1)


COMBINATIONS = ("mean", "interaction")


def bdi_from_cues(cues, combination: str = "interaction") -> float:
    """The video's BDI-II score from its four cue strengths (brows, eyes, cheeks, mouth).

    ``"mean"``: 63 x the mean strength (a plain sum: one linear template reads it).
    ``"interaction"``: 63 x (brows + eyes + 2 cheeks x mouth) / 4: drooping mouth corners count
    only together with sagging cheeks (a lost smile), and sagging cheeks only with the mouth, so
    no sum of per-region evidence gives the score; both still lie in 0..63.
    """
    b, e, ch, m = np.asarray(cues, dtype=np.float64).ravel()
    if combination == "mean":
        s = (b + e + ch + m) / 4
    elif combination == "interaction":
        s = (b + e + 2 * ch * m) / 4
    else:
        raise ValueError(f"combination must be one of {COMBINATIONS}, got {combination!r}")
    return float(np.round(BDI_MAX * s))


def region_masks(size: int) -> np.ndarray:
    """(4, size, size) boolean ground-truth masks of the cue regions on the aligned face."""
    masks = np.zeros((len(REGION_NAMES), size, size), bool)
    centres = (np.arange(size) + 0.5) / size
    for r, name in enumerate(REGION_NAMES):
        for x0, y0, x1, y1 in CUE_REGIONS[name]:
            masks[r][np.ix_((centres >= y0) & (centres < y1), (centres >= x0) & (centres < x1))] = (
                True
            )
    return masks


def jitter(
    face: np.ndarray,
    masks: np.ndarray,
    rng: np.random.Generator,
    rotate_deg: float = 4.0,
    shift: float = 0.03,
    scale: float = 0.04,
    gain: float = 0.15,
    noise: float = 0.015,
):
    """A video frame: small pose (rotation, scale, shift) and lighting (gain, offset, noise) jitter.

    The same affine moves the ground-truth region masks. Returns (frame, masks).
    """
    import cv2

    S = face.shape[0]
    M = cv2.getRotationMatrix2D(
        (S / 2, S / 2), rng.uniform(-rotate_deg, rotate_deg), 1 + rng.uniform(-scale, scale)
    )
    M[:, 2] += rng.uniform(-shift, shift, 2) * S
    out = cv2.warpAffine(face, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = (
        out * (1 + rng.uniform(-gain, gain))
        + rng.uniform(-0.05, 0.05)
        + rng.normal(0, noise, out.shape)
    )
    moved = np.stack(
        [cv2.warpAffine(m.astype(np.uint8), M, (S, S), flags=cv2.INTER_NEAREST) for m in masks]
    )
    return np.clip(out, 0, 1).astype(np.float32), moved.astype(bool)


@dataclass(frozen=True)
class BenchmarkConfig:
    """The semi-synthetic benchmark (AVEC stand-in), frozen before any model was compared.

    Per subject a baseline severity s_0 ~ Beta(a, b); per video s_v = clip(w s_0 + (1 - w) s' + N(0,
    video_spread)) with a fresh s' ~ Beta(a, b) and w = ``subject_weight`` (like AVEC's repeated
    recordings, a subject's videos have related but different scores); per region r the cue
    strength c_r = clip(s_v + N(0, cue_spread)), so every region carries only part of the
    evidence; the video's BDI-II score is ``bdi_from_cues(c, combination)``.

    What it is built to test (the paper's premise: the evidence sits in several facial regions at
    once, and a model must find them): ``distractors`` label-independent marks per video, the same
    warps and shading as the cues at U(0, 1) strengths, at random sites outside the cue regions
    (``distractor_sites``), so "any cue-like change anywhere" is not the score; the
    ``"interaction"`` combination, so that no per-region sum (a linear template) gives the score;
    and pose jitter of ``jitter_rotate_deg`` degrees, ``jitter_shift`` and ``jitter_scale``
    (fractions of the side) per frame, so the regions do not sit at fixed pixels. The cue masks
    (ground truth for the attention checks) move with each frame.
    """

    image_size: int = 48
    render_size: int = 96
    images_per_subject: int = 10
    split_subjects: tuple[int, int, int] = (24, 8, 8)  # train / development / test
    videos_per_subject: tuple[int, int, int] = (12, 10, 10)
    frames_per_video: int = 2
    severity_beta: tuple[float, float] = (1.2, 2.2)
    subject_weight: float = 0.3
    video_spread: float = 0.05
    cue_spread: float = 0.2
    frame_spread: float = 0.03
    intensity: float = 1.0
    combination: str = "interaction"
    distractors: int = 3
    jitter_rotate_deg: float = 8.0
    jitter_shift: float = 0.06
    jitter_scale: float = 0.08
    seed: int = 0

    def __post_init__(self):
        if self.render_size % self.image_size:
            raise ValueError(
                f"render_size {self.render_size} must be a multiple of image_size {self.image_size}"
            )
        if (
            min(self.split_subjects) < 1
            or min(self.videos_per_subject) < 1
            or self.frames_per_video < 1
        ):
            raise ValueError("every partition needs at least one subject, video and frame")
        if self.combination not in COMBINATIONS:
            raise ValueError(f"combination must be one of {COMBINATIONS}, got {self.combination!r}")
        if self.distractors < 0:
            raise ValueError(f"distractors must be >= 0, got {self.distractors}")


@dataclass
class FaceVideos:
    """One partition: frames (N, 1, S, S) float32, per-frame BDI-II, video and subject ids,
    cue strengths (N, 4), ground-truth region masks (N, 4, S, S), and, on the generated
    benchmark, the distractors' total strength (N,) and where they are (N, S, S)."""

    name: str
    frames: np.ndarray
    bdi: np.ndarray
    video: np.ndarray
    subject: np.ndarray
    cues: np.ndarray
    masks: np.ndarray
    subjects: list = field(default_factory=list)
    distractor_strength: np.ndarray | None = None
    distractor_masks: np.ndarray | None = None

    def __len__(self):
        return len(self.frames)

    @property
    def num_videos(self) -> int:
        return len(np.unique(self.video))

    def video_labels(self) -> np.ndarray:
        """BDI-II score of each video, ordered by video id."""
        ids = np.unique(self.video)
        return np.array([self.bdi[self.video == v][0] for v in ids], dtype=np.float32)

    def tensors(self):
        import torch

        return (torch.from_numpy(self.frames), torch.from_numpy(self.bdi))


def align_subjects(faces: dict[str, list[np.ndarray]], size: int) -> tuple[dict, dict]:
    """Align every image; returns ({subject: [aligned faces]}, report). Images whose face is not
    found are left out and counted; subjects with no usable image are dropped."""
    aligned, report = {}, {"images": 0, "no_face": 0, "eyes_found": 0}
    for subj, imgs in faces.items():
        ok = []
        for k, img in enumerate(imgs):
            report["images"] += 1
            try:
                face, found = align_face(img, size, source=f"{subj}/{k + 1}.pgm")
            except FaceNotFoundError:
                report["no_face"] += 1
                continue
            report["eyes_found"] += int(found)
            ok.append(face)
        if ok:
            aligned[subj] = ok
    return aligned, report


def _disc_mask(size: int, sites, radius: float) -> np.ndarray:
    """(size, size) union of discs of ``radius`` (fraction of the side) around ``sites``."""
    c = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(c, c, indexing="ij")
    out = np.zeros((size, size), bool)
    for x, y in sites:
        out |= (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
    return out


#: The fixed permutation of the subjects behind ``partition_subjects`` (never changes with the
#: seed, so the development subjects are the same in every run).
PARTITION_SEED = 20230401


def partition_subjects(subjects, split=(24, 8, 8), seed: int = 0) -> dict[str, list]:
    """Subject-disjoint train / dev / test lists, as cross-validation folds over seeds.

    The subjects are shuffled once by ``PARTITION_SEED``: the first ``split[1]`` are the
    development subjects of every run (early stopping and every tuning choice are scored on them
    only, so they are never test subjects); the rest form ``(len - dev) // test`` folds of
    ``split[2]`` subjects. Seed k tests fold ``k mod folds`` and trains on ``split[0]`` of the
    other subjects, so over seeds every non-development subject is a test subject.
    """
    n_train, n_dev, n_test = split
    subjects = list(subjects)
    if n_train + n_dev + n_test > len(subjects):
        raise ValueError(
            f"partition_subjects: {n_train + n_dev + n_test} subjects needed for the partitions "
            f"{tuple(split)}, only {len(subjects)} have an aligned face"
        )
    order = [subjects[i] for i in np.random.default_rng(PARTITION_SEED).permutation(len(subjects))]
    dev, rest = order[:n_dev], order[n_dev:]
    folds = len(rest) // n_test
    k = seed % folds
    test = rest[k * n_test : (k + 1) * n_test]
    others = [s for s in rest if s not in test]
    train = [
        others[i] for i in np.sort(np.random.default_rng(seed).permutation(len(others))[:n_train])
    ]
    return {"train": train, "dev": dev, "test": test}


def make_benchmark(config: BenchmarkConfig = BenchmarkConfig(), aligned: dict | None = None):
    """Build the train / development / test partitions (subject-disjoint, like AVEC; which
    subjects: ``partition_subjects``).

    aligned: {subject: [aligned faces at config.render_size]} (default: the embedded ORL faces,
    aligned here). Returns ({"train": FaceVideos, "dev": ..., "test": ...}, alignment report).
    Deterministic for a given config (seed).
    """
    import cv2

    report = {}
    if aligned is None:
        aligned, report = align_subjects(
            load_orl(images_per_subject=config.images_per_subject), config.render_size
        )
    subjects = sorted(aligned, key=lambda s: (len(s), s))
    split = partition_subjects(subjects, config.split_subjects, config.seed)
    rng = np.random.default_rng(config.seed)
    S, R = config.image_size, config.render_size
    base_masks = region_masks(R)
    sites = distractor_sites()
    parts, video_id = {}, 0
    for name, n_vid in zip(("train", "dev", "test"), config.videos_per_subject):
        subj_names = split[name]
        rows = {
            k: []
            for k in ("frames", "bdi", "video", "subject", "cues", "masks", "d_strength", "d_mask")
        }
        for subj in subj_names:
            s_subj = rng.beta(*config.severity_beta)
            for _ in range(n_vid):
                s_new = rng.beta(*config.severity_beta)
                s_vid = float(
                    np.clip(
                        config.subject_weight * s_subj
                        + (1 - config.subject_weight) * s_new
                        + rng.normal(0, config.video_spread),
                        0,
                        1,
                    )
                )
                cues = np.clip(s_vid + rng.normal(0, config.cue_spread, len(REGION_NAMES)), 0, 1)
                bdi = bdi_from_cues(cues, config.combination)
                base = aligned[subj][rng.integers(len(aligned[subj]))]
                # label-independent distractors: drawn from their own stream of the video's rng
                n_d = config.distractors
                where = sites[rng.choice(len(sites), size=n_d, replace=False)] if n_d else []
                kinds = rng.integers(len(MARK_KINDS), size=n_d)
                d_str = rng.uniform(0, 1, n_d)
                distractors = [
                    (int(k), x, y, float(a)) for k, (x, y), a in zip(kinds, where, d_str)
                ]
                d_mask = _disc_mask(R, where, 0.07)
                for _ in range(config.frames_per_video):
                    c_t = np.clip(cues + rng.normal(0, config.frame_spread, len(cues)), 0, 1)
                    frame, masks = jitter(
                        render_cues(base, c_t, config.intensity, distractors),
                        np.concatenate([base_masks, d_mask[None]]),
                        rng,
                        rotate_deg=config.jitter_rotate_deg,
                        shift=config.jitter_shift,
                        scale=config.jitter_scale,
                    )
                    frame = cv2.resize(frame, (S, S), interpolation=cv2.INTER_AREA)
                    masks = np.stack(
                        [
                            cv2.resize(m.astype(np.float32), (S, S), interpolation=cv2.INTER_AREA)
                            > 0.5
                            for m in masks
                        ]
                    )
                    rows["frames"].append(frame[None])
                    rows["bdi"].append(bdi)
                    rows["video"].append(video_id)
                    rows["subject"].append(int(subj[1:]))
                    rows["cues"].append(cues)
                    rows["masks"].append(masks[:-1])
                    rows["d_mask"].append(masks[-1])
                    rows["d_strength"].append(float(d_str.sum()))
                video_id += 1
        parts[name] = FaceVideos(
            name,
            np.stack(rows["frames"]).astype(np.float32),
            np.array(rows["bdi"], np.float32),
            np.array(rows["video"]),
            np.array(rows["subject"]),
            np.stack(rows["cues"]).astype(np.float32),
            np.stack(rows["masks"]),
            subj_names,
            np.array(rows["d_strength"], np.float32),
            np.stack(rows["d_mask"]),
        )
    return parts, report


# ---------------------------------------------------------------------------------------------
# AVEC 2013 / 2014 (scale="paper")
# ---------------------------------------------------------------------------------------------
AVEC_PARTITIONS = ("Training", "Development", "Testing")
AVEC_TASKS = {"2013": ("",), "2014": ("Freeform", "Northwind")}
AVEC_HOW_TO_GET = (
    "AVEC 2013 and AVEC 2014 (depression sub-challenge) are distributed by the challenge "
    "organisers under an End User License Agreement (Valstar et al. 2013, 2014; request access "
    "through the AVEC 2013/2014 challenge pages / the organisers at Imperial College London). "
    "Unpack the video and label archives so that videos are "
    "<root>/AVEC<year>/<Partition>/[<Task>/]<id>*.mp4 and BDI-II labels are "
    "<root>/AVEC<year>/labels/<Partition>_DepressionLabels/<id>_Depression.csv (one number per "
    "file)."
)


def avec_expected_layout(year: str) -> list[str]:
    """The folders ``require_data_root`` checks for AVEC ``year`` ("2013" or "2014")."""
    if year not in AVEC_TASKS:
        raise ValueError(f"AVEC year must be '2013' or '2014', got {year!r}")
    out = []
    for part in AVEC_PARTITIONS:
        for task in AVEC_TASKS[year]:
            out.append(f"AVEC{year}/{part}/{task}".rstrip("/"))
        out.append(f"AVEC{year}/labels/{part}_DepressionLabels")
    return out


@dataclass(frozen=True)
class AVECVideo:
    partition: str
    task: str
    video_id: str
    path: Path
    bdi: float


_ID = re.compile(r"^(\d+_\d+)")


def read_bdi_label(path: Path) -> float:
    """The BDI-II score in an AVEC ``<id>_Depression.csv`` file (a single number)."""
    path = Path(path)
    with open(path, newline="") as f:
        cells = [c.strip() for row in csv.reader(f) for c in row if c.strip()]
    if len(cells) != 1:
        raise DataIntegrityError(
            f"{path}: expected one BDI-II score, found {len(cells)} values {cells[:4]}"
        )
    try:
        score = float(cells[0])
    except ValueError:
        raise DataIntegrityError(f"{path}: BDI-II score {cells[0]!r} is not a number") from None
    if not 0 <= score <= BDI_MAX:
        raise DataIntegrityError(f"{path}: BDI-II score {score} outside 0..{BDI_MAX}")
    return score


def index_avec(data_root, year: str = "2014") -> list[AVECVideo]:
    """Every AVEC ``year`` video with its partition, task and BDI-II label.

    Raises DataNotFoundError (with how to get the data) when the layout is absent, and
    DataIntegrityError naming the file when a video has no label.
    """
    root = require_data_root(data_root, f"AVEC {year}", avec_expected_layout(year), AVEC_HOW_TO_GET)
    base = root / f"AVEC{year}"
    videos = []
    for part in AVEC_PARTITIONS:
        label_dir = base / "labels" / f"{part}_DepressionLabels"
        for task in AVEC_TASKS[year]:
            folder = base / part / task if task else base / part
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi"))
            if not files:
                raise DataNotFoundError(f"{folder}: no .mp4/.avi videos. {AVEC_HOW_TO_GET}")
            for p in files:
                m = _ID.match(p.name)
                if not m:
                    raise DataIntegrityError(
                        f"{p}: name does not start with an AVEC id <subject>_<session>"
                    )
                label = label_dir / f"{m.group(1)}_Depression.csv"
                if not label.is_file():
                    raise DataIntegrityError(f"{p}: no BDI-II label {label}")
                videos.append(AVECVideo(part, task, m.group(1), p, read_bdi_label(label)))
    return videos


def read_video_frames(
    path: Path, every: int = 30, max_frames: int | None = None
) -> list[np.ndarray]:
    """Every ``every``-th frame (BGR uint8) of a video, read with OpenCV."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataIntegrityError(f"{path}: OpenCV cannot open this video")
    frames, k = [], 0
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            if k % every == 0:
                frames.append(frame)
            k += 1
    finally:
        cap.release()
    if not frames:
        raise DataIntegrityError(f"{path}: no frame could be decoded")
    return frames


def avec_faces(
    videos: list[AVECVideo],
    size: int = 224,
    every: int = 30,
    max_frames: int | None = None,
    gray: bool = False,
):
    """Aligned faces of every video: (frames (N, C, size, size) float32, bdi (N,), video index
    (N,)).

    Frames without a detected face are skipped; a video with no face at all raises."""
    out, bdi, vid = [], [], []
    for i, v in enumerate(videos):
        n = 0
        for k, frame in enumerate(read_video_frames(v.path, every, max_frames)):
            try:
                face, _ = align_face(
                    frame, size, source=f"{v.path}#frame{k * every}", keep_color=not gray
                )
            except FaceNotFoundError:
                continue
            # BGR -> RGB, channels first
            face = face[None] if gray else face[..., ::-1].transpose(2, 0, 1)
            out.append(face)
            bdi.append(v.bdi)
            vid.append(i)
            n += 1
        if n == 0:
            raise FaceNotFoundError(f"{v.path}: no face found in any sampled frame")
    return np.stack(out).astype(np.float32), np.array(bdi, np.float32), np.array(vid)


def avec_partitions(
    data_root,
    year: str = "2014",
    size: int = 222,
    every: int = 30,
    max_frames: int | None = None,
    gray: bool = False,
) -> dict:
    """AVEC ``year`` as {"train", "dev", "test"} ``FaceVideos`` (no cue masks: real data).

    Section 4.1: for AVEC 2014 the paper trains on the Training and Development partitions of both
    tasks and tests on Testing, which leaves no validation set. We keep one: every fifth subject of
    Development (sorted ids; at least one) is "dev", for early stopping and tuning, and is left out
    of training; the other Development subjects train with Training. For AVEC 2013 it is
    Training -> train, Development -> dev, Testing -> test.
    """
    videos = index_avec(data_root, year)
    dev_subjects = sorted(
        {v.video_id.split("_")[0] for v in videos if v.partition == "Development"}
    )
    held = set(dev_subjects[::5]) if year == "2014" else set(dev_subjects)

    def is_dev(v):
        return v.partition == "Development" and v.video_id.split("_")[0] in held

    groups = {
        "train": lambda v: (
            v.partition == "Training"
            or (year == "2014" and v.partition == "Development" and not is_dev(v))
        ),
        "dev": is_dev,
        "test": lambda v: v.partition == "Testing",
    }
    parts = {}
    for name, member in groups.items():
        chosen = [v for v in videos if member(v)]
        frames, bdi, vid = avec_faces(chosen, size, every, max_frames, gray)
        subject = np.array([int(chosen[i].video_id.split("_")[0]) for i in vid])
        parts[name] = FaceVideos(
            name,
            frames,
            bdi,
            vid,
            subject,
            np.zeros((len(bdi), 0), np.float32),
            None,
            sorted({v.video_id for v in chosen}),
        )
    return parts
