"""UTD-MHAD and MMAct in their published formats, the paper's pre-processing and splits.

Paper, Section 4.1-4.2: UTD-MHAD (Chen et al. 2015) skeleton (20 joints x 3 x T, Kinect) and
inertial (T x 6: 3-axis accelerometer, 3-axis gyroscope) recordings, subjects 1,3,5,7 for training
and 2,4,6,8 for testing; MMAct (Kong et al. 2019) 2-D keypoints and phone IMU, cross-subject
(subjects 1-16 train) and cross-scene (scene 2, occlusion, for testing). Every sequence is resampled
to 50 steps and skeletons are normalised with respect to their first frame.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

UTD_ACTIONS = [
    "swipe left",
    "swipe right",
    "wave",
    "clap",
    "throw",
    "arm cross",
    "basketball shoot",
    "draw x",
    "draw circle (cw)",
    "draw circle (ccw)",
    "draw triangle",
    "bowling",
    "boxing",
    "baseball swing",
    "tennis swing",
    "arm curl",
    "tennis serve",
    "push",
    "knock",
    "catch",
    "pickup & throw",
    "jog",
    "walk",
    "sit to stand",
    "stand to sit",
    "lunge",
    "squat",
]
UTD_JOINTS = [
    "head",
    "shoulder_center",
    "spine",
    "hip_center",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
]
# bones for drawing (pairs of 0-based joint indices)
UTD_BONES = [
    (0, 1),
    (1, 2),
    (2, 3),
    (1, 4),
    (4, 5),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (10, 11),
    (3, 12),
    (12, 13),
    (13, 14),
    (14, 15),
    (3, 16),
    (16, 17),
    (17, 18),
    (18, 19),
]
UTD_TRAIN_SUBJECTS = (1, 3, 5, 7)
UTD_TEST_SUBJECTS = (2, 4, 6, 8)
HIP_CENTER, SHOULDER_CENTER = 3, 1

_UTD_NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(skeleton|inertial)\.mat$")

MMACT_ACTIONS = [
    "carrying",
    "checking_time",
    "closing",
    "crouching",
    "entering",
    "exiting",
    "fall",
    "jumping",
    "kicking",
    "loitering",
    "looking_around",
    "opening",
    "picking_up",
    "pointing",
    "pulling",
    "pushing",
    "running",
    "setting_down",
    "standing",
    "talking",
    "talking_on_phone",
    "throwing",
    "transferring_object",
    "using_phone",
    "walking",
    "waving_hand",
    "drinking",
    "pocket_in",
    "pocket_out",
    "sitting",
    "sitting_down",
    "standing_up",
    "using_pc",
    "carrying_heavy",
    "carrying_light",
]
MMACT_IMU_SOURCES = ("acc_phone_clip", "gyro_clip", "orientation_clip")
MMACT_POSE_DIR = ("trimmed_pose", "pose", "cross_view", "trainval")
MMACT_NUM_KEYPOINTS = 17  # COCO keypoints (x, y, confidence) per person per frame


@dataclass
class ActionData:
    """Aligned multimodal recordings, pre-processed to a fixed length.

    skeleton: (N, C, T, V) float32, C = 3 (UTD-MHAD, Kinect 3-D) or 2 (MMAct keypoints).
    imu: (N, T, S) float32, S inertial channels.
    labels: (N,) int64, 0-based class index. subjects, trials, scenes: (N,) int64 (1-based as
    named).
    """

    skeleton: np.ndarray
    imu: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    trials: np.ndarray
    class_names: list
    scenes: np.ndarray = field(default=None)
    files: list = field(default_factory=list)

    def __post_init__(self):
        n = len(self.labels)
        for name in ("skeleton", "imu", "subjects", "trials"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"ActionData.{name} has {len(getattr(self, name))} rows, labels has {n}"
                )
        if self.scenes is None:
            self.scenes = np.zeros(n, dtype=np.int64)

    def __len__(self):
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index) -> "ActionData":
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return ActionData(
            self.skeleton[index],
            self.imu[index],
            self.labels[index],
            self.subjects[index],
            self.trials[index],
            self.class_names,
            self.scenes[index],
            [self.files[i] for i in index] if self.files else [],
        )


# ----------------------------------------------------------------------------------------- reading


def parse_utd_name(path) -> tuple[int, int, int, str]:
    """``aA_sS_tT_<modality>.mat`` -> (action, subject, trial, modality); ValueError otherwise."""
    m = _UTD_NAME.match(Path(path).name)
    if m is None:
        raise ValueError(
            f"{path}: not a UTD-MHAD file name (expected aA_sS_tT_skeleton.mat or "
            "aA_sS_tT_inertial.mat)"
        )
    a, s, t, mod = m.groups()
    a, s, t = int(a), int(s), int(t)
    if not (1 <= a <= 27 and 1 <= s <= 8 and 1 <= t <= 4):
        raise ValueError(
            f"{path}: action {a}, subject {s}, trial {t} outside UTD-MHAD's 1-27 / 1-8 / 1-4"
        )
    return a, s, t, mod


def read_utd_mat(path) -> np.ndarray:
    """Read one UTD-MHAD ``.mat``: ``d_skel`` (20, 3, T) or ``d_iner`` (T, 6), checked, as
    float32."""
    from scipy.io import loadmat

    path = Path(path)
    kind = parse_utd_name(path)[3]
    key, expected = ("d_skel", "20 x 3 x T") if kind == "skeleton" else ("d_iner", "T x 6")
    try:
        mat = loadmat(path)
    except (ValueError, TypeError, OSError, EOFError, zlib.error, KeyError, IndexError) as e:
        raise ValueError(
            f"{path}: not a readable MATLAB file ({type(e).__name__}: {e}); "
            "the file is truncated or corrupt, fetch it again"
        ) from e
    if key not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise ValueError(
            f"{path}: no variable {key!r} (found {found}); expected {key} of shape {expected}"
        )
    arr = np.asarray(mat[key], dtype=np.float64)
    ok = (
        (arr.ndim == 3 and arr.shape[:2] == (20, 3))
        if kind == "skeleton"
        else (arr.ndim == 2 and arr.shape[1] == 6)
    )
    if not ok:
        raise ValueError(f"{path}: {key} has shape {arr.shape}, expected {expected}")
    if (arr.shape[-1] if kind == "skeleton" else arr.shape[0]) < 2:
        raise ValueError(f"{path}: {key} has fewer than 2 frames")
    if not np.isfinite(arr).all():
        raise ValueError(f"{path}: {key} holds NaN or infinite values")
    return arr.astype(np.float32)


def resample(x: np.ndarray, length: int, axis: int = -1) -> np.ndarray:
    """Linear resampling of ``x`` along ``axis`` to ``length`` evenly spaced steps (Section 4.2)."""
    if length < 2:
        raise ValueError(f"resample length must be >= 2, got {length}")
    x = np.moveaxis(np.asarray(x, dtype=np.float32), axis, -1)
    n = x.shape[-1]
    if n < 2:
        raise ValueError(f"cannot resample a sequence of {n} step(s)")
    pos = np.linspace(0, n - 1, length)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo).astype(np.float32)
    out = x[..., lo] * (1 - w) + x[..., hi] * w
    return np.moveaxis(out, -1, axis)


def normalize_skeleton(
    skel: np.ndarray, root: int = HIP_CENTER, neck: int = SHOULDER_CENTER
) -> np.ndarray:
    """Express a skeleton sequence in the frame of its first frame (Section 4.2).

    skel: (C, T, V). Subtracts the first frame's ``root`` joint from every joint of every frame and
    divides by the first frame's torso length (``root`` to ``neck``), so sequences of subjects of
    different size, standing at different places, become comparable. The first frame's root is 0.
    """
    if skel.ndim != 3:
        raise ValueError(f"normalize_skeleton expects (C, T, V), got shape {skel.shape}")
    origin = skel[:, 0, root][:, None, None]
    torso = float(np.linalg.norm(skel[:, 0, neck] - skel[:, 0, root]))
    if torso < 1e-6:
        torso = float(np.abs(skel[:, 0] - skel[:, 0, root][:, None]).max()) or 1.0
    return ((skel - origin) / torso).astype(np.float32)


def load_utd_mhad(root, num_steps: int = 50, actions=None, subjects=None) -> ActionData:
    """Read every aligned skeleton/inertial pair under ``root/Skeleton`` and ``root/Inertial``.

    Labels, subjects and trials come from the file names; a recording missing in either modality
    is an error (the three recordings absent upstream are absent in both). Skeletons are
    (3, T, 20) after resampling to ``num_steps`` and first-frame normalisation; IMU (T, 6).
    ``actions``/``subjects``: optional 1-based ids to keep.
    """
    root = Path(root)
    sk_dir, in_dir = root / "Skeleton", root / "Inertial"
    for d in (sk_dir, in_dir):
        if not d.is_dir():
            raise FileNotFoundError(
                f"{d}: no such folder; expected UTD-MHAD's Skeleton/ and Inertial/ under {root}"
            )
    sk = {parse_utd_name(p)[:3]: p for p in sk_dir.glob("*.mat")}
    im = {parse_utd_name(p)[:3]: p for p in in_dir.glob("*.mat")}
    if sk.keys() != im.keys():
        only_s = sorted(sk.keys() - im.keys())[:5]
        only_i = sorted(im.keys() - sk.keys())[:5]
        raise ValueError(
            f"{root}: skeleton and inertial recordings do not pair up; skeleton only: {only_s}, "
            f"inertial only: {only_i} (action, subject, trial)"
        )
    keys = sorted(
        k
        for k in sk
        if (actions is None or k[0] in actions) and (subjects is None or k[1] in subjects)
    )
    if not keys:
        raise ValueError(f"{root}: no recordings found (or none left after filtering)")
    skels, imus = [], []
    for k in keys:
        s = read_utd_mat(sk[k])  # (20, 3, T)
        s = resample(np.transpose(s, (1, 2, 0)), num_steps, axis=1)  # (3, T, 20)
        skels.append(normalize_skeleton(s))
        imus.append(resample(read_utd_mat(im[k]), num_steps, axis=0))  # (T, 6)
    arr = np.asarray(keys, dtype=np.int64)
    return ActionData(
        np.stack(skels),
        np.stack(imus),
        arr[:, 0] - 1,
        arr[:, 1],
        arr[:, 2],
        list(UTD_ACTIONS),
        files=[sk[k].name for k in keys],
    )


def utd_split(data: ActionData, protocol: str = "cross_subject"):
    """The paper's UTD-MHAD protocol: subjects 1,3,5,7 train (and validation), 2,4,6,8 test."""
    if protocol != "cross_subject":
        raise ValueError(f"UTD-MHAD has one protocol, 'cross_subject'; got {protocol!r}")
    train = np.isin(data.subjects, UTD_TRAIN_SUBJECTS)
    return data.subset(train), data.subset(~train)


UTD_VALIDATION_SUBJECT = 7


def validation_split(train: ActionData, subject: int = UTD_VALIDATION_SUBJECT):
    """Tuning split of the *training* subjects: ``subject`` (7) validates, the others (1, 3, 5)
    train. The test subjects are never seen by any choice."""
    if subject not in set(train.subjects.tolist()):
        raise ValueError(
            f"validation subject {subject} is not a training subject "
            f"{sorted(set(train.subjects.tolist()))}"
        )
    val = train.subjects == subject
    return train.subset(~val), train.subset(val)


# ------------------------------------------------------------------------------------------- MMAct


def _read_mmact_csv(path: Path) -> np.ndarray:
    """One MMAct sensor clip: rows ``timestamp,x,y,z`` without header -> (T, 3)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, header=None)
    except Exception as e:  # pandas raises several types for empty/garbled files
        raise ValueError(
            f"{path}: not a readable MMAct sensor CSV ({type(e).__name__}: {e})"
        ) from e
    if df.shape[1] != 4:
        raise ValueError(f"{path}: {df.shape[1]} columns, expected 4 (timestamp, x, y, z)")
    arr = df.iloc[:, 1:].to_numpy(dtype=np.float64)
    if len(arr) < 2 or not np.isfinite(arr).all():
        raise ValueError(f"{path}: fewer than 2 rows or non-numeric values")
    return arr.astype(np.float32)


def _read_mmact_pose(path: Path) -> np.ndarray:
    """One MMAct challenge pose clip (JSON: frame -> {"person1": [17*3 floats], ...}) -> (2, T,
    17)."""
    try:
        raw = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a non-empty mapping frame -> persons")
    frames = []
    for name in sorted(raw, key=lambda s: int(re.sub(r"\D", "", s) or 0)):
        persons = raw[name]
        person = persons.get("person1") if isinstance(persons, dict) else None
        if not person:
            frames.append(np.zeros((MMACT_NUM_KEYPOINTS, 2), np.float32))
            continue
        kp = np.asarray(person, dtype=np.float32)
        if kp.size != MMACT_NUM_KEYPOINTS * 3:
            raise ValueError(
                f"{path}: frame {name!r} has {kp.size} values, expected {MMACT_NUM_KEYPOINTS}x3"
            )
        frames.append(kp.reshape(MMACT_NUM_KEYPOINTS, 3)[:, :2])
    arr = np.stack(frames, axis=1)  # (17, T, 2)
    if len(frames) < 2:
        raise ValueError(f"{path}: fewer than 2 frames")
    return np.transpose(arr, (2, 1, 0))


def mmact_expected_layout() -> list[str]:
    return [f"MMAct/{s}" for s in MMACT_IMU_SOURCES] + ["MMAct/" + "/".join(MMACT_POSE_DIR)]


def mmact_available(data_root) -> bool:
    """True when ``data_root`` (or ``NEUROVIS_DATA_ROOT``) holds a ``MMAct/`` folder. MMAct is
    optional at paper scale: without it the chapter reports UTD-MHAD only instead of failing at its
    end."""
    import os

    root = data_root if data_root is not None else os.environ.get("NEUROVIS_DATA_ROOT")
    return root is not None and (Path(root).expanduser() / "MMAct").is_dir()


def load_mmact(root, num_steps: int = 50, camera: str = "cam1") -> ActionData:
    """Read MMAct's trimmed phone IMU and challenge 2-D keypoints from ``root/MMAct``.

    Layout (as published, unpacked): ``<source>/subjectS/sceneC/sessionE/<action>.csv`` for the
    sources acc_phone_clip, gyro_clip, orientation_clip (rows: timestamp, x, y, z) and
    ``trimmed_pose/pose/cross_view/trainval/subjectS/<camera>/sceneC/sessionE/<action>.json``. A
    clip is kept when all three sensors and the pose exist; IMU is (T, 9) = acc, gyro, orientation;
    keypoints (2, T, 17) normalised to the first frame (root = mid-hip, scale = hip to neck).
    """
    root = Path(root) / "MMAct"
    pose_root = root.joinpath(*MMACT_POSE_DIR)
    for d in [root / s for s in MMACT_IMU_SOURCES] + [pose_root]:
        if not d.is_dir():
            raise FileNotFoundError(
                f"{d}: no such folder; expected MMAct laid out as {mmact_expected_layout()}"
            )
    index = {a: i for i, a in enumerate(MMACT_ACTIONS)}
    rows = []
    for acc in sorted((root / MMACT_IMU_SOURCES[0]).glob("subject*/scene*/session*/*.csv")):
        subj, scene, sess = acc.parts[-4:-1]
        action = acc.stem.lower()
        if action not in index:
            raise ValueError(f"{acc}: unknown MMAct action {acc.stem!r}")
        others = [root / s / subj / scene / sess / acc.name for s in MMACT_IMU_SOURCES[1:]]
        pose = pose_root / subj / camera / scene / sess / f"{acc.stem}.json"
        if not all(p.is_file() for p in others) or not pose.is_file():
            continue
        sensors = [resample(_read_mmact_csv(p), num_steps, axis=0) for p in [acc, *others]]
        kp = resample(_read_mmact_pose(pose), num_steps, axis=1)
        # COCO: 11/12 hips, 5/6 shoulders; use their mid-points as root and neck
        hips, shoulders = (
            kp[:, :, 11:13].mean(-1, keepdims=True),
            kp[:, :, 5:7].mean(-1, keepdims=True),
        )
        kp_ext = np.concatenate([kp, hips, shoulders], axis=2)
        kp = normalize_skeleton(kp_ext, root=17, neck=18)[:, :, :17]
        rows.append(
            (
                np.concatenate(sensors, axis=1),
                kp,
                index[action],
                int(subj[7:]),
                int(scene[5:]),
                int(sess[7:]),
                str(acc.relative_to(root)),
            )
        )
    if not rows:
        raise ValueError(f"{root}: no clip has all of {MMACT_IMU_SOURCES} and a {camera} pose file")
    imu, skel, lab, sub, scn, ses, files = zip(*rows)
    return ActionData(
        np.stack(skel),
        np.stack(imu),
        np.asarray(lab),
        np.asarray(sub),
        np.asarray(ses),
        list(MMACT_ACTIONS),
        scenes=np.asarray(scn),
        files=list(files),
    )


def mmact_split(data: ActionData, protocol: str = "cross_subject"):
    """Cross-subject: subjects 1-16 train, 17-20 test. Cross-scene: scene 2 (occlusion) test, 1,3,4
    train."""
    if protocol == "cross_subject":
        train = data.subjects <= 16
    elif protocol == "cross_scene":
        train = data.scenes != 2
    else:
        raise ValueError(
            f"MMAct protocol must be 'cross_subject' or 'cross_scene', got {protocol!r}"
        )
    return data.subset(train), data.subset(~train)


# ------------------------------------------------------------------------------ model-ready tensors


def imu_statistics(imu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (N, T, S) training IMU, for z-scoring both splits."""
    mean = imu.mean(axis=(0, 1))
    std = imu.std(axis=(0, 1))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def to_tensors(data: ActionData, imu_mean, imu_std):
    """(skeleton (N,C,T,V), imu z-scored (N,T,S), labels (N,)) as torch tensors."""
    import torch

    imu = (data.imu - imu_mean) / imu_std
    return (
        torch.from_numpy(np.ascontiguousarray(data.skeleton)),
        torch.from_numpy(imu.astype(np.float32)),
        torch.from_numpy(data.labels.astype(np.int64)),
    )


def label_fraction(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a random ``fraction`` of the labelled training samples of *every class*
    (Section 4.3.2): round(fraction x n_c) recordings of each class c, at least one, drawn without
    replacement; sorted. On UTD-MHAD's 16 training recordings per class, 1 % and 5 % both give one
    label per class (``labels_per_class`` says what a fraction amounts to)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    if len(labels) < 2:
        raise ValueError(f"need at least 2 labelled samples, got {len(labels)}")
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = labels_per_class(len(idx), fraction)
        out.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(out))


def labels_per_class(n_class: int, fraction: float) -> int:
    """How many labels ``label_fraction`` keeps of a class with ``n_class`` recordings."""
    return int(min(n_class, max(1, round(fraction * n_class))))


# ------------------------------------------------------------------------------------ by scale

UTD_HOW_TO_GET = (
    "download Skeleton.zip and Inertial.zip from "
    "https://personal.utdallas.edu/~kehtar/UTD-MHAD.html (research use; cite Chen et al., ICIP "
    "2015) and unpack them as <data_root>/UTD-MHAD/Skeleton and <data_root>/UTD-MHAD/Inertial"
)
MMACT_HOW_TO_GET = (
    "request MMAct from https://mmact19.github.io/2019/ (licence agreement); unpack the trimmed "
    "sensor archives acc_phone_clip, gyro_clip, orientation_clip and the challenge's "
    "trimmed_pose.zip under <data_root>/MMAct/"
)


def load_dataset(dataset: str, scale: str, data_root=None, num_steps: int = 50) -> ActionData:
    """The chapter's data: embedded UTD-MHAD at ``scale="small"`` and ``"reference"``; at
    ``"paper"`` UTD-MHAD or MMAct from ``data_root`` (DataNotFoundError with the layout and how to
    get it when absent)."""
    from ..core import check_scale, embedded_path, require_data_root

    check_scale(scale)
    if dataset not in ("utd-mhad", "mmact"):
        raise ValueError(f"dataset must be 'utd-mhad' or 'mmact', got {dataset!r}")
    if scale in ("small", "reference"):  # the embedded UTD-MHAD is the complete data set
        if dataset != "utd-mhad":
            raise ValueError("only UTD-MHAD is embedded; MMAct needs scale='paper' and a data_root")
        return load_utd_mhad(embedded_path("utd-mhad"), num_steps)
    if dataset == "utd-mhad":
        root = require_data_root(
            data_root, "UTD-MHAD", ["UTD-MHAD/Skeleton", "UTD-MHAD/Inertial"], UTD_HOW_TO_GET
        )
        return load_utd_mhad(Path(root) / "UTD-MHAD", num_steps)
    root = require_data_root(data_root, "MMAct", mmact_expected_layout(), MMACT_HOW_TO_GET)
    return load_mmact(root, num_steps)
