"""NRSfM data: sequences of 3D shapes and their 2D weak-perspective observations.

Formats read here (all from CMU motion capture, mocap.cs.cmu.edu):

* Zhou et al.'s layout (the data of the CRA baseline, Zhou et al. 2015): a .mat file holding
  ``allshapes``, a (3F x p) array of 3D joint positions, three rows per frame, p = 15 joints.
* Akhter et al.'s NRSfM benchmark (NeurIPS 2008): a .mat file holding ``S`` (3F x p) ground-truth
  shapes, ``W`` (2F x p) orthographic 2D tracks and ``Rs`` (2F x 3) camera rotations, p = 41.
* Raw CMU ASF/AMC (skeleton + motion), turned into Zhou's 15 joints by forward kinematics.

Every loader checks what it reads and names the file and the problem when it is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Zhou et al.'s 15 joints (the skeleton stored with their shape dictionary) and their bones.
ZHOU_JOINTS = (
    "root",
    "lhip",
    "lknee",
    "lankle",
    "rhip",
    "rknee",
    "rankle",
    "thorax",
    "head",
    "lshoulder",
    "lelbow",
    "lwrist",
    "rshoulder",
    "relbow",
    "rwrist",
)
ZHOU_EDGES = (
    (0, 1),
    (1, 2),
    (2, 3),
    (0, 4),
    (4, 5),
    (5, 6),
    (0, 7),
    (7, 8),
    (7, 9),
    (9, 10),
    (10, 11),
    (7, 12),
    (12, 13),
    (13, 14),
)
#: The CMU ASF bone whose end point gives each of the 15 joints (``None``: the root position).
ASF_BONE_FOR_JOINT = (
    None,
    "lhipjoint",
    "lfemur",
    "ltibia",
    "rhipjoint",
    "rfemur",
    "rtibia",
    "thorax",
    "head",
    "lclavicle",
    "lhumerus",
    "lradius",
    "rclavicle",
    "rhumerus",
    "rradius",
)

#: The eight CMU motion categories of the MCM-RR paper (Table 1).
PAPER_CATEGORIES = ("walk", "run", "jump", "climb", "box", "dance", "sit", "basketball")
CMU_HOW_TO_GET = (
    "Zhou et al.'s CMU-mocap files (<category>.mat training shapes and test_<category>.mat test "
    "shapes, each with a (3F x 15) 'allshapes' array) from the code release of 'Sparse "
    "representation for 3D shape estimation: a convex relaxation approach' "
    "(github.com/xiaoweiz/shapeconvex, folder data/); or raw ASF/AMC files from mocap.cs.cmu.edu "
    "placed as <category>/<subject>.asf and <category>/<subject>_<trial>.amc"
)


@dataclass
class Sequence:
    """One test sequence: camera-frame 3D shapes and their orthographic 2D observations.

    shapes: (F, 3, p) ground-truth 3D shapes in the camera frame, each centred (mean point 0).
    W: (F, 2, p) the 2D observations, the first two rows of ``shapes`` (Eq. 2 with the true model).
    edges: skeleton bones as pairs of point indices (for plots).
    """

    name: str
    shapes: np.ndarray
    W: np.ndarray
    edges: tuple = ()
    source: str = ""
    frames: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.shapes.ndim != 3 or self.shapes.shape[1] != 3:
            raise ValueError(f"{self.name}: shapes must be (F, 3, p), got {self.shapes.shape}")
        if self.W.shape != (self.shapes.shape[0], 2, self.shapes.shape[2]):
            raise ValueError(
                f"{self.name}: W must be (F, 2, p) = "
                f"{(self.shapes.shape[0], 2, self.shapes.shape[2])}, got {self.W.shape}"
            )
        if self.frames is None:
            self.frames = np.arange(len(self.shapes))

    def __len__(self):
        return len(self.shapes)

    def subset(self, index) -> "Sequence":
        """The frames ``index`` of this sequence (keeps their original frame numbers)."""
        if not isinstance(index, slice):
            index = np.asarray(index)
        return Sequence(
            self.name,
            self.shapes[index],
            self.W[index],
            self.edges,
            self.source,
            self.frames[index],
        )


# --------------------------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------------------------


def center(shapes: np.ndarray) -> np.ndarray:
    """Subtract each frame's centroid: (F, d, p) -> (F, d, p)."""
    return shapes - shapes.mean(axis=-1, keepdims=True)


def random_views(
    num_frames: int, rng: np.random.Generator, max_elevation_deg: float = 30.0, up_axis: int = 1
) -> np.ndarray:
    """Seeded camera rotations (F, 3, 3): azimuth uniform around the ``up_axis``, elevation uniform
    in +-``max_elevation_deg``. Used to make 2D observations of Zhou-format 3D shapes."""
    az = rng.uniform(0, 2 * np.pi, num_frames)
    el = np.deg2rad(rng.uniform(-max_elevation_deg, max_elevation_deg, num_frames))
    ca, sa, ce, se = np.cos(az), np.sin(az), np.cos(el), np.sin(el)
    one, zero = np.ones_like(az), np.zeros_like(az)
    # rotation about y (vertical) then about x (tilt); y is "up" in CMU/Zhou data
    Ry = np.stack(
        [
            np.stack([ca, zero, sa], -1),
            np.stack([zero, one, zero], -1),
            np.stack([-sa, zero, ca], -1),
        ],
        -2,
    )
    Rx = np.stack(
        [
            np.stack([one, zero, zero], -1),
            np.stack([zero, ce, -se], -1),
            np.stack([zero, se, ce], -1),
        ],
        -2,
    )
    R = Rx @ Ry
    if up_axis != 1:  # bring the given up axis to y first
        perm = np.roll(np.arange(3), 1 - up_axis)
        R = R[:, :, perm]
    return R


def observe(world_shapes: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame shapes R S (centred) and their orthographic 2D projections (Eq. 2 and 3).

    world_shapes: (F, 3, p); rotations: (F, 3, 3). Returns (shapes (F, 3, p), W (F, 2, p)).
    """
    cam = center(np.einsum("fij,fjp->fip", rotations, world_shapes))
    return cam, cam[:, :2].copy()


def procrustes_align(shapes: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Generalised Procrustes alignment (rotation only, no scaling, no reflection) of centred shapes
    (F, 3, p) to their evolving mean: the canonical frame in which shape bases are learned."""
    X = center(shapes)
    ref = X[0]
    for _ in range(iterations):
        H = np.einsum("fip,jp->fij", X, ref)  # cross-covariance per frame
        U, _, Vt = np.linalg.svd(H)
        d = np.sign(np.linalg.det(U @ Vt))
        Dm = np.tile(np.eye(3), (len(X), 1, 1))
        Dm[:, 2, 2] = d
        R = np.einsum("fij,fjk,fkl->fil", U, Dm, Vt).transpose(0, 2, 1)  # R_f X_f ~ ref
        X = np.einsum("fij,fjp->fip", R, X)
        ref = X.mean(0)
    return X


# --------------------------------------------------------------------------------------------
# loaders
# --------------------------------------------------------------------------------------------


def _loadmat(path) -> dict:
    import scipy.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return sio.loadmat(path)
    except Exception as exc:  # scipy raises several types for broken files
        raise ValueError(
            f"{path}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc})"
        ) from exc


def _as_frames(arr, rows: int, path, key) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] % rows or arr.shape[0] == 0:
        raise ValueError(
            f"{path}: '{key}' must be a ({rows}F x p) array ({rows} rows per frame), got shape "
            f"{arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{path}: '{key}' holds NaN or infinite values")
    return arr.reshape(-1, rows, arr.shape[1])


def load_zhou_shapes(path) -> np.ndarray:
    """3D shapes (F, 3, p) from a .mat in Zhou et al.'s layout (key ``allshapes``, 3F x p)."""
    d = _loadmat(path)
    if "allshapes" not in d:
        keys = sorted(k for k in d if not k.startswith("__"))
        raise ValueError(
            f"{path}: expected Zhou et al.'s layout with an 'allshapes' (3F x p) array, found keys "
            f"{keys}"
        )
    return _as_frames(d["allshapes"], 3, path, "allshapes")


def load_akhter(path, name: str | None = None) -> Sequence:
    """An Akhter et al. benchmark sequence (``S`` 3F x p, ``W`` 2F x p, ``Rs`` 2F x 3).

    The camera-frame ground truth is [R_f; r1 x r2] S_f; W is checked against R_f S_f.
    """
    d = _loadmat(path)
    missing = [k for k in ("S", "W", "Rs") if k not in d]
    if missing:
        raise ValueError(
            f"{path}: expected Akhter et al.'s layout with S (3F x p), W (2F x p), Rs (2F x 3); "
            f"missing {missing}"
        )
    S = _as_frames(d["S"], 3, path, "S")
    W = _as_frames(d["W"], 2, path, "W")
    Rs = _as_frames(d["Rs"], 2, path, "Rs")
    if W.shape[0] != S.shape[0] or W.shape[2] != S.shape[2] or Rs.shape != (S.shape[0], 2, 3):
        raise ValueError(
            f"{path}: inconsistent sizes S {d['S'].shape}, W {d['W'].shape}, Rs {d['Rs'].shape}"
        )
    R3 = np.concatenate([Rs, np.cross(Rs[:, 0], Rs[:, 1])[:, None]], axis=1)
    cam = center(np.einsum("fij,fjp->fip", R3, S))
    if np.abs(center(W) - cam[:, :2]).max() > 1e-6 * max(1.0, np.abs(W).max()):
        raise ValueError(
            f"{path}: W is not the orthographic projection Rs S of S (largest gap "
            f"{np.abs(center(W) - cam[:, :2]).max():.3g})"
        )
    edges = ()
    if "list" in d:
        edges = tuple((int(a) - 1, int(b) - 1) for a, b in np.asarray(d["list"]).reshape(-1, 2))
    return Sequence(
        name or Path(path).stem,
        cam,
        cam[:, :2].copy(),
        edges,
        f"Akhter et al. 2008: {Path(path).name}",
    )


def zhou_sequence(
    name: str, world_shapes: np.ndarray, rng: np.random.Generator, source: str = ""
) -> Sequence:
    """A test sequence from Zhou-format world shapes, seen from seeded random viewpoints."""
    cam, W = observe(world_shapes, random_views(len(world_shapes), rng))
    return Sequence(name, cam, W, ZHOU_EDGES, source)


def temporal_split(num_frames: int, train_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The book's fixed split rule: the first ``train_fraction`` of the frames train the shape
    bases, the rest are the test frames (no frame, and no near-duplicate neighbour, is in both,
    except at the single boundary)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    cut = int(round(num_frames * train_fraction))
    return np.arange(cut), np.arange(cut, num_frames)


@dataclass
class Benchmark:
    """A test sequence with the 3D training shapes (world frame, (F, 3, p)) its bases learn from."""

    test: Sequence
    train_shapes: np.ndarray
    split: str


def load_embedded(
    rng: np.random.Generator, test_stride: dict | None = None
) -> dict[str, Benchmark]:
    """Every embedded benchmark: acrobatics, basketball (Zhou format) and drink, pickup, stretch,
    yoga (Akhter). ``test_stride`` {name: k} keeps every k-th test frame (to fit a time budget)."""
    from neurovis.core import embedded_path

    stride = dict(test_stride or {})
    out = {}
    base = "nrsfm"
    acro_train = load_zhou_shapes(embedded_path(base, "zhou-format", "acrobatics.mat"))
    acro_test = load_zhou_shapes(embedded_path(base, "zhou-format", "test_acrobatics.mat"))
    seq = zhou_sequence(
        "acrobatics", acro_test, rng, "CMU mocap via Zhou et al. (test_acrobatics.mat)"
    )
    out["acrobatics"] = Benchmark(
        seq.subset(slice(None, None, stride.get("acrobatics", 1))),
        acro_train,
        "train: acrobatics.mat (2,422 frames); test: test_acrobatics.mat",
    )
    bball = load_zhou_shapes(embedded_path(base, "zhou-format", "test_basketball.mat"))
    tr, te = temporal_split(len(bball))
    seq = zhou_sequence(
        "basketball", bball[te], rng, "CMU mocap via Zhou et al. (test_basketball.mat)"
    )
    seq.frames = te
    out["basketball"] = Benchmark(
        seq.subset(slice(None, None, stride.get("basketball", 1))),
        bball[tr],
        f"test_basketball.mat split in time: frames 0-{tr[-1]} train, {te[0]}-{te[-1]} test",
    )
    for name in ("drink", "pickup", "stretch", "yoga"):
        full = load_akhter(embedded_path(base, "akhter", f"{name}.mat"), name)
        tr, te = temporal_split(len(full))
        test = full.subset(te)
        # train on the camera-frame shapes of the training frames (bases are learned after
        # Procrustes alignment)
        out[name] = Benchmark(
            test.subset(slice(None, None, stride.get(name, 1))),
            full.shapes[tr],
            f"{name}.mat split in time: frames 0-{tr[-1]} train, {te[0]}-{te[-1]} test",
        )
    return out


def validation_benchmarks(
    benchmarks: dict[str, Benchmark], fraction: float = 0.2, max_frames: int = 100, seed: int = 1
) -> dict[str, Benchmark]:
    """Validation problems cut from the *training* frames only (for choosing hyper-parameters):
    the last ``fraction`` of each training set (about ``max_frames`` of them, evenly spaced) is
    observed from seeded random views (Akhter sequences: from their own cameras, their training
    shapes being camera-frame already); the bases learn from the frames before it."""
    out = {}
    for name, b in benchmarks.items():
        tr, va = temporal_split(len(b.train_shapes), 1 - fraction)
        va = va[:: max(1, len(va) // max_frames)]
        if b.test.source.startswith("Akhter"):
            S = b.train_shapes[va]
            seq = Sequence(name, S, S[:, :2].copy(), b.test.edges, "validation")
        else:
            seq = zhou_sequence(name, b.train_shapes[va], np.random.default_rng(seed), "validation")
        out[name] = Benchmark(
            seq, b.train_shapes[tr], f"validation: last {fraction:.0%} of the training frames"
        )
    return out


def load_paper_categories(
    data_root, rng: np.random.Generator, categories=PAPER_CATEGORIES
) -> dict[str, Benchmark]:
    """The eight CMU categories of the paper from ``data_root`` (``scale="paper"``).

    For each category: ``<category>.mat`` (training shapes) and ``test_<category>.mat`` in Zhou et
    al.'s layout; or, when those are absent, a folder ``<category>/`` of raw ASF/AMC files (the
    frames are then split in time, first half train). Raises DataNotFoundError when neither exists.
    """
    from neurovis.core import DataNotFoundError, require_data_root

    root = Path(data_root) if data_root is not None else None
    expected = []
    for c in categories:
        if root is not None and (root / c).is_dir() and not (root / f"test_{c}.mat").exists():
            expected.append(f"{c}/")
        else:
            expected += [f"{c}.mat", f"test_{c}.mat"]
    root = require_data_root(
        data_root, "CMU motion capture (Zhou et al. format)", expected, CMU_HOW_TO_GET
    )
    out = {}
    for c in categories:
        if (root / f"test_{c}.mat").exists():
            train = load_zhou_shapes(root / f"{c}.mat")
            test = load_zhou_shapes(root / f"test_{c}.mat")
            split = f"{c}.mat / test_{c}.mat"
        else:
            shapes = load_asf_amc_folder(root / c)
            tr, te = temporal_split(len(shapes))
            train, test, split = shapes[tr], shapes[te], f"{c}/ ASF/AMC split in time"
        if train.shape[2] != test.shape[2]:
            raise DataNotFoundError(
                f"{root}: {c} training and test shapes have different point counts"
            )
        out[c] = Benchmark(zhou_sequence(c, test, rng, f"CMU mocap {c}"), train, split)
    return out


# --------------------------------------------------------------------------------------------
# raw CMU ASF/AMC
# --------------------------------------------------------------------------------------------


def _rot(axis: str, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _euler(angles_deg, order: str = "XYZ") -> np.ndarray:
    """Rotation for Euler angles applied in ``order`` about fixed axes (ASF convention: the matrix
    is R_last ... R_first, e.g. Rz Ry Rx for order XYZ)."""
    R = np.eye(3)
    for ax, ang in zip(order.lower(), angles_deg):
        R = _rot(ax, ang) @ R
    return R


def read_asf(path) -> dict:
    """Parse a CMU .asf skeleton: {"length_unit", "root_order", "root_axis", "bones": {name: {...}},
    "children": {name: [names]}}. Raises ValueError naming the file on malformed content."""
    path = Path(path)
    text = path.read_text(errors="replace").splitlines()
    section, bones, children, cur = None, {}, {}, None
    length_unit, root_order, root_axis = 1.0, ["TX", "TY", "TZ", "RX", "RY", "RZ"], "XYZ"
    for ln, raw in enumerate(text, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            section = parts[0].lower()
            continue
        toks = line.split()
        try:
            if section == "units" and toks[0] == "length":
                length_unit = float(toks[1])
            elif section == "root" and toks[0] == "order":
                root_order = [t.upper() for t in toks[1:]]
            elif section == "root" and toks[0] == "axis":
                root_axis = toks[1].upper()
            elif section == "bonedata":
                if toks[0] == "begin":
                    cur = {
                        "dof": [],
                        "axis": np.zeros(3),
                        "order": "XYZ",
                        "direction": np.zeros(3),
                        "length": 0.0,
                    }
                elif toks[0] == "end":
                    if cur is None or "name" not in cur:
                        raise ValueError("bone without a name")
                    bones[cur["name"]] = cur
                    cur = None
                elif toks[0] == "name":
                    cur["name"] = toks[1]
                elif toks[0] == "direction":
                    cur["direction"] = np.array([float(t) for t in toks[1:4]])
                elif toks[0] == "length":
                    cur["length"] = float(toks[1])
                elif toks[0] == "axis":
                    cur["axis"] = np.array([float(t) for t in toks[1:4]])
                    cur["order"] = toks[4].upper() if len(toks) > 4 else "XYZ"
                elif toks[0] == "dof":
                    cur["dof"] = [t.lower() for t in toks[1:]]
            elif section == "hierarchy":
                if toks[0] in ("begin", "end"):
                    continue
                children.setdefault(toks[0], []).extend(toks[1:])
        except (IndexError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}, line {ln}: cannot parse {raw.strip()!r} ({exc})") from exc
    if not bones or "root" not in children:
        raise ValueError(
            f"{path}: not an ASF skeleton (expected ':bonedata' bones and a ':hierarchy' starting "
            f"at root)"
        )
    return {
        "length_unit": length_unit,
        "root_order": root_order,
        "root_axis": root_axis,
        "bones": bones,
        "children": children,
    }


def read_amc(path) -> list[dict]:
    """Parse a CMU .amc motion: a list of frames, each {bone name: values (degrees / units)}."""
    path = Path(path)
    frames, cur = [], None
    for ln, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(":"):
            continue
        toks = line.split()
        if len(toks) == 1 and toks[0].isdigit():
            cur = {}
            frames.append(cur)
            continue
        if cur is None:
            raise ValueError(f"{path}, line {ln}: bone values before the first frame number")
        try:
            cur[toks[0]] = np.array([float(t) for t in toks[1:]])
        except ValueError as exc:
            raise ValueError(f"{path}, line {ln}: non-numeric value in {raw.strip()!r}") from exc
    if not frames:
        raise ValueError(
            f"{path}: no frames found (expected a frame number line followed by 'bone values' "
            f"lines)"
        )
    return frames


def asf_amc_to_joints(skeleton: dict, motion: list[dict], to_meters: bool = True) -> np.ndarray:
    """Forward kinematics of ASF/AMC into Zhou et al.'s 15 joints: (F, 3, 15), y up.

    Each joint is the end point of the CMU bone in ``ASF_BONE_FOR_JOINT`` (wrists: end of the
    radius). ASF lengths are in units of 1/``length_unit`` inch; ``to_meters`` converts them.
    """
    bones, children = skeleton["bones"], skeleton["children"]
    need = [b for b in ASF_BONE_FOR_JOINT if b is not None]
    missing = [b for b in need if b not in bones]
    if missing:
        raise ValueError(f"ASF skeleton lacks the bones {missing} needed for the 15 joints")
    scale = (1.0 / skeleton["length_unit"]) * 0.0254 if to_meters else 1.0
    C = {n: _euler(b["axis"], b["order"]) for n, b in bones.items()}
    C["root"] = np.eye(3)
    out = np.zeros((len(motion), 3, len(ASF_BONE_FOR_JOINT)))
    for f, frame in enumerate(motion):
        if "root" not in frame:
            raise ValueError(f"AMC frame {f + 1}: no 'root' line")
        vals = dict(zip(skeleton["root_order"], frame["root"]))
        pos = {"root": np.array([vals.get("TX", 0.0), vals.get("TY", 0.0), vals.get("TZ", 0.0)])}
        rot = {
            "root": _euler(
                [vals.get("RX", 0.0), vals.get("RY", 0.0), vals.get("RZ", 0.0)],
                skeleton["root_axis"],
            )
        }
        stack = [("root", c) for c in children.get("root", [])]
        while stack:
            parent, name = stack.pop()
            b = bones[name]
            ang = dict(zip(b["dof"], frame.get(name, np.zeros(len(b["dof"])))))
            local = _euler([ang.get("rx", 0.0), ang.get("ry", 0.0), ang.get("rz", 0.0)], "XYZ")
            rot[name] = rot[parent] @ C[name] @ local @ C[name].T
            pos[name] = pos[parent] + b["length"] * rot[name] @ b["direction"]
            stack.extend((name, c) for c in children.get(name, []))
        for j, bone in enumerate(ASF_BONE_FOR_JOINT):
            out[f, :, j] = pos["root" if bone is None else bone]
    return out * scale


def load_asf_amc_folder(folder) -> np.ndarray:
    """All AMC motions of a folder (each with the .asf of its subject, ``<subject>_<trial>.amc``)
    as one (F, 3, 15) array, in file-name order."""
    folder = Path(folder)
    amcs = sorted(folder.glob("*.amc"))
    if not amcs:
        raise FileNotFoundError(f"{folder}: no .amc files")
    parts = []
    for amc in amcs:
        subject = amc.stem.split("_")[0]
        asf = folder / f"{subject}.asf"
        if not asf.is_file():
            raise FileNotFoundError(f"{amc}: its skeleton {asf.name} is not in {folder}")
        parts.append(asf_amc_to_joints(read_asf(asf), read_amc(amc)))
    return np.concatenate(parts)
