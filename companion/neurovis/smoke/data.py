"""Data of the smoke chapter: real laparoscopic frames, rendered smoke composited onto them (Eq.
1-2), real smoky clips (DeSmoke-LAP) read from video, and the paper-scale Hamlyn frame loader.

Embedded (small scale), from ``data/embedded/`` (see each SOURCE.md):
- ``lap_frames/``: 20 real 256x256 frames of one laparoscopic scene (Salazar-Colores et al.),
  13 nearly smoke-free (the base frames smoke is composited onto) and 7 with visible real smoke.
- ``desmoke_lap/``: the 10 real smoky clips of DeSmoke-LAP (Pan et al. 2022), 50 frames each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core import DataNotFoundError, embedded_path, require_data_root

# Frames of the Salazar-Colores set, split by their dark-channel haze score (see haze_score and
# the chapter's data section): <= 0.202 nearly clear, >= 0.246 visible real smoke; the five in
# between (9, 14, 18, 21, 22) are ambiguous and not used.
CLEAR_FRAMES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 23, 24, 25)
SMOKY_FRAMES = (11, 13, 15, 16, 17, 19, 20)
# The clear frames split three ways, once and for all (the benchmark is frozen before any model):
TRAIN_CLEAR_FRAMES = (1, 2, 5, 6, 7, 23)  # base frames of the training (and validation) crops
TEST_CLEAR_FRAMES = (4, 8, 12, 24)  # base frames of the test crops: never trained on
REAL_CLEAR_FRAMES = (3, 10, 25)  # never a base frame for rendered smoke, never trained on: the
# real smoke-free frames whose false-positive rate sits beside the real-smoke sensitivity

HAMLYN_HOW_TO_GET = (
    "the Hamlyn Centre Laparoscopic / Endoscopic Video Datasets "
    "(http://hamlyn.doc.ic.ac.uk/vision/); "
    "put the videos (.avi/.mp4) or extracted frames (.png/.jpg), in any sub-folders, under "
    "<data_root>/hamlyn/. The paper samples 5,000 frames of 384x192 at irregular intervals."
)


# ----------------------------------------------------------------------------------- frames
def read_image(path: str | Path) -> np.ndarray:
    """An RGB uint8 image (H, W, 3); a clear error when the file is missing or not an image."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such image file")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image (corrupt, or not PNG/JPEG)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_video(
    path: str | Path, max_frames: int | None = None, size: int | None = None
) -> np.ndarray:
    """All frames of a video as RGB uint8 (T, H, W, 3), optionally resized to ``size`` x ``size``.

    Raises DataNotFoundError for a missing file and ValueError naming the file when it cannot be
    opened or holds no decodable frame (empty or corrupt clip).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        if not cap.isOpened():
            raise ValueError(f"{path}: cannot open the video (corrupt file or unsupported codec)")
        while max_frames is None or len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if size is not None:
                frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{path}: no decodable frame (empty or corrupt clip)")
    return np.stack(frames)


def load_lap_frames(which: str = "clear") -> dict[int, np.ndarray]:
    """The embedded real frames {number: RGB uint8 (256, 256, 3)}; ``which``: "clear" or "smoky"."""
    if which not in ("clear", "smoky"):
        raise ValueError(f"which must be 'clear' or 'smoky', got {which!r}")
    ids = CLEAR_FRAMES if which == "clear" else SMOKY_FRAMES
    return {i: read_image(embedded_path("lap_frames", f"{i}.jpg")) for i in ids}


def load_smoky_clips(size: int | None = None) -> dict[str, np.ndarray]:
    """The 10 embedded real smoky DeSmoke-LAP clips {name: (50, H, W, 3) uint8}."""
    folder = embedded_path("desmoke_lap")
    paths = sorted(folder.glob("input_*.avi"), key=lambda p: int(p.stem.split("_")[1]))
    if not paths:
        raise DataNotFoundError(f"{folder}: no input_*.avi clips")
    return {p.stem: read_video(p, size=size) for p in paths}


def haze_score(img: np.ndarray, patch: int = 15) -> float:
    """Mean dark channel (He et al. 2009) of an RGB image in [0, 1]: min over colour and a
    ``patch`` x ``patch`` window. Haze and smoke raise it; used to sort the real frames."""
    x = _as_float(img)
    dark = cv2.erode(x.min(axis=2), np.ones((patch, patch), np.uint8))
    return float(dark.mean())


def _as_float(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {img.shape}")
    return img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)


# ---------------------------------------------------------------------------------- smoke (Eq. 1-2)
@dataclass(frozen=True)
class SmokeParams:
    """The random rendering parameters of Eq. 1: intensity T (peak opacity), density D (the
    fraction of the plume's area the smoke fills), position P (centre, in image fractions) and
    the plume radius (in image fractions)."""

    T: float
    D: float
    P: tuple[float, float]
    radius: float

    @classmethod
    def sample(
        cls, rng: np.random.Generator, T=(0.35, 0.9), D=(0.3, 0.9), radius=(0.35, 0.9)
    ) -> "SmokeParams":
        return cls(
            float(rng.uniform(*T)),
            float(rng.uniform(*D)),
            (float(rng.uniform(0, 1)), float(rng.uniform(0, 1))),
            float(rng.uniform(*radius)),
        )


def fractal_noise(
    size: int, rng: np.random.Generator, octaves: int = 5, base: int = 3, persistence: float = 0.55
) -> np.ndarray:
    """Multi-octave value noise in [0, 1], (size, size): random grids of base·2^o cells, bicubically
    upsampled and summed with weights persistence^o (the turbulent texture of a smoke plume)."""
    total = np.zeros((size, size), np.float32)
    weight = 0.0
    for o in range(octaves):
        cells = base * 2**o
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        total += persistence**o * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        weight += persistence**o
    total /= weight
    lo, hi = total.min(), total.max()
    return (total - lo) / max(hi - lo, 1e-6)


def render_smoke(
    size: int, params: SmokeParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """I_smoke = Render(T_rand, D_rand, P_rand) (Eq. 1): the smoke's transparency map α (size, size)
    in [0, T] and its local colour (size, size, 3) in [0, 1].

    α = T · g_P · s_D(n): a Gaussian plume g_P centred at P, times a smooth threshold of fractal
    noise n that lets a fraction ≈ D of the plume through; the colour is a light grey-white with a
    slow local tint (smoke scatters the warm endoscope light)."""
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    py, px = params.P
    g = np.exp(-((yy - py) ** 2 + (xx - px) ** 2) / (2 * params.radius**2))
    n = fractal_noise(size, rng)
    lo, hi = 1 - params.D - 0.25, 1 - params.D + 0.25
    s = np.clip((n - lo) / (hi - lo), 0, 1)
    s = s * s * (3 - 2 * s)  # smoothstep
    alpha = (params.T * g * s).astype(np.float32)
    tint = rng.uniform([0.82, 0.78, 0.76], [1.0, 0.97, 0.95]).astype(np.float32)
    local = 0.06 * (fractal_noise(size, rng, octaves=2, base=2) - 0.5)
    colour = np.clip(tint[None, None, :] + local[..., None], 0, 1)
    return alpha, colour


def composite(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """I_simage = I_original ⊕ I_smoke (Eq. 2) as transparency blending:
    (1 − α)·I_original + α·colour. Float RGB in [0, 1] (H, W, 3); the range is kept."""
    x = _as_float(image)
    if alpha.shape != x.shape[:2] or colour.shape != x.shape:
        raise ValueError(
            f"alpha {alpha.shape} / colour {colour.shape} do not match the image {x.shape}"
        )
    a = alpha[..., None]
    return np.clip((1 - a) * x + a * colour, 0.0, 1.0)


def add_smoke(
    image: np.ndarray, rng: np.random.Generator, params: SmokeParams | None = None
) -> np.ndarray:
    """Eq. 1 then Eq. 2 on one RGB image, with random parameters unless ``params`` is given."""
    x = _as_float(image)
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"expected a square image, got {x.shape[:2]}")
    params = params or SmokeParams.sample(rng)
    alpha, colour = render_smoke(x.shape[0], params, rng)
    return composite(x, alpha, colour)


# ----------------------------------------------------------------------------------- data sets
@dataclass
class SmokeSet:
    """Images (N, 3, S, S) float32 in [0, 1], labels (N,) int64 (1 = smoke), base-frame ids (N,)."""

    images: np.ndarray
    labels: np.ndarray
    frame_ids: np.ndarray

    def __len__(self):
        return len(self.labels)

    def tensors(self):
        import torch

        return torch.from_numpy(self.images), torch.from_numpy(self.labels)


def make_smoke_set(
    frames: dict[int, np.ndarray],
    n: int,
    img_size: int,
    rng: np.random.Generator,
    smoke_fraction: float = 0.2,
    min_crop: float | None = 0.6,
) -> SmokeSet:
    """``n`` samples from real clear ``frames``: random square crop (≥ ``min_crop`` of the side;
    ``min_crop=None``: the whole frame, resized without cropping, as the paper's
    ``transforms.Resize``), horizontal flip, mild brightness/gamma jitter, resize to ``img_size``;
    exactly round(n·smoke_fraction) of them get rendered smoke (Eq. 1-2). The paper's ratio is
    4:1 smoke-free to smoke, i.e. smoke_fraction = 0.2."""
    if not frames:
        raise ValueError("make_smoke_set needs at least one clear frame")
    if not 0 <= smoke_fraction <= 1:
        raise ValueError(f"smoke_fraction must be in [0, 1], got {smoke_fraction}")
    ids = np.array(sorted(frames))
    n_smoke = int(round(n * smoke_fraction))
    labels = np.zeros(n, np.int64)
    labels[rng.permutation(n)[:n_smoke]] = 1
    images = np.empty((n, 3, img_size, img_size), np.float32)
    frame_ids = ids[np.arange(n) % len(ids)]
    frame_ids = frame_ids[rng.permutation(n)]
    for i in range(n):
        img = _as_float(frames[int(frame_ids[i])])
        h, w = img.shape[:2]
        if min_crop is None:
            crop = img
        else:
            side = int(rng.uniform(min_crop, 1.0) * min(h, w))
            y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            crop = img[y0 : y0 + side, x0 : x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = cv2.resize(
            np.ascontiguousarray(crop), (img_size, img_size), interpolation=cv2.INTER_AREA
        )
        crop = np.clip(crop ** rng.uniform(0.8, 1.25) * rng.uniform(0.85, 1.15), 0, 1)
        if labels[i]:
            crop = add_smoke(crop, rng)
        images[i] = crop.transpose(2, 0, 1)
    return SmokeSet(images, labels, frame_ids)


def small_split(
    img_size: int, n_train: int, n_val: int, n_test: int, rng: np.random.Generator
) -> tuple[SmokeSet, SmokeSet, SmokeSet]:
    """The train / validation / test sets from the embedded clear frames, 4:1 smoke-free to smoke
    in each. Train and validation are crops of ``TRAIN_CLEAR_FRAMES`` (different crops, different
    smoke); test crops come only from ``TEST_CLEAR_FRAMES``, so no test base frame is ever seen in
    training. ``REAL_CLEAR_FRAMES`` are in none of them (see ``real_views``)."""
    frames = load_lap_frames("clear")
    train = {k: frames[k] for k in TRAIN_CLEAR_FRAMES}
    test = {k: frames[k] for k in TEST_CLEAR_FRAMES}
    return (
        make_smoke_set(train, n_train, img_size, rng),
        make_smoke_set(train, n_val, img_size, rng),
        make_smoke_set(test, n_test, img_size, rng),
    )


def real_views(frames: dict[int, np.ndarray], img_size: int, crop: float = 0.75) -> SmokeSet:
    """Fixed views of real frames, with no rendering and no jitter: the whole frame, its four
    corner crops and its centre crop (``crop`` of the side), each also mirrored: 12 views a frame,
    resized to ``img_size``. Labels: 0 for ``CLEAR_FRAMES``, 1 for ``SMOKY_FRAMES``."""
    images, labels, ids = [], [], []
    for k in sorted(frames):
        if k not in CLEAR_FRAMES + SMOKY_FRAMES:
            raise ValueError(f"frame {k} is neither a clear nor a smoky embedded frame")
        img = _as_float(frames[k])
        h, w = img.shape[:2]
        s = int(crop * min(h, w))
        boxes = [(0, 0, h, w), (0, 0, s, s), (0, w - s, s, w), (h - s, 0, h, s)]
        boxes += [
            (h - s, w - s, h, w),
            ((h - s) // 2, (w - s) // 2, (h - s) // 2 + s, (w - s) // 2 + s),
        ]
        for y0, x0, y1, x1 in boxes:
            v = cv2.resize(
                np.ascontiguousarray(img[y0:y1, x0:x1]),
                (img_size, img_size),
                interpolation=cv2.INTER_AREA,
            )
            for view in (v, v[:, ::-1]):
                images.append(view.transpose(2, 0, 1))
                labels.append(int(k in SMOKY_FRAMES))
                ids.append(k)
    return SmokeSet(np.stack(images).astype(np.float32), np.array(labels, np.int64), np.array(ids))


def to_model_input(frames: np.ndarray, img_size: int) -> np.ndarray:
    """Real RGB uint8 frames (T, H, W, 3) -> float32 (T, 3, S, S) in [0, 1] as the classifier
    takes."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got shape {frames.shape}")
    out = [cv2.resize(f, (img_size, img_size), interpolation=cv2.INTER_AREA) for f in frames]
    return (np.stack(out).astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy()


# ----------------------------------------------------------------------------------- paper scale
VIDEO_EXT = (".avi", ".mp4", ".mov", ".mkv")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp")


def find_hamlyn(data_root) -> Path:
    """The ``<data_root>/hamlyn`` folder (DataNotFoundError with download instructions if
    absent)."""
    root = require_data_root(
        data_root, "Hamlyn laparoscopic videos", expected=["hamlyn"], how_to_get=HAMLYN_HOW_TO_GET
    )
    folder = root / "hamlyn"
    media = [p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXT + IMAGE_EXT]
    if not media:
        raise DataNotFoundError(
            f"{folder}: no videos ({', '.join(VIDEO_EXT)}) or frames "
            f"({', '.join(IMAGE_EXT)}) found. {HAMLYN_HOW_TO_GET}"
        )
    return folder


def load_hamlyn_frames(
    data_root,
    n: int,
    rng: np.random.Generator,
    size: tuple[int, int] = (384, 192),
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` frames sampled at irregular intervals (Sec. 3.1) from the Hamlyn videos / frame folders
    under ``<data_root>/hamlyn``, resized to ``size`` (W, H) = 384 x 192 as in the paper, never
    cropped. Returns (RGB uint8 frames, the video of each frame: a video file, or the folder of
    an extracted-frame sequence, as a string)."""
    folder = find_hamlyn(data_root)
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXT)
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)
    sources: list[tuple[Path, int | None]] = [(p, None) for p in images]
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        if count <= 0:
            raise ValueError(f"{v}: cannot read the frame count (corrupt or empty video)")
        sources += [(v, k) for k in range(count)]
    if len(sources) < n:
        raise ValueError(f"{folder}: only {len(sources)} frames available, {n} requested")
    pick = np.sort(rng.choice(len(sources), size=n, replace=False))  # irregular intervals
    out, groups = [], []
    for j in pick:
        path, k = sources[j]
        if k is None:
            img = read_image(path)
            groups.append(str(path.parent.relative_to(folder)))
        else:
            cap = cv2.VideoCapture(str(path))
            cap.set(cv2.CAP_PROP_POS_FRAMES, k)
            ok, frame = cap.read()
            cap.release()
            if not ok:
                raise ValueError(f"{path}: frame {k} cannot be decoded (corrupt video)")
            img = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            groups.append(str(path.relative_to(folder)))
        out.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    return out, np.array(groups)


def video_folds(groups, n_folds: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) of ``n_folds``-fold cross-validation by video
    (``sklearn.model_selection.GroupKFold``): no video has frames on both sides of a fold."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    n_videos = len(np.unique(groups))
    if n_videos < n_folds:
        raise ValueError(
            f"{n_folds}-fold cross-validation by video needs >= {n_folds} videos, got {n_videos}"
        )
    return list(GroupKFold(n_splits=n_folds).split(np.zeros(len(groups)), groups=groups))


def paper_split(
    data_root,
    img_size: int,
    rng: np.random.Generator,
    n_total: int = 5000,
    n_folds: int = 10,
    fold: int = 0,
    val_fraction: float = 0.1,
    frames=None,
) -> tuple[SmokeSet, SmokeSet, SmokeSet]:
    """The paper's data set (Sec. 3.1): 5,000 Hamlyn frames, 1,000 with rendered smoke, 4:1
    smoke-free to smoke in each part, resized to ``img_size`` without cropping. Split **by video**:
    the test part is fold ``fold`` of ``n_folds``-fold cross-validation by video (10 folds: about
    the paper's 3,800 / 1,200), the validation part a ``val_fraction`` of the remaining videos.
    Returns (train, val, test); each SmokeSet's ``frame_ids`` index ``frames`` (pass the
    ``(frames, groups)`` of ``load_hamlyn_frames`` to skip loading; the ``video`` of a sample is
    ``groups[frame_id]``)."""
    from sklearn.model_selection import GroupShuffleSplit

    frames, groups = frames if frames is not None else load_hamlyn_frames(data_root, n_total, rng)
    groups = np.asarray(groups)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in [0, {n_folds}), got {fold}")
    rest, test_idx = video_folds(groups, n_folds)[fold]
    gss = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=0)
    tr, va = next(gss.split(rest, groups=groups[rest]))
    parts = []
    for idx in (rest[tr], rest[va], test_idx):
        part = {int(i): frames[i] for i in idx}
        parts.append(make_smoke_set(part, len(idx), img_size, rng, min_crop=None))
    return tuple(parts)
